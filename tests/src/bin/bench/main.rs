//! Benchmark of Lianfang over the demo's generator at full scale
//! (`StreetSpec::full_street()`: 167 compounds, ~230k households, ~540k
//! persons, ~40k isolations, and the month of the compounds' day: ~720k
//! health checks, ~360k services, ~120k other records of the day; ~2.0M
//! records in eleven ledgers).
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

mod apply;
mod args;
mod city;
mod counted;
mod dashboard;
mod import;
mod incremental;
mod initial;
mod page;
mod procs;
mod real;
mod report;
mod rss;
mod table;
mod thin;
mod util;
mod world;

use args::*;
use procs::*;
use report::*;
use util::*;
use world::*;

/// What the sections share: the street, its ledgers, the hubs and nodes set
/// up once and measured by several sections, and the report.
#[derive(Debug)]
pub(crate) struct Ctx {
    pub(crate) args: Args,
    pub(crate) root: PathBuf,
    pub(crate) spec: StreetSpec,
    /// When measuring began (after any build of the release binaries).
    pub(crate) started: Instant,
    pub(crate) report: Report,
    /// Directory of the release binaries, when a section needs them.
    pub(crate) bins: Option<PathBuf>,
    pub(crate) street: Vec<CompoundLedger>,
    /// Each compound's CSV ledger files (day 0).
    pub(crate) files: Vec<Vec<PathBuf>>,
    pub(crate) n_records: u64,
    /// Index of the largest compound, by records.
    pub(crate) largest: usize,
    /// Set A: a hub in process, nodes straight to it.
    pub(crate) hub_a: Option<InProcessHub>,
    pub(crate) dirs_a: Vec<PathBuf>,
    /// Set B: a second hub in process, each node behind a counting link.
    pub(crate) set_b: Option<(InProcessHub, Vec<FaultLink>, Vec<PathBuf>)>,
    /// Section 4's apply-only rate (records/s), which section 8 compares
    /// the real binaries' hub CPU with.
    pub(crate) apply_rate: Option<f64>,
    /// Persons in the day-0 ledgers (`files`), before `incremental` edits
    /// the street in place.
    pub(crate) day0_persons: u64,
}

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
    let report = Report::default();
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
    let bins = if args.runs_any(&["rss", "table", "real", "dashboard", "page", "city"]) {
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

    let needs_street = args.runs_any(&[
        "initial",
        "incremental",
        "thin",
        "apply",
        "table",
        "rss",
        "real",
        "dashboard",
    ]);
    let mut street = Vec::new();
    let mut files = Vec::new();
    if needs_street {
        stage(started, "generating the street");
        let t = Instant::now();
        street = generate::street(&spec);
        if args.varied {
            street.iter_mut().for_each(generate::vary_origins);
        }
        if args.registers_only {
            street.iter_mut().for_each(generate::only_registers);
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
            "    {n} records in {}: {}",
            dur(t.elapsed()),
            per_ledger(&street)
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

    let day0_persons = street.iter().map(|c| c.persons.len() as u64).sum();
    let mut ctx = Ctx {
        args,
        root,
        spec,
        started,
        report,
        bins,
        street,
        files,
        n_records,
        largest,
        hub_a: None,
        dirs_a: Vec::new(),
        set_b: None,
        apply_rate: None,
        day0_persons,
    };
    initial::run(&mut ctx).await?;
    table::run(&mut ctx).await?;
    dashboard::run(&mut ctx).await?;
    counted::run(&mut ctx).await?;
    incremental::run(&mut ctx).await?;
    thin::run(&mut ctx).await?;
    apply::run(&mut ctx).await?;
    real::run(&mut ctx).await?;
    import::run(&mut ctx).await?;
    rss::run(&mut ctx).await?;
    page::run(&mut ctx).await?;
    city::run(&mut ctx).await?;
    let Ctx {
        args,
        spec,
        started,
        report,
        n_records,
        ..
    } = ctx;
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
