//! Writing the compound's records: each change and its outbox entry in one
//! transaction.

use super::*;

/// Appends to the outbox inside a transaction, numbering each entry one
/// above the last of its lane: the one place the log's numbering is made.
pub(super) struct Outbox<'t> {
    tx: &'t rusqlite::Transaction<'t>,
    append: rusqlite::CachedStatement<'t>,
    /// Head of each lane, read from the table when first needed.
    heads: [Option<u64>; 2],
}

impl<'t> Outbox<'t> {
    pub(super) fn new(tx: &'t rusqlite::Transaction<'t>) -> Result<Self> {
        Ok(Outbox {
            tx,
            append: tx.prepare_cached(APPEND_OUTBOX_SQL)?,
            heads: [None, None],
        })
    }

    pub(super) fn append(&mut self, lane: Lane, record: &pb::Record) -> Result<u64> {
        let seq = match self.heads[lane as usize] {
            Some(head) => head + 1,
            None => {
                self.tx
                    .query_row(HEAD_SQL, [lane as i64], |row| row.get::<_, u64>(0))?
                    + 1
            }
        };
        self.heads[lane as usize] = Some(seq);
        self.append
            .execute(params![lane as i64, seq as i64, record.encode_to_vec()])?;
        Ok(seq)
    }
}

