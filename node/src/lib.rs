//! The compound node: the compound's own records in SQLite, ledger import,
//! and the sync client that pushes its change log to the hub.
//!
//! # Layout
//! - [`store`]: SQLite records and the append-only outbox, written together.
//! - [`ledger`]: reads compound ledgers (CSV or xlsx) into typed rows.
//! - [`import`]: applies a ledger to the store, all or nothing.
//! - [`sync`]: the gRPC sync client (handshake, push, pull, retry).
//! - [`directives`]: what the hub sent (notices, tasks, problems) and the answers.
//! - [`generate`]: deterministic generator of realistic compound ledgers.
//!
//! The binary `lianfang-node` (`src/main.rs`) only parses flags and calls
//! into these modules; tests call the same functions.
pub mod directives;
pub mod generate;
pub mod import;
pub mod ledger;
pub mod store;
pub mod sync;

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
    #[error("hub address must look like http://HOST:PORT, got {0:?}")]
    Hub(String),
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
    let valid_hub = (hub.starts_with("http://") || hub.starts_with("https://"))
        && hub.parse::<tonic::transport::Uri>().is_ok();
    if !valid_hub {
        return Err(InitError::Hub(hub.to_owned()));
    }
    let mut rng = rand::rng();
    let identity = Identity {
        compound: compound.to_owned(),
        node_id: format!("{compound}/{:08x}", rng.random::<u32>()),
        log_id: format!("{:032x}", rng.random::<u128>()),
        hub: hub.to_owned(),
        token: token.trim().to_owned(),
        hub_key: lianfang_proto::sign::hex_encode(&decoded.hub_key),
    };
    Store::create(dir, &identity)?;
    Ok(identity)
}

/// Wall-clock milliseconds since the Unix epoch: the node's one clock seam.
pub fn now_ms() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0)
}

/// Today's date in the street's time zone (China Standard Time, UTC+8).
pub fn today() -> chrono::NaiveDate {
    (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive()
}
