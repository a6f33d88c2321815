//! Ledger import: parsed ledger rows become record changes, all or nothing.
//!
//! Rows are upserted by id: an unchanged row writes nothing, an edited row
//! writes a new version, and a row missing from the files is left alone
//! (deleting is an explicit act). A row that refers to a record (a person's
//! household, an isolation's person: each kind's module in `crate::kinds`
//! says) that exists neither in the files nor in the store is an error at
//! that row, and nothing of the import is applied.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use lianfang_proto::{Kind, pb, validate};

use crate::ledger::{self, Ledger, LedgerError};
use crate::store::{Change, Store, StoreError, WriteSummary};

/// Errors of an import; nothing was written when one is returned.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
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
    import_ledger(store, ledger, today, wall_ms)
}

/// Applies an already parsed ledger (see [`import_files`]).
///
/// # Errors
/// As [`import_files`].
pub fn import_ledger(
    store: &mut Store,
    ledger: Ledger,
    today: chrono::NaiveDate,
    wall_ms: u64,
) -> Result<WriteSummary, ImportError> {
    check_rules(&ledger, today)?;
    check_references(store, &ledger)?;
    let changes = ledger.into_rows().map(|(kind, row)| Change {
        kind,
        id: row.id,
        body: Some(row.body),
    });
    Ok(store.write(changes, wall_ms)?)
}

/// Checks every row against the record rules the hub applies
/// (`validate::check_record`), reporting the first failure at its row
/// (kinds in registry order, then rows in file order).
fn check_rules(ledger: &Ledger, today: chrono::NaiveDate) -> Result<(), ImportError> {
    for (kind, rows) in ledger.kinds() {
        let id_column = kind.ledger().map_or("id", |l| l.id_column().en);
        for row in rows {
            let record = pb::Record {
                compound: "CHECK".into(),
                id: row.id.clone(),
                stamp: 1,
                origin: "import".into(),
                deleted: false,
                body: Some(row.body.clone()),
            };
            if let Err(e) = validate::check_record(&record, today) {
                let field = e.field.rsplit('.').next().unwrap_or(&e.field);
                let column = if field == "id" { id_column } else { field };
                return Err(LedgerError::at(&row.at, column, e.reason).into());
            }
        }
    }
    Ok(())
}

/// Checks that every record a row refers to (its kind module's
/// references) is in the ledger or live in the store.
fn check_references(store: &Store, ledger: &Ledger) -> Result<(), ImportError> {
    let mut known: HashMap<Kind, HashSet<String>> = HashMap::new();
    for (kind, rows) in ledger.kinds() {
        let Some(ops) = crate::kinds::ledger_ops(kind) else {
            continue;
        };
        for row in rows {
            for reference in (ops.references)(&row.body) {
                if reference.id.is_empty() {
                    continue;
                }
                let ids = match known.entry(reference.kind) {
                    Entry::Occupied(ids) => ids.into_mut(),
                    Entry::Vacant(slot) => {
                        let mut ids = store.live_ids(reference.kind)?;
                        ids.extend(ledger.rows(reference.kind).iter().map(|r| r.id.clone()));
                        slot.insert(ids)
                    }
                };
                if !ids.contains(reference.id) {
                    return Err(LedgerError::at(
                        &row.at,
                        reference.column,
                        format!(
                            "{} {} is not in the ledger nor in this node",
                            reference.kind.name(),
                            reference.id
                        ),
                    )
                    .into());
                }
            }
        }
    }
    Ok(())
}
