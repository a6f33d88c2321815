//! Bench: hubs and nodes.

use super::*;

/// A hub's gRPC server in this process.
#[derive(Debug)]
pub(crate) struct InProcessHub {
    pub(crate) dir: PathBuf,
    pub(crate) addr: std::net::SocketAddr,
    pub(crate) stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub(crate) task: tokio::task::JoinHandle<Result<(), lianfang_hub::server::ServeError>>,
}

impl InProcessHub {
    pub(crate) async fn start(dir: &Path) -> anyhow::Result<InProcessHub> {
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

    pub(crate) async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.await??;
        Ok(())
    }
}

/// Enrols every compound of the street at the hub in `dir`; the tokens.
pub(crate) fn enroll_all(dir: &Path, street: &[CompoundLedger]) -> anyhow::Result<Vec<String>> {
    let mut hub = HubStore::open_or_create(dir)?;
    street
        .iter()
        .map(|c| Ok(hub.enroll(&c.code, Some(&c.name))?))
        .collect()
}

/// `init` + `import_files` of every compound (2 threads, like the demo);
/// returns the node data dirs and the wall time.
pub(crate) fn setup_nodes(
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
pub(crate) fn reimport(dirs: &[PathBuf], files: &[Vec<PathBuf>]) -> anyhow::Result<Duration> {
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

pub(crate) fn write_ledgers(
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
pub(crate) struct SyncTotals {
    pub(crate) wall: Duration,
    /// Entries sent, both lanes.
    pub(crate) sent: u64,
    pub(crate) applied: u64,
    pub(crate) batches: u64,
    pub(crate) sessions: u64,
    pub(crate) agree: usize,
    pub(crate) nodes: usize,
    /// Most syncs in flight at once.
    pub(crate) peak_in_flight: usize,
    /// Calls to the hub (exchanges, and a verify when digests differ).
    pub(crate) calls: u64,
}

pub(crate) fn bench_sync_options() -> SyncOptions {
    SyncOptions {
        attempts: 10,
        call_timeout: Duration::from_secs(60),
        ..SyncOptions::default()
    }
}

/// Syncs every node in `dirs`, at most `parallel` at once; progress on stderr.
pub(crate) async fn sync_all(
    dirs: &[PathBuf],
    parallel: usize,
    label: &str,
) -> anyhow::Result<SyncTotals> {
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
        totals.calls += report.calls;
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

pub(crate) fn link_totals(links: &[FaultLink]) -> LinkStats {
    links.iter().fold(LinkStats::default(), |mut sum, link| {
        let s = link.stats();
        sum.up_bytes += s.up_bytes;
        sum.down_bytes += s.down_bytes;
        sum.connections += s.connections;
        sum
    })
}
