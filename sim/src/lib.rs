//! The world the product lives in, for the demo, the tests and the
//! benchmark: none of it is linked into `lianfang-node` or `lianfang-hub`.
//!
//! # Layout
//! - [`generate`]: deterministic generator of realistic compound ledgers.
//! - [`link`]: `FaultLink`, a fault-injecting TCP link on loopback.
//! - [`demo`]: the main job: a generated street synced over poor links.
pub mod demo;
pub mod generate;
pub mod link;
