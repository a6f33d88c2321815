//! Version skew: a node and a hub of different versions either sync or say
//! clearly which side to upgrade, and what the older side knows keeps
//! flowing.

use lianfang_proto::{Kind, Lane, pb};
use lianfang_sim::generate::{self, StreetSpec};
use lianfang_tests::{Serve, node_with_ledger, ok, run};
use prost::Message as _;

/// A record of a kind from a newer protocol: field 99 of `Record`, which
/// this version's `body` oneof does not have.
fn record_of_a_newer_kind(compound: &str) -> Vec<u8> {
    let mut bytes = pb::Record {
        compound: compound.into(),
        id: "NEW-1".into(),
        stamp: 1 << 16,
        origin: "newer-node".into(),
        deleted: false,
        body: None,
    }
    .encode_to_vec();
    let payload = pb::Household::default().encode_to_vec();
    prost::encoding::encode_key(99, prost::encoding::WireType::LengthDelimited, &mut bytes);
    prost::encoding::encode_varint(payload.len() as u64, &mut bytes);
    bytes.extend_from_slice(&payload);
    bytes
}

#[test]
fn an_older_hub_names_itself_as_the_side_to_upgrade_and_keeps_the_urgent_lane() {
    let root = tempfile::tempdir().unwrap();
    let hub_dir = root.path().join("hub");
    let compound = generate::compound(
        &StreetSpec {
            min_households: 20,
            max_households: 30,
            ..StreetSpec::demo(1)
        },
        0,
    );
    let enrolled = ok(
        "lianfang-hub",
        &[
            "enroll",
            "--data",
            hub_dir.to_str().unwrap(),
            "--compound",
            &compound.code,
        ],
    );
    let token = enrolled.lines().last().unwrap().trim().to_owned();
    let serve = Serve::start(&hub_dir, &["--listen", "127.0.0.1:0"], &[]);
    let data = node_with_ledger(root.path(), &compound, &serve.url(), &token, false);
    let node = data.to_str().unwrap();

    // The node's bulk lane ends with a record of a kind this hub lacks,
    // as a newer node's would.
    let bulk_head: u64 = {
        let db = rusqlite::Connection::open(data.join("node.db")).unwrap();
        let head: u64 = db
            .query_row(
                "SELECT COALESCE(MAX(seq), 0) FROM outbox WHERE lane = ?1",
                [Lane::Bulk as i64],
                |r| r.get(0),
            )
            .unwrap();
        db.execute(
            "INSERT INTO outbox (lane, seq, entry) VALUES (?1, ?2, ?3)",
            rusqlite::params![
                Lane::Bulk as i64,
                (head + 1) as i64,
                record_of_a_newer_kind(&compound.code)
            ],
        )
        .unwrap();
        head
    };

    let out = run("lianfang-node", &["sync", "--data", node, "--once"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(3),
        "refused, not a link failure: {stderr}"
    );
    assert!(
        stderr.contains("upgrade lianfang-hub") && stderr.contains("no body of a record kind"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");

    // The bulk batch holding the unknown record was refused whole (the
    // lane waits for the upgrade); the urgent lane, which the older hub
    // understands, went through regardless.
    serve.kill();
    let store = lianfang_hub::store::HubStore::open_read_only(&hub_dir).unwrap();
    assert!(
        store.lane_cursor_of(&compound.code, Lane::Bulk).unwrap() <= bulk_head,
        "the record the hub does not know is never acknowledged"
    );
    assert!(store.lane_cursor_of(&compound.code, Lane::Urgent).unwrap() >= 1);
    assert_eq!(
        store
            .record_count(&compound.code, Kind::DailyReport)
            .unwrap(),
        1
    );
}
