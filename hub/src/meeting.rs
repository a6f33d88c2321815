//! The 16:30 meeting (例会): the hub-local settings it needs (the cut-off
//! and the street's name), when the cut-off of a day falls, and the worker
//! that takes the day's snapshot at the cut-off while `serve` runs.
//!
//! The snapshot itself (what is stored, and the revisions since) is
//! `crate::store`'s (`store/snapshot.rs`); this module only decides *when*.
//!
//! The street keeps China Standard Time (UTC+8, no daylight saving time), so
//! a cut-off is a time of day there and a fixed instant of each date.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

use crate::app::HubApp;

/// The street's offset from UTC (China Standard Time).
const CHINA_HOURS: i64 = 8;

/// Longest the worker sleeps before it looks at the clock and the settings
/// again, so a changed cut-off, a wall clock that jumps, or a snapshot
/// taken by hand are noticed within this time.
pub const RECHECK: Duration = Duration::from_secs(30);

/// How long the worker waits before trying again after a failed snapshot
/// (the database busy past its timeout, a full disk).
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(30);

/// Longest a street name may be, in characters.
pub const MAX_STREET_NAME_CHARS: usize = 40;

/// What titles say when no street name is set.
pub const DEFAULT_STREET_TITLE: &str = "街道";

/// Why a setting is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SettingError {
    #[error(
        "{0:?} is not a time of day: give the cut-off as HH:MM, 00:00 to 23:59, \
         China time (UTC+8), e.g. 16:30"
    )]
    Cutoff(String),
    #[error("the street name may have at most {MAX_STREET_NAME_CHARS} characters, got {0}")]
    StreetNameLength(usize),
    #[error("the street name may not hold control characters (line breaks, tabs)")]
    StreetNameControl,
}

/// The meeting's cut-off: a time of day in China time (default 16:30).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cutoff(NaiveTime);

impl Cutoff {
    /// A cut-off at `hour:minute`, if that is a time of day.
    pub fn hm(hour: u32, minute: u32) -> Option<Cutoff> {
        NaiveTime::from_hms_opt(hour, minute, 0).map(Cutoff)
    }

    /// The instant the cut-off of `date` (a date in China time) falls at.
    pub fn instant_on(self, date: NaiveDate) -> DateTime<Utc> {
        (date.and_time(self.0) - chrono::Duration::hours(CHINA_HOURS)).and_utc()
    }
}

impl Default for Cutoff {
    fn default() -> Self {
        Cutoff::hm(16, 30).expect("16:30 is a time of day")
    }
}

impl FromStr for Cutoff {
    type Err = SettingError;

    /// `HH:MM` (or `H:MM`), 00:00 to 23:59: nothing else, so `4pm`, `25:00`
    /// and `16:30:00` are refused rather than guessed at.
    fn from_str(s: &str) -> Result<Cutoff, SettingError> {
        let bad = || SettingError::Cutoff(s.to_owned());
        let (hour, minute) = s.trim().split_once(':').ok_or_else(bad)?;
        let digits = |part: &str, most: usize| {
            (1..=most).contains(&part.len()) && part.bytes().all(|b| b.is_ascii_digit())
        };
        if !digits(hour, 2) || minute.len() != 2 || !digits(minute, 2) {
            return Err(bad());
        }
        let hour: u32 = hour.parse().map_err(|_| bad())?;
        let minute: u32 = minute.parse().map_err(|_| bad())?;
        if hour > 23 || minute > 59 {
            return Err(bad());
        }
        Cutoff::hm(hour, minute).ok_or_else(bad)
    }
}

impl fmt::Display for Cutoff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%H:%M"))
    }
}

