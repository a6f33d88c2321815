//! Renders the daily table and the daily log as JSON, CSV or an aligned
//! text table: live, with what changed since the meeting's cut-off, or as
//! the cut-off's snapshot.

use lianfang_proto::log::{DailyLog, KEYS};
use lianfang_proto::table::{COLUMNS, DailyCounts};
use serde::Serialize;

use crate::meeting::HubSettings;
use crate::store::{DayLog, Revisions, Source, Table};

/// Output formats of `lianfang-hub table`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Json,
    Csv,
    Text,
}

/// The table as the street office reads it: the live table of a date (with
/// what changed since that date's cut-off, when its snapshot exists) or the
/// snapshot itself, titled with the street's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableReport {
    /// The rows and total shown.
    pub table: Table,
    /// Live, or the snapshot of the cut-off.
    pub view: View,
    /// The street's name and the cut-off, for titles.
    pub settings: HubSettings,
    /// When the snapshot of the table's date was taken (RFC 3339), if one was.
    pub snapshot_at: Option<String>,
    /// Per compound row, in order: the keys changed since the snapshot
    /// (empty when none, when there is no snapshot, or in the snapshot view).
    pub since_cutoff: Vec<Revisions>,
    /// The same for the total.
    pub total_since_cutoff: Revisions,
}

/// Which table a [`TableReport`] shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Computed now from the merged records.
    Live,
    /// As it stood at the cut-off (`table --snapshot`).
    Snapshot,
}

impl TableReport {
    /// The live `table` with no snapshot to compare with, under the default
    /// settings.
    pub fn live(table: Table) -> TableReport {
        TableReport {
            since_cutoff: vec![Revisions::new(); table.compounds.len()],
            table,
            view: View::Live,
            settings: HubSettings::default(),
            snapshot_at: None,
            total_since_cutoff: Revisions::new(),
        }
    }

    fn revisions_of(&self, i: usize) -> &[(&'static str, i64)] {
        self.since_cutoff.get(i).map_or(&[], Vec::as_slice)
    }
}

/// Revisions as a JSON object `{KEY: delta, ...}` in the report's key order.
struct JsonRevisions<'a>(&'a [(&'static str, i64)]);

impl Serialize for JsonRevisions<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, delta) in self.0 {
            map.serialize_entry(key, delta)?;
        }
        map.end()
    }
}

