//! The pages that read: the daily table (live, beside the meeting's
//! snapshot), its CSV and xlsx, the daily log with the clerk's note, one
//! compound, and the trends.

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use lianfang_proto::log::KEYS;
use lianfang_proto::table::COLUMNS;

use super::{
    Auth, Chrome, Dashboard, bad_csrf, china_date, china_short, internal, not_found, page,
};
use crate::report::{self, Format, LogReport, TableReport};
use crate::store::{CompoundStatus, Source};

/// `?date=YYYY-MM-DD` (default today), `&compound=CODE` for the trends.
#[derive(Debug, Default, serde::Deserialize)]
pub(super) struct DateQuery {
    #[serde(default)]
    date: Option<String>,
    #[serde(default)]
    compound: Option<String>,
    #[serde(default)]
    days: Option<i64>,
}

impl DateQuery {
    /// The date asked for, today when none; a bad one is a 400 page.
    fn date(&self) -> Result<chrono::NaiveDate, Response> {
        match self
            .date
            .as_deref()
            .map(str::trim)
            .filter(|d| !d.is_empty())
        {
            None => Ok(crate::today()),
            Some(d) => chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| {
                (
                    StatusCode::BAD_REQUEST,
                    format!("date {d:?} is not a date in the form YYYY-MM-DD"),
                )
                    .into_response()
            }),
        }
    }
}

/// The groups of the table's columns in the street's form: (group,
/// sub-headers); a group without sub-headers is one column.
pub(super) const TABLE_GROUPS: [(&str, &[&str]); 6] = [
    ("户数", &["合计", "自住", "出租", "空置"]),
    ("人数", &["合计", "外籍"]),
    ("重点地区返沪", &["累计", "今日"]),
    ("非重点地区返沪", &["累计", "今日"]),
    ("返沪未登记", &[]),
    ("隔离", &["居家", "集中", "今日解除"]),
];

/// The groups of the log's columns.
pub(super) const LOG_GROUPS: [(&str, &[&str]); 9] = [
    ("排摸", &["人次", "发现未登记"]),
    ("入沪", &["重点地区", "其他地区"]),
    ("居家隔离测温", &["人数", "应测", "已测", "未测温", "发热"]),
    ("上门服务", &["送餐", "倒垃圾", "代购"]),
    ("口罩预约", &["预约", "已通知", "已领取", "待通知"]),
    ("车辆", &["重点地区", "劝返"]),
    ("消毒", &[]),
    ("12345", &["受理", "办结", "未办结"]),
    ("门岗", &["测温人次", "快递件数"]),
];

/// One header cell of the group row: its label, its span, and whether it
/// covers both header rows.
pub(super) struct GroupHeader {
    pub label: &'static str,
    pub span: usize,
    pub single: bool,
}

