//! The down log: verifying and applying the hub's entries with the down cursor.

use super::*;

impl Store {
    /// Highest entry of the hub's down log applied here.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn down_cursor(&self) -> Result<u64> {
        self.meta_u64("down_cursor")
    }

    /// Applies a batch of the hub's down log atomically with the down
    /// cursor, under the same rules as the hub applies a push
    /// ([`lianfang_proto::sync::accept`]): replays are ignored, an overlap
    /// applies only its new tail, a gap is refused. Every new entry must
    /// verify under the hub key stored at `init`; if one does not, nothing
    /// of the batch is applied.
    ///
    /// # Errors
    /// [`DownError`]; nothing is written then.
    pub fn apply_down(
        &mut self,
        entries: &[pb::DownEntry],
        received_at: &str,
    ) -> Result<u64, DownError> {
        let (first, len) =
            check_batch(entries.iter().map(|e| e.seq)).map_err(DownError::Malformed)?;
        let identity = self.identity()?;
        let hub_key = lianfang_proto::sign::hex_decode(&identity.hub_key)
            .ok_or(DownError::Verify(VerifyError::BadKey))?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let cursor: u64 = tx
            .query_row(GET_META_SQL, ["down_cursor"], |row| row.get::<_, String>(0))?
            .parse()
            .unwrap_or(0);
        let skip = match accept(cursor, first, len) {
            Accept::Gap { expected } => return Err(DownError::Gap { first, expected }),
            Accept::Replay => return Ok(cursor),
            Accept::Apply { skip } => skip,
        };
        for entry in &entries[skip..] {
            verify_entry(&hub_key, &identity.compound, entry).map_err(DownError::Verify)?;
            let message = pb::HubMessage::decode(entry.message.as_slice()).map_err(|e| {
                DownError::Undecodable {
                    seq: entry.seq,
                    reason: e.to_string(),
                }
            })?;
            tx.execute(
                "INSERT INTO inbox (seq, received_at, message) VALUES (?1, ?2, ?3)",
                params![entry.seq as i64, received_at, entry.message],
            )?;
            if let Some(pb::hub_message::Body::Config(config)) = message.body {
                let config = TableConfig {
                    key_regions: config.key_regions,
                    isolation_days: config.isolation_days,
                };
                let json = serde_json::to_string(&config).expect("config serialises");
                tx.execute(SET_META_SQL, params!["table_config", json])?;
            }
        }
        let new_cursor = first + len as u64 - 1;
        tx.execute(SET_META_SQL, params!["down_cursor", new_cursor.to_string()])?;
        tx.commit()?;
        Ok(new_cursor)
    }

    /// Every message received from the hub, in down-log order, with when it
    /// arrived (RFC 3339).
    ///
    /// # Errors
    /// SQLite errors or an undecodable stored message.
    pub fn inbox(&self) -> Result<Vec<(u64, String, pb::HubMessage)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT seq, received_at, message FROM inbox ORDER BY seq")?;
        let mut rows = stmt.query([])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let bytes: Vec<u8> = row.get(2)?;
            let message =
                pb::HubMessage::decode(bytes.as_slice()).map_err(|e| StoreError::Corrupt {
                    what: "inbox message",
                    detail: e.to_string(),
                })?;
            out.push((row.get::<_, i64>(0)? as u64, row.get(1)?, message));
        }
        Ok(out)
    }
}
