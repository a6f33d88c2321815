//! The pages that send: notices (and the matrix of who has them), tasks
//! (verification lists, typed or uploaded as CSV), problems to rectify, and
//! the leaders' inspections, whose failed items become problems.
//!
//! Every POST checks the session's `csrf` field first, then the fields;
//! a wrong field answers 422 with the form as typed and the field named;
//! success is written to the audit log with the user's name and answers
//! 303 to the page that shows it.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Form, Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use lianfang_proto::pb;

use super::{Auth, Chrome, Dashboard, bad_csrf, china_short, internal, not_found, page};
use crate::app::{self, CHECKLIST, HubApp, Inspection, Reveal, checklist_label};
use crate::directives::{DirectiveStatus, ProblemStatus, TaskEntryStatus};
use crate::store::{HubError, InspectionItem, StoredInspection};

/// A form's wrong fields: (field name, message).
#[derive(Debug, Clone, Default)]
pub(super) struct Errors(Vec<(&'static str, String)>);

impl Errors {
    fn add(&mut self, field: &'static str, message: impl Into<String>) {
        self.0.push((field, message.into()));
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The message for `field`, if it is wrong.
    pub(super) fn of(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
    }

    /// The class of the field's `div`: `field` or `field error`.
    pub(super) fn class(&self, field: &str) -> &'static str {
        if self.of(field).is_some() {
            "field error"
        } else {
            "field"
        }
    }
}

/// `(code, name)` of every compound, for the forms' choices.
async fn compounds(state: &Dashboard) -> Result<Vec<(String, String)>, Response> {
    state
        .app
        .blocking(HubApp::compounds)
        .await
        .map_err(internal)
}

async fn street(state: &Dashboard) -> String {
    super::street_name(state).await
}

// ----- notices -----

#[derive(Debug, Default, Clone, serde::Deserialize)]
pub(super) struct NoticeForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    priority: String,
    #[serde(default)]
    due: String,
    csrf: Option<String>,
}

/// A notice with its counts, for the list.
pub(super) struct NoticeLine {
    id: String,
    title: String,
    sent: String,
    tally: app::Tally,
}

#[derive(Template)]
#[template(path = "notices.html")]
struct NoticesPage {
    chrome: Chrome,
    notices: Vec<NoticeLine>,
    form: NoticeForm,
    errors: Errors,
    compounds: Vec<(String, String)>,
}

async fn notices_page(
    state: &Dashboard,
    auth: &Auth,
    form: NoticeForm,
    errors: Errors,
) -> Response {
    let all = match state.app.blocking(HubApp::directives).await {
        Ok(all) => all,
        Err(e) => return internal(e),
    };
    let compounds = match compounds(state).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let notices = all
        .iter()
        .rev()
        .filter(|d| d.kind == "notice")
        .map(|d| NoticeLine {
            id: d.id.clone(),
            title: d.title.clone(),
            sent: china_short(&d.created_at),
            tally: app::tally(d),
        })
        .collect();
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    page(
        status,
        &NoticesPage {
            chrome: Chrome::new(auth, &street(state).await, "提示", "notices"),
            notices,
            form,
            errors,
            compounds,
        },
    )
}

/// `GET /notices`.
pub(super) async fn notices(State(state): State<Dashboard>, auth: Auth) -> Response {
    let form = NoticeForm {
        priority: "normal".into(),
        ..NoticeForm::default()
    };
    notices_page(&state, &auth, form, Errors::default()).await
}

/// The codes of a `to` field (comma-separated; empty: every compound).
fn codes(to: &str) -> Vec<String> {
    to.split([',', '，', ' ', '、'])
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `POST /notices`: sends, 303 to `/notices/ID`.
pub(super) async fn send_notice(
    State(state): State<Dashboard>,
    auth: Auth,
    Form(form): Form<NoticeForm>,
) -> Response {
    if !state.csrf_ok(&auth, form.csrf.as_deref()) {
        return bad_csrf();
    }
    let known = match compounds(&state).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let mut errors = Errors::default();
    if form.title.trim().is_empty() {
        errors.add("title", "请填写标题");
    }
    if form.body.trim().is_empty() {
        errors.add("body", "请填写内容");
    }
    let to = codes(&form.to);
    let unknown: Vec<&str> = to
        .iter()
        .filter(|c| !known.iter().any(|(k, _)| k == *c))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        errors.add("to", format!("没有这些小区：{}", unknown.join("、")));
    }
    let priority = match form.priority.as_str() {
        "" | "normal" => pb::Priority::Normal,
        "high" => pb::Priority::High,
        _ => {
            errors.add("priority", "请选择“普通”或“紧急”");
            pb::Priority::Normal
        }
    };
    if !errors.is_empty() {
        return notices_page(&state, &auth, form, errors).await;
    }
    let notice = pb::Notice {
        title: form.title.trim().to_owned(),
        body: form.body.trim().to_owned(),
        priority: priority as i32,
        due: form.due.trim().to_owned(),
    };
    let user = auth.user.name.clone();
    let result = state
        .app
        .blocking(move |app| {
            let targets = (!to.is_empty()).then_some(to);
            let id = app.send_notice(notice.clone(), targets.as_deref())?;
            let detail = format!(
                "notice {id} {:?} to {}",
                notice.title,
                targets.map_or_else(|| "every compound".to_owned(), |t| t.join(","))
            );
            app.audit_by(&user, None, "notice", &detail)?;
            Ok::<_, HubError>(id)
        })
        .await;
    match result {
        Ok(id) => Redirect::to(&format!("/notices/{id}")).into_response(),
        Err(HubError::InvalidDirective(message)) => {
            let mut errors = Errors::default();
            errors.add("to", message);
            notices_page(&state, &auth, form, errors).await
        }
        Err(e) => internal(e),
    }
}

/// One row of the matrix.
pub(super) struct MatrixRow {
    code: String,
    name: String,
    delivered: Option<String>,
    acked: Option<String>,
    response: String,
}

#[derive(Template)]
#[template(path = "notice.html")]
struct NoticePage {
    chrome: Chrome,
    status: DirectiveStatus,
    sent: String,
    tally: app::Tally,
    rows: Vec<MatrixRow>,
    waiting: Vec<String>,
}

/// `GET /notices/ID`: compounds × (delivered, acknowledged, response),
/// reloading itself every 15 s while some have not acknowledged.
pub(super) async fn notice(
    State(state): State<Dashboard>,
    auth: Auth,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return not_found(&format!("没有提示 {id}"));
    };
    let result = state
        .app
        .blocking(move |app| Ok::<_, HubError>((app.directive_status(id)?, app.compounds()?)))
        .await;
    let (status, names) = match result {
        Ok(found) => found,
        Err(HubError::UnknownDirective(_)) => return not_found(&format!("没有提示 {id}")),
        Err(e) => return internal(e),
    };
    let names: HashMap<String, String> = names.into_iter().collect();
    let rows = status
        .targets
        .iter()
        .map(|t| MatrixRow {
            name: names.get(&t.compound).cloned().unwrap_or_default(),
            code: t.compound.clone(),
            delivered: t.delivered_at.as_deref().map(china_short),
            // A member hub (a street at its district) does not acknowledge:
            // its compounds do, and it reports how many.
            acked: match &t.members {
                Some(m) if m.acknowledged > 0 => {
                    Some(format!("{}/{} 个小区已确认", m.acknowledged, m.compounds))
                }
                Some(_) => None,
                None => t.acked_at.as_deref().map(china_short),
            },
            response: match &t.members {
                Some(m) => m
                    .responses
                    .iter()
                    .filter(|r| !r.response.is_empty())
                    .map(|r| format!("{}：{}", r.compound, r.response))
                    .collect::<Vec<_>>()
                    .join("；"),
                None => t.response.clone().unwrap_or_default(),
            },
        })
        .collect();
    let waiting = app::not_acknowledged(&status)
        .into_iter()
        .map(str::to_owned)
        .collect();
    page(
        StatusCode::OK,
        &NoticePage {
            chrome: Chrome::new(
                &auth,
                &street(&state).await,
                format!("提示 #{} {}", status.id, status.title),
                "notices",
            ),
            sent: china_short(&status.created_at),
            tally: app::tally(&status),
            rows,
            waiting,
            status,
        },
    )
}

