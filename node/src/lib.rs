//! The compound node: the compound's own records in SQLite, ledger import,
//! and the sync client that pushes its change log to the hub.
//!
//! # Layout
//! - [`store`], [`sync`], [`worker`]: re-exported from `lianfang-client`, the
//!   member's side of the protocol that a hub's upward link shares: SQLite
//!   records and the append-only outbox, the sync client, the sync worker.
//! - [`ledger`]: reads compound ledgers (CSV or xlsx) into typed rows.
//! - [`import`]: applies a ledger to the store, all or nothing.
//! - `kinds`: one module per kind with a ledger: its cells to its body, and
//!   the records it refers to.
//! - [`directives`]: what the hub sent (notices, tasks, problems) and the answers.
//! - [`app`]: the application layer: every operation of the CLI (and the
//!   coming page) over one shared store handle, with the audited privacy step.
//! - [`page`]: the compound office's page (`lianfang-node serve`): HTML over
//!   [`app::NodeApp`], with the sync worker beside it.
//!
//! The binary `lianfang-node` (`src/main.rs`) only parses flags, calls
//! [`app::NodeApp`] (or runs the worker) and prints; tests call the same
//! functions.
pub mod app;
pub mod directives;
pub mod import;
mod kinds;
pub mod ledger;
pub mod out;
pub mod page;

pub use lianfang_client::{
    BundleExportError, BundleSummary, InitError, check_clock, check_hub_address, export_bundle,
    init, is_loopback_host, now, now_ms, store, sync, today, today_at, worker,
};
