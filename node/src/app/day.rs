//! The compound worker's day over the records: the mask queue and whom to
//! call, the home-isolated who still need today's checks, and the map of
//! the day by building (防疫工作图).

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDate;
use lianfang_proto::kinds::KindBody;
use lianfang_proto::table::TableConfig;
use lianfang_proto::{Kind, pb};

use super::NodeApp;
use super::privacy::{self, Mask as _, Reveal};
use crate::ledger::date_text;
use crate::store::{Change, Store, StoreError};

/// A mask reservation waiting in the queue (or just notified).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct QueueEntry {
    pub id: String,
    pub name: String,
    /// Masked in the queue; in full for the ones to call.
    pub phone: String,
    pub household_id: String,
    pub reserved_at: String,
    pub quantity: u32,
}

/// Whom to call: the reservations just marked notified, names and phones
/// in full (audited).
pub type MaskCall = QueueEntry;

/// A home-isolated person without both of today's checks.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Unchecked {
    pub person_id: String,
    pub name: String,
    pub household_id: String,
    /// `building-unit-room` of the household, or "" when unknown.
    pub address: String,
    /// The building, or "" when unknown.
    pub building: String,
    /// The slots without a check (上午, 下午).
    pub missing: Vec<&'static str>,
}

/// One building on the map of the day.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct BuildingDay {
    /// 楼号; "" for persons whose household is not known.
    pub building: String,
    pub households: usize,
    pub persons: usize,
    /// Households with a person in home isolation on the day.
    pub isolated_households: usize,
    /// Names of the persons who returned on the day.
    pub returnees_today: Vec<String>,
    /// Names of the home-isolated persons without both of the day's checks.
    pub unchecked: Vec<String>,
}

/// The map's row of `building`, made on first use.
fn slot<'m>(
    map: &'m mut BTreeMap<(u64, String), BuildingDay>,
    building: &str,
) -> &'m mut BuildingDay {
    map.entry(building_order(building))
        .or_insert_with(|| BuildingDay {
            building: building.to_owned(),
            ..BuildingDay::default()
        })
}

