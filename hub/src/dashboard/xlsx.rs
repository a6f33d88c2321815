//! The street's own forms as xlsx: one sheet; the title
//! `《{street}人口信息排摸表》` merged across the table, the date, two header
//! rows in Chinese grouping the columns, one row per compound (code in A,
//! name in B, the figures in the order of the report's keys, then
//! freshness), a last row `合计`; headers frozen, widths that fit Chinese.

use rust_xlsxwriter::{Format, FormatAlign, FormatBorder, Workbook, XlsxError};

use super::china_short;
use super::pages::{LOG_GROUPS, TABLE_GROUPS};
use crate::report::{LogReport, TableReport};
use crate::store::Source;

/// The freshness columns after the figures.
const FRESHNESS: [&str; 4] = ["最后同步", "追平", "摘要", "来源"];

/// One compound's row for a sheet.
struct SheetRow<'a> {
    code: &'a str,
    name: &'a str,
    values: Vec<u64>,
    freshness: [String; 4],
}

fn freshness(
    last_sync: Option<&str>,
    caught_up: bool,
    digests: Option<bool>,
    source: Source,
) -> [String; 4] {
    [
        last_sync.map_or_else(|| "从未同步".to_owned(), china_short),
        if caught_up { "已追平" } else { "追赶中" }.to_owned(),
        match digests {
            Some(true) => "一致",
            Some(false) => "不一致",
            None => "未核对",
        }
        .to_owned(),
        match source {
            Source::Records => "记录",
            Source::Reported => "自报",
            Source::Members => "下级汇总",
        }
        .to_owned(),
    ]
}

/// Display width of a text in Excel's character units (CJK counts double).
fn text_width(s: &str) -> f64 {
    s.chars()
        .map(|c| if c.is_ascii() { 1.0 } else { 2.1 })
        .sum()
}

