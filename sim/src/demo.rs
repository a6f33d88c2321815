//! The main job: a generated street, a hub and one node per compound on
//! loopback, each node behind its own poor link (latency, 2 Mbit/s, cuts),
//! importing its eleven ledgers (the population's and the day's work) and
//! syncing over real gRPC; then the day's notice
//! down and the receipts back; then the daily table, and whether the hub
//! equals what the compounds hold, by digests and by table.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::generate::{self, CompoundLedger, StreetSpec};
use anyhow::Context as _;
use lianfang_node::store::Store;
use lianfang_node::sync::{SyncOptions, SyncReport, sync_once};
use lianfang_proto::pb;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::link::{FaultLink, LinkProfile, LinkStats};
use lianfang_hub::report::{self, Format};
use lianfang_hub::store::{HubStore, Table};

/// What the demo runs.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Compounds in the generated street.
    pub compounds: usize,
    /// Small compounds (80–400 households) instead of the street's real
    /// sizes (300–2,600).
    pub small: bool,
    /// Seed of the generator; the same seed gives the same street.
    pub seed: u64,
    /// Where hub and node data go; a temporary directory when `None`.
    pub data: Option<PathBuf>,
    /// How to print the table.
    pub format: Format,
    /// Ledger imports at once (they are CPU-bound).
    pub parallel: usize,
    /// Put each node behind a poor link (otherwise plain loopback).
    pub poor_links: bool,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            compounds: 167,
            small: false,
            seed: 2020,
            data: None,
            format: Format::Text,
            parallel: 2,
            poor_links: true,
        }
    }
}

/// What the demo found.
#[derive(Debug)]
pub struct DemoOutcome {
    pub table: Table,
    /// Compounds whose hub row differs from the node's own view, or whose
    /// digests do not agree.
    pub mismatched: Vec<String>,
    /// Bytes over all links, client to hub and back.
    pub links: LinkStats,
}

/// Counters the progress line reads.
#[derive(Debug, Default)]
struct Tally {
    imported: AtomicU64,
    records: AtomicU64,
    synced: AtomicU64,
    /// Bulk entries the hub has acknowledged, summed over nodes.
    at_hub: AtomicU64,
    sessions: AtomicU64,
}

