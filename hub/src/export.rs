//! Exports of the merged records, with personal data masked by default.
//!
//! **Architecture Invariant:** every output that can show an ID number, a
//! phone or (in exports) a name goes through `lianfang_proto::mask::Privacy`; the unmasked form is
//! only produced on an explicit flag, and that use is written to the audit
//! log before anything is printed.

use lianfang_proto::kinds::{Ledger, Sensitive};
use lianfang_proto::mask::Privacy;
use lianfang_proto::{Kind, kinds};
use serde::Serialize;

use crate::store::{HubError, HubStore, Result};

/// One exported row: column name and value, in ledger order.
pub type Row = Vec<(&'static str, String)>;

/// What may be exported: a kind with a ledger, typed as its ledger's name
/// (`--kind persons`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ExportKind(Kind);

impl ExportKind {
    /// The kind of `kind`'s records, when it has a ledger.
    pub fn new(kind: Kind) -> Option<ExportKind> {
        kind.ledger().map(|_| ExportKind(kind))
    }

    /// The record kind.
    pub fn kind(self) -> Kind {
        self.0
    }

    fn ledger(self) -> &'static Ledger {
        self.0.ledger().expect("an export kind has a ledger")
    }
}

impl std::fmt::Debug for ExportKind {
    /// `Persons`: the ledger's name, capitalised.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = self.ledger().name;
        let mut chars = name.chars();
        if let Some(first) = chars.next() {
            write!(f, "{}{}", first.to_ascii_uppercase(), chars.as_str())?;
        }
        Ok(())
    }
}

impl clap::ValueEnum for ExportKind {
    fn value_variants<'a>() -> &'a [Self] {
        static VARIANTS: std::sync::OnceLock<Vec<ExportKind>> = std::sync::OnceLock::new();
        VARIANTS.get_or_init(|| Kind::ALL.into_iter().filter_map(ExportKind::new).collect())
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.ledger().name))
    }
}

/// The live records of a kind (of one compound, or all), as rows with the
/// ledger's Chinese headers plus the compound code.
///
/// # Errors
/// SQLite errors or an undecodable stored body.
pub fn export(
    store: &HubStore,
    kind: ExportKind,
    compound: Option<&str>,
    privacy: Privacy,
) -> Result<Vec<Row>> {
    let ledger = kind.ledger();
    let kind = kind.kind();
    let table = crate::kinds::record_table(kind);
    let sql = format!(
        "SELECT compound, id, body FROM {table}
         WHERE deleted = 0 AND (CAST(?1 AS TEXT) IS NULL OR compound = ?1) ORDER BY compound, id"
    );
    let mut stmt = store.conn.prepare(&sql)?;
    let mut rows = stmt.query([compound])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let code: String = row.get(0)?;
        let id: String = row.get(1)?;
        let body: Vec<u8> = row.get(2)?;
        let body = kind
            .decode_body(&body)
            .map_err(|e| HubError::Malformed(format!("stored {} {id}: {e}", kind.name())))?;
        let cells = kinds::cells(&id, &body);
        let fields = std::iter::once(("小区", code)).chain(
            ledger
                .columns
                .iter()
                .zip(cells)
                .map(|(column, cell)| (column.zh, masked(privacy, column.sensitive, &cell))),
        );
        out.push(fields.collect());
    }
    Ok(out)
}

/// A cell as output shows it: personal data through `privacy`.
fn masked(privacy: Privacy, sensitive: Option<Sensitive>, cell: &str) -> String {
    match sensitive {
        None => cell.to_owned(),
        Some(Sensitive::IdNumber) => privacy.id_number(cell),
        Some(Sensitive::Phone) => privacy.phone(cell),
        Some(Sensitive::Name) => privacy.name(cell),
    }
}

/// Renders exported rows as CSV (header from the first row's names).
pub fn to_csv(rows: &[Row], header: &[&str]) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(header).expect("in-memory write");
    for row in rows {
        writer
            .write_record(row.iter().map(|(_, v)| v.as_str()))
            .expect("in-memory write");
    }
    String::from_utf8(writer.into_inner().expect("in-memory flush")).expect("utf-8")
}

/// Renders exported rows as a JSON array of objects.
pub fn to_json(rows: &[Row]) -> String {
    #[derive(Serialize)]
    struct Obj<'a>(#[serde(with = "pairs")] &'a Row);
    mod pairs {
        use serde::ser::SerializeMap as _;
        pub(super) fn serialize<S: serde::Serializer>(
            row: &&super::Row,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            let mut map = s.serialize_map(Some(row.len()))?;
            for (k, v) in row.iter() {
                map.serialize_entry(k, v)?;
            }
            map.end()
        }
    }
    let objs: Vec<Obj<'_>> = rows.iter().map(Obj).collect();
    serde_json::to_string_pretty(&objs).expect("rows serialise")
}

/// Column names of an export kind: the compound, then the ledger's headers.
pub fn header(kind: ExportKind) -> Vec<&'static str> {
    std::iter::once("小区")
        .chain(kind.ledger().columns.iter().map(|c| c.zh))
        .collect()
}
