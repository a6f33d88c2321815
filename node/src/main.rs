//! `lianfang-node`: a compound office's node.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use lianfang_node::app::{NodeApp, Reveal};
use lianfang_node::directives;
use lianfang_node::page::{Page, PageOptions};
use lianfang_node::sync::{Progress, SyncOptions, SyncReport, sync_once};
use lianfang_node::worker::{Event, OutboxWorker, WorkerOptions};
use lianfang_node::{out, outln};
use lianfang_proto::Kind;
use lianfang_proto::log::KEYS;
use lianfang_proto::table::COLUMNS;

/// Lianfang compound node: keeps this compound's records (households,
/// persons, isolations) in a local SQLite file, usable with no link, and
/// syncs them to the street hub whenever the link allows.
#[derive(Debug, Parser)]
#[command(name = "lianfang-node", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Set up a new node for a compound (once per data directory).
    Init {
        /// Node data directory (created).
        #[arg(long, env = "LIANFANG_NODE_DATA")]
        data: PathBuf,
        /// Compound code the hub enrolled, e.g. HM001.
        #[arg(long)]
        compound: String,
        /// Hub address, e.g. http://10.0.0.5:7700.
        #[arg(long)]
        hub: String,
        /// Token printed by `lianfang-hub enroll`.
        #[arg(long, env = "LIANFANG_TOKEN")]
        token: String,
    },
    /// Import ledger files: households.csv persons.csv isolations.csv (any
    /// subset, in any order), or one .xlsx with a sheet per kind. All or
    /// nothing: a bad row is reported with file, row and column.
    Import {
        #[arg(long, env = "LIANFANG_NODE_DATA")]
        data: PathBuf,
        /// Ledger files (.csv or .xlsx).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Send local changes to the hub and fetch what it sent (a day's change
    /// is one round trip; a backlog goes in batches).
    Sync {
        #[arg(long, env = "LIANFANG_NODE_DATA")]
        data: PathBuf,
        /// Sync once and exit: 0 when the hub has everything, 1 when the
        /// link failed (run again to resume), 3 when the hub refused.
        #[arg(long)]
        once: bool,
        /// Seconds between syncs when running continuously (until Ctrl-C or
        /// SIGTERM; a failed sync is retried sooner, with backoff).
        #[arg(long, default_value_t = 30)]
        interval: u64,
        /// Entries in the first batch (adapts to the link afterwards).
        #[arg(long, default_value_t = 2000)]
        batch_size: usize,
        /// Deadline of each call, in seconds.
        #[arg(long, default_value_t = 30)]
        timeout: u64,
        /// Sessions to try before giving up (with backoff and jitter between).
        #[arg(long, default_value_t = 4)]
        attempts: u32,
    },
    /// Show sync status: pending changes, last success, last error.
    Status {
        #[arg(long, env = "LIANFANG_NODE_DATA")]
        data: PathBuf,
        #[arg(long, value_enum, default_value_t = OutFormat::Text)]
        format: OutFormat,
    },
    /// Show this compound's own daily table (its local view).
    Table {
        #[arg(long, env = "LIANFANG_NODE_DATA")]
        data: PathBuf,
        /// Date, YYYY-MM-DD (default: today, China time).
        #[arg(long)]
        date: Option<String>,
        #[arg(long, value_enum, default_value_t = OutFormat::Text)]
        format: OutFormat,
    },
    /// Print the compound's own daily log (日志) for a date.
    Log {
        #[arg(long, env = "LIANFANG_NODE_DATA")]
        data: PathBuf,
        /// Date, YYYY-MM-DD (default: today, China time).
        #[arg(long)]
        date: Option<String>,
        #[arg(long, value_enum, default_value_t = OutFormat::Text)]
        format: OutFormat,
    },
    /// List what the hub has sent this compound: notices, tasks, problems, configuration.
    Directives {
        #[arg(long, env = "LIANFANG_NODE_DATA")]
        data: PathBuf,
        #[arg(long, value_enum, default_value_t = OutFormat::Text)]
        format: OutFormat,
    },
    /// Acknowledge a directive (read and understood), optionally with a response.
    Ack {
        #[arg(long, env = "LIANFANG_NODE_DATA")]
        data: PathBuf,
        /// Directive id, as listed by `directives`.
        id: String,
        #[arg(long, default_value = "")]
        response: String,
    },
    /// List the entries of verification tasks and their answers (phones
    /// masked unless --unmasked, which is recorded in the node's audit log).
    Tasks {
        #[arg(long, env = "LIANFANG_NODE_DATA")]
        data: PathBuf,
        #[arg(long, value_enum, default_value_t = OutFormat::Text)]
        format: OutFormat,
        /// Show phones in full (audited).
        #[arg(long)]
        unmasked: bool,
    },
    /// Answer one entry of a verification task.
    Answer {
        #[arg(long, env = "LIANFANG_NODE_DATA")]
        data: PathBuf,
        /// Task id.
        task: String,
        /// Entry id within the task.
        entry: String,
        /// registered (found and registered), unregistered (found, not yet
        /// registered), not-living-here, or other.
        #[arg(long)]
        result: String,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// List problems to rectify sent to this compound.
    Problems {
        #[arg(long, env = "LIANFANG_NODE_DATA")]
        data: PathBuf,
        #[arg(long, value_enum, default_value_t = OutFormat::Text)]
        format: OutFormat,
    },
    /// Report a problem fixed, with a note of what was done.
    Fix {
        #[arg(long, env = "LIANFANG_NODE_DATA")]
        data: PathBuf,
        /// Problem id.
        id: String,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Write pending changes to a file for the street office (a USB stick):
    /// the link of last resort. The hub applies it with `import-bundle`.
    ExportBundle {
        #[arg(long, env = "LIANFANG_NODE_DATA")]
        data: PathBuf,
        /// Bundle file to write.
        file: PathBuf,
    },
    /// Serve the compound office's page (large type, works without
    /// JavaScript) and run the sync worker beside it: every change made on
    /// the page goes up at once, and on an interval, with backoff while the
    /// link is down; the page never waits for the link. Prints
    /// `page: http://HOST:PORT/` when ready; Ctrl-C or SIGTERM stops it
    /// after the write in progress.
    Serve {
        #[arg(long, env = "LIANFANG_NODE_DATA")]
        data: PathBuf,
        /// Address to listen on. The page shows personal data, so it
        /// listens on loopback (127.0.0.1) unless --allow-remote is given;
        /// port 0 picks a free port.
        #[arg(long, default_value = "127.0.0.1:7780")]
        listen: std::net::SocketAddr,
        /// Let the page listen off loopback (e.g. 0.0.0.0:7780 for the
        /// office's other PCs). Anyone who can reach it sees the compound's
        /// records: use it only on the office's own network.
        #[arg(long)]
        allow_remote: bool,
        /// Seconds between syncs when nothing is written (a write syncs at
        /// once; a failed sync is retried sooner, with backoff).
        #[arg(long, default_value_t = 30)]
        interval: u64,
        /// Deadline of each call to the hub, in seconds.
        #[arg(long, default_value_t = 30)]
        timeout: u64,
    },
    /// Delete records (a tombstone that syncs to the hub like any change).
    Delete {
        #[arg(long, env = "LIANFANG_NODE_DATA")]
        data: PathBuf,
        /// household, person or isolation.
        #[arg(long)]
        kind: String,
        /// Ids to delete.
        #[arg(required = true)]
        ids: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OutFormat {
    Json,
    Text,
}

fn parse_date(s: &str) -> anyhow::Result<chrono::NaiveDate> {
    chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .with_context(|| format!("--date {s:?} is not a date in the form YYYY-MM-DD"))
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // Every command reads the node's clock: a malformed offset stops here.
    lianfang_node::check_clock()?;
    match cli.command {
        Command::Init {
            data,
            compound,
            hub,
            token,
        } => {
            let (_, identity) = NodeApp::init(&data, &compound, &hub, &token)?;
            outln!(
                "node {} ready for compound {} in {}; syncs to {}",
                identity.node_id,
                identity.compound,
                data.display(),
                identity.hub
            );
        }
        Command::Import { data, files } => {
            let summary = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
                Ok(NodeApp::open(&data)?.import(&files)?)
            })
            .await??;
            out!("{summary}");
        }
        Command::Sync {
            data,
            once,
            interval,
            batch_size,
            timeout,
            attempts,
        } => {
            let options = SyncOptions {
                batch_size,
                call_timeout: Duration::from_secs(timeout.max(1)),
                attempts,
                ..SyncOptions::default()
            };
            if once {
                return sync_once_command(&data, &options).await;
            }
            sync_command(&data, options, Duration::from_secs(interval.max(1))).await?;
        }
        Command::Status { data, format } => {
            let status = NodeApp::open(&data)?.status()?;
            match format {
                OutFormat::Json => outln!("{}", serde_json::to_value(&status)?),
                OutFormat::Text => {
                    outln!("compound      {}", status.compound);
                    outln!("node          {}", status.node_id);
                    outln!("hub           {}", status.hub);
                    outln!(
                        "pending       {} change(s) (ledger log head {}, hub has {})",
                        status.pending,
                        status.head,
                        status.acked
                    );
                    outln!(
                        "last success  {}",
                        status.last_success.as_deref().unwrap_or("never")
                    );
                    outln!(
                        "last error    {}",
                        status.last_error.as_deref().unwrap_or("none")
                    );
                }
            }
        }
        Command::Table { data, date, format } => {
            let app = NodeApp::open(&data)?;
            let date = date.as_deref().map(parse_date).transpose()?;
            let table = app.table(date)?;
            match format {
                OutFormat::Json => outln!("{}", table.to_json()?),
                OutFormat::Text => {
                    outln!("{} 日表 {}", table.compound, table.date.format("%Y-%m-%d"));
                    for ((key, zh), value) in COLUMNS.iter().zip(table.counts.values()) {
                        outln!("{zh}\t{key:<22}\t{value}");
                    }
                }
            }
        }
        Command::Log { data, date, format } => {
            let app = NodeApp::open(&data)?;
            let date = date.as_deref().map(parse_date).transpose()?;
            let log = app.log(date)?;
            match format {
                OutFormat::Json => outln!("{}", log.to_json()?),
                OutFormat::Text => {
                    outln!("{} 日志 {}", log.compound, log.date.format("%Y-%m-%d"));
                    for ((key, zh), value) in KEYS.iter().zip(log.log.values()) {
                        outln!("{zh}\t{key:<24}\t{value}");
                    }
                }
            }
        }
        Command::Directives { data, format } => {
            let received = NodeApp::open(&data)?.directives()?;
            match format {
                OutFormat::Json => outln!("{}", serde_json::to_string_pretty(&received)?),
                OutFormat::Text if received.is_empty() => outln!("nothing received yet"),
                OutFormat::Text => {
                    for d in received {
                        let state = match &d.acked_at {
                            Some(at) => format!("acknowledged {at}"),
                            None => "NOT acknowledged".to_owned(),
                        };
                        let high = if d.priority == "high" { " [HIGH]" } else { "" };
                        outln!("#{} {}{high} {} ({state})", d.id, d.kind, d.title);
                        if !d.body.is_empty() {
                            outln!("    {}", d.body);
                        }
                    }
                }
            }
        }
        Command::Ack { data, id, response } => {
            NodeApp::open(&data)?.ack(&id, &response)?;
            outln!("acknowledged directive {id}; it reaches the hub at the next sync");
        }
        Command::Tasks {
            data,
            format,
            unmasked,
        } => {
            let entries = NodeApp::open(&data)?.tasks(Reveal::from_flag(unmasked))?;
            match format {
                OutFormat::Json => outln!("{}", serde_json::to_string_pretty(&entries)?),
                OutFormat::Text if entries.is_empty() => outln!("no verification tasks"),
                OutFormat::Text => {
                    for e in entries {
                        outln!(
                            "task {} entry {}: {} {} {} ({}) -> {}",
                            e.task,
                            e.entry_id,
                            e.name,
                            e.phone,
                            e.address,
                            e.reason,
                            e.result.unwrap_or("OUTSTANDING")
                        );
                    }
                }
            }
        }
        Command::Answer {
            data,
            task,
            entry,
            result,
            note,
        } => {
            let parsed = directives::parse_result(&result).with_context(|| {
                format!(
                    "--result {result:?} is not one of registered, unregistered, not-living-here, other"
                )
            })?;
            NodeApp::open(&data)?.answer(&task, &entry, parsed, &note)?;
            outln!("answered task {task} entry {entry}; it reaches the hub at the next sync");
        }
        Command::Problems { data, format } => {
            let problems = NodeApp::open(&data)?.problems()?;
            match format {
                OutFormat::Json => outln!("{}", serde_json::to_string_pretty(&problems)?),
                OutFormat::Text if problems.is_empty() => outln!("no problems to rectify"),
                OutFormat::Text => {
                    for p in problems {
                        let state = match &p.fixed_at {
                            Some(at) => format!("fixed {at}"),
                            None => "OPEN".to_owned(),
                        };
                        outln!(
                            "#{} {} @ {} (found {}) {state}",
                            p.id,
                            p.what,
                            p.location,
                            p.found_on
                        );
                    }
                }
            }
        }
        Command::Fix { data, id, note } => {
            NodeApp::open(&data)?.fix(&id, &note)?;
            outln!("problem {id} reported fixed; it reaches the hub at the next sync");
        }
        Command::ExportBundle { data, file } => {
            let summary = NodeApp::open(&data)?.export_bundle(&file)?;
            outln!(
                "wrote {} change(s) ({} urgent) to {} ({} bytes); take it to the street office \
                 for `lianfang-hub import-bundle`",
                summary.bulk + summary.urgent,
                summary.urgent,
                file.display(),
                summary.bytes
            );
        }
        Command::Serve {
            data,
            listen,
            allow_remote,
            interval,
            timeout,
        } => {
            let options = PageOptions {
                listen,
                allow_remote,
                worker: WorkerOptions::every(
                    Duration::from_secs(interval.max(1)),
                    SyncOptions {
                        call_timeout: Duration::from_secs(timeout.max(1)),
                        ..SyncOptions::default()
                    },
                ),
            };
            lianfang_node::page::check_listen(&options)?;
            let page = Page::bind(NodeApp::open(&data)?, options).await?;
            outln!("page: {}", page.url());
            lianfang_node::out::flush()?;
            page.run(shutdown_signal()).await?;
        }
        Command::Delete { data, kind, ids } => {
            let kind = Kind::parse(&kind).with_context(|| {
                format!("--kind {kind:?} is not one of {}", Kind::typed_names())
            })?;
            let summary = NodeApp::open(&data)?.delete(kind, &ids)?;
            out!("{summary}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `sync --once`: one sync; exit 0 caught up, 1 link failed, 3 refused.
async fn sync_once_command(data: &Path, options: &SyncOptions) -> anyhow::Result<ExitCode> {
    match sync_once(data, options, print_progress).await {
        Ok(report) => {
            print_report(&report)?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(e.exit_code()))
        }
    }
}

/// `sync` without `--once`: the sync worker until Ctrl-C or SIGTERM (then
/// the sync in progress finishes), or until the hub refuses this node.
async fn sync_command(data: &Path, options: SyncOptions, interval: Duration) -> anyhow::Result<()> {
    let worker = OutboxWorker::new(
        data,
        WorkerOptions {
            stop_on_refusal: true,
            ..WorkerOptions::every(interval, options)
        },
    );
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let stop = std::sync::Arc::new(stop);
    let signalled = std::sync::Arc::clone(&stop);
    tokio::spawn(async move {
        shutdown_signal().await;
        signalled.send_replace(true);
    });
    // Output that cannot be written (a closed pipe) stops the worker too.
    let mut write_error = None;
    worker
        .run(shutdown, |event| match event {
            Event::Progress(p) => print_progress(p),
            Event::Synced(report) => {
                if let Err(e) = print_report(report) {
                    write_error.get_or_insert(e);
                    stop.send_replace(true);
                }
            }
            Event::Failed { error, .. } => eprintln!("sync failed, will retry: {error}"),
        })
        .await?;
    match write_error {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

fn print_progress(p: Progress) {
    if p.head > p.cursor {
        eprintln!("sync: hub has {}/{} entries", p.cursor, p.head);
    }
}

fn print_report(report: &SyncReport) -> std::io::Result<()> {
    outln!(
        "caught up: hub has all {} entries (sent {} in {} batch(es), {} new); \
         received {} directive(s), {} in all",
        report.head,
        report.sent,
        report.batches,
        report.applied,
        report.received,
        report.down_cursor
    );
    match report.digests_agree {
        Some(true) if report.repaired > 0 => outln!(
            "hub and node agree (digests) after resending {} record(s)",
            report.repaired
        ),
        Some(true) => outln!("hub and node agree (digests)"),
        _ => eprintln!(
            "warning: the hub's records still differ from this node's after \
             resending {} record(s); see the hub's table (digests_agree)",
            report.repaired
        ),
    }
    Ok(())
}

/// Resolves at Ctrl-C or SIGTERM.
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

// One thread, and one for blocking work: a node does one thing at a time
// (its store is one connection behind a lock), and every thread that
// allocates keeps an allocator arena holding memory (with a blocking pool
// of many threads, `serve` held twice the memory after a day's pages).
fn main() -> ExitCode {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(1)
        .build()
    {
        Ok(runtime) => runtime.block_on(async_main()),
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            ExitCode::from(2)
        }
    }
}

async fn async_main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LIANFANG_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    // Output into a closed pipe (`… | head`) ends the command quietly, exit 0.
    let result = run(Cli::parse())
        .await
        .and_then(|code| Ok(lianfang_node::out::flush().map(|()| code)?));
    match result {
        Ok(code) => code,
        Err(e) if lianfang_node::out::is_broken_pipe(&*e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
