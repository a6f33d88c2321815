//! Renders the daily table as JSON, CSV or an aligned text table.

use lianfang_proto::table::{COLUMNS, DailyCounts};
use serde::Serialize;

use crate::store::{Source, Table};

/// Output formats of `lianfang-hub table`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Json,
    Csv,
    Text,
}

#[derive(Serialize)]
struct JsonRow<'a> {
    compound: &'a str,
    name: &'a str,
    #[serde(flatten)]
    counts: &'a DailyCounts,
    last_sync: Option<&'a str>,
    caught_up: bool,
    source: &'static str,
    digests_agree: Option<bool>,
}

#[derive(Serialize)]
struct JsonTable<'a> {
    date: String,
    compounds: Vec<JsonRow<'a>>,
    total: &'a DailyCounts,
}

/// Renders `table` in `format`.
pub fn render(table: &Table, format: Format) -> String {
    match format {
        Format::Json => {
            let json = JsonTable {
                date: table.date.format("%Y-%m-%d").to_string(),
                compounds: table
                    .compounds
                    .iter()
                    .map(|row| JsonRow {
                        compound: &row.code,
                        name: &row.name,
                        counts: &row.counts,
                        last_sync: row.last_sync.as_deref(),
                        caught_up: row.caught_up,
                        source: row.source.as_str(),
                        digests_agree: row.digests_agree,
                    })
                    .collect(),
                total: &table.total,
            };
            let mut out = serde_json::to_string_pretty(&json).expect("table serialises");
            out.push('\n');
            out
        }
        Format::Csv => {
            let mut writer = csv::Writer::from_writer(Vec::new());
            let mut header = vec!["compound", "name"];
            header.extend(COLUMNS.iter().map(|(key, _)| *key));
            header.extend(["last_sync", "caught_up", "source"]);
            writer.write_record(&header).expect("in-memory write");
            let rows = table.compounds.iter().map(|row| {
                (
                    row.code.as_str(),
                    row.name.as_str(),
                    row.counts,
                    row.last_sync.as_deref().unwrap_or(""),
                    if row.caught_up { "true" } else { "false" },
                    row.source.as_str(),
                )
            });
            let total = ("TOTAL", "合计", table.total, "", "", "");
            for (code, name, counts, last_sync, caught_up, source) in rows.chain([total]) {
                let mut record = vec![code.to_owned(), name.to_owned()];
                record.extend(counts.values().iter().map(u64::to_string));
                record.extend([
                    last_sync.to_owned(),
                    caught_up.to_owned(),
                    source.to_owned(),
                ]);
                writer.write_record(&record).expect("in-memory write");
            }
            String::from_utf8(writer.into_inner().expect("in-memory flush")).expect("utf-8")
        }
        Format::Text => text(table),
    }
}

/// Display width of a string, counting CJK characters as two columns.
fn width(s: &str) -> usize {
    s.chars()
        .map(|c| if (c as u32) >= 0x1100 { 2 } else { 1 })
        .sum()
}

fn pad(s: &str, w: usize) -> String {
    format!("{s}{}", " ".repeat(w.saturating_sub(width(s))))
}

fn text(table: &Table) -> String {
    let mut header: Vec<String> = vec!["小区".into(), "名称".into()];
    header.extend(COLUMNS.iter().map(|(_, zh)| (*zh).to_owned()));
    header.push("同步".into());
    let mut lines: Vec<Vec<String>> = vec![header];
    for row in &table.compounds {
        let mut line = vec![row.code.clone(), row.name.clone()];
        line.extend(row.counts.values().iter().map(u64::to_string));
        line.push(match (&row.last_sync, row.caught_up, row.source) {
            (None, _, _) => "从未".into(),
            (Some(at), true, _) => format!("{at} ✓"),
            (Some(at), false, Source::Reported) => format!("{at} … (自报)"),
            (Some(at), false, Source::Records) => format!("{at} …"),
        });
        lines.push(line);
    }
    let mut total = vec!["合计".to_owned(), String::new()];
    total.extend(table.total.values().iter().map(u64::to_string));
    total.push(String::new());
    lines.push(total);
    let n = lines[0].len();
    let widths: Vec<usize> = (0..n)
        .map(|i| lines.iter().map(|l| width(&l[i])).max().unwrap_or(0))
        .collect();
    let mut out = format!("日表 {}\n", table.date.format("%Y-%m-%d"));
    for (k, line) in lines.iter().enumerate() {
        let cells: Vec<String> = line
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (cell, &w))| {
                if i >= 2 && i < n - 1 && k > 0 {
                    format!("{}{cell}", " ".repeat(w.saturating_sub(width(cell))))
                } else {
                    pad(cell, w)
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}
