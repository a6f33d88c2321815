//! The compound's records one at a time, as a page (or the CLI) works with
//! them: a form saved as a one-row ledger, a kind listed newest first with
//! a search, one record shown (revealed only through the privacy step).
//!
//! A form is a ledger of one row: its fields are the ledger's English
//! column names and go through the ledger's own row parsing and the
//! import's checks (`validate::check_record`, references), so a value is
//! accepted exactly when the same cell in an imported ledger is, with the
//! same error text, and the error names the column.

use chrono::NaiveDate;
use lianfang_proto::kinds::cells;
use lianfang_proto::{Kind, pb};

use super::NodeApp;
use super::privacy::{self, Mask as _, Reveal};
use crate::import::{self, ImportError};
use crate::ledger::{self, LedgerError};
use crate::store::{Store, StoreError, WriteSummary};

/// Rows on one page of a list.
pub const PER_PAGE: usize = 50;

/// Why a form was not saved; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    /// A value the ledger would refuse (or a record it refers to that does
    /// not exist): `column` is the ledger column's English name.
    #[error("{}", .0)]
    Invalid(LedgerError),
    /// The kind has no ledger, so no form.
    #[error("{0} records are not kept in a ledger")]
    NoLedger(&'static str),
    /// An update of a record that is not (or no longer) live.
    #[error("no live {kind} with id {id}")]
    Missing { kind: &'static str, id: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SaveError {
    /// The column (English name) the error is about, for a form to show
    /// the message beside its field.
    pub fn column(&self) -> Option<&str> {
        match self {
            SaveError::Invalid(e) => e.column.as_deref(),
            _ => None,
        }
    }

    /// The reason alone, without the form's file and row.
    pub fn reason(&self) -> String {
        match self {
            SaveError::Invalid(e) => e.reason.clone(),
            other => other.to_string(),
        }
    }
}

impl From<ImportError> for SaveError {
    fn from(e: ImportError) -> Self {
        match e {
            ImportError::Ledger(e) => SaveError::Invalid(e),
            ImportError::Store(e) => SaveError::Store(e),
            ImportError::NoFiles => SaveError::Store(StoreError::Invalid {
                kind: "form",
                id: String::new(),
                field: String::new(),
                reason: "empty form".into(),
            }),
        }
    }
}

/// One record as shown: its ledger cells (the id first, in column order),
/// personal data masked unless revealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordView {
    pub kind: Kind,
    pub id: String,
    /// The version's HLC stamp (newer is larger).
    pub stamp: u64,
    /// The ledger cells, `cells[0]` the id.
    pub cells: Vec<String>,
}

impl RecordView {
    pub(crate) fn new(kind: Kind, id: String, stamp: u64, body: &pb::record::Body) -> Self {
        let cells = cells(&id, body);
        RecordView {
            kind,
            id,
            stamp,
            cells,
        }
    }

    /// The cell of the column named `en`, or "".
    pub fn cell(&self, en: &str) -> &str {
        let columns = self.kind.ledger().map_or(&[][..], |l| l.columns);
        columns
            .iter()
            .position(|c| c.en == en)
            .and_then(|i| self.cells.get(i))
            .map_or("", String::as_str)
    }
}

/// One page of a kind's list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPage {
    /// The records on this page, newest first, masked.
    pub rows: Vec<RecordView>,
    /// Records matching the search, on every page.
    pub matching: usize,
    /// This page, from 1.
    pub page: usize,
    /// Pages in all (at least 1).
    pub pages: usize,
}

