//! Down the hub's log: notices, verification tasks, problems to rectify and
//! configuration, each a directive signed into the down log of every
//! compound it targets, and the compounds' answers that come back as records.
//!
//! **Architecture Invariant:** each compound has its own down log numbered
//! 1, 2, 3, … (a directive to many compounds is appended to each log), so a
//! node applies it with the same gap/replay rules as the hub applies a push
//! (`lianfang_proto::sync::accept`), and receives only what is addressed to
//! it.
//!
//! **Architecture Invariant:** every down entry is signed at append time over
//! (compound, seq, message); nothing unsigned is ever stored or sent.
//!
//! Delivery is known from the node's cursor: a `Pull` (or handshake) with
//! cursor `c` marks every entry of that compound up to `c` delivered.
//! Acknowledgements, task answers and fixes are node records (`Receipt`,
//! `TaskAnswer`, `ProblemFix`) that ride the push into the `response` table.

use crate::db::{Connection, OptionalExtension as _, TransactionBehavior, params};
use lianfang_proto::table::TableConfig;
use lianfang_proto::{Kind, pb};
use prost::Message as _;
use serde::Serialize;

use crate::store::{Caller, HubError, HubStore, Result};

use crate::now_rfc3339;

/// Marks `compound`'s down entries up to `cursor` delivered (first time only).
pub(crate) fn mark_delivered(conn: &Connection, compound: &str, cursor: u64) -> Result<()> {
    conn.execute(
        "UPDATE downlog SET delivered_at = ?3
         WHERE compound = ?1 AND seq <= ?2 AND delivered_at IS NULL",
        params![
            compound,
            i64::try_from(cursor).unwrap_or(i64::MAX),
            now_rfc3339()
        ],
    )?;
    Ok(())
}

/// Highest entry of `compound`'s down log (0 when empty).
pub(crate) fn down_head(conn: &Connection, compound: &str) -> Result<u64> {
    Ok(conn.query_row(
        "SELECT COALESCE(MAX(seq), 0) FROM downlog WHERE compound = ?1",
        [compound],
        |row| row.get::<_, i64>(0),
    )? as u64)
}

