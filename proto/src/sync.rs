//! The sync protocol's decisions, free of I/O.
//!
//! Each side of a link keeps an append-only change log numbered 1, 2, 3, …;
//! the receiver keeps a cursor: the highest sequence number it has applied.
//! Everything here is a pure function of that state and a message, so the
//! same rules serve the hub receiving a node's log, a node receiving the
//! hub's log, and deterministic simulations.

use std::time::Duration;

/// What a receiver does with a batch of entries numbered
/// `first ..= first + len - 1`, given its cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accept {
    /// Apply the batch after skipping its first `skip` entries, which are
    /// already applied (an overlapping resend). The new cursor is the batch's
    /// last sequence number.
    Apply { skip: usize },
    /// Every entry is already applied: acknowledge, change nothing.
    Replay,
    /// The batch starts after `expected`, the next number the receiver
    /// needs: refuse it, so nothing is ever skipped.
    Gap { expected: u64 },
}

/// A batch that is malformed in itself, whatever the receiver's cursor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("batch is empty")]
    Empty,
    #[error("sequence numbers start at 1, got 0")]
    ZeroSeq,
    #[error("sequence numbers are not contiguous: {prev} is followed by {next}")]
    NotContiguous { prev: u64, next: u64 },
    #[error("sequence number {0} is beyond the largest a log may reach ({MAX_SEQ})")]
    TooLarge(u64),
}

/// The largest sequence number a log may reach: they are stored as SQLite
/// integers, and bounding them keeps every `first + len` below overflow.
pub const MAX_SEQ: u64 = i64::MAX as u64;

/// Checks that `seqs` are non-empty, start above zero, and count up by one.
///
/// # Errors
/// [`BatchError`] naming the first fault.
pub fn check_batch(seqs: impl IntoIterator<Item = u64>) -> Result<(u64, usize), BatchError> {
    let mut seqs = seqs.into_iter();
    let first = seqs.next().ok_or(BatchError::Empty)?;
    if first == 0 {
        return Err(BatchError::ZeroSeq);
    }
    if first > MAX_SEQ {
        return Err(BatchError::TooLarge(first));
    }
    let mut prev = first;
    let mut len = 1;
    for next in seqs {
        if next > MAX_SEQ {
            return Err(BatchError::TooLarge(next));
        }
        if next != prev + 1 {
            return Err(BatchError::NotContiguous { prev, next });
        }
        prev = next;
        len += 1;
    }
    Ok((first, len))
}

/// Decides what to do with a well-formed batch (see [`check_batch`]).
/// Total for any arguments: nothing here can overflow.
pub fn accept(cursor: u64, first: u64, len: usize) -> Accept {
    let last = first.saturating_add((len as u64).saturating_sub(1));
    let next = cursor.saturating_add(1);
    if first > next {
        Accept::Gap { expected: next }
    } else if last <= cursor {
        Accept::Replay
    } else {
        Accept::Apply {
            skip: (next - first) as usize,
        }
    }
}

/// The sender's side: which entries to send next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sender {
    /// The receiver's cursor as last acknowledged; nothing at or below it is
    /// ever sent again.
    pub acked: u64,
    /// Highest sequence number in the sender's log.
    pub head: u64,
}

impl Sender {
    /// The range of the next batch of at most `max` entries, or `None` when
    /// the receiver has everything.
    pub fn next_batch(&self, max: usize) -> Option<(u64, u64)> {
        (self.acked < self.head).then(|| {
            let first = self.acked + 1;
            (first, self.head.min(first + max.max(1) as u64 - 1))
        })
    }

    /// Records an acknowledgement. A cursor never moves backwards: a stale
    /// acknowledgement (e.g. a delayed duplicate) changes nothing.
    pub fn ack(&mut self, cursor: u64) {
        self.acked = self.acked.max(cursor);
    }

    /// Whether the receiver has every entry of the log.
    pub fn caught_up(&self) -> bool {
        self.acked >= self.head
    }

    /// Entries the receiver does not have yet.
    pub fn pending(&self) -> u64 {
        self.head.saturating_sub(self.acked)
    }

