//! A sync session as a sans-IO state machine: the node's side as
//! [`NodeSync`], the hub's side of one exchange as [`HubExchange`].
//!
//! The node's driver asks the machine for the next [`Step`], does the I/O
//! the step names (a store call, a call to the hub, a wait) and feeds the
//! result back; the machine never touches a store, a socket or a clock. So
//! the same decisions run over gRPC in production and over a simulated
//! network, with a simulated clock, in the seeded simulation test.
//!
//! One `sync` is a run of sessions (one per attempt). A session:
//!
//! ```text
//! Connect → Start → Exchange → StoreAcked → [ApplyDown] → [Verify → [Relog]]
//!                      ↑                                              │
//!                      └──── more to send, or not yet compared ───────┤
//!                            (three that move nothing: Failed)        │
//!                 caught up, compared, down log applied → ReadHeads → Done
//! ```
//!
//! and a failed session ends in `Failed`; [`NodeSync::end`] then says
//! whether to wait and try again, or give up.

use std::time::Duration;

use crate::digest::{self, BucketKey};
use crate::sync::{Backoff, BatchSizer, Sender};
use crate::{Lane, pb};

/// Down-log entries asked for per exchange.
pub const DOWN_BATCH: u32 = 256;

/// Rounds of resending differing buckets before a sync reports that node
/// and hub disagree.
pub const MAX_REPAIR_ROUNDS: u32 = 2;

/// Exchanges in a row that move nothing before a session gives up.
pub const MAX_IDLE_EXCHANGES: u32 = 3;

/// How a call to the hub failed, as the transport classifies it (a gRPC
/// status code, or a link that broke).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallErrorKind {
    Unauthenticated,
    PermissionDenied,
    InvalidArgument,
    FailedPrecondition,
    /// A gap: a fresh session re-reads the cursor.
    OutOfRange,
    Unavailable,
    DeadlineExceeded,
    ResourceExhausted,
    Unimplemented,
    /// The hub's own storage failed.
    Internal,
    NotFound,
    /// Anything else, e.g. a transport failure, which says what it is in
    /// its message.
    Other,
}

impl CallErrorKind {
    /// How a message names the kind (`None`: the message says it).
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            CallErrorKind::Unauthenticated => "unauthenticated",
            CallErrorKind::PermissionDenied => "permission denied",
            CallErrorKind::InvalidArgument => "invalid argument",
            CallErrorKind::FailedPrecondition => "failed precondition",
            CallErrorKind::OutOfRange => "out of range",
            CallErrorKind::Unavailable => "unavailable",
            CallErrorKind::DeadlineExceeded => "deadline exceeded",
            CallErrorKind::ResourceExhausted => "resource exhausted",
            CallErrorKind::Unimplemented => "unimplemented",
            CallErrorKind::Internal => "hub error",
            CallErrorKind::NotFound => "not found",
            CallErrorKind::Other => return None,
        })
    }

    /// Whether the hub refused the request itself, so retrying cannot help.
    pub fn is_refusal(self) -> bool {
        matches!(
            self,
            CallErrorKind::Unauthenticated
                | CallErrorKind::PermissionDenied
                | CallErrorKind::InvalidArgument
                | CallErrorKind::FailedPrecondition
                | CallErrorKind::Unimplemented
        )
    }
}

/// A failed call to the hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallError {
    /// What kind of failure, which decides retry or refusal.
    pub kind: CallErrorKind,
    /// What the hub or the link said.
    pub message: String,
}

impl CallError {
    pub fn new(kind: CallErrorKind, message: impl Into<String>) -> Self {
        CallError {
            kind,
            message: message.into(),
        }
    }

    /// The message a user reads, e.g. `permission denied: record …`.
    pub fn describe(&self) -> String {
        match self.kind.name() {
            Some(name) => format!("{name}: {}", self.message),
            None => self.message.clone(),
        }
    }
}

/// How a sync behaves on its link (the node's `SyncOptions`, less what
/// only the transport needs).
#[derive(Debug, Clone)]
pub struct Policy {
    /// Entries in the first batch; adapts afterwards within `min_batch..=max_batch`.
    pub batch_size: usize,
    pub min_batch: usize,
    pub max_batch: usize,
    /// Deadline of each call (the batch size follows latency against it).
    pub call_timeout: Duration,
    /// Sessions tried before giving up (1 = no retry).
    pub attempts: u32,
    /// First backoff ceiling between attempts; doubles up to `backoff_max`.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
}

