//! Digests of a compound's records, so node and hub can prove they hold the
//! same versions without sending them, and find what differs when not.
//!
//! A record version hashes to 16 bytes over (kind, id, stamp, origin,
//! deleted, body). Versions fall into buckets by kind, by the day (China
//! time) of their stamp, and by one of [`SHARDS`] shards of their id; a
//! bucket's digest is its count and the XOR of its hashes, so it does not
//! depend on the order records are visited in.

use std::collections::BTreeMap;

use sha2::{Digest as _, Sha256};

use crate::{Kind, hlc, pb};

/// Shards per (kind, day): a lost record costs resending about 1/SHARDS of
/// the records of its kind changed that day.
pub const SHARDS: u32 = 16;

/// Identifies a bucket.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BucketKey {
    pub kind: u32,
    /// `YYYY-MM-DD`.
    pub day: String,
    pub shard: u32,
}

/// Count and XOR of the hashes in one bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BucketDigest {
    pub count: u64,
    pub xor: [u8; 16],
}

/// All buckets of one compound's records.
pub type Digests = BTreeMap<BucketKey, BucketDigest>;

/// The bucket a record version falls in.
pub fn bucket(kind: Kind, id: &str, stamp: u64) -> BucketKey {
    BucketKey {
        kind: kind as u32,
        day: china_day(hlc::wall_ms(stamp)),
        shard: shard(id),
    }
}

fn shard(id: &str) -> u32 {
    u32::from(Sha256::digest(id.as_bytes())[0]) % SHARDS
}

const CHINA_MS: u64 = 8 * 3_600_000;

/// Days since the Unix epoch, China time (UTC+8), of an instant in ms.
fn china_days(wall_ms: u64) -> u64 {
    wall_ms.saturating_add(CHINA_MS) / 86_400_000
}

/// The day (China time, UTC+8) of a wall-clock instant in ms, as
/// `YYYY-MM-DD`; empty when out of range. Written without `strftime`,
/// which cost 5% of a whole sync's CPU here.
fn china_day(wall_ms: u64) -> String {
    day_string(china_days(wall_ms))
}

/// `days` since the Unix epoch as `YYYY-MM-DD`; empty when out of range.
fn day_string(days: u64) -> String {
    use chrono::Datelike as _;
    const UNIX_EPOCH_FROM_CE: u64 = 719_163;
    i32::try_from(days + UNIX_EPOCH_FROM_CE)
        .ok()
        .and_then(chrono::NaiveDate::from_num_days_from_ce_opt)
        .filter(|d| (0..=9999).contains(&d.year()))
        .map(|d| format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day()))
        .unwrap_or_default()
}

/// The 16-byte hash of one record version.
pub fn hash(
    kind: Kind,
    id: &str,
    stamp: u64,
    origin: &str,
    deleted: bool,
    body: &[u8],
) -> [u8; 16] {
    let mut hasher = Sha256::new();
    hasher.update((kind as u32).to_be_bytes());
    hasher.update((id.len() as u64).to_be_bytes());
    hasher.update(id.as_bytes());
    hasher.update(stamp.to_be_bytes());
    hasher.update((origin.len() as u64).to_be_bytes());
    hasher.update(origin.as_bytes());
    hasher.update([u8::from(deleted)]);
    hasher.update(body);
    let hash = hasher.finalize();
    hash[..16].try_into().expect("a SHA-256 is 32 bytes")
}

/// Adds one record version to `digests`.
pub fn add(
    digests: &mut Digests,
    kind: Kind,
    id: &str,
    stamp: u64,
    origin: &str,
    deleted: bool,
    body: &[u8],
) {
    let hash = hash(kind, id, stamp, origin, deleted, body);
    let entry = digests.entry(bucket(kind, id, stamp)).or_default();
    entry.count += 1;
    xor_into(&mut entry.xor, &hash);
}

fn xor_into(into: &mut [u8; 16], hash: &[u8; 16]) {
    for (x, h) in into.iter_mut().zip(hash) {
        *x ^= h;
    }
}

/// A bucket's key before its day is written out: the day as days since the
/// Unix epoch (China time), so a write path keys its changes without
/// formatting a date per record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct RawKey {
    kind: u32,
    day: u64,
    shard: u32,
}

/// What writes did to the digests, to fold into digests kept in a store
/// (so no session recomputes them): each version written is added, each
/// version it replaced removed. Count and XOR of a bucket are kept as a
/// signed count and an XOR, which fold in any order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    buckets: std::collections::HashMap<RawKey, (i64, [u8; 16])>,
}

