//! Poor links, lost hub rows, skewed clocks and the USB stick: everything
//! converges, and only what differs is sent again.

use std::path::Path;

use lianfang_node::store::Store;
use lianfang_node::sync::{SyncOptions, sync_once};
use lianfang_proto::Kind;
use lianfang_sim::generate::{self, StreetSpec};
use lianfang_tests::{TestHub, node_with_ledger, ok_with as ok, oracle, run_with as run};

fn day(s: &str) -> chrono::NaiveDate {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_hub_rows_are_found_by_digest_and_only_their_buckets_resent() {
    let hub = TestHub::start().await;
    let compound = generate::compound(&StreetSpec::demo(1), 0);
    let token = hub.enroll(&compound.code);
    let root = tempfile::tempdir().unwrap();
    let data = node_with_ledger(root.path(), &compound, &hub.url(), &token, false);
    let first = sync_once(&data, &SyncOptions::default(), |_| {})
        .await
        .unwrap();
    assert_eq!(first.digests_agree, Some(true));
    assert_eq!(first.repaired, 0);
    assert_eq!(
        hub.store().table(day("2020-02-20")).unwrap().compounds[0].digests_agree,
        Some(true)
    );

    // The hub loses three persons and one household's body is damaged
    // (a bad restore while it was down): cursors say all is well, digests
    // do not. The hub checks the digests it keeps against its records at a
    // compound's first comparison after it starts, so it is restarted.
    let mut hub = hub;
    let db = lianfang_tests::hub_db(hub.dir.path());
    let lost: Vec<String> = compound
        .persons
        .iter()
        .step_by(97)
        .take(3)
        .map(|(id, _)| id.clone())
        .collect();
    for id in &lost {
        db.execute(
            "DELETE FROM person WHERE compound = ?1 AND id = ?2",
            [&compound.code, id],
        )
        .unwrap();
    }
    db.execute(
        "UPDATE household SET body = ?3 WHERE compound = ?1 AND id = ?2",
        lianfang_hub::params![
            compound.code,
            compound.households[5].0,
            [0x0a_u8, 0x01, 0x39]
        ],
    )
    .unwrap();

    drop(db);
    hub.restart().await;
    let repair = sync_once(&data, &SyncOptions::default(), |_| {})
        .await
        .unwrap();
    assert_eq!(repair.digests_agree, Some(true));
    let total = compound.n_records() as u64;
    assert!(
        repair.repaired > 0 && repair.repaired * 4 < total,
        "resent {} of {total}: only the differing buckets",
        repair.repaired
    );
    let store = hub.store();
    let rescans: Vec<_> = store
        .audit_log()
        .unwrap()
        .into_iter()
        .filter(|e| e.event == "digests_rescanned")
        .collect();
    assert_eq!(rescans.len(), 1, "{rescans:?}");
    assert_eq!(
        store.record_count(&compound.code, Kind::Person).unwrap(),
        compound.persons.len() as u64
    );
    for date in ["2020-02-05", "2020-02-20"] {
        let row = &store.table(day(date)).unwrap().compounds[0];
        assert_eq!(row.counts, oracle(&compound, day(date)), "{date}");
        assert_eq!(row.digests_agree, Some(true));
    }
    // Nothing differs any more: a further sync resends nothing.
    let again = sync_once(&data, &SyncOptions::default(), |_| {})
        .await
        .unwrap();
    assert_eq!((again.sent, again.repaired), (0, 0));
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundle_on_a_usb_stick_is_applied_once_and_the_node_learns_the_cursor() {
    let hub = TestHub::start().await;
    let compound = generate::compound(&StreetSpec::demo(1), 0);
    let token = hub.enroll(&compound.code);
    let root = tempfile::tempdir().unwrap();
    // The node has synced once (so its log is bound), then loses its link.
    let data = node_with_ledger(root.path(), &compound, &hub.url(), &token, false);
    sync_once(&data, &SyncOptions::default(), |_| {})
        .await
        .unwrap();
    let mut edited = compound.clone();
    edited.edit_day(7, 0.05, day("2020-02-21"));
    let files = edited.write_csv(&root.path().join("ledger2")).unwrap();
    let node = data.to_str().unwrap();
    let mut args = vec!["import", "--data", node];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    ok("lianfang-node", &args, &[]);
    let pending = Store::open(&data).unwrap().pending().unwrap();
    assert!(pending > 0);

    let bundle = root.path().join("HM001.bundle");
    let out = ok(
        "lianfang-node",
        &["export-bundle", "--data", node, bundle.to_str().unwrap()],
        &[],
    );
    assert!(out.contains("wrote"), "{out}");
    let hub_data = hub.dir.path().to_str().unwrap();

    // An altered bundle is refused whole.
    let mut bytes = std::fs::read(&bundle).unwrap();
    let n = bytes.len();
    bytes[n - 40] ^= 1;
    let tampered = root.path().join("tampered.bundle");
    std::fs::write(&tampered, &bytes).unwrap();
    let out = run(
        "lianfang-hub",
        &[
            "import-bundle",
            "--data",
            hub_data,
            tampered.to_str().unwrap(),
        ],
        &[],
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("bundle"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        hub.store().table(day("2020-02-21")).unwrap().compounds[0].counts,
        oracle(&compound, day("2020-02-21"))
    );

    let out = ok(
        "lianfang-hub",
        &[
            "import-bundle",
            "--data",
            hub_data,
            bundle.to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.contains("new change(s) applied"), "{out}");
    assert_eq!(
        hub.store().table(day("2020-02-21")).unwrap().compounds[0].counts,
        oracle(&edited, day("2020-02-21"))
    );
    // Carried twice: nothing new.
    let out = ok(
        "lianfang-hub",
        &[
            "import-bundle",
            "--data",
            hub_data,
            bundle.to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.contains(": 0 new change(s)"), "{out}");

    // At its next contact the node learns the hub has it all: nothing resent.
    let report = sync_once(&data, &SyncOptions::default(), |_| {})
        .await
        .unwrap();
    assert_eq!(report.sent, 0, "the bundle's changes are not sent again");
    assert_eq!(report.digests_agree, Some(true));
    assert_eq!(Store::open(&data).unwrap().pending().unwrap(), 0);
    let out = run(
        "lianfang-node",
        &["export-bundle", "--data", node, bundle.to_str().unwrap()],
        &[],
    );
    assert!(!out.status.success(), "nothing left to export");
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_clock_is_days_off_still_converges() {
    let hub = TestHub::start().await;
    let compound = generate::compound(&StreetSpec::demo(1), 0);
    let token = hub.enroll(&compound.code);
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let node = data.to_str().unwrap();
    let ahead = [("LIANFANG_CLOCK_OFFSET_SECS", "259200")]; // three days ahead
    let behind = [("LIANFANG_CLOCK_OFFSET_SECS", "-259200")]; // three days behind
    ok(
        "lianfang-node",
        &[
            "init",
            "--data",
            node,
            "--compound",
            &compound.code,
            "--hub",
            &hub.url(),
            "--token",
            &token,
        ],
        &ahead,
    );
    let import = |ledger: &generate::CompoundLedger, dir: &str, env: &[(&str, &str)]| {
        let files = ledger.write_csv(&root.path().join(dir)).unwrap();
        let mut args = vec!["import", "--data", node];
        args.extend(files.iter().map(|f| f.to_str().unwrap()));
        ok("lianfang-node", &args, env);
    };
    import(&compound, "l1", &ahead);
    ok("lianfang-node", &["sync", "--data", node, "--once"], &ahead);

    // The clock is then set six days back and the ledger edited: the edits
    // must still win over the versions stamped "in the future".
    let mut edited = compound.clone();
    edited.edit_day(11, 0.05, day("2020-02-21"));
    import(&edited, "l2", &behind);
    ok(
        "lianfang-node",
        &["sync", "--data", node, "--once"],
        &behind,
    );
    let store = hub.store();
    for date in ["2020-02-10", "2020-02-21", "2020-03-01"] {
        let row = &store.table(day(date)).unwrap().compounds[0];
        assert_eq!(row.counts, oracle(&edited, day(date)), "{date}");
        assert_eq!(row.digests_agree, Some(true));
    }
    // And once more with the clock right: still converged, nothing to send.
    let out = ok("lianfang-node", &["sync", "--data", node, "--once"], &[]);
    assert!(out.contains("sent 0 "), "{out}");
    let _ = Path::new(node);
    hub.stop().await;
}
