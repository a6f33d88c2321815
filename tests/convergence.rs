//! Convergence: the hub ends in the same state whatever the batch order.
//!
//! A node's real change log is delivered to a real `HubStore` under an
//! arbitrary schedule (random batch boundaries, duplicated, reordered and
//! truncated resends, gaps refused and retried later) and must leave exactly
//! the state of applying the log once, in order. A second property checks
//! the merge itself: the same record versions delivered in any order, with
//! repetitions, leave per id the winner of `lianfang_proto::merge::wins`.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::OnceLock;

use chrono::NaiveDate;
use lianfang_hub::store::{Caller, Counting, HubError, HubStore};
use lianfang_node::store::{Change, Store};
use lianfang_proto::merge::{Version, wins};
use lianfang_proto::record::encode_body;
use lianfang_proto::table::{TableBuilder, TableConfig};
use lianfang_proto::{Kind, Lane, pb};
use lianfang_sim::generate::{self, CompoundLedger, StreetSpec};
use lianfang_tests::node_with_ledger;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;

const KINDS: [Kind; 3] = [Kind::Household, Kind::Person, Kind::Isolation];
const DATES: [&str; 4] = ["2020-01-25", "2020-02-10", "2020-02-14", "2020-02-20"];

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// A small generated compound (20 households), built once.
fn small_compound() -> &'static CompoundLedger {
    static COMPOUND: OnceLock<CompoundLedger> = OnceLock::new();
    COMPOUND.get_or_init(|| {
        let spec = StreetSpec {
            min_households: 20,
            max_households: 20,
            ..StreetSpec::demo(1)
        };
        generate::compound(&spec, 0)
    })
}

/// A fresh hub in a temp dir with the compound enrolled.
struct FreshHub {
    _dir: tempfile::TempDir,
    store: HubStore,
    token: String,
}

impl FreshHub {
    fn new(code: &str) -> FreshHub {
        let dir = tempfile::tempdir().unwrap();
        lianfang_tests::prepare_hub_dir(dir.path());
        let mut store = HubStore::open_or_create(dir.path()).unwrap();
        let token = store.enroll(code, Some("测试小区")).unwrap();
        FreshHub {
            _dir: dir,
            store,
            token,
        }
    }

    /// Authenticates the enrolment and binds it to `log_id`.
    fn session(&mut self, log_id: &str, head: u64) -> Caller {
        let caller = self.store.authenticate(&self.token).unwrap();
        let handshake = self
            .store
            .handshake(&caller, log_id, [(Lane::Bulk, head), (Lane::Urgent, 0)], 0)
            .unwrap();
        assert_eq!(handshake.bulk_cursor, 0, "a fresh hub starts at cursor 0");
        caller
    }
}

/// One edit applied to the node after the import: `op` on the record
/// picked by `at` (see [`edit_change`]).
type Edit = (Index, u8);

/// The change an edit makes, from the generated ledger's bodies.
fn edit_change(compound: &CompoundLedger, (at, op): &Edit, round: usize) -> Change {
    let person = || at.get(&compound.persons);
    let household = || at.get(&compound.households);
    match op % 7 {
        0 => Change {
            kind: Kind::Person,
            id: person().0.clone(),
            body: None,
        },
        1 => Change {
            kind: Kind::Household,
            id: household().0.clone(),
            body: None,
        },
        2 => {
            let (id, _) = at.get(&compound.isolations);
            Change {
                kind: Kind::Isolation,
                id: id.clone(),
                body: None,
            }
        }
        3 => {
            // Returned from a key region on some day in February, unregistered
            // or registered depending on the round.
            let (id, p) = person();
            let mut p = p.clone();
            p.origin = "湖北省武汉市".into();
            p.return_date = format!("2020-02-{:02}", 8 + round % 12);
            p.registered = round % 2 == 1;
            Change {
                kind: Kind::Person,
                id: id.clone(),
                body: Some(pb::record::Body::Person(p)),
            }
        }
        4 => {
            let (id, h) = household();
            let mut h = h.clone();
            h.housing = [pb::Housing::Owner, pb::Housing::Rented, pb::Housing::Vacant]
                [(round + h.housing as usize) % 3] as i32;
            Change {
                kind: Kind::Household,
                id: id.clone(),
                body: Some(pb::record::Body::Household(h)),
            }
        }
        5 => {
            // Restores the ledger's person (re-adds it after a delete).
            let (id, p) = person();
            Change {
                kind: Kind::Person,
                id: id.clone(),
                body: Some(pb::record::Body::Person(p.clone())),
            }
        }
        _ => {
            // Releases an isolation early (or restores a deleted one).
            let (id, i) = at.get(&compound.isolations);
            let mut i = i.clone();
            let start = day(&i.start);
            i.release = (start + chrono::Duration::days(3 + (round % 5) as i64))
                .format("%Y-%m-%d")
                .to_string();
            Change {
                kind: Kind::Isolation,
                id: id.clone(),
                body: Some(pb::record::Body::Isolation(i)),
            }
        }
    }
}

