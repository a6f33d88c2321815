//! The hub's digests of a compound's records and the agreement it records.

use super::*;

/// The digests of every compound, kept as records are written (each
/// batch folds what it did in, in its own transaction), so a session's
/// comparison reads a compound's few hundred buckets instead of hashing
/// every record it holds.
///
/// **Architecture Invariant:** `digest_bucket` equals [`scan`] of the record
/// tables, compound by compound: every write of a record row goes through
/// `crate::kinds::Upserts`, whose changes [`fold`] adds in the same
/// transaction.
const DIGESTS_SQL: &str = "
CREATE TABLE IF NOT EXISTS digest_bucket (
    compound TEXT    NOT NULL,
    kind     INTEGER NOT NULL,
    day      TEXT    NOT NULL,
    shard    INTEGER NOT NULL,
    count    INTEGER NOT NULL,
    xor      BLOB    NOT NULL,
    PRIMARY KEY (compound, kind, day, shard)
) STRICT, WITHOUT ROWID;
";

/// Version of `digest_bucket`'s contents; a database without it (made
/// before digests were kept) has them computed once when opened for
/// writing.
const VERSION: &str = "1";

/// Creates `digest_bucket` and, in a database that has not kept digests
/// before, fills it from the record tables. Idempotent.
///
/// # Errors
/// SQLite errors.
pub(super) fn ensure(conn: &mut Connection) -> Result<()> {
    conn.execute_batch(DIGESTS_SQL)?;
    if kept(conn)? {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if !kept(&tx)? {
        rebuild(&tx, None)?;
        tx.execute(
            "INSERT INTO setting (key, value) VALUES ('digests', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [VERSION],
        )?;
    }
    tx.commit()?;
    Ok(())
}

/// Replaces the kept digests of `compound` (of every compound: `None`)
/// with those a scan of the records computes.
fn rebuild(tx: &Connection, compound: Option<&str>) -> Result<()> {
    match compound {
        Some(compound) => {
            tx.execute("DELETE FROM digest_bucket WHERE compound = ?1", [compound])?
        }
        None => tx.execute("DELETE FROM digest_bucket", ())?,
    };
    let mut insert = tx.prepare(
        "INSERT INTO digest_bucket (compound, kind, day, shard, count, xor)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for (compound, digests) in scan(tx, compound)? {
        for (key, d) in digests {
            insert.execute(params![
                compound,
                key.kind,
                key.day,
                key.shard,
                d.count as i64,
                d.xor.as_slice()
            ])?;
        }
    }
    Ok(())
}

/// Whether this database keeps `digest_bucket` up to date.
fn kept(conn: &Connection) -> Result<bool> {
    let version: Option<String> = conn
        .query_row(
            "SELECT value FROM setting WHERE key = 'digests'",
            (),
            |row| row.get(0),
        )
        .optional()?;
    Ok(version.as_deref() == Some(VERSION))
}

/// Folds what a batch did to the digests into `digest_bucket`, inside the
/// batch's transaction.
///
/// # Errors
/// SQLite errors.
pub(crate) fn fold(
    tx: &Connection,
    changes: &std::collections::BTreeMap<String, digest::Changes>,
) -> Result<()> {
    let mut delete = tx.prepare_cached(
        "DELETE FROM digest_bucket WHERE compound = ?1 AND kind = ?2 AND day = ?3 AND shard = ?4",
    )?;
    for (compound, changes) in changes {
        let buckets = changes.buckets();
        let stored = stored_buckets(tx, compound, &buckets)?;
        let mut writes: Vec<(&digest::BucketKey, digest::BucketDigest)> = Vec::new();
        for (key, count, xor) in &buckets {
            let held = stored.get(key).copied().unwrap_or_default();
            match digest::fold(held, *count, xor) {
                Some(d) => writes.push((key, d)),
                None => {
                    delete.execute(params![compound, key.kind, key.day, key.shard])?;
                }
            }
        }
        write_buckets(tx, compound, &writes)?;
    }
    Ok(())
}

/// Above this many buckets moved in one compound, its stored buckets are
/// read in one query (a compound has a few hundred) instead of one each:
/// on PostgreSQL every statement is a round trip.
const READ_ALL_ABOVE: usize = 4;

/// The stored digests of `buckets` of `compound` (absent: none stored).
fn stored_buckets(
    tx: &Connection,
    compound: &str,
    buckets: &[(digest::BucketKey, i64, [u8; 16])],
) -> Result<std::collections::HashMap<digest::BucketKey, digest::BucketDigest>> {
    let bucket = |row: &crate::db::Row<'_>, at: usize| -> crate::db::Result<digest::BucketDigest> {
        Ok(digest::BucketDigest {
            count: row.get::<_, i64>(at)? as u64,
            xor: row
                .get_ref(at + 1)?
                .as_blob()
                .unwrap_or_default()
                .try_into()
                .unwrap_or_default(),
        })
    };
    let mut stored = std::collections::HashMap::with_capacity(buckets.len());
    if buckets.len() > READ_ALL_ABOVE {
        let mut all = tx.prepare_cached(
            "SELECT kind, day, shard, count, xor FROM digest_bucket WHERE compound = ?1",
        )?;
        let mut rows = all.query([compound])?;
        while let Some(row) = rows.next()? {
            let key = digest::BucketKey {
                kind: row.get(0)?,
                day: row.get(1)?,
                shard: row.get(2)?,
            };
            stored.insert(key, bucket(&row, 3)?);
        }
        return Ok(stored);
    }
    let mut read = tx.prepare_cached(
        "SELECT count, xor FROM digest_bucket
         WHERE compound = ?1 AND kind = ?2 AND day = ?3 AND shard = ?4",
    )?;
    for (key, ..) in buckets {
        if let Some(d) = read
            .query_row(params![compound, key.kind, key.day, key.shard], |row| {
                bucket(row, 0)
            })
            .optional()?
        {
            stored.insert(key.clone(), d);
        }
    }
    Ok(stored)
}

