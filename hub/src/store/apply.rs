//! Applying a node's batches: the log binding, the accept decision, the
//! merge upserts and the cursors, in one transaction; the exchange.

use lianfang_proto::session::HubExchange;

use super::auth::{bind_log, bound_log};
use super::*;

/// Applies a checked batch (see `HubStore::check_entries`) inside `tx`:
/// the log binding, the accept decision, the upserts and the cursor.
pub(super) fn apply_checked(
    tx: &Connection,
    caller: &Caller,
    log_id: &str,
    lane: Lane,
    head: u64,
    (first, len): (u64, usize),
    entries: &[pb::LogEntry],
) -> Result<Applied> {
    let bound = bound_log(tx, caller.node)?;
    if bound.as_deref() != Some(log_id) {
        return Err(HubError::LogMismatch {
            bound: bound.unwrap_or_else(|| "none: handshake first".into()),
        });
    }
    let cursor = lane_cursor(tx, caller.node, lane)?;
    let skip = match accept(cursor, first, len) {
        Accept::Gap { expected } => return Err(HubError::Gap { first, expected }),
        Accept::Replay => {
            return Ok(Applied { cursor, applied: 0 });
        }
        Accept::Apply { skip } => skip,
    };
    // Each version goes where its kind is stored (`crate::kinds`), under
    // the merge rule.
    {
        let mut upserts = crate::kinds::Upserts::new(tx);
        for entry in &entries[skip..] {
            upserts.upsert(entry.record.as_ref().expect("checked above"))?;
        }
        let written = upserts.finish();
        super::digests::fold(tx, &written.digests)?;
        crate::aggregates::add_days(tx, &written.days)?;
    }
    let new_cursor = first + len as u64 - 1;
    tx.execute(
        "INSERT INTO lane_cursor (node, lane, cursor, head) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (node, lane) DO UPDATE SET
             cursor = excluded.cursor,
             head = CASE WHEN excluded.head > lane_cursor.head
                         THEN excluded.head ELSE lane_cursor.head END",
        params![caller.node, lane as i64, new_cursor as i64, head as i64],
    )?;
    tx.execute(
        "UPDATE node SET last_sync = ?2 WHERE id = ?1",
        params![caller.node, now_rfc3339()],
    )?;
    Ok(Applied {
        cursor: new_cursor,
        applied: (len - skip) as u64,
    })
}

/// Starts a session inside `tx`: binds the enrolment to `log_id` on first
/// contact (refusing another log), notes the call, and records the node's
/// lane heads (for the table's "caught up").
pub(super) fn open_session(
    tx: &Connection,
    caller: &Caller,
    log_id: &str,
    heads: &[(Lane, u64)],
) -> Result<()> {
    // Refused before anything is kept: the caller drops `tx` on an error.
    bind_log(tx, caller, log_id)?;
    if let Some((lane, head)) = heads.iter().find(|(_, head)| *head > MAX_SEQ) {
        return Err(HubError::Malformed(format!(
            "{} head {head} is beyond the largest a log may reach ({MAX_SEQ})",
            lane.as_str_name()
        )));
    }
    for &(lane, head) in heads {
        tx.execute(
            "INSERT INTO lane_cursor (node, lane, head) VALUES (?1, ?2, ?3)
             ON CONFLICT (node, lane) DO UPDATE SET head = excluded.head",
            params![caller.node, lane as i64, head as i64],
        )?;
    }
    Ok(())
}

/// The hub's cursor on one lane of a node's log (0 before any push).
pub(super) fn lane_cursor(conn: &Connection, node: i64, lane: Lane) -> Result<u64> {
    Ok(conn
        .query_row(
            "SELECT cursor FROM lane_cursor WHERE node = ?1 AND lane = ?2",
            params![node, lane as i64],
            |row| row.get::<_, i64>(0),
        )
        .optional()?
        .unwrap_or(0) as u64)
}