/// Every `(kind, id)` named in a log.
fn ids_of(entries: &[pb::LogEntry]) -> BTreeSet<(Kind, String)> {
    entries
        .iter()
        .map(|e| {
            let record = e.record.as_ref().unwrap();
            (Kind::of(record.body.as_ref().unwrap()), record.id.clone())
        })
        .collect()
}

/// Asserts that two hubs hold the same records (every id in `ids`), live
/// counts and daily tables for `code`; `what` names the comparison.
fn assert_same_hub_state(
    a: &HubStore,
    b: &HubStore,
    code: &str,
    ids: &BTreeSet<(Kind, String)>,
    what: &str,
) -> Result<(), TestCaseError> {
    for (kind, id) in ids {
        prop_assert_eq!(
            a.record(code, *kind, id).unwrap(),
            b.record(code, *kind, id).unwrap(),
            "{}: {} {}",
            what,
            kind.name(),
            id
        );
    }
    for kind in KINDS {
        prop_assert_eq!(
            a.record_count(code, kind).unwrap(),
            b.record_count(code, kind).unwrap(),
            "{}: count of {}",
            what,
            kind.name()
        );
    }
    for date in DATES {
        let (ta, tb) = (a.table(day(date)).unwrap(), b.table(day(date)).unwrap());
        prop_assert_eq!(ta.compounds.len(), 1);
        prop_assert_eq!(tb.compounds.len(), 1);
        prop_assert_eq!(
            ta.compounds[0].counts,
            tb.compounds[0].counts,
            "{} {}",
            what,
            date
        );
        prop_assert_eq!(ta.compounds[0].caught_up, tb.compounds[0].caught_up);
        prop_assert_eq!(ta.total, tb.total, "{} total {}", what, date);
    }
    assert_aggregates_equal_scan(a, code, what)?;
    assert_aggregates_equal_scan(b, code, what)?;
    Ok(())
}

/// The aggregates the hub's table reads equal a scan of every live record,
/// for every test date under two configurations (the default, and other
/// key regions with a 7-day isolation).
fn assert_aggregates_equal_scan(
    hub: &HubStore,
    code: &str,
    what: &str,
) -> Result<(), TestCaseError> {
    let other = TableConfig {
        key_regions: vec!["浙江".into(), "湖北省武汉".into()],
        isolation_days: 7,
    };
    for config in [TableConfig::default(), other] {
        for date in DATES {
            let builder = TableBuilder::new(&config, day(date));
            let aggregated = hub.counts(&builder, &[code], Counting::Aggregates).unwrap();
            let scanned = hub.counts(&builder, &[code], Counting::Scan).unwrap();
            prop_assert_eq!(
                aggregated,
                scanned,
                "{}: aggregates vs scan on {} under {:?}",
                what,
                date,
                config
            );
        }
    }
    Ok(())
}