pub(super) fn group_headers(
    groups: &[(&'static str, &'static [&'static str])],
) -> Vec<GroupHeader> {
    groups
        .iter()
        .map(|(label, subs)| GroupHeader {
            label,
            span: subs.len().max(1),
            single: subs.is_empty(),
        })
        .collect()
}

pub(super) fn sub_headers(groups: &[(&'static str, &'static [&'static str])]) -> Vec<&'static str> {
    groups
        .iter()
        .flat_map(|(_, subs)| subs.iter().copied())
        .collect()
}

/// One figure of a row, with what the meeting's snapshot held when it
/// changed since.
pub(super) struct Cell {
    pub value: u64,
    /// The snapshot's value and the change, when it changed.
    pub changed: Option<(i64, i64)>,
}

/// One compound's row as a page shows it.
pub(super) struct RowView {
    pub code: String,
    pub name: String,
    pub cells: Vec<Cell>,
    pub last_sync: String,
    pub caught_up: bool,
    pub never: bool,
    pub digests: Option<bool>,
    pub reported: bool,
    /// Not heard from today.
    pub stale: bool,
}

fn cells(values: &[u64], keys: &[(&str, &str)], revisions: &[(&'static str, i64)]) -> Vec<Cell> {
    values
        .iter()
        .zip(keys)
        .map(|(&value, (key, _))| Cell {
            value,
            changed: revisions
                .iter()
                .find(|(k, _)| k == key)
                .map(|&(_, delta)| (i64::try_from(value).unwrap_or(i64::MAX) - delta, delta)),
        })
        .collect()
}

struct Freshness<'a> {
    last_sync: Option<&'a str>,
    caught_up: bool,
    digests: Option<bool>,
    source: Source,
}

fn row_view(
    code: &str,
    name: &str,
    cells: Vec<Cell>,
    f: Freshness<'_>,
    today: chrono::NaiveDate,
) -> RowView {
    RowView {
        code: code.to_owned(),
        name: name.to_owned(),
        cells,
        last_sync: f.last_sync.map(china_short).unwrap_or_default(),
        caught_up: f.caught_up,
        never: f.last_sync.is_none(),
        digests: f.digests,
        reported: f.source == Source::Reported,
        stale: f.last_sync.and_then(china_date) != Some(today),
    }
}

#[derive(Template)]
#[template(path = "table.html")]
struct TablePage {
    chrome: Chrome,
    date: String,
    prev: String,
    next: String,
    is_today: bool,
    snapshot_at: Option<String>,
    cutoff: String,
    groups: Vec<GroupHeader>,
    subs: Vec<&'static str>,
    rows: Vec<RowView>,
    total: Vec<Cell>,
    n_stale: usize,
    n_changed: usize,
}

fn table_page(auth: &Auth, report: &TableReport) -> TablePage {
    let today = crate::today();
    let rows: Vec<RowView> = report
        .table
        .compounds
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let revisions = report.since_cutoff.get(i).map_or(&[][..], Vec::as_slice);
            row_view(
                &row.code,
                &row.name,
                cells(&row.counts.values(), &COLUMNS, revisions),
                Freshness {
                    last_sync: row.last_sync.as_deref(),
                    caught_up: row.caught_up,
                    digests: row.digests_agree,
                    source: row.source,
                },
                today,
            )
        })
        .collect();
    let date = report.table.date;
    TablePage {
        chrome: Chrome::new(
            auth,
            &report.settings.street_name,
            format!("人口信息排摸表 {date}"),
            "table",
        ),
        date: date.format("%Y-%m-%d").to_string(),
        prev: (date - chrono::Duration::days(1))
            .format("%Y-%m-%d")
            .to_string(),
        next: (date + chrono::Duration::days(1))
            .format("%Y-%m-%d")
            .to_string(),
        is_today: date == today,
        snapshot_at: report.snapshot_at.as_deref().map(china_short),
        cutoff: report.settings.cutoff.to_string(),
        groups: group_headers(&TABLE_GROUPS),
        subs: sub_headers(&TABLE_GROUPS),
        n_stale: rows.iter().filter(|r| r.stale).count(),
        n_changed: rows
            .iter()
            .filter(|r| r.cells.iter().any(|c| c.changed.is_some()))
            .count(),
        rows,
        total: cells(
            &report.table.total.values(),
            &COLUMNS,
            &report.total_since_cutoff,
        ),
    }
}

/// `GET /`: today's table.
pub(super) async fn today(state: State<Dashboard>, auth: Auth) -> Response {
    table(state, auth, Query(DateQuery::default())).await
}

/// `GET /table?date=D`.
pub(super) async fn table(
    State(state): State<Dashboard>,
    auth: Auth,
    Query(query): Query<DateQuery>,
) -> Response {
    let date = match query.date() {
        Ok(date) => date,
        Err(response) => return response,
    };
    match state
        .app
        .blocking(move |app| app.table_report(Some(date)))
        .await
    {
        Ok(report) => page(StatusCode::OK, &table_page(&auth, &report)),
        Err(e) => internal(e),
    }
}

fn attachment(content_type: &'static str, filename: String, body: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        body,
    )
        .into_response()
}

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// `GET /table.csv?date=D`: the CLI's CSV.
pub(super) async fn table_csv(
    State(state): State<Dashboard>,
    auth: Auth,
    Query(query): Query<DateQuery>,
) -> Response {
    let date = match query.date() {
        Ok(date) => date,
        Err(response) => return response,
    };
    let user = auth.user.name.clone();
    let result = state
        .app
        .blocking(move |app| {
            let report = app.table_report(Some(date))?;
            app.audit_by(&user, None, "download", &format!("table.csv {date}"))?;
            Ok::<_, crate::store::HubError>(report)
        })
        .await;
    match result {
        Ok(report) => attachment(
            "text/csv; charset=utf-8",
            format!("table-{date}.csv"),
            report::render_report(&report, Format::Csv).into_bytes(),
        ),
        Err(e) => internal(e),
    }
}

/// `GET /table.xlsx?date=D`: the street's own form.
pub(super) async fn table_xlsx(
    State(state): State<Dashboard>,
    auth: Auth,
    Query(query): Query<DateQuery>,
) -> Response {
    let date = match query.date() {
        Ok(date) => date,
        Err(response) => return response,
    };
    let user = auth.user.name.clone();
    let result = state
        .app
        .blocking(move |app| {
            let report = app.table_report(Some(date))?;
            app.audit_by(&user, None, "download", &format!("table.xlsx {date}"))?;
            Ok::<_, crate::store::HubError>(super::xlsx::table(&report))
        })
        .await;
    match result {
        Ok(Ok(bytes)) => attachment(XLSX, format!("table-{date}.xlsx"), bytes),
        Ok(Err(e)) => internal(e),
        Err(e) => internal(e),
    }
}

#[derive(Template)]
#[template(path = "log.html")]
struct LogPage {
    chrome: Chrome,
    date: String,
    prev: String,
    next: String,
    snapshot_at: Option<String>,
    groups: Vec<GroupHeader>,
    subs: Vec<&'static str>,
    rows: Vec<RowView>,
    total: Vec<Cell>,
    note: String,
    saved: bool,
}

fn log_page(auth: &Auth, street: &str, report: &LogReport, saved: bool) -> LogPage {
    let today = crate::today();
    let log = &report.log;
    let rows = log
        .compounds
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let revisions = report.since_cutoff.get(i).map_or(&[][..], Vec::as_slice);
            row_view(
                &row.code,
                &row.name,
                cells(&row.log.values(), &KEYS, revisions),
                Freshness {
                    last_sync: row.last_sync.as_deref(),
                    caught_up: row.caught_up,
                    digests: None,
                    source: row.source,
                },
                today,
            )
        })
        .collect();
    let date = log.date;
    LogPage {
        chrome: Chrome::new(auth, street, format!("日志 {date}"), "log"),
        date: date.format("%Y-%m-%d").to_string(),
        prev: (date - chrono::Duration::days(1))
            .format("%Y-%m-%d")
            .to_string(),
        next: (date + chrono::Duration::days(1))
            .format("%Y-%m-%d")
            .to_string(),
        snapshot_at: report.snapshot_at.as_deref().map(china_short),
        groups: group_headers(&LOG_GROUPS),
        subs: sub_headers(&LOG_GROUPS),
        rows,
        total: cells(&log.total.values(), &KEYS, &report.total_since_cutoff),
        note: log.note.clone().unwrap_or_default(),
        saved,
    }
}

/// `?saved=1` after the note was saved.
#[derive(Debug, Default, serde::Deserialize)]
pub(super) struct LogQuery {
    #[serde(default)]
    date: Option<String>,
    #[serde(default)]
    saved: Option<String>,
}

/// `GET /log?date=D`: the daily log with the clerk's note.
pub(super) async fn log(
    State(state): State<Dashboard>,
    auth: Auth,
    Query(query): Query<LogQuery>,
) -> Response {
    let date = match (DateQuery {
        date: query.date.clone(),
        ..DateQuery::default()
    })
    .date()
    {
        Ok(date) => date,
        Err(response) => return response,
    };
    let result = state
        .app
        .blocking(move |app| Ok::<_, crate::store::HubError>((app.log(Some(date))?, app.config()?)))
        .await;
    match result {
        Ok((report, config)) => page(
            StatusCode::OK,
            &log_page(
                &auth,
                &config.hub.street_name,
                &report,
                query.saved.is_some(),
            ),
        ),
        Err(e) => internal(e),
    }
}

#[derive(Debug, serde::Deserialize)]
pub(super) struct NoteForm {
    #[serde(default)]
    date: String,
    #[serde(default)]
    note: String,
    csrf: Option<String>,
}

/// `POST /log`: saves the clerk's note for the date, 303 back to the log.
pub(super) async fn log_note(
    State(state): State<Dashboard>,
    auth: Auth,
    Form(form): Form<NoteForm>,
) -> Response {
    if !state.csrf_ok(&auth, form.csrf.as_deref()) {
        return bad_csrf();
    }
    let Ok(date) = chrono::NaiveDate::parse_from_str(form.date.trim(), "%Y-%m-%d") else {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            "date: not a date in the form YYYY-MM-DD",
        )
            .into_response();
    };
    let user = auth.user.name.clone();
    let note = form.note;
    let result = state
        .app
        .blocking(move |app| {
            app.set_log_note(date, &note)?;
            app.audit_by(
                &user,
                None,
                "log_note",
                &format!("note for {date}: {} chars", note.chars().count()),
            )
        })
        .await;
    match result {
        Ok(()) => Redirect::to(&format!("/log?date={date}&saved=1")).into_response(),
        Err(e) => internal(e),
    }
}

/// `GET /log.xlsx?date=D`.
pub(super) async fn log_xlsx(
    State(state): State<Dashboard>,
    auth: Auth,
    Query(query): Query<DateQuery>,
) -> Response {
    let date = match query.date() {
        Ok(date) => date,
        Err(response) => return response,
    };
    let user = auth.user.name.clone();
    let result = state
        .app
        .blocking(move |app| {
            let report = app.log(Some(date))?;
            let config = app.config()?;
            app.audit_by(&user, None, "download", &format!("log.xlsx {date}"))?;
            Ok::<_, crate::store::HubError>(super::xlsx::log(&report, &config.hub.street_name))
        })
        .await;
    match result {
        Ok(Ok(bytes)) => attachment(XLSX, format!("log-{date}.xlsx"), bytes),
        Ok(Err(e)) => internal(e),
        Err(e) => internal(e),
    }
}

#[derive(Template)]
#[template(path = "compound.html")]
struct CompoundPage {
    chrome: Chrome,
    status: CompoundStatus,
    last_sync: String,
    date: String,
    table_subs: Vec<(&'static str, u64)>,
    log_subs: Vec<(&'static str, u64)>,
    freshness: Option<RowView>,
    refusal_at: String,
}

/// `GET /compounds/CODE?date=D`: one compound.
pub(super) async fn compound(
    State(state): State<Dashboard>,
    auth: Auth,
    Path(code): Path<String>,
    Query(query): Query<DateQuery>,
) -> Response {
    let date = match query.date() {
        Ok(date) => date,
        Err(response) => return response,
    };
    let lookup = code.clone();
    let result = state
        .app
        .blocking(move |app| {
            let status = app.compound_status(&lookup)?;
            let table = app.table(Some(date))?;
            let log = app.log(Some(date))?;
            let config = app.config()?;
            Ok::<_, crate::store::HubError>((status, table, log, config))
        })
        .await;
    let (status, table, log, config) = match result {
        Ok(found) => found,
        Err(crate::store::HubError::UnknownCompound(_)) => {
            return not_found(&format!("没有小区 {code}"));
        }
        Err(e) => return internal(e),
    };
    let row = table.compounds.iter().find(|r| r.code == code);
    let log_row = log.log.compounds.iter().find(|r| r.code == code);
    let page_view = CompoundPage {
        chrome: Chrome::new(
            &auth,
            &config.hub.street_name,
            format!("{} {}", status.code, status.name),
            "table",
        ),
        last_sync: status
            .last_sync
            .as_deref()
            .map(china_short)
            .unwrap_or_else(|| "从未同步".into()),
        date: date.format("%Y-%m-%d").to_string(),
        table_subs: row
            .map(|r| {
                COLUMNS
                    .iter()
                    .map(|(_, zh)| *zh)
                    .zip(r.counts.values())
                    .collect()
            })
            .unwrap_or_default(),
        log_subs: log_row
            .map(|r| KEYS.iter().map(|(_, zh)| *zh).zip(r.log.values()).collect())
            .unwrap_or_default(),
        freshness: row.map(|r| {
            row_view(
                &r.code,
                &r.name,
                Vec::new(),
                Freshness {
                    last_sync: r.last_sync.as_deref(),
                    caught_up: r.caught_up,
                    digests: r.digests_agree,
                    source: r.source,
                },
                crate::today(),
            )
        }),
        refusal_at: status
            .last_refusal
            .as_ref()
            .map(|r| china_short(&r.at))
            .unwrap_or_default(),
        status,
    };
    page(StatusCode::OK, &page_view)
}

#[derive(Template)]
#[template(path = "trends.html")]
struct TrendsPage {
    chrome: Chrome,
    compounds: Vec<(String, String)>,
    compound: String,
    date: String,
    days: i64,
    charts: Vec<(String, String)>,
    rows: Vec<crate::app::TrendDay>,
}

/// `GET /trends?compound=CODE&date=D&days=N`: per-day charts and figures.
pub(super) async fn trends(
    State(state): State<Dashboard>,
    auth: Auth,
    Query(query): Query<DateQuery>,
) -> Response {
    let to = match query.date() {
        Ok(date) => date,
        Err(response) => return response,
    };
    let days = query
        .days
        .unwrap_or(14)
        .clamp(2, crate::app::MAX_TREND_DAYS);
    let compound = query.compound.clone().filter(|c| !c.trim().is_empty());
    let from = to - chrono::Duration::days(days - 1);
    let which = compound.clone();
    let result = state
        .app
        .blocking(move |app| {
            Ok::<_, crate::store::HubError>((
                app.trends(from, to, which.as_deref())?,
                app.compounds()?,
                app.config()?,
            ))
        })
        .await;
    let (rows, compounds, config) = match result {
        Ok(found) => found,
        Err(crate::store::HubError::UnknownCompound(c)) => {
            return not_found(&format!("没有小区 {c}"));
        }
        Err(e) => return internal(e),
    };
    use super::chart::{Series, line_chart};
    let dates: Vec<String> = rows
        .iter()
        .map(|d| d.date.format("%m-%d").to_string())
        .collect();
    let series = |f: fn(&crate::app::TrendDay) -> u64| rows.iter().map(f).collect::<Vec<u64>>();
    let charts = vec![
        (
            "每日返沪人数".to_owned(),
            line_chart(
                &dates,
                &[
                    Series::new("重点地区", series(|d| d.returned_key), 0),
                    Series::new("非重点地区", series(|d| d.returned_other), 1),
                ],
            ),
        ),
        (
            "每日隔离人数".to_owned(),
            line_chart(
                &dates,
                &[
                    Series::new("居家隔离", series(|d| d.home_isolation), 0),
                    Series::new("集中隔离", series(|d| d.central_isolation), 1),
                ],
            ),
        ),
        (
            "每日发热与未测温人数".to_owned(),
            line_chart(
                &dates,
                &[
                    Series::new("发热", series(|d| d.fevers), 2),
                    Series::new("未测温", series(|d| d.unchecked), 1),
                ],
            ),
        ),
    ];
    let title = match &compound {
        Some(code) => format!("趋势 · {code}"),
        None => "趋势 · 全街道".to_owned(),
    };
    page(
        StatusCode::OK,
        &TrendsPage {
            chrome: Chrome::new(&auth, &config.hub.street_name, title, "trends"),
            compounds,
            compound: compound.unwrap_or_default(),
            date: to.format("%Y-%m-%d").to_string(),
            days,
            charts,
            rows,
        },
    )
}