/// What a sync did so far; the node's `SyncReport` is this type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Highest sequence number of the bulk lane when the sync finished.
    pub head: u64,
    /// The hub's bulk cursor when the sync finished.
    pub cursor: u64,
    /// Bulk-lane log entries sent (each at most once per session; a batch
    /// cut in flight is the only thing ever sent twice).
    pub sent: u64,
    /// Bulk entries the hub applied as new.
    pub applied: u64,
    /// Urgent-lane entries sent (receipts, answers, fixes, daily reports);
    /// `sent` and `applied` count the bulk lane (the ledger records).
    pub sent_urgent: u64,
    /// Batches acknowledged.
    pub batches: u64,
    /// Sessions started (1 when nothing failed).
    pub sessions: u32,
    /// Down-log entries received and applied.
    pub received: u64,
    /// The node's down cursor when the sync finished.
    pub down_cursor: u64,
    /// The hub's down-log head for this compound.
    pub down_head: u64,
    /// Calls made to the hub (an exchange per round trip, and a `Verify`
    /// when digests differ); 1 for a day's change on a healthy link.
    pub calls: u64,
    /// Whether the hub's digests of this compound's records matched the
    /// node's at the end (`None` if the session never got that far).
    pub digests_agree: Option<bool>,
    /// Record versions sent again because their buckets' digests differed.
    pub repaired: u64,
}

/// Why a session ended without finishing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The hub refused; retrying will not help.
    Refused(String),
    /// The hub sent a down entry this node must not apply.
    Down(String),
    /// The session broke off; another may succeed.
    Retry(String),
}

/// What one exchange carries, for the driver to read from the store: the
/// ranges [`crate::sync::plan`] picks after `lanes`' cursors with at most
/// `max` entries (a lane that [`crate::sync::hold_until_confirmed`] sends
/// nothing until `confirmed`), and the digest root when `with_root` and the
/// entries reach both heads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExchangePlan {
    /// `[urgent, bulk]`: the hub's cursors as last known, and the heads.
    pub lanes: [Sender; 2],
    /// Most entries in the request.
    pub max: usize,
    /// Whether the hub's cursors were learnt in this session.
    pub confirmed: bool,
    /// Whether the digests still need comparing.
    pub with_root: bool,
    /// Down entries to ask for.
    pub down_max: u32,
}

/// What the driver read and put in the request (see [`NodeSync::sending`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sending {
    /// Entries carried, `[urgent, bulk]`.
    pub entries: [u64; 2],
    /// Each lane's head as read with them.
    pub heads: [u64; 2],
    /// The node's down cursor as read with them.
    pub down_cursor: u64,
}

/// Why the store did not apply a batch of the down log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownRefusal {
    /// The batch starts past the down cursor: a fresh session asks again.
    Gap(String),
    /// Bad signature, malformed or undecodable: never applied.
    Refused(String),
}

/// The next thing the driver does.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Open the link; answer with [`NodeSync::connected`].
    Connect,
    /// Record today's own figures (urgent lane), then read each lane's
    /// acknowledged cursor and head; answer with [`NodeSync::started`].
    Start,
    /// Read the exchange `plan` describes, tell [`NodeSync::sending`] what
    /// it holds, send it, and answer with [`NodeSync::exchanged`].
    Exchange(ExchangePlan),
    /// Store the hub's cursors (a stored cursor never moves back); answer
    /// with [`NodeSync::acked`].
    StoreAcked([(Lane, u64); 2]),
    /// Apply these down entries atomically with the down cursor; answer
    /// with [`NodeSync::down_applied`].
    ApplyDown(Vec<pb::DownEntry>),
    /// Send the digest of every bucket (`Verify`); answer with
    /// [`NodeSync::verified`].
    Verify,
    /// Append the current versions of the records in these buckets to the
    /// log again; answer with [`NodeSync::relogged`].
    Relog(Vec<BucketKey>),
    /// Read both lanes' heads (written meanwhile?); answer with
    /// [`NodeSync::heads`].
    ReadHeads,
    /// The hub has the whole log, the digests were compared, the down log
    /// is applied and acknowledged: call [`NodeSync::end`].
    Done,
    /// The session failed: call [`NodeSync::end`].
    Failed(Failure),
}

