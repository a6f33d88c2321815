//! Which version of a record wins.
//!
//! **Law:** the merge is a join over versions ordered by `(stamp, origin)`:
//! commutative, associative and idempotent. Any order or repetition of the
//! same versions leaves the same winner, so node and hub converge however
//! batches arrive. A delete is a version like any other (a tombstone), so
//! it wins or loses by the same rule and is never resurrected by an older
//! write that arrives late.
//!
//! The hub applies this rule inside SQLite (`hub/src/store.rs`, the
//! `ON CONFLICT … WHERE` clause); [`wins`] is the reference both follow.

use std::cmp::Ordering;

/// The part of a record version that orders it against other versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version<'a> {
    /// Hybrid logical clock stamp of the write.
    pub stamp: u64,
    /// Writer of the version; breaks ties between equal stamps.
    pub origin: &'a str,
}

impl Ord for Version<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.stamp, self.origin).cmp(&(other.stamp, other.origin))
    }
}

impl PartialOrd for Version<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Whether `incoming` replaces `current`: a greater version wins. An equal
/// version is the same write seen again, so writing it again leaves an
/// intact copy as it was, and restores a damaged one (the digest repair
/// relies on this).
pub fn wins(incoming: Version<'_>, current: Option<Version<'_>>) -> bool {
    current.is_none_or(|current| incoming >= current)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn winner<'a>(versions: impl IntoIterator<Item = Version<'a>>) -> Option<Version<'a>> {
        let mut current = None;
        for v in versions {
            if wins(v, current) {
                current = Some(v);
            }
        }
        current
    }

    proptest! {
        #[test]
        fn any_order_or_repetition_gives_the_same_winner(
            stamps in proptest::collection::vec((0u64..8, 0usize..3), 1..12),
            seed in any::<u64>(),
        ) {
            const ORIGINS: [&str; 3] = ["a", "b", "hub"];
            let versions: Vec<Version> = stamps
                .iter()
                .map(|&(stamp, o)| Version { stamp, origin: ORIGINS[o] })
                .collect();
            let expected = versions.iter().copied().max();
            // A deterministic shuffle with duplicates.
            let mut shuffled = versions.clone();
            shuffled.extend(versions.iter().copied().step_by(2));
            let n = shuffled.len();
            let mut s = seed;
            for i in (1..n).rev() {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                shuffled.swap(i, (s >> 33) as usize % (i + 1));
            }
            prop_assert_eq!(winner(shuffled), expected);
        }
    }
}