/// Writes `buckets` of `compound` (their new digests), in statements of
/// 32, 8 and 1 rows, so a batch's buckets cost a few round trips, each
/// statement text prepared once.
fn write_buckets(
    tx: &Connection,
    compound: &str,
    buckets: &[(&digest::BucketKey, digest::BucketDigest)],
) -> Result<()> {
    let mut rest = buckets;
    for size in [32, 8, 1] {
        if rest.len() < size {
            continue;
        }
        let rows = vec!["(?, ?, ?, ?, ?, ?)"; size].join(", ");
        let mut write = tx.prepare_cached(&format!(
            "INSERT INTO digest_bucket (compound, kind, day, shard, count, xor)
             VALUES {rows}
             ON CONFLICT (compound, kind, day, shard) DO UPDATE SET
                 count = excluded.count, xor = excluded.xor"
        ))?;
        while rest.len() >= size {
            let (chunk, after) = rest.split_at(size);
            let mut values: Vec<&dyn crate::db::ToSql> = Vec::with_capacity(size * 6);
            for (key, d) in chunk {
                values.extend([
                    &compound as &dyn crate::db::ToSql,
                    &key.kind,
                    &key.day,
                    &key.shard,
                    &d.count,
                    &d.xor,
                ]);
            }
            write.execute(values.as_slice())?;
            rest = after;
        }
    }
    Ok(())
}

/// Digests computed from the record tables: of `compound`, or of every
/// compound (`None`), by compound.
///
/// # Errors
/// SQLite errors.
pub(crate) fn scan(
    conn: &Connection,
    compound: Option<&str>,
) -> Result<std::collections::BTreeMap<String, Digests>> {
    let mut out: std::collections::BTreeMap<String, Digests> = std::collections::BTreeMap::new();
    // Every table holding records: a projection holds one kind, the
    // generic tables say each row's.
    for (kind, table) in crate::kinds::tables() {
        let sql = format!(
            "SELECT compound, id, stamp, origin, deleted, body{} FROM {table}{}",
            if kind.is_some() { "" } else { ", kind" },
            if compound.is_some() {
                " WHERE compound = ?1"
            } else {
                ""
            },
        );
        let mut stmt = conn.prepare_cached(&sql)?;
        let mut rows = match compound {
            Some(compound) => stmt.query([compound])?,
            None => stmt.query(())?,
        };
        while let Some(row) = rows.next()? {
            let Some(kind) = kind.or_else(|| Kind::from_i64(row.get(6).ok()?)) else {
                continue;
            };
            let code = text(row, 0)?;
            let digests = match out.get_mut(code) {
                Some(digests) => digests,
                None => out.entry(code.to_owned()).or_default(),
            };
            digest::add(
                digests,
                kind,
                text(row, 1)?,
                row.get::<_, i64>(2)? as u64,
                text(row, 3)?,
                row.get::<_, i64>(4)? != 0,
                row.get_ref(5)?.as_blob().unwrap_or_default(),
            );
        }
    }
    Ok(out)
}

