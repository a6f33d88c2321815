//! Digests of the node's records and re-logging what the hub finds different.

use super::records::Outbox;
use super::*;

impl Store {
    /// Digests of every record version this node holds (tombstones too).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn digests(&self) -> Result<Digests> {
        let mut digests = Digests::new();
        let mut stmt = self
            .conn
            .prepare("SELECT kind, id, stamp, origin, deleted, body FROM record")?;
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
        tx.commit()?;
        Ok(n)
    }
}
