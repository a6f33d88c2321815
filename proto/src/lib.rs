//! Wire types and the rules node and hub share.
//!
//! # Layout
//! - [`pb`]: types generated from `proto/lianfang.proto`.
//! - [`validate`]: value rules for ledger fields (IDs, phones, dates, nationality).
pub mod pb {
    #![allow(missing_debug_implementations, clippy::all)]
    tonic::include_proto!("lianfang.v1");
}
pub mod validate;