// ----- tasks -----

#[derive(Debug, Default, Clone)]
pub(super) struct TaskForm {
    to: String,
    title: String,
    entries: String,
}

pub(super) struct TaskLine {
    id: String,
    title: String,
    compound: String,
    sent: String,
    tally: app::Tally,
}

#[derive(Template)]
#[template(path = "tasks.html")]
struct TasksPage {
    chrome: Chrome,
    tasks: Vec<TaskLine>,
    form: TaskForm,
    errors: Errors,
    compounds: Vec<(String, String)>,
}

async fn tasks_page(state: &Dashboard, auth: &Auth, form: TaskForm, errors: Errors) -> Response {
    let all = match state.app.blocking(HubApp::directives).await {
        Ok(all) => all,
        Err(e) => return internal(e),
    };
    let compounds = match compounds(state).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let tasks = all
        .iter()
        .rev()
        .filter(|d| d.kind == "task")
        .map(|d| TaskLine {
            id: d.id.clone(),
            title: d.title.clone(),
            compound: d
                .targets
                .first()
                .map(|t| t.compound.clone())
                .unwrap_or_default(),
            sent: china_short(&d.created_at),
            tally: app::tally(d),
        })
        .collect();
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    page(
        status,
        &TasksPage {
            chrome: Chrome::new(auth, &street(state).await, "核查名单", "tasks"),
            tasks,
            form,
            errors,
            compounds,
        },
    )
}

