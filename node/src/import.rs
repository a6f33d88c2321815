//! Ledger import: parsed ledger rows become record changes, all or nothing.
//!
//! Rows are upserted by id: an unchanged row writes nothing, an edited row
//! writes a new version, and a row missing from the files is left alone
//! (deleting is an explicit act). A person whose household, or an isolation
//! whose person, exists neither in the files nor in the store is an error at
//! that row, and nothing of the import is applied.

use std::collections::HashSet;
use std::path::PathBuf;

use lianfang_proto::{Kind, pb, validate};

use crate::ledger::{self, Ledger, LedgerError};
use crate::store::{Change, Store, StoreError, WriteSummary};

/// Errors of an import; nothing was written when one is returned.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{0}")]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no ledger files given")]
    NoFiles,
}

/// Reads `paths` and applies them to `store` in one transaction.
///
/// # Errors
/// [`ImportError::Ledger`] naming file, row, column and reason for the first
/// bad row; store errors. Nothing is written on error.
pub fn import_files(
    store: &mut Store,
    paths: &[PathBuf],
    today: chrono::NaiveDate,
    wall_ms: u64,
) -> Result<WriteSummary, ImportError> {
    if paths.is_empty() {
        return Err(ImportError::NoFiles);
    }
    let ledger = ledger::read_files(paths, today)?;
    import_ledger(store, ledger, wall_ms)
}

/// Applies an already parsed ledger (see [`import_files`]).
///
/// # Errors
/// As [`import_files`].
pub fn import_ledger(
    store: &mut Store,
    ledger: Ledger,
    wall_ms: u64,
) -> Result<WriteSummary, ImportError> {
    check_rules(&ledger, crate::today())?;
    check_references(store, &ledger)?;
    let changes = ledger
        .households
        .into_iter()
        .map(|row| {
            change(
                Kind::Household,
                row.id,
                pb::record::Body::Household(row.body),
            )
        })
        .chain(
            ledger
                .persons
                .into_iter()
                .map(|row| change(Kind::Person, row.id, pb::record::Body::Person(row.body))),
        )
        .chain(ledger.isolations.into_iter().map(|row| {
            change(
                Kind::Isolation,
                row.id,
                pb::record::Body::Isolation(row.body),
            )
        }));
    Ok(store.write(changes, wall_ms)?)
}

fn change(kind: Kind, id: String, body: pb::record::Body) -> Change {
    Change {
        kind,
        id,
        body: Some(body),
    }
}

/// Checks every row against the record rules the hub applies
/// (`validate::check_record`), reporting the first failure at its row.
fn check_rules(ledger: &Ledger, today: chrono::NaiveDate) -> Result<(), ImportError> {
    fn check<T: Clone>(
        rows: &[crate::ledger::Row<T>],
        id_column: &str,
        wrap: fn(T) -> pb::record::Body,
        today: chrono::NaiveDate,
    ) -> Result<(), ImportError> {
        for row in rows {
            let record = pb::Record {
                compound: "CHECK".into(),
                id: row.id.clone(),
                stamp: 1,
                origin: "import".into(),
                deleted: false,
                body: Some(wrap(row.body.clone())),
            };
            if let Err(e) = validate::check_record(&record, today) {
                let field = e.field.rsplit('.').next().unwrap_or(&e.field);
                let column = if field == "id" { id_column } else { field };
                return Err(LedgerError::at(&row.at, column, e.reason).into());
            }
        }
        Ok(())
    }
    check(
        &ledger.households,
        "household_id",
        pb::record::Body::Household,
        today,
    )?;
    check(
        &ledger.persons,
        "person_id",
        pb::record::Body::Person,
        today,
    )?;
    check(
        &ledger.isolations,
        "isolation_id",
        pb::record::Body::Isolation,
        today,
    )?;
    Ok(())
}

fn check_references(store: &Store, ledger: &Ledger) -> Result<(), ImportError> {
    let mut households: HashSet<String> = store.live_ids(Kind::Household)?;
    households.extend(ledger.households.iter().map(|row| row.id.clone()));
    for row in &ledger.persons {
        if !households.contains(&row.body.household_id) {
            return Err(LedgerError::at(
                &row.at,
                "户编号 (household_id)",
                format!(
                    "household {} is not in the ledger nor in this node",
                    row.body.household_id
                ),
            )
            .into());
        }
    }
    let mut persons: HashSet<String> = store.live_ids(Kind::Person)?;
    persons.extend(ledger.persons.iter().map(|row| row.id.clone()));
    for row in &ledger.isolations {
        if !persons.contains(&row.body.person_id) {
            return Err(LedgerError::at(
                &row.at,
                "人员编号 (person_id)",
                format!(
                    "person {} is not in the ledger nor in this node",
                    row.body.person_id
                ),
            )
            .into());
        }
    }
    Ok(())
}
