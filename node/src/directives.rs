//! What the hub sent this compound (notices, tasks, problems, configuration)
//! and the compound's answers to it.
//!
//! Received directives live in the store's inbox, in down-log order.
//! Answers are ordinary records — `Receipt` (id = directive id),
//! `TaskAnswer` (id = `directive/entry`) and `ProblemFix` (id = directive
//! id) — so they ride the next push like any change.

use lianfang_proto::{Kind, pb};
use serde::Serialize;

use crate::store::{Change, Store, StoreError};

/// Errors of answering a directive.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    #[error("no directive {0} has been received here; run `lianfang-node sync` to fetch new ones")]
    Unknown(String),
    #[error("directive {id} is a {kind}, not a {expected}")]
    WrongKind {
        id: String,
        kind: &'static str,
        expected: &'static str,
    },
    #[error("task {task} has no entry {entry}")]
    UnknownEntry { task: String, entry: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A directive as this compound received it, with its own acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Received {
    pub id: String,
    /// notice, task, problem or config.
    pub kind: &'static str,
    pub title: String,
    pub body: String,
    /// normal or high.
    pub priority: &'static str,
    pub due: Option<String>,
    pub issued_at: String,
    pub received_at: String,
    pub acked_at: Option<String>,
    pub response: Option<String>,
}

/// One entry of a received verification task with this compound's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskEntry {
    pub task: String,
    pub title: String,
    pub entry_id: String,
    pub name: String,
    pub phone: String,
    pub address: String,
    pub reason: String,
    pub result: Option<&'static str>,
    pub note: Option<String>,
}

/// A problem to rectify sent to this compound, and whether it is fixed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProblemItem {
    pub id: String,
    pub what: String,
    pub location: String,
    pub found_on: String,
    pub fixed_at: Option<String>,
    pub note: Option<String>,
}

fn kind_name(body: Option<&pb::hub_message::Body>) -> &'static str {
    match body {
        Some(pb::hub_message::Body::Notice(_)) => "notice",
        Some(pb::hub_message::Body::Task(_)) => "task",
        Some(pb::hub_message::Body::Problem(_)) => "problem",
        Some(pb::hub_message::Body::Config(_)) => "config",
        None => "unknown",
    }
}

/// Answer results as typed on the command line.
pub fn parse_result(s: &str) -> Option<pb::AnswerResult> {
    match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
        "registered" | "已登记" => Some(pb::AnswerResult::Registered),
        "unregistered" | "未登记" => Some(pb::AnswerResult::Unregistered),
        "not_living_here" | "not_here" | "不在此居住" => Some(pb::AnswerResult::NotLivingHere),
        "other" | "其他" => Some(pb::AnswerResult::Other),
        _ => None,
    }
}

fn answer<M>(
    store: &Store,
    kind: Kind,
    id: &str,
    pick: fn(pb::record::Body) -> Option<M>,
) -> Result<Option<M>, StoreError> {
    Ok(store
        .get(kind, id)?
        .filter(|record| !record.deleted)
        .and_then(|record| record.body)
        .and_then(pick))
}

/// Everything received from the hub, in the order it arrived.
///
/// # Errors
/// Store errors.
pub fn received(store: &Store) -> Result<Vec<Received>, StoreError> {
    let mut out = Vec::new();
    for (_, received_at, message) in store.inbox()? {
        let (title, body, priority, due) = match &message.body {
            Some(pb::hub_message::Body::Notice(n)) => (
                n.title.clone(),
                n.body.clone(),
                n.priority(),
                (!n.due.is_empty()).then(|| n.due.clone()),
            ),
            Some(pb::hub_message::Body::Task(t)) => (
                t.title.clone(),
                format!("{} people to verify", t.entries.len()),
                pb::Priority::Normal,
                None,
            ),
            Some(pb::hub_message::Body::Problem(p)) => {
                (p.what.clone(), p.location.clone(), pb::Priority::High, None)
            }
            Some(pb::hub_message::Body::Config(c)) => (
                "configuration".to_owned(),
                format!(
                    "key regions: {}; isolation: {} days",
                    c.key_regions.join("、"),
                    c.isolation_days
                ),
                pb::Priority::Normal,
                None,
            ),
            None => (String::new(), String::new(), pb::Priority::Normal, None),
        };
        let receipt = answer(store, Kind::Receipt, &message.directive_id, |b| match b {
            pb::record::Body::Receipt(r) => Some(r),
            _ => None,
        })?;
        out.push(Received {
            kind: kind_name(message.body.as_ref()),
            id: message.directive_id,
            title,
            body,
            priority: match priority {
                pb::Priority::High => "high",
                pb::Priority::Normal => "normal",
            },
            due,
            issued_at: message.issued_at,
            received_at,
            acked_at: receipt.as_ref().map(|r| r.acked_at.clone()),
            response: receipt.map(|r| r.response).filter(|r| !r.is_empty()),
        });
    }
    Ok(out)
}

