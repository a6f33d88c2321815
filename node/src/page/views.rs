//! The page's templates (`node/templates/`), checked at compile time and
//! escaped by default (askama): one struct per page, each with the
//! [`Chrome`] every page shares.

use askama::Template;

use super::forms::{Field, PageKind};
use crate::app::{BuildingDay, QueueEntry, RecordView, Unchecked};
use crate::directives::{ProblemItem, Received, TaskEntry};

/// What every page shows around its content.
#[derive(Debug, Clone)]
pub(crate) struct Chrome {
    pub(crate) title: String,
    /// The compound's code.
    pub(crate) compound: String,
    /// The hidden `csrf` field's value.
    pub(crate) csrf: String,
    pub(crate) kinds: &'static [PageKind],
}

/// The sync state as the banner shows it.
#[derive(Debug, Clone)]
pub(crate) struct Banner {
    /// `ok`, `warn` or `bad`.
    pub(crate) class: &'static str,
    pub(crate) online: bool,
    pub(crate) syncing: bool,
    pub(crate) pending: u64,
    pub(crate) last_success: String,
    pub(crate) last_error: Option<String>,
    pub(crate) refusal: Option<(String, String)>,
}

#[derive(Template)]
#[template(path = "day.html")]
pub(crate) struct DayPage {
    pub(crate) chrome: Chrome,
    pub(crate) date: String,
    pub(crate) banner: Banner,
    /// (key, 中文, value) of the table.
    pub(crate) table: Vec<(&'static str, &'static str, u64)>,
    /// (key, 中文, value) of the log.
    pub(crate) log: Vec<(&'static str, &'static str, u64)>,
    pub(crate) notices: Vec<Received>,
    pub(crate) tasks: Vec<TaskEntry>,
    pub(crate) problems: Vec<ProblemItem>,
    pub(crate) unchecked: Vec<Unchecked>,
}

#[derive(Template)]
#[template(path = "list.html")]
pub(crate) struct ListView {
    pub(crate) chrome: Chrome,
    pub(crate) kind: PageKind,
    /// Column headers (中文).
    pub(crate) headers: Vec<&'static str>,
    pub(crate) rows: Vec<RecordView>,
    pub(crate) q: String,
    pub(crate) matching: usize,
    pub(crate) page: usize,
    pub(crate) pages: usize,
    pub(crate) flash: Option<String>,
}

#[derive(Template)]
#[template(path = "record.html")]
pub(crate) struct RecordPage {
    pub(crate) chrome: Chrome,
    pub(crate) kind: PageKind,
    /// The record's id; `None` for a new one.
    pub(crate) id: Option<String>,
    /// The record as stored, masked (its edit form needs a reveal).
    pub(crate) masked: Option<Vec<(&'static str, String)>>,
    /// The form; `None` while the record's personal data is masked.
    pub(crate) fields: Option<Vec<Field>>,
    /// An error of the form that names no field.
    pub(crate) error: Option<String>,
    pub(crate) flash: Option<String>,
    pub(crate) revealed: bool,
}

#[derive(Template)]
#[template(path = "delete.html")]
pub(crate) struct DeletePage {
    pub(crate) chrome: Chrome,
    pub(crate) kind: PageKind,
    pub(crate) id: String,
    /// (中文, value) of the record, masked.
    pub(crate) cells: Vec<(&'static str, String)>,
}

#[derive(Template)]
#[template(path = "directives.html")]
pub(crate) struct DirectivesPage {
    pub(crate) chrome: Chrome,
    pub(crate) received: Vec<Received>,
    pub(crate) flash: Option<String>,
}

#[derive(Template)]
#[template(path = "tasks.html")]
pub(crate) struct TasksPage {
    pub(crate) chrome: Chrome,
    pub(crate) entries: Vec<TaskEntry>,
    pub(crate) flash: Option<String>,
}

#[derive(Template)]
#[template(path = "problems.html")]
pub(crate) struct ProblemsPage {
    pub(crate) chrome: Chrome,
    pub(crate) problems: Vec<ProblemItem>,
    pub(crate) flash: Option<String>,
}

#[derive(Template)]
#[template(path = "masks.html")]
pub(crate) struct MasksPage {
    pub(crate) chrome: Chrome,
    pub(crate) queue: Vec<QueueEntry>,
    pub(crate) n: String,
    pub(crate) error: Option<String>,
}

#[derive(Template)]
#[template(path = "called.html")]
pub(crate) struct CalledPage {
    pub(crate) chrome: Chrome,
    pub(crate) date: String,
    pub(crate) calls: Vec<QueueEntry>,
}

/// One row of an import's errors.
#[derive(Debug, Clone)]
pub(crate) struct ImportRow {
    pub(crate) file: String,
    pub(crate) sheet: String,
    pub(crate) row: String,
    pub(crate) column: String,
    pub(crate) reason: String,
}

#[derive(Template)]
#[template(path = "import.html")]
pub(crate) struct ImportPage {
    pub(crate) chrome: Chrome,
    pub(crate) errors: Vec<ImportRow>,
    pub(crate) flash: Option<String>,
}

#[derive(Template)]
#[template(path = "buildings.html")]
pub(crate) struct BuildingsPage {
    pub(crate) chrome: Chrome,
    pub(crate) date: String,
    pub(crate) buildings: Vec<BuildingDay>,
}

#[derive(Template)]
#[template(path = "message.html")]
pub(crate) struct MessagePage {
    pub(crate) chrome: Chrome,
    pub(crate) heading: String,
    pub(crate) message: String,
}

/// The Chinese label of an answer result's English name.
pub(crate) fn result_label(result: &str) -> &'static str {
    match result {
        "registered" => "已登记",
        "unregistered" => "未登记",
        "not_living_here" => "不在住",
        "other" => "其他",
        _ => "",
    }
}

/// An RFC 3339 instant as the compound reads it: China time (UTC+8),
/// `2020-02-20 16:02`; anything else as given.
pub(crate) fn local_time(at: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(at).map_or_else(
        |_| at.to_owned(),
        |t| {
            (t.with_timezone(&chrono::Utc) + chrono::Duration::hours(8))
                .format("%Y-%m-%d %H:%M")
                .to_string()
        },
    )
}

/// What the page calls a kind of directive.
pub(crate) fn directive_kind(kind: &str) -> &str {
    match kind {
        "notice" => "提示",
        "task" => "核查任务",
        "problem" => "整改问题",
        "config" => "配置",
        other => other,
    }
}