/// Pushes `entries` and checks the reply against the cursor model: a batch
/// starting above `cursor + 1` is a gap, anything else moves the cursor to
/// `max(cursor, last)` and applies exactly the entries above the cursor.
fn push(
    hub: &mut HubStore,
    caller: &Caller,
    log_id: &str,
    head: u64,
    entries: &[pb::LogEntry],
    cursor: &mut u64,
) -> Result<(), TestCaseError> {
    let first = entries[0].seq;
    let last = entries[entries.len() - 1].seq;
    match hub.apply_batch(caller, log_id, Lane::Bulk, head, entries) {
        Ok(applied) => {
            prop_assert!(
                first <= *cursor + 1,
                "batch {first}..={last} applied over a gap"
            );
            prop_assert_eq!(applied.applied, last.saturating_sub(*cursor));
            *cursor = (*cursor).max(last);
            prop_assert_eq!(applied.cursor, *cursor);
        }
        Err(HubError::Gap {
            first: refused,
            expected,
        }) => {
            prop_assert!(
                first > *cursor + 1,
                "batch {first}..={last} refused at {cursor}"
            );
            prop_assert_eq!((refused, expected), (first, *cursor + 1));
        }
        Err(e) => return Err(TestCaseError::fail(format!("push {first}..={last}: {e}"))),
    }
    Ok(())
}

/// Builds a node (in `dir`) with the small compound imported and `rounds`
/// of edits written, each round one transaction.
fn build_node(dir: &Path, token: &str, rounds: &[Vec<Edit>]) -> Store {
    let compound = small_compound();
    let data = node_with_ledger(dir, compound, "http://127.0.0.1:9", token, false);
    let mut store = Store::open(&data).unwrap();
    for (round, edits) in rounds.iter().enumerate() {
        let changes: Vec<Change> = edits
            .iter()
            .map(|edit| edit_change(compound, edit, round))
            .collect();
        store.write(changes, lianfang_node::now_ms()).unwrap();
    }
    store
}

/// Compares the hub's version of every record with the node's own.
fn assert_hub_equals_node(
    hub: &HubStore,
    node: &Store,
    code: &str,
    ids: &BTreeSet<(Kind, String)>,
) -> Result<(), TestCaseError> {
    for (kind, id) in ids {
        let mine = node.get(*kind, id).unwrap().unwrap();
        let theirs = hub.record(code, *kind, id).unwrap().unwrap();
        prop_assert_eq!(
            (
                mine.stamp,
                &mine.origin,
                mine.deleted,
                encode_body(mine.body.as_ref().unwrap())
            ),
            (theirs.stamp, &theirs.origin, theirs.deleted, theirs.body),
            "{} {}",
            kind.name(),
            id
        );
    }
    Ok(())
}

// ---------------------------------------------------------------- merge

/// One record version of the merge property: record `id` (0..5; the kind
/// follows the id), stamp, origin, tombstone or not, body variant.
#[derive(Debug, Clone)]
struct V {
    id: usize,
    stamp: u64,
    origin: &'static str,
    deleted: bool,
    variant: u8,
}

/// Origins that tie-break stamps; one is a prefix of another and one sorts
/// above ASCII, so byte order matters in SQL as in Rust.
const ORIGINS: [&str; 5] = [
    "HM001/0000beef",
    "HM001/cafe",
    "HM001/cafe0000",
    "hub",
    "中心",
];
/// A realistic HLC stamp (2020-02-06 in wall ms << 16).
const BASE_STAMP: u64 = 1_580_947_200_000 << 16;

impl V {
    fn kind(&self) -> Kind {
        KINDS[self.id % 3]
    }

    fn record_id(&self) -> String {
        format!("{}{:03}", ["H", "P", "I"][self.id % 3], self.id)
    }

    fn body(&self) -> pb::record::Body {
        if self.deleted {
            return self.kind().empty_body();
        }
        // Unique per version, so the body says which version won.
        let tag = format!("{}@{}", self.stamp - BASE_STAMP, self.origin);
        let v = self.variant as usize;
        match self.kind() {
            Kind::Household => pb::record::Body::Household(pb::Household {
                building: tag,
                unit: "1".into(),
                room: "101".into(),
                housing: [pb::Housing::Owner, pb::Housing::Rented, pb::Housing::Vacant][v % 3]
                    as i32,
            }),
            Kind::Person => pb::record::Body::Person(pb::Person {
                household_id: "H000".into(),
                name: tag,
                phone: "13800138000".into(),
                // Valid for the nationality: the hub checks every record.
                id_number: ["11010519491231002X", "E12345678", "11010519491231002X"][v % 3].into(),
                nationality: ["CN", "US", "CN"][v % 3].into(),
                origin: ["湖北省", "浙江省", ""][v % 3].into(),
                return_date: ["2020-02-10", "2020-02-01", ""][v % 3].into(),
                registered: v.is_multiple_of(2),
            }),
            _ => pb::record::Body::Isolation(pb::Isolation {
                person_id: tag,
                kind: [pb::IsolationKind::Home, pb::IsolationKind::Central][v % 2] as i32,
                start: ["2020-02-01", "2020-02-09", "2020-02-05"][v % 3].into(),
                release: ["", "2020-02-10", ""][v % 3].into(),
            }),
        }
    }