/// `GET /tasks`.
pub(super) async fn tasks(State(state): State<Dashboard>, auth: Auth) -> Response {
    let form = TaskForm {
        title: "排摸核查".into(),
        ..TaskForm::default()
    };
    tasks_page(&state, &auth, form, Errors::default()).await
}

/// Most bytes of an uploaded list.
const MAX_UPLOAD: usize = 2 * 1024 * 1024;

/// `POST /tasks` (multipart: `to`, `title`, `entries` one per line
/// `姓名|手机|地址|原因`, `file` a CSV, `csrf`): sends, 303 to `/tasks/ID`.
pub(super) async fn send_task(
    State(state): State<Dashboard>,
    auth: Auth,
    mut multipart: Multipart,
) -> Response {
    let mut fields: HashMap<String, String> = HashMap::new();
    let mut upload: Option<(String, Vec<u8>)> = None;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
        };
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" {
            let file_name = field.file_name().unwrap_or("upload.csv").to_owned();
            match field.bytes().await {
                Ok(bytes) if bytes.len() > MAX_UPLOAD => {
                    return (StatusCode::PAYLOAD_TOO_LARGE, "file larger than 2 MiB")
                        .into_response();
                }
                Ok(bytes) if !bytes.is_empty() => upload = Some((file_name, bytes.to_vec())),
                Ok(_) => {}
                Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
            }
        } else {
            match field.text().await {
                Ok(text) => {
                    fields.insert(name, text);
                }
                Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
            }
        }
    }
    if !state.csrf_ok(&auth, fields.get("csrf").map(String::as_str)) {
        return bad_csrf();
    }
    let form = TaskForm {
        to: fields.remove("to").unwrap_or_default().trim().to_owned(),
        title: fields.remove("title").unwrap_or_default().trim().to_owned(),
        entries: fields.remove("entries").unwrap_or_default(),
    };
    let mut errors = Errors::default();
    if form.to.is_empty() {
        errors.add("to", "请选择小区");
    }
    if form.title.is_empty() {
        errors.add("title", "请填写标题");
    }
    let lines: Vec<String> = form
        .entries
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    let entries = match app::task_entries_uploaded(
        &lines,
        upload.as_ref().map(|(n, b)| (n.as_str(), b.as_slice())),
    ) {
        Ok(entries) => entries,
        Err(e) => {
            let field = if upload.is_some() && !matches!(e, app::TaskListError::Entry { .. }) {
                "file"
            } else {
                "entries"
            };
            errors.add(field, e.to_string());
            Vec::new()
        }
    };
    if !errors.is_empty() {
        return tasks_page(&state, &auth, form, errors).await;
    }
    let user = auth.user.name.clone();
    let (to, title) = (form.to.clone(), form.title.clone());
    let result = state
        .app
        .blocking(move |app| {
            let n = entries.len();
            let id = app.send_task(&to, title.clone(), entries)?;
            app.audit_by(
                &user,
                Some(&to),
                "task",
                &format!("task {id} {title:?}: {n} entries"),
            )?;
            Ok::<_, HubError>(id)
        })
        .await;
    match result {
        Ok(id) => Redirect::to(&format!("/tasks/{id}")).into_response(),
        Err(HubError::UnknownCompound(c)) => {
            let mut errors = Errors::default();
            errors.add("to", format!("没有小区 {c}"));
            tasks_page(&state, &auth, form, errors).await
        }
        Err(e) => internal(e),
    }
}

