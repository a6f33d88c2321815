//! `lianfang-hub`: the street office's server and tools.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use lianfang_hub::report::{self, Format};
use lianfang_hub::store::HubStore;

/// Lianfang street hub: collects every compound's records over gRPC and
/// merges them into the daily population table (日表).
#[derive(Debug, Parser)]
#[command(name = "lianfang-hub", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Enrol a compound and print a new token for its node (last line of
    /// stdout). Enrolling a compound again revokes its earlier token.
    Enroll {
        /// Hub data directory (created if missing).
        #[arg(long, env = "LIANFANG_HUB_DATA")]
        data: PathBuf,
        /// Compound code, e.g. HM001 (letters, digits, '-', '_').
        #[arg(long)]
        compound: String,
        /// Compound name shown in the table, e.g. 联洋新苑.
        #[arg(long)]
        name: Option<String>,
    },
    /// Serve the sync service until interrupted (Ctrl-C or SIGTERM).
    Serve {
        /// Hub data directory (created if missing).
        #[arg(long, env = "LIANFANG_HUB_DATA")]
        data: PathBuf,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:7700")]
        listen: String,
    },
    /// Print the daily table for a date; safe while `serve` runs.
    Table {
        /// Hub data directory.
        #[arg(long, env = "LIANFANG_HUB_DATA")]
        data: PathBuf,
        /// Date of the table, YYYY-MM-DD (default: today, China time).
        #[arg(long)]
        date: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Run the whole path on a generated street: a hub and one node per
    /// compound on loopback, ledger import, sync, and the daily table.
    Demo {
        /// Compounds in the street.
        #[arg(long, default_value_t = 12)]
        compounds: usize,
        /// Generator seed (same seed, same street).
        #[arg(long, default_value_t = 2020)]
        seed: u64,
        /// Keep hub and node data here instead of a temporary directory.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Nodes importing and syncing at once.
        #[arg(long, default_value_t = 8)]
        parallel: usize,
        /// Output format of the table.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

fn parse_date(s: &str) -> anyhow::Result<chrono::NaiveDate> {
    chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .with_context(|| format!("--date {s:?} is not a date in the form YYYY-MM-DD"))
}

fn today() -> chrono::NaiveDate {
    (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive()
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let term = async {
            match term.as_mut() {
                Some(term) => {
                    term.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Enroll {
            data,
            compound,
            name,
        } => {
            let mut store = HubStore::open_or_create(&data)?;
            let token = store.enroll(&compound, name.as_deref())?;
            eprintln!(
                "enrolled {compound}; on the compound's PC run:\n  lianfang-node init --data DIR --compound {compound} --hub http://HUB:PORT --token <token below>"
            );
            println!("{token}");
        }
        Command::Serve { data, listen } => {
            let listener = tokio::net::TcpListener::bind(&listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            let addr = listener.local_addr()?;
            eprintln!("lianfang-hub serving {} on {addr}", data.display());
            lianfang_hub::server::run(listener, &data, shutdown_signal()).await?;
        }
        Command::Table { data, date, format } => {
            let date = date
                .as_deref()
                .map(parse_date)
                .transpose()?
                .unwrap_or_else(today);
            let table = HubStore::open_read_only(&data)?.table(date)?;
            print!("{}", report::render(&table, format));
        }
        Command::Demo {
            compounds,
            seed,
            data,
            parallel,
            format,
        } => {
            anyhow::ensure!(compounds > 0, "--compounds must be at least 1");
            let outcome = lianfang_hub::demo::run(lianfang_hub::demo::DemoOptions {
                compounds,
                seed,
                data,
                format,
                parallel,
            })
            .await?;
            if !outcome.mismatched.is_empty() {
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LIANFANG_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
