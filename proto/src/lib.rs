//! Wire types and the rules node and hub share.
//!
//! # Layout
//! - [`pb`]: types generated from `proto/lianfang.proto`.
//! - [`columns`]: the ledgers' column headers (import and export).
//! - [`bundle`]: sealed bundle files (pending changes carried on a USB stick).
//! - [`digest`]: order-independent digests of a compound's records, by bucket.
//! - [`hlc`]: hybrid logical clock stamps.
//! - [`mask`]: masking of ID numbers and phones in outputs.
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
pub mod columns;
pub mod digest;
pub mod hlc;
pub mod mask;
pub mod merge;
pub mod record;
pub mod session;
pub mod sign;
pub mod sync;
pub mod table;
pub mod token;
pub mod validate;

/// Record kinds as stored in SQLite (`kind` columns) and named in messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Household = 1,
    Person = 2,
    Isolation = 3,
    Receipt = 4,
    TaskAnswer = 5,
    ProblemFix = 6,
    DailyReport = 7,
}

/// The lane of a node's log a kind travels in.
pub use pb::Lane;

/// Both lanes, urgent first: the order a sender drains them in.
pub const LANES: [Lane; 2] = [Lane::Urgent, Lane::Bulk];

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::Household,
        Kind::Person,
        Kind::Isolation,
        Kind::Receipt,
        Kind::TaskAnswer,
        Kind::ProblemFix,
        Kind::DailyReport,
    ];

    /// Receipts, answers, fixes and daily reports go in the urgent lane;
    /// ledger records in the bulk lane. Every version of a record travels in
    /// one lane, so its versions stay in order.
    pub fn lane(self) -> Lane {
        match self {
            Kind::Household | Kind::Person | Kind::Isolation => Lane::Bulk,
            Kind::Receipt | Kind::TaskAnswer | Kind::ProblemFix | Kind::DailyReport => Lane::Urgent,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Household => "household",
            Kind::Person => "person",
            Kind::Isolation => "isolation",
            Kind::Receipt => "receipt",
            Kind::TaskAnswer => "task_answer",
            Kind::ProblemFix => "problem_fix",
            Kind::DailyReport => "daily_report",
        }
    }

    pub fn from_i64(n: i64) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| *k as i64 == n)
    }

    /// Parses a kind as typed on the command line.
    pub fn parse(s: &str) -> Option<Kind> {
        match s.trim().to_ascii_lowercase().as_str() {
            "household" | "households" | "户" => Some(Kind::Household),
            "person" | "persons" | "人员" => Some(Kind::Person),
            "isolation" | "isolations" | "隔离" => Some(Kind::Isolation),
            _ => None,
        }
    }

    /// The kind of a record body (a tombstone carries an empty body of its kind).
    pub fn of(body: &pb::record::Body) -> Kind {
        match body {
            pb::record::Body::Household(_) => Kind::Household,
            pb::record::Body::Person(_) => Kind::Person,
            pb::record::Body::Isolation(_) => Kind::Isolation,
            pb::record::Body::Receipt(_) => Kind::Receipt,
            pb::record::Body::TaskAnswer(_) => Kind::TaskAnswer,
            pb::record::Body::ProblemFix(_) => Kind::ProblemFix,
            pb::record::Body::DailyReport(_) => Kind::DailyReport,
        }
    }
}

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
