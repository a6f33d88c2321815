//! Sync over links that are slow, thin and cut: priority, progress, and
//! many nodes at once. Each link is a real `FaultLink` proxy on loopback.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lianfang_hub::store::{HubStore, Source};
use lianfang_node::store::Store;
use lianfang_node::sync::{SyncOptions, sync_once};
use lianfang_proto::pb;
use lianfang_sim::generate::{self, StreetSpec};
use lianfang_sim::link::{FaultLink, LinkProfile};
use lianfang_tests::{TestHub, node_with_ledger, oracle};

fn day(s: &str) -> chrono::NaiveDate {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_and_todays_figures_beat_a_large_backlog_on_a_thin_link() {
    let hub = TestHub::start().await;
    let spec = StreetSpec {
        min_households: 1500,
        max_households: 1500,
        ..StreetSpec::demo(1)
    };
    let compound = generate::compound(&spec, 0);
    let token = hub.enroll(&compound.code);
    let link = FaultLink::start(hub.addr, LinkProfile::perfect())
        .await
        .unwrap();
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    lianfang_node::init(&data, &compound.code, &link.url(), &token).unwrap();
    sync_once(&data, &SyncOptions::default(), |_| {})
        .await
        .unwrap();
    let notice = HubStore::open_or_create(hub.dir.path())
        .unwrap()
        .send_notice(
            pb::Notice {
                title: "今日提示".into(),
                ..Default::default()
            },
            None,
        )
        .unwrap();
    sync_once(&data, &SyncOptions::default(), |_| {})
        .await
        .unwrap();

    // A day's ledger arrives and the notice is acknowledged; then the link
    // turns thinner than 64 kbit/s (4 kB/s, 300 ms round trips), so the
    // backlog takes far longer than this test waits, even on a loaded machine.
    let files = compound.write_csv(&root.path().join("ledger")).unwrap();
    {
        let mut store = Store::open(&data).unwrap();
        lianfang_node::import::import_files(
            &mut store,
            &files,
            lianfang_node::today(),
            lianfang_node::now_ms(),
        )
        .unwrap();
        lianfang_node::directives::ack(&mut store, &notice.to_string(), "收到").unwrap();
    }
    let head = Store::open(&data).unwrap().head().unwrap();
    link.set_profile(LinkProfile {
        bandwidth: Some(4_000),
        ..LinkProfile::thin(1)
    });
    let sync_dir = data.clone();
    let sync =
        tokio::spawn(async move { sync_once(&sync_dir, &SyncOptions::default(), |_| {}).await });

    let started = Instant::now();
    let store = hub.store();
    let acked_while_bulk_at = loop {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the receipt never arrived"
        );
        let status = store.directive_status(notice).unwrap();
        if status.targets[0].acked_at.is_some() {
            break store.cursor(&compound.code).unwrap();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        acked_while_bulk_at < head,
        "the receipt arrived ahead of the backlog (bulk at {acked_while_bulk_at} of {head})"
    );
    // The street office already has today's figures, from the compound's report.
    let today = lianfang_node::today();
    let row = &store.table(today).unwrap().compounds[0];
    assert_eq!(row.source, Source::Reported);
    assert!(!row.caught_up);
    let own = {
        let node = Store::open(&data).unwrap();
        node.table(today, &node.table_config().unwrap()).unwrap()
    };
    assert_eq!(row.counts, own);
    assert_eq!(row.counts.persons, compound.persons.len() as u64);
    sync.abort();
    eprintln!(
        "thin link: receipt and report at the hub after {:.1?}, bulk then at {acked_while_bulk_at}/{head}; \
         {} B up, {} B down",
        started.elapsed(),
        link.stats().up_bytes,
        link.stats().down_bytes
    );
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dozens_of_nodes_through_cut_prone_links_converge() {
    const NODES: usize = 30;
    let hub = TestHub::start().await;
    let spec = StreetSpec {
        min_households: 30,
        max_households: 120,
        ..StreetSpec::demo(NODES)
    };
    let street = generate::street(&spec);
    let root = tempfile::tempdir().unwrap();
    let mut links = Vec::new();
    let mut nodes = Vec::new();
    for (i, compound) in street.iter().enumerate() {
        let token = hub.enroll(&compound.code);
        let profile = LinkProfile {
            latency: Duration::from_millis(20),
            jitter: Duration::from_millis(10),
            bandwidth: Some(200_000),
            mean_bytes_between_cuts: Some(12_000),
            blackout: None,
            seed: i as u64,
        };
        let link = Arc::new(FaultLink::start(hub.addr, profile).await.unwrap());
        let data = node_with_ledger(
            &root.path().join(&compound.code),
            compound,
            &link.url(),
            &token,
            false,
        );
        links.push(link);
        nodes.push(data);
    }
    let options = SyncOptions {
        batch_size: 100,
        attempts: 200,
        backoff_base: Duration::from_millis(20),
        backoff_max: Duration::from_millis(300),
        ..SyncOptions::default()
    };
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for data in nodes.clone() {
        let options = options.clone();
        tasks.spawn(async move { sync_once(&data, &options, |_| {}).await });
    }
    let mut sessions = 0;
    while let Some(joined) = tasks.join_next().await {
        let report = joined.unwrap().unwrap();
        assert_eq!(report.digests_agree, Some(true));
        sessions += report.sessions;
    }
    let (up, down, cuts) = links.iter().fold((0, 0, 0), |(u, d, c), l| {
        let s = l.stats();
        (u + s.up_bytes, d + s.down_bytes, c + s.cuts)
    });
    eprintln!(
        "{NODES} nodes converged in {:.1?}: {sessions} sessions, {cuts} cuts, {up} B up, {down} B down",
        started.elapsed()
    );
    assert!(cuts > NODES as u64, "the links did cut ({cuts})");
    let store = hub.store();
    for date in ["2020-02-08", "2020-02-20"] {
        let table = store.table(day(date)).unwrap();
        for (row, compound) in table.compounds.iter().zip(&street) {
            assert_eq!(
                row.counts,
                oracle(compound, day(date)),
                "{} {date}",
                compound.code
            );
            assert!(row.caught_up);
            assert_eq!(row.digests_agree, Some(true));
        }
    }
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_offline_for_weeks_catches_up_over_a_slow_link_with_progress() {
    let hub = TestHub::start().await;
    let mut compound = generate::compound(&StreetSpec::demo(1), 0);
    let token = hub.enroll(&compound.code);
    let slow = LinkProfile {
        latency: Duration::from_millis(60),
        bandwidth: Some(48_000),
        ..LinkProfile::perfect()
    };
    let link = FaultLink::start(hub.addr, slow).await.unwrap();
    let root = tempfile::tempdir().unwrap();
    let data = node_with_ledger(root.path(), &compound, &link.url(), &token, false);
    // Three weeks of daily entry with no link.
    let mut date = day("2020-02-21");
    for i in 0..21 {
        compound.edit_day(100 + i, 0.02, date);
        let files = compound
            .write_csv(&root.path().join(format!("day{i}")))
            .unwrap();
        let mut store = Store::open(&data).unwrap();
        lianfang_node::import::import_files(
            &mut store,
            &files,
            lianfang_node::today(),
            lianfang_node::now_ms(),
        )
        .unwrap();
        date = date.succ_opt().unwrap();
    }
    let head = Store::open(&data).unwrap().head().unwrap();
    let mut seen = Vec::new();
    let options = SyncOptions {
        batch_size: 300,
        max_batch: 600,
        ..SyncOptions::default()
    };
    let report = sync_once(&data, &options, |p| seen.push((p.cursor, p.head)))
        .await
        .unwrap();
    assert_eq!(report.cursor, head);
    assert!(seen.len() >= 4, "progress shown along the way: {seen:?}");
    assert!(
        seen.windows(2).all(|w| w[0].0 <= w[1].0),
        "progress only moves forward"
    );
    assert_eq!(seen.last().unwrap().0, head);
    let store = hub.store();
    for d in ["2020-02-20", "2020-03-05", "2020-03-12"] {
        assert_eq!(
            store.table(day(d)).unwrap().compounds[0].counts,
            oracle(&compound, day(d)),
            "{d}"
        );
    }
    eprintln!(
        "offline 21 days: {head} entries in {} batches, {} progress updates, {} B up",
        report.batches,
        seen.len(),
        link.stats().up_bytes
    );
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_runs_a_street_over_poor_links_and_the_hub_agrees() {
    let outcome = lianfang_sim::demo::run(lianfang_sim::demo::DemoOptions {
        compounds: 5,
        small: true,
        ..Default::default()
    })
    .await
    .unwrap();
    assert!(outcome.mismatched.is_empty(), "{:?}", outcome.mismatched);
    assert_eq!(outcome.table.compounds.len(), 5);
    assert!(
        outcome
            .table
            .compounds
            .iter()
            .all(|row| row.digests_agree == Some(true))
    );
    assert!(outcome.links.up_bytes > 0);
}
