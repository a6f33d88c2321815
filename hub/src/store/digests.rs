//! The hub's digests of a compound's records and the agreement it records.

use super::*;

impl HubStore {
    /// Digests of every record version the hub holds for `compound`.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn digests(&self, compound: &str) -> Result<Digests> {
        let mut digests = Digests::new();
        // Every table holding records: a projection holds one kind, the
        // generic table says each row's.
        for (kind, table) in crate::kinds::tables() {
            let sql = format!(
                "SELECT id, stamp, origin, deleted, body{} FROM {table} WHERE compound = ?1",
                if kind.is_some() { "" } else { ", kind" }
            );
            let mut stmt = self.conn.prepare_cached(&sql)?;
            let mut rows = stmt.query([compound])?;
            while let Some(row) = rows.next()? {
                let Some(kind) = kind.or_else(|| Kind::from_i64(row.get(5).ok()?)) else {
                    continue;
                };
                digest::add(
                    &mut digests,
                    kind,
                    text(row, 0)?,
                    row.get::<_, i64>(1)? as u64,
                    text(row, 2)?,
                    row.get::<_, i64>(3)? != 0,
                    row.get_ref(4)?.as_blob().unwrap_or_default(),
                );
            }
        }
        Ok(digests)
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
        let hub = self.digests(&caller.compound)?;
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