/// Revisions as a clerk reads them in CSV: `persons+3 home_isolation-1`.
pub fn revisions_cell(revisions: &[(&'static str, i64)]) -> String {
    revisions
        .iter()
        .map(|(key, delta)| format!("{key}{delta:+}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Revisions in the text table, by the columns' Chinese names: `人数+3 居家隔离-1`.
fn revisions_text(keys: &[(&str, &str)], revisions: &[(&'static str, i64)]) -> String {
    revisions
        .iter()
        .map(|(key, delta)| {
            let zh = keys
                .iter()
                .find(|(k, _)| k == key)
                .map_or(*key, |(_, zh)| *zh);
            format!("{zh}{delta:+}")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// An RFC 3339 instant as China time, `YYYY-MM-DD HH:MM:SS`.
fn china_time(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339).map_or_else(
        |_| rfc3339.to_owned(),
        |at| {
            (at.naive_utc() + chrono::Duration::hours(8))
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        },
    )
}

#[derive(Serialize)]
struct JsonRow<'a> {
    compound: &'a str,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    member_of: Option<&'a str>,
    #[serde(flatten)]
    counts: &'a DailyCounts,
    last_sync: Option<&'a str>,
    caught_up: bool,
    source: &'static str,
    digests_agree: Option<bool>,
    since_cutoff: JsonRevisions<'a>,
}

#[derive(Serialize)]
struct JsonTable<'a> {
    date: String,
    street: &'a str,
    snapshot_at: Option<&'a str>,
    compounds: Vec<JsonRow<'a>>,
    total: &'a DailyCounts,
    total_since_cutoff: JsonRevisions<'a>,
}

/// Renders the live `table` in `format`, with no snapshot to compare with.
pub fn render(table: &Table, format: Format) -> String {
    render_report(&TableReport::live(table.clone()), format)
}

/// Renders `report` in `format`.
pub fn render_report(report: &TableReport, format: Format) -> String {
    let table = &report.table;
    match format {
        Format::Json => {
            let json = JsonTable {
                date: table.date.format("%Y-%m-%d").to_string(),
                street: &report.settings.street_name,
                snapshot_at: report.snapshot_at.as_deref(),
                compounds: table
                    .compounds
                    .iter()
                    .enumerate()
                    .map(|(i, row)| JsonRow {
                        compound: &row.code,
                        name: &row.name,
                        member_of: row.member_of.as_deref(),
                        counts: &row.counts,
                        last_sync: row.last_sync.as_deref(),
                        caught_up: row.caught_up,
                        source: row.source.as_str(),
                        digests_agree: row.digests_agree,
                        since_cutoff: JsonRevisions(report.revisions_of(i)),
                    })
                    .collect(),
                total: &table.total,
                total_since_cutoff: JsonRevisions(&report.total_since_cutoff),
            };
            let mut out = serde_json::to_string_pretty(&json).expect("table serialises");
            out.push('\n');
            out
        }
        Format::Csv => sheet(report).csv(),
        Format::Text => text(report),
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

/// The title line of the text table.
fn title(report: &TableReport) -> String {
    let street = report.settings.street_title();
    let date = report.table.date.format("%Y-%m-%d");
    match (report.view, &report.snapshot_at) {
        (View::Snapshot, Some(at)) => format!(
            "{street} 日表 {date} 例会截点快照（取于 {}）",
            china_time(at)
        ),
        (View::Snapshot, None) => format!("{street} 日表 {date} 例会截点快照"),
        (View::Live, Some(at)) => format!(
            "{street} 日表 {date}（例会截点快照取于 {}，其后变动见“截点后变动”）",
            china_time(at)
        ),
        (View::Live, None) => format!("{street} 日表 {date}"),
    }
}

fn text(report: &TableReport) -> String {
    sheet(report).text(report.view == View::Live && report.snapshot_at.is_some())
}

/// The table laid out for CSV and text.
fn sheet(report: &TableReport) -> Sheet<'_> {
    let table = &report.table;
    Sheet {
        title: title(report),
        keys: &COLUMNS,
        rows: table
            .compounds
            .iter()
            .enumerate()
            .map(|(i, row)| SheetRow {
                code: sheet_code(&row.code, row.member_of.as_deref()),
                name: &row.name,
                values: row.counts.values().to_vec(),
                last_sync: row.last_sync.as_deref(),
                caught_up: row.caught_up,
                source: row.source,
                revisions: report.revisions_of(i),
            })
            .collect(),
        total: table.total.values().to_vec(),
        total_revisions: &report.total_since_cutoff,
    }
}

/// A row's code in CSV and text: `MEMBER_OF/CODE` for a member hub's
/// member in a detailed report.
fn sheet_code<'a>(code: &'a str, member_of: Option<&str>) -> std::borrow::Cow<'a, str> {
    match member_of {
        Some(hub) => format!("{hub}/{code}").into(),
        None => code.into(),
    }
}

/// A report of per-compound figures (the table, the log) as CSV and text
/// lay it out: keys with Chinese headers, one row per compound with its
/// freshness, and the street's total.
struct Sheet<'a> {
    /// The title line of the text form (`日志 2020-02-10`).
    title: String,
    keys: &'a [(&'a str, &'a str)],
    rows: Vec<SheetRow<'a>>,
    total: Vec<u64>,
    total_revisions: &'a [(&'static str, i64)],
}

struct SheetRow<'a> {
    /// The row's code; `MEMBER_OF/CODE` in a detailed report.
    code: std::borrow::Cow<'a, str>,
    name: &'a str,
    values: Vec<u64>,
    last_sync: Option<&'a str>,
    caught_up: bool,
    source: Source,
    /// The keys changed since the cut-off.
    revisions: &'a [(&'static str, i64)],
}