impl Changes {
    /// A version now held.
    #[allow(clippy::too_many_arguments)]
    pub fn add(
        &mut self,
        kind: Kind,
        id: &str,
        stamp: u64,
        origin: &str,
        deleted: bool,
        body: &[u8],
    ) {
        self.change(1, kind, id, stamp, origin, deleted, body);
    }

    /// A version no longer held (replaced by a newer one, or rewritten).
    pub fn remove(
        &mut self,
        kind: Kind,
        id: &str,
        stamp: u64,
        origin: &str,
        deleted: bool,
        body: &[u8],
    ) {
        self.change(-1, kind, id, stamp, origin, deleted, body);
    }

    #[allow(clippy::too_many_arguments)]
    fn change(
        &mut self,
        count: i64,
        kind: Kind,
        id: &str,
        stamp: u64,
        origin: &str,
        deleted: bool,
        body: &[u8],
    ) {
        let key = RawKey {
            kind: kind as u32,
            day: china_days(hlc::wall_ms(stamp)),
            shard: shard(id),
        };
        let entry = self.buckets.entry(key).or_default();
        entry.0 += count;
        xor_into(&mut entry.1, &hash(kind, id, stamp, origin, deleted, body));
    }

    /// Each bucket that changed, with its change (count difference, XOR),
    /// in key order; buckets whose changes cancel out are left out.
    pub fn buckets(&self) -> Vec<(BucketKey, i64, [u8; 16])> {
        let mut out: Vec<(RawKey, i64, [u8; 16])> = self
            .buckets
            .iter()
            .filter(|(_, (n, x))| *n != 0 || *x != [0; 16])
            .map(|(key, (n, x))| (*key, *n, *x))
            .collect();
        out.sort_unstable_by_key(|(key, ..)| *key);
        out.into_iter()
            .map(|(key, n, x)| {
                (
                    BucketKey {
                        kind: key.kind,
                        day: day_string(key.day),
                        shard: key.shard,
                    },
                    n,
                    x,
                )
            })
            .collect()
    }
}

/// A stored bucket after a change: `None` when it holds nothing (no
/// version, XOR zero), so it is deleted and stored digests keep exactly
/// the buckets a scan would find. A count that would go below zero stays
/// at zero with its XOR kept, so it differs from any scan and the next
/// comparison repairs it.
pub fn fold(stored: BucketDigest, count: i64, xor: &[u8; 16]) -> Option<BucketDigest> {
    let mut out = stored;
    out.count = u64::try_from(stored.count as i64 + count).unwrap_or(0);
    xor_into(&mut out.xor, xor);
    (out.count != 0 || out.xor != [0; 16]).then_some(out)
}

/// The wire form of digests.
pub fn to_wire(digests: &Digests) -> Vec<pb::BucketDigest> {
    digests
        .iter()
        .map(|(key, d)| pb::BucketDigest {
            kind: key.kind,
            day: key.day.clone(),
            shard: key.shard,
            count: d.count,
            xor: d.xor.to_vec(),
        })
        .collect()
}

/// Digests from their wire form; a malformed bucket reads as empty, so it
/// differs from any real one.
pub fn from_wire(buckets: &[pb::BucketDigest]) -> Digests {
    buckets
        .iter()
        .map(|b| {
            (
                BucketKey {
                    kind: b.kind,
                    day: b.day.clone(),
                    shard: b.shard,
                },
                BucketDigest {
                    count: b.count,
                    xor: b.xor.as_slice().try_into().unwrap_or_default(),
                },
            )
        })
        .collect()
}

/// Keys of the buckets where `a` and `b` differ (present in one only, or
/// with different digests).
pub fn differing(a: &Digests, b: &Digests) -> Vec<BucketKey> {
    let mut keys: Vec<BucketKey> = a
        .iter()
        .filter(|(key, d)| b.get(*key) != Some(*d))
        .map(|(key, _)| key.clone())
        .collect();
    keys.extend(b.keys().filter(|key| !a.contains_key(*key)).cloned());
    keys.sort();
    keys
}

