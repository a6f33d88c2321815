//! The daily log (日志): a pure function of the merged records, the
//! configuration and a date (DESIGN.md, "Daily log"), per compound.
//!
//! Node and hub feed one compound's records through the same [`LogFold`]:
//! each kind's [`Rules::log`](crate::kinds::Rules::log) says what it adds,
//! so the two cannot disagree on what a key means. A kind logged by its
//! days ([`LogBy::Days`](crate::kinds::LogBy::Days)) says so in
//! [`Rules::log_days`](crate::kinds::Rules::log_days), which the hub also
//! calls with counts of records sharing their days
//! ([`Kind::log_days`](crate::kinds::Kind::log_days)).

use std::collections::{HashMap, HashSet};

/// The log's sets of persons are hashed with a fast, randomly seeded hash:
/// a day's checks are tens of thousands of lookups.
type Fast = foldhash::fast::RandomState;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::table::{DailyCounts, TableConfig};
use crate::validate::plate;

/// The log's keys in display order, with their Chinese headers.
pub const KEYS: [(&str, &str); 24] = [
    ("surveys", "排摸人次"),
    ("surveys_unregistered", "排摸发现未登记"),
    ("arrivals_key_today", "重点地区入沪"),
    ("arrivals_other_today", "其他地区入沪"),
    ("home_isolated_persons", "居家隔离人数"),
    ("checks_due", "应测体温次数"),
    ("checks_done", "已测体温次数"),
    ("unchecked_persons", "今日未测温"),
    ("fever_persons", "发热人数"),
    ("meals", "送餐"),
    ("rubbish", "倒垃圾"),
    ("shopping", "代购"),
    ("masks_reserved", "口罩预约"),
    ("masks_notified", "口罩已通知"),
    ("masks_collected", "口罩已领取"),
    ("masks_waiting", "口罩待通知"),
    ("vehicles_key", "重点地区车辆"),
    ("vehicles_turned_back", "劝返车辆"),
    ("disinfections", "消毒次数"),
    ("hotline_received", "12345受理"),
    ("hotline_closed", "12345办结"),
    ("hotline_open", "12345未办结"),
    ("gate_temperature_checks", "门岗测温人次"),
    ("parcels", "快递件数"),
];

/// One compound's (or the street's) daily log for one date. Field names
/// are the keys of [`KEYS`], in order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyLog {
    pub surveys: u64,
    pub surveys_unregistered: u64,
    pub arrivals_key_today: u64,
    pub arrivals_other_today: u64,
    pub home_isolated_persons: u64,
    pub checks_due: u64,
    pub checks_done: u64,
    pub unchecked_persons: u64,
    pub fever_persons: u64,
    pub meals: u64,
    pub rubbish: u64,
    pub shopping: u64,
    pub masks_reserved: u64,
    pub masks_notified: u64,
    pub masks_collected: u64,
    pub masks_waiting: u64,
    pub vehicles_key: u64,
    pub vehicles_turned_back: u64,
    pub disinfections: u64,
    pub hotline_received: u64,
    pub hotline_closed: u64,
    pub hotline_open: u64,
    pub gate_temperature_checks: u64,
    pub parcels: u64,
}

macro_rules! fields {
    ($m:ident) => {
        $m!(
            surveys,
            surveys_unregistered,
            arrivals_key_today,
            arrivals_other_today,
            home_isolated_persons,
            checks_due,
            checks_done,
            unchecked_persons,
            fever_persons,
            meals,
            rubbish,
            shopping,
            masks_reserved,
            masks_notified,
            masks_collected,
            masks_waiting,
            vehicles_key,
            vehicles_turned_back,
            disinfections,
            hotline_received,
            hotline_closed,
            hotline_open,
            gate_temperature_checks,
            parcels
        )
    };
}

impl DailyLog {
    /// The values in [`KEYS`] order.
    pub fn values(&self) -> [u64; 24] {
        macro_rules! values {
            ($($f:ident),+) => { [$(self.$f),+] };
        }
        fields!(values)
    }

    /// The log with `values` in [`KEYS`] order.
    pub fn from_values(values: [u64; 24]) -> DailyLog {
        macro_rules! build {
            ($($f:ident),+) => {{
                let [$($f),+] = values;
                DailyLog { $($f),+ }
            }};
        }
        fields!(build)
    }

    /// Adds `other` key by key (the street's total).
    pub fn add(&mut self, other: &DailyLog) {
        let mut values = self.values();
        for (v, o) in values.iter_mut().zip(other.values()) {
            *v = v.saturating_add(o);
        }
        *self = DailyLog::from_values(values);
    }