/// Entries of a compound's down log after `after`, at most `max`, in order.
pub(crate) fn down_entries(
    conn: &Connection,
    compound: &str,
    after: u64,
    max: u32,
) -> Result<Vec<pb::DownEntry>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, message, signature FROM downlog
         WHERE compound = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
    )?;
    let entries = stmt
        .query_map(params![compound, after as i64, i64::from(max)], |row| {
            Ok(pb::DownEntry {
                seq: row.get::<_, i64>(0)? as u64,
                message: row.get(1)?,
                signature: row.get(2)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(entries)
}

fn signing_key(conn: &Connection) -> Result<ed25519_dalek::SigningKey> {
    let hex: String = conn.query_row(
        "SELECT value FROM setting WHERE key = 'signing_key'",
        (),
        |row| row.get(0),
    )?;
    let secret: [u8; 32] = lianfang_proto::sign::hex_decode(&hex)
        .and_then(|b| b.try_into().ok())
        .ok_or(HubError::CorruptKey)?;
    Ok(lianfang_proto::sign::signing_key(&secret))
}

/// Records a directive and appends it, signed, to each target's down log.
fn append_directive(
    conn: &Connection,
    kind: &str,
    body: pb::hub_message::Body,
    targets: &[String],
    now: &str,
) -> Result<i64> {
    if targets.is_empty() {
        return Err(HubError::InvalidDirective(
            "no compound to send to: enrol compounds first".into(),
        ));
    }
    let key = signing_key(conn)?;
    let id: i64 = conn.query_row(
        "SELECT COALESCE(MAX(id), 0) + 1 FROM directive",
        (),
        |row| row.get(0),
    )?;
    let message = pb::HubMessage {
        directive_id: id.to_string(),
        issued_at: now.to_owned(),
        body: Some(body),
    }
    .encode_to_vec();
    conn.execute(
        "INSERT INTO directive (id, kind, created_at, message) VALUES (?1, ?2, ?3, ?4)",
        params![id, kind, now, message],
    )?;
    for compound in targets {
        let seq = down_head(conn, compound)? + 1;
        let entry = lianfang_proto::sign::sign_entry(&key, compound, seq, message.clone());
        conn.execute(
            "INSERT INTO downlog (compound, seq, directive, message, signature)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![compound, seq as i64, id, entry.message, entry.signature],
        )?;
    }
    Ok(id)
}

/// Stores `config` as the hub's and sends it to `targets`, in the caller's
/// transaction; the directive's id, 0 when there is no target.
fn store_and_send_config(
    conn: &Connection,
    config: &TableConfig,
    targets: &[String],
    now: &str,
) -> Result<i64> {
    conn.execute(
        "INSERT INTO setting (key, value) VALUES ('table_config', ?1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [serde_json::to_string(config).expect("config serialises")],
    )?;
    // The returnees' key flag follows the key regions in this same
    // transaction (the aggregates are rebuilt when they changed).
    crate::aggregates::classify(conn, config)?;
    if targets.is_empty() {
        return Ok(0);
    }
    append_directive(conn, "config", config_body(config), targets, now)
}

/// Sends the hub's configuration to a newly enrolled compound, if it was
/// ever set (the defaults need no message).
pub(crate) fn send_current_config(conn: &Connection, compound: &str, now: &str) -> Result<()> {
    let stored: Option<String> = conn
        .query_row(
            "SELECT value FROM setting WHERE key = 'table_config'",
            (),
            |row| row.get(0),
        )
        .optional()?;
    if let Some(config) = stored.and_then(|json| serde_json::from_str::<TableConfig>(&json).ok()) {
        append_directive(
            conn,
            "config",
            config_body(&config),
            &[compound.to_owned()],
            now,
        )?;
    }
    Ok(())
}

fn config_body(config: &TableConfig) -> pb::hub_message::Body {
    pb::hub_message::Body::Config(pb::Config {
        key_regions: config.key_regions.clone(),
        isolation_days: config.isolation_days,
    })
}

/// A target compound's view of one directive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetStatus {
    pub compound: String,
    /// When the compound's node first reported having it (RFC 3339).
    pub delivered_at: Option<String>,
    /// When the compound acknowledged it, as the node recorded (RFC 3339).
    pub acked_at: Option<String>,
    pub response: Option<String>,
    /// For a member hub (a street at its district): what it reported of
    /// the directive among its own compounds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub members: Option<MembersReport>,
}

impl TargetStatus {
    /// Whether the target acknowledged: its compound did, or, for a member
    /// hub, every compound it passed the directive on to did.
    pub fn acknowledged(&self) -> bool {
        match &self.members {
            Some(m) => m.compounds > 0 && m.acknowledged == m.compounds,
            None => self.acked_at.is_some(),
        }
    }
}

/// What a member hub reported of a directive passed on to its compounds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MembersReport {
    /// Compounds it was passed on to.
    pub compounds: u64,
    pub delivered: u64,
    pub acknowledged: u64,
    pub responses: Vec<MemberResponse>,
}

/// One compound's acknowledgement under a member hub.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberResponse {
    pub compound: String,
    pub acked_at: String,
    pub response: String,
}

impl From<pb::DirectiveRollup> for MembersReport {
    fn from(r: pb::DirectiveRollup) -> Self {
        MembersReport {
            compounds: r.compounds,
            delivered: r.delivered,
            acknowledged: r.acknowledged,
            responses: r
                .responses
                .into_iter()
                .map(|m| MemberResponse {
                    compound: m.member,
                    acked_at: m.acked_at,
                    response: m.response,
                })
                .collect(),
        }
    }
}

/// A directive with its delivery and acknowledgement per target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DirectiveStatus {
    pub id: String,
    pub kind: String,
    pub created_at: String,
    pub title: String,
    pub targets: Vec<TargetStatus>,
}

/// One entry of a verification task with the compound's answer, if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskEntryStatus {
    pub task: String,
    pub compound: String,
    pub entry_id: String,
    pub name: String,
    pub phone: String,
    pub address: String,
    pub reason: String,
    /// registered, unregistered, not_living_here or other; `None` while outstanding.
    pub result: Option<String>,
    pub note: Option<String>,
    pub answered_at: Option<String>,
}

/// A problem to rectify and where it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProblemStatus {
    pub id: String,
    pub compound: String,
    pub what: String,
    pub location: String,
    /// inspection or meeting.
    pub found_at: String,
    pub found_on: String,
    pub delivered_at: Option<String>,
    pub fixed_at: Option<String>,
    pub note: Option<String>,
    pub open: bool,
    /// Still open at a meeting after the day it was found (问题不过夜).
    pub overdue: bool,
}