    fn record(&self, compound: &str) -> pb::Record {
        pb::Record {
            compound: compound.into(),
            id: self.record_id(),
            stamp: self.stamp,
            origin: self.origin.into(),
            deleted: self.deleted,
            body: Some(self.body()),
        }
    }
}

/// Distinct versions: one `(id, stamp, origin)` is one write, so it has
/// one body (two bodies under one version cannot happen).
fn versions() -> impl Strategy<Value = Vec<V>> {
    vec(
        (
            0usize..5,
            0u64..3,
            0u64..3,
            0usize..ORIGINS.len(),
            prop::bool::weighted(0.3),
            any::<u8>(),
        ),
        1..16,
    )
    .prop_map(|raw| {
        let mut seen = BTreeSet::new();
        raw.into_iter()
            .map(|(id, wall, counter, origin, deleted, variant)| V {
                id,
                stamp: BASE_STAMP + (wall << 16) + counter,
                origin: ORIGINS[origin],
                deleted,
                variant,
            })
            .filter(|v| seen.insert((v.id, v.stamp, v.origin)))
            .collect()
    })
}

/// A delivery order of `n` versions: every one at least once, some twice,
/// shuffled.
fn delivery(n: usize) -> impl Strategy<Value = Vec<usize>> {
    vec(0..n, 0..=n).prop_flat_map(move |extra| {
        let mut all: Vec<usize> = (0..n).collect();
        all.extend(extra);
        Just(all).prop_shuffle()
    })
}

