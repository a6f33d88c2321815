//! A client that is not tonic: what a node written against
//! `proto/lianfang.proto` with another gRPC stack (grpcio, grpc-go, …) puts
//! on the wire, sent by hand over raw HTTP/2 (`lianfang_tests::rawgrpc`).
//! Such stacks compress with gzip; the tonic node keeps sending zstd.

use lianfang_node::sync::{SyncOptions, sync_once};
use lianfang_proto::{Kind, pb, token};
use lianfang_sim::generate::{self, StreetSpec};
use lianfang_tests::rawgrpc::{Call, Encoding, Reply, unary};
use lianfang_tests::{TestHub, node_with_ledger};
use prost::Message as _;

use crate::protocol::{entries, household};

/// `package lianfang.v1; service Sync { rpc Exchange … }`.
const EXCHANGE: &str = "/lianfang.v1.Sync/Exchange";

// gRPC status codes, as numbers on the wire.
const OK: i32 = 0;
const RESOURCE_EXHAUSTED: i32 = 8;
const PERMISSION_DENIED: i32 = 7;
const UNIMPLEMENTED: i32 = 12;
const UNAUTHENTICATED: i32 = 16;

/// What a node presents: the token without the hub's key and certificate.
fn credential(token: &str) -> String {
    token::credential(&token::decode(token).expect("token"))
}

/// An `ExchangeRequest` of `log_id` carrying `entries` on the bulk lane,
/// whose head is the last of them.
fn exchange_request(log_id: &str, entries: Vec<pb::LogEntry>) -> Vec<u8> {
    pb::ExchangeRequest {
        log_id: log_id.into(),
        version: "rawgrpc/0".into(),
        urgent: None,
        bulk: Some(pb::LaneEntries {
            head: entries.last().map_or(0, |e| e.seq),
            entries,
        }),
        down_cursor: 0,
        down_max: 16,
        digest_root: Vec::new(),
    }
    .encode_to_vec()
}

async fn exchange(
    hub: &TestHub,
    credential: Option<&str>,
    send: Encoding,
    accept: &str,
    message: &[u8],
) -> Reply {
    unary(
        hub.addr,
        &Call {
            path: EXCHANGE,
            credential,
            send,
            accept,
            message,
        },
    )
    .await
    .expect("raw gRPC call")
}

