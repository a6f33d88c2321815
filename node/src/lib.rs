//! The compound node: the compound's own records in SQLite, ledger import,
//! and the sync client that pushes its change log to the hub.
//!
//! # Layout
//! - [`ledger`]: reads compound ledgers (CSV or xlsx) into typed rows.
//! - [`gen`]: deterministic generator of realistic compound ledgers.
pub mod gen;
pub mod ledger;