/// Runs the demo, printing progress to stderr and the table to stdout.
///
/// # Errors
/// Any failure to generate, import, serve or sync.
pub async fn run(options: DemoOptions) -> anyhow::Result<DemoOutcome> {
    let started = Instant::now();
    let temp;
    let root: PathBuf = match &options.data {
        Some(dir) => dir.clone(),
        None => {
            temp = tempfile::Builder::new()
                .prefix("lianfang-demo-")
                .tempdir()?;
            temp.path().to_owned()
        }
    };
    let mut spec = if options.small {
        StreetSpec::demo(options.compounds)
    } else {
        StreetSpec {
            compounds: options.compounds,
            ..StreetSpec::full_street()
        }
    };
    spec.seed = options.seed;
    let date = spec.today;
    eprintln!(
        "generating {} compounds of {}–{} households (seed {}) ...",
        spec.compounds, spec.min_households, spec.max_households, spec.seed
    );
    let street = generate::street(&spec);
    let n_records: u64 = street.iter().map(|c| c.n_records() as u64).sum();
    let per_ledger: Vec<String> = lianfang_proto::kinds::Kind::with_ledger()
        .map(|(kind, ledger)| {
            let n: usize = street.iter().map(|c| c.n_of(kind)).sum();
            format!("{n} {}", ledger.name)
        })
        .collect();
    eprintln!("  {n_records} records: {}", per_ledger.join(", "));

    let hub_dir = root.join("hub");
    let mut tokens = Vec::with_capacity(street.len());
    {
        let mut hub = HubStore::open_or_create(&hub_dir)?;
        for compound in &street {
            tokens.push(hub.enroll(&compound.code, Some(&compound.name))?);
        }
    }
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server_dir = hub_dir.clone();
    let server = tokio::spawn(async move {
        lianfang_hub::server::run(listener, &server_dir, false, async {
            let _ = stopped.await;
        })
        .await
    });
    eprintln!("hub listening on {addr}");

    // One link per compound, each with its own faults.
    let mut links = Vec::with_capacity(street.len());
    for i in 0..street.len() {
        let profile = if options.poor_links {
            LinkProfile::mobile(spec.seed ^ (i as u64 + 1))
        } else {
            LinkProfile::perfect()
        };
        links.push(Arc::new(FaultLink::start(addr, profile).await?));
    }
    if options.poor_links {
        eprintln!(
            "each node syncs over its own poor link: ~80 ms latency, 2 Mbit/s, a cut every ~400 kB"
        );
    }

    let tally = Arc::new(Tally::default());
    let progress = spawn_progress(
        Arc::clone(&tally),
        links.clone(),
        street.len() as u64,
        n_records,
    );
    let imports = Arc::new(Semaphore::new(options.parallel.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for (i, (compound, token)) in street.iter().cloned().zip(tokens).enumerate() {
        let dir = root.join("nodes").join(&compound.code);
        let hub_url = links[i].url();
        let imports = Arc::clone(&imports);
        let tally = Arc::clone(&tally);
        tasks.spawn(async move {
            let report = run_node(
                &compound,
                &dir,
                &hub_url,
                &token,
                i % 2 == 1,
                &imports,
                &tally,
            )
            .await?;
            anyhow::Ok((compound.code, report))
        });
    }
    let mut resends = 0;
    while let Some(joined) = tasks.join_next().await {
        let (_, report) = joined??;
        resends += u64::from(report.sessions.saturating_sub(1));
        tally.synced.fetch_add(1, Ordering::Relaxed);
    }
    progress.abort();
    eprintln!();

    // Down the other log: the day's notice, then every compound's receipt.
    let notice = HubStore::open_or_create(&hub_dir)?.send_notice(
        pb::Notice {
            title: "今日提示".into(),
            body: "严格落实小区出入管理、测温和返沪人员登记；隔离户生活保障到位。".into(),
            priority: pb::Priority::High as i32,
            due: String::new(),
        },
        None,
    )?;
    let mut tasks = tokio::task::JoinSet::new();
    for compound in &street {
        let dir = root.join("nodes").join(&compound.code).join("data");
        let id = notice.to_string();
        tasks.spawn(async move {
            sync_once(&dir, &demo_sync_options(), |_| {}).await?;
            let ack_dir = dir.clone();
            tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
                let mut store = Store::open(&ack_dir)?;
                lianfang_node::directives::ack(&mut store, &id, "已收到")?;
                Ok(())
            })
            .await??;
            sync_once(&dir, &demo_sync_options(), |_| {}).await?;
            anyhow::Ok(())
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined??;
    }
    let hub = HubStore::open_read_only(&hub_dir)?;
    let status = hub.directive_status(notice)?;
    let delivered = status
        .targets
        .iter()
        .filter(|t| t.delivered_at.is_some())
        .count();
    let acked = status
        .targets
        .iter()
        .filter(|t| t.acked_at.is_some())
        .count();

    let table = hub.table(date)?;
    let log = hub.day_log_beside(&table)?;
    let mut mismatched = Vec::new();
    for (row, log_row) in table.compounds.iter().zip(&log.compounds) {
        let store = Store::open(&root.join("nodes").join(&row.code).join("data"))?;
        let config = store.table_config()?;
        let own = store.table(date, &config)?;
        let own_log = store.day_log(date, &config, &own)?;
        if own != row.counts || own_log != log_row.log || row.digests_agree != Some(true) {
            mismatched.push(row.code.clone());
        }
    }
    drop(hub);
    let _ = stop.send(());
    server.await??;
    let link_totals = links.iter().fold(LinkStats::default(), |mut sum, link| {
        let s = link.stats();
        sum.up_bytes += s.up_bytes;
        sum.down_bytes += s.down_bytes;
        sum.connections += s.connections;
        sum.cuts += s.cuts;
        sum.refused += s.refused;
        sum
    });

    lianfang_hub::out!("{}", report::render(&table, options.format));
    // The day's log beside the table, as the meeting reads both (with JSON
    // or CSV on stdout, only the table, so stdout stays one document).
    if options.format == Format::Text {
        lianfang_hub::out!(
            "\n{}",
            report::render_log(&report::LogReport::live(log), options.format)
        );
    }
    eprintln!(
        "{} compounds, {n_records} records in {:.1?}; links carried {:.1} MB up, {:.1} MB down; \
         {} cuts, {resends} resumed sessions",
        table.compounds.len(),
        started.elapsed(),
        link_totals.up_bytes as f64 / 1e6,
        link_totals.down_bytes as f64 / 1e6,
        link_totals.cuts,
    );
    eprintln!(
        "daily notice #{notice}: delivered to {delivered}/{n}, acknowledged by {acked}/{n}",
        n = status.targets.len()
    );
    let n = table.compounds.len();
    // The verdict ends stdout under the text table; with JSON or CSV on
    // stdout it goes to stderr, so stdout stays parseable.
    let verdict = if mismatched.is_empty() {
        format!(
            "hub equals what the compounds hold: yes — digests agree for {n}/{n} compounds, \
             and each compound's own table and log equal its rows"
        )
    } else {
        format!(
            "hub equals what the compounds hold: NO — differs for {} of {n}: {}",
            mismatched.len(),
            mismatched.join(", ")
        )
    };
    if options.format == Format::Text {
        lianfang_hub::outln!("{verdict}");
    } else {
        eprintln!("{verdict}");
    }
    Ok(DemoOutcome {
        table,
        mismatched,
        links: link_totals,
    })
}

/// Sync options for a node on a poor link: generous retries.
fn demo_sync_options() -> SyncOptions {
    SyncOptions {
        attempts: 60,
        backoff_base: Duration::from_millis(200),
        backoff_max: Duration::from_secs(3),
        call_timeout: Duration::from_secs(20),
        ..SyncOptions::default()
    }
}

/// Prints a progress line every second until aborted.
fn spawn_progress(
    tally: Arc<Tally>,
    links: Vec<Arc<FaultLink>>,
    n_compounds: u64,
    n_records: u64,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let started = Instant::now();
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let (up, down, cuts) = links.iter().fold((0, 0, 0), |(u, d, c), link| {
                let s = link.stats();
                (u + s.up_bytes, d + s.down_bytes, c + s.cuts)
            });
            eprint!(
                "\r[{:>4.0}s] imported {}/{n_compounds} ({} records) · synced {}/{n_compounds} \
                 · at hub {}/{n_records} · up {:.1} MB down {:.1} MB · cuts {cuts} · sessions {}   ",
                started.elapsed().as_secs_f64(),
                tally.imported.load(Ordering::Relaxed),
                tally.records.load(Ordering::Relaxed),
                tally.synced.load(Ordering::Relaxed),
                tally.at_hub.load(Ordering::Relaxed),
                up as f64 / 1e6,
                down as f64 / 1e6,
                tally.sessions.load(Ordering::Relaxed),
            );
        }
    })
}

