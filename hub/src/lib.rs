//! The street hub: receives each compound's change log over gRPC, merges
//! every compound's records, and computes the daily table.
//!
//! # Layout
//! - [`store`]: SQLite: enrolments and cursors, merged records, the table query.
//! - [`aggregates`]: per-compound counts kept by triggers, read by the table.
//! - `kinds`: where each kind's versions are stored: a projection table (one
//!   module per kind that has one) or the generic record table.
//! - [`directives`]: the down log: notices, tasks, problems, configuration, signed.
//! - [`export`]: exports of merged records, ID numbers and phones masked unless asked.
//! - [`grpc`]: the `Sync` service; the only module that knows `tonic::Status`.
//! - [`server`]: runs the gRPC server on a listener until shutdown.
//! - [`admit`]: how many calls the hub decodes and serves at once, across nodes.
//! - [`tls`]: the hub's own CA and server certificate, created on first use.
//! - [`report`]: renders the table as JSON, CSV or text, live with its
//!   revisions since the cut-off, or as the cut-off's snapshot.
//! - [`meeting`]: the meeting's cut-off and the street's name (hub-local
//!   settings), and the worker that takes each day's snapshot at the cut-off.
//! - [`dashboard`]: the street office's web pages (`serve --web`): login
//!   and sessions, the table, log, notices, tasks, problems, inspections and
//!   trends, the street's xlsx form; every handler calls [`app::HubApp`].
//! - [`app`]: the application layer: every operation of the CLI (and the
//!   coming dashboard) over one shared store handle, with the audited
//!   privacy step and the parsing of verification lists.
//!
//! The binary `lianfang-hub` (`src/main.rs`) only parses flags, calls
//! [`app::HubApp`] (or [`server::run`]) and prints; tests call the same
//! functions.
pub mod admit;
pub mod aggregates;
pub mod app;
pub mod dashboard;
pub mod db;
pub mod directives;
pub mod export;
pub mod grpc;
mod kinds;
pub mod meeting;
pub mod out;
pub mod report;
pub mod server;
pub mod store;
pub mod tls;
pub mod upstream;

/// The clock offset (`LIANFANG_CLOCK_OFFSET_SECS`, signed seconds), read
/// once per process.
fn clock_offset() -> &'static Result<i64, lianfang_proto::clock::OffsetError> {
    static OFFSET: std::sync::OnceLock<Result<i64, lianfang_proto::clock::OffsetError>> =
        std::sync::OnceLock::new();
    OFFSET.get_or_init(|| {
        lianfang_proto::clock::offset_from(
            std::env::var_os(lianfang_proto::clock::OFFSET_VAR).as_deref(),
        )
    })
}

/// Checks `LIANFANG_CLOCK_OFFSET_SECS`: the binary calls this before any
/// command, so a malformed value stops it instead of being ignored.
///
/// # Errors
/// [`lianfang_proto::clock::OffsetError`] for a value that is not whole
/// seconds in range.
pub fn check_clock() -> Result<(), lianfang_proto::clock::OffsetError> {
    clock_offset().as_ref().map(|_| ()).map_err(Clone::clone)
}

/// The hub's wall clock: the one place it reads the time.
///
/// `LIANFANG_CLOCK_OFFSET_SECS` (signed seconds) shifts it, as it does the
/// node's: to run the hub as if at another time (tests put it just before
/// a cut-off). A malformed value is refused by [`check_clock`], which the
/// binary runs first; a library caller that skipped it gets the real clock.
#[allow(clippy::disallowed_methods)] // The seam itself.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    let offset = clock_offset().as_ref().copied().unwrap_or(0);
    chrono::Utc::now() + chrono::Duration::seconds(offset)
}

/// Now as RFC 3339 to the second, as stored and shown.
pub fn now_rfc3339() -> String {
    now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Today's date in the street's time zone (China Standard Time, UTC+8).
pub fn today() -> chrono::NaiveDate {
    meeting::date_at(now())
}
