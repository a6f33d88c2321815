//! The ledgers' column headers, shared by the node's import (and the
//! generator that writes ledgers) and the hub's exports, so the two
//! cannot drift apart. Each kind's columns live in its module
//! (`kinds::<kind>::COLUMNS`); these are derived from them.

use crate::kinds::{self, Kind};

/// The Chinese headers of a kind's ledger, in the order compounds keep
/// them (the generator writes them, exports use them; English aliases are
/// accepted on reading). Empty for a kind without a ledger.
pub fn headers(kind: Kind) -> Vec<&'static str> {
    kind.ledger()
        .map(kinds::Ledger::headers)
        .unwrap_or_default()
}

/// The household ledger's headers.
pub const HOUSEHOLD_HEADERS: [&str; 5] = kinds::headers(kinds::household::COLUMNS);
/// The person ledger's headers.
pub const PERSON_HEADERS: [&str; 9] = kinds::headers(kinds::person::COLUMNS);
/// The isolation ledger's headers.
pub const ISOLATION_HEADERS: [&str; 5] = kinds::headers(kinds::isolation::COLUMNS);