    /// The figures as the daily report carries them.
    pub fn to_report(&self) -> crate::pb::DailyLogFigures {
        macro_rules! build {
            ($($f:ident),+) => {
                crate::pb::DailyLogFigures { $($f: self.$f),+ }
            };
        }
        fields!(build)
    }

    /// The figures a daily report carries.
    pub fn from_report(report: &crate::pb::DailyLogFigures) -> DailyLog {
        macro_rules! build {
            ($($f:ident),+) => {
                DailyLog { $($f: report.$f),+ }
            };
        }
        fields!(build)
    }
}

/// Folds one compound's live records into its log for one date.
#[derive(Debug)]
pub struct LogFold<'a> {
    config: &'a TableConfig,
    date: NaiveDate,
    day: String,
    log: DailyLog,
    /// The persons in home isolation on the date, each with a bit per slot
    /// checked.
    home: HashMap<String, u8, Fast>,
    /// Persons checked on the date not (yet) known to be in home isolation,
    /// each with a bit per slot checked: a fold that reads the isolations
    /// first keeps this small and allocates no key for a check.
    checks: HashMap<String, u8, Fast>,
    fever: HashSet<String, Fast>,
}

impl<'a> LogFold<'a> {
    /// An empty log of `date` under `config`.
    pub fn new(config: &'a TableConfig, date: NaiveDate) -> Self {
        LogFold {
            config,
            date,
            day: date.format("%Y-%m-%d").to_string(),
            log: DailyLog::default(),
            home: HashMap::default(),
            checks: HashMap::default(),
            fever: HashSet::default(),
        }
    }

    /// The date, `YYYY-MM-DD`.
    pub fn day(&self) -> &str {
        &self.day
    }

    /// Adds one live record ([`crate::kinds::log`]).
    pub fn add(&mut self, body: &crate::pb::record::Body) {
        crate::kinds::log(body, self);
    }

    /// The log so far; the arrivals are the table's for the same date.
    pub fn finish(mut self, table: &DailyCounts) -> DailyLog {
        let log = &mut self.log;
        log.arrivals_key_today = table.returned_key_today;
        log.arrivals_other_today = table.returned_other_today;
        log.home_isolated_persons = self.home.len() as u64;
        log.checks_due = 2 * log.home_isolated_persons;
        let slots = self
            .home
            .iter()
            .map(|(person, slots)| slots | self.checks.get(person).copied().unwrap_or(0));
        for slots in slots {
            log.checks_done += u64::from(slots.count_ones());
            log.unchecked_persons += u64::from(slots == 0);
        }
        log.fever_persons = self.fever.len() as u64;
        self.log
    }

    /// Whether `day` (a stored `YYYY-MM-DD`) is the log's date.
    fn is_today(&self, day: &str) -> bool {
        day == self.day
    }

    /// A person in an isolation of `kind` from `start` (to `release`).
    pub fn add_isolation(
        &mut self,
        person: &str,
        kind: crate::pb::IsolationKind,
        start: &str,
        release: &str,
    ) {
        if kind != crate::pb::IsolationKind::Home {
            return;
        }
        let Some(start) = crate::table::parse_day(start) else {
            return;
        };
        let end = self
            .config
            .isolation_end(start, crate::table::parse_day(release));
        if start <= self.date && self.date < end && !self.home.contains_key(person) {
            self.home.insert(person.to_owned(), 0);
        }
    }

    /// A health check of `person` dated `day`.
    pub fn add_health_check(&mut self, day: &str, person: &str, slot: i32, tenths: u32) {
        if !self.is_today(day) {
            return;
        }
        // A bit per slot (am, pm); most persons are already known, so a key
        // is allocated only for a new one.
        let bit = 1u8 << slot.clamp(0, 7);
        if let Some(slots) = self.home.get_mut(person) {
            *slots |= bit;
        } else if let Some(slots) = self.checks.get_mut(person) {
            *slots |= bit;
        } else {
            self.checks.insert(person.to_owned(), bit);
        }
        if tenths >= crate::kinds::health_check::FEVER_TENTHS && !self.fever.contains(person) {
            self.fever.insert(person.to_owned());
        }
    }

    /// A service of `kind` dated `day`.
    pub fn add_service(&mut self, day: &str, kind: crate::pb::ServiceKind) {
        if !self.is_today(day) {
            return;
        }
        use crate::pb::ServiceKind;
        match kind {
            ServiceKind::Meal => self.log.meals += 1,
            ServiceKind::Rubbish => self.log.rubbish += 1,
            ServiceKind::Shopping => self.log.shopping += 1,
            ServiceKind::Unspecified => {}
        }
    }