#[derive(Template)]
#[template(path = "task.html")]
struct TaskPage {
    chrome: Chrome,
    id: i64,
    /// Each entry with its answer in Chinese ("" while outstanding).
    entries: Vec<(TaskEntryStatus, String)>,
    n_answered: usize,
}

/// `GET /tasks/ID`: the entries with the compound's answers (phones masked).
pub(super) async fn task(
    State(state): State<Dashboard>,
    auth: Auth,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return not_found(&format!("没有核查名单 {id}"));
    };
    let result = state
        .app
        .blocking(move |app| app.task_status(id, Reveal::Masked))
        .await;
    let entries = match result {
        Ok(entries) => entries,
        Err(HubError::UnknownDirective(_) | HubError::WrongDirectiveKind { .. }) => {
            return not_found(&format!("没有核查名单 {id}"));
        }
        Err(e) => return internal(e),
    };
    page(
        StatusCode::OK,
        &TaskPage {
            chrome: Chrome::new(
                &auth,
                &street(&state).await,
                format!("核查名单 #{id}"),
                "tasks",
            ),
            id,
            n_answered: entries.iter().filter(|e| e.result.is_some()).count(),
            entries: entries
                .into_iter()
                .map(|e| {
                    let label = e
                        .result
                        .as_deref()
                        .map(result_label)
                        .unwrap_or("")
                        .to_owned();
                    (e, label)
                })
                .collect(),
        },
    )
}

/// A task answer in Chinese.
pub(super) fn result_label(result: &str) -> &str {
    match result {
        "registered" => "已登记",
        "unregistered" => "未登记",
        "not_living_here" => "不在住",
        "other" => "其他",
        other => other,
    }
}

// ----- problems -----

#[derive(Debug, Default, Clone, serde::Deserialize)]
pub(super) struct ProblemForm {
    #[serde(default)]
    compound: String,
    #[serde(default)]
    what: String,
    #[serde(default)]
    location: String,
    #[serde(default)]
    found: String,
    #[serde(default)]
    date: String,
    csrf: Option<String>,
}

/// A problem with its age in days.
pub(super) struct ProblemLine {
    p: ProblemStatus,
    age: i64,
}

#[derive(Template)]
#[template(path = "problems.html")]
struct ProblemsPage {
    chrome: Chrome,
    problems: Vec<ProblemLine>,
    n_open: usize,
    n_overdue: usize,
    form: ProblemForm,
    errors: Errors,
    compounds: Vec<(String, String)>,
}

async fn problems_page(
    state: &Dashboard,
    auth: &Auth,
    form: ProblemForm,
    errors: Errors,
) -> Response {
    let all = match state.app.blocking(|app| app.problems(None, false)).await {
        Ok(all) => all,
        Err(e) => return internal(e),
    };
    let compounds = match compounds(state).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let today = crate::today();
    let mut problems: Vec<ProblemLine> = all
        .into_iter()
        .map(|p| ProblemLine {
            age: chrono::NaiveDate::parse_from_str(&p.found_on, "%Y-%m-%d")
                .map_or(0, |d| (today - d).num_days()),
            p,
        })
        .collect();
    // Open ones first, the oldest on top.
    problems.sort_by_key(|l| (!l.p.open, -l.age));
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    page(
        status,
        &ProblemsPage {
            chrome: Chrome::new(auth, &street(state).await, "整改问题", "problems"),
            n_open: problems.iter().filter(|l| l.p.open).count(),
            n_overdue: problems.iter().filter(|l| l.p.overdue).count(),
            problems,
            form,
            errors,
            compounds,
        },
    )
}