fn find(store: &Store, id: &str) -> Result<pb::HubMessage, AnswerError> {
    store
        .inbox()?
        .into_iter()
        .map(|(_, _, message)| message)
        .find(|message| message.directive_id == id.trim())
        .ok_or_else(|| AnswerError::Unknown(id.to_owned()))
}

fn now_rfc3339() -> String {
    crate::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Acknowledges a received directive (any kind), with an optional response.
///
/// # Errors
/// [`AnswerError::Unknown`] when no such directive was received.
pub fn ack(store: &mut Store, id: &str, response: &str) -> Result<(), AnswerError> {
    let message = find(store, id)?;
    store.write(
        [Change {
            kind: Kind::Receipt,
            id: message.directive_id.clone(),
            body: Some(pb::record::Body::Receipt(pb::Receipt {
                directive_id: message.directive_id,
                acked_at: now_rfc3339(),
                response: response.trim().to_owned(),
            })),
        }],
        crate::now_ms(),
    )?;
    Ok(())
}

/// Every entry of every received verification task, with this compound's answers.
///
/// # Errors
/// Store errors.
pub fn tasks(store: &Store) -> Result<Vec<TaskEntry>, StoreError> {
    let mut out = Vec::new();
    for (_, _, message) in store.inbox()? {
        let Some(pb::hub_message::Body::Task(task)) = message.body else {
            continue;
        };
        for entry in task.entries {
            let id = format!("{}/{}", message.directive_id, entry.entry_id);
            let given = answer(store, Kind::TaskAnswer, &id, |b| match b {
                pb::record::Body::TaskAnswer(a) => Some(a),
                _ => None,
            })?;
            out.push(TaskEntry {
                task: message.directive_id.clone(),
                title: task.title.clone(),
                entry_id: entry.entry_id,
                name: entry.name,
                phone: entry.phone,
                address: entry.address,
                reason: entry.reason,
                result: given
                    .as_ref()
                    .map(|a| lianfang_proto::answer_result_name(a.result())),
                note: given.map(|a| a.note).filter(|n| !n.is_empty()),
            });
        }
    }
    Ok(out)
}

/// Answers one entry of a verification task (answering again replaces it).
///
/// # Errors
/// An unknown task or entry.
pub fn answer_entry(
    store: &mut Store,
    task: &str,
    entry: &str,
    result: pb::AnswerResult,
    note: &str,
) -> Result<(), AnswerError> {
    let message = find(store, task)?;
    let kind = kind_name(message.body.as_ref());
    let Some(pb::hub_message::Body::Task(list)) = message.body else {
        return Err(AnswerError::WrongKind {
            id: task.to_owned(),
            kind,
            expected: "task",
        });
    };
    let entry = entry.trim();
    if !list.entries.iter().any(|e| e.entry_id == entry) {
        return Err(AnswerError::UnknownEntry {
            task: task.to_owned(),
            entry: entry.to_owned(),
        });
    }
    store.write(
        [Change {
            kind: Kind::TaskAnswer,
            id: format!("{}/{entry}", message.directive_id),
            body: Some(pb::record::Body::TaskAnswer(pb::TaskAnswer {
                directive_id: message.directive_id,
                entry_id: entry.to_owned(),
                result: result as i32,
                note: note.trim().to_owned(),
                answered_at: now_rfc3339(),
            })),
        }],
        crate::now_ms(),
    )?;
    Ok(())
}

/// Problems to rectify sent to this compound, and which are fixed.
///
/// # Errors
/// Store errors.
pub fn problems(store: &Store) -> Result<Vec<ProblemItem>, StoreError> {
    let mut out = Vec::new();
    for (_, _, message) in store.inbox()? {
        let Some(pb::hub_message::Body::Problem(problem)) = message.body else {
            continue;
        };
        let fix = answer(
            store,
            Kind::ProblemFix,
            &message.directive_id,
            |b| match b {
                pb::record::Body::ProblemFix(f) => Some(f),
                _ => None,
            },
        )?;
        out.push(ProblemItem {
            id: message.directive_id,
            what: problem.what,
            location: problem.location,
            found_on: problem.found_on,
            fixed_at: fix.as_ref().map(|f| f.fixed_at.clone()),
            note: fix.map(|f| f.note).filter(|n| !n.is_empty()),
        });
    }
    Ok(out)
}

/// Reports a problem fixed, with a note of what was done.
///
/// # Errors
/// An unknown problem.
pub fn fix(store: &mut Store, id: &str, note: &str) -> Result<(), AnswerError> {
    let message = find(store, id)?;
    let kind = kind_name(message.body.as_ref());
    if kind != "problem" {
        return Err(AnswerError::WrongKind {
            id: id.to_owned(),
            kind,
            expected: "problem",
        });
    }
    store.write(
        [Change {
            kind: Kind::ProblemFix,
            id: message.directive_id.clone(),
            body: Some(pb::record::Body::ProblemFix(pb::ProblemFix {
                directive_id: message.directive_id,
                note: note.trim().to_owned(),
                fixed_at: now_rfc3339(),
            })),
        }],
        crate::now_ms(),
    )?;
    Ok(())
}