fn response(reply: &Reply) -> pb::ExchangeResponse {
    assert_eq!(reply.http_status, http::StatusCode::OK);
    pb::ExchangeResponse::decode(reply.message().expect("a reply message"))
        .expect("decode ExchangeResponse")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_exchange_from_a_client_that_is_not_tonic() {
    let hub = TestHub::start().await;
    let token = hub.enroll("HM001");
    let credential = credential(&token);

    let request = exchange_request("py-1", entries("HM001", 1..=3));
    let reply = exchange(&hub, Some(&credential), Encoding::Gzip, "gzip", &request).await;
    assert_eq!(reply.grpc_status(), Some(OK), "{}", reply.grpc_message());
    // Answered in the one encoding the caller accepts, and really compressed.
    assert_eq!(reply.encoding, Encoding::Gzip, "{:?}", reply.headers);
    assert!(reply.messages.iter().all(|(compressed, _)| *compressed));
    assert!(
        reply.trailers.is_some(),
        "a success carries its status in trailers"
    );
    let answer = response(&reply);
    assert_eq!(answer.compound, "HM001");
    assert_eq!((answer.bulk_cursor, answer.applied), (3, 3));
    assert_eq!(answer.digest, pb::DigestCheck::NotCompared as i32);

    let store = hub.store();
    assert_eq!(store.cursor("HM001").unwrap(), 3);
    assert_eq!(store.record_count("HM001", Kind::Household).unwrap(), 3);
    let stored = store.record("HM001", Kind::Household, "H2").unwrap();
    assert_eq!(stored.map(|v| v.stamp), Some(2 << 16));

    // A replay over gzip is acknowledged and changes nothing.
    let reply = exchange(&hub, Some(&credential), Encoding::Gzip, "gzip", &request).await;
    let answer = response(&reply);
    assert_eq!((answer.bulk_cursor, answer.applied), (3, 0));
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uncompressed_exchange_from_a_client_that_is_not_tonic() {
    let hub = TestHub::start().await;
    let credential = credential(&hub.enroll("HM001"));

    // No grpc-encoding and no grpc-accept-encoding: plain both ways.
    let request = exchange_request("py-1", entries("HM001", 1..=4));
    let reply = exchange(&hub, Some(&credential), Encoding::Identity, "", &request).await;
    assert_eq!(reply.encoding, Encoding::Identity, "{:?}", reply.headers);
    assert!(reply.messages.iter().all(|(compressed, _)| !*compressed));
    let answer = response(&reply);
    assert_eq!((answer.bulk_cursor, answer.applied), (4, 4));

    // The next batch, still plain, picks up at the cursor.
    let request = exchange_request("py-1", entries("HM001", 5..=6));
    let reply = exchange(
        &hub,
        Some(&credential),
        Encoding::Identity,
        "identity",
        &request,
    )
    .await;
    assert_eq!(reply.encoding, Encoding::Identity);
    assert_eq!(response(&reply).bulk_cursor, 6);
    assert_eq!(hub.store().cursor("HM001").unwrap(), 6);
    assert_eq!(
        hub.store().record_count("HM001", Kind::Household).unwrap(),
        6
    );
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reply_is_in_an_encoding_the_caller_accepts() {
    let hub = TestHub::start().await;
    let credential = credential(&hub.enroll("HM001"));
    let request = exchange_request("py-1", entries("HM001", 1..=2));
    // The caller's first accepted encoding that the hub sends; none when it
    // names only encodings the hub does not send.
    for (send, accept, expected) in [
        (Encoding::Gzip, "gzip", Encoding::Gzip),
        (Encoding::Gzip, "identity", Encoding::Identity),
        (Encoding::Gzip, "", Encoding::Identity),
        (Encoding::Gzip, "deflate", Encoding::Identity),
        (Encoding::Gzip, "deflate, gzip", Encoding::Gzip),
        (Encoding::Gzip, "gzip,zstd,identity", Encoding::Gzip),
        (Encoding::Identity, "zstd,gzip", Encoding::Zstd),
        (Encoding::Zstd, "gzip", Encoding::Gzip),
        (Encoding::Zstd, "zstd", Encoding::Zstd),
    ] {
        let reply = exchange(&hub, Some(&credential), send, accept, &request).await;
        assert_eq!(
            reply.grpc_status(),
            Some(OK),
            "{send:?} accept {accept:?}: {}",
            reply.grpc_message()
        );
        assert_eq!(reply.encoding, expected, "{send:?} accept {accept:?}");
        assert_eq!(response(&reply).bulk_cursor, 2);
    }
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_record_over_gzip_is_refused_whole() {
    let hub = TestHub::start().await;
    let credential = credential(&hub.enroll("HM001"));
    hub.enroll("HM002");

    let mut batch = entries("HM001", 1..=3);
    batch[1].record = Some(household("HM002", "X1", 9 << 16, "py", pb::Housing::Vacant));
    let request = exchange_request("py-1", batch);
    let reply = exchange(&hub, Some(&credential), Encoding::Gzip, "gzip", &request).await;
    assert_eq!(
        reply.grpc_status(),
        Some(PERMISSION_DENIED),
        "{}",
        reply.grpc_message()
    );
    assert!(
        reply.grpc_message().contains("HM002"),
        "{}",
        reply.grpc_message()
    );
    assert!(reply.messages.is_empty());
    let store = hub.store();
    assert_eq!(store.cursor("HM001").unwrap(), 0);
    assert_eq!(store.record_count("HM001", Kind::Household).unwrap(), 0);
    assert!(
        store
            .record("HM002", Kind::Household, "X1")
            .unwrap()
            .is_none()
    );
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_or_bad_credential_is_unauthenticated_over_gzip() {
    let hub = TestHub::start().await;
    hub.enroll("HM001");
    let request = exchange_request("py-1", entries("HM001", 1..=2));
    for credential in [None, Some("lf1.garbage"), Some("")] {
        let reply = exchange(&hub, credential, Encoding::Gzip, "gzip", &request).await;
        assert_eq!(
            reply.grpc_status(),
            Some(UNAUTHENTICATED),
            "{credential:?}: {}",
            reply.grpc_message()
        );
        assert!(reply.messages.is_empty());
    }
    assert_eq!(
        hub.store().record_count("HM001", Kind::Household).unwrap(),
        0
    );
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encoding_the_hub_does_not_take_is_unimplemented_and_names_those_it_does() {
    let hub = TestHub::start().await;
    let credential = credential(&hub.enroll("HM001"));
    let request = exchange_request("py-1", entries("HM001", 1..=2));
    let reply = exchange(&hub, Some(&credential), Encoding::Deflate, "gzip", &request).await;
    assert_eq!(
        reply.grpc_status(),
        Some(UNIMPLEMENTED),
        "{}",
        reply.grpc_message()
    );
    // The refusal says what to use instead (gRPC's compression spec).
    let accepted = reply
        .trailers
        .as_ref()
        .and_then(|t| t.get("grpc-accept-encoding"))
        .or_else(|| reply.headers.get("grpc-accept-encoding"))
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    for name in ["gzip", "zstd"] {
        assert!(accepted.split(',').any(|e| e.trim() == name), "{accepted}");
    }
    assert_eq!(hub.store().cursor("HM001").unwrap(), 0);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gzip_bomb_stops_at_the_message_limit() {
    let hub = TestHub::start().await;
    let credential = credential(&hub.enroll("HM001"));
    // 17 MiB of zeros gzip to about 17 kB: small on the wire, so only the
    // limit on the decompressed message stops it.
    let bomb = vec![0u8; lianfang_hub::server::MAX_MESSAGE_BYTES + 1024 * 1024];
    assert!(Encoding::Gzip.compress(&bomb).len() < 64 * 1024);
    let reply = exchange(&hub, Some(&credential), Encoding::Gzip, "gzip", &bomb).await;
    assert_eq!(
        reply.grpc_status(),
        Some(RESOURCE_EXHAUSTED),
        "{}",
        reply.grpc_message()
    );
    assert_eq!(hub.store().cursor("HM001").unwrap(), 0);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tonic_node_with_zstd_and_a_gzip_client_share_the_hub() {
    let hub = TestHub::start().await;
    // A real node, tonic and zstd as shipped.
    let compound = generate::compound(
        &StreetSpec {
            min_households: 20,
            max_households: 20,
            ..StreetSpec::demo(1)
        },
        0,
    );
    let node_token = hub.enroll(&compound.code);
    let dir = tempfile::tempdir().unwrap();
    let data = node_with_ledger(dir.path(), &compound, &hub.url(), &node_token, false);
    // The gzip client of another compound, before and after it.
    let credential = credential(&hub.enroll("HM900"));
    let first = exchange_request("py-900", entries("HM900", 1..=2));
    let reply = exchange(&hub, Some(&credential), Encoding::Gzip, "gzip", &first).await;
    assert_eq!(response(&reply).bulk_cursor, 2);

    let report = sync_once(&data, &SyncOptions::default(), |_| {})
        .await
        .unwrap();
    assert_eq!(report.cursor, report.head);
    assert_eq!(report.applied, report.head);
    assert_eq!(hub.store().cursor(&compound.code).unwrap(), report.head);
    assert_eq!(
        hub.store()
            .record_count(&compound.code, Kind::Household)
            .unwrap(),
        20
    );

    let second = exchange_request("py-900", entries("HM900", 3..=3));
    let reply = exchange(&hub, Some(&credential), Encoding::Gzip, "gzip", &second).await;
    assert_eq!(reply.encoding, Encoding::Gzip);
    assert_eq!(response(&reply).bulk_cursor, 3);
    hub.stop().await;
}