impl HubStore {
    /// Opens a sync session: binds the enrolment to `log_id` on first contact
    /// and returns the cursor on that log.
    ///
    /// # Errors
    /// [`HubError::LogMismatch`] when the enrolment is bound to another log.
    pub fn handshake(
        &mut self,
        caller: &Caller,
        log_id: &str,
        heads: [(Lane, u64); 2],
        down_cursor: u64,
    ) -> Result<Handshake> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        open_session(&tx, caller, log_id, &heads)?;
        let mut cursors = [0u64; 2];
        for lane in lianfang_proto::LANES {
            cursors[lane as usize] = lane_cursor(&tx, caller.node, lane)?;
        }
        crate::directives::mark_delivered(&tx, &caller.compound, down_cursor)?;
        let down_head = crate::directives::down_head(&tx, &caller.compound)?;
        tx.commit()?;
        Ok(Handshake {
            bulk_cursor: cursors[Lane::Bulk as usize],
            urgent_cursor: cursors[Lane::Urgent as usize],
            down_head,
        })
    }

    /// Checks a batch before anything is written ([`check_batch_entries`]);
    /// a refused record is written to the audit log here, outside any
    /// transaction, so the audit entry survives the refusal. Returns the
    /// batch's first number and length.
    pub(super) fn check_entries(
        &self,
        caller: &Caller,
        lane: Lane,
        entries: &[pb::LogEntry],
    ) -> Result<(u64, usize)> {
        let checked = check_batch_entries(&caller.compound, lane, entries, crate::today());
        let event = match &checked {
            Err(HubError::ForeignRecord { .. }) => Some("foreign_record"),
            Err(HubError::InvalidRecord { .. }) => Some("invalid_record"),
            _ => None,
        };
        if let (Some(event), Err(error)) = (event, &checked) {
            self.audit(Some(&caller.compound), event, &error.to_string())?;
        }
        checked
    }

    /// Applies a batch of the caller's log atomically with its cursor.
    ///
    /// A batch wholly at or below the cursor is a replay: acknowledged,
    /// nothing written. One that overlaps the cursor has its applied prefix
    /// skipped. One that starts past `cursor + 1` is refused ([`HubError::Gap`]).
    /// A record of another compound, or one that breaks `check_record`,
    /// refuses the whole batch.
    ///
    /// # Errors
    /// [`HubError`] as above; nothing is written on error.
    pub fn apply_batch(
        &mut self,
        caller: &Caller,
        log_id: &str,
        lane: Lane,
        head: u64,
        entries: &[pb::LogEntry],
    ) -> Result<Applied> {
        let (first, len) = self.check_entries(caller, lane, entries)?;
        self.before_writing(&caller.compound)?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let applied = apply_checked(&tx, caller, log_id, lane, head, (first, len), entries)?;
        tx.commit()?;
        Ok(applied)
    }

    /// One round trip of a node's session (the `Exchange` call): opens the
    /// session as [`HubStore::handshake`] does, applies each lane's entries
    /// as [`HubStore::apply_batch`] does (urgent first, one transaction for
    /// all of it, a batch past the cursor left unapplied rather than
    /// refused), acknowledges and returns the down log after the node's
    /// cursor, and, when the node sent a digest root and the hub now holds
    /// both lanes to their heads, compares it with the hub's own.
    ///
    /// # Errors
    /// As [`HubStore::apply_batch`], except [`HubError::Gap`]; nothing is
    /// written on error, except that a refused bulk batch still lets the
    /// urgent entries beside it be applied first.
    pub fn exchange(
        &mut self,
        caller: &Caller,
        request: &pb::ExchangeRequest,
    ) -> Result<Exchanged> {
        let none = pb::LaneEntries::default();
        let lanes = [
            (Lane::Urgent, request.urgent.as_ref().unwrap_or(&none)),
            (Lane::Bulk, request.bulk.as_ref().unwrap_or(&none)),
        ];
        // The decisions are `HubExchange`'s (lianfang_proto::session): which
        // lanes are applied, which refusal is answered and when, when the
        // roots are compared; the SQL is here.
        self.before_writing(&caller.compound)?;
        let mut decide = HubExchange::new();
        for (lane, entries) in &lanes {
            if !entries.entries.is_empty() {
                decide.checked(*lane, self.check_entries(caller, *lane, &entries.entries))?;
            }
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let heads: Vec<(Lane, u64)> = lanes
            .iter()
            .filter(|(lane, _)| decide.records_head(*lane))
            .map(|(lane, entries)| (*lane, entries.head))
            .collect();
        open_session(&tx, caller, &request.log_id, &heads)?;
        let mut out = Exchanged::default();
        let mut cursors = [0; 2];
        for ((lane, entries), cursor) in lanes.iter().zip(&mut cursors) {
            if let Some(range) = decide.range(*lane) {
                let applied = apply_checked(
                    &tx,
                    caller,
                    &request.log_id,
                    *lane,
                    entries.head,
                    range,
                    &entries.entries,
                )
                .map(|applied| applied.applied);
                decide.applied(*lane, applied, |e| matches!(e, HubError::Gap { .. }))?;
            }
            *cursor = lane_cursor(&tx, caller.node, *lane)?;
        }
        [out.urgent_cursor, out.bulk_cursor] = cursors;
        out.applied = decide.applied_bulk();
        crate::directives::mark_delivered(&tx, &caller.compound, request.down_cursor)?;
        out.down_head = crate::directives::down_head(&tx, &caller.compound)?;
        if request.down_max > 0 {
            out.down = crate::directives::down_entries(
                &tx,
                &caller.compound,
                request.down_cursor,
                request.down_max.min(MAX_DOWN_PER_EXCHANGE),
            )?;
        }
        tx.commit()?;
        let heads = lanes.map(|(_, entries)| entries.head);
        if decide.finish(cursors, heads, !request.digest_root.is_empty())? {
            let agree = digest::root(&self.digests_for_comparison(&caller.compound)?)[..]
                == request.digest_root[..];
            // How many buckets differ is learnt from the Verify that follows.
            self.record_agreement(&caller.compound, agree, if agree { 0 } else { -1 })?;
            out.digest = if agree {
                pb::DigestCheck::Agree
            } else {
                pb::DigestCheck::Differ
            };
        }
        Ok(out)
    }

    /// The reply to an `Exchange` from what it did: the hub's cursors, the
    /// digest check and the down entries, stamped with the hub's clock.
    pub fn exchange_reply(
        exchanged: Exchanged,
        compound: String,
        hub_time_ms: u64,
    ) -> pb::ExchangeResponse {
        pb::ExchangeResponse {
            compound,
            hub_time_ms,
            urgent_cursor: exchanged.urgent_cursor,
            bulk_cursor: exchanged.bulk_cursor,
            applied: exchanged.applied,
            digest: exchanged.digest as i32,
            down: exchanged.down,
            down_head: exchanged.down_head,
        }
    }

    /// The bulk-lane cursor of a compound's active enrolment.
    ///
    /// # Errors
    /// [`HubError::UnknownCompound`]; SQLite errors.
    pub fn cursor(&self, compound: &str) -> Result<u64> {
        self.lane_cursor_of(compound, Lane::Bulk)
    }

    /// A lane's cursor of a compound's active enrolment.
    ///
    /// # Errors
    /// [`HubError::UnknownCompound`]; SQLite errors.
    pub fn lane_cursor_of(&self, compound: &str, lane: Lane) -> Result<u64> {
        let node: i64 = self
            .conn
            .query_row(
                "SELECT id FROM node WHERE compound = ?1 AND revoked_at IS NULL",
                [compound],
                |row| row.get(0),
            )
            .optional()?
            .ok_or_else(|| HubError::UnknownCompound(compound.to_owned()))?;
        lane_cursor(&self.conn, node, lane)
    }
}

