//! The daily population table (日表): a pure function of the merged records
//! and a date (DESIGN.md, "Daily population table").
//!
//! Hub and node both feed their records through [`DailyCounts`], so the two
//! can never disagree on what a column means.

use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::pb;

/// Settings the table depends on; hub configuration, pushed down to nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableConfig {
    /// An origin is in a key region when it starts with one of these names
    /// (湖北, 湖北省 and 湖北省武汉市 all match 湖北).
    pub key_regions: Vec<String>,
    /// Days an isolation lasts when no release date is set.
    pub isolation_days: u32,
}

impl Default for TableConfig {
    fn default() -> Self {
        TableConfig {
            key_regions: vec!["湖北".to_owned()],
            isolation_days: 14,
        }
    }
}

impl TableConfig {
    /// Whether `origin` lies in a key region.
    pub fn is_key_region(&self, origin: &str) -> bool {
        let origin = origin.trim();
        self.key_regions
            .iter()
            .any(|region| !region.is_empty() && origin.starts_with(region.as_str()))
    }

    /// The last day (exclusive) of an isolation: its release date when set,
    /// else start + the isolation period.
    pub fn isolation_end(&self, start: NaiveDate, release: Option<NaiveDate>) -> NaiveDate {
        release.unwrap_or_else(|| {
            start
                .checked_add_days(Days::new(u64::from(self.isolation_days)))
                .unwrap_or(NaiveDate::MAX)
        })
    }
}

/// Column keys of the table in display order, with their Chinese headers.
pub const COLUMNS: [(&str, &str); 14] = [
    ("households", "户数"),
    ("housing_owner", "自住"),
    ("housing_rented", "出租"),
    ("housing_vacant", "空置"),
    ("persons", "人数"),
    ("foreigners", "外籍人员"),
    ("returned_key_total", "重点地区返沪累计"),
    ("returned_key_today", "重点地区今日返沪"),
    ("returned_other_total", "非重点地区返沪累计"),
    ("returned_other_today", "非重点地区今日返沪"),
    ("unregistered", "返沪未登记"),
    ("home_isolation", "居家隔离"),
    ("central_isolation", "集中隔离"),
    ("released_today", "今日解除隔离"),
];

/// One row of the daily table: the counts for one compound (or the street)
/// on one date. Field names are the keys of [`COLUMNS`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyCounts {
    pub households: u64,
    pub housing_owner: u64,
    pub housing_rented: u64,
    pub housing_vacant: u64,
    pub persons: u64,
    pub foreigners: u64,
    pub returned_key_total: u64,
    pub returned_key_today: u64,
    pub returned_other_total: u64,
    pub returned_other_today: u64,
    pub unregistered: u64,
    pub home_isolation: u64,
    pub central_isolation: u64,
    pub released_today: u64,
}

/// What the table needs of a person. Dates are `YYYY-MM-DD` strings, which
/// order like the dates they name; an empty return date means "not returned".
#[derive(Debug, Clone, Copy)]
pub struct PersonFacts<'a> {
    pub nationality: &'a str,
    pub origin: &'a str,
    pub return_date: &'a str,
    pub registered: bool,
}

/// What the table needs of an isolation.
#[derive(Debug, Clone, Copy)]
pub struct IsolationFacts {
    pub kind: pb::IsolationKind,
    pub start: NaiveDate,
    pub release: Option<NaiveDate>,
}

impl IsolationFacts {
    /// The facts of an isolation as stored (kind number, `YYYY-MM-DD`
    /// start, optional release); `None` when the start is not a date.
    pub fn from_stored(kind: i32, start: &str, release: &str) -> Option<Self> {
        Some(IsolationFacts {
            kind: pb::IsolationKind::try_from(kind).unwrap_or(pb::IsolationKind::Unspecified),
            start: parse_day(start)?,
            release: parse_day(release),
        })
    }
}

/// Accumulates the table for one date under one configuration.
#[derive(Debug, Clone)]
pub struct TableBuilder<'c> {
    config: &'c TableConfig,
    /// The date, as `YYYY-MM-DD`, for comparing with stored date strings.
    day: String,
    date: NaiveDate,
}

impl<'c> TableBuilder<'c> {
    pub fn new(config: &'c TableConfig, date: NaiveDate) -> Self {
        TableBuilder {
            config,
            day: date.format("%Y-%m-%d").to_string(),
            date,
        }
    }

