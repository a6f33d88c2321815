//! Exports of the merged records, with personal data masked by default.
//!
//! **Architecture Invariant:** every output that can show an ID number, a
//! phone or (in exports) a name goes through `lianfang_proto::mask::Privacy`; the unmasked form is
//! only produced on an explicit flag, and that use is written to the audit
//! log before anything is printed.

use lianfang_proto::mask::Privacy;
use lianfang_proto::{Kind, pb};
use prost::Message as _;
use serde::Serialize;

use crate::store::{HubError, HubStore, Result};

/// One exported row: column name and value, in ledger order.
pub type Row = Vec<(&'static str, String)>;

/// What may be exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportKind {
    Households,
    Persons,
    Isolations,
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
    let (table, kind_) = match kind {
        ExportKind::Households => ("household", Kind::Household),
        ExportKind::Persons => ("person", Kind::Person),
        ExportKind::Isolations => ("isolation", Kind::Isolation),
    };
    let sql = format!(
        "SELECT compound, id, body FROM {table}
         WHERE deleted = 0 AND (?1 IS NULL OR compound = ?1) ORDER BY compound, id"
    );
    let mut stmt = store.conn.prepare(&sql)?;
    let mut rows = stmt.query([compound])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let code: String = row.get(0)?;
        let id: String = row.get(1)?;
        let body: Vec<u8> = row.get(2)?;
        let corrupt = |e: prost::DecodeError| {
            HubError::Malformed(format!("stored {} {id}: {e}", kind_.name()))
        };
        let fields: Row = match kind {
            ExportKind::Households => {
                let h = pb::Household::decode(body.as_slice()).map_err(corrupt)?;
                let housing = h.housing();
                vec![
                    ("户编号", id),
                    ("楼号", h.building),
                    ("单元", h.unit),
                    ("室号", h.room),
                    (
                        "房屋情况",
                        match housing {
                            pb::Housing::Owner => "自住",
                            pb::Housing::Rented => "出租",
                            pb::Housing::Vacant => "空置",
                            pb::Housing::Unspecified => "",
                        }
                        .to_owned(),
                    ),
                ]
            }
            ExportKind::Persons => {
                let p = pb::Person::decode(body.as_slice()).map_err(corrupt)?;
                vec![
                    ("人员编号", id),
                    ("户编号", p.household_id),
                    ("姓名", privacy.name(&p.name)),
                    ("手机", privacy.phone(&p.phone)),
                    ("证件号码", privacy.id_number(&p.id_number)),
                    ("国籍", p.nationality),
                    ("来源地", p.origin),
                    ("返沪日期", p.return_date),
                    (
                        "返沪登记",
                        if p.registered { "是" } else { "否" }.to_owned(),
                    ),
                ]
            }
            ExportKind::Isolations => {
                let i = pb::Isolation::decode(body.as_slice()).map_err(corrupt)?;
                let isolation_kind = i.kind();
                vec![
                    ("隔离编号", id),
                    ("人员编号", i.person_id),
                    (
                        "隔离方式",
                        match isolation_kind {
                            pb::IsolationKind::Home => "居家",
                            pb::IsolationKind::Central => "集中",
                            pb::IsolationKind::Unspecified => "",
                        }
                        .to_owned(),
                    ),
                    ("开始日期", i.start),
                    ("解除日期", i.release),
                ]
            }
        };
        let mut fields = fields;
        fields.insert(0, ("小区", code));
        out.push(fields);
    }
    Ok(out)
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
    use lianfang_proto::columns::{HOUSEHOLD_HEADERS, ISOLATION_HEADERS, PERSON_HEADERS};
    let ledger: &[&'static str] = match kind {
        ExportKind::Households => &HOUSEHOLD_HEADERS,
        ExportKind::Persons => &PERSON_HEADERS,
        ExportKind::Isolations => &ISOLATION_HEADERS,
    };
    std::iter::once("小区")
        .chain(ledger.iter().copied())
        .collect()
}
