//! Benchmark of Lianfang over the demo's generator at full scale
//! (`StreetSpec::full_street()`: 167 compounds, ~230k households, ~540k
//! persons, ~40k isolations).
//!
//! `cargo run --release -p lianfang-tests --bin bench -- --help`
//!
//! Prints ONE table to stdout: measurement | figure | limit/target | ratio |
//! pass?, every figure measured in this run. Progress goes to stderr.
//! `ratio` is figure ÷ limit for "≤" targets and limit ÷ figure for "≥"
//! targets, so a ratio ≤ 1.00 passes and 2.00 means "twice as far as
//! allowed".
//!
//! Node sets (each a real SQLite node per compound, imported from the same
//! CSV ledgers written by `CompoundLedger::write_csv`):
//! - A: nodes talk straight to an in-process hub on loopback (plain timing);
//! - B: each node behind its own perfect-profile `FaultLink` to a second
//!   in-process hub (the link counts the bytes each way);
//! - D: nodes syncing against the real `lianfang-hub serve` binary (RSS).

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use lianfang_hub::store::HubStore;
use lianfang_node::store::Store;
use lianfang_node::sync::{SyncOptions, sync_once};
use lianfang_proto::{Lane, pb};
use lianfang_sim::generate::{self, CompoundLedger, StreetSpec};
use lianfang_sim::link::{FaultLink, LinkProfile, LinkStats};
use prost::Message as _;
use tokio::net::TcpListener;

const HELP: &str = "\
bench — Lianfang benchmark over the demo's generator (full street by default)

USAGE:
    cargo run --release -p lianfang-tests --bin bench -- [OPTIONS]

OPTIONS:
    --compounds N    compounds in the street (default 167: ~230k households,
                     ~540k persons, ~40k isolations)
    --quick          small run: 12 compounds, fewer repetitions
    --only NAME      run one measurement (and the setup it needs); NAME is one of
                     initial, incremental, thin, apply, table, import, rss
    --parallel P     node syncs run at once in the street-wide syncs (default 8)
    --seed S         generator seed (default 2020)
    --varied         origins at city, district and street/town level, as real
                     registrations spell them (generate::vary_origins)
    --keep DIR       put the data under DIR and keep it (default: a temp dir)
    --rss-clients K  in the rss measurement, node syncs against the real hub at
                     once (default: all of them)
    -h, --help       this text

MEASUREMENTS:
    initial      initial sync of the whole street into an empty hub: wall time,
                 records/s (target >= 100,000/s), bytes each way, wire bytes over
                 the zstd-3 size of the same records' protobuf (target <= 1.3)
    incremental  edit_day(2%) on every compound, import, sync all: wire bytes
                 per changed record over its zstd-3 size after taking off the
                 fixed cost of a sync with nothing to send (target <= 1.5)
    thin         one compound's daily change over 64 kbit/s, 300 ms RTT: time
                 over (bytes / bandwidth) (target <= 1.3)
    apply        HubStore::apply_batch of 2000-entry batches from real node logs
                 (target >= 200,000 records/s)
    table        HubStore::table for today and a month back, median of 5
                 (targets <= 50 ms and <= 1 s); the key regions changed at run
                 time (rebuild time, then the table again); `lianfang-hub table
                 --format json` as a process, median of 5 (target <= 100 ms)
    import       import_files of the largest compound (2,600 households) into a
                 fresh node, median of 5 (target <= 1 s)
    rss          real binaries: node daemon idle (target <= 20 MB) and while
                 syncing a big backlog; hub serving all nodes syncing at once
                 (target <= 200 MB)
";

const MEASUREMENTS: [&str; 7] = [
    "initial",
    "incremental",
    "thin",
    "apply",
    "table",
    "import",
    "rss",
];

// ------------------------------------------------------------------ args

#[derive(Debug, Clone)]
struct Args {
    compounds: usize,
    quick: bool,
    only: Option<String>,
    parallel: usize,
    seed: u64,
    keep: Option<PathBuf>,
    rss_clients: Option<usize>,
    varied: bool,
}

impl Args {
    fn parse() -> anyhow::Result<Option<Args>> {
        let mut args = Args {
            compounds: 167,
            quick: false,
            only: None,
            parallel: 8,
            seed: 2020,
            keep: None,
            rss_clients: None,
            varied: false,
        };
        let mut compounds = None;
        let mut it = std::env::args().skip(1);
        while let Some(arg) = it.next() {
            let mut value = |name: &str| {
                it.next()
                    .with_context(|| format!("{name} needs a value (see --help)"))
            };
            match arg.as_str() {
                "-h" | "--help" => return Ok(None),
                "--quick" => args.quick = true,
                "--varied" => args.varied = true,
                "--compounds" => compounds = Some(value("--compounds")?.parse()?),
                "--only" => {
                    let name = value("--only")?;
                    if !MEASUREMENTS.contains(&name.as_str()) {
                        bail!(
                            "unknown measurement {name:?}; one of {}",
                            MEASUREMENTS.join(", ")
                        );
                    }
                    args.only = Some(name);
                }
                "--parallel" => args.parallel = value("--parallel")?.parse::<usize>()?.max(1),
                "--seed" => args.seed = value("--seed")?.parse()?,
                "--keep" => args.keep = Some(PathBuf::from(value("--keep")?)),
                "--rss-clients" => {
                    args.rss_clients = Some(value("--rss-clients")?.parse::<usize>()?.max(1));
                }
                other => bail!("unknown argument {other:?} (see --help)"),
            }
        }
        args.compounds = compounds
            .unwrap_or(if args.quick { 12 } else { 167 })
            .max(1);
        Ok(Some(args))
    }

    fn runs(&self, name: &str) -> bool {
        self.only.as_deref().is_none_or(|only| only == name)
    }

    fn runs_any(&self, names: &[&str]) -> bool {
        names.iter().any(|n| self.runs(n))
    }
}

// ------------------------------------------------------------------ table

#[derive(Debug, Clone)]
struct Row {
    measurement: String,
    figure: String,
    target: String,
    /// Shortfall factor: ≤ 1 passes.
    ratio: Option<f64>,
}

#[derive(Debug, Default)]
struct Report {
    rows: Vec<Row>,
}

impl Report {
    /// A figure without a target.
    fn info(&mut self, measurement: &str, figure: String) {
        self.push(Row {
            measurement: measurement.into(),
            figure,
            target: "—".into(),
            ratio: None,
        });
    }