fn day(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

fn typed<M: KindBody>(store: &Store) -> Result<Vec<(String, M)>, StoreError> {
    let mut out = Vec::new();
    store.for_each_live(M::KIND, |id, _, body| {
        if let Some(m) = M::from_body(&body) {
            out.push((id.to_owned(), m.clone()));
        }
    })?;
    Ok(out)
}

/// The waiting queue: live reservations not yet notified whose reserved
/// day is on or before `date`, in queue order (reserved_at, then id).
fn queue(store: &Store, date: NaiveDate) -> Result<Vec<(String, pb::MaskReservation)>, StoreError> {
    let mut waiting: Vec<(String, pb::MaskReservation)> = typed::<pb::MaskReservation>(store)?
        .into_iter()
        .filter(|(_, r)| {
            r.notified_on.is_empty()
                && r.reserved_at
                    .get(..10)
                    .and_then(day)
                    .is_some_and(|d| d <= date)
        })
        .collect();
    waiting.sort_by(|(a_id, a), (b_id, b)| (&a.reserved_at, a_id).cmp(&(&b.reserved_at, b_id)));
    Ok(waiting)
}

fn entry(id: String, r: pb::MaskReservation) -> QueueEntry {
    QueueEntry {
        id,
        name: r.name,
        phone: r.phone,
        household_id: r.household_id,
        reserved_at: r.reserved_at,
        quantity: r.quantity,
    }
}

/// The persons in home isolation on `date`, by person id.
fn home_isolated(
    isolations: &[(String, pb::Isolation)],
    config: &TableConfig,
    date: NaiveDate,
) -> HashSet<String> {
    isolations
        .iter()
        .filter(|(_, i)| i.kind == pb::IsolationKind::Home as i32)
        .filter(|(_, i)| {
            day(&i.start).is_some_and(|start| {
                let end = config.isolation_end(start, day(&i.release));
                start <= date && date < end
            })
        })
        .map(|(_, i)| i.person_id.clone())
        .collect()
}

/// Everything the day's views read, decoded once.
struct Day {
    households: HashMap<String, pb::Household>,
    persons: Vec<(String, pb::Person)>,
    isolated: HashSet<String>,
    /// Slots checked on the day, by person.
    checked: HashMap<String, HashSet<i32>>,
}

impl Day {
    fn read(store: &Store, date: NaiveDate) -> Result<Day, StoreError> {
        let config = store.table_config()?;
        let isolations = typed::<pb::Isolation>(store)?;
        let today = date_text(date);
        let mut checked: HashMap<String, HashSet<i32>> = HashMap::new();
        // A month of checks: read one at a time, today's kept.
        store.for_each_live(Kind::HealthCheck, |_, _, body| {
            if let Some(check) = pb::HealthCheck::from_body(&body)
                && check.date == today
            {
                checked
                    .entry(check.person_id.clone())
                    .or_default()
                    .insert(check.slot);
            }
        })?;
        Ok(Day {
            households: typed::<pb::Household>(store)?.into_iter().collect(),
            persons: typed::<pb::Person>(store)?,
            isolated: home_isolated(&isolations, &config, date),
            checked,
        })
    }

    fn unchecked(&self) -> Vec<Unchecked> {
        let mut out: Vec<Unchecked> = self
            .persons
            .iter()
            .filter(|(id, _)| self.isolated.contains(id))
            .filter_map(|(id, p)| {
                let done = self.checked.get(id);
                let missing: Vec<&'static str> = [(pb::Slot::Am, "上午"), (pb::Slot::Pm, "下午")]
                    .into_iter()
                    .filter(|(slot, _)| !done.is_some_and(|d| d.contains(&(*slot as i32))))
                    .map(|(_, label)| label)
                    .collect();
                if missing.is_empty() {
                    return None;
                }
                let household = self.households.get(&p.household_id);
                Some(Unchecked {
                    person_id: id.clone(),
                    name: p.name.clone(),
                    household_id: p.household_id.clone(),
                    address: household.map_or_else(String::new, |h| {
                        format!("{}-{}-{}", h.building, h.unit, h.room)
                    }),
                    building: household.map_or_else(String::new, |h| h.building.clone()),
                    missing,
                })
            })
            .collect();
        out.sort_by(|a, b| {
            building_order(&a.building)
                .cmp(&building_order(&b.building))
                .then_with(|| a.address.cmp(&b.address))
                .then_with(|| a.person_id.cmp(&b.person_id))
        });
        out
    }
}

/// Buildings in the order a worker walks them: by number when they are
/// numbers, then by name.
fn building_order(building: &str) -> (u64, String) {
    let digits: String = building.chars().take_while(char::is_ascii_digit).collect();
    (digits.parse().unwrap_or(u64::MAX), building.to_owned())
}

impl NodeApp {
    /// The mask reservations waiting to be notified on `date` (default
    /// today), in queue order; phones masked.
    ///
    /// # Errors
    /// Store errors.
    pub fn mask_queue(&self, date: Option<NaiveDate>) -> Result<Vec<QueueEntry>, StoreError> {
        let store = self.store();
        let privacy = privacy::step(&store, Reveal::Masked, "")?;
        let mut entries: Vec<QueueEntry> = queue(&store, date.unwrap_or_else(crate::today))?
            .into_iter()
            .map(|(id, r)| entry(id, r))
            .collect();
        entries.mask(privacy);
        Ok(entries)
    }

    /// Marks the next `n` reservations of the queue notified today and
    /// returns them (phones masked); [`NodeApp::mask_calls`] shows whom to
    /// call.
    ///
    /// # Errors
    /// Store errors; nothing is marked then.
    pub fn notify_masks(&self, n: usize) -> Result<Vec<QueueEntry>, StoreError> {
        let today = crate::today();
        let mut store = self.store();
        let next: Vec<(String, pb::MaskReservation)> =
            queue(&store, today)?.into_iter().take(n).collect();
        let changes = next.iter().map(|(id, r)| Change {
            kind: Kind::MaskReservation,
            id: id.clone(),
            body: Some(
                pb::MaskReservation {
                    notified_on: date_text(today),
                    ..r.clone()
                }
                .into_body(),
            ),
        });
        let summary = store.write(changes, crate::now_ms())?;
        let privacy = privacy::step(&store, Reveal::Masked, "")?;
        drop(store);
        self.wrote(&summary);
        let mut marked: Vec<QueueEntry> = next.into_iter().map(|(id, r)| entry(id, r)).collect();
        marked.mask(privacy);
        Ok(marked)
    }

    /// Whom to call: the reservations notified on `date` (default today),
    /// in queue order, names and phones in full. The showing is written to
    /// the audit log first.
    ///
    /// # Errors
    /// Store errors (an audit that fails shows nothing).
    pub fn mask_calls(&self, date: Option<NaiveDate>) -> Result<Vec<MaskCall>, StoreError> {
        let day = date_text(date.unwrap_or_else(crate::today));
        let store = self.store();
        let mut notified: Vec<(String, pb::MaskReservation)> =
            typed::<pb::MaskReservation>(&store)?
                .into_iter()
                .filter(|(_, r)| r.notified_on == day)
                .collect();
        notified
            .sort_by(|(a_id, a), (b_id, b)| (&a.reserved_at, a_id).cmp(&(&b.reserved_at, b_id)));
        let privacy = privacy::step(
            &store,
            Reveal::Unmasked,
            &format!("mask reservations notified on {day}, to call,"),
        )?;
        let mut calls: Vec<MaskCall> = notified.into_iter().map(|(id, r)| entry(id, r)).collect();
        calls.mask(privacy);
        Ok(calls)
    }

    /// The home-isolated persons on `date` (default today) without both of
    /// the day's checks, by building and address.
    ///
    /// # Errors
    /// Store errors.
    pub fn unchecked(&self, date: Option<NaiveDate>) -> Result<Vec<Unchecked>, StoreError> {
        let store = self.store();
        Ok(Day::read(&store, date.unwrap_or_else(crate::today))?.unchecked())
    }

    /// The compound's map of the day (防疫工作图): per building, its
    /// households and persons, home-isolated households, the day's
    /// returnees and the unchecked isolated persons; buildings in walking
    /// order, persons of unknown households under "".
    ///
    /// # Errors
    /// Store errors.
    pub fn buildings(&self, date: Option<NaiveDate>) -> Result<Vec<BuildingDay>, StoreError> {
        let date = date.unwrap_or_else(crate::today);
        let store = self.store();
        let day = Day::read(&store, date)?;
        drop(store);
        let mut map: BTreeMap<(u64, String), BuildingDay> = BTreeMap::new();
        for household in day.households.values() {
            slot(&mut map, &household.building).households += 1;
        }
        let today = date_text(date);
        let mut isolated_households: HashSet<&str> = HashSet::new();
        for (id, person) in &day.persons {
            let building = day
                .households
                .get(&person.household_id)
                .map_or("", |h| h.building.as_str());
            let row = slot(&mut map, building);
            row.persons += 1;
            if person.return_date == today {
                row.returnees_today.push(person.name.clone());
            }
            if day.isolated.contains(id) && isolated_households.insert(&person.household_id) {
                row.isolated_households += 1;
            }
        }
        for unchecked in day.unchecked() {
            slot(&mut map, &unchecked.building)
                .unchecked
                .push(unchecked.name);
        }
        Ok(map.into_values().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::records::tests::{app, form, household};

    fn today() -> String {
        date_text(crate::today())
    }

    #[test]
    fn the_queue_is_in_order_notify_marks_the_next_and_calls_are_audited() {
        let (_dir, app) = app();
        let day = today();
        for (id, name, at) in [
            ("M2", "乙", "08:00"),
            ("M1", "甲", "08:00"),
            ("M3", "丙", "07:00"),
        ] {
            app.save(
                Kind::MaskReservation,
                None,
                &form(&[
                    ("reservation_id", id),
                    ("name", name),
                    ("phone", "13800000001"),
                    ("reserved_at", &format!("{day} {at}")),
                    ("quantity", "5"),
                ]),
            )
            .unwrap();
        }
        let queue = app.mask_queue(None).unwrap();
        let ids: Vec<&str> = queue.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["M3", "M1", "M2"]);
        assert_eq!(queue[0].phone, "138****0001");
        let marked = app.notify_masks(2).unwrap();
        assert_eq!(marked.len(), 2);
        assert_eq!(app.mask_queue(None).unwrap()[0].id, "M2");
        let audited = app.audit_log().unwrap().len();
        let calls = app.mask_calls(None).unwrap();
        let called: Vec<(&str, &str)> = calls
            .iter()
            .map(|c| (c.name.as_str(), c.phone.as_str()))
            .collect();
        assert_eq!(called, [("丙", "13800000001"), ("甲", "13800000001")]);
        assert_eq!(app.audit_log().unwrap().len(), audited + 1);
        assert_eq!(app.log(None).unwrap().log.masks_notified, 2);
    }

    #[test]
    fn unchecked_isolated_persons_and_the_map_of_the_day() {
        let (_dir, app) = app();
        let day = today();
        household(&app, "H1", "12", "101");
        household(&app, "H2", "3", "201");
        for (id, hh, name, returned) in [
            ("P1", "H1", "王芳", day.as_str()),
            ("P2", "H2", "李四", ""),
            ("P3", "H2", "张三", ""),
        ] {
            app.save(
                Kind::Person,
                None,
                &form(&[
                    ("person_id", id),
                    ("household_id", hh),
                    ("name", name),
                    ("id_number", "E1234567"),
                    ("nationality", "US"),
                    ("origin", "湖北"),
                    ("return_date", returned),
                ]),
            )
            .unwrap();
        }
        for (id, person) in [("I1", "P1"), ("I2", "P2")] {
            app.save(
                Kind::Isolation,
                None,
                &form(&[
                    ("isolation_id", id),
                    ("person_id", person),
                    ("kind", "居家"),
                    ("start", &day),
                ]),
            )
            .unwrap();
        }
        app.save(
            Kind::HealthCheck,
            None,
            &form(&[
                ("person_id", "P1"),
                ("date", &day),
                ("slot", "上午"),
                ("temperature", "36.5"),
            ]),
        )
        .unwrap();
        let unchecked = app.unchecked(None).unwrap();
        let who: Vec<(&str, &[&str])> = unchecked
            .iter()
            .map(|u| (u.name.as_str(), u.missing.as_slice()))
            .collect();
        assert_eq!(
            who,
            [("李四", &["上午", "下午"][..]), ("王芳", &["下午"][..])],
            "building 3 before 12"
        );
        assert_eq!(unchecked[1].address, "12-1-101");

        let map = app.buildings(None).unwrap();
        let buildings: Vec<&str> = map.iter().map(|b| b.building.as_str()).collect();
        assert_eq!(buildings, ["3", "12"]);
        assert_eq!(
            (
                map[0].households,
                map[0].persons,
                map[0].isolated_households
            ),
            (1, 2, 1)
        );
        assert_eq!(map[1].returnees_today, ["王芳"]);
        assert_eq!(map[1].unchecked, ["王芳"]);
    }
}