/// What to do after a session (see [`NodeSync::end`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// The sync is complete.
    Finished,
    /// The hub refused: stop, retrying will not help.
    Refused(String),
    /// The hub sent something this node must not apply: stop.
    Down(String),
    /// Wait `delay`, then start another session.
    Wait { delay: Duration, last: String },
    /// Every attempt failed; `last` says how the last one did.
    GiveUp { attempts: u32, last: String },
}

/// Where a session stands on proving agreement by digests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DigestState {
    /// Not yet compared since the log last moved.
    Unknown,
    Agree,
    /// Repair gave up: reported, not retried within the session.
    Disagree,
}

/// The state of one session.
#[derive(Debug, Clone)]
struct Session {
    /// `[urgent, bulk]`: the hub's cursors as last learnt, and the heads.
    lanes: [Sender; 2],
    digest: DigestState,
    /// The hub's cursors are known once this session's first call returns.
    confirmed: bool,
    /// Repair rounds spent.
    repairs: u32,
    /// Exchanges in a row that moved nothing.
    idle: u32,
    /// This round: entries sent per lane.
    sent: [u64; 2],
    /// This round: the down cursor, as read and then as applied.
    down_cursor: u64,
    /// This round: the hub's down head.
    down_head: u64,
    /// This round: whether anything moved (cursors, down log, a repair).
    moved: bool,
    /// This round: whether down entries came.
    received: bool,
    /// This round: down entries waiting for the acknowledgement to be stored.
    down: Vec<pb::DownEntry>,
    /// This round: the hub's answer on the digest root.
    check: pb::DigestCheck,
}

impl Session {
    fn new(lanes: [Sender; 2]) -> Self {
        Session {
            lanes,
            digest: DigestState::Unknown,
            confirmed: false,
            repairs: 0,
            idle: 0,
            sent: [0; 2],
            down_cursor: 0,
            down_head: 0,
            moved: false,
            received: false,
            down: Vec::new(),
            check: pb::DigestCheck::NotCompared,
        }
    }
}

/// The node's side of a sync: sessions until done, refused, or out of
/// attempts. Feed it as its [`Step`]s say.
#[derive(Debug, Clone)]
pub struct NodeSync {
    policy: Policy,
    tally: Tally,
    sizer: BatchSizer,
    backoff: Backoff,
    /// The running session (`None` before `started`).
    session: Option<Session>,
    /// How the last session ended, for [`NodeSync::end`].
    outcome: Option<Result<(), Failure>>,
}

impl NodeSync {
    pub fn new(policy: Policy) -> Self {
        NodeSync {
            sizer: BatchSizer::new(policy.batch_size, policy.min_batch, policy.max_batch),
            backoff: Backoff::new(policy.backoff_base, policy.backoff_max),
            policy,
            tally: Tally::default(),
            session: None,
            outcome: None,
        }
    }

    /// What the sync did so far.
    pub fn tally(&self) -> &Tally {
        &self.tally
    }

    /// The bulk lane as this session knows it (for progress reports).
    pub fn bulk(&self) -> Sender {
        self.session
            .as_ref()
            .map_or(Sender { acked: 0, head: 0 }, |s| s.lanes[1])
    }

    /// Starts a session.
    pub fn begin(&mut self) -> Step {
        self.tally.sessions += 1;
        self.session = None;
        self.outcome = None;
        Step::Connect
    }

    /// The link is open, or not.
    pub fn connected(&mut self, result: Result<(), CallError>) -> Step {
        match result {
            Ok(()) => Step::Start,
            Err(e) => self.call_failed(&e),
        }
    }

    /// Each lane's acknowledged cursor and head, `[urgent, bulk]`. The first
    /// exchange sends from the node's own record of the hub's cursors: in
    /// the common case it carries everything and its reply ends the session.
    pub fn started(&mut self, lanes: [Sender; 2]) -> Step {
        self.session = Some(Session::new(lanes));
        self.next_exchange()
    }

