//! `lianfang-node`: a compound office's node.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use lianfang_node::directives;
use lianfang_node::store::{Change, Store};
use lianfang_node::sync::{SyncError, SyncOptions, sync_once};
use lianfang_node::{out, outln};
use lianfang_proto::Kind;
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
        /// Seconds between syncs when running continuously.
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
    match cli.command {
        Command::Init {
            data,
            compound,
            hub,
            token,
        } => {
            let identity = lianfang_node::init(&data, &compound, &hub, &token)?;
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
                let mut store = Store::open(&data)?;
                Ok(lianfang_node::import::import_files(
                    &mut store,
                    &files,
                    lianfang_node::today(),
                    lianfang_node::now_ms(),
                )?)
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
            loop {
                match sync_once(&data, &options, |p| {
                    if p.head > p.cursor {
                        eprintln!("sync: hub has {}/{} entries", p.cursor, p.head);
                    }
                })
                .await
                {
                    Ok(report) => {
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
                    }
                    Err(e) if once => {
                        eprintln!("error: {e}");
                        return Ok(match e {
                            SyncError::Link { .. } => ExitCode::from(1),
                            _ => ExitCode::from(3),
                        });
                    }
                    Err(e @ (SyncError::Refused(_) | SyncError::Down(_))) => return Err(e.into()),
                    Err(e) => eprintln!("sync failed, will retry: {e}"),
                }
                if once {
                    break;
                }
                tokio::time::sleep(Duration::from_secs(interval.max(1))).await;
            }
        }
        Command::Status { data, format } => {
            let store = Store::open(&data)?;
            let identity = store.identity()?;
            let head = store.head()?;
            let acked = store.acked()?;
            let pending = store.pending()?;
            let last_success = store.optional_meta("last_success")?;
            let last_error = store.optional_meta("last_error")?;
            match format {
                OutFormat::Json => outln!(
                    "{}",
                    serde_json::json!({
                        "compound": identity.compound,
                        "node_id": identity.node_id,
                        "hub": identity.hub,
                        "head": head,
                        "acked": acked,
                        "pending": pending,
                        "last_success": last_success,
                        "last_error": last_error,
                    })
                ),
                OutFormat::Text => {
                    outln!("compound      {}", identity.compound);
                    outln!("node          {}", identity.node_id);
                    outln!("hub           {}", identity.hub);
                    outln!(
                        "pending       {pending} change(s) (ledger log head {head}, hub has {acked})"
                    );
                    outln!(
                        "last success  {}",
                        last_success.as_deref().unwrap_or("never")
                    );
                    outln!("last error    {}", last_error.as_deref().unwrap_or("none"));
                }
            }
        }
        Command::Table { data, date, format } => {
            let store = Store::open(&data)?;
            let date = date
                .as_deref()
                .map(parse_date)
                .transpose()?
                .unwrap_or_else(lianfang_node::today);
            let counts = store.table(date, &store.table_config()?)?;
            let compound = store.identity()?.compound;
            match format {
                OutFormat::Json => {
                    let mut value = serde_json::to_value(counts)?;
                    value["compound"] = compound.into();
                    value["date"] = date.format("%Y-%m-%d").to_string().into();
                    outln!("{value}");
                }
                OutFormat::Text => {
                    outln!("{compound} 日表 {}", date.format("%Y-%m-%d"));
                    for ((key, zh), value) in COLUMNS.iter().zip(counts.values()) {
                        outln!("{zh}\t{key:<22}\t{value}");
                    }
                }
            }
        }
        Command::Directives { data, format } => {
            let received = directives::received(&Store::open(&data)?)?;
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
            directives::ack(&mut Store::open(&data)?, &id, &response)?;
            outln!("acknowledged directive {id}; it reaches the hub at the next sync");
        }
        Command::Tasks {
            data,
            format,
            unmasked,
        } => {
            let store = Store::open(&data)?;
            let privacy = if unmasked {
                store.audit("unmasked_output", "task entries shown with phones unmasked")?;
                lianfang_proto::mask::Privacy::Unmasked
            } else {
                lianfang_proto::mask::Privacy::Masked
            };
            let mut entries = directives::tasks(&store)?;
            for entry in &mut entries {
                entry.phone = privacy.phone(&entry.phone);
            }
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
            directives::answer_entry(&mut Store::open(&data)?, &task, &entry, parsed, &note)?;
            outln!("answered task {task} entry {entry}; it reaches the hub at the next sync");
        }
        Command::Problems { data, format } => {
            let problems = directives::problems(&Store::open(&data)?)?;
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
            directives::fix(&mut Store::open(&data)?, &id, &note)?;
            outln!("problem {id} reported fixed; it reaches the hub at the next sync");
        }
        Command::ExportBundle { data, file } => {
            let summary = lianfang_node::export_bundle(&data, &file)?;
            outln!(
                "wrote {} change(s) ({} urgent) to {} ({} bytes); take it to the street office \
                 for `lianfang-hub import-bundle`",
                summary.bulk + summary.urgent,
                summary.urgent,
                file.display(),
                summary.bytes
            );
        }
        Command::Delete { data, kind, ids } => {
            let kind = Kind::parse(&kind).with_context(|| {
                format!("--kind {kind:?} is not one of {}", Kind::typed_names())
            })?;
            let mut store = Store::open(&data)?;
            let mut missing = Vec::new();
            for id in &ids {
                if store.get(kind, id)?.is_none_or(|r| r.deleted) {
                    missing.push(id.as_str());
                }
            }
            anyhow::ensure!(
                missing.is_empty(),
                "no live {} with id {}; nothing deleted",
                kind.name(),
                missing.join(", ")
            );
            let summary = store.write(
                ids.iter().map(|id| Change {
                    kind,
                    id: id.clone(),
                    body: None,
                }),
                lianfang_node::now_ms(),
            )?;
            out!("{summary}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

// One thread: a node does one thing at a time, and fewer threads keep
// fewer allocator arenas holding memory between syncs.
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
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