    /// The configuration this builder counts under.
    pub fn config(&self) -> &'c TableConfig {
        self.config
    }

    pub fn add_household(&self, counts: &mut DailyCounts, housing: pb::Housing) {
        self.add_households(counts, housing, 1);
    }

    /// Adds `n` households of one housing kind (the hub adds its per-compound
    /// aggregates this way; a node adds its records one at a time).
    pub fn add_households(&self, counts: &mut DailyCounts, housing: pb::Housing, n: u64) {
        counts.households += n;
        match housing {
            pb::Housing::Owner => counts.housing_owner += n,
            pb::Housing::Rented => counts.housing_rented += n,
            pb::Housing::Vacant => counts.housing_vacant += n,
            pb::Housing::Unspecified => {}
        }
    }

    pub fn add_person(&self, counts: &mut DailyCounts, person: PersonFacts<'_>) {
        self.add_residents(counts, person.nationality, 1);
        self.add_returnees(counts, person, 1);
    }

    /// The columns every person counts in whatever the date: `n` persons of
    /// one nationality.
    pub fn add_residents(&self, counts: &mut DailyCounts, nationality: &str, n: u64) {
        counts.persons += n;
        if !nationality.is_empty() && nationality != "CN" {
            counts.foreigners += n;
        }
    }

    /// The return columns: `n` persons sharing origin, return date and
    /// registration (`person.nationality` is not used here).
    pub fn add_returnees(&self, counts: &mut DailyCounts, person: PersonFacts<'_>, n: u64) {
        self.add_returns(
            counts,
            self.config.is_key_region(person.origin),
            person.return_date,
            person.registered,
            n,
        );
    }

    /// The return columns for `n` persons whose origin is already known to
    /// be in a key region or not (`key`, [`TableConfig::is_key_region`]
    /// under this builder's configuration), sharing return date and
    /// registration. The hub's aggregates classify origins when a row is
    /// written and add their groups this way.
    pub fn add_returns(
        &self,
        counts: &mut DailyCounts,
        key: bool,
        return_date: &str,
        registered: bool,
        n: u64,
    ) {
        let returned = return_date.trim();
        if returned.is_empty() || returned > self.day.as_str() {
            return;
        }
        let today = if returned == self.day { n } else { 0 };
        if key {
            counts.returned_key_total += n;
            counts.returned_key_today += today;
        } else {
            counts.returned_other_total += n;
            counts.returned_other_today += today;
        }
        if !registered {
            counts.unregistered += n;
        }
    }

    pub fn add_isolation(&self, counts: &mut DailyCounts, isolation: IsolationFacts) {
        self.add_isolations(counts, isolation, 1);
    }

    /// Adds `n` isolations sharing kind, start and release.
    pub fn add_isolations(&self, counts: &mut DailyCounts, isolation: IsolationFacts, n: u64) {
        let end = self
            .config
            .isolation_end(isolation.start, isolation.release);
        if isolation.start <= self.date && self.date < end {
            match isolation.kind {
                pb::IsolationKind::Home => counts.home_isolation += n,
                pb::IsolationKind::Central => counts.central_isolation += n,
                pb::IsolationKind::Unspecified => {}
            }
        }
        if end == self.date {
            counts.released_today += n;
        }
    }
}

impl DailyCounts {
    /// The values in [`COLUMNS`] order.
    pub fn values(&self) -> [u64; 14] {
        [
            self.households,
            self.housing_owner,
            self.housing_rented,
            self.housing_vacant,
            self.persons,
            self.foreigners,
            self.returned_key_total,
            self.returned_key_today,
            self.returned_other_total,
            self.returned_other_today,
            self.unregistered,
            self.home_isolation,
            self.central_isolation,
            self.released_today,
        ]
    }
}

impl std::ops::AddAssign for DailyCounts {
    fn add_assign(&mut self, other: Self) {
        self.households += other.households;
        self.housing_owner += other.housing_owner;
        self.housing_rented += other.housing_rented;
        self.housing_vacant += other.housing_vacant;
        self.persons += other.persons;
        self.foreigners += other.foreigners;
        self.returned_key_total += other.returned_key_total;
        self.returned_key_today += other.returned_key_today;
        self.returned_other_total += other.returned_other_total;
        self.returned_other_today += other.returned_other_today;
        self.unregistered += other.unregistered;
        self.home_isolation += other.home_isolation;
        self.central_isolation += other.central_isolation;
        self.released_today += other.released_today;
    }
}

