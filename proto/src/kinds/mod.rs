//! The record kinds: one table ([`registry!`] below, one line per kind) and
//! one module per kind saying what is particular to it.
//!
//! A kind's line names its `Kind` variant, which is also the name of its
//! protobuf message and of its arm of `Record.body`, its number (stored in
//! `kind` columns and digests), and its module. The module implements
//! [`Rules`] for the message: the kind's [`KindSpec`] (name, command-line
//! names, lane, ledger columns), its `check_record` rule, its ledger cells
//! and a sample. Everything else — [`Kind::ALL`], the body codecs, the
//! validation dispatch, the lane, ledger detection, digests, exports,
//! masking — is written once over the registry.
//!
//! The macro makes the only matches on every kind, and they are
//! exhaustive: a `oneof` arm without a line here, or a line without an arm,
//! does not compile.

use chrono::NaiveDate;
use prost::Message as _;

use crate::log::LogFold;
use crate::pb::record::Body;
use crate::table::{DailyCounts, TableBuilder};
use crate::validate::FieldError;
use crate::{Lane, pb};

/// How a ledger column's values are masked in outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sensitive {
    /// An ID number ([`crate::mask::id_number`]).
    IdNumber,
    /// A phone number ([`crate::mask::phone`]).
    Phone,
    /// A person's name ([`crate::mask::name`]).
    Name,
}

/// A ledger column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// The header compounds use.
    pub zh: &'static str,
    /// The English alias, matched in any case; also the name in errors.
    pub en: &'static str,
    /// Whether the column must be present and every row must fill it.
    pub required: bool,
    /// Personal data, masked in outputs unless unmasking is asked for.
    pub sensitive: Option<Sensitive>,
}

impl Column {
    /// A column that holds no personal data.
    pub const fn new(zh: &'static str, en: &'static str, required: bool) -> Self {
        Column {
            zh,
            en,
            required,
            sensitive: None,
        }
    }

    /// The same column, holding personal data of `sensitive`'s sort.
    pub const fn sensitive(self, sensitive: Sensitive) -> Self {
        Column {
            sensitive: Some(sensitive),
            ..self
        }
    }
}

/// A kind's ledger (台账): the spreadsheet compounds keep of it.
#[derive(Debug, Clone, Copy)]
pub struct Ledger {
    /// The ledger's name, plural: the export's `--kind`, the sheet the
    /// generator writes, the line of an import's summary.
    pub name: &'static str,
    /// The columns in the order compounds keep them. The first holds the
    /// record id; its header is unique to the kind, and tells a file's kind.
    pub columns: &'static [Column],
}

impl Ledger {
    /// The column holding the record id.
    pub fn id_column(&self) -> &'static Column {
        &self.columns[0]
    }

    /// The Chinese headers, in order.
    pub fn headers(&self) -> Vec<&'static str> {
        self.columns.iter().map(|c| c.zh).collect()
    }
}

/// What the registry knows of a kind, apart from its rules.
#[derive(Debug, Clone, Copy)]
pub struct KindSpec {
    /// The kind's name in messages and kind columns of outputs (`person`).
    pub name: &'static str,
    /// Other names the command line accepts for it (`persons`, `人员`);
    /// a kind with none and no ledger is not typed on the command line.
    pub aliases: &'static [&'static str],
    /// The lane of the node's log it travels in. Every version of a
    /// record travels in one lane, so its versions stay in order.
    pub lane: Lane,
    /// Its ledger, for kinds compounds keep in spreadsheets.
    pub ledger: Option<Ledger>,
    /// Whether the daily table counts it ([`Rules::count`]).
    pub in_table: bool,
    /// Whether and how the daily log reads it ([`Rules::log`]).
    pub log: Option<LogBy>,
}

/// What of a record the daily log reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogBy {
    /// The record itself; for a kind of the day, only on its own day
    /// ([`Rules::days`]'s first).
    Record,
    /// Only its days ([`Rules::days`]), so a reader may count records by
    /// their days alone ([`Kind::log_days`]).
    Days,
}

