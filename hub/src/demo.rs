//! The main job: a generated street, a hub and one node per compound on
//! loopback, each node importing its ledger and syncing over real gRPC; then
//! the daily table, and whether the hub equals what the compounds hold.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use lianfang_node::generate::{self, CompoundLedger, StreetSpec};
use lianfang_node::store::Store;
use lianfang_node::sync::{SyncOptions, sync_once};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::report::{self, Format};
use crate::store::{HubStore, Table};

/// What the demo runs.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Compounds in the generated street.
    pub compounds: usize,
    /// Seed of the generator; the same seed gives the same street.
    pub seed: u64,
    /// Where hub and node data go; a temporary directory when `None`.
    pub data: Option<PathBuf>,
    /// How to print the table.
    pub format: Format,
    /// Nodes importing and syncing at once.
    pub parallel: usize,
}

/// What the demo found.
#[derive(Debug)]
pub struct DemoOutcome {
    pub table: Table,
    /// Compounds whose hub row differs from the node's own view.
    pub mismatched: Vec<String>,
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
    let mut spec = StreetSpec::demo(options.compounds);
    spec.seed = options.seed;
    let date = spec.today;
    eprintln!(
        "generating a street of {} compounds (seed {}) ...",
        spec.compounds, spec.seed
    );
    let street = generate::street(&spec);
    let n_records: usize = street
        .iter()
        .map(|c| c.households.len() + c.persons.len() + c.isolations.len())
        .sum();
    eprintln!("  {n_records} ledger rows");

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
        crate::server::run(listener, &server_dir, async {
            let _ = stopped.await;
        })
        .await
    });
    eprintln!("hub listening on {addr}");

    let hub_url = format!("http://{addr}");
    let gate = Arc::new(Semaphore::new(options.parallel.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for (i, (compound, token)) in street.into_iter().zip(tokens).enumerate() {
        let dir = root.join("nodes").join(&compound.code);
        let hub_url = hub_url.clone();
        let gate = Arc::clone(&gate);
        tasks.spawn(async move {
            let _permit = gate.acquire_owned().await?;
            let code = compound.code.clone();
            let sent = run_node(&compound, &dir, &hub_url, &token, i % 2 == 1).await?;
            anyhow::Ok((code, sent))
        });
    }
    let total = tasks.len();
    let mut done = 0;
    while let Some(joined) = tasks.join_next().await {
        let (code, sent) = joined??;
        done += 1;
        eprintln!("  [{done:>3}/{total}] {code} synced {sent} changes");
    }

    let table = HubStore::open_read_only(&hub_dir)?.table(date)?;
    let mut mismatched = Vec::new();
    for row in &table.compounds {
        let store = Store::open(&root.join("nodes").join(&row.code).join("data"))?;
        let own = store.table(date, &store.table_config()?)?;
        if own != row.counts {
            mismatched.push(row.code.clone());
        }
    }
    let _ = stop.send(());
    server.await??;

    print!("{}", report::render(&table, options.format));
    eprintln!(
        "{} compounds, {n_records} records synced over loopback in {:.1?}",
        table.compounds.len(),
        started.elapsed()
    );
    if mismatched.is_empty() {
        eprintln!("hub equals what the compounds hold: yes (all {total} compounds)");
    } else {
        eprintln!(
            "hub equals what the compounds hold: NO, differs for {}",
            mismatched.join(", ")
        );
    }
    Ok(DemoOutcome { table, mismatched })
}

/// Sets up one compound's node, imports its ledger (as CSV or xlsx, as
/// compounds keep them) and syncs it. Returns the changes sent.
async fn run_node(
    compound: &CompoundLedger,
    dir: &Path,
    hub_url: &str,
    token: &str,
    as_xlsx: bool,
) -> anyhow::Result<u64> {
    let ledger_dir = dir.join("ledger");
    std::fs::create_dir_all(&ledger_dir)?;
    let files = if as_xlsx {
        let path = ledger_dir.join("ledger.xlsx");
        compound.write_xlsx(&path)?;
        vec![path]
    } else {
        compound.write_csv(&ledger_dir)?
    };
    let node_dir = dir.join("data");
    let (code, hub_url, token) = (compound.code.clone(), hub_url.to_owned(), token.to_owned());
    let import_dir = node_dir.clone();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        lianfang_node::init(&import_dir, &code, &hub_url, &token)?;
        let mut store = Store::open(&import_dir)?;
        lianfang_node::import::import_files(
            &mut store,
            &files,
            lianfang_node::today(),
            lianfang_node::now_ms(),
        )
        .with_context(|| format!("importing the ledger of {code}"))?;
        Ok(())
    })
    .await??;
    let report = sync_once(&node_dir, &SyncOptions::default(), |_| {}).await?;
    Ok(report.sent)
}