    /// Takes the receiver's cursor as it stands, even below what was
    /// acknowledged before: a reply that applied nothing because the batch
    /// started past its cursor (a receiver restored from an older copy)
    /// says where sending must resume.
    pub fn resume_at(&mut self, cursor: u64) {
        self.acked = cursor;
    }
}

/// Urgent entries go alone first unless everything both lanes have pending
/// fits in one request of this many entries.
pub const ONE_TRIP_ENTRIES: u64 = 512;

/// Whether a lane waits for the hub's cursor before sending from its own
/// last acknowledgement, which may lag the hub: when a lost acknowledgement
/// would make it resend a large backlog, or when entries after it went to
/// the hub in a bundle (`exported`, the last entry carried).
pub fn hold_until_confirmed(lane: &Sender, exported: u64) -> bool {
    lane.pending() > ONE_TRIP_ENTRIES || exported > lane.acked
}

/// The ranges one exchange carries, urgent lane first, at most `max`
/// entries in all, none from a lane in `hold` (see
/// [`hold_until_confirmed`]). A day's change (a few hundred entries)
/// travels whole in one round trip; when a larger backlog waits on the bulk
/// lane, urgent entries go first on their own, so a thin link carries them
/// without the backlog in front.
pub fn plan(
    urgent: &Sender,
    bulk: &Sender,
    max: usize,
    hold: [bool; 2],
) -> [Option<(u64, u64)>; 2] {
    let max = max.max(1);
    let first = if hold[0] {
        None
    } else {
        urgent.next_batch(max)
    };
    let taken = first.map_or(0, |(a, b)| (b - a + 1) as usize);
    let backlog = urgent.pending().saturating_add(bulk.pending()) > ONE_TRIP_ENTRIES;
    let second = if hold[1] || (taken > 0 && backlog) || taken >= max {
        None
    } else {
        bulk.next_batch(max - taken)
    };
    [first, second]
}

/// Exponential backoff with full jitter: the n-th wait is uniform in
/// `[0, min(max, base * 2^n)]`, so many nodes that lost the same link do not
/// come back in lock-step.
#[derive(Debug, Clone)]
pub struct Backoff {
    /// First ceiling.
    pub base: Duration,
    /// Largest ceiling.
    pub max: Duration,
    /// Failures so far since the last success.
    pub attempt: u32,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Self {
        Backoff {
            base,
            max,
            attempt: 0,
        }
    }

    /// The next wait, given a uniform random number in `[0, 1)`.
    pub fn next_delay(&mut self, unit: f64) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1u32 << self.attempt.min(20))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        ceiling.mul_f64(unit.clamp(0.0, 1.0))
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// Batch size that follows what the link carries: grows while calls finish
/// well inside their deadline, halves when one fails or runs slow
/// (additive increase, multiplicative decrease).
#[derive(Debug, Clone, Copy)]
pub struct BatchSizer {
    /// Current number of entries per batch.
    pub size: usize,
    /// Smallest size it shrinks to.
    pub min: usize,
    /// Largest size it grows to.
    pub max: usize,
}

impl BatchSizer {
    pub fn new(initial: usize, min: usize, max: usize) -> Self {
        BatchSizer {
            size: initial.clamp(min, max),
            min,
            max,
        }
    }

    /// Adjusts after a successful call that took `elapsed` of `deadline`.
    pub fn on_success(&mut self, elapsed: Duration, deadline: Duration) {
        if elapsed < deadline / 4 {
            self.size = (self.size + self.size / 2 + 1).min(self.max);
        } else if elapsed > deadline / 2 {
            self.size = (self.size / 2).max(self.min);
        }
    }