/// Delivers `order` of `versions` as one log, `batch` entries per push, to
/// a fresh hub.
fn deliver(versions: &[V], order: &[usize], batch: usize) -> FreshHub {
    let mut hub = FreshHub::new("HM001");
    let head = order.len() as u64;
    let caller = hub.session("merge-log", head);
    let entries: Vec<pb::LogEntry> = order
        .iter()
        .enumerate()
        .map(|(i, &v)| pb::LogEntry {
            seq: i as u64 + 1,
            record: Some(versions[v].record("HM001")),
        })
        .collect();
    for chunk in entries.chunks(batch) {
        let applied = hub
            .store
            .apply_batch(&caller, "merge-log", Lane::Bulk, head, chunk)
            .unwrap();
        assert_eq!(applied.applied, chunk.len() as u64);
    }
    assert_eq!(hub.store.cursor("HM001").unwrap(), head);
    hub
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 24,
        max_shrink_iters: 256,
        ..ProptestConfig::default()
    })]

    /// Any schedule of resends of any batch (whole, prefix or suffix),
    /// with gaps refused and retried, leaves the hub exactly as applying
    /// the node's log once in order, with the cursor at the head.
    #[test]
    fn any_batch_schedule_converges_to_the_in_order_state(
        rounds in vec(vec((any::<Index>(), any::<u8>()), 1..8), 0..5),
        cuts in vec(any::<Index>(), 0..12),
        // Each push: batch `pick`, whole (mode 0, 1), a prefix (2) or a
        // suffix (3) cut at `cut`.
        sends in vec((any::<Index>(), 0u8..4, any::<Index>()), 0..48),
        tail_order in any::<u64>(),
    ) {
        let code = small_compound().code.clone();
        let mut reference = FreshHub::new(&code);
        let node_dir = tempfile::tempdir().unwrap();
        let node = build_node(node_dir.path(), &reference.token, &rounds);
        let head = node.head().unwrap();
        let log_id = node.identity().unwrap().log_id;
        let entries = node.log_range(1, head).unwrap();
        prop_assert_eq!(entries.len() as u64, head);
        let ids = ids_of(&entries);

        // The log applied once, in order.
        let caller = reference.session(&log_id, head);
        let applied = reference.store.apply_batch(&caller, &log_id, Lane::Bulk, head, &entries).unwrap();
        prop_assert_eq!((applied.cursor, applied.applied), (head, head));

        // Batches: the log cut at random boundaries.
        let mut bounds: Vec<usize> = cuts.iter().map(|c| 1 + c.index(entries.len() - 1)).collect();
        bounds.push(0);
        bounds.push(entries.len());
        bounds.sort_unstable();
        bounds.dedup();
        let batches: Vec<&[pb::LogEntry]> =
            bounds.windows(2).map(|w| &entries[w[0]..w[1]]).collect();

        let mut hub = FreshHub::new(&code);
        let caller = hub.session(&log_id, head);
        let mut cursor = 0u64;
        // The random part of the schedule: resends of any batch or part of it.
        for (pick, mode, cut) in &sends {
            let batch = pick.get(&batches);
            let part = match mode {
                2 => &batch[..1 + cut.index(batch.len())],
                3 => &batch[cut.index(batch.len())..],
                _ => batch,
            };
            push(&mut hub.store, &caller, &log_id, head, part, &mut cursor)?;
        }
        // Then the sender keeps resending every batch, in a shuffled order,
        // until the hub has the whole log; each pass makes progress.
        let mut order: Vec<usize> = (0..batches.len()).collect();
        let mut seed = tail_order;
        for i in (1..order.len()).rev() {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            order.swap(i, (seed >> 33) as usize % (i + 1));
        }
        let mut passes = 0;
        while cursor < head {
            passes += 1;
            prop_assert!(passes <= batches.len(), "no progress after {} passes", passes);
            for &b in &order {
                push(&mut hub.store, &caller, &log_id, head, batches[b], &mut cursor)?;
            }
        }

        prop_assert_eq!(hub.store.cursor(&code).unwrap(), head);
        prop_assert_eq!(reference.store.cursor(&code).unwrap(), head);
        assert_same_hub_state(&reference.store, &hub.store, &code, &ids, "scheduled vs in order")?;
        // And both equal what the node itself holds.
        assert_hub_equals_node(&hub.store, &node, &code, &ids)?;
        let date = day("2020-02-14");
        prop_assert_eq!(
            hub.store.table(date).unwrap().compounds[0].counts,
            node.table(date, &node.table_config().unwrap()).unwrap()
        );
    }

    /// The same versions delivered through two logs in any order, with
    /// repetitions and any batch size, leave per id the `merge::wins` winner.
    #[test]
    fn any_delivery_order_leaves_the_merge_winner(
        (versions, order_a, order_b) in versions().prop_flat_map(|vs| {
            let n = vs.len();
            (Just(vs), delivery(n), delivery(n))
        }),
        batch_a in 1usize..6,
        batch_b in 1usize..6,
    ) {
        let a = deliver(&versions, &order_a, batch_a);
        let b = deliver(&versions, &order_b, batch_b);

        let ids: BTreeSet<(Kind, String)> =
            versions.iter().map(|v| (v.kind(), v.record_id())).collect();
        for (kind, id) in &ids {
            // The reference fold, in delivery order A.
            let mut winner: Option<&V> = None;
            for v in order_a.iter().map(|&i| &versions[i]).filter(|v| v.record_id() == *id) {
                let incoming = Version { stamp: v.stamp, origin: v.origin };
                let current = winner.map(|w| Version { stamp: w.stamp, origin: w.origin });
                if wins(incoming, current) {
                    winner = Some(v);
                }
            }
            let winner = winner.unwrap();
            // The law: the winner is the greatest version, whatever the order.
            let greatest = versions
                .iter()
                .filter(|v| v.record_id() == *id)
                .max_by_key(|v| (v.stamp, v.origin))
                .unwrap();
            prop_assert_eq!((winner.stamp, winner.origin), (greatest.stamp, greatest.origin));

            for (name, hub) in [("A", &a), ("B", &b)] {
                let stored = hub.store.record("HM001", *kind, id).unwrap().unwrap();
                prop_assert_eq!(
                    (stored.stamp, stored.origin.as_str(), stored.deleted, &stored.body),
                    (winner.stamp, winner.origin, winner.deleted, &encode_body(&winner.body())),
                    "delivery {} of {} {}",
                    name,
                    kind.name(),
                    id
                );
            }
        }
        assert_same_hub_state(&a.store, &b.store, "HM001", &ids, "delivery A vs B")?;
        let live = |kind: Kind| {
            ids.iter()
                .filter(|(k, id)| {
                    *k == kind
                        && !versions
                            .iter()
                            .filter(|v| v.record_id() == *id)
                            .max_by_key(|v| (v.stamp, v.origin))
                            .unwrap()
                            .deleted
                })
                .count() as u64
        };
        for kind in KINDS {
            prop_assert_eq!(a.store.record_count("HM001", kind).unwrap(), live(kind));
        }
    }
}

