//! The daily log (日志): the production fold (`LogFold`, what node and hub
//! compute) against the independent oracle (`log_oracle`, DESIGN.md's
//! definitions) on generated compounds, for today, a week back, a month
//! back and a day with no data; under the default configuration and
//! others; and through a real node's import.

use chrono::{Days, NaiveDate};
use lianfang_proto::log::DailyLog;
use lianfang_proto::table::TableConfig;
use lianfang_sim::generate::{self, CompoundLedger, StreetSpec};
use lianfang_tests::{log_fold, log_oracle};
use proptest::prelude::*;

fn check(ledger: &CompoundLedger, date: NaiveDate, config: &TableConfig) -> DailyLog {
    let oracle = log_oracle(ledger, date, config);
    assert_eq!(
        log_fold(ledger, date, config),
        oracle,
        "{} on {date} under {config:?}",
        ledger.code
    );
    oracle
}

/// The dates every comparison covers: today, a week back, a month back,
/// and days with no data at all (long before, and after today).
fn dates(today: NaiveDate) -> [NaiveDate; 5] {
    [
        today,
        today - Days::new(7),
        today - Days::new(30),
        NaiveDate::from_ymd_opt(2019, 6, 1).unwrap(),
        today + Days::new(3),
    ]
}

fn configs() -> [TableConfig; 3] {
    [
        TableConfig::default(),
        TableConfig {
            key_regions: vec!["湖北省".into(), " 浙江".into()],
            isolation_days: 7,
        },
        TableConfig {
            key_regions: vec!["湖北省武汉市".into(), String::new()],
            isolation_days: 21,
        },
    ]
}

#[test]
fn the_log_fold_equals_the_oracle_on_generated_compounds() {
    let spec = StreetSpec::demo(4);
    let street = generate::street(&spec);
    let mut today_total = DailyLog::default();
    for ledger in &street {
        for config in &configs() {
            for date in dates(spec.today) {
                check(ledger, date, config);
            }
        }
        today_total.add(&check(ledger, spec.today, &TableConfig::default()));
    }
    // The street's day is lively: every key has something to compare.
    let t = today_total;
    assert!(t.home_isolated_persons > 0 && t.checks_done > 0, "{t:?}");
    assert!(t.checks_done < t.checks_due, "some checks missed: {t:?}");
    assert!(t.meals + t.rubbish + t.shopping > 0, "{t:?}");
    assert!(t.masks_reserved > 0 && t.masks_waiting > 0, "{t:?}");
    assert!(t.masks_notified > 0 && t.masks_collected > 0, "{t:?}");
    assert!(t.disinfections > 0 && t.surveys > 0, "{t:?}");
    assert!(t.hotline_open > 0, "{t:?}");
    assert!(t.gate_temperature_checks > 100 && t.parcels > 100, "{t:?}");
    // Some keys are rare on one day: over the month they all happen.
    let mut month = DailyLog::default();
    for ledger in &street {
        for date in (0..30).map(|n| spec.today - Days::new(n)) {
            month.add(&check(ledger, date, &TableConfig::default()));
        }
    }
    assert!(month.unchecked_persons > 0, "{month:?}");
    assert!(month.fever_persons > 0, "{month:?}");
    assert!(month.vehicles_key > 0 && month.vehicles_turned_back > 0);
    assert!(month.surveys_unregistered > 0 && month.hotline_closed > 0);
    assert!(month.arrivals_key_today > 0 && month.arrivals_other_today > 0);
    // A day with no data logs nothing.
    let empty = check(
        &street[0],
        NaiveDate::from_ymd_opt(2019, 6, 1).unwrap(),
        &TableConfig::default(),
    );
    assert_eq!(empty, DailyLog::default());
}