/// `GET /problems`.
pub(super) async fn problems(State(state): State<Dashboard>, auth: Auth) -> Response {
    let form = ProblemForm {
        found: "inspection".into(),
        date: crate::today().format("%Y-%m-%d").to_string(),
        ..ProblemForm::default()
    };
    problems_page(&state, &auth, form, Errors::default()).await
}

/// `POST /problems`: records and sends down, 303 to `/problems`.
pub(super) async fn add_problem(
    State(state): State<Dashboard>,
    auth: Auth,
    Form(form): Form<ProblemForm>,
) -> Response {
    if !state.csrf_ok(&auth, form.csrf.as_deref()) {
        return bad_csrf();
    }
    let mut errors = Errors::default();
    if form.compound.trim().is_empty() {
        errors.add("compound", "请选择小区");
    }
    if form.what.trim().is_empty() {
        errors.add("what", "请写明问题");
    }
    let found_at = match form.found.as_str() {
        "" | "inspection" => pb::FoundAt::Inspection,
        "meeting" => pb::FoundAt::Meeting,
        _ => {
            errors.add("found", "请选择“巡察”或“例会”");
            pb::FoundAt::Inspection
        }
    };
    let date = if form.date.trim().is_empty() {
        None
    } else {
        match chrono::NaiveDate::parse_from_str(form.date.trim(), "%Y-%m-%d") {
            Ok(d) => Some(d),
            Err(_) => {
                errors.add("date", "日期格式应为 YYYY-MM-DD");
                None
            }
        }
    };
    if !errors.is_empty() {
        return problems_page(&state, &auth, form, errors).await;
    }
    let user = auth.user.name.clone();
    let (compound, what, location) = (
        form.compound.trim().to_owned(),
        form.what.trim().to_owned(),
        form.location.trim().to_owned(),
    );
    let result = state
        .app
        .blocking(move |app| {
            let id = app.add_problem(&compound, what.clone(), location, found_at, date)?;
            app.audit_by(
                &user,
                Some(&compound),
                "problem",
                &format!("problem {id}: {what}"),
            )?;
            Ok::<_, HubError>(id)
        })
        .await;
    match result {
        Ok(_) => Redirect::to("/problems").into_response(),
        Err(HubError::UnknownCompound(c)) => {
            let mut errors = Errors::default();
            errors.add("compound", format!("没有小区 {c}"));
            problems_page(&state, &auth, form, errors).await
        }
        Err(HubError::InvalidDirective(m)) => {
            let mut errors = Errors::default();
            errors.add("what", m);
            problems_page(&state, &auth, form, errors).await
        }
        Err(e) => internal(e),
    }
}

// ----- inspections -----

/// One checklist item as the form shows it.
#[derive(Debug, Clone, Default)]
pub(super) struct ItemView {
    key: &'static str,
    label: &'static str,
    /// "pass", "fail" or "" (not chosen yet).
    choice: String,
    note: String,
}

#[derive(Debug, Clone, Default)]
pub(super) struct InspectionForm {
    compound: String,
    date: String,
    inspector: String,
    items: Vec<ItemView>,
}

pub(super) struct InspectionLine {
    i: StoredInspection,
    failed: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "inspections.html")]
struct InspectionsPage {
    chrome: Chrome,
    inspections: Vec<InspectionLine>,
    form: InspectionForm,
    errors: Errors,
    compounds: Vec<(String, String)>,
    saved: Option<String>,
}

fn blank_items() -> Vec<ItemView> {
    CHECKLIST
        .iter()
        .map(|(key, label)| ItemView {
            key,
            label,
            choice: "pass".into(),
            note: String::new(),
        })
        .collect()
}