impl Sheet<'_> {
    /// CSV: `compound, name`, the keys, `last_sync, caught_up, source,
    /// since_cutoff`; a final `TOTAL` row.
    fn csv(&self) -> String {
        let mut writer = csv::Writer::from_writer(Vec::new());
        let mut header = vec!["compound", "name"];
        header.extend(self.keys.iter().map(|(key, _)| *key));
        header.extend(["last_sync", "caught_up", "source", "since_cutoff"]);
        writer.write_record(&header).expect("in-memory write");
        for row in &self.rows {
            let mut record = vec![row.code.clone().into_owned(), row.name.to_owned()];
            record.extend(row.values.iter().map(u64::to_string));
            record.extend([
                row.last_sync.unwrap_or("").to_owned(),
                row.caught_up.to_string(),
                row.source.as_str().to_owned(),
                revisions_cell(row.revisions),
            ]);
            writer.write_record(&record).expect("in-memory write");
        }
        let mut total = vec!["TOTAL".to_owned(), "合计".to_owned()];
        total.extend(self.total.iter().map(u64::to_string));
        total.extend([String::new(), String::new(), String::new()]);
        total.push(revisions_cell(self.total_revisions));
        writer.write_record(&total).expect("in-memory write");
        String::from_utf8(writer.into_inner().expect("in-memory flush")).expect("utf-8")
    }

    /// Aligned columns headed in Chinese, CJK characters counted double;
    /// with `revised`, a last column of what changed since the cut-off.
    fn text(&self, revised: bool) -> String {
        let mut header: Vec<String> = vec!["小区".into(), "名称".into()];
        header.extend(self.keys.iter().map(|(_, zh)| (*zh).to_owned()));
        header.push("同步".into());
        if revised {
            header.push("截点后变动".into());
        }
        let mut lines: Vec<Vec<String>> = vec![header];
        for row in &self.rows {
            let mut line = vec![row.code.clone().into_owned(), row.name.to_owned()];
            line.extend(row.values.iter().map(u64::to_string));
            line.push(freshness(row.last_sync, row.caught_up, row.source));
            if revised {
                line.push(revisions_text(self.keys, row.revisions));
            }
            lines.push(line);
        }
        let mut total = vec!["合计".to_owned(), String::new()];
        total.extend(self.total.iter().map(u64::to_string));
        total.push(String::new());
        if revised {
            total.push(revisions_text(self.keys, self.total_revisions));
        }
        lines.push(total);
        align(&self.title, &lines, 2..2 + self.keys.len())
    }
}

/// A row's freshness as the text form shows it.
fn freshness(last_sync: Option<&str>, caught_up: bool, source: Source) -> String {
    match (last_sync, caught_up, source) {
        (None, _, _) => "从未".into(),
        (Some(at), true, _) => format!("{at} ✓"),
        (Some(at), false, Source::Reported) => format!("{at} … (自报)"),
        (Some(at), false, Source::Records | Source::Members) => format!("{at} …"),
    }
}