/// What is particular to a kind, implemented by its message in the kind's
/// module.
pub trait Rules: prost::Message + Default + Clone + PartialEq + Sized + 'static {
    /// The kind's line of facts.
    const SPEC: KindSpec;

    /// The kind's part of `validate::check_record`: the body of a live
    /// version (the envelope is checked for every kind alike).
    ///
    /// # Errors
    /// The first field that breaks a rule, by path (`person.phone`).
    fn check(&self, today: NaiveDate) -> Result<(), FieldError>;

    /// The ledger cells after the id, in column order, as the ledger
    /// writes them (Chinese enum labels). Empty for a kind without a
    /// ledger.
    fn cells(&self) -> Vec<String> {
        Vec::new()
    }

    /// Adds a live record to the daily table (kinds with `in_table`).
    fn count(&self, _builder: &TableBuilder<'_>, _counts: &mut DailyCounts) {}

    /// Adds a live record to a compound's daily log (kinds with `log`);
    /// a kind logged by its days calls its [`Rules::log_days`].
    fn log(&self, _fold: &mut LogFold<'_>) {}

    /// Adds `n` records sharing `days` ([`Rules::days`]) to a daily log,
    /// for a kind logged by its days alone ([`LogBy::Days`]).
    fn log_days(_fold: &mut LogFold<'_>, _days: [&str; 3], _n: u64) {}

    /// The days the daily log reads the record on, as the hub projects
    /// them (`YYYY-MM-DD`, empty when none): a dated record's date first;
    /// a mask reservation's reserved, notified and collected days; a
    /// hotline ticket's received and closed days. All empty for kinds the
    /// log does not read by day.
    fn days(&self) -> [&str; 3] {
        ["", "", ""]
    }

    /// A valid record of the kind, `(id, body)`, for tests generated from
    /// the registry. The samples' references point at each other's ids.
    fn sample() -> (String, Self);
}

/// A message that is the body of one record kind.
pub trait KindBody: Rules {
    /// The kind.
    const KIND: Kind;
    /// The message as a record body.
    fn into_body(self) -> Body;
    /// The message in `body`, when `body` is of this kind.
    fn from_body(body: &Body) -> Option<&Self>;
}

/// The registry: `Variant = number, module;`, one line per kind. The
/// variant names the `Kind`, the protobuf message and its `Record.body` arm.
macro_rules! registry {
    ($($kind:ident = $n:literal, $module:ident;)+) => {
        $(pub mod $module;)+

        /// Record kinds as stored in SQLite (`kind` columns) and named in
        /// messages; the discriminant is the kind's number.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Kind {
            $($kind = $n,)+
        }

        impl Kind {
            /// Every kind, in registry order.
            pub const ALL: [Kind; [$($n),+].len()] = [$(Kind::$kind),+];

            /// The kind's facts.
            pub fn spec(self) -> &'static KindSpec {
                match self {
                    $(Kind::$kind => &<pb::$kind as Rules>::SPEC,)+
                }
            }

            /// The kind of a record body (a tombstone carries an empty
            /// body of its kind).
            pub fn of(body: &Body) -> Kind {
                match body {
                    $(Body::$kind(_) => Kind::$kind,)+
                }
            }

            /// The empty body of the kind, carried by tombstones.
            pub fn empty_body(self) -> Body {
                match self {
                    $(Kind::$kind => Body::$kind(Default::default()),)+
                }
            }

            /// Decodes the message of a record of the kind.
            ///
            /// # Errors
            /// The protobuf decode error.
            pub fn decode_body(self, bytes: &[u8]) -> Result<Body, prost::DecodeError> {
                match self {
                    $(Kind::$kind => pb::$kind::decode(bytes).map(Body::$kind),)+
                }
            }

            /// Decodes the message of a record of the kind into `body`,
            /// reusing its message (and the capacity of its strings) when it
            /// already holds one of the kind: the log reads tens of
            /// thousands of records this way without allocating for each.
            ///
            /// # Errors
            /// The protobuf decode error (`body` is then unspecified).
            pub fn decode_body_into(
                self,
                bytes: &[u8],
                body: &mut Body,
            ) -> Result<(), prost::DecodeError> {
                match (self, body) {
                    $((Kind::$kind, Body::$kind(m)) => {
                        m.clear();
                        m.merge(bytes)
                    })+
                    (kind, body) => {
                        *body = kind.decode_body(bytes)?;
                        Ok(())
                    }
                }
            }

            /// Adds `n` records of the kind sharing `days` to a daily log
            /// ([`Rules::log_days`]; nothing for a kind not logged by its
            /// days).
            pub fn log_days(self, fold: &mut LogFold<'_>, days: [&str; 3], n: u64) {
                match self {
                    $(Kind::$kind => <pb::$kind as Rules>::log_days(fold, days, n),)+
                }
            }

            /// The kind's sample record, `(id, body)` ([`Rules::sample`]).
            pub fn sample(self) -> (String, Body) {
                match self {
                    $(Kind::$kind => {
                        let (id, m) = <pb::$kind as Rules>::sample();
                        (id, Body::$kind(m))
                    })+
                }
            }
        }

        /// The encoded message inside a record body.
        pub fn encode_body(body: &Body) -> Vec<u8> {
            match body {
                $(Body::$kind(m) => m.encode_to_vec(),)+
            }
        }

        /// The body's own rule ([`Rules::check`]).
        pub(crate) fn check_body(body: &Body, today: NaiveDate) -> Result<(), FieldError> {
            match body {
                $(Body::$kind(m) => m.check(today),)+
            }
        }

        /// The ledger cells of a record, its id first, in column order
        /// ([`Rules::cells`]); only the id for a kind without a ledger.
        pub fn cells(id: &str, body: &Body) -> Vec<String> {
            let rest = match body {
                $(Body::$kind(m) => m.cells(),)+
            };
            std::iter::once(id.to_owned()).chain(rest).collect()
        }

        /// The days the log reads a record on ([`Rules::days`]).
        pub fn days(body: &Body) -> [&str; 3] {
            match body {
                $(Body::$kind(m) => m.days(),)+
            }
        }

        /// Adds a live record to a daily log ([`Rules::log`]).
        pub fn log(body: &Body, fold: &mut LogFold<'_>) {
            match body {
                $(Body::$kind(m) => m.log(fold),)+
            }
        }

        /// Adds a live record to the daily table ([`Rules::count`]).
        pub fn count(body: &Body, builder: &TableBuilder<'_>, counts: &mut DailyCounts) {
            match body {
                $(Body::$kind(m) => m.count(builder, counts),)+
            }
        }

        $(
            impl KindBody for pb::$kind {
                const KIND: Kind = Kind::$kind;
                fn into_body(self) -> Body {
                    Body::$kind(self)
                }
                fn from_body(body: &Body) -> Option<&Self> {
                    if let Body::$kind(m) = body { Some(m) } else { None }
                }
            }
        )+
    };
}