    /// A figure that must be at most `limit`.
    fn at_most(&mut self, measurement: &str, figure: String, value: f64, limit: f64, shown: &str) {
        self.push(Row {
            measurement: measurement.into(),
            figure,
            target: format!("≤ {shown}"),
            ratio: Some(value / limit),
        });
    }

    /// A figure that must be at least `limit`.
    fn at_least(&mut self, measurement: &str, figure: String, value: f64, limit: f64, shown: &str) {
        self.push(Row {
            measurement: measurement.into(),
            figure,
            target: format!("≥ {shown}"),
            ratio: Some(if value > 0.0 {
                limit / value
            } else {
                f64::INFINITY
            }),
        });
    }

    fn push(&mut self, row: Row) {
        let verdict = match row.ratio {
            Some(r) if r <= 1.0 => "pass",
            Some(_) => "MISS",
            None => "",
        };
        eprintln!(
            "  => {}: {} ({}) {verdict}",
            row.measurement, row.figure, row.target
        );
        self.rows.push(row);
    }

    fn render(&self) -> String {
        let cells: Vec<[String; 5]> = self
            .rows
            .iter()
            .map(|r| {
                [
                    r.measurement.clone(),
                    r.figure.clone(),
                    r.target.clone(),
                    r.ratio.map_or("—".into(), |x| format!("{x:.2}")),
                    match r.ratio {
                        Some(x) if x <= 1.0 => "yes".into(),
                        Some(_) => "NO".into(),
                        None => "—".into(),
                    },
                ]
            })
            .collect();
        let header = ["measurement", "figure", "limit/target", "ratio", "pass?"];
        let mut out = String::new();
        out.push_str(&format!("| {} |\n", header.join(" | ")));
        out.push_str("|---|---|---|---:|:---:|\n");
        for c in &cells {
            out.push_str(&format!("| {} |\n", c.join(" | ")));
        }
        out
    }
}

// ------------------------------------------------------------------ helpers

fn mb(bytes: u64) -> String {
    if bytes >= 1_000_000 {
        format!("{:.2} MB", bytes as f64 / 1e6)
    } else if bytes >= 10_000 {
        format!("{:.1} kB", bytes as f64 / 1e3)
    } else {
        format!("{bytes} B")
    }
}

fn dur(d: Duration) -> String {
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

fn thousands(n: f64) -> String {
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

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn median_f(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn records_of(c: &CompoundLedger) -> usize {
    c.households.len() + c.persons.len() + c.isolations.len()
}

/// Prints `stage` with the time since the start.
fn stage(started: Instant, what: &str) {
    eprintln!("[{:>6.1}s] {what}", started.elapsed().as_secs_f64());
}

/// Runs `f(i)` for `i in 0..n` on `threads` threads; results in order.
fn par_map<T: Send>(
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
fn zstd3_len(data: &[u8]) -> anyhow::Result<u64> {
    Ok(zstd::bulk::compress(data, 3)?.len() as u64)
}

/// Protobuf encoding of a node's log entries above `from` (per lane), as the
/// `PushRequest` messages that would carry them with nothing else: one buffer.
fn encoded_log(dir: &Path, from: [u64; 2]) -> anyhow::Result<(Vec<u8>, u64)> {
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
fn heads(dir: &Path) -> anyhow::Result<[u64; 2]> {
    let store = Store::open(dir)?;
    Ok([store.head_of(Lane::Urgent)?, store.head_of(Lane::Bulk)?])
}

/// The zstd-3 "floor" over the nodes: (raw protobuf bytes, compressed
/// bytes, entries), each node's entries above `from[i]` compressed as one
/// buffer.
fn floor(dirs: &[PathBuf], from: &[[u64; 2]]) -> anyhow::Result<(u64, u64, u64)> {
    let parts = par_map(dirs.len(), 2, |i| {
        let (buf, n) = encoded_log(&dirs[i], from[i])?;
        let z = if buf.is_empty() { 0 } else { zstd3_len(&buf)? };
        Ok((buf.len() as u64, z, n))
    })?;
    Ok(parts
        .into_iter()
        .fold((0, 0, 0), |(a, b, c), (x, y, z)| (a + x, b + y, c + z)))
}

// ------------------------------------------------------------------ hubs and nodes

/// A hub's gRPC server in this process.
#[derive(Debug)]
struct InProcessHub {
    dir: PathBuf,
    addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), lianfang_hub::server::ServeError>>,
}

impl InProcessHub {
    async fn start(dir: &Path) -> anyhow::Result<InProcessHub> {
        drop(HubStore::open_or_create(dir)?);
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let data = dir.to_owned();
        let task = tokio::spawn(async move {
            lianfang_hub::server::run(listener, &data, false, async {
                let _ = stopped.await;
            })
            .await
        });
        Ok(InProcessHub {
            dir: dir.to_owned(),
            addr,
            stop: Some(stop),
            task,
        })
    }

    async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.await??;
        Ok(())
    }
}

/// Enrols every compound of the street at the hub in `dir`; the tokens.
fn enroll_all(dir: &Path, street: &[CompoundLedger]) -> anyhow::Result<Vec<String>> {
    let mut hub = HubStore::open_or_create(dir)?;
    street
        .iter()
        .map(|c| Ok(hub.enroll(&c.code, Some(&c.name))?))
        .collect()
}

/// `init` + `import_files` of every compound (2 threads, like the demo);
/// returns the node data dirs and the wall time.
fn setup_nodes(
    root: &Path,
    street: &[CompoundLedger],
    files: &[Vec<PathBuf>],
    urls: &[String],
    tokens: &[String],
) -> anyhow::Result<(Vec<PathBuf>, Duration)> {
    let started = Instant::now();
    let dirs = par_map(street.len(), 2, |i| {
        let dir = root.join(&street[i].code);
        lianfang_node::init(&dir, &street[i].code, &urls[i], &tokens[i])?;
        let mut store = Store::open(&dir)?;
        lianfang_node::import::import_files(
            &mut store,
            &files[i],
            lianfang_node::today(),
            lianfang_node::now_ms(),
        )
        .with_context(|| format!("importing {}", street[i].code))?;
        Ok(dir)
    })?;
    Ok((dirs, started.elapsed()))
}

/// Re-imports edited ledgers into existing nodes (2 threads).
fn reimport(dirs: &[PathBuf], files: &[Vec<PathBuf>]) -> anyhow::Result<Duration> {
    let started = Instant::now();
    par_map(dirs.len(), 2, |i| {
        let mut store = Store::open(&dirs[i])?;
        lianfang_node::import::import_files(
            &mut store,
            &files[i],
            lianfang_node::today(),
            lianfang_node::now_ms(),
        )?;
        Ok(())
    })?;
    Ok(started.elapsed())
}

fn write_ledgers(
    root: &Path,
    street: &[CompoundLedger],
) -> anyhow::Result<(Vec<Vec<PathBuf>>, Duration)> {
    let started = Instant::now();
    let files = par_map(street.len(), 2, |i| {
        Ok(street[i].write_csv(&root.join(&street[i].code))?)
    })?;
    Ok((files, started.elapsed()))
}

#[derive(Debug, Default, Clone, Copy)]
struct SyncTotals {
    wall: Duration,
    /// Entries sent, both lanes.
    sent: u64,
    applied: u64,
    batches: u64,
    sessions: u64,
    agree: usize,
    nodes: usize,
    /// Most syncs in flight at once.
    peak_in_flight: usize,
}

fn bench_sync_options() -> SyncOptions {
    SyncOptions {
        attempts: 10,
        call_timeout: Duration::from_secs(60),
        ..SyncOptions::default()
    }
}

/// Syncs every node in `dirs`, at most `parallel` at once; progress on stderr.
async fn sync_all(dirs: &[PathBuf], parallel: usize, label: &str) -> anyhow::Result<SyncTotals> {
    let gate = Arc::new(tokio::sync::Semaphore::new(parallel.max(1)));
    let done = Arc::new(AtomicUsize::new(0));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let sent = Arc::new(AtomicU64::new(0));
    let n = dirs.len();
    let started = Instant::now();
    let ticker = {
        let (done, sent) = (Arc::clone(&done), Arc::clone(&sent));
        let label = label.to_owned();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                eprint!(
                    "\r    {label}: {}/{n} nodes synced, {} entries at hub, {:.0}s   ",
                    done.load(Ordering::Relaxed),
                    sent.load(Ordering::Relaxed),
                    started.elapsed().as_secs_f64()
                );
            }
        })
    };
    let mut tasks = tokio::task::JoinSet::new();
    for dir in dirs {
        let dir = dir.clone();
        let gate = Arc::clone(&gate);
        let (done, in_flight, peak, sent) = (
            Arc::clone(&done),
            Arc::clone(&in_flight),
            Arc::clone(&peak),
            Arc::clone(&sent),
        );
        tasks.spawn(async move {
            let _permit = gate.acquire_owned().await?;
            let now = in_flight.fetch_add(1, Ordering::Relaxed) + 1;
            peak.fetch_max(now, Ordering::Relaxed);
            let mut last = 0;
            let report = sync_once(&dir, &bench_sync_options(), |p| {
                sent.fetch_add(p.cursor.saturating_sub(last), Ordering::Relaxed);
                last = last.max(p.cursor);
            })
            .await
            .with_context(|| format!("syncing {}", dir.display()))?;
            in_flight.fetch_sub(1, Ordering::Relaxed);
            done.fetch_add(1, Ordering::Relaxed);
            anyhow::Ok(report)
        });
    }
    let mut totals = SyncTotals {
        nodes: n,
        ..SyncTotals::default()
    };
    while let Some(joined) = tasks.join_next().await {
        let report = joined??;
        totals.sent += report.sent + report.sent_urgent;
        totals.applied += report.applied;
        totals.batches += report.batches;
        totals.sessions += u64::from(report.sessions);
        totals.agree += usize::from(report.digests_agree == Some(true));
    }
    totals.wall = started.elapsed();
    totals.peak_in_flight = peak.load(Ordering::Relaxed);
    ticker.abort();
    eprintln!(
        "\r    {label}: {n} nodes, {} entries in {} ({} batches, {} sessions, digests agree {}/{n})",
        totals.sent,
        dur(totals.wall),
        totals.batches,
        totals.sessions,
        totals.agree
    );
    if totals.agree != n {
        bail!("{label}: digests disagree for {} nodes", n - totals.agree);
    }
    Ok(totals)
}