/// Whether a record's cells match a search `q` (already trimmed, not
/// empty): its id, any cell but an ID number (case-insensitive; a plate
/// with its spaces and `·` left out), a phone by its tail, and a
/// household's `building-room` or `building-unit-room`.
fn matches(kind: Kind, row: &[String], q: &str) -> bool {
    let columns = kind.ledger().map_or(&[][..], |l| l.columns);
    let lower = q.to_lowercase();
    let compact: String = q
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '·')
        .collect::<String>()
        .to_uppercase();
    let cell = |en: &str| {
        columns
            .iter()
            .position(|c| c.en == en)
            .and_then(|i| row.get(i))
            .map_or("", String::as_str)
    };
    for (column, value) in columns.iter().zip(row) {
        match column.sensitive {
            Some(lianfang_proto::kinds::Sensitive::IdNumber) => continue,
            Some(lianfang_proto::kinds::Sensitive::Phone) => {
                if q.len() >= 3 && q.bytes().all(|b| b.is_ascii_digit()) && value.ends_with(q) {
                    return true;
                }
                continue;
            }
            Some(lianfang_proto::kinds::Sensitive::Name) | None => {}
        }
        if value.to_lowercase().contains(&lower)
            || (!compact.is_empty() && value.to_uppercase().contains(&compact))
        {
            return true;
        }
    }
    let building = cell("building");
    if !building.is_empty() {
        let room = cell("room");
        let unit = cell("unit");
        for address in [
            format!("{building}-{room}"),
            format!("{building}-{unit}-{room}"),
        ] {
            if address.contains(q) {
                return true;
            }
        }
    }
    false
}

/// A fresh id for a record of `kind` typed into a form without one: the
/// ledger's initial, the date and four random hex digits
/// (`P20200220-3FA2`), checked against the store.
fn new_id(store: &Store, kind: Kind, today: NaiveDate) -> Result<String, StoreError> {
    let initial = kind
        .ledger()
        .and_then(|l| l.name.chars().next())
        .unwrap_or('R')
        .to_ascii_uppercase();
    loop {
        let id = format!(
            "{initial}{}-{:04X}",
            today.format("%Y%m%d"),
            rand::random::<u16>()
        );
        if store.get(kind, &id)?.is_none() {
            return Ok(id);
        }
    }
}

impl NodeApp {
    /// Saves one record typed into a form: `fields` are (English column
    /// name, value) pairs, read as a one-row ledger (see the module). With
    /// `id` (an update) the record must be live and the form's id column is
    /// that id; without, the form's id column is used, or a fresh id when
    /// it is empty, and an id already live is refused (open it to edit).
    /// Returns the id and what was written.
    ///
    /// # Errors
    /// [`SaveError::Invalid`] naming the column and the ledger's reason;
    /// nothing is written then.
    pub fn save(
        &self,
        kind: Kind,
        id: Option<&str>,
        fields: &[(String, String)],
    ) -> Result<(String, WriteSummary), SaveError> {
        let ledger = kind.ledger().ok_or(SaveError::NoLedger(kind.name()))?;
        let id_column = ledger.id_column().en;
        let today = crate::today();
        let mut store = self.store();
        let typed = fields
            .iter()
            .find(|(name, _)| name == id_column)
            .map_or("", |(_, value)| value.trim());
        let id = match id {
            Some(id) => {
                if store.get(kind, id)?.is_none_or(|r| r.deleted) {
                    return Err(SaveError::Missing {
                        kind: kind.name(),
                        id: id.to_owned(),
                    });
                }
                id.to_owned()
            }
            None if typed.is_empty() => new_id(&store, kind, today)?,
            None => {
                if store.get(kind, typed)?.is_some_and(|r| !r.deleted) {
                    return Err(SaveError::Invalid(LedgerError::at(
                        &form_row(kind),
                        id_column,
                        format!(
                            "{id_column} {typed} is already used; open that record to change it"
                        ),
                    )));
                }
                typed.to_owned()
            }
        };
        let mut fields: Vec<(String, String)> = fields
            .iter()
            .filter(|(name, _)| name != id_column)
            .cloned()
            .collect();
        fields.push((id_column.to_owned(), id.clone()));
        let parsed = ledger::read_form(kind, &fields, today).map_err(SaveError::Invalid)?;
        let summary = import::import_ledger(&mut store, parsed, today, crate::now_ms())?;
        drop(store);
        self.wrote(&summary);
        Ok((id, summary))
    }