/// How long a compound's kept digests are trusted before they are checked
/// against its records again.
const SCRUB_EVERY: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// When this process last checked each compound's kept digests against its
/// records ("scrubbed" them).
///
/// Kept digests follow every write, so they catch what a sync lost or
/// misapplied, but not a record row damaged or lost outside the hub's
/// writes (a disk fault, a file copied back while the hub was down). So a
/// compound's kept digests are checked against a scan of its records at
/// its first digest comparison in each hub process, and again after
/// [`SCRUB_EVERY`] — except a compound that held nothing when this process
/// first wrote to it: everything it holds came through this process's
/// writes.
#[derive(Debug, Default)]
pub(crate) struct Scrubs {
    at: std::collections::HashMap<String, std::time::Instant>,
}

impl HubStore {
    /// Called before this process first writes records of `compound`: a
    /// compound that holds nothing yet needs no scrub in this process.
    ///
    /// # Errors
    /// SQLite errors.
    pub(super) fn before_writing(&mut self, compound: &str) -> Result<()> {
        if self.scrubs.at.contains_key(compound) {
            return Ok(());
        }
        let holds: bool = self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM digest_bucket WHERE compound = ?1)",
            [compound],
            |row| row.get(0),
        )?;
        if !holds {
            self.scrubs
                .at
                .insert(compound.to_owned(), std::time::Instant::now());
        }
        Ok(())
    }

    /// The digests of `compound` for a comparison with its node's: the kept
    /// ones, checked first against a scan of the records when a scrub is
    /// due (see [`Scrubs`]). Kept digests that differ from the scan are
    /// replaced by it, with an audit entry, so the comparison finds the
    /// damage and the node's repair restores the records.
    ///
    /// # Errors
    /// SQLite errors.
    pub(super) fn digests_for_comparison(&mut self, compound: &str) -> Result<Digests> {
        let due = self
            .scrubs
            .at
            .get(compound)
            .is_none_or(|at| at.elapsed() >= SCRUB_EVERY);
        if !due || !kept(&self.conn)? {
            return self.digests(compound);
        }
        let scanned = self.digests_scan(compound)?;
        let kept = self.digests(compound)?;
        let differing = digest::differing(&kept, &scanned);
        if !differing.is_empty() {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            // Scanned again inside the transaction, so a write between the
            // scan above and here is not lost from the kept digests.
            rebuild(&tx, Some(compound))?;
            // `agg_day` is kept by the same write path and missed the same
            // change.
            crate::aggregates::rebuild_days(&tx, compound)?;
            tx.commit()?;
            self.audit(
                Some(compound),
                "digests_rescanned",
                &format!(
                    "the kept digests differed from the records in {} bucket(s): \
                     records were changed outside the hub's writes; rebuilt from the records",
                    differing.len()
                ),
            )?;
        }
        self.scrubs
            .at
            .insert(compound.to_owned(), std::time::Instant::now());
        self.digests(compound)
    }

    /// Digests of every record version the hub holds for `compound`, as
    /// kept in `digest_bucket` (computed from the records in a database
    /// opened read-only that has not kept them yet).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn digests(&self, compound: &str) -> Result<Digests> {
        if !kept(&self.conn)? {
            return self.digests_scan(compound);
        }
        let mut stmt = self.conn.prepare_cached(
            "SELECT kind, day, shard, count, xor FROM digest_bucket WHERE compound = ?1",
        )?;
        let mut rows = stmt.query([compound])?;
        let mut digests = Digests::new();
        while let Some(row) = rows.next()? {
            digests.insert(
                digest::BucketKey {
                    kind: row.get(0)?,
                    day: row.get(1)?,
                    shard: row.get(2)?,
                },
                digest::BucketDigest {
                    count: row.get::<_, i64>(3)? as u64,
                    xor: row
                        .get_ref(4)?
                        .as_blob()
                        .unwrap_or_default()
                        .try_into()
                        .unwrap_or_default(),
                },
            );
        }
        Ok(digests)
    }

    /// Digests of every record version the hub holds for `compound`,
    /// computed from the records (what [`HubStore::digests`] must equal).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn digests_scan(&self, compound: &str) -> Result<Digests> {
        Ok(scan(&self.conn, Some(compound))?
            .remove(compound)
            .unwrap_or_default())
    }

    /// Compares the caller's digests with the hub's, records whether they
    /// agree, and returns the hub's view of every bucket that differs.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn verify(
        &mut self,
        caller: &Caller,
        buckets: &[pb::BucketDigest],
    ) -> Result<Vec<pb::BucketDigest>> {
        let node = digest::from_wire(buckets);
        let hub = self.digests_for_comparison(&caller.compound)?;
        let keys = digest::differing(&node, &hub);
        self.record_agreement(&caller.compound, keys.is_empty(), keys.len() as i64)?;
        Ok(keys
            .into_iter()
            .map(|key| {
                let d = hub.get(&key).copied().unwrap_or_default();
                pb::BucketDigest {
                    kind: key.kind,
                    day: key.day,
                    shard: key.shard,
                    count: d.count,
                    xor: d.xor.to_vec(),
                }
            })
            .collect())
    }

    /// Records the outcome of a digest comparison for the table.
    pub(super) fn record_agreement(
        &self,
        compound: &str,
        agree: bool,
        differing: i64,
    ) -> Result<()> {
        self.conn.execute(
            "INSERT INTO agreement (compound, checked_at, agree, differing) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (compound) DO UPDATE SET
                 checked_at = excluded.checked_at, agree = excluded.agree, differing = excluded.differing",
            params![compound, now_rfc3339(), agree, differing],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::apply::lane_cursor;
    use super::*;

    /// One version of every kind's sample.
    fn version(kind: Kind, stamp: u64, origin: &str, deleted: bool) -> pb::Record {
        let (id, body) = kind.sample();
        pb::Record {
            compound: "HM001".into(),
            id,
            stamp,
            origin: origin.into(),
            deleted,
            body: Some(if deleted { kind.empty_body() } else { body }),
        }
    }

    /// The kept digests follow new versions, newer ones, stale ones, the
    /// same version again and tombstones, batch by batch; a database that
    /// did not keep them computes them once; a row lost outside the hub's
    /// writes is found by the scrub of a reopened hub, and audited.
    #[test]
    fn kept_digests_equal_a_scan_of_the_records() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = crate::store::test_store(dir.path());
        let token = store.enroll("HM001", Some("联洋新苑")).unwrap();
        let caller = store.authenticate(&token).unwrap();
        store
            .handshake(&caller, "log-1", [(Lane::Urgent, 0), (Lane::Bulk, 0)], 0)
            .unwrap();
        let day = 1_581_264_000_000u64 << 16;
        let rounds: [&[(u64, &str, bool)]; 5] = [
            &[(day, "n", false)],
            // A newer version a day later: another bucket.
            &[(day + (86_400_000 << 16), "n", false)],
            // A stale one, then the same version again.
            &[(day + 1, "n", true), (day + (86_400_000 << 16), "n", false)],
            // A tie broken by the origin, then a tombstone.
            &[(day + (86_400_000 << 16), "o", false)],
            &[(day + ((3 * 86_400_000) << 16), "n", true)],
        ];
        for round in rounds {
            for lane in [Lane::Urgent, Lane::Bulk] {
                let first = lane_cursor(&store.conn, caller.node, lane).unwrap() + 1;
                let entries: Vec<pb::LogEntry> = round
                    .iter()
                    .flat_map(|&(stamp, origin, deleted)| {
                        Kind::ALL
                            .into_iter()
                            .filter(move |kind| kind.lane() == lane)
                            .map(move |kind| version(kind, stamp, origin, deleted))
                    })
                    .zip(first..)
                    .map(|(record, seq)| pb::LogEntry {
                        seq,
                        record: Some(record),
                    })
                    .collect();
                let head = first + entries.len() as u64 - 1;
                store
                    .apply_batch(&caller, "log-1", lane, head, &entries)
                    .unwrap();
            }
            assert_eq!(
                store.digests("HM001").unwrap(),
                store.digests_scan("HM001").unwrap()
            );
        }
        let kept = store.digests("HM001").unwrap();
        assert!(kept.len() >= Kind::ALL.len(), "{kept:?}");

        // A database from before digests were kept.
        store
            .conn
            .execute_batch("DELETE FROM digest_bucket; DELETE FROM setting WHERE key = 'digests';")
            .unwrap();
        drop(store);
        let store = crate::store::test_store(dir.path());
        assert_eq!(store.digests("HM001").unwrap(), kept);

        // A row lost outside the hub's writes while it was down.
        store
            .conn
            .execute("DELETE FROM person WHERE compound = 'HM001'", ())
            .unwrap();
        assert_eq!(store.digests("HM001").unwrap(), kept, "kept, not scanned");
        drop(store);
        let mut store = crate::store::test_store(dir.path());
        let compared = store.digests_for_comparison("HM001").unwrap();
        assert_eq!(compared, store.digests_scan("HM001").unwrap());
        assert_ne!(compared, kept);
        assert_eq!(store.digests("HM001").unwrap(), compared);
        let audited = store.audit_log().unwrap();
        assert_eq!(
            audited
                .iter()
                .filter(|e| e.event == "digests_rescanned")
                .count(),
            1,
            "{audited:?}"
        );
    }

    /// `agg_day` equals a `GROUP BY` of the live rows it groups.
    fn assert_agg_day_is_a_group_by(store: &HubStore) {
        type Row = (String, i64, String, String, String, i64);
        let read = |sql: &str| -> Vec<Row> {
            let mut stmt = store.conn.prepare(sql).unwrap();
            stmt.query_map((), |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })
            .unwrap()
            .collect::<crate::db::Result<_>>()
            .unwrap()
        };
        let kinds: Vec<String> = Kind::ALL
            .into_iter()
            .filter(|k| crate::aggregates::DayGroups::groups(*k))
            .map(|k| (k as i64).to_string())
            .collect();
        let kept = read("SELECT * FROM agg_day WHERE n <> 0 ORDER BY 1, 2, 3, 4, 5");
        let grouped = read(&format!(
            "SELECT compound, kind, day, day2, day3, COUNT(*) FROM day_record
             WHERE deleted = 0 AND kind IN ({}) GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5",
            kinds.join(", ")
        ));
        assert_eq!(kept, grouped);
    }

    /// `agg_day` follows a mask reservation through the queue (its days
    /// change with each newer version), a stale version, a second
    /// reservation on the same days, a tombstone and a resurrection.
    #[test]
    fn agg_day_follows_every_version_written() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = crate::store::test_store(dir.path());
        let token = store.enroll("HM001", None).unwrap();
        let caller = store.authenticate(&token).unwrap();
        store
            .handshake(&caller, "log-1", [(Lane::Urgent, 0), (Lane::Bulk, 0)], 0)
            .unwrap();
        let (_, sample) = Kind::MaskReservation.sample();
        let pb::record::Body::MaskReservation(sample) = sample else {
            unreachable!()
        };
        let mask = |id: &str, stamp: u64, deleted: bool, notified: &str, collected: &str| {
            let body = pb::MaskReservation {
                reserved_at: "2020-02-10 09:30".into(),
                notified_on: notified.into(),
                collected_on: collected.into(),
                ..sample.clone()
            };
            pb::Record {
                compound: "HM001".into(),
                id: id.into(),
                stamp: stamp << 16,
                origin: "n".into(),
                deleted,
                body: Some(if deleted {
                    Kind::MaskReservation.empty_body()
                } else {
                    pb::record::Body::MaskReservation(body)
                }),
            }
        };
        let rounds = [
            vec![mask("M1", 10, false, "", ""), mask("M2", 10, false, "", "")],
            vec![mask("M1", 20, false, "2020-02-11", "")],
            // Stale: loses, changes nothing.
            vec![mask("M1", 15, false, "2020-02-13", "2020-02-14")],
            vec![
                mask("M1", 30, false, "2020-02-11", "2020-02-12"),
                mask("M2", 30, true, "", ""),
            ],
            vec![mask("M2", 40, false, "2020-02-11", "")],
            // Two versions of one record in one batch.
            vec![mask("M1", 50, true, "", ""), mask("M1", 60, false, "", "")],
        ];
        let mut first = 1;
        for (i, round) in rounds.into_iter().enumerate() {
            let entries: Vec<pb::LogEntry> = round
                .into_iter()
                .zip(first..)
                .map(|(record, seq)| pb::LogEntry {
                    seq,
                    record: Some(record),
                })
                .collect();
            first += entries.len() as u64;
            store
                .apply_batch(&caller, "log-1", Lane::Bulk, first - 1, &entries)
                .unwrap();
            assert_agg_day_is_a_group_by(&store);
            let live: i64 = store
                .conn
                .query_row("SELECT SUM(n) FROM agg_day", (), |r| r.get(0))
                .unwrap();
            assert_eq!(live, if i == 3 { 1 } else { 2 }, "round {i}");
        }
        // A live row lost outside the hub's writes while it was down: the
        // scrub of the reopened hub rebuilds the compound's groups too.
        store
            .conn
            .execute("DELETE FROM day_record WHERE id = 'M2'", ())
            .unwrap();
        drop(store);
        let mut store = crate::store::test_store(dir.path());
        store.digests_for_comparison("HM001").unwrap();
        assert_agg_day_is_a_group_by(&store);
    }
}