fn link_totals(links: &[FaultLink]) -> LinkStats {
    links.iter().fold(LinkStats::default(), |mut sum, link| {
        let s = link.stats();
        sum.up_bytes += s.up_bytes;
        sum.down_bytes += s.down_bytes;
        sum.connections += s.connections;
        sum
    })
}

// ------------------------------------------------------------------ processes

/// A child process killed (SIGKILL) when dropped.
#[derive(Debug)]
struct Proc {
    child: Child,
    name: &'static str,
}

impl Proc {
    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        eprintln!("    stopped {} (pid {})", self.name, self.child.id());
    }
}

/// (VmRSS, VmHWM) of a process in bytes.
fn mem_of(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map(|kb| kb * 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// "anon A + file F": where a process's resident pages are.
fn rss_split(pid: u32) -> String {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return "?".into();
    };
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    format!(
        "anon {} + file {}",
        mb(field("RssAnon:")),
        mb(field("RssFile:"))
    )
}

/// CPU time of the whole machine and of this process (with its reaped
/// children), in clock ticks, to tell how busy other processes kept the
/// machine during the run.
#[derive(Debug, Clone, Copy)]
struct CpuMeter {
    busy: u64,
    own: u64,
    at: Instant,
}

impl CpuMeter {
    fn now() -> CpuMeter {
        let busy = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| {
                let line = s.lines().next()?.to_owned();
                let v: Vec<u64> = line
                    .split_whitespace()
                    .skip(1)
                    .filter_map(|x| x.parse().ok())
                    .collect();
                // user nice system idle iowait irq softirq steal
                let total: u64 = v.iter().take(8).sum();
                Some(total - v.get(3).copied().unwrap_or(0) - v.get(4).copied().unwrap_or(0))
            })
            .unwrap_or(0);
        let own = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|s| {
                let rest = s.rsplit_once(')')?.1.to_owned();
                let v: Vec<&str> = rest.split_whitespace().collect();
                // utime stime cutime cstime are fields 14..=17; state is field 3.
                v.get(11..15)?
                    .iter()
                    .map(|x| x.parse::<u64>().ok())
                    .sum::<Option<u64>>()
            })
            .unwrap_or(0);
        CpuMeter {
            busy,
            own,
            at: Instant::now(),
        }
    }

    /// Average cores used by this process and by everything else since `self`.
    fn since(self) -> (f64, f64) {
        let now = CpuMeter::now();
        let secs = now.at.duration_since(self.at).as_secs_f64().max(1e-3);
        let ticks = 100.0; // USER_HZ
        let own = now.own.saturating_sub(self.own) as f64 / ticks / secs;
        let all = now.busy.saturating_sub(self.busy) as f64 / ticks / secs;
        (own, (all - own).max(0.0))
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Threads of a process.
fn threads_of(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find(|l| l.starts_with("Threads:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
}

/// Samples the peak VmRSS and thread count of some processes every 20 ms until stopped.
#[derive(Debug)]
struct Sampler {
    stop: Arc<AtomicBool>,
    /// Per process: (peak VmRSS, peak thread count).
    thread: Option<std::thread::JoinHandle<Vec<(u64, u64)>>>,
}

impl Sampler {
    fn start(pids: Vec<u32>) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut peaks = vec![(0u64, 0u64); pids.len()];
            while !flag.load(Ordering::Relaxed) {
                for (peak, pid) in peaks.iter_mut().zip(&pids) {
                    if let Some((rss, _)) = mem_of(*pid) {
                        peak.0 = peak.0.max(rss);
                    }
                    if let Some(threads) = threads_of(*pid) {
                        peak.1 = peak.1.max(threads);
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            peaks
        });
        Sampler {
            stop,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> Vec<(u64, u64)> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .map(|t| t.join().expect("sampler"))
            .unwrap_or_default()
    }
}

/// Directory of the release binaries (where this bench runs from), building
/// `lianfang-node` and `lianfang-hub` when missing or older than the bench.
fn release_bins() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().context("bench's directory")?.to_owned();
    let bench_time = std::fs::metadata(&exe)?.modified()?;
    let stale = ["lianfang-node", "lianfang-hub"].iter().any(|name| {
        std::fs::metadata(dir.join(name))
            .and_then(|m| m.modified())
            .map_or(true, |t| t < bench_time)
    });
    if stale {
        eprintln!("    building lianfang-node and lianfang-hub (release) ...");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "--release",
                "-p",
                "lianfang-node",
                "-p",
                "lianfang-hub",
            ])
            .status()
            .context("running cargo build")?;
        if !status.success() {
            bail!("cargo build --release -p lianfang-node -p lianfang-hub failed");
        }
    }
    for name in ["lianfang-node", "lianfang-hub"] {
        if !dir.join(name).exists() {
            bail!("{} not found after building", dir.join(name).display());
        }
    }
    Ok(dir)
}

/// Spawns `lianfang-node sync --data DIR` (the daemon loop); a flag is set
/// each time it prints "caught up".
fn spawn_node_daemon(bins: &Path, dir: &Path) -> anyhow::Result<(Proc, Arc<AtomicU64>)> {
    let mut child = Command::new(bins.join("lianfang-node"))
        .args(["sync", "--data"])
        .arg(dir)
        .env_remove("LIANFANG_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("spawning lianfang-node")?;
    let caught_up = Arc::new(AtomicU64::new(0));
    let stdout = child.stdout.take().context("node stdout")?;
    let flag = Arc::clone(&caught_up);
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.starts_with("caught up") {
                flag.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    Ok((
        Proc {
            child,
            name: "lianfang-node sync",
        },
        caught_up,
    ))
}

async fn wait_for(flag: &AtomicU64, at_least: u64, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    while flag.load(Ordering::SeqCst) < at_least {
        if Instant::now() > deadline {
            bail!("timed out after {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

// ------------------------------------------------------------------ main

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let Some(args) = Args::parse()? else {
        print!("{HELP}");
        return Ok(());
    };
    let started = Instant::now();
    let temp;
    let root: PathBuf = match &args.keep {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            dir.clone()
        }
        None => {
            temp = tempfile::Builder::new()
                .prefix("lianfang-bench-")
                .tempdir()?;
            temp.path().to_owned()
        }
    };
    let mut report = Report::default();
    let spec = StreetSpec {
        compounds: args.compounds,
        seed: args.seed,
        ..StreetSpec::full_street()
    };
    eprintln!(
        "bench: {} compounds of {}–{} households (seed {}), data in {}, sync parallelism {}",
        spec.compounds,
        spec.min_households,
        spec.max_households,
        spec.seed,
        root.display(),
        args.parallel
    );

    // Build the binaries first, so a compile never overlaps a measurement.
    let bins = if args.runs("rss") || args.runs("table") {
        stage(
            started,
            "locating the release binaries of lianfang-node and lianfang-hub",
        );
        Some(release_bins()?)
    } else {
        None
    };
    let build_time = started.elapsed();
    let started = Instant::now();
    let cpu = CpuMeter::now();
    let load_before = loadavg();

    let needs_street = args.runs_any(&["initial", "incremental", "thin", "apply", "table", "rss"]);
    let mut street = Vec::new();
    let mut files = Vec::new();
    if needs_street {
        stage(started, "generating the street");
        let t = Instant::now();
        street = generate::street(&spec);
        if args.varied {
            street.iter_mut().for_each(generate::vary_origins);
        }
        let distinct: std::collections::HashSet<&str> = street
            .iter()
            .flat_map(|c| c.persons.iter().map(|(_, p)| p.origin.as_str()))
            .filter(|o| !o.is_empty())
            .collect();
        eprintln!(
            "    origins: {} distinct{}",
            distinct.len(),
            if args.varied { " (varied)" } else { "" }
        );
        let n: usize = street.iter().map(records_of).sum();
        eprintln!(
            "    {} households, {} persons, {} isolations = {n} records in {}",
            street.iter().map(|c| c.households.len()).sum::<usize>(),
            street.iter().map(|c| c.persons.len()).sum::<usize>(),
            street.iter().map(|c| c.isolations.len()).sum::<usize>(),
            dur(t.elapsed())
        );
        let (f, took) = write_ledgers(&root.join("ledger-day0"), &street)?;
        files = f;
        eprintln!("    CSV ledgers written in {}", dur(took));
    }
    let n_records: u64 = street.iter().map(|c| records_of(c) as u64).sum();
    // The largest compound of this street, by records.
    let largest = (0..street.len())
        .max_by_key(|&i| records_of(&street[i]))
        .unwrap_or(0);

    // ---------------------------------------------------------- set A: plain
    let mut hub_a = None;
    let mut dirs_a = Vec::new();
    if args.runs_any(&["initial", "incremental", "table", "apply"]) {
        stage(started, "set A: hub in process, nodes straight to it");
        let hub_dir = root.join("a").join("hub");
        let tokens = enroll_all(&hub_dir, &street)?;
        let hub = InProcessHub::start(&hub_dir).await?;
        let urls = vec![format!("http://{}", hub.addr); street.len()];
        let (dirs, took) = setup_nodes(
            &root.join("a").join("nodes"),
            &street,
            &files,
            &urls,
            &tokens,
        )?;
        eprintln!(
            "    imported {n_records} records into {} nodes in {} (2 threads)",
            street.len(),
            dur(took)
        );
        report.info(
            "setup: ledger import of the whole street (2 threads)",
            format!(
                "{} ({} records/s)",
                dur(took),
                thousands(n_records as f64 / took.as_secs_f64())
            ),
        );
        hub_a = Some(hub);
        dirs_a = dirs;
    }

    // ---------------------------------------------------------- 1. initial (plain)
    if args.runs_any(&["initial", "incremental", "table"]) {
        stage(started, "1. initial sync of the street, plain loopback");
        let totals = sync_all(&dirs_a, args.parallel, "initial sync A").await?;
        if args.runs("initial") {
            let rate = totals.sent as f64 / totals.wall.as_secs_f64();
            report.info(
                "1. initial sync, wall time (plain loopback)",
                format!(
                    "{} for {} entries, {} nodes, {} at once",
                    dur(totals.wall),
                    totals.sent,
                    totals.nodes,
                    args.parallel.min(totals.nodes)
                ),
            );
            report.at_least(
                "1. initial sync, records/s end to end",
                format!("{}/s", thousands(rate)),
                rate,
                100_000.0,
                "100,000/s",
            );
        }
    }

    // ---------------------------------------------------------- 5. table
    if args.runs("table")
        && let Some(hub) = &hub_a
    {
        stage(started, "5. daily table of the whole street");
        let store = HubStore::open_read_only(&hub.dir)?;
        let month_back = spec.today - chrono::Duration::days(30);
        for (date, limit, label) in [(spec.today, 0.050, "50 ms"), (month_back, 1.0, "1 s")] {
            let mut times = Vec::new();
            let mut persons = 0;
            for _ in 0..5 {
                let t = Instant::now();
                let table = store.table(date)?;
                times.push(t.elapsed());
                persons = table.total.persons;
            }
            let street_persons: u64 = street.iter().map(|c| c.persons.len() as u64).sum();
            if persons != street_persons {
                bail!("table for {date} counts {persons} persons, the street has {street_persons}");
            }
            let m = median(times.clone());
            eprintln!(
                "    table({date}): {:?}",
                times.iter().map(|t| dur(*t)).collect::<Vec<_>>()
            );
            report.at_most(
                &format!(
                    "5. HubStore::table({date}){} ({} compounds, median of 5)",
                    if date == spec.today {
                        " today"
                    } else {
                        " a month back"
                    },
                    street.len()
                ),
                dur(m),
                m.as_secs_f64(),
                limit,
                label,
            );
        }
        drop(store);
        let data = if args.varied { "varied" } else { "default" };
        let hub_bin = bins.as_ref().map(|dir| dir.join("lianfang-hub"));
        let cli_table = |report: &mut Report, what: &str| -> anyhow::Result<()> {
            let Some(bin) = &hub_bin else { return Ok(()) };
            let mut times = Vec::new();
            for _ in 0..5 {
                let t = Instant::now();
                let out = Command::new(bin)
                    .arg("table")
                    .arg("--data")
                    .arg(&hub.dir)
                    .args(["--date", &spec.today.to_string(), "--format", "json"])
                    .output()?;
                times.push(t.elapsed());
                if !out.status.success() {
                    bail!(
                        "lianfang-hub table failed: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
            }
            let m = median(times.clone());
            eprintln!(
                "    lianfang-hub table ({what}): {:?}",
                times.iter().map(|t| dur(*t)).collect::<Vec<_>>()
            );
            report.at_most(
                &format!(
                    "5. `lianfang-hub table --format json` as a process, {what} ({} compounds, median of 5)",
                    street.len()
                ),
                dur(m),
                m.as_secs_f64(),
                0.100,
                "100 ms",
            );
            Ok(())
        };
        cli_table(&mut report, &format!("{data} origins"))?;
        // The key regions changed at run time: the aggregates are
        // reclassified in the transaction that stores the configuration.
        let mut writer = HubStore::open_or_create(&hub.dir)?;
        let t = Instant::now();
        writer.set_config(Some(vec!["湖北".into(), "浙江".into()]), None)?;
        let rebuild = t.elapsed();
        eprintln!("    config set --key-regions 湖北,浙江: {}", dur(rebuild));
        report.info(
            &format!("5. config set --key-regions 湖北,浙江 ({data} origins): transaction with the rebuild"),
            dur(rebuild),
        );
        let store = HubStore::open_read_only(&hub.dir)?;
        let mut times = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            store.table(spec.today)?;
            times.push(t.elapsed());
        }
        let m = median(times);
        report.at_most(
            &format!(
                "5. HubStore::table({}) after the key-regions change ({data} origins, median of 5)",
                spec.today
            ),
            dur(m),
            m.as_secs_f64(),
            0.050,
            "50 ms",
        );
        cli_table(
            &mut report,
            &format!("{data} origins, after the key-regions change"),
        )?;
        drop(store);
        writer.set_config(Some(vec!["湖北".into()]), None)?;
    }

    // ---------------------------------------------------------- set B: counted
    let mut set_b: Option<(InProcessHub, Vec<FaultLink>, Vec<PathBuf>)> = None;
    if args.runs_any(&["initial", "incremental", "thin"]) {
        stage(
            started,
            "set B: second hub in process, each node behind a perfect FaultLink",
        );
        let hub_dir = root.join("b").join("hub");
        let tokens = enroll_all(&hub_dir, &street)?;
        let hub = InProcessHub::start(&hub_dir).await?;
        let mut links = Vec::with_capacity(street.len());
        for _ in 0..street.len() {
            links.push(FaultLink::start(hub.addr, LinkProfile::perfect()).await?);
        }
        let urls: Vec<String> = links.iter().map(FaultLink::url).collect();
        let (dirs, took) = setup_nodes(
            &root.join("b").join("nodes"),
            &street,
            &files,
            &urls,
            &tokens,
        )?;
        eprintln!("    imported set B in {}", dur(took));
        stage(
            started,
            "1. initial sync of the street through counting links",
        );
        let before = link_totals(&links);
        let totals = sync_all(&dirs, args.parallel, "initial sync B").await?;
        let after = link_totals(&links);
        let (up, down) = (
            after.up_bytes - before.up_bytes,
            after.down_bytes - before.down_bytes,
        );
        if args.runs("initial") {
            stage(
                started,
                "1. floor: zstd -3 of each node's whole log as one protobuf buffer",
            );
            let (raw, z, n) = floor(&dirs, &vec![[0, 0]; dirs.len()])?;
            eprintln!(
                "    {n} entries: protobuf {} → zstd-3 {} ({:.1}x); wire {} up + {} down",
                mb(raw),
                mb(z),
                raw as f64 / z.max(1) as f64,
                mb(up),
                mb(down)
            );
            report.info(
                "1. initial sync, wall time through perfect FaultLinks",
                format!(
                    "{} ({} connections)",
                    dur(totals.wall),
                    after.connections - before.connections
                ),
            );
            report.info(
                "1. initial sync, bytes on the wire",
                format!(
                    "{} up, {} down ({:.1} B/record up)",
                    mb(up),
                    mb(down),
                    up as f64 / n.max(1) as f64
                ),
            );
            report.info(
                "1. floor: records' protobuf → zstd-3, one buffer per node",
                format!("{} → {}", mb(raw), mb(z)),
            );
            let ratio = (up + down) as f64 / z.max(1) as f64;
            report.at_most(
                "1. initial sync, wire bytes (up+down) / floor",
                format!("{ratio:.2}"),
                ratio,
                1.3,
                "1.3",
            );
        }
        set_b = Some((hub, links, dirs));
    }

    // ---------------------------------------------------------- 2. incremental
    if args.runs("incremental") {
        let (_, links, dirs_b) = set_b.as_ref().expect("set B");
        stage(
            started,
            "2. fixed cost: a sync of every node with nothing to send",
        );
        let before = link_totals(links);
        sync_all(dirs_b, args.parallel, "no-op sync B").await?;
        let after = link_totals(links);
        let noop = (after.up_bytes - before.up_bytes) + (after.down_bytes - before.down_bytes);
        let noop_per_node = noop as f64 / dirs_b.len() as f64;

        stage(
            started,
            "2. edit_day(2%) on every compound, write CSV, import into sets A and B",
        );
        let day = spec.today + chrono::Duration::days(1);
        let t = Instant::now();
        for c in &mut street {
            c.edit_day(args.seed, 0.02, day);
        }
        let edit_took = t.elapsed();
        let (files1, _) = write_ledgers(&root.join("ledger-day1"), &street)?;
        let heads_a = par_map(dirs_a.len(), 2, |i| heads(&dirs_a[i]))?;
        let heads_b = par_map(dirs_b.len(), 2, |i| heads(&dirs_b[i]))?;
        let import_a = reimport(&dirs_a, &files1)?;
        let import_b = reimport(dirs_b, &files1)?;
        let new_a = par_map(dirs_a.len(), 2, |i| heads(&dirs_a[i]))?;
        let new_b = par_map(dirs_b.len(), 2, |i| heads(&dirs_b[i]))?;
        let logged = |new: &[[u64; 2]], old: &[[u64; 2]]| -> u64 {
            new.iter()
                .zip(old)
                .map(|(n, o)| (n[1] - o[1]) + (n[0] - o[0]))
                .sum()
        };
        let changed = logged(&new_b, &heads_b);
        if logged(&new_a, &heads_a) != changed {
            bail!("sets A and B logged different changes for the same edits");
        }
        eprintln!(
            "    edit_day took {}; re-import of the street: {} (A), {} (B); {changed} entries logged",
            dur(edit_took),
            dur(import_a),
            dur(import_b)
        );
        let (raw, z, n) = floor(dirs_b, &heads_b)?;
        report.info(
            "2. incremental day: re-import of every edited ledger (2 threads)",
            format!(
                "{} for {} changed records",
                dur(import_a),
                thousands(n as f64)
            ),
        );

        stage(
            started,
            "2. incremental sync through counting links (set B)",
        );
        let before = link_totals(links);
        let totals_b = sync_all(dirs_b, args.parallel, "incremental B").await?;
        let after = link_totals(links);
        let (up, down) = (
            after.up_bytes - before.up_bytes,
            after.down_bytes - before.down_bytes,
        );
        stage(started, "2. incremental sync, plain (set A)");
        let totals_a = sync_all(&dirs_a, args.parallel, "incremental A").await?;
        let wire = up + down;
        report.info(
            "2. incremental sync, wall time (plain loopback)",
            format!(
                "{} for {} entries ({} through FaultLinks)",
                dur(totals_a.wall),
                totals_a.sent,
                dur(totals_b.wall)
            ),
        );
        report.info(
            "2. incremental: bytes per changed record, wire vs floor",
            format!(
                "{:.1} B wire ({} up + {} down) vs {:.1} B zstd-3 ({:.1} B protobuf); fixed {:.0} B per sync",
                wire as f64 / n.max(1) as f64,
                mb(up),
                mb(down),
                z as f64 / n.max(1) as f64,
                raw as f64 / n.max(1) as f64,
                noop_per_node
            ),
        );
        let variable = wire as f64 - noop as f64;
        let ratio = variable / z.max(1) as f64;
        report.at_most(
            "2. incremental: (wire − fixed per-sync cost) / floor",
            format!(
                "{ratio:.2} (raw wire/floor {:.2})",
                wire as f64 / z.max(1) as f64
            ),
            ratio,
            1.5,
            "1.5 + fixed",
        );
    }

    // ---------------------------------------------------------- 3. thin link
    if args.runs("thin") {
        let (hub_b, links, dirs_b) = set_b.as_ref().expect("set B");
        let code = street[largest].code.clone();
        stage(
            started,
            &format!("3. one compound's daily change ({code}) over 64 kbit/s, 300 ms RTT"),
        );
        let reps_thin = if args.quick { 1 } else { 3 };
        let mut ratios = Vec::new();
        let mut rows = Vec::new();
        for r in 0..reps_thin {
            let day = spec.today + chrono::Duration::days(2 + r as i64);
            street[largest].edit_day(args.seed, 0.02, day);
            let files = street[largest].write_csv(&root.join(format!("ledger-thin-{r}")))?;
            let before_heads = heads(&dirs_b[largest])?;
            reimport(std::slice::from_ref(&dirs_b[largest]), &[files])?;
            let after_heads = heads(&dirs_b[largest])?;
            let changed = (after_heads[0] - before_heads[0]) + (after_heads[1] - before_heads[1]);
            let link = &links[largest];
            link.set_profile(LinkProfile::thin(args.seed + r as u64));
            let before = link.stats();
            // When the hub holds the whole day: its bulk cursor reaches the
            // node's head (polled every 2 ms on a read-only connection).
            let watch = {
                let (hub_dir, code, head) = (hub_b.dir.clone(), code.clone(), after_heads[1]);
                std::thread::spawn(move || -> anyhow::Result<Instant> {
                    let store = HubStore::open_read_only(&hub_dir)?;
                    loop {
                        if store.lane_cursor_of(&code, Lane::Bulk)? >= head {
                            return Ok(Instant::now());
                        }
                        std::thread::sleep(Duration::from_millis(2));
                    }
                })
            };
            let t = Instant::now();
            let rep = sync_once(&dirs_b[largest], &bench_sync_options(), |_| {}).await?;
            let took = t.elapsed();
            let after = link.stats();
            let held = watch
                .join()
                .map_err(|_| anyhow::anyhow!("watcher panicked"))??
                .saturating_duration_since(t);
            link.set_profile(LinkProfile::perfect());
            let bytes = (after.up_bytes - before.up_bytes) + (after.down_bytes - before.down_bytes);
            let ideal = bytes as f64 / 8000.0;
            let ratio = took.as_secs_f64() / ideal;
            eprintln!(
                "    rep {r}: {changed} entries, {} up + {} down in {} (bytes/bandwidth {:.2} s, ratio {ratio:.2}, {} call(s), {} session); at the hub after {}",
                mb(after.up_bytes - before.up_bytes),
                mb(after.down_bytes - before.down_bytes),
                dur(took),
                ideal,
                rep.calls,
                rep.sessions,
                dur(held)
            );
            ratios.push(ratio);
            rows.push((ratio, took, bytes, changed, ideal, held));
        }
        // The same link with nothing to send: the fixed cost of a session.
        let link = &links[largest];
        link.set_profile(LinkProfile::thin(args.seed));
        let before = link.stats();
        let t = Instant::now();
        sync_once(&dirs_b[largest], &bench_sync_options(), |_| {}).await?;
        let noop_took = t.elapsed();
        let after = link.stats();
        link.set_profile(LinkProfile::perfect());
        let noop_bytes =
            (after.up_bytes - before.up_bytes) + (after.down_bytes - before.down_bytes);
        let round_trips = (noop_took.as_secs_f64() - noop_bytes as f64 / 8000.0) / 0.3;
        eprintln!(
            "    nothing to send: {} up + {} down in {} (≈ {round_trips:.1} round trips of 300 ms besides the bytes)",
            mb(after.up_bytes - before.up_bytes),
            mb(after.down_bytes - before.down_bytes),
            dur(noop_took)
        );
        report.info(
            "3. same link, a sync with nothing to send",
            format!(
                "{} for {} (≈ {round_trips:.1} RTTs beyond bytes/bandwidth)",
                dur(noop_took),
                mb(noop_bytes)
            ),
        );
        let m = median_f(ratios);
        let (_, took, bytes, changed, ideal, held) = rows
            .iter()
            .copied()
            .find(|row| row.0 == m)
            .expect("median row");
        // Any transfer that waits for an acknowledgement needs the bytes'
        // time plus one round trip: that ratio is the floor for the first line.
        let acked_floor = (ideal + 0.3) / ideal;
        let delivered = held.as_secs_f64() / ideal;
        report.at_most(
            &format!(
                "3. one compound's day ({changed} changes) at 64 kbit/s, 300 ms RTT: time to the node's acknowledgement / (bytes ÷ 8000 B/s) (median of {reps_thin})"
            ),
            format!(
                "{} for {} → {m:.2} (bytes/bandwidth {ideal:.2} s; bytes/bandwidth + 1 RTT is {acked_floor:.2})",
                dur(took),
                mb(bytes)
            ),
            m,
            1.3,
            "1.3",
        );
        report.at_most(
            "3. same runs: time until the hub holds the day / (bytes ÷ 8000 B/s)",
            format!(
                "{} → {delivered:.2} (bytes/bandwidth + one-way 150 ms is {:.2})",
                dur(held),
                (ideal + 0.15) / ideal
            ),
            delivered,
            1.3,
            "1.3",
        );
    }

    if let Some((hub, links, _)) = set_b.take() {
        drop(links);
        hub.stop().await?;
    }

    // ---------------------------------------------------------- 4. apply rate
    if args.runs("apply") {
        stage(
            started,
            "4. hub apply rate: HubStore::apply_batch with 2000-entry batches",
        );
        let want: u64 = if args.quick { 60_000 } else { 200_000 };
        // Real node logs (bulk lane, from seq 1), whole nodes until `want`.
        let mut logs: Vec<(String, String, u64, Vec<pb::LogEntry>)> = Vec::new();
        let mut total = 0u64;
        for (i, dir) in dirs_a.iter().enumerate() {
            if total >= want {
                break;
            }
            let store = Store::open(dir)?;
            let head = store.head_of(Lane::Bulk)?;
            let entries = store.log_range_of(Lane::Bulk, 1, head)?;
            total += entries.len() as u64;
            logs.push((
                street[i].code.clone(),
                store.identity()?.log_id,
                head,
                entries,
            ));
        }
        let apply_reps = if args.quick { 2 } else { 3 };
        let mut rates = Vec::new();
        for r in 0..apply_reps {
            let dir = root.join(format!("apply-hub-{r}"));
            let mut hub = HubStore::open_or_create(&dir)?;
            let mut callers = Vec::new();
            for (code, log_id, head, _) in &logs {
                let token = hub.enroll(code, None)?;
                let caller = hub.authenticate(&token)?;
                hub.handshake(&caller, log_id, [(Lane::Bulk, *head), (Lane::Urgent, 0)], 0)?;
                callers.push(caller);
            }
            let t = Instant::now();
            for ((_, log_id, head, entries), caller) in logs.iter().zip(&callers) {
                for batch in entries.chunks(2000) {
                    hub.apply_batch(caller, log_id, Lane::Bulk, *head, batch)?;
                }
            }
            let took = t.elapsed();
            let rate = total as f64 / took.as_secs_f64();
            eprintln!(
                "    rep {r}: {total} entries in {} = {}/s",
                dur(took),
                thousands(rate)
            );
            rates.push(rate);
            drop(hub);
            let _ = std::fs::remove_dir_all(&dir);
        }
        let rate = median_f(rates);
        report.at_least(
            &format!(
                "4. hub apply rate into SQLite with cursor ({} entries of {} nodes, median of {apply_reps})",
                total,
                logs.len()
            ),
            format!("{}/s", thousands(rate)),
            rate,
            200_000.0,
            "200,000/s",
        );
    }

    if let Some(hub) = hub_a.take() {
        hub.stop().await?;
    }

    // ---------------------------------------------------------- 6. import
    if args.runs("import") {
        let full = StreetSpec {
            seed: args.seed,
            ..StreetSpec::full_street()
        };
        let index = (0..full.compounds)
            .max_by_key(|&i| full.households_of(i))
            .unwrap_or(0);
        let ledger = generate::compound(&full, index);
        stage(
            started,
            &format!(
                "6. import of the largest compound {} ({} households, {} records)",
                ledger.code,
                ledger.households.len(),
                records_of(&ledger)
            ),
        );
        let base = root.join("import");
        let files = ledger.write_csv(&base.join("ledger"))?;
        let token = HubStore::open_or_create(&base.join("hub"))?.enroll(&ledger.code, None)?;
        let mut times = Vec::new();
        for r in 0..5 {
            let dir = base.join(format!("node-{r}"));
            lianfang_node::init(&dir, &ledger.code, "http://127.0.0.1:9", &token)?;
            let mut store = Store::open(&dir)?;
            let t = Instant::now();
            let summary = lianfang_node::import::import_files(
                &mut store,
                &files,
                lianfang_node::today(),
                lianfang_node::now_ms(),
            )?;
            times.push(t.elapsed());
            if summary.written() != records_of(&ledger) {
                bail!(
                    "import wrote {} of {} records",
                    summary.written(),
                    records_of(&ledger)
                );
            }
        }
        eprintln!(
            "    {:?}",
            times.iter().map(|t| dur(*t)).collect::<Vec<_>>()
        );
        let m = median(times);
        report.at_most(
            &format!(
                "6. ledger import of the largest compound ({} households, {} records; median of 5)",
                ledger.households.len(),
                records_of(&ledger)
            ),
            dur(m),
            m.as_secs_f64(),
            1.0,
            "1 s",
        );
    }

    // ---------------------------------------------------------- 7. RSS
    if args.runs("rss") {
        stage(started, "7. RSS of the real binaries");
        let bins = bins.clone().context("release binaries")?;
        let hub_dir = root.join("d").join("hub");
        let tokens = enroll_all(&hub_dir, &street)?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let hub = Proc {
            child: Command::new(bins.join("lianfang-hub"))
                .args(["serve", "--data"])
                .arg(&hub_dir)
                .args(["--listen", &format!("127.0.0.1:{port}")])
                .env_remove("LIANFANG_LOG")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("spawning lianfang-hub serve")?,
            name: "lianfang-hub serve",
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            if Instant::now() > deadline {
                bail!("lianfang-hub serve did not listen on port {port}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let url = format!("http://127.0.0.1:{port}");
        let urls = vec![url; street.len()];
        let (dirs, took) = setup_nodes(
            &root.join("d").join("nodes"),
            &street,
            &files,
            &urls,
            &tokens,
        )?;
        eprintln!("    imported set D in {}", dur(took));
        let hub_idle = mem_of(hub.pid()).context("hub status")?.0;

        // Every node syncs at once: the largest through the real binary.
        let (node, caught_up) = spawn_node_daemon(&bins, &dirs[largest])?;
        let sampler = Sampler::start(vec![hub.pid(), node.pid()]);
        let others: Vec<PathBuf> = dirs
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != largest)
            .map(|(_, d)| d.clone())
            .collect();
        let totals = sync_all(
            &others,
            args.rss_clients
                .unwrap_or(others.len())
                .clamp(1, others.len().max(1)),
            "nodes syncing against the real hub",
        )
        .await?;
        wait_for(&caught_up, 1, Duration::from_secs(120)).await?;
        let node_hwm = mem_of(node.pid()).context("node status")?.1;
        let (hub_rss, hub_hwm) = mem_of(hub.pid()).context("hub status")?;
        let hub_split = rss_split(hub.pid());
        let peaks = sampler.finish();
        eprintln!(
            "    hub: idle {} · peak sampled {} ({} threads at most) · VmHWM {} · now {} ({hub_split}); node: VmHWM {}",
            mb(hub_idle),
            mb(peaks[0].0),
            peaks[0].1,
            mb(hub_hwm),
            mb(hub_rss),
            mb(node_hwm)
        );
        // Idle after catching up its backlog: the daemon sleeps 30 s.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let node_idle_after = mem_of(node.pid()).context("node status")?.0;
        let node_idle_after_split = rss_split(node.pid());
        drop(node);
        // A fresh daemon with nothing to send.
        let (node, caught_up) = spawn_node_daemon(&bins, &dirs[largest])?;
        wait_for(&caught_up, 1, Duration::from_secs(60)).await?;
        tokio::time::sleep(Duration::from_secs(3)).await;
        let (node_idle, node_idle_hwm) = mem_of(node.pid()).context("node status")?;
        let node_idle_split = rss_split(node.pid());
        drop(node);
        drop(hub);
        let backlog = records_of(&street[largest]);
        report.at_most(
            "7. node RSS idle (daemon `lianfang-node sync`, caught up, nothing pending)",
            format!(
                "{} ({node_idle_split}; VmHWM {})",
                mb(node_idle),
                mb(node_idle_hwm)
            ),
            node_idle as f64,
            20e6,
            "20 MB",
        );
        report.at_most(
            "7. node RSS idle after syncing its backlog (same daemon, 3 s later)",
            format!("{} ({node_idle_after_split})", mb(node_idle_after)),
            node_idle_after as f64,
            20e6,
            "20 MB",
        );
        report.info(
            &format!("7. node peak RSS while syncing a backlog of {backlog} records (VmHWM)"),
            mb(node_hwm),
        );
        report.at_most(
            &format!(
                "7. hub peak RSS, {} nodes syncing ({} at once; VmHWM)",
                dirs.len(),
                totals.peak_in_flight + 1
            ),
            format!(
                "{} (idle {}, {} threads at peak; after: {})",
                mb(hub_hwm),
                mb(hub_idle),
                peaks[0].1,
                hub_split
            ),
            hub_hwm as f64,
            200e6,
            "200 MB",
        );
    }

    stage(started, "done");
    let (own_cores, other_cores) = cpu.since();
    let load_after = loadavg();
    println!();
    println!(
        "Lianfang bench: {} compounds ({} records), seed {}, sync parallelism {}, total {:.0} s \
         (+ {:.0} s checking/building the release binaries)",
        spec.compounds,
        thousands(n_records as f64),
        spec.seed,
        args.parallel,
        started.elapsed().as_secs_f64(),
        build_time.as_secs_f64()
    );
    println!(
        "CPU: this bench and its children used {own_cores:.2} cores on average, other processes \
         {other_cores:.2} (of {}); load average {load_before} before, {load_after} after",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("ratio = figure/limit for ≤ targets, limit/figure for ≥ targets: ≤ 1.00 passes");
    println!();
    print!("{}", report.render());
    Ok(())
}