    /// One page (from 1) of a kind's live records, newest first, that
    /// match `q` (empty: all); phones and ID numbers masked.
    ///
    /// # Errors
    /// Store errors.
    pub fn list(&self, kind: Kind, q: &str, page: usize) -> Result<ListPage, StoreError> {
        let store = self.store();
        let privacy = privacy::step(&store, Reveal::Masked, "")?;
        let q = q.trim();
        // One record at a time: only the matching ids and the asked page's
        // rows are kept (the page is clamped to the last one afterwards).
        let wanted = page.max(1);
        let mut matching = 0;
        let mut rows: Vec<RecordView> = Vec::new();
        let mut last: Vec<RecordView> = Vec::new();
        store.for_each_live(kind, |id, stamp, body| {
            let cells = cells(id, &body);
            if !q.is_empty() && !matches(kind, &cells, q) {
                return;
            }
            let on = matching / PER_PAGE + 1;
            matching += 1;
            let view = RecordView {
                kind,
                id: id.to_owned(),
                stamp,
                cells,
            };
            if on == wanted {
                rows.push(view);
            } else if on < wanted {
                if matching % PER_PAGE == 1 {
                    last.clear();
                }
                last.push(view);
            }
        })?;
        drop(store);
        let pages = matching.div_ceil(PER_PAGE).max(1);
        let page = wanted.min(pages);
        if page < wanted {
            rows = last;
        }
        rows.mask(privacy);
        Ok(ListPage {
            rows,
            matching,
            page,
            pages,
        })
    }

    /// One live record, masked unless `reveal` (which is written to the
    /// audit log first, naming the record); `None` when there is none.
    ///
    /// # Errors
    /// Store errors (an audit that fails shows nothing).
    pub fn record(
        &self,
        kind: Kind,
        id: &str,
        reveal: Reveal,
    ) -> Result<Option<RecordView>, StoreError> {
        let store = self.store();
        let Some(record) = store.get(kind, id)?.filter(|r| !r.deleted) else {
            return Ok(None);
        };
        let Some(body) = &record.body else {
            return Ok(None);
        };
        let mut view = RecordView::new(kind, record.id.clone(), record.stamp, body);
        let privacy = privacy::step_record(&store, reveal, kind.name(), id)?;
        view.mask(privacy);
        Ok(Some(view))
    }
}