#[test]
fn the_log_fold_equals_the_oracle_after_a_day_of_edits() {
    let spec = StreetSpec::demo(2);
    let mut ledger = generate::compound(&spec, 1);
    let tomorrow = spec.today + Days::new(1);
    ledger.edit_day(7, 0.03, tomorrow);
    for config in &configs() {
        for date in dates(tomorrow) {
            check(&ledger, date, config);
        }
    }
    assert!(log_oracle(&ledger, tomorrow, &TableConfig::default()).checks_done > 0);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Any seed, compound, day of the month and configuration: the fold
    /// and the oracle agree.
    #[test]
    fn the_log_fold_equals_the_oracle_for_any_seed_and_date(
        seed in 0u64..1_000_000,
        index in 0usize..4,
        back in 0u64..40,
        iso in 1u32..30,
        zhejiang in any::<bool>(),
    ) {
        let spec = StreetSpec {
            seed,
            min_households: 20,
            max_households: 120,
            ..StreetSpec::demo(4)
        };
        let ledger = generate::compound(&spec, index);
        let mut key_regions = vec!["湖北".to_owned()];
        if zhejiang {
            key_regions.push("浙江省".to_owned());
        }
        let config = TableConfig { key_regions, isolation_days: iso };
        let date = spec.today - Days::new(back);
        prop_assert_eq!(log_fold(&ledger, date, &config), log_oracle(&ledger, date, &config));
    }
}

/// Through a real node: its ledgers (all eleven, CSV) imported, then the
/// node's own log (`Store::day_log`, over its SQLite records) equals the
/// oracle for each date.
#[test]
fn a_node_logs_its_imported_ledgers_as_the_oracle_does() {
    let spec = StreetSpec::demo(3);
    let ledger = generate::compound(&spec, 2);
    let dir = tempfile::tempdir().unwrap();
    let token = lianfang_proto::token::encode(&lianfang_proto::pb::EnrollmentToken {
        compound: ledger.code.clone(),
        secret: vec![9; 32],
        hub_key: vec![1; 32],
        ..Default::default()
    });
    let data =
        lianfang_tests::node_with_ledger(dir.path(), &ledger, "http://127.0.0.1:9", &token, false);
    let store = lianfang_node::store::Store::open(&data).unwrap();
    for config in &configs() {
        for date in dates(spec.today) {
            let table = store.table(date, config).unwrap();
            let log = store.day_log(date, config, &table).unwrap();
            assert_eq!(log, log_oracle(&ledger, date, config), "{date} {config:?}");
        }
    }
}

/// The hub's log of the street (`HubStore::day_log`, over its SQL filters
/// and aggregates) equals the oracle compound by compound, after real
/// syncs, for each date and under configurations whose isolation period
/// moves which isolations the filters may skip.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hub_logs_synced_compounds_as_the_oracle_does() {
    let spec = StreetSpec::demo(3);
    let street = generate::street(&spec);
    let hub = lianfang_tests::TestHub::start().await;
    let root = tempfile::tempdir().unwrap();
    for ledger in &street {
        let token = hub.enroll(&ledger.code);
        let dir = root.path().join(&ledger.code);
        let data = lianfang_tests::node_with_ledger(&dir, ledger, &hub.url(), &token, false);
        lianfang_node::sync::sync_once(&data, &Default::default(), |_| {})
            .await
            .unwrap();
    }
    let mut days = dates(spec.today).to_vec();
    // The edges of the isolation period around today.
    for back in [1, 6, 7, 8, 13, 14, 15, 20, 21, 22] {
        days.push(spec.today - Days::new(back));
    }
    for config in &configs() {
        let mut store = lianfang_hub::store::HubStore::open_or_create(hub.dir.path()).unwrap();
        store
            .set_config(
                Some(config.key_regions.clone()),
                Some(config.isolation_days),
            )
            .unwrap();
        let config = store.table_config().unwrap();
        for &date in &days {
            let log = store.day_log(date).unwrap();
            assert_eq!(log.compounds.len(), street.len());
            for (row, ledger) in log.compounds.iter().zip(&street) {
                assert_eq!(row.code, ledger.code);
                assert_eq!(
                    row.log,
                    log_oracle(ledger, date, &config),
                    "{} on {date} under {config:?}",
                    ledger.code
                );
            }
        }
    }
    hub.stop().await;
}