/// The aggregates follow every way a record row changes, including rows
/// deleted behind the hub's back, and a database made before they existed
/// has them built from its records when opened for writing (read-only, it
/// is counted by scanning).
#[test]
fn aggregates_survive_direct_deletes_and_are_built_for_older_databases() {
    let code = small_compound().code.clone();
    let mut hub = FreshHub::new(&code);
    let node_dir = tempfile::tempdir().unwrap();
    // Four rounds of twelve edits, the same every run.
    let rounds: Vec<Vec<Edit>> = {
        use proptest::strategy::ValueTree as _;
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        vec(vec((any::<Index>(), any::<u8>()), 12), 4)
            .new_tree(&mut runner)
            .unwrap()
            .current()
    };
    let node = build_node(node_dir.path(), &hub.token, &rounds);
    let head = node.head().unwrap();
    let log_id = node.identity().unwrap().log_id;
    let caller = hub.session(&log_id, head);
    hub.store
        .apply_batch(
            &caller,
            &log_id,
            Lane::Bulk,
            head,
            &node.log_range(1, head).unwrap(),
        )
        .unwrap();
    let check = |store: &HubStore, what: &str| {
        assert_aggregates_equal_scan(store, &code, what).unwrap();
    };
    check(&hub.store, "after the push");
    let date = day("2020-02-14");
    let before = hub.store.table(date).unwrap();
    assert!(before.total.persons > 0 && before.total.returned_key_total > 0);

    // Rows removed directly, as damage would (the digest repair test does this).
    let conn = lianfang_tests::hub_db(hub._dir.path());
    for table in ["person", "household", "isolation"] {
        let removed = conn
            .execute(
                &format!(
                    "DELETE FROM {table} WHERE id IN (SELECT id FROM {table} ORDER BY id LIMIT 3)"
                ),
                (),
            )
            .unwrap();
        assert_eq!(removed, 3, "{table}");
    }
    check(&hub.store, "after direct deletes");
    assert!(hub.store.table(date).unwrap().total.persons < before.total.persons);

    // An older database: no aggregates, no version mark.
    conn.execute_batch(
        "DELETE FROM agg_household; DELETE FROM agg_person; DELETE FROM agg_return;
         DELETE FROM agg_isolation; DELETE FROM setting WHERE key = 'aggregates';",
    )
    .unwrap();
    let expected = hub
        .store
        .counts(
            &TableBuilder::new(&TableConfig::default(), date),
            &[&code],
            Counting::Scan,
        )
        .unwrap();
    let read_only = HubStore::open_read_only(hub._dir.path()).unwrap();
    assert_eq!(
        read_only.table(date).unwrap().compounds[0].counts,
        expected[0]
    );
    drop(read_only);
    let reopened = HubStore::open_or_create(hub._dir.path()).unwrap();
    check(&reopened, "after rebuilding an older database");
    let rebuilt: i64 = conn
        .query_row("SELECT SUM(n) FROM agg_person", (), |r| r.get(0))
        .unwrap();
    assert_eq!(rebuilt as u64, expected[0].persons);
}