fn found_at_name(found_at: pb::FoundAt) -> &'static str {
    match found_at {
        pb::FoundAt::Inspection => "inspection",
        pb::FoundAt::Meeting => "meeting",
        pb::FoundAt::Unspecified => "unspecified",
    }
}

impl HubStore {
    /// Every enrolled compound code, sorted.
    fn compounds(&self) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare("SELECT code FROM compound ORDER BY code")?;
        let codes = stmt
            .query_map((), |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(codes)
    }

    /// Resolves `to` (codes, or all compounds when `None`), refusing unknown codes.
    fn targets(&self, to: Option<&[String]>) -> Result<Vec<String>> {
        let all = self.compounds()?;
        let Some(to) = to else { return Ok(all) };
        let mut targets = Vec::new();
        for code in to {
            let code = code.trim();
            if !all.iter().any(|c| c == code) {
                return Err(HubError::UnknownCompound(code.to_owned()));
            }
            if !targets.iter().any(|c: &String| c == code) {
                targets.push(code.to_owned());
            }
        }
        Ok(targets)
    }

    /// Runs `f` in one immediate transaction: everything it writes
    /// (directives sent, rows, audit entries) commits together, or, when it
    /// fails, none of it does. Inside, sending a directive joins the
    /// transaction instead of opening its own.
    ///
    /// # Errors
    /// `f`'s error (after the rollback), or SQLite's.
    pub fn atomically<R>(&mut self, f: impl FnOnce(&mut HubStore) -> Result<R>) -> Result<R> {
        self.conn.begin(TransactionBehavior::Immediate)?;
        match f(self) {
            Ok(value) => {
                if let Err(e) = self.conn.end(true) {
                    let _ = self.conn.end(false);
                    return Err(e.into());
                }
                Ok(value)
            }
            Err(e) => {
                let _ = self.conn.end(false);
                Err(e)
            }
        }
    }

