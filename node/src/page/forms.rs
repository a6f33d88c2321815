//! How the page presents each kind with a ledger: its path, its Chinese
//! title, and each ledger column as a form field (an input type, the
//! choices of an enum). Presentation only: what a value may be is the
//! ledger's rule, applied by the application layer.

use lianfang_proto::Kind;
use lianfang_proto::kinds::{Column, Sensitive};
use lianfang_proto::validate::labels::{
    ANSWER_RESULT, Labels, SERVICE_KIND, SLOT, SURVEY_SOURCE, VEHICLE_ACTION,
};

/// A kind the page has pages for: every kind with a ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PageKind {
    pub(crate) kind: Kind,
    /// The path segment: the ledger's name with `-` (`health-checks`).
    pub(crate) slug: &'static str,
    /// What the page calls it (`健康监测`).
    pub(crate) title: &'static str,
}

/// Every kind with a ledger, in registry order (made once).
pub(crate) fn page_kinds() -> &'static [PageKind] {
    static KINDS: std::sync::OnceLock<Vec<PageKind>> = std::sync::OnceLock::new();
    KINDS.get_or_init(|| {
        Kind::with_ledger()
            .map(|(kind, ledger)| {
                let (slug, title) = names(ledger.name);
                PageKind { kind, slug, title }
            })
            .collect()
    })
}

/// The path segment and Chinese title of a ledger, by its name.
fn names(ledger: &str) -> (&'static str, &'static str) {
    match ledger {
        "households" => ("households", "住户"),
        "persons" => ("persons", "人员"),
        "isolations" => ("isolations", "隔离"),
        "health_checks" => ("health-checks", "健康监测"),
        "services" => ("services", "上门服务"),
        "mask_reservations" => ("mask-reservations", "口罩预约"),
        "vehicle_checks" => ("vehicle-checks", "车辆排查"),
        "disinfections" => ("disinfections", "消毒"),
        "hotline_tickets" => ("hotline-tickets", "12345工单"),
        "gate_counts" => ("gate-counts", "门岗统计"),
        "surveys" => ("surveys", "排摸"),
        // A ledger added since: its own name serves until it has a title
        // (made once, by `page_kinds`).
        _ => (
            Box::leak(ledger.replace('_', "-").into_boxed_str()),
            Box::leak(ledger.to_owned().into_boxed_str()),
        ),
    }
}

/// Whether a kind holds phones or ID numbers, so that its record page
/// shows them masked and edits only after an audited reveal.
pub(crate) fn has_personal_data(kind: Kind) -> bool {
    columns(kind).iter().any(|c| {
        matches!(
            c.sensitive,
            Some(Sensitive::Phone) | Some(Sensitive::IdNumber)
        )
    })
}

pub(crate) fn columns(kind: Kind) -> &'static [Column] {
    kind.ledger().map_or(&[][..], |l| l.columns)
}

/// One field of a record's form, as the template draws it.
#[derive(Debug, Clone)]
pub(crate) struct Field {
    /// The ledger's English column name: the field's name.
    pub(crate) name: &'static str,
    /// The ledger's Chinese header: the label.
    pub(crate) label: &'static str,
    pub(crate) required: bool,
    /// `text` or `select` (then `choices`).
    pub(crate) input: &'static str,
    /// The values of a select, the empty one first when it may be empty.
    pub(crate) choices: Vec<String>,
    /// What the user typed, or the stored value.
    pub(crate) value: String,
    /// The ledger's reason this value was refused.
    pub(crate) error: Option<String>,
    /// A short hint under the field.
    pub(crate) hint: &'static str,
    /// The keyboard a phone shows (`inputmode`): `tel`, `decimal`,
    /// `numeric`, or "" for text.
    pub(crate) keyboard: &'static str,
    /// The id of a record being edited: shown, not changed.
    pub(crate) readonly: bool,
}

fn labels<E>(labels: &Labels<E>) -> Vec<String> {
    labels
        .all
        .iter()
        .map(|(_, zh, _)| (*zh).to_owned())
        .collect()
}

fn list(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

/// What a new record's form starts with: today for the day a record is
/// of, now for a reservation; empty otherwise.
pub(crate) fn default_value(column: &str) -> String {
    match column {
        "date" | "start" | "received" => crate::today().format("%Y-%m-%d").to_string(),
        "reserved_at" => (crate::now() + chrono::Duration::hours(8))
            .format("%Y-%m-%d %H:%M")
            .to_string(),
        _ => String::new(),
    }
}

/// The fields of a kind's form, filled with `value(column)`; `editing` makes
/// the id read-only.
pub(crate) fn fields(kind: Kind, editing: bool, value: impl Fn(&str) -> String) -> Vec<Field> {
    let ledger = kind.ledger().map_or("", |l| l.name);
    columns(kind)
        .iter()
        .enumerate()
        .map(|(i, column)| {
            let mut choices = match (ledger, column.en) {
                ("households", "housing") => list(&["自住", "出租", "空置"]),
                ("isolations", "kind") => list(&["居家", "集中"]),
                ("persons", "registered") => list(&["否", "是"]),
                ("health_checks", "slot") => labels(&SLOT),
                ("services", "kind") => labels(&SERVICE_KIND),
                ("vehicle_checks", "action") => labels(&VEHICLE_ACTION),
                ("surveys", "source") => labels(&SURVEY_SOURCE),
                ("surveys", "result") => labels(&ANSWER_RESULT),
                _ => Vec::new(),
            };
            let value = value(column.en);
            if !choices.is_empty() && !column.required && column.en != "registered" {
                choices.insert(0, String::new());
            }
            let input = if !choices.is_empty() {
                // A stored value the list lacks (an English name) stays.
                if !value.is_empty() && !choices.contains(&value) {
                    choices.push(value.clone());
                }
                "select"
            } else {
                // Dates are typed as text: the ledger's forms (2020-02-03,
                // 2020/2/3, 2020年2月3日) all work, on any browser.
                "text"
            };
            let hint = match column.en {
                "date" | "start" | "release" | "return_date" | "received" | "closed"
                | "notified_on" | "collected_on" => "YYYY-MM-DD",
                "reserved_at" => "YYYY-MM-DD HH:MM",
                "temperature" => "35.0–42.0，如 36.5",
                "nationality" => "中国 或 ISO 代码（如 US），空 = 中国",
                "id_number" => "中国籍：18 位身份证号；外籍：护照号",
                "plate" => "如 沪A12345",
                _ if i == 0 && !editing => "留空则自动编号",
                _ => "",
            };
            let keyboard = match column.en {
                "phone" => "tel",
                "temperature" => "decimal",
                "quantity" | "temperature_checks" | "parcels" => "numeric",
                _ => "",
            };
            Field {
                name: column.en,
                keyboard,
                label: column.zh,
                required: column.required && (editing || i != 0),
                input,
                choices,
                value,
                error: None,
                hint,
                readonly: i == 0 && editing,
            }
        })
        .collect()
}
