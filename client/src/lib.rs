//! A member's side of the sync protocol: what a compound's node keeps and
//! runs, and what a street (or district) hub keeps and runs towards the
//! level above, since a hub is itself a member one level up.
//!
//! # Layout
//! - [`store`]: SQLite records and the append-only outbox, written together;
//!   the down log's inbox, the kept digests, the member's own daily report.
//! - [`sync`]: the sync client: the driver of the session machine
//!   (`lianfang_proto::session`) over the `Transport` (gRPC) and `Clock` seams.
//! - [`worker`]: the sync worker (`OutboxWorker`): syncs on local writes and
//!   on an interval, with backoff, until shut down.
//!
//! `lianfang-node` re-exports all of it; `lianfang-hub` uses it for its
//! upward link (`upstream`, `sync-up`).
pub mod store;
pub mod sync;
pub mod worker;

use std::path::Path;

use rand::Rng as _;

use crate::store::{Identity, Store, StoreError};

/// Errors of `init`.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("invalid token: {0} (copy the last line printed by `lianfang-hub enroll`)")]
    Token(#[from] lianfang_proto::token::TokenError),
    #[error("the token was issued for compound {token}, not {given}")]
    CompoundMismatch { token: String, given: String },
    #[error(
        "hub address must look like https://HOST:PORT (or http:// for a hub on this machine), got {0:?}"
    )]
    Hub(String),
    #[error(
        "plaintext http:// is only allowed to a hub on this machine; the link to {host} must be \
         encrypted: use --hub {suggestion} (the token carries the hub's certificate)"
    )]
    Plaintext { host: String, suggestion: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Sets up a new node in `dir` for `compound`, syncing to `hub` with `token`.
///
/// # Errors
/// [`InitError`] for a bad token or address, or a directory already in use.
pub fn init(dir: &Path, compound: &str, hub: &str, token: &str) -> Result<Identity, InitError> {
    let decoded = lianfang_proto::token::decode(token)?;
    let compound = compound.trim();
    if decoded.compound != compound {
        return Err(InitError::CompoundMismatch {
            token: decoded.compound,
            given: compound.to_owned(),
        });
    }
    let hub = hub.trim().trim_end_matches('/');
    check_hub_address(hub)?;
    let mut rng = rand::rng();
    let identity = Identity {
        compound: compound.to_owned(),
        node_id: format!("{compound}/{:08x}", rng.random::<u32>()),
        log_id: format!("{:032x}", rng.random::<u128>()),
        hub: hub.to_owned(),
        token: token.trim().to_owned(),
        hub_key: lianfang_proto::sign::hex_encode(&decoded.hub_key),
        hub_ca: lianfang_proto::sign::hex_encode(&decoded.hub_ca),
    };
    Store::create(dir, &identity)?;
    Ok(identity)
}

/// Whether `host` (from a URL) names this machine.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Checks a hub address: `https://` anywhere, `http://` only to this machine.
///
/// # Errors
/// [`InitError::Hub`] for a malformed address, [`InitError::Plaintext`] for
/// plaintext to another machine.
pub fn check_hub_address(hub: &str) -> Result<(), InitError> {
    let uri: tonic::transport::Uri = hub.parse().map_err(|_| InitError::Hub(hub.to_owned()))?;
    let host = uri.host().ok_or_else(|| InitError::Hub(hub.to_owned()))?;
    match uri.scheme_str() {
        Some("https") => Ok(()),
        Some("http") if is_loopback_host(host) => Ok(()),
        Some("http") => Err(InitError::Plaintext {
            host: host.to_owned(),
            suggestion: hub.replacen("http://", "https://", 1),
        }),
        _ => Err(InitError::Hub(hub.to_owned())),
    }
}

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

/// The node's wall clock: the one place it reads the time.
///
/// `LIANFANG_CLOCK_OFFSET_SECS` (signed seconds) shifts it, to reproduce an
/// office PC whose clock is wrong; record order does not depend on it (the
/// HLC never goes backwards), which the tests check. A malformed value is
/// refused by [`check_clock`], which the binary runs first.
#[allow(clippy::disallowed_methods)] // The seam itself.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    let offset = clock_offset().as_ref().copied().unwrap_or(0);
    chrono::Utc::now() + chrono::Duration::seconds(offset)
}

/// Wall-clock milliseconds since the Unix epoch (see [`now`]).
pub fn now_ms() -> u64 {
    u64::try_from(now().timestamp_millis()).unwrap_or(0)
}

/// Today's date in the street's time zone (China Standard Time, UTC+8).
pub fn today() -> chrono::NaiveDate {
    today_at(now())
}

/// The street's date (UTC+8) at `now`.
pub fn today_at(now: chrono::DateTime<chrono::Utc>) -> chrono::NaiveDate {
    (now + chrono::Duration::hours(8)).date_naive()
}

/// Errors of `export-bundle`.
#[derive(Debug, thiserror::Error)]
pub enum BundleExportError {
    #[error("nothing to export: the hub has acknowledged every change (as of the last contact)")]
    NothingPending,
    #[error("cannot write {path}: {source}")]
    Write {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("the stored token is unreadable: {0}")]
    Token(#[from] lianfang_proto::token::TokenError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What an exported bundle holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BundleSummary {
    /// Entries per lane: (urgent, bulk).
    pub urgent: u64,
    pub bulk: u64,
    pub bytes: u64,
}

/// Writes every change the hub has not acknowledged (as of the last contact)
/// to `path`, sealed for the hub: the link of last resort.
///
/// # Errors
/// [`BundleExportError::NothingPending`] when there is nothing to carry.
pub fn export_bundle(store: &Store, path: &Path) -> Result<BundleSummary, BundleExportError> {
    let identity = store.identity()?;
    let mut lanes = Vec::new();
    let mut counts = [0u64; 2];
    for lane in lianfang_proto::LANES {
        let (acked, head) = (store.acked_of(lane)?, store.head_of(lane)?);
        if head > acked {
            counts[lane as usize] = head - acked;
            lanes.push(lianfang_proto::pb::BundleLane {
                lane: lane as i32,
                head,
                entries: store.log_range_of(lane, acked + 1, head)?,
            });
        }
    }
    if lanes.is_empty() {
        return Err(BundleExportError::NothingPending);
    }
    let bundle = lianfang_proto::pb::Bundle {
        compound: identity.compound,
        log_id: identity.log_id,
        created_at: now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        lanes,
    };
    let secret = lianfang_proto::token::decode(&identity.token)?.secret;
    let bytes = lianfang_proto::bundle::seal(&bundle, &lianfang_proto::bundle::seal_key(&secret));
    // Write beside the target and rename, so a pulled USB stick never holds
    // half a bundle under the final name.
    let write = || -> std::io::Result<()> {
        let tmp = path.with_extension("partial");
        std::fs::write(&tmp, &bytes)?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|source| BundleExportError::Write {
        path: path.to_owned(),
        source,
    })?;
    // The hub may hold these entries before the node hears of it: its next
    // sync asks for the cursors before sending them again.
    for lane in &bundle.lanes {
        let lane_id =
            lianfang_proto::Lane::try_from(lane.lane).expect("lanes built from LANES above");
        store.set_exported(lane_id, lane.head)?;
    }
    Ok(BundleSummary {
        urgent: counts[lianfang_proto::Lane::Urgent as usize],
        bulk: counts[lianfang_proto::Lane::Bulk as usize],
        bytes: bytes.len() as u64,
    })
}