registry! {
    Household = 1, household;
    Person = 2, person;
    Isolation = 3, isolation;
    Receipt = 4, receipt;
    TaskAnswer = 5, task_answer;
    ProblemFix = 6, problem_fix;
    DailyReport = 7, daily_report;
    HealthCheck = 8, health_check;
    Service = 9, service;
    MaskReservation = 10, mask_reservation;
    VehicleCheck = 11, vehicle_check;
    Disinfection = 12, disinfection;
    HotlineTicket = 13, hotline_ticket;
    GateCount = 14, gate_count;
    Survey = 15, survey;
    MemberDay = 16, member_day;
    DirectiveRollup = 17, directive_rollup;
}

impl Kind {
    /// The lane of the node's log the kind travels in.
    pub fn lane(self) -> Lane {
        self.spec().lane
    }

    /// The kind's name in messages (`person`).
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// The kind's ledger, for kinds compounds keep in spreadsheets.
    pub fn ledger(self) -> Option<&'static Ledger> {
        self.spec().ledger.as_ref()
    }

    /// The kind of a stored number.
    pub fn from_i64(n: i64) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| *k as i64 == n)
    }

    /// Parses a kind as typed on the command line: the name or an alias of
    /// a kind that has a ledger, in any case.
    pub fn parse(s: &str) -> Option<Kind> {
        let s = s.trim().to_ascii_lowercase();
        Kind::ALL.into_iter().find(|kind| {
            let spec = kind.spec();
            spec.ledger.is_some() && (spec.name == s || spec.aliases.contains(&s.as_str()))
        })
    }

    /// The names [`Kind::parse`] accepts, one per kind: `household, person,
    /// isolation`.
    pub fn typed_names() -> String {
        Kind::ALL
            .into_iter()
            .filter(|kind| kind.ledger().is_some())
            .map(Kind::name)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The kinds that have a ledger, in registry order.
    pub fn with_ledger() -> impl Iterator<Item = (Kind, &'static Ledger)> {
        Kind::ALL
            .into_iter()
            .filter_map(|kind| Some((kind, kind.ledger()?)))
    }
}