/// One hash over every bucket (key, count and XOR, in key order): equal
/// roots mean equal digests, so a session that agrees sends 32 bytes
/// instead of every bucket.
pub fn root(digests: &Digests) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for (key, d) in digests {
        hasher.update(key.kind.to_be_bytes());
        hasher.update((key.day.len() as u64).to_be_bytes());
        hasher.update(key.day.as_bytes());
        hasher.update(key.shard.to_be_bytes());
        hasher.update(d.count.to_be_bytes());
        hasher.update(d.xor);
    }
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_china_dates() {
        let day = |ms: u64| bucket(Kind::Person, "P1", ms << 16).day;
        // 2020-02-09T15:59:59.999Z is still the 9th in Shanghai; a ms later, the 10th.
        assert_eq!(day(1_581_263_999_999), "2020-02-09");
        assert_eq!(day(1_581_264_000_000), "2020-02-10");
        assert_eq!(day(0), "1970-01-01");
        // The old strftime form, for a spread of instants.
        for ms in (0..4_000u64).map(|i| 1_500_000_000_000 + i * 7_654_321_987) {
            let expected = chrono::DateTime::from_timestamp_millis(ms as i64)
                .map(|t| {
                    (t + chrono::Duration::hours(8))
                        .format("%Y-%m-%d")
                        .to_string()
                })
                .unwrap();
            assert_eq!(day(ms), expected, "{ms}");
        }
    }

    #[test]
    fn digests_ignore_order_and_see_any_difference() {
        let versions = [
            (Kind::Person, "P1", 5u64 << 16, "n", false, b"a".as_slice()),
            (Kind::Person, "P2", 6 << 16, "n", false, b"b"),
            (Kind::Household, "H1", 7 << 16, "n", true, b""),
        ];
        let mut forward = Digests::new();
        for v in versions {
            add(&mut forward, v.0, v.1, v.2, v.3, v.4, v.5);
        }
        let mut backward = Digests::new();
        for v in versions.iter().rev() {
            add(&mut backward, v.0, v.1, v.2, v.3, v.4, v.5);
        }
        assert_eq!(forward, backward);
        assert!(differing(&forward, &backward).is_empty());
        assert_eq!(from_wire(&to_wire(&forward)), forward);

        let mut changed = Digests::new();
        for (i, v) in versions.iter().enumerate() {
            let body = if i == 1 { b"c".as_slice() } else { v.5 };
            add(&mut changed, v.0, v.1, v.2, v.3, v.4, body);
        }
        let diff = differing(&forward, &changed);
        assert_eq!(diff, [bucket(Kind::Person, "P2", 6 << 16)]);
        let mut missing = forward.clone();
        missing.remove(&bucket(Kind::Household, "H1", 7 << 16));
        assert_eq!(differing(&forward, &missing).len(), 1);
        assert_eq!(differing(&missing, &forward).len(), 1);

        assert_eq!(root(&forward), root(&backward));
        assert_ne!(root(&forward), root(&changed));
        assert_ne!(root(&forward), root(&missing));
        assert_ne!(root(&missing), root(&Digests::new()));
    }

    proptest::proptest! {
        /// Digests kept by folding each write's changes into the stored
        /// buckets equal digests recomputed from the versions held, after
        /// any sequence of inserts, replacements, stale versions and
        /// rewrites of the same version, in any batching.
        #[test]
        fn folded_changes_equal_a_scan(
            writes in proptest::collection::vec(
                (0u8..6, 0u64..5, 0u8..3, proptest::bool::ANY, 0u8..4, 1usize..4),
                1..60,
            ),
        ) {
            use std::collections::HashMap;
            let kinds = [Kind::Person, Kind::HealthCheck];
            // id -> (kind, stamp, origin, deleted, body): what a store holds.
            let mut held: HashMap<String, (Kind, u64, String, bool, Vec<u8>)> = HashMap::new();
            let mut stored = Digests::new();
            let mut batch = Changes::default();
            for (i, (id, day, origin, deleted, body, flush)) in writes.into_iter().enumerate() {
                let kind = kinds[usize::from(id) % 2];
                let id = format!("R{id}");
                let stamp = ((1_581_264_000_000 + day * 40_000_000) << 16) + u64::from(origin);
                let version = (kind, stamp, format!("n{origin}"), deleted, vec![body; 3]);
                let wins = held
                    .get(&id)
                    .is_none_or(|old| (version.1, &version.2) >= (old.1, &old.2));
                if wins {
                    if let Some(old) = held.get(&id) {
                        batch.remove(old.0, &id, old.1, &old.2, old.3, &old.4);
                    }
                    batch.add(kind, &id, version.1, &version.2, version.3, &version.4);
                    held.insert(id, version);
                }
                if i % flush == 0 {
                    for (key, n, x) in std::mem::take(&mut batch).buckets() {
                        let before = stored.remove(&key).unwrap_or_default();
                        if let Some(after) = fold(before, n, &x) {
                            stored.insert(key, after);
                        }
                    }
                }
            }
            for (key, n, x) in batch.buckets() {
                let before = stored.remove(&key).unwrap_or_default();
                if let Some(after) = fold(before, n, &x) {
                    stored.insert(key, after);
                }
            }
            let mut scan = Digests::new();
            for (id, (kind, stamp, origin, deleted, body)) in &held {
                add(&mut scan, *kind, id, *stamp, origin, *deleted, body);
            }
            proptest::prop_assert_eq!(stored, scan);
        }
    }
}
