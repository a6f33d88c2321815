//! The page's routes: each checks the form's `csrf` (POST), calls one
//! application method through [`NodeApp::blocking`], and renders a
//! template or answers 303.

use askama::Template;
use axum::Router;
use axum::extract::{Form, Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use lianfang_proto::Kind;

use super::PageState;
use super::forms::{self, PageKind};
use super::views::*;
use crate::app::{NodeApp, RecordView, Reveal, SaveError};
use crate::directives::{AnswerError, parse_result};

/// Largest upload of ledgers at once.
const MAX_UPLOAD_BYTES: usize = 32 * 1024 * 1024;

/// A form as posted: every field, in order.
type Fields = Vec<(String, String)>;

pub(super) fn router(state: PageState) -> Router {
    let mut router = Router::new()
        .route("/", get(day))
        .route(lianfang_web::STYLE_PATH, get(lianfang_web::style))
        .route("/status.json", get(status))
        .route("/directives", get(directives))
        .route("/directives/{id}/ack", axum::routing::post(ack))
        .route("/tasks", get(tasks))
        .route("/tasks/{id}/{entry}/answer", axum::routing::post(answer))
        .route("/problems", get(problems))
        .route("/problems/{id}/fix", axum::routing::post(fix))
        .route("/masks/queue", get(mask_queue))
        .route("/masks/notify", axum::routing::post(notify))
        .route("/masks/called", get(mask_calls))
        .route("/buildings", get(buildings))
        .route(
            "/import",
            get(import_form)
                .post(import)
                .layer(axum::extract::DefaultBodyLimit::max(MAX_UPLOAD_BYTES)),
        );
    for kind in forms::page_kinds().iter().copied() {
        let base = format!("/{}", kind.slug);
        router = router
            .route(
                &base,
                get(move |s: State<PageState>, q: Query<ListQuery>| list(s, kind, q))
                    .post(move |s: State<PageState>, f: Form<Fields>| create(s, kind, f)),
            )
            .route(
                &format!("{base}/new"),
                get(move |s: State<PageState>, q: Query<Fields>| new_form(s, kind, q)),
            )
            .route(
                &format!("{base}/{{id}}"),
                get(
                    move |s: State<PageState>, id: Path<String>, q: Query<RecordQuery>| {
                        show(s, kind, id, q)
                    },
                )
                .post(
                    move |s: State<PageState>, id: Path<String>, f: Form<Fields>| {
                        update(s, kind, id, f)
                    },
                ),
            )
            .route(
                &format!("{base}/{{id}}/delete"),
                get(move |s: State<PageState>, id: Path<String>| confirm_delete(s, kind, id)).post(
                    move |s: State<PageState>, id: Path<String>, f: Form<Fields>| {
                        delete(s, kind, id, f)
                    },
                ),
            );
    }
    router.fallback(not_found).with_state(state)
}

// ---------------------------------------------------------------- helpers

fn render(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("template error: {e}"),
        )
            .into_response(),
    }
}

fn message(state: &PageState, status: StatusCode, heading: &str, text: String) -> Response {
    render(
        status,
        &MessagePage {
            chrome: state.chrome(heading),
            heading: heading.to_owned(),
            message: text,
        },
    )
}

/// The answer to an error of the store: the page says what failed.
fn failed(state: &PageState, e: impl std::fmt::Display) -> Response {
    message(
        state,
        StatusCode::INTERNAL_SERVER_ERROR,
        "出错了",
        format!("本机数据库出错，未作修改：{e}"),
    )
}

