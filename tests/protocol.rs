//! The sync protocol at the wire: a raw gRPC client against the real hub.

use lianfang_proto::Kind;
use lianfang_proto::pb;
use lianfang_proto::pb::sync_client::SyncClient;
use lianfang_tests::TestHub;
use tonic::Code;
use tonic::transport::Channel;

struct Raw {
    client: SyncClient<Channel>,
    token: String,
}

impl Raw {
    async fn connect(hub: &TestHub, token: &str) -> Raw {
        Raw {
            client: SyncClient::connect(hub.url()).await.unwrap(),
            token: token.to_owned(),
        }
    }

    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {}", self.token).parse().unwrap(),
        );
        request
    }

    async fn handshake(&mut self, log_id: &str, head: u64) -> Result<u64, tonic::Status> {
        let request = self.request(pb::HandshakeRequest {
            log_id: log_id.into(),
            head,
            version: "test".into(),
            down_cursor: 0,
            urgent_head: 0,
        });
        Ok(self.client.handshake(request).await?.into_inner().cursor)
    }

    async fn push(&mut self, entries: Vec<pb::LogEntry>) -> Result<(u64, u64), tonic::Status> {
        let request = self.request(pb::PushRequest {
            log_id: "L1".into(),
            head: entries.last().map_or(0, |e| e.seq),
            entries,
            lane: 0,
        });
        let reply = self.client.push(request).await?.into_inner();
        Ok((reply.cursor, reply.applied))
    }
}

pub(crate) fn household(
    compound: &str,
    id: &str,
    stamp: u64,
    origin: &str,
    housing: pb::Housing,
) -> pb::Record {
    pb::Record {
        compound: compound.into(),
        id: id.into(),
        stamp,
        origin: origin.into(),
        deleted: false,
        body: Some(pb::record::Body::Household(pb::Household {
            building: "1".into(),
            unit: "1".into(),
            room: "101".into(),
            housing: housing as i32,
        })),
    }
}