/// `title`, then `lines` in aligned columns, the columns in `numbers`
/// right-aligned below the header.
fn align(title: &str, lines: &[Vec<String>], numbers: std::ops::Range<usize>) -> String {
    let n = lines[0].len();
    let widths: Vec<usize> = (0..n)
        .map(|i| lines.iter().map(|l| width(&l[i])).max().unwrap_or(0))
        .collect();
    let mut out = format!("{title}\n");
    for (k, line) in lines.iter().enumerate() {
        let cells: Vec<String> = line
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (cell, &w))| {
                if numbers.contains(&i) && k > 0 {
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

/// The daily log as the street office reads it: live, with what changed
/// since that date's cut-off when its snapshot exists, or the snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogReport {
    pub log: DayLog,
    pub view: View,
    /// When the snapshot of the log's date was taken (RFC 3339), if one was.
    pub snapshot_at: Option<String>,
    /// Per row of the live log: the keys changed since the cut-off.
    pub since_cutoff: Vec<Revisions>,
    pub total_since_cutoff: Revisions,
}

impl LogReport {
    /// The live `log`, with no snapshot to compare with.
    pub fn live(log: DayLog) -> LogReport {
        LogReport {
            log,
            view: View::Live,
            snapshot_at: None,
            since_cutoff: Vec::new(),
            total_since_cutoff: Revisions::new(),
        }
    }

    fn revisions_of(&self, i: usize) -> &[(&'static str, i64)] {
        self.since_cutoff.get(i).map_or(&[], Vec::as_slice)
    }
}

#[derive(Serialize)]
struct JsonLogRow<'a> {
    compound: &'a str,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    member_of: Option<&'a str>,
    #[serde(flatten)]
    log: &'a DailyLog,
    last_sync: Option<&'a str>,
    caught_up: bool,
    source: &'static str,
    since_cutoff: JsonRevisions<'a>,
}

#[derive(Serialize)]
struct JsonLog<'a> {
    date: String,
    snapshot_at: Option<&'a str>,
    compounds: Vec<JsonLogRow<'a>>,
    total: &'a DailyLog,
    total_since_cutoff: JsonRevisions<'a>,
    note: Option<&'a str>,
}

/// Renders the street's daily log in `format`.
pub fn render_log(report: &LogReport, format: Format) -> String {
    let log = &report.log;
    let date = log.date.format("%Y-%m-%d").to_string();
    match format {
        Format::Json => {
            let json = JsonLog {
                date,
                snapshot_at: report.snapshot_at.as_deref(),
                compounds: log
                    .compounds
                    .iter()
                    .enumerate()
                    .map(|(i, row)| JsonLogRow {
                        compound: &row.code,
                        name: &row.name,
                        member_of: row.member_of.as_deref(),
                        log: &row.log,
                        last_sync: row.last_sync.as_deref(),
                        caught_up: row.caught_up,
                        source: row.source.as_str(),
                        since_cutoff: JsonRevisions(report.revisions_of(i)),
                    })
                    .collect(),
                total: &log.total,
                total_since_cutoff: JsonRevisions(&report.total_since_cutoff),
                note: log.note.as_deref(),
            };
            let mut out = serde_json::to_string_pretty(&json).expect("log serialises");
            out.push('\n');
            out
        }
        Format::Csv | Format::Text => {
            let title = match (report.view, &report.snapshot_at) {
                (View::Snapshot, Some(at)) => {
                    format!("日志 {date} 例会截点快照（取于 {}）", china_time(at))
                }
                _ => format!("日志 {date}"),
            };
            let sheet = Sheet {
                title,
                keys: &KEYS,
                rows: log
                    .compounds
                    .iter()
                    .enumerate()
                    .map(|(i, row)| SheetRow {
                        code: sheet_code(&row.code, row.member_of.as_deref()),
                        name: &row.name,
                        values: row.log.values().to_vec(),
                        last_sync: row.last_sync.as_deref(),
                        caught_up: row.caught_up,
                        source: row.source,
                        revisions: report.revisions_of(i),
                    })
                    .collect(),
                total: log.total.values().to_vec(),
                total_revisions: &report.total_since_cutoff,
            };
            if format == Format::Csv {
                sheet.csv()
            } else {
                let mut out = sheet.text(report.view == View::Live && report.snapshot_at.is_some());
                if let Some(note) = &log.note {
                    out.push_str(&format!("说明: {note}\n"));
                }
                out
            }
        }
    }
}
