//! Hybrid logical clock stamps.
//!
//! A stamp is `wall_ms << 16 | counter`: it tracks wall time where clocks
//! agree, never goes backwards on one writer, and orders a write after every
//! write its writer has seen. Node and hub order record versions by
//! `(stamp, origin)`; see [`crate::merge`].

/// Bits of a stamp given to the logical counter.
const COUNTER_BITS: u32 = 16;
const COUNTER_MASK: u64 = (1 << COUNTER_BITS) - 1;

/// A hybrid logical clock for one writer.
///
/// The caller supplies wall time, so the clock is deterministic in tests and
/// the only source of time stays behind the caller's seam.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hlc {
    /// Highest stamp issued or observed; the next stamp is strictly above it.
    last: u64,
}

impl Hlc {
    /// A clock that resumes after `last` (e.g. read back from disk at start-up).
    pub fn resume(last: u64) -> Self {
        Hlc { last }
    }

    /// Highest stamp issued or observed so far.
    pub fn last(&self) -> u64 {
        self.last
    }

    /// Issues a new stamp for a local write at wall time `wall_ms`.
    pub fn tick(&mut self, wall_ms: u64) -> u64 {
        let physical = wall_ms << COUNTER_BITS;
        self.last = if physical > self.last {
            physical
        } else {
            self.last + 1
        };
        self.last
    }

    /// Takes in a stamp seen from another writer, so later local stamps sort
    /// after it even when the local wall clock is behind.
    pub fn observe(&mut self, remote: u64) {
        self.last = self.last.max(remote);
    }
}

/// Wall milliseconds of a stamp.
pub fn wall_ms(stamp: u64) -> u64 {
    stamp >> COUNTER_BITS
}

/// Logical counter of a stamp.
pub fn counter(stamp: u64) -> u64 {
    stamp & COUNTER_MASK
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_increase_even_when_wall_time_goes_back() {
        let mut hlc = Hlc::default();
        let a = hlc.tick(1_000);
        let b = hlc.tick(1_000);
        let c = hlc.tick(900);
        assert!(a < b && b < c);
        assert_eq!(wall_ms(c), 1_000);
        assert_eq!(counter(c), 2);
        let d = hlc.tick(2_000);
        assert_eq!((wall_ms(d), counter(d)), (2_000, 0));
    }

    #[test]
    fn observe_orders_later_writes_after_remote_ones() {
        let mut hlc = Hlc::resume(5 << COUNTER_BITS);
        hlc.observe(50 << COUNTER_BITS);
        assert!(hlc.tick(10) > 50 << COUNTER_BITS);
    }
}