impl Serialize for Cutoff {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cutoff {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Cutoff, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A street name as given: trimmed, at most [`MAX_STREET_NAME_CHARS`]
/// characters, no control characters; empty means none (titles then say
/// [`DEFAULT_STREET_TITLE`]).
///
/// # Errors
/// [`SettingError`] for a name too long or holding control characters.
pub fn street_name(s: &str) -> Result<String, SettingError> {
    let name = s.trim();
    let n = name.chars().count();
    if n > MAX_STREET_NAME_CHARS {
        return Err(SettingError::StreetNameLength(n));
    }
    if name.chars().any(char::is_control) {
        return Err(SettingError::StreetNameControl);
    }
    Ok(name.to_owned())
}

/// Settings of the hub alone: the nodes never see them, so changing them
/// appends nothing to any down log (unlike the table's `TableConfig`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HubSettings {
    /// When the meeting's snapshot of each day is taken, China time.
    pub cutoff: Cutoff,
    /// The street's name, for titles and exports (empty: none set).
    pub street_name: String,
}

impl HubSettings {
    /// The street's name as titles show it.
    pub fn street_title(&self) -> &str {
        if self.street_name.is_empty() {
            DEFAULT_STREET_TITLE
        } else {
            &self.street_name
        }
    }
}

/// What the cut-off worker does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Take the snapshot of this date now.
    Take(NaiveDate),
    /// Nothing is due for this long.
    Wait(Duration),
}

/// The street's date (UTC+8) at `now`.
pub fn date_at(now: DateTime<Utc>) -> NaiveDate {
    (now + chrono::Duration::hours(CHINA_HOURS)).date_naive()
}

/// What is due at `now`: the snapshot of today when the clock is at or past
/// today's cut-off and none of today exists (`taken_today`), else a wait
/// until the next cut-off (today's, or tomorrow's once today's is done),
/// never longer than [`RECHECK`]. A day whose cut-off passed while the hub
/// was down is not taken afterwards, except today's.
pub fn next(now: DateTime<Utc>, cutoff: Cutoff, taken_today: bool) -> Next {
    let today = date_at(now);
    let due = cutoff.instant_on(today);
    let until = if now < due {
        due
    } else if !taken_today {
        return Next::Take(today);
    } else {
        cutoff.instant_on(today + chrono::Days::new(1))
    };
    let wait = (until - now).to_std().unwrap_or_default();
    Next::Wait(wait.min(RECHECK))
}

/// The worker `serve` runs beside the gRPC service: it takes the meeting's
/// snapshot of each day at the cut-off when none of that day exists, on its
/// own connection, one write transaction each (syncs wait for it, and it for
/// them, as for any writer). It stops when `must_exit` turns true (or its
/// sender is dropped); a snapshot in progress finishes first.
#[derive(Debug)]
pub struct CutoffWorker {
    /// The hub's application, opened on the serve's data directory.
    app: HubApp,
}

impl CutoffWorker {
    /// A worker over `app`.
    pub fn new(app: HubApp) -> CutoffWorker {
        CutoffWorker { app }
    }