fn field<'f>(fields: &'f Fields, name: &str) -> Option<&'f str> {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The second lock: whether the form's `csrf` field is right (the guard
/// was the first); [`refuse_csrf`] is the answer when it is not.
fn csrf_ok(state: &PageState, fields: &Fields) -> bool {
    state.csrf_ok(field(fields, "csrf"))
}

fn refuse_csrf() -> Response {
    lianfang_web::guard::forbidden(
        "the form's csrf field is missing or wrong (reload the page and try again)",
    )
}

fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

fn enc(s: &str) -> String {
    // Path segments and query values: everything but unreserved characters.
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

async fn not_found(State(state): State<PageState>) -> Response {
    message(
        &state,
        StatusCode::NOT_FOUND,
        "找不到此页",
        "没有这个页面。".into(),
    )
}

// ---------------------------------------------------------------- the day

async fn day(State(state): State<PageState>) -> Response {
    let sync = state.sync_state();
    let read = state
        .app
        .blocking(|app| -> Result<_, crate::app::Error> {
            Ok((
                app.status()?,
                app.table(None)?,
                app.log(None)?,
                app.directives()?,
                app.tasks(Reveal::Masked)?,
                app.problems()?,
                app.unchecked(None)?,
            ))
        })
        .await;
    let (status, table, log, received, tasks, problems, unchecked) = match read {
        Ok(read) => read,
        Err(e) => return failed(&state, e),
    };
    let refusal = sync
        .last_refusal
        .as_ref()
        .map(|r| (r.at.clone(), r.reason.clone()));
    let class = if refusal.is_some() {
        "bad"
    } else if sync.online && status.pending == 0 {
        "ok"
    } else {
        "warn"
    };
    let page = DayPage {
        chrome: state.chrome("今日"),
        date: table.date.format("%Y-%m-%d").to_string(),
        banner: Banner {
            class,
            online: sync.online,
            syncing: sync.syncing,
            pending: status.pending,
            last_success: sync
                .last_success
                .or(status.last_success)
                .map_or_else(|| "从未".into(), |at| local_time(&at)),
            last_error: sync.last_error,
            refusal: refusal.map(|(at, reason)| (local_time(&at), reason)),
        },
        table: lianfang_proto::table::COLUMNS
            .iter()
            .zip(table.counts.values())
            .map(|((key, zh), value)| (*key, *zh, value))
            .collect(),
        log: lianfang_proto::log::KEYS
            .iter()
            .zip(log.log.values())
            .map(|((key, zh), value)| (*key, *zh, value))
            .collect(),
        notices: received
            .into_iter()
            .filter(|d| d.kind == "notice" && d.acked_at.is_none())
            .collect(),
        tasks: tasks.into_iter().filter(|e| e.result.is_none()).collect(),
        problems: problems
            .into_iter()
            .filter(|p| p.fixed_at.is_none())
            .collect(),
        unchecked,
    };
    render(StatusCode::OK, &page)
}

async fn status(State(state): State<PageState>) -> Response {
    match state.app.blocking(|app| app.status()).await {
        Ok(status) => axum::Json(status).into_response(),
        Err(e) => failed(&state, e),
    }
}

// ---------------------------------------------------------------- records

#[derive(Debug, serde::Deserialize)]
pub(super) struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    page: Option<String>,
    #[serde(default)]
    saved: Option<String>,
    #[serde(default)]
    deleted: Option<String>,
}

async fn list(
    State(state): State<PageState>,
    kind: PageKind,
    Query(query): Query<ListQuery>,
) -> Response {
    let page = query
        .page
        .as_deref()
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or(1);
    let q = query.q.clone();
    let listed = state
        .app
        .blocking(move |app| app.list(kind.kind, &q, page))
        .await;
    let listed = match listed {
        Ok(listed) => listed,
        Err(e) => return failed(&state, e),
    };
    let flash = match (&query.saved, &query.deleted) {
        (Some(id), _) => Some(format!("已保存 {id}")),
        (None, Some(id)) => Some(format!("已删除 {id}（删除记录会同步到街道）")),
        (None, None) => None,
    };
    render(
        StatusCode::OK,
        &ListView {
            chrome: state.chrome(kind.title),
            kind,
            headers: forms::columns(kind.kind).iter().map(|c| c.zh).collect(),
            rows: listed.rows,
            q: query.q,
            matching: listed.matching,
            page: listed.page,
            pages: listed.pages,
            flash,
        },
    )
}

/// A record's form filled from `fields` (what was typed).
fn form_of(kind: Kind, editing: bool, fields: &Fields) -> Vec<forms::Field> {
    forms::fields(kind, editing, |name| {
        field(fields, name).unwrap_or_default().to_owned()
    })
}

/// A record's form filled from the record.
fn form_from(view: &RecordView) -> Vec<forms::Field> {
    forms::fields(view.kind, true, |name| view.cell(name).to_owned())
}

async fn new_form(
    State(state): State<PageState>,
    kind: PageKind,
    Query(prefill): Query<Fields>,
) -> Response {
    render(
        StatusCode::OK,
        &RecordPage {
            chrome: state.chrome(kind.title),
            kind,
            id: None,
            masked: None,
            fields: Some(forms::fields(kind.kind, false, |name| {
                field(&prefill, name).map_or_else(|| forms::default_value(name), str::to_owned)
            })),
            error: None,
            flash: None,
            revealed: false,
        },
    )
}

/// The form again with the refusal beside its field: 422, nothing stored.
fn refused(
    state: &PageState,
    kind: PageKind,
    id: Option<String>,
    fields: &Fields,
    e: &SaveError,
) -> Response {
    let mut form = form_of(kind.kind, id.is_some(), fields);
    let mut error = None;
    let mut label = "";
    match form.iter_mut().find(|f| Some(f.name) == e.column()) {
        Some(f) => {
            f.error = Some(e.reason());
            label = f.label;
        }
        None => error = Some(e.reason()),
    }
    render(
        StatusCode::UNPROCESSABLE_ENTITY,
        &RecordPage {
            chrome: state.chrome(kind.title),
            kind,
            id,
            masked: None,
            fields: Some(form),
            error: Some(error.map_or_else(
                || format!("「{label}」填写不对，见该项下方红字；未保存。"),
                |e| format!("未保存：{e}"),
            )),
            flash: None,
            revealed: false,
        },
    )
}

async fn save(state: PageState, kind: PageKind, id: Option<String>, fields: Fields) -> Response {
    if !csrf_ok(&state, &fields) {
        return refuse_csrf();
    }
    let (for_app, id_for_app) = (fields.clone(), id.clone());
    let saved = state
        .app
        .blocking(move |app: &NodeApp| app.save(kind.kind, id_for_app.as_deref(), &for_app))
        .await;
    match saved {
        Ok((id, _)) => see_other(&format!("/{}/{}?saved=1", kind.slug, enc(&id))),
        Err(e @ SaveError::Invalid(_)) => refused(&state, kind, id, &fields, &e),
        Err(e @ SaveError::Missing { .. }) => {
            message(&state, StatusCode::NOT_FOUND, "找不到此记录", e.to_string())
        }
        Err(e) => failed(&state, e),
    }
}

async fn create(
    State(state): State<PageState>,
    kind: PageKind,
    Form(fields): Form<Fields>,
) -> Response {
    save(state, kind, None, fields).await
}

async fn update(
    State(state): State<PageState>,
    kind: PageKind,
    Path(id): Path<String>,
    Form(fields): Form<Fields>,
) -> Response {
    save(state, kind, Some(id), fields).await
}

#[derive(Debug, serde::Deserialize)]
pub(super) struct RecordQuery {
    #[serde(default)]
    reveal: Option<String>,
    #[serde(default)]
    saved: Option<String>,
}

fn labelled(view: &RecordView) -> Vec<(&'static str, String)> {
    forms::columns(view.kind)
        .iter()
        .zip(&view.cells)
        .map(|(c, v)| (c.zh, v.clone()))
        .collect()
}

async fn show(
    State(state): State<PageState>,
    kind: PageKind,
    Path(id): Path<String>,
    Query(query): Query<RecordQuery>,
) -> Response {
    let personal = forms::has_personal_data(kind.kind);
    let revealed = personal && query.reveal.is_some();
    let reveal = Reveal::from_flag(revealed);
    let wanted = id.clone();
    let found = state
        .app
        .blocking(move |app| app.record(kind.kind, &wanted, reveal))
        .await;
    let view = match found {
        Ok(Some(view)) => view,
        Ok(None) => {
            return message(
                &state,
                StatusCode::NOT_FOUND,
                "找不到此记录",
                format!("没有编号为 {id} 的{}（可能已删除）。", kind.title),
            );
        }
        Err(e) => return failed(&state, e),
    };
    let (masked, fields) = if personal && !revealed {
        (Some(labelled(&view)), None)
    } else {
        (None, Some(form_from(&view)))
    };
    render(
        StatusCode::OK,
        &RecordPage {
            chrome: state.chrome(kind.title),
            kind,
            id: Some(id),
            masked,
            fields,
            error: None,
            flash: query.saved.map(|_| "已保存，会自动同步到街道。".to_owned()),
            revealed,
        },
    )
}

async fn delete_page(state: &PageState, kind: PageKind, id: String) -> Response {
    let wanted = id.clone();
    let found = state
        .app
        .blocking(move |app| app.record(kind.kind, &wanted, Reveal::Masked))
        .await;
    match found {
        Ok(Some(view)) => render(
            StatusCode::OK,
            &DeletePage {
                chrome: state.chrome("确认删除"),
                kind,
                id,
                cells: labelled(&view),
            },
        ),
        Ok(None) => message(
            state,
            StatusCode::NOT_FOUND,
            "找不到此记录",
            format!("没有编号为 {id} 的{}（可能已删除）。", kind.title),
        ),
        Err(e) => failed(state, e),
    }
}

async fn confirm_delete(
    State(state): State<PageState>,
    kind: PageKind,
    Path(id): Path<String>,
) -> Response {
    delete_page(&state, kind, id).await
}

async fn delete(
    State(state): State<PageState>,
    kind: PageKind,
    Path(id): Path<String>,
    Form(fields): Form<Fields>,
) -> Response {
    if !csrf_ok(&state, &fields) {
        return refuse_csrf();
    }
    if field(&fields, "confirm") != Some("yes") {
        return delete_page(&state, kind, id).await;
    }
    let ids = vec![id.clone()];
    match state
        .app
        .blocking(move |app| app.delete(kind.kind, &ids))
        .await
    {
        Ok(_) => see_other(&format!("/{}?deleted={}", kind.slug, enc(&id))),
        Err(crate::app::DeleteError::Missing { .. }) => message(
            &state,
            StatusCode::NOT_FOUND,
            "找不到此记录",
            format!("没有编号为 {id} 的{}（可能已删除）。", kind.title),
        ),
        Err(e) => failed(&state, e),
    }
}

// ---------------------------------------------------------------- directives

#[derive(Debug, serde::Deserialize)]
pub(super) struct Flash {
    #[serde(default)]
    done: Option<String>,
}

async fn directives(State(state): State<PageState>, Query(flash): Query<Flash>) -> Response {
    match state.app.blocking(|app| app.directives()).await {
        Ok(received) => render(
            StatusCode::OK,
            &DirectivesPage {
                chrome: state.chrome("街道提示"),
                received,
                flash: flash
                    .done
                    .map(|id| format!("已确认提示 #{id}，下次同步时报给街道。")),
            },
        ),
        Err(e) => failed(&state, e),
    }
}

fn answer_failed(state: &PageState, e: AnswerError) -> Response {
    match e {
        AnswerError::Store(e) => failed(state, e),
        other => message(state, StatusCode::NOT_FOUND, "找不到", other.to_string()),
    }
}

async fn ack(
    State(state): State<PageState>,
    Path(id): Path<String>,
    Form(fields): Form<Fields>,
) -> Response {
    if !csrf_ok(&state, &fields) {
        return refuse_csrf();
    }
    let response = field(&fields, "response")
        .unwrap_or_default()
        .trim()
        .to_owned();
    let acked = id.clone();
    match state
        .app
        .blocking(move |app| app.ack(&acked, &response))
        .await
    {
        Ok(()) => see_other(&format!("/directives?done={}", enc(&id))),
        Err(e) => answer_failed(&state, e),
    }
}

async fn tasks(State(state): State<PageState>, Query(flash): Query<Flash>) -> Response {
    match state.app.blocking(|app| app.tasks(Reveal::Masked)).await {
        Ok(entries) => render(
            StatusCode::OK,
            &TasksPage {
                chrome: state.chrome("核查任务"),
                entries,
                flash: flash
                    .done
                    .map(|e| format!("已回复 {e}，下次同步时报给街道。")),
            },
        ),
        Err(e) => failed(&state, e),
    }
}

async fn answer(
    State(state): State<PageState>,
    Path((task, entry)): Path<(String, String)>,
    Form(fields): Form<Fields>,
) -> Response {
    if !csrf_ok(&state, &fields) {
        return refuse_csrf();
    }
    let typed = field(&fields, "result").unwrap_or_default();
    let Some(result) = parse_result(typed) else {
        return message(
            &state,
            StatusCode::UNPROCESSABLE_ENTITY,
            "核查结果不对",
            format!(
                "result {typed:?} is not one of registered, unregistered, not-living-here, other；未保存。"
            ),
        );
    };
    let note = field(&fields, "note").unwrap_or_default().trim().to_owned();
    let (t, e) = (task.clone(), entry.clone());
    match state
        .app
        .blocking(move |app| app.answer(&t, &e, result, &note))
        .await
    {
        Ok(()) => see_other(&format!("/tasks?done={}", enc(&format!("{task}/{entry}")))),
        Err(e) => answer_failed(&state, e),
    }
}

async fn problems(State(state): State<PageState>, Query(flash): Query<Flash>) -> Response {
    match state.app.blocking(|app| app.problems()).await {
        Ok(problems) => render(
            StatusCode::OK,
            &ProblemsPage {
                chrome: state.chrome("整改问题"),
                problems,
                flash: flash
                    .done
                    .map(|id| format!("已报告问题 #{id} 整改，下次同步时报给街道。")),
            },
        ),
        Err(e) => failed(&state, e),
    }
}

async fn fix(
    State(state): State<PageState>,
    Path(id): Path<String>,
    Form(fields): Form<Fields>,
) -> Response {
    if !csrf_ok(&state, &fields) {
        return refuse_csrf();
    }
    let note = field(&fields, "note").unwrap_or_default().trim().to_owned();
    let fixed = id.clone();
    match state.app.blocking(move |app| app.fix(&fixed, &note)).await {
        Ok(()) => see_other(&format!("/problems?done={}", enc(&id))),
        Err(e) => answer_failed(&state, e),
    }
}

// ---------------------------------------------------------------- masks

async fn queue_page(
    state: &PageState,
    status: StatusCode,
    n: String,
    error: Option<String>,
) -> Response {
    match state.app.blocking(|app| app.mask_queue(None)).await {
        Ok(queue) => render(
            status,
            &MasksPage {
                chrome: state.chrome("口罩队列"),
                queue,
                n,
                error,
            },
        ),
        Err(e) => failed(state, e),
    }
}

async fn mask_queue(State(state): State<PageState>) -> Response {
    queue_page(&state, StatusCode::OK, "10".into(), None).await
}

async fn notify(State(state): State<PageState>, Form(fields): Form<Fields>) -> Response {
    if !csrf_ok(&state, &fields) {
        return refuse_csrf();
    }
    let typed = field(&fields, "n").unwrap_or_default().trim().to_owned();
    let n = match typed.parse::<usize>() {
        Ok(n) if (1..=1000).contains(&n) => n,
        _ => {
            let error = format!("n must be a whole number from 1 to 1000, got {typed:?}");
            return queue_page(&state, StatusCode::UNPROCESSABLE_ENTITY, typed, Some(error)).await;
        }
    };
    match state.app.blocking(move |app| app.notify_masks(n)).await {
        Ok(_) => see_other("/masks/called"),
        Err(e) => failed(&state, e),
    }
}

async fn mask_calls(State(state): State<PageState>) -> Response {
    match state.app.blocking(|app| app.mask_calls(None)).await {
        Ok(calls) => render(
            StatusCode::OK,
            &CalledPage {
                chrome: state.chrome("今日通知名单"),
                date: crate::today().format("%Y-%m-%d").to_string(),
                calls,
            },
        ),
        Err(e) => failed(&state, e),
    }
}

// ---------------------------------------------------------------- import, map

async fn import_form(State(state): State<PageState>, Query(flash): Query<Flash>) -> Response {
    render(
        StatusCode::OK,
        &ImportPage {
            chrome: state.chrome("导入台账"),
            errors: Vec::new(),
            flash: flash
                .done
                .map(|n| format!("导入成功：写入 {n} 条变更，会自动同步到街道。")),
        },
    )
}

async fn import(State(state): State<PageState>, mut multipart: Multipart) -> Response {
    let mut csrf = None;
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    loop {
        let part = match multipart.next_field().await {
            Ok(Some(part)) => part,
            Ok(None) => break,
            Err(e) => {
                return message(&state, StatusCode::BAD_REQUEST, "上传失败", e.to_string());
            }
        };
        let name = part.name().unwrap_or_default().to_owned();
        let file_name = part.file_name().map(str::to_owned);
        let bytes = match part.bytes().await {
            Ok(bytes) => bytes,
            Err(e) => return message(&state, StatusCode::BAD_REQUEST, "上传失败", e.to_string()),
        };
        match (name.as_str(), file_name) {
            ("csrf", _) => csrf = Some(String::from_utf8_lossy(&bytes).into_owned()),
            (_, Some(file)) if !file.is_empty() => files.push((file, bytes.to_vec())),
            _ => {}
        }
    }
    if !state.csrf_ok(csrf.as_deref()) {
        return refuse_csrf();
    }
    let imported = state
        .app
        .blocking(move |app| app.import_uploads(&files))
        .await;
    match imported {
        Ok(summary) => see_other(&format!("/import?done={}", summary.written())),
        Err(crate::import::ImportError::Ledger(e)) => render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &ImportPage {
                chrome: state.chrome("导入台账"),
                errors: vec![ImportRow {
                    row: e.row.map(|r| r.to_string()).unwrap_or_default(),
                    column: e
                        .column
                        .as_deref()
                        .map(|c| column_label(e.kind, c))
                        .unwrap_or_default(),
                    file: e.file,
                    sheet: e.sheet.unwrap_or_default(),
                    reason: e.reason,
                }],
                flash: None,
            },
        ),
        Err(crate::import::ImportError::NoFiles) => render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &ImportPage {
                chrome: state.chrome("导入台账"),
                errors: vec![ImportRow {
                    file: String::new(),
                    sheet: String::new(),
                    row: String::new(),
                    column: String::new(),
                    reason: "请选择至少一个台账文件".into(),
                }],
                flash: None,
            },
        ),
        Err(e) => failed(&state, e),
    }
}

/// `证件号码 (id_number)` for a column of `kind`'s ledger.
fn column_label(kind: Option<Kind>, en: &str) -> String {
    kind.and_then(|k| forms::columns(k).iter().find(|c| c.en == en))
        .map_or_else(|| en.to_owned(), |c| format!("{} ({})", c.zh, c.en))
}

async fn buildings(State(state): State<PageState>) -> Response {
    match state.app.blocking(|app| app.buildings(None)).await {
        Ok(buildings) => render(
            StatusCode::OK,
            &BuildingsPage {
                chrome: state.chrome("防疫工作图"),
                date: crate::today().format("%Y-%m-%d").to_string(),
                buildings,
            },
        ),
        Err(e) => failed(&state, e),
    }
}