    /// A survey dated `day`, with what it found.
    pub fn add_survey(&mut self, day: &str, result: crate::pb::AnswerResult) {
        if !self.is_today(day) {
            return;
        }
        self.log.surveys += 1;
        if result == crate::pb::AnswerResult::Unregistered {
            self.log.surveys_unregistered += 1;
        }
    }

    /// A vehicle check dated `day`.
    pub fn add_vehicle(&mut self, day: &str, plate_text: &str, action: crate::pb::VehicleAction) {
        if !self.is_today(day) {
            return;
        }
        if plate::region(plate_text).is_some_and(|region| self.config.is_key_region(region)) {
            self.log.vehicles_key += 1;
        }
        if action == crate::pb::VehicleAction::TurnedBack {
            self.log.vehicles_turned_back += 1;
        }
    }

    /// One gate's counts dated `day`.
    pub fn add_gate_count(&mut self, day: &str, temperature_checks: u64, parcels: u64) {
        if !self.is_today(day) {
            return;
        }
        let log = &mut self.log;
        log.gate_temperature_checks = log
            .gate_temperature_checks
            .saturating_add(temperature_checks);
        log.parcels = log.parcels.saturating_add(parcels);
    }

    /// Whether a record with `days` was open on the date: begun on or
    /// before it, and its second day empty or after it (stored days
    /// compare as text).
    fn open(&self, [first, second, _]: [&str; 3]) -> bool {
        first <= self.day.as_str() && (second.is_empty() || second > self.day.as_str())
    }

    /// `n` mask reservations sharing their reserved, notified and
    /// collected days.
    pub fn add_masks(&mut self, days: [&str; 3], n: u64) {
        let on = |day: &str| u64::from(day == self.day) * n;
        let (reserved, notified, collected) = (on(days[0]), on(days[1]), on(days[2]));
        let waiting = u64::from(self.open(days)) * n;
        let log = &mut self.log;
        log.masks_reserved += reserved;
        log.masks_notified += notified;
        log.masks_collected += collected;
        log.masks_waiting += waiting;
    }

    /// `n` hotline tickets sharing their received and closed days.
    pub fn add_tickets(&mut self, days: [&str; 3], n: u64) {
        let on = |day: &str| u64::from(day == self.day) * n;
        let (received, closed) = (on(days[0]), on(days[1]));
        let open = u64::from(self.open(days)) * n;
        let log = &mut self.log;
        log.hotline_received += received;
        log.hotline_closed += closed;
        log.hotline_open += open;
    }

    /// `n` disinfections dated `days[0]`.
    pub fn add_disinfections(&mut self, days: [&str; 3], n: u64) {
        if self.is_today(days[0]) {
            self.log.disinfections += n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::IsolationKind;

    /// The health checks count the same whether the fold reads them before
    /// or after the isolations (the hub reads the isolations first, the
    /// node in its own order).
    #[test]
    fn checks_count_the_same_read_before_or_after_the_isolations() {
        let config = TableConfig::default();
        let date = NaiveDate::from_ymd_opt(2020, 2, 20).unwrap();
        let isolations = |fold: &mut LogFold<'_>| {
            fold.add_isolation("A", IsolationKind::Home, "2020-02-10", "");
            fold.add_isolation("B", IsolationKind::Home, "2020-02-19", "");
            fold.add_isolation("B", IsolationKind::Home, "2020-02-15", "");
            fold.add_isolation("C", IsolationKind::Central, "2020-02-18", "");
            // Over before the date.
            fold.add_isolation("E", IsolationKind::Home, "2020-02-01", "");
            fold.add_isolation("F", IsolationKind::Home, "2020-02-12", "2020-02-19");
        };
        let checks = |fold: &mut LogFold<'_>| {
            fold.add_health_check("2020-02-20", "A", 0, 365);
            fold.add_health_check("2020-02-20", "A", 1, 366);
            fold.add_health_check("2020-02-20", "A", 1, 366);
            fold.add_health_check("2020-02-20", "C", 0, 380);
            fold.add_health_check("2020-02-20", "D", 1, 364);
            fold.add_health_check("2020-02-20", "E", 0, 365);
            // Another day.
            fold.add_health_check("2020-02-19", "B", 0, 390);
        };
        let counts = DailyCounts::default();
        let mut first = LogFold::new(&config, date);
        isolations(&mut first);
        checks(&mut first);
        let mut last = LogFold::new(&config, date);
        checks(&mut last);
        isolations(&mut last);
        let (first, last) = (first.finish(&counts), last.finish(&counts));
        assert_eq!(first, last);
        assert_eq!(
            (
                first.home_isolated_persons,
                first.checks_due,
                first.checks_done,
                first.unchecked_persons,
                first.fever_persons
            ),
            (2, 4, 2, 1, 1),
            "A checked twice, B not at all; C's fever counts though C is not at home"
        );
    }
}