impl Store {
    /// Applies `changes` in one transaction: each change that differs from
    /// what is stored gets a new HLC stamp, replaces the record, and is
    /// appended to the outbox. All or nothing.
    ///
    /// # Errors
    /// SQLite errors; nothing is written then.
    pub fn write(
        &mut self,
        changes: impl IntoIterator<Item = Change>,
        wall_ms: u64,
    ) -> Result<WriteSummary> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let get_meta = |key: &'static str| -> Result<String> {
            Ok(tx.query_row(GET_META_SQL, [key], |row| row.get::<_, String>(0))?)
        };
        let compound = get_meta("compound")?;
        let origin = get_meta("node_id")?;
        let mut hlc = Hlc::resume(get_meta("hlc")?.parse().unwrap_or(0));
        let mut summary = WriteSummary::default();
        let mut digests = lianfang_proto::digest::Changes::default();
        let mut figures_changed = false;
        let today = crate::today();
        {
            let mut get = tx.prepare_cached(GET_RECORD_SQL)?;
            let mut upsert = tx.prepare_cached(UPSERT_RECORD_SQL)?;
            let mut outbox = Outbox::new(&tx)?;
            for change in changes {
                let kind = change.kind as i64;
                let held: Option<(u64, String, bool, Vec<u8>)> = get
                    .query_row(params![kind, change.id], |row| {
                        Ok((
                            row.get::<_, i64>(0)? as u64,
                            row.get(1)?,
                            row.get::<_, i64>(2)? != 0,
                            row.get(3)?,
                        ))
                    })
                    .optional()?;
                let current = held
                    .as_ref()
                    .map(|(_, _, deleted, body)| (*deleted, body.as_slice()));
                let deleted = change.body.is_none();
                let body = change.body.unwrap_or_else(|| change.kind.empty_body());
                let body_bytes = encode_body(&body);
                let counts = summary.of_kind(change.kind);
                match (&current, deleted) {
                    (None, true) | (Some((true, _)), true) => {
                        counts.unchanged += 1;
                        continue;
                    }
                    (Some((false, old)), false) if *old == body_bytes.as_slice() => {
                        counts.unchanged += 1;
                        continue;
                    }
                    (None, false) | (Some((true, _)), false) => counts.added += 1,
                    (Some((false, _)), false) => counts.updated += 1,
                    (Some((false, _)), true) => counts.deleted += 1,
                }
                // A daily report summarises the others; writing one
                // changes nothing a report reads.
                figures_changed |= change.kind != Kind::DailyReport;
                let stamp = hlc.tick(wall_ms);
                let record = pb::Record {
                    compound: compound.clone(),
                    id: change.id.clone(),
                    stamp,
                    origin: origin.clone(),
                    deleted,
                    body: Some(body),
                };
                // The hub's rule, checked here so this node never logs a
                // change the hub would refuse (which would block its lane).
                validate::check_record(&record, today).map_err(|e| StoreError::Invalid {
                    kind: change.kind.name(),
                    id: change.id.clone(),
                    field: e.field,
                    reason: e.reason,
                })?;
                upsert.execute(params![
                    kind,
                    change.id,
                    stamp as i64,
                    origin,
                    deleted,
                    body_bytes
                ])?;
                if let Some((stamp, origin, deleted, body)) = &held {
                    digests.remove(change.kind, &change.id, *stamp, origin, *deleted, body);
                }
                digests.add(
                    change.kind,
                    &change.id,
                    stamp,
                    &origin,
                    deleted,
                    &body_bytes,
                );
                outbox.append(change.kind.lane(), &record)?;
            }
        }
        super::digests::fold(&tx, &digests)?;
        super::digests::mark(&tx)?;
        if figures_changed {
            super::daily::records_changed(&tx)?;
        }
        tx.execute(SET_META_SQL, params!["hlc", hlc.last().to_string()])?;
        tx.commit()?;
        Ok(summary)
    }

    /// The current version of a record, tombstones included.
    ///
    /// # Errors
    /// SQLite errors or an undecodable stored body.
    pub fn get(&self, kind: Kind, id: &str) -> Result<Option<pb::Record>> {
        let row: Option<(i64, String, bool, Vec<u8>)> = self
            .conn
            .query_row(GET_RECORD_SQL, params![kind as i64, id], |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get::<_, i64>(2)? != 0,
                    row.get(3)?,
                ))
            })
            .optional()?;
        let Some((stamp, origin, deleted, body)) = row else {
            return Ok(None);
        };
        Ok(Some(pb::Record {
            compound: self.meta("compound")?,
            id: id.to_owned(),
            stamp: stamp as u64,
            origin,
            deleted,
            body: Some(decode_body(kind, &body)?),
        }))
    }

    /// Ids of the live (not deleted) records of one kind.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn live_ids(&self, kind: Kind) -> Result<std::collections::HashSet<String>> {
        let mut stmt = self
            .conn
            .prepare("SELECT id FROM record WHERE kind = ?1 AND deleted = 0")?;
        let ids = stmt
            .query_map([kind as i64], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(ids)
    }

    /// The live records of one kind, newest version first (by stamp), as
    /// `(id, stamp, body)`.
    ///
    /// # Errors
    /// SQLite errors or an undecodable stored body.
    pub fn live_records(&self, kind: Kind) -> Result<Vec<(String, u64, pb::record::Body)>> {
        let mut out = Vec::new();
        self.for_each_live(kind, |id, stamp, body| {
            out.push((id.to_owned(), stamp, body));
        })?;
        Ok(out)
    }

    /// Calls `f` with each live record of one kind, newest version first,
    /// one at a time (nothing of the kind is held at once).
    ///
    /// # Errors
    /// SQLite errors or an undecodable stored body.
    pub fn for_each_live(
        &self,
        kind: Kind,
        mut f: impl FnMut(&str, u64, pb::record::Body),
    ) -> Result<()> {
        let mut stmt = self.conn.prepare_cached(LIVE_RECORDS_SQL)?;
        let mut rows = stmt.query([kind as i64])?;
        while let Some(row) = rows.next()? {
            let body = decode_body(kind, row.get_ref(2)?.as_blob().unwrap_or_default())?;
            let id = row.get_ref(0)?.as_str().unwrap_or_default();
            f(id, row.get::<_, i64>(1)? as u64, body);
        }
        Ok(())
    }
}

const LIVE_RECORDS_SQL: &str =
    "SELECT id, stamp, body FROM record WHERE kind = ?1 AND deleted = 0 ORDER BY stamp DESC, id";
