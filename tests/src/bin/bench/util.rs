//! Bench: helpers.

use super::*;

pub(crate) fn mb(bytes: u64) -> String {
    if bytes >= 1_000_000 {
        format!("{:.2} MB", bytes as f64 / 1e6)
    } else if bytes >= 10_000 {
        format!("{:.1} kB", bytes as f64 / 1e3)
    } else {
        format!("{bytes} B")
    }
}

pub(crate) fn dur(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 10.0 {
        format!("{s:.1} s")
    } else if s >= 1.0 {
        format!("{s:.2} s")
    } else if s >= 0.01 {
        format!("{:.0} ms", s * 1e3)
    } else {
        format!("{:.2} ms", s * 1e3)
    }
}

pub(crate) fn thousands(n: f64) -> String {
    let n = n.round() as u64;
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

pub(crate) fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

pub(crate) fn median_f(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Records in all eleven ledgers of a compound: what a fresh import writes.
pub(crate) fn records_of(c: &CompoundLedger) -> usize {
    c.n_records()
}

/// Records per ledger over `street`, `households 230,393, …`.
pub(crate) fn per_ledger(street: &[CompoundLedger]) -> String {
    lianfang_proto::kinds::Kind::with_ledger()
        .map(|(kind, ledger)| {
            let n: usize = street.iter().map(|c| c.n_of(kind)).sum();
            format!("{} {}", ledger.name, thousands(n as f64))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Prints `stage` with the time since the start.
pub(crate) fn stage(started: Instant, what: &str) {
    eprintln!("[{:>6.1}s] {what}", started.elapsed().as_secs_f64());
}

/// Runs `f(i)` for `i in 0..n` on `threads` threads; results in order.
pub(crate) fn par_map<T: Send>(
    n: usize,
    threads: usize,
    f: impl Fn(usize) -> anyhow::Result<T> + Sync,
) -> anyhow::Result<Vec<T>> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<T>>> = Mutex::new((0..n).map(|_| None).collect());
    let failure: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..threads.clamp(1, n.max(1)) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n || failure.lock().expect("lock").is_some() {
                        break;
                    }
                    match f(i) {
                        Ok(v) => results.lock().expect("lock")[i] = Some(v),
                        Err(e) => {
                            *failure.lock().expect("lock") = Some(e);
                            break;
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().expect("lock") {
        return Err(e);
    }
    Ok(results
        .into_inner()
        .expect("lock")
        .into_iter()
        .map(|r| r.expect("every index ran"))
        .collect())
}

/// Size of `data` compressed by zstd at level 3 (the level tonic uses),
/// as one frame without checksum: the floor a perfect batching would reach.
pub(crate) fn zstd3_len(data: &[u8]) -> anyhow::Result<u64> {
    Ok(zstd::bulk::compress(data, 3)?.len() as u64)
}

/// Protobuf encoding of a node's log entries above `from` (per lane), as the
/// `PushRequest` messages that would carry them with nothing else: one buffer.
pub(crate) fn encoded_log(dir: &Path, from: [u64; 2]) -> anyhow::Result<(Vec<u8>, u64)> {
    let store = Store::open(dir)?;
    let log_id = store.identity()?.log_id;
    let mut buf = Vec::new();
    let mut n = 0;
    for (lane, from) in [(Lane::Urgent, from[0]), (Lane::Bulk, from[1])] {
        let head = store.head_of(lane)?;
        if head <= from {
            continue;
        }
        let entries = store.log_range_of(lane, from + 1, head)?;
        n += entries.len() as u64;
        pb::PushRequest {
            log_id: log_id.clone(),
            entries,
            head,
            lane: lane as i32,
        }
        .encode(&mut buf)?;
    }
    Ok((buf, n))
}

/// Heads of both lanes (urgent, bulk) of a node.
pub(crate) fn heads(dir: &Path) -> anyhow::Result<[u64; 2]> {
    let store = Store::open(dir)?;
    Ok([store.head_of(Lane::Urgent)?, store.head_of(Lane::Bulk)?])
}

/// The zstd-3 "floor" over the nodes: (raw protobuf bytes, compressed
/// bytes, entries), each node's entries above `from[i]` compressed as one
/// buffer.
pub(crate) fn floor(dirs: &[PathBuf], from: &[[u64; 2]]) -> anyhow::Result<(u64, u64, u64)> {
    let parts = par_map(dirs.len(), 2, |i| {
        let (buf, n) = encoded_log(&dirs[i], from[i])?;
        let z = if buf.is_empty() { 0 } else { zstd3_len(&buf)? };
        Ok((buf.len() as u64, z, n))
    })?;
    Ok(parts
        .into_iter()
        .fold((0, 0, 0), |(a, b, c), (x, y, z)| (a + x, b + y, c + z)))
}