pub(crate) fn entries(compound: &str, seqs: impl IntoIterator<Item = u64>) -> Vec<pb::LogEntry> {
    seqs.into_iter()
        .map(|seq| pb::LogEntry {
            seq,
            record: Some(household(
                compound,
                &format!("H{seq}"),
                seq << 16,
                "n1",
                pb::Housing::Owner,
            )),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_overlapping_and_gapped_batches() {
    let hub = TestHub::start().await;
    let token = hub.enroll("HM001");
    let mut raw = Raw::connect(&hub, &token).await;
    assert_eq!(raw.handshake("L1", 12).await.unwrap(), 0);

    assert_eq!(raw.push(entries("HM001", 1..=5)).await.unwrap(), (5, 5));
    // A replay is acknowledged and changes nothing.
    assert_eq!(raw.push(entries("HM001", 1..=5)).await.unwrap(), (5, 0));
    assert_eq!(raw.push(entries("HM001", 2..=3)).await.unwrap(), (5, 0));
    // An overlapping resend applies only its new tail.
    assert_eq!(raw.push(entries("HM001", 3..=8)).await.unwrap(), (8, 3));
    // A gap is refused and names where to resume.
    let gap = raw.push(entries("HM001", 10..=12)).await.unwrap_err();
    assert_eq!(gap.code(), Code::OutOfRange);
    assert!(gap.message().contains("expects 9"), "{}", gap.message());
    // A batch with a hole inside is malformed.
    let holed = raw.push(entries("HM001", [9, 11])).await.unwrap_err();
    assert_eq!(holed.code(), Code::InvalidArgument);
    assert!(
        hub.store()
            .record("HM001", Kind::Household, "H9")
            .unwrap()
            .is_none()
    );
    assert_eq!(hub.store().cursor("HM001").unwrap(), 8);
    // The handshake resumes from the hub's cursor.
    assert_eq!(raw.handshake("L1", 12).await.unwrap(), 8);
    assert_eq!(raw.push(entries("HM001", 9..=12)).await.unwrap(), (12, 4));
    assert_eq!(
        hub.store().record_count("HM001", Kind::Household).unwrap(),
        12
    );
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_token_and_foreign_records_are_refused() {
    let hub = TestHub::start().await;
    let token = hub.enroll("HM001");
    let other = hub.enroll("HM002");

    // A made-up token, a garbled one, and none at all.
    let forged = lianfang_proto::token::encode(&pb::EnrollmentToken {
        compound: "HM001".into(),
        secret: vec![1; 32],
        hub_key: vec![1; 32],
        ..Default::default()
    });
    for bad in [forged.as_str(), "lf1.garbage", ""] {
        let mut raw = Raw::connect(&hub, bad).await;
        let status = raw.handshake("L1", 1).await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{bad}: {status:?}");
        let status = raw.push(entries("HM001", 1..=1)).await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated);
    }

    // HM001 pushes a batch with one record of HM002: all of it is refused.
    let mut raw = Raw::connect(&hub, &token).await;
    raw.handshake("L1", 3).await.unwrap();
    let mut batch = entries("HM001", 1..=3);
    batch[1].record = Some(household("HM002", "X1", 9 << 16, "n1", pb::Housing::Vacant));
    let status = raw.push(batch).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(status.message().contains("HM002"), "{}", status.message());
    let store = hub.store();
    assert_eq!(store.cursor("HM001").unwrap(), 0);
    assert_eq!(store.record_count("HM001", Kind::Household).unwrap(), 0);
    assert!(
        store
            .record("HM002", Kind::Household, "X1")
            .unwrap()
            .is_none()
    );
    // The refusal is in the audit log, though nothing of the batch is.
    let refusals: Vec<_> = store
        .audit_log()
        .unwrap()
        .into_iter()
        .filter(|e| e.event == "foreign_record")
        .collect();
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    assert_eq!(refusals[0].compound.as_deref(), Some("HM001"));
    assert!(refusals[0].detail.contains("HM002"), "{refusals:?}");

    // Re-enrolment revokes the old token at once.
    let renewed = hub.enroll("HM002");
    let mut stale = Raw::connect(&hub, &other).await;
    assert_eq!(
        stale.handshake("L2", 0).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    let mut fresh = Raw::connect(&hub, &renewed).await;
    assert_eq!(fresh.handshake("L2", 0).await.unwrap(), 0);

    // A token is bound to the log it first synced: another database is refused.
    let mut raw = Raw::connect(&hub, &token).await;
    let status = raw.handshake("another-log", 0).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_writer_wins_whatever_the_arrival_order() {
    let hub = TestHub::start().await;
    let token = hub.enroll("HM001");
    let mut raw = Raw::connect(&hub, &token).await;
    raw.handshake("L1", 4).await.unwrap();
    // Versions of one household arriving out of stamp order, then a
    // tombstone, then an older write that must not resurrect it.
    let versions = [
        household("HM001", "H1", 20 << 16, "n1", pb::Housing::Rented),
        household("HM001", "H1", 10 << 16, "n1", pb::Housing::Owner),
        pb::Record {
            deleted: true,
            ..household("HM001", "H1", 30 << 16, "n1", pb::Housing::Unspecified)
        },
        household("HM001", "H1", 25 << 16, "n1", pb::Housing::Vacant),
    ];
    let batch = versions
        .iter()
        .enumerate()
        .map(|(i, record)| pb::LogEntry {
            seq: i as u64 + 1,
            record: Some(record.clone()),
        })
        .collect();
    raw.push(batch).await.unwrap();
    let stored = hub
        .store()
        .record("HM001", Kind::Household, "H1")
        .unwrap()
        .unwrap();
    assert_eq!((stored.stamp, stored.deleted), (30 << 16, true));
    hub.stop().await;
}