    /// Runs until `must_exit` says so.
    pub async fn run(self, mut must_exit: tokio::sync::watch::Receiver<bool>) {
        loop {
            if *must_exit.borrow() {
                return;
            }
            let wait = match self.app.blocking(|app| app.cutoff_due(crate::now())).await {
                Ok(Next::Wait(wait)) => wait,
                Ok(Next::Take(date)) => {
                    let taken = self
                        .app
                        .blocking(move |app| app.take_due_snapshot(date))
                        .await;
                    match taken {
                        Ok(Some(taken)) => {
                            tracing::info!(
                                date = %taken.date,
                                taken_at = %taken.taken_at,
                                rows = taken.rows,
                                "took the meeting's snapshot at the cut-off"
                            );
                            Duration::ZERO
                        }
                        // Someone took it meanwhile (`lianfang-hub snapshot`).
                        Ok(None) => Duration::ZERO,
                        Err(e) => {
                            tracing::warn!(error = %e, %date, "the meeting's snapshot failed; retrying");
                            RETRY_AFTER_FAILURE
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the cut-off; retrying");
                    RETRY_AFTER_FAILURE
                }
            };
            if wait.is_zero() {
                continue;
            }
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                changed = must_exit.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn cutoffs_parse_strictly() {
        for (s, expect) in [
            ("16:30", Some("16:30")),
            ("9:05", Some("09:05")),
            ("00:00", Some("00:00")),
            ("23:59", Some("23:59")),
            (" 16:30 ", Some("16:30")),
            ("24:00", None),
            ("25:00", None),
            ("16:60", None),
            ("4pm", None),
            ("16", None),
            ("16:3", None),
            ("16:30:00", None),
            ("16.30", None),
            ("-1:30", None),
            ("+1:30", None),
            ("１６:３０", None),
            ("", None),
        ] {
            let got = s.parse::<Cutoff>().ok().map(|c| c.to_string());
            assert_eq!(got.as_deref(), expect, "{s:?}");
        }
        let e = "4pm".parse::<Cutoff>().unwrap_err().to_string();
        assert!(e.contains("\"4pm\"") && e.contains("HH:MM"), "{e}");
        assert_eq!(Cutoff::default().to_string(), "16:30");
    }

    #[test]
    fn the_cutoff_falls_in_china_time() {
        let cutoff = Cutoff::default();
        assert_eq!(
            cutoff.instant_on(date("2020-02-10")),
            at("2020-02-10T08:30:00Z")
        );
        let early = Cutoff::hm(7, 0).unwrap();
        assert_eq!(
            early.instant_on(date("2020-02-10")),
            at("2020-02-09T23:00:00Z")
        );
        assert_eq!(date_at(at("2020-02-09T23:00:00Z")), date("2020-02-10"));
        assert_eq!(date_at(at("2020-02-09T15:59:59Z")), date("2020-02-09"));
    }

    #[test]
    fn the_snapshot_is_due_at_the_cutoff_once_a_day() {
        let cutoff = Cutoff::default();
        // Before the cut-off: wait for it, but never longer than RECHECK.
        assert_eq!(
            next(at("2020-02-10T08:29:55Z"), cutoff, false),
            Next::Wait(Duration::from_secs(5))
        );
        assert_eq!(
            next(at("2020-02-10T02:00:00Z"), cutoff, false),
            Next::Wait(RECHECK)
        );
        // At or past it, with none of today: take it.
        for now in [
            "2020-02-10T08:30:00Z",
            "2020-02-10T08:30:01Z",
            "2020-02-10T15:59:59Z",
        ] {
            assert_eq!(
                next(at(now), cutoff, false),
                Next::Take(date("2020-02-10")),
                "{now}"
            );
        }
        // Taken: wait for tomorrow's.
        assert_eq!(
            next(at("2020-02-10T15:59:50Z"), cutoff, true),
            Next::Wait(RECHECK)
        );
        let tomorrow = cutoff.instant_on(date("2020-02-11"));
        assert_eq!(
            next(tomorrow - chrono::Duration::seconds(3), cutoff, true),
            Next::Wait(Duration::from_secs(3))
        );
        // Just after midnight China time, yesterday's missed one is not taken.
        assert_eq!(
            next(at("2020-02-10T16:00:01Z"), cutoff, false),
            Next::Wait(RECHECK)
        );
    }

    #[test]
    fn street_names() {
        assert_eq!(street_name("  花木街道 ").unwrap(), "花木街道");
        assert_eq!(street_name("").unwrap(), "");
        assert!(matches!(
            street_name("花木\n街道"),
            Err(SettingError::StreetNameControl)
        ));
        assert!(matches!(
            street_name(&"街".repeat(41)),
            Err(SettingError::StreetNameLength(41))
        ));
        let settings = HubSettings::default();
        assert_eq!(settings.street_title(), DEFAULT_STREET_TITLE);
        assert_eq!(
            serde_json::to_string(&settings).unwrap(),
            r#"{"cutoff":"16:30","street_name":""}"#
        );
        let back: HubSettings = serde_json::from_str(r#"{"street_name":"花木街道"}"#).unwrap();
        assert_eq!(back.cutoff, Cutoff::default());
        assert_eq!(back.street_title(), "花木街道");
    }
}