    fn session(&mut self) -> &mut Session {
        self.session.as_mut().expect("a step of a started session")
    }

    fn next_exchange(&mut self) -> Step {
        let max = self.sizer.size;
        let s = self.session();
        Step::Exchange(ExchangePlan {
            lanes: s.lanes,
            max,
            confirmed: s.confirmed,
            with_root: s.digest == DigestState::Unknown,
            down_max: DOWN_BATCH,
        })
    }

    /// What the request of the planned exchange holds.
    pub fn sending(&mut self, sending: Sending) {
        let s = self.session();
        s.sent = sending.entries;
        s.lanes[0].head = sending.heads[0];
        s.lanes[1].head = sending.heads[1];
        s.down_cursor = sending.down_cursor;
        s.moved = false;
        s.received = false;
        s.down.clear();
        s.check = pb::DigestCheck::NotCompared;
    }

    /// The hub's reply to the exchange (or how the call failed), and how
    /// long the call took.
    pub fn exchanged(
        &mut self,
        reply: Result<pb::ExchangeResponse, CallError>,
        elapsed: Duration,
    ) -> Step {
        let reply = match reply {
            Ok(reply) => reply,
            Err(e) => return self.call_failed(&e),
        };
        let timeout = self.policy.call_timeout;
        let sent = self.session().sent;
        let any = sent.iter().sum::<u64>() > 0;
        self.tally.calls += 1;
        if any {
            self.sizer.on_success(elapsed, timeout);
            self.tally.batches += 1;
        }
        self.tally.sent_urgent += sent[0];
        self.tally.sent += sent[1];
        self.tally.applied += reply.applied;
        let s = self.session.as_mut().expect("a started session");
        s.confirmed = true;

        // The hub's cursors, as they stand after this call.
        let before = s.lanes.map(|l| l.acked);
        for ((sender, lane), cursor) in s
            .lanes
            .iter_mut()
            .zip([Lane::Urgent, Lane::Bulk])
            .zip([reply.urgent_cursor, reply.bulk_cursor])
        {
            if cursor > sender.head {
                let message = format!(
                    "the hub has applied {cursor} entries of this node's {} lane but the log \
                     here ends at {}; this database is older than what the hub holds \
                     (restored from a backup?): enrol again with `lianfang-hub enroll` and \
                     `lianfang-node init` a fresh directory",
                    lane.as_str_name(),
                    sender.head
                );
                return self.fail(Failure::Refused(message));
            }
            sender.resume_at(cursor);
        }
        s.moved = s.lanes.map(|l| l.acked) != before;
        s.down_head = reply.down_head;
        s.received = !reply.down.is_empty();
        s.down = reply.down;
        s.check = pb::DigestCheck::try_from(reply.digest).unwrap_or_default();
        self.tally.down_head = reply.down_head;
        Step::StoreAcked([
            (Lane::Urgent, reply.urgent_cursor),
            (Lane::Bulk, reply.bulk_cursor),
        ])
    }

    /// The hub's cursors are stored. The down log comes next: what came
    /// back is applied, and the next exchange acknowledges it.
    pub fn acked(&mut self) -> Step {
        let s = self.session();
        if s.down.is_empty() {
            self.after_down()
        } else {
            Step::ApplyDown(std::mem::take(&mut s.down))
        }
    }

    /// The down cursor after applying the batch (of `n` entries), or why
    /// the store refused it.
    pub fn down_applied(&mut self, n: u64, result: Result<u64, DownRefusal>) -> Step {
        match result {
            Ok(cursor) => {
                let s = self.session();
                let before = s.down_cursor;
                s.moved |= cursor > before;
                s.down_cursor = cursor;
                self.tally.received += n.min(cursor.saturating_sub(before));
                self.after_down()
            }
            Err(DownRefusal::Gap(e)) => self.fail(Failure::Retry(format!("down log: {e}"))),
            Err(DownRefusal::Refused(e)) => self.fail(Failure::Down(e)),
        }
    }

