//! Whole-path sync: ledgers → nodes → gRPC → hub → daily table.

use lianfang_node::store::{Change, Store};
use lianfang_node::sync::{SyncError, SyncOptions, sync_once};
use lianfang_proto::{Kind, pb};
use lianfang_sim::generate::{self, StreetSpec};
use lianfang_tests::{CutProxy, TestHub, node_with_ledger, oracle};

fn day(s: &str) -> chrono::NaiveDate {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_table_equals_direct_computation_for_several_dates() {
    let hub = TestHub::start().await;
    let street = generate::street(&StreetSpec::demo(4));
    let nodes = tempfile::tempdir().unwrap();
    for (i, compound) in street.iter().enumerate() {
        let token = hub.enroll(&compound.code);
        let data = node_with_ledger(
            &nodes.path().join(&compound.code),
            compound,
            &hub.url(),
            &token,
            i % 2 == 1,
        );
        let report = sync_once(&data, &SyncOptions::default(), |_| {})
            .await
            .unwrap();
        assert_eq!(report.cursor, report.head);
        assert_eq!(report.applied, report.head, "every entry applied once");
    }
    let store = hub.store();
    for date in [
        "2020-01-19",
        "2020-01-25",
        "2020-02-01",
        "2020-02-10",
        "2020-02-14",
        "2020-02-20",
        "2020-03-05",
    ] {
        let table = store.table(day(date)).unwrap();
        assert_eq!(table.compounds.len(), street.len());
        let mut total = lianfang_proto::table::DailyCounts::default();
        for (row, compound) in table.compounds.iter().zip(&street) {
            assert_eq!(row.code, compound.code);
            let expected = oracle(compound, day(date));
            assert_eq!(row.counts, expected, "{} on {date}", compound.code);
            assert!(row.caught_up && row.last_sync.is_some());
            total += expected;
        }
        assert_eq!(table.total, total, "street total on {date}");
    }
    // The generated street is not trivial: the dates above see returnees,
    // isolations and releases.
    let busy = store.table(day("2020-02-10")).unwrap().total;
    assert!(busy.returned_key_total > 0 && busy.returned_other_total > 0);
    assert!(busy.home_isolation > 0 && busy.central_isolation > 0 && busy.foreigners > 0);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_link_mid_push_resumes_without_loss_or_resend() {
    let hub = TestHub::start().await;
    let spec = StreetSpec {
        min_households: 1200,
        max_households: 1200,
        ..StreetSpec::demo(1)
    };
    let compound = generate::compound(&spec, 0);
    let token = hub.enroll(&compound.code);
    // The link dies after 40 kB from node to hub: a few batches get through.
    let proxy = CutProxy::start(hub.addr, 40_000).await;
    let nodes = tempfile::tempdir().unwrap();
    let data = node_with_ledger(nodes.path(), &compound, &proxy.url(), &token, false);
    let head = Store::open(&data).unwrap().head().unwrap();
    let options = SyncOptions {
        batch_size: 200,
        min_batch: 200,
        max_batch: 200,
        attempts: 1,
        ..SyncOptions::default()
    };
    let error = sync_once(&data, &options, |_| {}).await.unwrap_err();
    assert!(matches!(error, SyncError::Link { .. }), "{error}");
    let cut_at = hub.store().cursor(&compound.code).unwrap();
    assert!(
        0 < cut_at && cut_at < head,
        "the cut falls mid-push: hub cursor {cut_at} of {head}"
    );

    proxy.heal();
    let report = sync_once(&data, &options, |_| {}).await.unwrap();
    assert_eq!(
        report.sent,
        head - cut_at,
        "only what the hub had not acknowledged is sent again"
    );
    assert_eq!(report.applied, head - cut_at);
    assert_eq!(hub.store().cursor(&compound.code).unwrap(), head);
    let store = hub.store();
    for (kind, _) in Kind::with_ledger() {
        let n = compound.n_of(kind);
        assert_eq!(
            store.record_count(&compound.code, kind).unwrap(),
            n as u64,
            "{kind:?}"
        );
    }
    let date = day("2020-02-15");
    assert_eq!(
        store.table(date).unwrap().compounds[0].counts,
        oracle(&compound, date)
    );
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletes_and_edits_reach_the_hub() {
    let hub = TestHub::start().await;
    let mut compound = generate::compound(&StreetSpec::demo(1), 0);
    let token = hub.enroll(&compound.code);
    let nodes = tempfile::tempdir().unwrap();
    let data = node_with_ledger(nodes.path(), &compound, &hub.url(), &token, false);
    sync_once(&data, &SyncOptions::default(), |_| {})
        .await
        .unwrap();

    // Delete an isolation and a person, edit another person.
    let (isolation_id, isolation) = compound.isolations.remove(0);
    let person_id = compound
        .persons
        .iter()
        .map(|(id, _)| id.clone())
        .find(|id| {
            *id != isolation.person_id
                && compound.isolations.iter().all(|(_, i)| i.person_id != *id)
        })
        .unwrap();
    compound.persons.retain(|(id, _)| *id != person_id);
    let (edited_id, edited) = compound
        .persons
        .iter_mut()
        .find(|(_, p)| p.return_date.is_empty())
        .unwrap();
    edited.return_date = "2020-02-12".into();
    edited.origin = "湖北省孝感市".into();
    edited.registered = false;
    let edited = (edited_id.clone(), edited.clone());
    {
        let mut store = Store::open(&data).unwrap();
        let summary = store
            .write(
                [
                    Change {
                        kind: Kind::Isolation,
                        id: isolation_id.clone(),
                        body: None,
                    },
                    Change {
                        kind: Kind::Person,
                        id: person_id.clone(),
                        body: None,
                    },
                    Change {
                        kind: Kind::Person,
                        id: edited.0.clone(),
                        body: Some(pb::record::Body::Person(edited.1.clone())),
                    },
                ],
                lianfang_node::now_ms(),
            )
            .unwrap();
        assert_eq!(summary.written(), 3);
    }
    let report = sync_once(&data, &SyncOptions::default(), |_| {})
        .await
        .unwrap();
    assert_eq!(report.sent, 3);
    let store = hub.store();
    let deleted = store
        .record(&compound.code, Kind::Person, &person_id)
        .unwrap()
        .unwrap()
        .deleted;
    assert!(deleted, "the delete is a tombstone at the hub");
    for date in ["2020-02-12", "2020-02-20"] {
        assert_eq!(
            store.table(day(date)).unwrap().compounds[0].counts,
            oracle(&compound, day(date)),
            "{date}"
        );
    }
    hub.stop().await;
}

/// A day's change, the compound's own daily report and the digest check
/// travel in one round trip; a sync with nothing to send is one round trip;
/// a new notice adds the one that acknowledges its delivery. A larger
/// backlog first learns the hub's cursors, so nothing is sent twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_of_changes_is_one_round_trip() {
    let hub = TestHub::start().await;
    let mut compound = generate::compound(&StreetSpec::demo(1), 0);
    let token = hub.enroll(&compound.code);
    let nodes = tempfile::tempdir().unwrap();
    let data = node_with_ledger(nodes.path(), &compound, &hub.url(), &token, false);
    let head = Store::open(&data).unwrap().head().unwrap();
    assert!(
        head > 512,
        "the initial import is a backlog ({head} entries)"
    );

    let first = sync_once(&data, &SyncOptions::default(), |_| {})
        .await
        .unwrap();
    assert_eq!(first.sent, head, "every entry sent exactly once");
    assert_eq!(first.applied, head);
    assert_eq!(first.digests_agree, Some(true));
    assert!(first.calls >= 2, "a backlog asks for the cursors first");

    let idle = sync_once(&data, &SyncOptions::default(), |_| {})
        .await
        .unwrap();
    assert_eq!(
        (idle.calls, idle.sent, idle.sent_urgent, idle.digests_agree),
        (1, 0, 0, Some(true)),
        "nothing to send: one round trip that proves agreement"
    );

    let date = lianfang_node::today() + chrono::Days::new(1);
    compound.edit_day(7, 0.05, date);
    let files = compound.write_csv(&nodes.path().join("ledger")).unwrap();
    let mut store = Store::open(&data).unwrap();
    let summary = lianfang_node::import::import_files(
        &mut store,
        &files,
        lianfang_node::today(),
        lianfang_node::now_ms(),
    )
    .unwrap();
    let changed = store.head().unwrap() - head;
    drop(store);
    assert!(changed > 20, "{summary:?}");
    let day = sync_once(&data, &SyncOptions::default(), |_| {})
        .await
        .unwrap();
    assert_eq!(
        (day.calls, day.sent, day.applied, day.digests_agree),
        (1, changed, changed, Some(true)),
        "a day's change in one round trip"
    );
    assert_eq!(
        hub.store().table(date).unwrap().compounds[0].counts,
        oracle(&compound, date)
    );

    let id = lianfang_hub::store::HubStore::open_or_create(hub.dir.path())
        .unwrap()
        .send_notice(
            pb::Notice {
                title: "今日通知".into(),
                body: "请于16:30前上报".into(),
                ..Default::default()
            },
            None,
        )
        .unwrap();
    let notice = sync_once(&data, &SyncOptions::default(), |_| {})
        .await
        .unwrap();
    assert_eq!((notice.calls, notice.received), (2, 1));
    let status = hub.store().directive_status(id).unwrap();
    assert!(
        status.targets[0].delivered_at.is_some(),
        "the second round trip acknowledged delivery"
    );
    hub.stop().await;
}

/// A bulk batch the hub refuses (here a record the node's own checks would
/// never let through, planted in its log) does not hold back the urgent
/// lane beside it in the same exchange: the compound's report still reaches
/// the hub, and the refusal names the record and the field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_bulk_batch_does_not_hold_back_the_urgent_lane() {
    use lianfang_proto::Lane;
    use prost::Message as _;

    let hub = TestHub::start().await;
    let compound = generate::compound(&StreetSpec::demo(1), 0);
    let token = hub.enroll(&compound.code);
    let nodes = tempfile::tempdir().unwrap();
    let data = node_with_ledger(nodes.path(), &compound, &hub.url(), &token, false);
    sync_once(&data, &SyncOptions::default(), |_| {})
        .await
        .unwrap();

    // An urgent entry: the compound's figures for another day.
    let mut store = Store::open(&data).unwrap();
    let date = day("2020-02-19");
    let counts = store.table(date, &store.table_config().unwrap()).unwrap();
    store
        .write(
            [Change {
                kind: Kind::DailyReport,
                id: "2020-02-19".into(),
                body: Some(pb::record::Body::DailyReport(counts.to_report(
                    &Default::default(),
                    date,
                    "2020-02-19T16:00:00Z".into(),
                ))),
            }],
            lianfang_node::now_ms(),
        )
        .unwrap();
    let urgent_head = store.head_of(Lane::Urgent).unwrap();
    let bulk_head = store.head().unwrap();
    drop(store);
    // A bulk entry with an impossible ID number, written past the node's checks.
    let (id, person) = &compound.persons[0];
    let mut person = person.clone();
    person.id_number = "123".into();
    let planted = pb::Record {
        compound: compound.code.clone(),
        id: id.clone(),
        stamp: lianfang_node::now_ms() << 16,
        origin: "planted".into(),
        deleted: false,
        body: Some(pb::record::Body::Person(person)),
    };
    rusqlite::Connection::open(data.join("node.db"))
        .unwrap()
        .execute(
            "INSERT INTO outbox (lane, seq, entry) VALUES (?1, ?2, ?3)",
            rusqlite::params![
                Lane::Bulk as i64,
                (bulk_head + 1) as i64,
                planted.encode_to_vec()
            ],
        )
        .unwrap();

    let err = sync_once(&data, &SyncOptions::default(), |_| {})
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, SyncError::Refused(_)), "{message}");
    assert!(
        message.contains("id_number") && message.contains(id.as_str()),
        "{message}"
    );
    let hub_store = hub.store();
    assert_eq!(
        hub_store
            .lane_cursor_of(&compound.code, Lane::Urgent)
            .unwrap(),
        urgent_head,
        "the urgent lane went through"
    );
    assert_eq!(
        hub_store
            .lane_cursor_of(&compound.code, Lane::Bulk)
            .unwrap(),
        bulk_head,
        "nothing of the refused batch was applied"
    );
    assert!(
        hub_store
            .record(&compound.code, Kind::Person, id)
            .unwrap()
            .is_some_and(|v| v.origin != "planted")
    );
    hub.stop().await;
}

