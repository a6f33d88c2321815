//! Verification lists (排摸核查) as the street office types them: entries
//! `name|phone|address|reason`, and a CSV with columns 姓名/name,
//! 手机/phone, 地址/address, 原因/reason.

use std::path::{Path, PathBuf};

use lianfang_proto::pb;

/// Why a verification list was not accepted; nothing was sent.
#[derive(Debug, thiserror::Error)]
pub enum TaskListError {
    #[error("--entry #{n} {entry:?}: expected \"name|phone|address|reason\"")]
    Entry { n: usize, entry: String },
    #[error("cannot read {}", .path.display())]
    Read { path: PathBuf, source: csv::Error },
    #[error("{}: no header row", .path.display())]
    NoHeader { path: PathBuf, source: csv::Error },
    #[error("{}: no 姓名 (name) column", .path.display())]
    NoNameColumn { path: PathBuf },
    #[error("{} row {row}", .path.display())]
    Row {
        path: PathBuf,
        row: usize,
        source: csv::Error,
    },
    #[error("give people to verify with --entry or --file")]
    Empty,
    #[error("entry {n}: the name is empty")]
    EmptyName { n: usize },
    #[error("entry {n} ({name}): {reason}")]
    Phone {
        n: usize,
        name: String,
        reason: String,
    },
}

/// The entries of a verification list from typed `entries` and an optional
/// CSV `file`, numbered 1, 2, 3, … in that order; phones checked and
/// normalised.
///
/// # Errors
/// [`TaskListError`] for the first entry or row that is wrong, or no
/// entries at all.
pub fn task_entries(
    entries: &[String],
    file: Option<&Path>,
) -> Result<Vec<pb::VerificationEntry>, TaskListError> {
    let csv = match file {
        Some(path) => Some(csv_rows(path)?),
        None => None,
    };
    entries_of(entries, csv)
}

/// As [`task_entries`], with the CSV as uploaded bytes (the dashboard's
/// form) named `name` in errors.
///
/// # Errors
/// As [`task_entries`].
pub fn task_entries_uploaded(
    entries: &[String],
    upload: Option<(&str, &[u8])>,
) -> Result<Vec<pb::VerificationEntry>, TaskListError> {
    let csv = match upload {
        Some((name, bytes)) => Some(csv_rows_from(
            csv::Reader::from_reader(bytes),
            Path::new(name),
        )?),
        None => None,
    };
    entries_of(entries, csv)
}

fn entries_of(
    entries: &[String],
    csv: Option<Vec<[String; 4]>>,
) -> Result<Vec<pb::VerificationEntry>, TaskListError> {
    let mut rows: Vec<[String; 4]> = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let parts: Vec<&str> = entry.split('|').map(str::trim).collect();
        if parts.len() != 4 {
            return Err(TaskListError::Entry {
                n: i + 1,
                entry: entry.clone(),
            });
        }
        rows.push([0, 1, 2, 3].map(|k| parts[k].to_owned()));
    }
    rows.extend(csv.into_iter().flatten());
    if rows.is_empty() {
        return Err(TaskListError::Empty);
    }
    rows.into_iter()
        .enumerate()
        .map(|(i, [name, phone, address, reason])| {
            if name.is_empty() {
                return Err(TaskListError::EmptyName { n: i + 1 });
            }
            let phone = lianfang_proto::validate::check_phone(&phone).map_err(|reason| {
                TaskListError::Phone {
                    n: i + 1,
                    name: name.clone(),
                    reason,
                }
            })?;
            Ok(pb::VerificationEntry {
                entry_id: (i + 1).to_string(),
                name,
                phone,
                address,
                reason,
            })
        })
        .collect()
}

/// (name, phone, address, reason) of each row of a CSV list.
fn csv_rows(path: &Path) -> Result<Vec<[String; 4]>, TaskListError> {
    let reader = csv::Reader::from_path(path).map_err(|source| TaskListError::Read {
        path: path.to_owned(),
        source,
    })?;
    csv_rows_from(reader, path)
}

/// (name, phone, address, reason) of each row of a CSV list read from
/// `reader`, `path` naming it in errors.
fn csv_rows_from<R: std::io::Read>(
    mut reader: csv::Reader<R>,
    path: &Path,
) -> Result<Vec<[String; 4]>, TaskListError> {
    let headers = reader
        .headers()
        .map_err(|source| TaskListError::NoHeader {
            path: path.to_owned(),
            source,
        })?
        .clone();
    let column = |zh: &str, en: &str| {
        headers.iter().position(|h| {
            h.trim().trim_start_matches('\u{feff}') == zh || h.trim().eq_ignore_ascii_case(en)
        })
    };
    let name_col = column("姓名", "name").ok_or_else(|| TaskListError::NoNameColumn {
        path: path.to_owned(),
    })?;
    let cols = [
        Some(name_col),
        column("手机", "phone"),
        column("地址", "address"),
        column("原因", "reason"),
    ];
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|source| TaskListError::Row {
            path: path.to_owned(),
            row: i + 2,
            source,
        })?;
        rows.push(cols.map(|c| {
            c.and_then(|c| record.get(c))
                .unwrap_or("")
                .trim()
                .to_owned()
        }));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(entries: &[&str], csv: Option<&str>, expect: Result<Vec<[&str; 3]>, &str>) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("people.csv");
        if let Some(text) = csv {
            std::fs::write(&path, text).expect("write csv");
        }
        let entries: Vec<String> = entries.iter().map(|s| (*s).to_owned()).collect();
        let got = task_entries(&entries, csv.map(|_| path.as_path()));
        match (got, expect) {
            (Ok(got), Ok(want)) => {
                let got: Vec<[String; 3]> = got
                    .into_iter()
                    .map(|e| [e.entry_id, e.name, e.phone])
                    .collect();
                let want: Vec<[String; 3]> =
                    want.into_iter().map(|w| w.map(str::to_owned)).collect();
                assert_eq!(got, want);
            }
            (Err(got), Err(want)) => {
                let got = got.to_string().replace(&path.display().to_string(), "FILE");
                assert_eq!(got, want);
            }
            (got, want) => panic!("got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn typed_entries_then_csv_rows_numbered_in_order() {
        check(
            &["张三|13912345678|1-101|返沪"],
            Some("\u{feff}姓名,手机,地址,原因\n李四,,2-202,来电\n"),
            Ok(vec![["1", "张三", "13912345678"], ["2", "李四", ""]]),
        );
        check(
            &[],
            Some("Name,Phone\n王五,13912345678\n"),
            Ok(vec![["1", "王五", "13912345678"]]),
        );
    }

    #[test]
    fn bad_lists_are_refused_with_the_place() {
        check(
            &["张三|139"],
            None,
            Err("--entry #1 \"张三|139\": expected \"name|phone|address|reason\""),
        );
        check(
            &[],
            None,
            Err("give people to verify with --entry or --file"),
        );
        check(&[" |139|a|b"], None, Err("entry 1: the name is empty"));
        check(&[], Some("手机\n139\n"), Err("FILE: no 姓名 (name) column"));
        let bad_phone = task_entries(&["张三|12|a|b".to_owned()], None).expect_err("bad phone");
        assert!(
            bad_phone.to_string().starts_with("entry 1 (张三): "),
            "{bad_phone}"
        );
    }
}