impl DailyCounts {
    /// The counts, with the compound's `log`, as a node's daily report for
    /// `date`.
    pub fn to_report(
        &self,
        log: &crate::log::DailyLog,
        date: NaiveDate,
        computed_at: String,
    ) -> pb::DailyReport {
        pb::DailyReport {
            date: date.format("%Y-%m-%d").to_string(),
            households: self.households,
            housing_owner: self.housing_owner,
            housing_rented: self.housing_rented,
            housing_vacant: self.housing_vacant,
            persons: self.persons,
            foreigners: self.foreigners,
            returned_key_total: self.returned_key_total,
            returned_key_today: self.returned_key_today,
            returned_other_total: self.returned_other_total,
            returned_other_today: self.returned_other_today,
            unregistered: self.unregistered,
            home_isolation: self.home_isolation,
            central_isolation: self.central_isolation,
            released_today: self.released_today,
            computed_at,
            log: Some(log.to_report()),
        }
    }

    /// The counts a node reported.
    pub fn from_report(r: &pb::DailyReport) -> Self {
        DailyCounts {
            households: r.households,
            housing_owner: r.housing_owner,
            housing_rented: r.housing_rented,
            housing_vacant: r.housing_vacant,
            persons: r.persons,
            foreigners: r.foreigners,
            returned_key_total: r.returned_key_total,
            returned_key_today: r.returned_key_today,
            returned_other_total: r.returned_other_total,
            returned_other_today: r.returned_other_today,
            unregistered: r.unregistered,
            home_isolation: r.home_isolation,
            central_isolation: r.central_isolation,
            released_today: r.released_today,
        }
    }
}

/// Parses a stored `YYYY-MM-DD` date; empty or malformed gives `None`.
pub fn parse_day(s: &str) -> Option<NaiveDate> {
    // Stored days are canonical; the general parser is ten times slower
    // and the log parses two dates of every isolation it reads.
    canonical_day(s).or_else(|| NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok())
}

/// `s` as a date when it is exactly `YYYY-MM-DD` (digits, dashes, a real
/// date), as the record rules require of a date; `None` for anything else.
pub(crate) fn canonical_day(s: &str) -> Option<chrono::NaiveDate> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let number = |digits: &[u8]| {
        digits.iter().try_fold(0u32, |n, c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    chrono::NaiveDate::from_ymd_opt(
        i32::try_from(number(&b[0..4])?).ok()?,
        number(&b[5..7])?,
        number(&b[8..10])?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        parse_day(s).unwrap()
    }

    #[test]
    fn key_region_matches_by_prefix() {
        let config = TableConfig::default();
        for origin in ["湖北", "湖北省", "湖北省武汉市", " 湖北省 "] {
            assert!(config.is_key_region(origin), "{origin}");
        }
        for origin in ["", "浙江省", "武汉", "北湖"] {
            assert!(!config.is_key_region(origin), "{origin}");
        }
    }

    #[test]
    fn returnees_are_counted_on_and_after_their_day() {
        let config = TableConfig::default();
        let person = PersonFacts {
            nationality: "CN",
            origin: "湖北省武汉市",
            return_date: "2020-02-10",
            registered: false,
        };
        let mut before = DailyCounts::default();
        TableBuilder::new(&config, d("2020-02-09")).add_person(&mut before, person);
        assert_eq!((before.returned_key_total, before.unregistered), (0, 0));
        let mut on = DailyCounts::default();
        TableBuilder::new(&config, d("2020-02-10")).add_person(&mut on, person);
        assert_eq!(
            (
                on.returned_key_total,
                on.returned_key_today,
                on.unregistered
            ),
            (1, 1, 1)
        );
        let mut after = DailyCounts::default();
        TableBuilder::new(&config, d("2020-02-11")).add_person(&mut after, person);
        assert_eq!((after.returned_key_total, after.returned_key_today), (1, 0));
    }

    #[test]
    fn isolation_runs_from_start_to_end_exclusive() {
        let config = TableConfig::default();
        let isolation = IsolationFacts {
            kind: pb::IsolationKind::Home,
            start: d("2020-02-01"),
            release: None,
        };
        let count = |day: &str| {
            let mut counts = DailyCounts::default();
            TableBuilder::new(&config, d(day)).add_isolation(&mut counts, isolation);
            (counts.home_isolation, counts.released_today)
        };
        assert_eq!(count("2020-01-31"), (0, 0));
        assert_eq!(count("2020-02-01"), (1, 0));
        assert_eq!(count("2020-02-14"), (1, 0));
        assert_eq!(count("2020-02-15"), (0, 1));
    }
}