/// Where a form's own errors are (a form is row 2 of a one-row ledger).
fn form_row(kind: Kind) -> ledger::RowRef {
    ledger::RowRef {
        file: ledger::FORM_FILE.to_owned(),
        sheet: None,
        row: 2,
        kind: Some(kind),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::store::Identity;

    /// A node in a temp dir, set up without a hub.
    pub(crate) fn app() -> (tempfile::TempDir, NodeApp) {
        let dir = tempfile::tempdir().unwrap();
        let identity = Identity {
            compound: "HM001".into(),
            node_id: "HM001/test".into(),
            log_id: "0".repeat(32),
            hub: "http://127.0.0.1:1".into(),
            token: String::new(),
            hub_key: String::new(),
            hub_ca: String::new(),
        };
        Store::create(dir.path(), &identity).unwrap();
        let app = NodeApp::open(dir.path()).unwrap();
        (dir, app)
    }

    pub(crate) fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    pub(crate) fn household(app: &NodeApp, id: &str, building: &str, room: &str) {
        app.save(
            Kind::Household,
            None,
            &form(&[
                ("household_id", id),
                ("building", building),
                ("unit", "1"),
                ("room", room),
                ("housing", "自住"),
            ]),
        )
        .unwrap();
    }

    #[test]
    fn a_form_value_is_refused_exactly_as_the_same_ledger_cell_with_its_column() {
        let (dir, app) = app();
        let err = app
            .save(
                Kind::Household,
                None,
                &form(&[
                    ("household_id", "H1"),
                    ("building", "1"),
                    ("unit", "1"),
                    ("room", "101"),
                    ("housing", "别墅"),
                ]),
            )
            .unwrap_err();
        assert_eq!(err.column(), Some("housing"));
        let csv = dir.path().join("households.csv");
        std::fs::write(&csv, "户编号,楼号,单元,室号,房屋情况\nH1,1,1,101,别墅\n").unwrap();
        let ImportError::Ledger(ledger) = app.import(&[csv]).unwrap_err() else {
            panic!("a ledger error");
        };
        assert_eq!(err.reason(), ledger.reason);
        assert_eq!(app.list(Kind::Household, "", 1).unwrap().matching, 0);

        // A reference to a record that does not exist, at its column.
        let err = app
            .save(
                Kind::Isolation,
                None,
                &form(&[
                    ("person_id", "P9"),
                    ("kind", "居家"),
                    ("start", "2020-02-03"),
                ]),
            )
            .unwrap_err();
        assert_eq!(err.column(), Some("person_id"));
        assert!(err.reason().contains("P9"), "{}", err.reason());
    }

    #[test]
    fn new_ids_are_made_taken_ids_refused_and_updates_need_a_live_record() {
        let (_dir, app) = app();
        let (id, summary) = app
            .save(
                Kind::Household,
                None,
                &form(&[
                    ("building", "3"),
                    ("unit", "1"),
                    ("room", "101"),
                    ("housing", "出租"),
                ]),
            )
            .unwrap();
        assert!(id.starts_with('H'), "{id}");
        assert_eq!(summary.written(), 1);
        household(&app, "H1", "3", "102");
        let taken = app
            .save(
                Kind::Household,
                None,
                &form(&[
                    ("household_id", "H1"),
                    ("building", "4"),
                    ("unit", "1"),
                    ("room", "1"),
                    ("housing", "自住"),
                ]),
            )
            .unwrap_err();
        assert_eq!(taken.column(), Some("household_id"));
        let fields = form(&[
            ("building", "4"),
            ("unit", "2"),
            ("room", "201"),
            ("housing", "空置"),
        ]);
        let (same, _) = app.save(Kind::Household, Some("H1"), &fields).unwrap();
        assert_eq!(same, "H1");
        let view = app
            .record(Kind::Household, "H1", Reveal::Masked)
            .unwrap()
            .unwrap();
        assert_eq!(view.cell("room"), "201");
        assert!(matches!(
            app.save(Kind::Household, Some("H9"), &fields),
            Err(SaveError::Missing { .. })
        ));
    }

    #[test]
    fn lists_are_newest_first_searchable_paged_and_masked_and_reveal_is_audited() {
        let (_dir, app) = app();
        household(&app, "H1", "12", "101");
        household(&app, "H2", "12", "102");
        for i in 0..(PER_PAGE + 3) {
            let phone = format!("139{:08}", i);
            app.save(
                Kind::Person,
                None,
                &form(&[
                    ("person_id", &format!("P{i:03}")),
                    ("household_id", if i == 0 { "H2" } else { "H1" }),
                    ("name", &format!("居民{i}")),
                    ("phone", &phone),
                    ("id_number", "E1234567"),
                    ("nationality", "US"),
                ]),
            )
            .unwrap();
        }
        let first = app.list(Kind::Person, "", 1).unwrap();
        assert_eq!(
            (first.matching, first.pages, first.rows.len()),
            (PER_PAGE + 3, 2, PER_PAGE)
        );
        assert_eq!(
            first.rows[0].id,
            format!("P{:03}", PER_PAGE + 2),
            "newest first"
        );
        assert_eq!(first.rows[0].cell("phone"), "139****0052");
        assert_eq!(first.rows[0].cell("id_number"), "E1****67");
        assert_eq!(
            app.list(Kind::Person, "", 9).unwrap().rows.len(),
            3,
            "past the end: the last page"
        );
        let by_tail = app.list(Kind::Person, "00000007", 1).unwrap();
        assert_eq!(by_tail.rows.len(), 1);
        assert_eq!(by_tail.rows[0].id, "P007");
        assert_eq!(app.list(Kind::Person, "居民7", 1).unwrap().matching, 1);
        assert_eq!(
            app.list(Kind::Person, "E1234567", 1).unwrap().matching,
            0,
            "ID numbers are not searched"
        );
        assert_eq!(
            app.list(Kind::Household, "12-102", 1).unwrap().rows[0].id,
            "H2"
        );

        let audited = app.audit_log().unwrap().len();
        let masked = app
            .record(Kind::Person, "P001", Reveal::Masked)
            .unwrap()
            .unwrap();
        assert_eq!(masked.cell("phone"), "139****0001");
        assert_eq!(app.audit_log().unwrap().len(), audited);
        let full = app
            .record(Kind::Person, "P001", Reveal::Unmasked)
            .unwrap()
            .unwrap();
        assert_eq!(full.cell("phone"), "13900000001");
        let log = app.audit_log().unwrap();
        assert_eq!(log.len(), audited + 1);
        assert!(
            log[audited].detail.contains("person P001"),
            "{:?}",
            log[audited]
        );
        app.delete(Kind::Person, &["P001".into()]).unwrap();
        assert!(
            app.record(Kind::Person, "P001", Reveal::Masked)
                .unwrap()
                .is_none()
        );
    }
}