    /// Agreement: one root compared in the common case; on a difference,
    /// the buckets name what to send again.
    fn after_down(&mut self) -> Step {
        let s = self.session();
        let check = s.check;
        if s.sent.iter().sum::<u64>() > 0 {
            s.digest = DigestState::Unknown;
        }
        let down_cursor = s.down_cursor;
        self.tally.down_cursor = down_cursor;
        match check {
            pb::DigestCheck::Agree => {
                self.session().digest = DigestState::Agree;
                self.finish_round()
            }
            pb::DigestCheck::NotCompared => self.finish_round(),
            pb::DigestCheck::Differ => Step::Verify,
        }
    }

    /// The hub's view of the buckets that differ (or how `Verify` failed).
    pub fn verified(&mut self, differing: Result<Vec<pb::BucketDigest>, CallError>) -> Step {
        let differing = match differing {
            Ok(differing) => differing,
            Err(e) => return self.call_failed(&e),
        };
        self.tally.calls += 1;
        if differing.is_empty() {
            // Changed between the two calls; compare again.
            self.session().moved = true;
            return self.finish_round();
        }
        let s = self.session();
        if s.repairs < MAX_REPAIR_ROUNDS {
            s.repairs += 1;
            Step::Relog(digest::from_wire(&differing).into_keys().collect())
        } else {
            self.relogged(0)
        }
    }

    /// Record versions re-logged for repair.
    pub fn relogged(&mut self, n: u64) -> Step {
        self.tally.repaired += n;
        let s = self.session();
        if n == 0 {
            s.digest = DigestState::Disagree;
        } else {
            s.moved = true;
        }
        self.finish_round()
    }

    fn finish_round(&mut self) -> Step {
        let s = self.session.as_ref().expect("a started session");
        match s.digest {
            DigestState::Agree => self.tally.digests_agree = Some(true),
            DigestState::Disagree => self.tally.digests_agree = Some(false),
            DigestState::Unknown => {}
        }
        let caught_up = s.lanes.iter().all(Sender::caught_up);
        if caught_up
            && s.digest != DigestState::Unknown
            && !s.received
            && s.down_cursor >= s.down_head
        {
            // Done, unless something was written here meanwhile.
            return Step::ReadHeads;
        }
        self.idle_or_next()
    }

    /// Both lanes' heads as they stand, `[urgent, bulk]`.
    pub fn heads(&mut self, heads: [u64; 2]) -> Step {
        let s = self.session();
        if heads == s.lanes.map(|l| l.head) {
            let bulk = s.lanes[1];
            self.tally.head = bulk.head;
            self.tally.cursor = bulk.acked;
            self.outcome = Some(Ok(()));
            return Step::Done;
        }
        s.moved = true;
        self.idle_or_next()
    }

    fn idle_or_next(&mut self) -> Step {
        let s = self.session();
        if s.moved || s.sent.iter().sum::<u64>() > 0 || s.received {
            s.idle = 0;
        } else {
            s.idle += 1;
            if s.idle >= MAX_IDLE_EXCHANGES {
                let message = format!(
                    "no progress: the hub stays at {} (urgent) and {} (bulk) of {} and {}, \
                     down log at {} of {}",
                    s.lanes[0].acked,
                    s.lanes[1].acked,
                    s.lanes[0].head,
                    s.lanes[1].head,
                    s.down_cursor,
                    s.down_head
                );
                return self.fail(Failure::Retry(message));
            }
        }
        self.next_exchange()
    }

    /// A failed call: the hub's refusals are final, the rest is retried.
    fn call_failed(&mut self, e: &CallError) -> Step {
        let message = e.describe();
        self.fail(if e.kind.is_refusal() {
            Failure::Refused(message)
        } else {
            Failure::Retry(message)
        })
    }

    fn fail(&mut self, failure: Failure) -> Step {
        self.outcome = Some(Err(failure.clone()));
        Step::Failed(failure)
    }

    /// After `Done` or `Failed`: finish, stop, or wait and try again.
    /// `jitter` gives a uniform random number in `[0, 1)`, asked for only
    /// when there is a wait.
    pub fn end(&mut self, jitter: impl FnOnce() -> f64) -> Ending {
        match self.outcome.take() {
            None | Some(Ok(())) => Ending::Finished,
            Some(Err(Failure::Refused(m))) => Ending::Refused(m),
            Some(Err(Failure::Down(m))) => Ending::Down(m),
            Some(Err(Failure::Retry(last))) => {
                self.sizer.on_failure();
                if self.tally.sessions >= self.policy.attempts.max(1) {
                    Ending::GiveUp {
                        attempts: self.tally.sessions,
                        last,
                    }
                } else {
                    Ending::Wait {
                        delay: self.backoff.next_delay(jitter()),
                        last,
                    }
                }
            }
        }
    }
}