/// The key regions changed at run time: the returnees' key flag is
/// reclassified in the transaction that stores the configuration, rows
/// written afterwards are classified under the new regions, and the
/// aggregates equal a scan under each configuration the hub holds (read
/// from the flag, not by the scan fallback).
#[test]
fn aggregates_follow_key_region_changes_at_run_time() {
    let code = small_compound().code.clone();
    let mut hub = FreshHub::new(&code);
    let node_dir = tempfile::tempdir().unwrap();
    let rounds: Vec<Vec<Edit>> = {
        use proptest::strategy::ValueTree as _;
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        vec(vec((any::<Index>(), any::<u8>()), 12), 4)
            .new_tree(&mut runner)
            .unwrap()
            .current()
    };
    let node = build_node(node_dir.path(), &hub.token, &rounds);
    let head = node.head().unwrap();
    let log_id = node.identity().unwrap().log_id;
    let caller = hub.session(&log_id, head);
    let conn = lianfang_tests::hub_db(hub._dir.path());
    let check = |store: &HubStore, regions: &[&str], what: &str| {
        let config = store.table_config().unwrap();
        assert_eq!(config.key_regions, regions, "{what}");
        let stored: BTreeSet<String> = conn
            .prepare("SELECT name FROM key_region")
            .unwrap()
            .query_map((), |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let expected: BTreeSet<String> = regions.iter().map(|r| (*r).to_owned()).collect();
        assert_eq!(
            stored, expected,
            "{what}: key_region follows the configuration"
        );
        for date in DATES {
            let builder = TableBuilder::new(&config, day(date));
            let aggregated = store
                .counts(&builder, &[&code], Counting::Aggregates)
                .unwrap();
            let scanned = store.counts(&builder, &[&code], Counting::Scan).unwrap();
            assert_eq!(aggregated, scanned, "{what} on {date}");
            assert_eq!(
                store.table(day(date)).unwrap().compounds[0].counts,
                scanned[0],
                "{what}: table on {date}"
            );
        }
    };
    let entries = node.log_range(1, head).unwrap();
    let mid = entries.len() / 2;
    hub.store
        .apply_batch(&caller, &log_id, Lane::Bulk, head, &entries[..mid])
        .unwrap();
    check(&hub.store, &["湖北"], "first half, default regions");
    let mut keyed = BTreeSet::new();
    for regions in [
        vec!["浙江", "湖北省武汉"],
        vec!["湖北", "浙江", "江西"],
        vec!["湖北"],
    ] {
        hub.store
            .set_config(
                Some(regions.iter().map(|r| (*r).to_owned()).collect()),
                None,
            )
            .unwrap();
        check(&hub.store, &regions, "after the change");
        keyed.insert(
            hub.store
                .table(day("2020-02-20"))
                .unwrap()
                .total
                .returned_key_total,
        );
    }
    hub.store
        .set_config(Some(vec!["浙江".into(), "湖北".into()]), Some(7))
        .unwrap();
    check(&hub.store, &["浙江", "湖北"], "before the second half");
    // Written after the change: classified by the triggers under it.
    hub.store
        .apply_batch(&caller, &log_id, Lane::Bulk, head, &entries[mid..])
        .unwrap();
    check(
        &hub.store,
        &["浙江", "湖北"],
        "second half after the change",
    );
    conn.execute(
        "DELETE FROM person WHERE id IN (SELECT id FROM person WHERE return_date <> '' ORDER BY id LIMIT 5)",
        (),
    )
    .unwrap();
    check(&hub.store, &["浙江", "湖北"], "after direct deletes");
    // A reopened hub keeps the classification; a read-only one reads it.
    drop(hub.store);
    let reopened = HubStore::open_or_create(hub._dir.path()).unwrap();
    check(&reopened, &["浙江", "湖北"], "reopened");
    drop(reopened);
    let read_only = HubStore::open_read_only(hub._dir.path()).unwrap();
    check(&read_only, &["浙江", "湖北"], "read-only");
    assert!(
        keyed.len() > 1,
        "the regions tried classify differently: {keyed:?}"
    );
}