/// A hub whose store is on PostgreSQL loses its connections (a restart of
/// the server, an administrator's `pg_terminate_backend`) between two
/// syncs and in the middle of one: it connects again, and the node's
/// retries bring every entry over once. Runs in the PostgreSQL pass of
/// `tests/run` (`LIANFANG_TEST_POSTGRES`); on SQLite there is nothing to cut.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_on_postgresql_connects_again_when_its_connections_are_cut() {
    let Some(server) = lianfang_hub::db::testing::server() else {
        eprintln!("SQLite pass: nothing to cut (the PostgreSQL pass runs this)");
        return;
    };
    let hub = TestHub::start().await;
    let url = std::fs::read_to_string(hub.dir.path().join(lianfang_hub::store::STORE_FILE))
        .expect("the harness put this hub on PostgreSQL");
    let schema = url
        .rsplit("%3D")
        .next()
        .expect("a schema")
        .trim()
        .to_owned();
    // Ends every connection of this hub (not the other tests' hubs).
    let cut = move || {
        let admin = format!("{server}/postgres");
        let schema = schema.clone();
        std::thread::spawn(move || {
            let mut client = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
            client
                .query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                     WHERE application_name = 'lianfang-hub:' || $1",
                    &[&schema],
                )
                .unwrap()
                .len()
        })
        .join()
        .unwrap()
    };
    let spec = StreetSpec {
        min_households: 300,
        max_households: 300,
        ..StreetSpec::demo(1)
    };
    let mut compound = generate::compound(&spec, 0);
    let token = hub.enroll(&compound.code);
    let nodes = tempfile::tempdir().unwrap();
    let data = node_with_ledger(nodes.path(), &compound, &hub.url(), &token, false);
    let options = SyncOptions {
        batch_size: 100,
        min_batch: 100,
        attempts: 20,
        ..SyncOptions::default()
    };
    assert!(cut() >= 1, "the hub holds a connection");
    // Cut again while the first sync pushes its batches.
    let cut_later = cut.clone();
    let cutter = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        tokio::task::spawn_blocking(cut_later).await.unwrap()
    });
    let report = sync_once(&data, &options, |_| {}).await.unwrap();
    let cut_during = cutter.await.unwrap();
    assert_eq!(report.cursor, report.head, "every entry reached the hub");
    eprintln!(
        "{} entries over {} sessions, {cut_during} connection(s) cut 300 ms in",
        report.head, report.sessions
    );
    let date = day("2020-02-10");
    let store = hub.store();
    let table = store.table(date).unwrap();
    assert_eq!(table.compounds[0].counts, oracle(&compound, date));
    drop(store);
    let before = report.head;
    // A day's changes after another cut.
    compound.edit_day(7, 0.05, lianfang_node::today() + chrono::Days::new(1));
    let files = compound.write_csv(&nodes.path().join("day")).unwrap();
    let mut node = Store::open(&data).unwrap();
    lianfang_node::import::import_files(
        &mut node,
        &files,
        lianfang_node::today(),
        lianfang_node::now_ms(),
    )
    .unwrap();
    drop(node);
    assert!(cut() >= 1, "the hub holds a connection again");
    let report = sync_once(&data, &options, |_| {}).await.unwrap();
    assert!(report.head > before && report.cursor == report.head);
    let store = hub.store();
    assert_eq!(
        store.table(date).unwrap().compounds[0].counts,
        oracle(&compound, date),
        "after the cut, the day's changes counted once"
    );
    drop(store);
    hub.stop().await;
}