/// Whether the hub holds both lanes to the heads the node reported:
/// only then does a digest root describe the same records on both sides.
pub fn at_heads(cursors: [u64; 2], heads: [u64; 2]) -> bool {
    cursors == heads
}

/// The hub's side of one `Exchange`: which lanes are applied, which
/// refusal is answered, and when the digest roots are compared. The hub's
/// store does the SQL between these calls; `E` is its error.
///
/// A refused bulk batch does not hold back the urgent lane: when the urgent
/// batch beside it passed its checks, the urgent entries are applied and
/// committed, then the bulk refusal is returned. A batch past the cursor is
/// not refused: the reply's cursor says where to resume.
#[derive(Debug)]
pub struct HubExchange<E> {
    /// `[urgent, bulk]`: the checked range `(first, len)` of each batch sent.
    checked: [Option<(u64, usize)>; 2],
    /// A bulk refusal held until the urgent entries are committed.
    refused: Option<E>,
    /// Bulk entries that were new to the hub.
    applied: u64,
}

impl<E> Default for HubExchange<E> {
    fn default() -> Self {
        HubExchange {
            checked: [None, None],
            refused: None,
            applied: 0,
        }
    }
}

impl<E> HubExchange<E> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the check of one lane's batch, urgent first.
    ///
    /// # Errors
    /// The refusal to answer at once, before anything is written: any
    /// refusal except a bulk one beside a checked urgent batch, which is
    /// held (see [`HubExchange::finish`]).
    pub fn checked(&mut self, lane: Lane, checked: Result<(u64, usize), E>) -> Result<(), E> {
        match checked {
            Ok(range) => self.checked[lane_index(lane)] = Some(range),
            Err(e) if lane == Lane::Bulk && self.checked[0].is_some() => self.refused = Some(e),
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// Whether the node's head of `lane` is recorded: not a refused lane's,
    /// nothing of which was taken.
    pub fn records_head(&self, lane: Lane) -> bool {
        !(lane == Lane::Bulk && self.refused.is_some())
    }

    /// The checked range of `lane`'s batch, to apply.
    pub fn range(&self, lane: Lane) -> Option<(u64, usize)> {
        self.checked[lane_index(lane)]
    }

    /// Takes the outcome of applying `lane`'s batch (entries new to the
    /// hub). A gap (`is_gap`) is answered with the cursor, not refused.
    ///
    /// # Errors
    /// Any other error, to answer (the transaction is dropped).
    pub fn applied(
        &mut self,
        lane: Lane,
        result: Result<u64, E>,
        is_gap: impl FnOnce(&E) -> bool,
    ) -> Result<(), E> {
        match result {
            Ok(n) => {
                if lane == Lane::Bulk {
                    self.applied = n;
                }
                Ok(())
            }
            Err(e) if is_gap(&e) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Bulk entries that were new to the hub.
    pub fn applied_bulk(&self) -> u64 {
        self.applied
    }

    /// After the commit: the held refusal, if any; otherwise whether to
    /// compare the node's digest root with the hub's, which is only when
    /// the node sent one and the hub holds both lanes to their heads.
    ///
    /// # Errors
    /// The held bulk refusal.
    pub fn finish(self, cursors: [u64; 2], heads: [u64; 2], root_sent: bool) -> Result<bool, E> {
        match self.refused {
            Some(e) => Err(e),
            None => Ok(root_sent && at_heads(cursors, heads)),
        }
    }
}

fn lane_index(lane: Lane) -> usize {
    match lane {
        Lane::Urgent => 0,
        Lane::Bulk => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy {
            batch_size: 100,
            min_batch: 16,
            max_batch: 1_000,
            call_timeout: Duration::from_secs(30),
            attempts: 2,
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_secs(1),
        }
    }

    fn lane(acked: u64, head: u64) -> Sender {
        Sender { acked, head }
    }

    fn reply(urgent: u64, bulk: u64, digest: pb::DigestCheck) -> pb::ExchangeResponse {
        pb::ExchangeResponse {
            urgent_cursor: urgent,
            bulk_cursor: bulk,
            digest: digest as i32,
            ..Default::default()
        }
    }

    /// Runs the first exchange of a session over `lanes` and returns the step
    /// after the reply is stored.
    fn one_round(sync: &mut NodeSync, lanes: [Sender; 2], reply: pb::ExchangeResponse) -> Step {
        assert_eq!(sync.begin(), Step::Connect);
        assert_eq!(sync.connected(Ok(())), Step::Start);
        let Step::Exchange(plan) = sync.started(lanes) else {
            panic!("an exchange first")
        };
        assert!(!plan.confirmed && plan.with_root);
        sync.sending(Sending {
            entries: [
                lanes[0].head - lanes[0].acked,
                lanes[1].head - lanes[1].acked,
            ],
            heads: [lanes[0].head, lanes[1].head],
            down_cursor: 0,
        });
        let Step::StoreAcked(_) = sync.exchanged(Ok(reply), Duration::from_millis(5)) else {
            panic!("store the cursors")
        };
        sync.acked()
    }

    #[test]
    fn a_days_change_is_one_round_trip() {
        let mut sync = NodeSync::new(policy());
        let step = one_round(
            &mut sync,
            [lane(3, 4), lane(10, 20)],
            reply(4, 20, pb::DigestCheck::Agree),
        );
        assert_eq!(step, Step::ReadHeads);
        assert_eq!(sync.heads([4, 20]), Step::Done);
        assert_eq!(sync.end(|| unreachable!()), Ending::Finished);
        let tally = sync.tally();
        assert_eq!((tally.sent, tally.sent_urgent, tally.calls), (10, 1, 1));
        assert_eq!((tally.head, tally.cursor), (20, 20));
        assert_eq!(tally.digests_agree, Some(true));
    }

    #[test]
    fn a_cursor_above_the_head_is_refused() {
        let mut sync = NodeSync::new(policy());
        assert_eq!(sync.begin(), Step::Connect);
        sync.connected(Ok(()));
        sync.started([lane(0, 0), lane(0, 5)]);
        sync.sending(Sending {
            entries: [0, 5],
            heads: [0, 5],
            down_cursor: 0,
        });
        let step = sync.exchanged(
            Ok(reply(0, 9, pb::DigestCheck::NotCompared)),
            Duration::ZERO,
        );
        let Step::Failed(Failure::Refused(m)) = step else {
            panic!("refused: {step:?}")
        };
        assert!(m.contains("applied 9 entries of this node's LANE_BULK lane"));
        assert!(matches!(sync.end(|| 0.0), Ending::Refused(_)));
    }

    #[test]
    fn refusals_stop_and_link_failures_retry_until_the_attempts_run_out() {
        let mut sync = NodeSync::new(policy());
        sync.begin();
        let step = sync.connected(Err(CallError::new(CallErrorKind::Other, "cannot connect")));
        assert_eq!(step, Step::Failed(Failure::Retry("cannot connect".into())));
        assert!(matches!(sync.end(|| 1.0), Ending::Wait { .. }));
        sync.begin();
        sync.connected(Ok(()));
        sync.started([lane(0, 0), lane(0, 1)]);
        sync.sending(Sending {
            entries: [0, 1],
            heads: [0, 1],
            down_cursor: 0,
        });
        let step = sync.exchanged(
            Err(CallError::new(CallErrorKind::Unavailable, "gone")),
            Duration::ZERO,
        );
        assert_eq!(
            step,
            Step::Failed(Failure::Retry("unavailable: gone".into()))
        );
        assert_eq!(
            sync.end(|| 0.0),
            Ending::GiveUp {
                attempts: 2,
                last: "unavailable: gone".into()
            }
        );
        let mut sync = NodeSync::new(policy());
        sync.begin();
        let step = sync.connected(Err(CallError::new(
            CallErrorKind::PermissionDenied,
            "not yours",
        )));
        assert_eq!(
            step,
            Step::Failed(Failure::Refused("permission denied: not yours".into()))
        );
    }

    #[test]
    fn differing_roots_verify_then_relog_then_give_up() {
        let mut sync = NodeSync::new(policy());
        let step = one_round(
            &mut sync,
            [lane(0, 0), lane(5, 5)],
            reply(0, 5, pb::DigestCheck::Differ),
        );
        assert_eq!(step, Step::Verify);
        let bucket = pb::BucketDigest {
            kind: 1,
            day: "2020-02-20".into(),
            shard: 3,
            count: 1,
            xor: vec![0; 16],
        };
        let Step::Relog(keys) = sync.verified(Ok(vec![bucket.clone()])) else {
            panic!("relog")
        };
        assert_eq!(keys.len(), 1);
        // Nothing to re-log: the session reports disagreement and ends.
        assert_eq!(sync.relogged(0), Step::ReadHeads);
        assert_eq!(sync.heads([0, 5]), Step::Done);
        assert_eq!(sync.tally().digests_agree, Some(false));
    }

    #[test]
    fn three_idle_exchanges_end_the_session() {
        let mut sync = NodeSync::new(policy());
        let mut step = one_round(
            &mut sync,
            [lane(0, 0), lane(0, 0)],
            reply(0, 0, pb::DigestCheck::NotCompared),
        );
        for _ in 0..2 {
            let Step::Exchange(plan) = step else {
                panic!("another exchange: {step:?}")
            };
            assert!(plan.confirmed);
            sync.sending(Sending {
                entries: [0, 0],
                heads: [0, 0],
                down_cursor: 0,
            });
            sync.exchanged(
                Ok(reply(0, 0, pb::DigestCheck::NotCompared)),
                Duration::ZERO,
            );
            step = sync.acked();
        }
        let Step::Failed(Failure::Retry(m)) = step else {
            panic!("no progress: {step:?}")
        };
        assert!(m.starts_with("no progress"));
    }

    #[test]
    fn a_down_gap_retries_and_a_bad_entry_is_final() {
        let mut sync = NodeSync::new(policy());
        let mut down = reply(0, 0, pb::DigestCheck::Agree);
        down.down = vec![pb::DownEntry::default()];
        down.down_head = 1;
        let step = one_round(&mut sync, [lane(0, 0), lane(0, 0)], down.clone());
        assert!(matches!(step, Step::ApplyDown(ref d) if d.len() == 1));
        assert_eq!(
            sync.down_applied(1, Err(DownRefusal::Gap("gap".into()))),
            Step::Failed(Failure::Retry("down log: gap".into()))
        );
        let mut sync = NodeSync::new(policy());
        one_round(&mut sync, [lane(0, 0), lane(0, 0)], down);
        // Applied: one more exchange acknowledges it.
        assert!(matches!(sync.down_applied(1, Ok(1)), Step::Exchange(_)));
        assert_eq!(sync.tally().received, 1);
    }

    #[test]
    fn the_hub_applies_urgent_beside_a_refused_bulk_batch() {
        let mut hub = HubExchange::<&str>::new();
        assert_eq!(hub.checked(Lane::Urgent, Ok((1, 2))), Ok(()));
        assert_eq!(hub.checked(Lane::Bulk, Err("bad record")), Ok(()));
        assert!(!hub.records_head(Lane::Bulk));
        assert_eq!(hub.range(Lane::Urgent), Some((1, 2)));
        assert_eq!(hub.finish([2, 0], [2, 0], true), Err("bad record"));
        // Without urgent entries the refusal is at once.
        let mut hub = HubExchange::<&str>::new();
        assert_eq!(
            hub.checked(Lane::Bulk, Err("bad record")),
            Err("bad record")
        );
        // Roots only at the heads.
        let mut hub = HubExchange::<&str>::new();
        assert_eq!(hub.applied(Lane::Bulk, Err("gap"), |e| *e == "gap"), Ok(()));
        assert_eq!(hub.applied(Lane::Bulk, Ok(3), |_| false), Ok(()));
        assert_eq!(hub.applied_bulk(), 3);
        assert_eq!(hub.finish([1, 3], [1, 4], true), Ok(false));
        assert_eq!(
            HubExchange::<&str>::new().finish([1, 4], [1, 4], true),
            Ok(true)
        );
        assert_eq!(
            HubExchange::<&str>::new().finish([1, 4], [1, 4], false),
            Ok(false)
        );
    }
}