async fn inspections_page(
    state: &Dashboard,
    auth: &Auth,
    form: InspectionForm,
    errors: Errors,
    saved: Option<String>,
) -> Response {
    let all = match state.app.blocking(|app| app.inspections(None)).await {
        Ok(all) => all,
        Err(e) => return internal(e),
    };
    let compounds = match compounds(state).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let inspections = all
        .into_iter()
        .map(|i| InspectionLine {
            failed: i
                .items
                .iter()
                .filter(|item: &&InspectionItem| !item.passed)
                .map(|item| (checklist_label(&item.key).to_owned(), item.note.clone()))
                .collect(),
            i,
        })
        .collect();
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    page(
        status,
        &InspectionsPage {
            chrome: Chrome::new(auth, &street(state).await, "巡察", "inspections"),
            inspections,
            form,
            errors,
            compounds,
            saved,
        },
    )
}

#[derive(Debug, Default, serde::Deserialize)]
pub(super) struct SavedQuery {
    #[serde(default)]
    saved: Option<String>,
}

/// `GET /inspections`.
pub(super) async fn inspections(
    State(state): State<Dashboard>,
    auth: Auth,
    Query(query): Query<SavedQuery>,
) -> Response {
    let form = InspectionForm {
        date: crate::today().format("%Y-%m-%d").to_string(),
        items: blank_items(),
        ..InspectionForm::default()
    };
    inspections_page(&state, &auth, form, Errors::default(), query.saved).await
}

/// `POST /inspections` (`compound`, `date`, `inspector`, per item
/// `KEY` = pass|fail and `KEY_note`, `csrf`): records, sends a problem per
/// failed item, 303 to `/inspections?saved=ID`.
pub(super) async fn add_inspection(
    State(state): State<Dashboard>,
    auth: Auth,
    Form(fields): Form<HashMap<String, String>>,
) -> Response {
    if !state.csrf_ok(&auth, fields.get("csrf").map(String::as_str)) {
        return bad_csrf();
    }
    let get = |k: &str| fields.get(k).map_or("", |v| v.trim()).to_owned();
    let mut form = InspectionForm {
        compound: get("compound"),
        date: get("date"),
        inspector: get("inspector"),
        items: blank_items(),
    };
    let mut errors = Errors::default();
    if form.compound.is_empty() {
        errors.add("compound", "请选择小区");
    }
    if form.inspector.is_empty() {
        errors.add("inspector", "请填写巡察领导");
    }
    let date = chrono::NaiveDate::parse_from_str(&form.date, "%Y-%m-%d");
    if date.is_err() {
        errors.add("date", "日期格式应为 YYYY-MM-DD");
    }
    let mut items = Vec::new();
    for item in &mut form.items {
        item.choice = get(item.key);
        item.note = get(&format!("{}_note", item.key));
        match item.choice.as_str() {
            "pass" | "fail" => items.push(InspectionItem {
                key: item.key.to_owned(),
                passed: item.choice == "pass",
                note: item.note.clone(),
            }),
            _ => errors.add(item.key, "请选择“通过”或“未通过”"),
        }
        if item.choice == "fail" && item.note.is_empty() {
            errors.add(item.key, "未通过的项目请写明问题");
        }
    }
    if !errors.is_empty() {
        return inspections_page(&state, &auth, form, errors, None).await;
    }
    let inspection = Inspection {
        compound: form.compound.clone(),
        date: date.unwrap_or_else(|_| crate::today()),
        inspector: form.inspector.clone(),
        items,
    };
    let user = auth.user.name.clone();
    let result = state
        .app
        .blocking(move |app| app.add_inspection(inspection, Some(&user)))
        .await;
    match result {
        Ok(recorded) => {
            Redirect::to(&format!("/inspections?saved={}", recorded.id)).into_response()
        }
        Err(HubError::UnknownCompound(c)) => {
            let mut errors = Errors::default();
            errors.add("compound", format!("没有小区 {c}"));
            inspections_page(&state, &auth, form, errors, None).await
        }
        Err(e) => internal(e),
    }
}