/// The Chinese headers of a ledger as a fixed-size array, checked at
/// compile time to be the whole column list.
pub(crate) const fn headers<const N: usize>(columns: &[Column]) -> [&'static str; N] {
    assert!(
        columns.len() == N,
        "a ledger's header array must name every column"
    );
    let mut out = [""; N];
    let mut i = 0;
    while i < N {
        out[i] = columns[i].zh;
        i += 1;
    }
    out
}

/// `YYYY-MM-DD`, the form records store dates in.
pub(crate) const SAMPLE_DAY: &str = "2020-02-03";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_and_names_itself() {
        for kind in Kind::ALL {
            let body = kind.empty_body();
            assert_eq!(Kind::of(&body), kind);
            assert_eq!(kind.decode_body(&encode_body(&body)).unwrap(), body);
            assert_eq!(Kind::from_i64(kind as i64), Some(kind));
            let (_, sample) = kind.sample();
            assert_eq!(Kind::of(&sample), kind, "{kind:?}'s sample is of its kind");
        }
        let names: std::collections::BTreeSet<_> = Kind::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(names.len(), Kind::ALL.len(), "kind names are unique");
    }

    #[test]
    fn samples_pass_the_record_rule() {
        let today = NaiveDate::from_ymd_opt(2020, 2, 20).unwrap();
        for kind in Kind::ALL {
            let (id, body) = kind.sample();
            let record = pb::Record {
                compound: "HM001".into(),
                id,
                stamp: 1 << 16,
                origin: "n".into(),
                deleted: false,
                body: Some(body),
            };
            assert_eq!(
                crate::validate::check_record(&record, today),
                Ok(()),
                "{kind:?}"
            );
        }
    }

    #[test]
    fn ledgers_are_told_apart_by_their_id_column() {
        let ledgers: Vec<_> = Kind::with_ledger().collect();
        for (kind, ledger) in &ledgers {
            assert!(ledger.id_column().required, "{kind:?}");
            assert_eq!(
                cells("X", &kind.sample().1).len(),
                ledger.columns.len(),
                "{kind:?}: one cell per column"
            );
            for (other, o) in &ledgers {
                if other != kind {
                    assert_ne!(ledger.id_column().zh, o.id_column().zh);
                    assert_ne!(ledger.name, o.name);
                }
            }
        }
        // Within a ledger, headers and names are unique; a header means
        // the same in every ledger (an English name may stand for
        // different headers in different ledgers: `kind`, `by`, `result`).
        for (kind, ledger) in &ledgers {
            for (i, a) in ledger.columns.iter().enumerate() {
                for b in &ledger.columns[i + 1..] {
                    assert!(a.zh != b.zh && a.en != b.en, "{kind:?}: {a:?} / {b:?}");
                }
            }
        }
        let all: Vec<&Column> = ledgers.iter().flat_map(|(_, l)| l.columns).collect();
        for a in &all {
            for b in &all {
                if a.zh == b.zh {
                    assert_eq!((a.en, a.sensitive), (b.en, b.sensitive), "{a:?} / {b:?}");
                }
            }
        }
    }

    #[test]
    fn command_line_names() {
        assert_eq!(Kind::parse(" Persons "), Some(Kind::Person));
        assert_eq!(Kind::parse("户"), Some(Kind::Household));
        assert_eq!(Kind::parse("isolation"), Some(Kind::Isolation));
        assert_eq!(Kind::parse("receipt"), None);
        assert_eq!(Kind::parse("daily_report"), None);
        assert!(
            Kind::typed_names().starts_with("household, person, isolation"),
            "{}",
            Kind::typed_names()
        );
    }
}
