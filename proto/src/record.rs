//! Record bodies: the message inside each kind, as stored and sent.

use prost::Message as _;

use crate::{Kind, pb};

/// The empty body of a kind, carried by tombstones.
pub fn empty_body(kind: Kind) -> pb::record::Body {
    use pb::record::Body;
    match kind {
        Kind::Household => Body::Household(Default::default()),
        Kind::Person => Body::Person(Default::default()),
        Kind::Isolation => Body::Isolation(Default::default()),
        Kind::Receipt => Body::Receipt(Default::default()),
        Kind::TaskAnswer => Body::TaskAnswer(Default::default()),
        Kind::ProblemFix => Body::ProblemFix(Default::default()),
        Kind::DailyReport => Body::DailyReport(Default::default()),
    }
}

/// The encoded message inside a record body.
pub fn encode_body(body: &pb::record::Body) -> Vec<u8> {
    use pb::record::Body;
    match body {
        Body::Household(m) => m.encode_to_vec(),
        Body::Person(m) => m.encode_to_vec(),
        Body::Isolation(m) => m.encode_to_vec(),
        Body::Receipt(m) => m.encode_to_vec(),
        Body::TaskAnswer(m) => m.encode_to_vec(),
        Body::ProblemFix(m) => m.encode_to_vec(),
        Body::DailyReport(m) => m.encode_to_vec(),
    }
}

/// Decodes the message of a record of `kind`.
///
/// # Errors
/// The protobuf decode error.
pub fn decode_body(kind: Kind, bytes: &[u8]) -> Result<pb::record::Body, prost::DecodeError> {
    use pb::record::Body;
    Ok(match kind {
        Kind::Household => Body::Household(pb::Household::decode(bytes)?),
        Kind::Person => Body::Person(pb::Person::decode(bytes)?),
        Kind::Isolation => Body::Isolation(pb::Isolation::decode(bytes)?),
        Kind::Receipt => Body::Receipt(pb::Receipt::decode(bytes)?),
        Kind::TaskAnswer => Body::TaskAnswer(pb::TaskAnswer::decode(bytes)?),
        Kind::ProblemFix => Body::ProblemFix(pb::ProblemFix::decode(bytes)?),
        Kind::DailyReport => Body::DailyReport(pb::DailyReport::decode(bytes)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips() {
        for kind in Kind::ALL {
            let body = empty_body(kind);
            assert_eq!(Kind::of(&body), kind);
            assert_eq!(decode_body(kind, &encode_body(&body)).unwrap(), body);
        }
    }
}
