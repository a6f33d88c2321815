//! What the node knows of each kind with a ledger, one module per kind: how
//! a ledger row's cells become the record's body, and which other records
//! it refers to. Everything else about a kind (its columns, its rule, its
//! lane) is in `lianfang_proto::kinds`; reading files, telling a file's
//! kind, checking rules and references and writing are generic
//! (`crate::ledger`, `crate::import`).

mod disinfection;
mod gate_count;
mod health_check;
mod hotline_ticket;
mod household;
mod isolation;
mod mask_reservation;
mod person;
mod service;
mod survey;
mod vehicle_check;

use chrono::NaiveDate;
use lianfang_proto::kinds::KindBody;
use lianfang_proto::pb::record::Body;
use lianfang_proto::{Kind, pb};

use crate::ledger::{Cells, LedgerError};

/// A record a ledger row refers to, which must exist in the ledger or the
/// store when the id is given (a person's household).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reference<'a> {
    /// The referring column's English name (`household_id`).
    pub(crate) column: &'static str,
    /// The kind referred to.
    pub(crate) kind: Kind,
    /// The id referred to; empty for an optional reference left empty.
    pub(crate) id: &'a str,
}

/// A kind the node imports from a ledger, implemented by its message.
pub(crate) trait LedgerKind: KindBody {
    /// The body from a row's cells (its id is read and claimed already),
    /// each value checked and normalised; the first bad cell is the error.
    fn parse(cells: &Cells<'_>, today: NaiveDate) -> Result<Self, LedgerError>;

    /// The records this one refers to.
    fn references(&self) -> Vec<Reference<'_>> {
        Vec::new()
    }
}

/// A [`LedgerKind`]'s functions over record bodies.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LedgerOps {
    /// [`LedgerKind::parse`].
    pub(crate) parse: fn(&Cells<'_>, NaiveDate) -> Result<Body, LedgerError>,
    /// [`LedgerKind::references`].
    pub(crate) references: for<'a> fn(&'a Body) -> Vec<Reference<'a>>,
}

impl LedgerOps {
    fn of<M: LedgerKind>() -> Self {
        fn parse<M: LedgerKind>(cells: &Cells<'_>, today: NaiveDate) -> Result<Body, LedgerError> {
            M::parse(cells, today).map(M::into_body)
        }
        fn references<M: LedgerKind>(body: &Body) -> Vec<Reference<'_>> {
            M::from_body(body).map(M::references).unwrap_or_default()
        }
        LedgerOps {
            parse: parse::<M>,
            references: references::<M>,
        }
    }
}

/// The node's functions for a kind with a ledger; `None` for the others.
/// The one match on kinds in the node, exhaustive: a new kind says here
/// whether it is imported.
pub(crate) fn ledger_ops(kind: Kind) -> Option<LedgerOps> {
    match kind {
        Kind::Household => Some(LedgerOps::of::<pb::Household>()),
        Kind::Person => Some(LedgerOps::of::<pb::Person>()),
        Kind::Isolation => Some(LedgerOps::of::<pb::Isolation>()),
        Kind::HealthCheck => Some(LedgerOps::of::<pb::HealthCheck>()),
        Kind::Service => Some(LedgerOps::of::<pb::Service>()),
        Kind::MaskReservation => Some(LedgerOps::of::<pb::MaskReservation>()),
        Kind::VehicleCheck => Some(LedgerOps::of::<pb::VehicleCheck>()),
        Kind::Disinfection => Some(LedgerOps::of::<pb::Disinfection>()),
        Kind::HotlineTicket => Some(LedgerOps::of::<pb::HotlineTicket>()),
        Kind::GateCount => Some(LedgerOps::of::<pb::GateCount>()),
        Kind::Survey => Some(LedgerOps::of::<pb::Survey>()),
        Kind::Receipt
        | Kind::TaskAnswer
        | Kind::ProblemFix
        | Kind::DailyReport
        | Kind::MemberDay
        | Kind::DirectiveRollup => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_with_a_ledger_is_imported() {
        for kind in Kind::ALL {
            assert_eq!(
                ledger_ops(kind).is_some(),
                kind.ledger().is_some(),
                "{kind:?}"
            );
        }
    }

    #[test]
    fn references_name_a_column_of_the_kind_and_a_kind_with_a_ledger() {
        for kind in Kind::ALL {
            let Some(ops) = ledger_ops(kind) else {
                continue;
            };
            let (_, body) = kind.sample();
            for reference in (ops.references)(&body) {
                let ledger = kind.ledger().expect("ledger");
                assert!(
                    ledger.columns.iter().any(|c| c.en == reference.column),
                    "{kind:?}: {reference:?}"
                );
                assert!(reference.kind.ledger().is_some(), "{kind:?}: {reference:?}");
            }
        }
    }
}
