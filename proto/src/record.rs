//! Record bodies: the message inside each kind, as stored and sent.

/// The encoded message inside a record body; the kinds' own codecs are
/// [`crate::Kind::empty_body`] and [`crate::Kind::decode_body`].
pub use crate::kinds::encode_body;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Kind, pb};
    use prost::Message as _;

    #[test]
    fn every_kind_round_trips() {
        for kind in Kind::ALL {
            let body = kind.empty_body();
            assert_eq!(Kind::of(&body), kind);
            assert_eq!(kind.decode_body(&encode_body(&body)).unwrap(), body);
        }
    }

    /// What a node sends as `EncodedExchangeRequest` the hub reads as the
    /// same `ExchangeRequest`, byte for byte.
    #[test]
    fn an_encoded_exchange_is_an_exchange_on_the_wire() {
        let record = |id: &str, deleted| pb::Record {
            compound: "HM001".into(),
            id: id.into(),
            stamp: 7 << 16,
            origin: "HM001/ab".into(),
            deleted,
            body: Some(pb::record::Body::Person(pb::Person {
                name: "张三".into(),
                return_date: "2020-02-10".into(),
                registered: true,
                ..Default::default()
            })),
        };
        let lane = |head, ids: &[&str]| pb::LaneEntries {
            head,
            entries: ids
                .iter()
                .enumerate()
                .map(|(i, id)| pb::LogEntry {
                    seq: head - ids.len() as u64 + 1 + i as u64,
                    record: Some(record(id, i == 1)),
                })
                .collect(),
        };
        let typed = pb::ExchangeRequest {
            log_id: "log".into(),
            version: "0.1.0".into(),
            urgent: Some(lane(3, &[])),
            bulk: Some(lane(12, &["P1", "P2", "P3"])),
            down_cursor: 4,
            down_max: 256,
            digest_root: vec![9; 32],
        };
        let encoded_lane = |l: &pb::LaneEntries| pb::EncodedLaneEntries {
            head: l.head,
            entries: l
                .entries
                .iter()
                .map(|e| pb::EncodedLogEntry {
                    seq: e.seq,
                    record: e.record.as_ref().unwrap().encode_to_vec(),
                })
                .collect(),
        };
        let encoded = pb::EncodedExchangeRequest {
            log_id: typed.log_id.clone(),
            version: typed.version.clone(),
            urgent: typed.urgent.as_ref().map(encoded_lane),
            bulk: typed.bulk.as_ref().map(encoded_lane),
            down_cursor: typed.down_cursor,
            down_max: typed.down_max,
            digest_root: typed.digest_root.clone(),
        };
        assert_eq!(encoded.encode_to_vec(), typed.encode_to_vec());
        assert_eq!(
            pb::ExchangeRequest::decode(encoded.encode_to_vec().as_slice()).unwrap(),
            typed
        );
    }
}
