//! A test generated from the kind registry (`lianfang_proto::kinds`): one
//! record of every kind, each kind's own sample, goes through the node's
//! write paths (a one-row ledger per kind with a ledger, all imported
//! together as CSV; the store's write for the others), a real sync to an
//! in-process hub, digest agreement, and the hub's stored version and
//! export, masked and not; then its tombstone does the same. A kind added
//! to the registry is covered here with no change to this file.

use lianfang_hub::export::{self, ExportKind};
use lianfang_node::store::{Change, Store};
use lianfang_node::sync::{SyncOptions, sync_once};
use lianfang_proto::mask::Privacy;
use lianfang_proto::{Kind, digest, kinds};
use lianfang_tests::TestHub;

const COMPOUND: &str = "HM001";

/// A CSV file of a header and one row, every cell quoted.
fn csv(header: &[&str], cells: &[String]) -> String {
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        cells
            .map(|cell| format!("\"{}\"", cell.replace('"', "\"\"")))
            .collect::<Vec<_>>()
            .join(",")
    };
    format!(
        "{}\n{}\n",
        line(&mut header.iter().copied()),
        line(&mut cells.iter().map(String::as_str))
    )
}

/// Syncs the node and checks that the hub holds what it holds.
async fn sync_and_agree(hub: &TestHub, data: &std::path::Path) {
    let report = sync_once(data, &SyncOptions::default(), |_| {})
        .await
        .expect("sync");
    assert_eq!(report.cursor, report.head);
    assert_eq!(report.digests_agree, Some(true), "digests agree after sync");
    let node = Store::open(data).unwrap().digests().unwrap();
    let hub_digests = hub.store().digests(COMPOUND).unwrap();
    assert_eq!(digest::root(&node), digest::root(&hub_digests));
    let kinds_seen: std::collections::BTreeSet<u32> = hub_digests.keys().map(|k| k.kind).collect();
    for kind in Kind::ALL {
        assert!(
            kinds_seen.contains(&(kind as u32)),
            "{kind:?} is in the hub's digests"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_record_of_every_kind_travels_intact() {
    let hub = TestHub::start().await;
    let token = hub.enroll(COMPOUND);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    lianfang_node::init(&data, COMPOUND, &hub.url(), &token).unwrap();

    // Kinds with a ledger: a one-row ledger each, written from the sample's
    // cells; the samples refer to one another, so they import together.
    let mut files = Vec::new();
    for (kind, ledger) in Kind::with_ledger() {
        let (id, body) = kind.sample();
        let path = dir.path().join(format!("{}.csv", ledger.name));
        std::fs::write(&path, csv(&ledger.headers(), &kinds::cells(&id, &body))).unwrap();
        files.push(path);
    }
    assert!(!files.is_empty());
    let mut store = Store::open(&data).unwrap();
    let summary = lianfang_node::import::import_files(
        &mut store,
        &files,
        lianfang_node::today(),
        lianfang_node::now_ms(),
    )
    .expect("every kind's sample row imports");
    for (kind, _) in Kind::with_ledger() {
        assert_eq!(summary.kind(kind).added, 1, "{kind:?}");
    }
    // The other kinds through the store's write, as the node's own
    // commands write them.
    let others: Vec<Change> = Kind::ALL
        .into_iter()
        .filter(|kind| kind.ledger().is_none())
        .map(|kind| {
            let (id, body) = kind.sample();
            Change {
                kind,
                id,
                body: Some(body),
            }
        })
        .collect();
    store.write(others, lianfang_node::now_ms()).unwrap();
    // Each is on the node exactly as given (a ledger row reads back to the
    // body it was written from).
    for kind in Kind::ALL {
        let (id, body) = kind.sample();
        let got = store.get(kind, &id).unwrap().expect("on the node");
        assert_eq!(got.body, Some(body), "{kind:?} on the node");
    }
    drop(store);

    sync_and_agree(&hub, &data).await;
    let store = hub.store();
    for kind in Kind::ALL {
        let (id, body) = kind.sample();
        let stored = store
            .record(COMPOUND, kind, &id)
            .unwrap()
            .unwrap_or_else(|| panic!("{kind:?} {id} reached the hub"));
        assert!(!stored.deleted, "{kind:?}");
        assert_eq!(kind.decode_body(&stored.body).unwrap(), body, "{kind:?}");
    }

    // Exports: the ledger's columns, the sample's cells; personal data
    // masked unless asked for.
    for (kind, ledger) in Kind::with_ledger() {
        let (id, body) = kind.sample();
        let export_kind = ExportKind::new(kind).unwrap();
        let cells = kinds::cells(&id, &body);
        let header = export::header(export_kind);
        assert_eq!(header[0], "小区");
        assert_eq!(header[1..], ledger.headers()[..], "{kind:?}");
        let unmasked =
            export::export(&store, export_kind, Some(COMPOUND), Privacy::Unmasked).unwrap();
        let expected: export::Row = std::iter::once(("小区", COMPOUND.to_owned()))
            .chain(ledger.columns.iter().map(|c| c.zh).zip(cells.clone()))
            .collect();
        assert_eq!(unmasked, [expected], "{kind:?}");
        let masked = export::export(&store, export_kind, None, Privacy::Masked).unwrap();
        assert_eq!(masked.len(), 1, "{kind:?}");
        for ((column, cell), (_, shown)) in ledger.columns.iter().zip(&cells).zip(&masked[0][1..]) {
            if column.sensitive.is_some() && !cell.is_empty() {
                assert_ne!(shown, cell, "{kind:?} {} is masked", column.en);
            } else {
                assert_eq!(shown, cell, "{kind:?} {}", column.en);
            }
        }
    }
    drop(store);

    // Tombstones of every kind travel the same way.
    let mut node = Store::open(&data).unwrap();
    let deletes: Vec<Change> = Kind::ALL
        .into_iter()
        .map(|kind| Change {
            kind,
            id: kind.sample().0,
            body: None,
        })
        .collect();
    assert_eq!(
        node.write(deletes, lianfang_node::now_ms())
            .unwrap()
            .written(),
        Kind::ALL.len()
    );
    drop(node);
    sync_and_agree(&hub, &data).await;
    let store = hub.store();
    for kind in Kind::ALL {
        let id = kind.sample().0;
        let stored = store.record(COMPOUND, kind, &id).unwrap().unwrap();
        assert!(stored.deleted, "{kind:?} {id} is a tombstone at the hub");
    }
    for (kind, _) in Kind::with_ledger() {
        let rows = export::export(
            &store,
            ExportKind::new(kind).unwrap(),
            None,
            Privacy::Unmasked,
        )
        .unwrap();
        assert!(
            rows.is_empty(),
            "{kind:?}: a deleted record is not exported"
        );
    }
    hub.stop().await;
}