/// Sets up one compound's node, imports its ledger (as CSV or xlsx, as
/// compounds keep them) and syncs it.
async fn run_node(
    compound: &CompoundLedger,
    dir: &Path,
    hub_url: &str,
    token: &str,
    as_xlsx: bool,
    imports: &Semaphore,
    tally: &Tally,
) -> anyhow::Result<SyncReport> {
    let node_dir = dir.join("data");
    {
        let _permit = imports.acquire().await?;
        let ledger_dir = dir.join("ledger");
        let (compound, hub_url, token) = (compound.clone(), hub_url.to_owned(), token.to_owned());
        let import_dir = node_dir.clone();
        let records = tokio::task::spawn_blocking(move || -> anyhow::Result<u64> {
            std::fs::create_dir_all(&ledger_dir)?;
            let files = if as_xlsx {
                let path = ledger_dir.join("ledger.xlsx");
                compound.write_xlsx(&path)?;
                vec![path]
            } else {
                compound.write_csv(&ledger_dir)?
            };
            lianfang_node::init(&import_dir, &compound.code, &hub_url, &token)?;
            let mut store = Store::open(&import_dir)?;
            let summary = lianfang_node::import::import_files(
                &mut store,
                &files,
                lianfang_node::today(),
                lianfang_node::now_ms(),
            )
            .with_context(|| format!("importing the ledger of {}", compound.code))?;
            Ok(summary.written() as u64)
        })
        .await??;
        tally.imported.fetch_add(1, Ordering::Relaxed);
        tally.records.fetch_add(records, Ordering::Relaxed);
    }
    let mut last = 0;
    let report = sync_once(&node_dir, &demo_sync_options(), |p| {
        if p.cursor > last {
            tally.at_hub.fetch_add(p.cursor - last, Ordering::Relaxed);
            last = p.cursor;
        }
    })
    .await?;
    tally
        .sessions
        .fetch_add(u64::from(report.sessions), Ordering::Relaxed);
    Ok(report)
}
