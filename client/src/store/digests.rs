//! Digests of the node's records and re-logging what the hub finds different.

use super::records::Outbox;
use super::*;

/// The digests of the node's records, kept as records are written
/// ([`Store::write`] folds each write's changes in, in its transaction), so
/// a session reads a few hundred buckets instead of hashing every record.
///
/// **Architecture Invariant:** `digest_bucket` equals [`Store::digests_scan`]:
/// `Store::write` is the only writer of `record`.
const DIGESTS_SQL: &str = "
CREATE TABLE IF NOT EXISTS digest_bucket (
    kind  INTEGER NOT NULL,
    day   TEXT    NOT NULL,
    shard INTEGER NOT NULL,
    count INTEGER NOT NULL,
    xor   BLOB    NOT NULL,
    PRIMARY KEY (kind, day, shard)
) STRICT, WITHOUT ROWID;
";

/// Version of `digest_bucket`'s contents, in `meta`; a database without it
/// (made before digests were kept) has them computed once when opened.
const VERSION: &str = "1";

/// Creates `digest_bucket` and, in a database that has not kept digests
/// before, fills it from `record`. Idempotent.
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
        // Not kept, or an older `lianfang-node` wrote since (it appends to
        // the log without folding): computed again from the records.
        tx.execute("DELETE FROM digest_bucket", [])?;
        let mut insert = tx.prepare(
            "INSERT INTO digest_bucket (kind, day, shard, count, xor) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for (key, d) in scan(&tx)? {
            insert.execute(params![
                key.kind,
                key.day,
                key.shard,
                d.count as i64,
                d.xor.as_slice()
            ])?;
        }
        drop(insert);
        tx.execute(SET_META_SQL, params!["digests", VERSION])?;
        mark(&tx)?;
    }
    tx.commit()?;
    Ok(())
}

/// Whether `digest_bucket` is kept and no binary that does not keep it
/// has written since: the log's heads are the ones [`mark`] noted.
fn kept(conn: &Connection) -> Result<bool> {
    let get = |key: &str| -> Result<Option<String>> {
        Ok(conn
            .query_row(GET_META_SQL, [key], |row| row.get(0))
            .optional()?)
    };
    Ok(get("digests")?.as_deref() == Some(VERSION)
        && get(DIGESTS_LOG)?.as_deref() == Some(log_heads(conn)?.as_str()))
}

/// `meta` key: the log's heads when `digest_bucket` was last brought up
/// to date. Every write appends to the log, so a write by an older binary
/// (which does not keep the digests) leaves them different.
const DIGESTS_LOG: &str = "digests_log";

/// Both lanes' heads, as `urgent,bulk`.
fn log_heads(conn: &Connection) -> Result<String> {
    let head = |lane: Lane| -> Result<u64> {
        Ok(conn.query_row(HEAD_SQL, [lane as i64], |row| row.get::<_, u64>(0))?)
    };
    Ok(format!("{},{}", head(Lane::Urgent)?, head(Lane::Bulk)?))
}

/// Notes, inside a transaction that appended to the log and folded its
/// changes, that `digest_bucket` is up to date with the log.
///
/// # Errors
/// SQLite errors.
pub(super) fn mark(tx: &Connection) -> Result<()> {
    tx.execute(SET_META_SQL, params![DIGESTS_LOG, log_heads(tx)?])?;
    Ok(())
}

/// Folds what a write did to the digests into `digest_bucket`, inside the
/// write's transaction.
///
/// # Errors
/// SQLite errors.
pub(super) fn fold(tx: &Connection, changes: &digest::Changes) -> Result<()> {
    let mut read = tx.prepare_cached(
        "SELECT count, xor FROM digest_bucket WHERE kind = ?1 AND day = ?2 AND shard = ?3",
    )?;
    let mut write = tx.prepare_cached(
        "INSERT INTO digest_bucket (kind, day, shard, count, xor) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (kind, day, shard) DO UPDATE SET count = excluded.count, xor = excluded.xor",
    )?;
    let mut delete =
        tx.prepare_cached("DELETE FROM digest_bucket WHERE kind = ?1 AND day = ?2 AND shard = ?3")?;
    for (key, count, xor) in changes.buckets() {
        let at = params![key.kind, key.day, key.shard];
        let stored = read
            .query_row(at, |row| {
                Ok(digest::BucketDigest {
                    count: row.get::<_, i64>(0)? as u64,
                    xor: row
                        .get_ref(1)?
                        .as_blob()
                        .unwrap_or_default()
                        .try_into()
                        .unwrap_or_default(),
                })
            })
            .optional()?
            .unwrap_or_default();
        match digest::fold(stored, count, &xor) {
            Some(d) => write.execute(params![
                key.kind,
                key.day,
                key.shard,
                d.count as i64,
                d.xor.as_slice()
            ])?,
            None => delete.execute(at)?,
        };
    }
    Ok(())
}