    /// Shrinks after a failed or timed-out call.
    pub fn on_failure(&mut self) {
        self.size = (self.size / 2).max(self.min);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_decisions() {
        assert_eq!(accept(0, 1, 5), Accept::Apply { skip: 0 });
        assert_eq!(accept(5, 6, 5), Accept::Apply { skip: 0 });
        assert_eq!(accept(7, 6, 5), Accept::Apply { skip: 2 });
        assert_eq!(accept(10, 6, 5), Accept::Replay);
        assert_eq!(accept(10, 1, 3), Accept::Replay);
        assert_eq!(accept(5, 7, 3), Accept::Gap { expected: 6 });
    }

    #[test]
    fn malformed_batches() {
        assert_eq!(check_batch([]), Err(BatchError::Empty));
        assert_eq!(check_batch([0, 1]), Err(BatchError::ZeroSeq));
        assert_eq!(
            check_batch([3, 4, 6]),
            Err(BatchError::NotContiguous { prev: 4, next: 6 })
        );
        assert_eq!(check_batch([3, 4, 5]), Ok((3, 3)));
        assert_eq!(check_batch([u64::MAX]), Err(BatchError::TooLarge(u64::MAX)));
        assert_eq!(
            check_batch([MAX_SEQ, MAX_SEQ + 1]),
            Err(BatchError::TooLarge(MAX_SEQ + 1))
        );
        assert_eq!(check_batch([MAX_SEQ]), Ok((MAX_SEQ, 1)));
        assert_eq!(accept(u64::MAX, 5, 3), Accept::Replay);
        assert_eq!(accept(u64::MAX - 1, u64::MAX, 1), Accept::Apply { skip: 0 });
    }

    #[test]
    fn sender_never_resends_acknowledged_entries() {
        let mut sender = Sender { acked: 0, head: 10 };
        assert_eq!(sender.next_batch(4), Some((1, 4)));
        sender.ack(4);
        sender.ack(2);
        assert_eq!(sender.next_batch(4), Some((5, 8)));
        sender.ack(10);
        assert!(sender.caught_up());
        assert_eq!(sender.next_batch(4), None);
    }

    #[test]
    fn a_day_travels_in_one_exchange_but_urgent_goes_ahead_of_a_backlog() {
        let lane = |acked, head| Sender { acked, head };
        const GO: [bool; 2] = [false, false];
        // A day's change: both lanes in one request.
        assert_eq!(
            plan(&lane(3, 4), &lane(100, 315), 2_000, GO),
            [Some((4, 4)), Some((101, 315))]
        );
        // A backlog behind an urgent entry: the urgent entry alone.
        assert_eq!(
            plan(&lane(3, 4), &lane(0, 5_128), 2_000, GO),
            [Some((4, 4)), None]
        );
        // Then the backlog in batches of `max`.
        assert_eq!(
            plan(&lane(4, 4), &lane(0, 5_128), 2_000, GO),
            [None, Some((1, 2_000))]
        );
        // Both lanes share `max`.
        assert_eq!(
            plan(&lane(0, 30), &lane(0, 40), 50, GO),
            [Some((1, 30)), Some((1, 20))]
        );
        assert_eq!(
            plan(&lane(0, 80), &lane(0, 40), 50, GO),
            [Some((1, 50)), None]
        );
        assert_eq!(plan(&lane(9, 9), &lane(7, 7), 50, GO), [None, None]);
        // A held lane waits.
        assert_eq!(
            plan(&lane(3, 4), &lane(100, 315), 2_000, [false, true]),
            [Some((4, 4)), None]
        );
        assert_eq!(
            plan(&lane(3, 4), &lane(100, 315), 2_000, [true, false]),
            [None, Some((101, 315))]
        );
        assert!(hold_until_confirmed(&lane(0, 5_128), 0));
        assert!(hold_until_confirmed(&lane(100, 315), 200));
        assert!(!hold_until_confirmed(&lane(100, 315), 100));
    }

    #[test]
    fn backoff_is_bounded_and_grows() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        assert_eq!(backoff.next_delay(1.0), Duration::from_millis(100));
        assert_eq!(backoff.next_delay(1.0), Duration::from_millis(200));
        for _ in 0..30 {
            assert!(backoff.next_delay(1.0) <= Duration::from_secs(2));
        }
        assert_eq!(backoff.next_delay(0.0), Duration::ZERO);
    }
}