    fn send(&mut self, kind: &str, body: pb::hub_message::Body, targets: &[String]) -> Result<i64> {
        let now = now_rfc3339();
        if !self.conn.is_autocommit() {
            // Inside the caller's transaction (`atomically`).
            return append_directive(&self.conn, kind, body, targets, &now);
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let id = append_directive(&tx, kind, body, targets, &now)?;
        tx.commit()?;
        Ok(id)
    }

    /// Sends a notice to `to` (all compounds when `None`); returns its id.
    ///
    /// # Errors
    /// An unknown compound, an empty title, or no compounds at all.
    pub fn send_notice(&mut self, notice: pb::Notice, to: Option<&[String]>) -> Result<i64> {
        if notice.title.trim().is_empty() {
            return Err(HubError::InvalidDirective("a notice needs a title".into()));
        }
        let targets = self.targets(to)?;
        self.send("notice", pb::hub_message::Body::Notice(notice), &targets)
    }

    /// Sends a verification list to one compound; returns its id.
    ///
    /// # Errors
    /// An unknown compound or an empty list.
    pub fn send_task(&mut self, compound: &str, task: pb::VerificationTask) -> Result<i64> {
        if task.entries.is_empty() {
            return Err(HubError::InvalidDirective(
                "a verification task needs at least one entry".into(),
            ));
        }
        let targets = self.targets(Some(&[compound.to_owned()]))?;
        self.send("task", pb::hub_message::Body::Task(task), &targets)
    }

    /// Records a problem to rectify for one compound and sends it; returns its id.
    ///
    /// # Errors
    /// An unknown compound or an empty description.
    pub fn add_problem(&mut self, compound: &str, problem: pb::Problem) -> Result<i64> {
        if problem.what.trim().is_empty() {
            return Err(HubError::InvalidDirective(
                "a problem needs a description (--what)".into(),
            ));
        }
        let targets = self.targets(Some(&[compound.to_owned()]))?;
        self.send("problem", pb::hub_message::Body::Problem(problem), &targets)
    }

    /// Changes the table configuration and sends it to every compound.
    /// Returns the new configuration and the directive's id.
    ///
    /// # Errors
    /// An empty region list or a zero isolation period.
    pub fn set_config(
        &mut self,
        key_regions: Option<Vec<String>>,
        isolation_days: Option<u32>,
    ) -> Result<(TableConfig, i64)> {
        let mut config = self.table_config()?;
        if let Some(regions) = key_regions {
            let regions: Vec<String> = regions
                .into_iter()
                .map(|r| r.trim().to_owned())
                .filter(|r| !r.is_empty())
                .collect();
            if regions.is_empty() {
                return Err(HubError::InvalidDirective(
                    "the key-region list cannot be empty".into(),
                ));
            }
            config.key_regions = regions;
        }
        if let Some(days) = isolation_days {
            if !(1..=90).contains(&days) {
                return Err(HubError::InvalidDirective(format!(
                    "isolation period must be 1 to 90 days, got {days}"
                )));
            }
            config.isolation_days = days;
        }
        let now = now_rfc3339();
        let targets = self.compounds()?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let id = store_and_send_config(&tx, &config, &targets, &now)?;
        tx.commit()?;
        Ok((config, id))
    }

    /// Entries of the caller's down log after `after` (at most `max`), and
    /// the log's head. Marks everything up to `after` delivered.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn pull(
        &mut self,
        caller: &Caller,
        after: u64,
        max: u32,
    ) -> Result<(Vec<pb::DownEntry>, u64)> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        mark_delivered(&tx, &caller.compound, after)?;
        let head = down_head(&tx, &caller.compound)?;
        let entries = down_entries(&tx, &caller.compound, after, max.clamp(1, 10_000))?;
        tx.commit()?;
        Ok((entries, head))
    }

    fn directive(&self, id: i64) -> Result<(String, String, pb::HubMessage)> {
        let (kind, created_at, bytes): (String, String, Vec<u8>) = self
            .conn
            .query_row(
                "SELECT kind, created_at, message FROM directive WHERE id = ?1",
                [id],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .optional()?
            .ok_or(HubError::UnknownDirective(id))?;
        let message = pb::HubMessage::decode(bytes.as_slice())
            .map_err(|e| HubError::Malformed(format!("stored directive {id}: {e}")))?;
        Ok((kind, created_at, message))
    }

    /// A response record's body, if the compound has sent one.
    pub(crate) fn response<M: prost::Message + Default>(
        &self,
        compound: &str,
        kind: Kind,
        id: &str,
    ) -> Result<Option<M>> {
        let body: Option<Vec<u8>> = self
            .conn
            .query_row(
                "SELECT body FROM response WHERE compound = ?1 AND kind = ?2 AND id = ?3 AND deleted = 0",
                params![compound, kind as i64, id],
                |row| row.get(0),
            )
            .optional()?;
        body.map(|b| M::decode(b.as_slice()))
            .transpose()
            .map_err(|e| HubError::Malformed(format!("stored {} {id}: {e}", kind.name())))
    }

    /// Per target compound: delivered at, acknowledged at, response.
    ///
    /// # Errors
    /// [`HubError::UnknownDirective`].
    pub fn directive_status(&self, id: i64) -> Result<DirectiveStatus> {
        let (kind, created_at, message) = self.directive(id)?;
        let title = match &message.body {
            Some(pb::hub_message::Body::Notice(n)) => n.title.clone(),
            Some(pb::hub_message::Body::Task(t)) => t.title.clone(),
            Some(pb::hub_message::Body::Problem(p)) => p.what.clone(),
            Some(pb::hub_message::Body::Config(c)) => format!(
                "key regions {}, isolation {} days",
                c.key_regions.join("、"),
                c.isolation_days
            ),
            None => String::new(),
        };
        let rows: Vec<(String, Option<String>)> = {
            let mut stmt = self.conn.prepare(
                "SELECT compound, delivered_at FROM downlog WHERE directive = ?1 ORDER BY compound",
            )?;
            stmt.query_map([id], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect::<Result<_, _>>()?
        };
        let mut targets = Vec::with_capacity(rows.len());
        for (compound, delivered_at) in rows {
            let receipt: Option<pb::Receipt> =
                self.response(&compound, Kind::Receipt, &id.to_string())?;
            let members = self
                .rollup(&compound, &id.to_string())?
                .map(MembersReport::from);
            targets.push(TargetStatus {
                members,
                compound,
                delivered_at,
                acked_at: receipt.as_ref().map(|r| r.acked_at.clone()),
                response: receipt
                    .map(|r| r.response)
                    .filter(|response| !response.is_empty()),
            });
        }
        Ok(DirectiveStatus {
            id: id.to_string(),
            kind,
            created_at,
            title,
            targets,
        })
    }

    /// Passes on a directive from the level above (entry `seq` of this
    /// hub's down log there) to every compound, signed by this hub as its
    /// own directives are; a configuration becomes this hub's. Once: the
    /// directive, its mapping (`upstream_directive`) and the relayed cursor
    /// (`setting` `upstream_relayed`) commit together. Returns the local
    /// directive's id, `None` when it was passed on before, `Some(0)` when
    /// there was nothing to pass it to.
    ///
    /// # Errors
    /// SQLite errors; nothing is written then.
    pub fn relay_from_above(&mut self, seq: u64, message: &pb::HubMessage) -> Result<Option<i64>> {
        let now = now_rfc3339();
        let targets = self.compounds()?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let done: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM upstream_directive WHERE upstream_id = ?1)",
            [&message.directive_id],
            |row| row.get(0),
        )?;
        let mut local = None;
        if !done {
            let id = match &message.body {
                Some(pb::hub_message::Body::Config(c)) => {
                    let config = TableConfig {
                        key_regions: c.key_regions.clone(),
                        isolation_days: c.isolation_days,
                    };
                    if config.key_regions.is_empty() || !(1..=90).contains(&config.isolation_days) {
                        tracing::warn!(
                            ?config,
                            "not passing on a configuration from above that would not be valid here"
                        );
                        0
                    } else {
                        store_and_send_config(&tx, &config, &targets, &now)?
                    }
                }
                Some(body) if !targets.is_empty() => {
                    let kind = match body {
                        pb::hub_message::Body::Notice(_) => "notice",
                        pb::hub_message::Body::Task(_) => "task",
                        pb::hub_message::Body::Problem(_) => "problem",
                        pb::hub_message::Body::Config(_) => "config",
                    };
                    append_directive(&tx, kind, body.clone(), &targets, &now)?
                }
                // A kind from a newer protocol, or no compound yet.
                _ => 0,
            };
            tx.execute(
                "INSERT INTO upstream_directive (upstream_id, local_id, seq, received_at)
                 VALUES (?1, ?2, ?3, ?4)",
                params![message.directive_id, id, seq as i64, now],
            )?;
            local = Some(id);
        }
        tx.execute(
            "INSERT INTO setting (key, value) VALUES ('upstream_relayed', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [seq.to_string()],
        )?;
        tx.commit()?;
        Ok(local)
    }

    /// The last entry of this hub's down log at the level above that it
    /// passed on (0 before any).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn relayed_seq(&self) -> Result<u64> {
        let value: Option<String> = self
            .conn
            .query_row(
                "SELECT value FROM setting WHERE key = 'upstream_relayed'",
                (),
                |row| row.get(0),
            )
            .optional()?;
        Ok(value.and_then(|v| v.parse().ok()).unwrap_or(0))
    }

    /// How many directives from above were passed on to this hub's
    /// compounds.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn passed_on(&self) -> Result<u64> {
        Ok(self.conn.query_row(
            "SELECT COUNT(*) FROM upstream_directive WHERE local_id != 0",
            (),
            |row| row.get(0),
        )?)
    }

    /// What became of every directive passed on from above, as the level
    /// above is told it: counted down to the compounds, through the
    /// roll-ups of any member hub among the targets.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn rollups(&self) -> Result<Vec<pb::DirectiveRollup>> {
        let relayed: Vec<(String, i64)> = {
            let mut stmt = self
                .conn
                .prepare("SELECT upstream_id, local_id FROM upstream_directive ORDER BY seq")?;
            stmt.query_map((), |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect::<Result<_, _>>()?
        };
        let mut rollups = Vec::with_capacity(relayed.len());
        for (upstream_id, local) in relayed {
            let mut rollup = pb::DirectiveRollup {
                directive_id: upstream_id,
                ..Default::default()
            };
            if local != 0 {
                for target in self.directive_status(local)?.targets {
                    if let Some(members) = target.members {
                        rollup.compounds += members.compounds;
                        rollup.delivered += members.delivered;
                        rollup.acknowledged += members.acknowledged;
                        rollup
                            .responses
                            .extend(members.responses.into_iter().map(|m| pb::MemberResponse {
                                member: m.compound,
                                acked_at: m.acked_at,
                                response: m.response,
                            }));
                        continue;
                    }
                    rollup.compounds += 1;
                    rollup.delivered += u64::from(target.delivered_at.is_some());
                    if let Some(acked_at) = target.acked_at {
                        rollup.acknowledged += 1;
                        rollup.responses.push(pb::MemberResponse {
                            member: target.compound,
                            acked_at,
                            response: target.response.unwrap_or_default(),
                        });
                    }
                }
            }
            rollups.push(rollup);
        }
        Ok(rollups)
    }

    /// Every directive's status, newest first.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn directives(&self) -> Result<Vec<DirectiveStatus>> {
        let ids: Vec<i64> = {
            let mut stmt = self
                .conn
                .prepare("SELECT id FROM directive ORDER BY id DESC")?;
            stmt.query_map((), |row| row.get(0))?
                .collect::<Result<_, _>>()?
        };
        ids.into_iter()
            .map(|id| self.directive_status(id))
            .collect()
    }

    /// Entries of verification tasks with their answers: of one task, or of
    /// every task (optionally of one compound).
    ///
    /// # Errors
    /// [`HubError::UnknownDirective`] or a directive that is not a task.
    pub fn task_entries(
        &self,
        task: Option<i64>,
        compound: Option<&str>,
    ) -> Result<Vec<TaskEntryStatus>> {
        let ids: Vec<i64> = match task {
            Some(id) => vec![id],
            None => {
                let mut stmt = self
                    .conn
                    .prepare("SELECT id FROM directive WHERE kind = 'task' ORDER BY id")?;
                stmt.query_map((), |row| row.get(0))?
                    .collect::<Result<_, _>>()?
            }
        };
        let mut out = Vec::new();
        for id in ids {
            let (kind, _, message) = self.directive(id)?;
            let Some(pb::hub_message::Body::Task(task)) = message.body else {
                return Err(HubError::WrongDirectiveKind {
                    id,
                    kind,
                    expected: "task",
                });
            };
            let target: String = self.conn.query_row(
                "SELECT compound FROM downlog WHERE directive = ?1",
                [id],
                |row| row.get(0),
            )?;
            if compound.is_some_and(|c| c != target) {
                continue;
            }
            for entry in task.entries {
                let answer: Option<pb::TaskAnswer> = self.response(
                    &target,
                    Kind::TaskAnswer,
                    &format!("{id}/{}", entry.entry_id),
                )?;
                out.push(TaskEntryStatus {
                    task: id.to_string(),
                    compound: target.clone(),
                    entry_id: entry.entry_id,
                    name: entry.name,
                    phone: entry.phone,
                    address: entry.address,
                    reason: entry.reason,
                    result: answer
                        .as_ref()
                        .map(|a| lianfang_proto::answer_result_name(a.result()).to_owned()),
                    note: answer.as_ref().map(|a| a.note.clone()),
                    answered_at: answer.map(|a| a.answered_at),
                });
            }
        }
        Ok(out)
    }

    /// Problems to rectify as they stand on `today`: each open one is
    /// overdue once a day has passed since it was found (问题不过夜).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn problems(&self, today: chrono::NaiveDate) -> Result<Vec<ProblemStatus>> {
        let ids: Vec<i64> = {
            let mut stmt = self
                .conn
                .prepare("SELECT id FROM directive WHERE kind = 'problem' ORDER BY id")?;
            stmt.query_map((), |row| row.get(0))?
                .collect::<Result<_, _>>()?
        };
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let (_, _, message) = self.directive(id)?;
            let Some(pb::hub_message::Body::Problem(problem)) = message.body else {
                continue;
            };
            let (compound, delivered_at): (String, Option<String>) = self.conn.query_row(
                "SELECT compound, delivered_at FROM downlog WHERE directive = ?1",
                [id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )?;
            let fix: Option<pb::ProblemFix> =
                self.response(&compound, Kind::ProblemFix, &id.to_string())?;
            let open = fix.is_none();
            let found_on = lianfang_proto::table::parse_day(&problem.found_on);
            out.push(ProblemStatus {
                id: id.to_string(),
                compound,
                found_at: found_at_name(problem.found_at()).to_owned(),
                what: problem.what,
                location: problem.location,
                found_on: problem.found_on,
                delivered_at,
                fixed_at: fix.as_ref().map(|f| f.fixed_at.clone()),
                note: fix.map(|f| f.note),
                open,
                overdue: open && found_on.is_some_and(|found| today > found),
            });
        }
        Ok(out)
    }
}
