//! Wire types and the rules node and hub share.
//!
//! # Layout
//! - [`pb`]: types generated from `proto/lianfang.proto`.
//! - [`columns`]: the ledgers' column headers (import and export).
//! - [`bundle`]: sealed bundle files (pending changes carried on a USB stick).
//! - [`clock`]: the clock offset (`LIANFANG_CLOCK_OFFSET_SECS`) both sides accept.
//! - [`digest`]: order-independent digests of a compound's records, by bucket.
//! - [`hlc`]: hybrid logical clock stamps.
//! - [`kinds`]: the record kinds: the registry, one module per kind (its
//!   rules, ledger columns and sample), and everything written once over it.
//! - [`mask`]: masking of ID numbers, phones and names in outputs.
//! - [`merge`]: which version of a record wins (LWW by `(stamp, origin)`).
//! - [`record`]: record bodies: empty (tombstone), encode, decode.
//! - [`session`]: a sync session as a sans-IO state machine (node side), and
//!   the hub's decisions for one exchange.
//! - [`sign`]: ed25519 signatures on the hub's down log.
//! - [`sync`]: the protocol's decisions, free of I/O (accept, send, back off).
//! - [`table`]: the daily population table as a pure function.
//! - [`token`]: enrolment token format.
//! - [`validate`]: value rules for ledger fields (IDs, phones, dates, nationality).
pub mod pb {
    #![allow(missing_debug_implementations, clippy::all, unreachable_pub)]
    tonic::include_proto!("lianfang.v1");
}
pub mod bundle;
pub mod clock;
pub mod columns;
pub mod digest;
pub mod hlc;
pub mod kinds;
pub mod log;
pub mod mask;
pub mod merge;
pub mod record;
pub mod session;
pub mod sign;
pub mod sync;
pub mod table;
pub mod token;
pub mod validate;

pub use kinds::Kind;

/// The lane of a node's log a kind travels in.
pub use pb::Lane;

/// Both lanes, urgent first: the order a sender drains them in.
pub const LANES: [Lane; 2] = [Lane::Urgent, Lane::Bulk];

/// The name of a verification answer, as shown and typed.
pub fn answer_result_name(result: pb::AnswerResult) -> &'static str {
    match result {
        pb::AnswerResult::Registered => "registered",
        pb::AnswerResult::Unregistered => "unregistered",
        pb::AnswerResult::NotLivingHere => "not_living_here",
        pb::AnswerResult::Other => "other",
        pb::AnswerResult::Unspecified => "unspecified",
    }
}
