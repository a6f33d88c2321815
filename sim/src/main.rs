//! `lianfang`: the world around the product, for a look at it working:
//! `lianfang demo` runs a generated street, a hub and one node per compound
//! over poor links on loopback. The generator and the fault link it uses
//! live in this crate too, so the production binaries carry none of it.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use lianfang_hub::report::Format;

/// Lianfang's demo: a whole street synced over poor links on this machine.
#[derive(Debug, Parser)]
#[command(name = "lianfang", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The main job: a generated street (167 compounds of 300–2,600
    /// households by default), a hub and one node per compound on loopback,
    /// each node behind its own poor link; ledger import, sync, the day's
    /// notice down and receipts back, then the daily table and whether the
    /// hub equals what the compounds hold.
    Demo {
        /// Compounds in the street.
        #[arg(long, default_value_t = 167)]
        compounds: usize,
        /// Small compounds (80–400 households) for a quick run.
        #[arg(long)]
        small: bool,
        /// Generator seed (same seed, same street).
        #[arg(long, default_value_t = 2020)]
        seed: u64,
        /// Keep hub and node data here instead of a temporary directory.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Ledger imports at once.
        #[arg(long, default_value_t = 2)]
        parallel: usize,
        /// Plain loopback instead of a poor link per node.
        #[arg(long)]
        perfect_links: bool,
        /// Output format of the table.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Demo {
            compounds,
            small,
            seed,
            data,
            parallel,
            perfect_links,
            format,
        } => {
            anyhow::ensure!(
                (1..=999).contains(&compounds),
                "--compounds must be 1 to 999"
            );
            let outcome = lianfang_sim::demo::run(lianfang_sim::demo::DemoOptions {
                compounds,
                small,
                seed,
                data,
                format,
                parallel,
                poor_links: !perfect_links,
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
    let cli = Cli::parse();
    // The demo counts its retries and shows them in its progress line;
    // per-node warnings would only garble it.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LIANFANG_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run(cli)
        .await
        .and_then(|code| Ok(lianfang_hub::out::flush().map(|()| code)?))
    {
        Ok(code) => code,
        // `lianfang demo | head`: the reader has what it wanted.
        Err(e) if lianfang_hub::out::is_broken_pipe(&*e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