/// Checks a batch of `caller`'s log before anything is written, as of
/// `today`: its size and numbering, and every record (its compound is the
/// caller's, `check_record`, its lane). Returns the batch's first number
/// and length. Decides only: the caller audits a refused record.
///
/// # Errors
/// The first fault, as a [`HubError`].
pub(super) fn check_batch_entries(
    caller: &str,
    lane: Lane,
    entries: &[pb::LogEntry],
    today: chrono::NaiveDate,
) -> Result<(u64, usize)> {
    if entries.len() > MAX_BATCH_ENTRIES {
        return Err(HubError::Malformed(format!(
            "a batch of {} entries exceeds the limit of {MAX_BATCH_ENTRIES}",
            entries.len()
        )));
    }
    let (first, len) = check_batch(entries.iter().map(|e| e.seq))
        .map_err(|e| HubError::Malformed(e.to_string()))?;
    for entry in entries {
        let record = entry
            .record
            .as_ref()
            .ok_or_else(|| HubError::Malformed(format!("entry {} has no record", entry.seq)))?;
        if record.compound != caller {
            return Err(HubError::ForeignRecord {
                id: record.id.clone(),
                record: record.compound.clone(),
                caller: caller.to_owned(),
            });
        }
        let Some(body) = &record.body else {
            // Every kind this protocol has carries a body, even a
            // tombstone (an empty one of its kind), so a missing body is
            // a kind from a newer protocol.
            return Err(HubError::UnknownKind {
                seq: entry.seq,
                id: record.id.chars().take(64).collect(),
            });
        };
        if record.id.is_empty() {
            return Err(HubError::Malformed(format!(
                "entry {} has no record id",
                entry.seq
            )));
        }
        if let Err(e) = lianfang_proto::validate::check_record(record, today) {
            return Err(HubError::InvalidRecord {
                seq: entry.seq,
                id: record.id.chars().take(64).collect(),
                field: e.field,
                reason: e.reason,
            });
        }
        if Kind::of(body).lane() != lane {
            return Err(HubError::Malformed(format!(
                "entry {} is a {} in the {} lane",
                entry.seq,
                Kind::of(body).name(),
                lane.as_str_name()
            )));
        }
    }
    Ok((first, len))
}