/// Digests computed from every record version in `record`.
fn scan(conn: &Connection) -> Result<Digests> {
    let mut digests = Digests::new();
    let mut stmt = conn.prepare("SELECT kind, id, stamp, origin, deleted, body FROM record")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let Some(kind) = Kind::from_i64(row.get(0)?) else {
            continue;
        };
        digest::add(
            &mut digests,
            kind,
            row.get_ref(1)?.as_str().unwrap_or_default(),
            row.get::<_, i64>(2)? as u64,
            row.get_ref(3)?.as_str().unwrap_or_default(),
            row.get::<_, i64>(4)? != 0,
            row.get_ref(5)?.as_blob().unwrap_or_default(),
        );
    }
    Ok(digests)
}

impl Store {
    /// Digests of every record version this node holds (tombstones too),
    /// as kept in `digest_bucket`.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn digests(&self) -> Result<Digests> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT kind, day, shard, count, xor FROM digest_bucket")?;
        let mut rows = stmt.query([])?;
        let mut digests = Digests::new();
        while let Some(row) = rows.next()? {
            digests.insert(
                BucketKey {
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

    /// Digests computed from the records themselves (what
    /// [`Store::digests`] must equal).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn digests_scan(&self) -> Result<Digests> {
        scan(&self.conn)
    }

    /// Appends the current version of every record in `buckets` to the
    /// outbox again (same stamp and origin), so the next push repairs a hub
    /// whose digests differ. Applying them twice changes nothing at the hub.
    /// Returns how many were appended.
    ///
    /// # Errors
    /// SQLite errors; nothing is appended then.
    pub fn relog(&mut self, buckets: &[BucketKey]) -> Result<u64> {
        let wanted: std::collections::HashSet<&BucketKey> = buckets.iter().collect();
        let compound = self.meta("compound")?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut versions = Vec::new();
        {
            let mut stmt =
                tx.prepare("SELECT kind, id, stamp, origin, deleted, body FROM record")?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let Some(kind) = Kind::from_i64(row.get(0)?) else {
                    continue;
                };
                let id: String = row.get(1)?;
                let stamp = row.get::<_, i64>(2)? as u64;
                if !wanted.contains(&digest::bucket(kind, &id, stamp)) {
                    continue;
                }
                let body: Vec<u8> = row.get(5)?;
                versions.push(pb::Record {
                    compound: compound.clone(),
                    id,
                    stamp,
                    origin: row.get(3)?,
                    deleted: row.get::<_, i64>(4)? != 0,
                    body: Some(decode_body(kind, &body)?),
                });
            }
        }
        let n = versions.len() as u64;
        {
            let mut outbox = Outbox::new(&tx)?;
            for record in versions {
                let lane = Kind::of(record.body.as_ref().expect("decoded above")).lane();
                outbox.append(lane, &record)?;
            }
        }
        mark(&tx)?;
        tx.commit()?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(id: &str, name: &str) -> Change {
        let (_, body) = Kind::Person.sample();
        let pb::record::Body::Person(mut person) = body else {
            unreachable!("a person's sample is a person")
        };
        person.name = name.into();
        Change {
            kind: Kind::Person,
            id: id.into(),
            body: Some(pb::record::Body::Person(person)),
        }
    }

    /// Kept digests follow writes (new, changed, deleted); a database that
    /// an older binary wrote to (records and log, no digests) has them
    /// computed again when opened.
    #[test]
    fn kept_digests_follow_writes_and_survive_an_older_binary() {
        let dir = tempfile::tempdir().unwrap();
        let identity = Identity {
            compound: "HM001".into(),
            node_id: "HM001/test".into(),
            log_id: "0".repeat(32),
            hub: "http://127.0.0.1:1".into(),
            token: String::new(),
            hub_key: String::new(),
            hub_ca: String::new(),
        };
        let mut store = Store::create(dir.path(), &identity).unwrap();
        let day = 1_581_264_000_000;
        store
            .write([person("P1", "甲"), person("P2", "乙")], day)
            .unwrap();
        store.write([person("P1", "丙")], day + 86_400_000).unwrap();
        store
            .write(
                [Change {
                    kind: Kind::Person,
                    id: "P2".into(),
                    body: None,
                }],
                day + 2 * 86_400_000,
            )
            .unwrap();
        let kept = store.digests().unwrap();
        assert_eq!(kept, store.digests_scan().unwrap());
        assert!(kept.len() >= 2, "{kept:?}");

        // An older binary changes a record and logs it, keeping no digests.
        let mut changed = store.get(Kind::Person, "P1").unwrap().unwrap();
        changed.stamp += 1 << 16;
        changed.body = person("P1", "丁").body;
        store
            .conn
            .execute(
                "UPDATE record SET stamp = ?1, body = ?2 WHERE kind = ?3 AND id = 'P1'",
                params![
                    changed.stamp as i64,
                    encode_body(changed.body.as_ref().unwrap()),
                    Kind::Person as i64
                ],
            )
            .unwrap();
        store
            .conn
            .execute(
                APPEND_OUTBOX_SQL,
                params![Lane::Bulk as i64, 99, changed.encode_to_vec()],
            )
            .unwrap();
        assert_ne!(store.digests().unwrap(), store.digests_scan().unwrap());
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.digests().unwrap(), store.digests_scan().unwrap());
    }
}