fn sheet(
    title: &str,
    subtitle: &str,
    groups: &[(&'static str, &'static [&'static str])],
    rows: &[SheetRow<'_>],
    total: &[u64],
) -> Result<Vec<u8>, XlsxError> {
    let n_values: usize = groups.iter().map(|(_, subs)| subs.len().max(1)).sum();
    let last_col = u16::try_from(2 + n_values + FRESHNESS.len() - 1).unwrap_or(u16::MAX);
    let mut workbook = Workbook::new();
    let ws = workbook.add_worksheet();
    ws.set_name("Sheet1")?;
    let border = Format::new().set_border(FormatBorder::Thin);
    let title_fmt = Format::new()
        .set_bold()
        .set_font_size(16)
        .set_align(FormatAlign::Center)
        .set_align(FormatAlign::VerticalCenter);
    let head = border
        .clone()
        .set_bold()
        .set_align(FormatAlign::Center)
        .set_align(FormatAlign::VerticalCenter)
        .set_text_wrap()
        .set_background_color("#F3F4F6");
    let text = border.clone();
    let number = border.clone().set_num_format("0");
    let total_text = border.clone().set_bold().set_background_color("#F3F4F6");
    let total_number = total_text.clone().set_num_format("0");

    ws.merge_range(0, 0, 0, last_col, title, &title_fmt)?;
    ws.set_row_height(0, 28)?;
    ws.merge_range(1, 0, 1, last_col, subtitle, &Format::new())?;
    ws.merge_range(2, 0, 3, 0, "编号", &head)?;
    ws.merge_range(2, 1, 3, 1, "小区", &head)?;
    let mut col: u16 = 2;
    for (group, subs) in groups {
        if subs.is_empty() {
            ws.merge_range(2, col, 3, col, group, &head)?;
            col += 1;
            continue;
        }
        let last = col + u16::try_from(subs.len()).unwrap_or(1) - 1;
        if last > col {
            ws.merge_range(2, col, 2, last, group, &head)?;
        } else {
            ws.write_string_with_format(2, col, *group, &head)?;
        }
        for (i, sub) in subs.iter().enumerate() {
            ws.write_string_with_format(3, col + u16::try_from(i).unwrap_or(0), *sub, &head)?;
        }
        col = last + 1;
    }
    let fresh_first = col;
    ws.merge_range(2, col, 2, last_col, "同步情况", &head)?;
    for (i, label) in FRESHNESS.iter().enumerate() {
        ws.write_string_with_format(3, col + u16::try_from(i).unwrap_or(0), *label, &head)?;
    }

    let mut name_width = text_width("小区");
    let mut code_width = text_width("编号");
    for (r, row) in rows.iter().enumerate() {
        let r = u32::try_from(r + 4).unwrap_or(u32::MAX);
        ws.write_string_with_format(r, 0, row.code, &text)?;
        ws.write_string_with_format(r, 1, row.name, &text)?;
        name_width = name_width.max(text_width(row.name));
        code_width = code_width.max(text_width(row.code));
        for (i, value) in row.values.iter().enumerate() {
            ws.write_number_with_format(
                r,
                2 + u16::try_from(i).unwrap_or(0),
                *value as f64,
                &number,
            )?;
        }
        for (i, cell) in row.freshness.iter().enumerate() {
            ws.write_string_with_format(
                r,
                fresh_first + u16::try_from(i).unwrap_or(0),
                cell,
                &text,
            )?;
        }
    }
    let r = u32::try_from(rows.len() + 4).unwrap_or(u32::MAX);
    ws.write_string_with_format(r, 0, "合计", &total_text)?;
    ws.write_string_with_format(r, 1, format!("{} 个小区", rows.len()), &total_text)?;
    for (i, value) in total.iter().enumerate() {
        ws.write_number_with_format(
            r,
            2 + u16::try_from(i).unwrap_or(0),
            *value as f64,
            &total_number,
        )?;
    }
    for i in 0..FRESHNESS.len() {
        ws.write_string_with_format(
            r,
            fresh_first + u16::try_from(i).unwrap_or(0),
            "",
            &total_text,
        )?;
    }

    ws.set_column_width(0, code_width + 2.0)?;
    ws.set_column_width(1, name_width + 2.0)?;
    let subs: Vec<&str> = groups
        .iter()
        .flat_map(|(group, subs)| {
            if subs.is_empty() {
                vec![*group]
            } else {
                subs.to_vec()
            }
        })
        .collect();
    for (i, sub) in subs.iter().enumerate() {
        let widest_value = total.get(i).map_or(1, |v| v.to_string().len()) as f64;
        ws.set_column_width(
            2 + u16::try_from(i).unwrap_or(0),
            text_width(sub).max(widest_value).max(6.0) + 1.5,
        )?;
    }
    for (i, label) in FRESHNESS.iter().enumerate() {
        let width = if i == 0 {
            13.0
        } else {
            text_width(label).max(6.0) + 1.5
        };
        ws.set_column_width(fresh_first + u16::try_from(i).unwrap_or(0), width)?;
    }
    ws.set_freeze_panes(4, 2)?;
    ws.set_landscape();
    ws.set_print_fit_to_pages(1, 0);
    ws.set_repeat_rows(2, 3)?;
    workbook.save_to_buffer()
}

fn street(name: &str) -> &str {
    if name.is_empty() { "街道" } else { name }
}

/// The daily table as the street's form.
///
/// # Errors
/// xlsx writing errors.
pub(super) fn table(report: &TableReport) -> Result<Vec<u8>, XlsxError> {
    let rows: Vec<SheetRow<'_>> = report
        .table
        .compounds
        .iter()
        .map(|row| SheetRow {
            code: &row.code,
            name: &row.name,
            values: row.counts.values().to_vec(),
            freshness: freshness(
                row.last_sync.as_deref(),
                row.caught_up,
                row.digests_agree,
                row.source,
            ),
        })
        .collect();
    let mut subtitle = format!("日期：{}", report.table.date.format("%Y-%m-%d"));
    if let Some(at) = &report.snapshot_at {
        subtitle.push_str(&format!("（例会截点快照 {}；表中为现值）", china_short(at)));
    }
    sheet(
        &format!("《{}人口信息排摸表》", street(&report.settings.street_name)),
        &subtitle,
        &TABLE_GROUPS,
        &rows,
        &report.table.total.values(),
    )
}

/// The daily log as the street's form, its note under the date.
///
/// # Errors
/// xlsx writing errors.
pub(super) fn log(report: &LogReport, street_name: &str) -> Result<Vec<u8>, XlsxError> {
    let rows: Vec<SheetRow<'_>> = report
        .log
        .compounds
        .iter()
        .map(|row| SheetRow {
            code: &row.code,
            name: &row.name,
            values: row.log.values().to_vec(),
            freshness: freshness(row.last_sync.as_deref(), row.caught_up, None, row.source),
        })
        .collect();
    let mut subtitle = format!("日期：{}", report.log.date.format("%Y-%m-%d"));
    if let Some(note) = &report.log.note {
        subtitle.push_str(&format!("　说明：{note}"));
    }
    sheet(
        &format!("《{}工作日志》", street(street_name)),
        &subtitle,
        &LOG_GROUPS,
        &rows,
        &report.log.total.values(),
    )
}
