//! The change log as sync reads it: lane heads, the hub's acknowledged
//! cursors, and ranges of entries to send.

use super::*;

impl Store {
    /// Highest sequence number in the bulk lane of the change log (the
    /// ledger records; 0 when empty).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn head(&self) -> Result<u64> {
        self.head_of(Lane::Bulk)
    }

    /// Highest sequence number in a lane of the change log (0 when empty).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn head_of(&self, lane: Lane) -> Result<u64> {
        Ok(self
            .conn
            .query_row(HEAD_SQL, [lane as i64], |row| row.get(0))?)
    }

    pub(super) fn acked_key(lane: Lane) -> &'static str {
        match lane {
            Lane::Bulk => "acked",
            Lane::Urgent => "acked_urgent",
        }
    }

    /// The hub's cursor on the bulk lane, as last acknowledged.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn acked(&self) -> Result<u64> {
        self.acked_of(Lane::Bulk)
    }

    /// The hub's cursor on a lane, as last acknowledged.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn acked_of(&self, lane: Lane) -> Result<u64> {
        self.meta_u64(Self::acked_key(lane))
    }

    /// Changes not yet acknowledged by the hub, over both lanes.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn pending(&self) -> Result<u64> {
        let mut pending = 0;
        for lane in lianfang_proto::LANES {
            pending += self.head_of(lane)?.saturating_sub(self.acked_of(lane)?);
        }
        Ok(pending)
    }

    /// Records the hub's acknowledgements, one write for all the lanes
    /// given. A lane's acknowledgement never moves backwards.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn set_acked(&self, cursors: &[(Lane, u64)]) -> Result<()> {
        let tx = rusqlite::Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)?;
        for &(lane, cursor) in cursors {
            let acked = self.acked_of(lane)?.max(cursor);
            tx.execute(
                SET_META_SQL,
                params![Self::acked_key(lane), acked.to_string()],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The last entry of a lane carried to the hub in a bundle (0 if none).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn exported_of(&self, lane: Lane) -> Result<u64> {
        let key = Self::exported_key(lane);
        self.optional_meta(key)?
            .map_or(Ok(0), |value| parse_meta_u64(key, &value))
    }

    /// Notes that a bundle carried a lane's entries up to `head`.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn set_exported(&self, lane: Lane, head: u64) -> Result<()> {
        let exported = self.exported_of(lane)?.max(head);
        self.conn.execute(
            SET_META_SQL,
            params![Self::exported_key(lane), exported.to_string()],
        )?;
        Ok(())
    }

    pub(super) fn exported_key(lane: Lane) -> &'static str {
        match lane {
            Lane::Bulk => "exported",
            Lane::Urgent => "exported_urgent",
        }
    }

    /// Records the outcome of a sync attempt for `lianfang-node status`.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn set_sync_outcome(&self, at: &str, error: Option<&str>) -> Result<()> {
        match error {
            None => self
                .conn
                .execute(SET_META_SQL, params!["last_success", at])?,
            Some(error) => self
                .conn
                .execute(SET_META_SQL, params!["last_error", format!("{at} {error}")])?,
        };
        Ok(())
    }

    /// The bulk lane's log entries numbered `first ..= last`.
    ///
    /// # Errors
    /// SQLite errors, an undecodable entry, or a hole in the log.
    pub fn log_range(&self, first: u64, last: u64) -> Result<Vec<pb::LogEntry>> {
        self.log_range_of(Lane::Bulk, first, last)
    }

    /// A lane's log entries numbered `first ..= last`.
    ///
    /// # Errors
    /// SQLite errors, an undecodable entry, or a hole in the log.
    pub fn log_range_of(&self, lane: Lane, first: u64, last: u64) -> Result<Vec<pb::LogEntry>> {
        self.log_range_encoded(lane, first, last)?
            .into_iter()
            .map(|entry| {
                let record = pb::Record::decode(entry.record.as_slice()).map_err(|e| {
                    StoreError::Corrupt {
                        what: "outbox entry",
                        detail: format!("seq {}: {e}", entry.seq),
                    }
                })?;
                Ok(pb::LogEntry {
                    seq: entry.seq,
                    record: Some(record),
                })
            })
            .collect()
    }

    /// What the next exchange carries: each lane's head and the entries
    /// [`lianfang_proto::sync::plan`] picks after `senders`' cursors
    /// (`[urgent, bulk]`; until the hub's cursors are `confirmed` in this
    /// session, a lane that [`lianfang_proto::sync::hold_until_confirmed`]
    /// sends nothing), the down cursor, and, when `with_root` and the
    /// entries reach both heads, the digest root of every record. Read in
    /// one transaction, against the heads as they stand, so the root
    /// describes exactly the log those entries end.
    ///
    /// # Errors
    /// SQLite errors, an undecodable entry, or a hole in the log.
    pub fn outgoing(
        &self,
        senders: [lianfang_proto::sync::Sender; 2],
        max: usize,
        confirmed: bool,
        with_root: bool,
    ) -> Result<Outgoing> {
        let tx = self.conn.unchecked_transaction()?;
        let mut senders = senders;
        let mut hold = [false; 2];
        for ((sender, lane), hold) in senders.iter_mut().zip(LANE_ORDER).zip(&mut hold) {
            sender.head = self.head_of(lane)?;
            *hold = !confirmed
                && lianfang_proto::sync::hold_until_confirmed(sender, self.exported_of(lane)?);
        }
        let ranges = lianfang_proto::sync::plan(&senders[0], &senders[1], max, hold);
        let mut lanes = [
            pb::EncodedLaneEntries::default(),
            pb::EncodedLaneEntries::default(),
        ];
        let mut complete = true;
        for (((out, lane), range), sender) in
            lanes.iter_mut().zip(LANE_ORDER).zip(ranges).zip(senders)
        {
            out.head = sender.head;
            let last = match range {
                Some((first, last)) => {
                    out.entries = self.log_range_encoded(lane, first, last)?;
                    last
                }
                None => sender.acked,
            };
            complete &= last >= sender.head;
        }
        let digest_root = if with_root && complete {
            Some(digest::root(&self.digests()?))
        } else {
            None
        };
        let down_cursor = self.down_cursor()?;
        tx.finish()?;
        let [urgent, bulk] = lanes;
        Ok(Outgoing {
            urgent,
            bulk,
            down_cursor,
            digest_root,
        })
    }

    /// A lane's log entries numbered `first ..= last`, each record as the
    /// bytes stored (what an exchange sends; see `EncodedExchangeRequest`).
    ///
    /// # Errors
    /// SQLite errors, or a hole in the log.
    pub fn log_range_encoded(
        &self,
        lane: Lane,
        first: u64,
        last: u64,
    ) -> Result<Vec<pb::EncodedLogEntry>> {
        let mut stmt = self.conn.prepare_cached(OUTBOX_RANGE_SQL)?;
        let mut rows = stmt.query(params![lane as i64, first as i64, last as i64])?;
        let mut entries = Vec::with_capacity((last + 1).saturating_sub(first) as usize);
        while let Some(row) = rows.next()? {
            entries.push(pb::EncodedLogEntry {
                seq: row.get::<_, i64>(0)? as u64,
                record: row.get(1)?,
            });
        }
        let expected = (last + 1).saturating_sub(first);
        if entries.len() as u64 != expected {
            return Err(StoreError::Corrupt {
                what: "outbox",
                detail: format!(
                    "entries {first}..={last} should be {expected}, found {}",
                    entries.len()
                ),
            });
        }
        Ok(entries)
    }
}
