//! `lianfang-hub`: the street office's server and tools.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use lianfang_hub::app::{self, HubApp, Reveal, Role, SettingsChange};
use lianfang_hub::directives::TaskEntryStatus;
use lianfang_hub::export;
use lianfang_hub::meeting::{self, Cutoff};
use lianfang_hub::report::{self, Format};
use lianfang_hub::{out, outln};
use lianfang_proto::pb;

/// Lianfang street hub: collects every compound's records over gRPC and
/// merges them into the daily population table (日表).
#[derive(Debug, Parser)]
#[command(name = "lianfang-hub", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Keep the hub's store (records, logs, cursors, aggregates, users) in
    /// this PostgreSQL database instead of DIR/hub.db, e.g.
    /// postgresql://lianfang@127.0.0.1:5432/huamu. Give it to every
    /// command of that hub; TLS files and the link above stay in --data.
    #[arg(long, global = true, env = "LIANFANG_HUB_STORE", value_name = "URL")]
    store: Option<String>,
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
        /// The street official assigned to the compound (公务员对点联系),
        /// shown on its dashboard page.
        #[arg(long, value_name = "NAME")]
        liaison: Option<String>,
        /// The liaison official's phone.
        #[arg(long, value_name = "PHONE", requires = "liaison")]
        liaison_phone: Option<String>,
    },
    /// Serve the sync service until interrupted (Ctrl-C or SIGTERM).
    Serve {
        /// Hub data directory (created if missing).
        #[arg(long, env = "LIANFANG_HUB_DATA")]
        data: PathBuf,
        /// Address to listen on. Off loopback the hub always uses TLS with
        /// its own certificate (nodes pin its CA from their token).
        #[arg(long, default_value = "127.0.0.1:7700")]
        listen: String,
        /// Use TLS on loopback too (nodes then use https://; the dashboard
        /// too).
        #[arg(long)]
        tls: bool,
        /// Address of the street office's dashboard (web pages; log in with
        /// a user from `user add`). Port 0 picks a free port; the bound
        /// address is printed as `dashboard: http://HOST:PORT/`. Off
        /// loopback it uses TLS with the hub's certificate. Without this
        /// flag the default address is tried and skipped with a warning
        /// when taken.
        #[arg(long, value_name = "HOST:PORT")]
        web: Option<String>,
        /// Do not serve the dashboard.
        #[arg(long, conflicts_with = "web")]
        no_web: bool,
    },
    /// Dashboard users: add, list, remove, change a password. Passwords are
    /// read from stdin (never from a flag) and stored hashed (argon2).
    #[command(subcommand)]
    User(UserCommand),
    /// Print the daily table for a date; safe while `serve` runs. Once the
    /// date's snapshot exists, each row also shows what changed since the
    /// cut-off (`since_cutoff`).
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
        /// Print the date's snapshot taken at the meeting's cut-off instead
        /// of the live table (exit 2 when there is none).
        #[arg(long)]
        snapshot: bool,
        /// At a hub above streets (a district): list every compound of every
        /// street, as its street hub sent it, instead of one row per street
        /// (`member_of` names the street; the total is the same). Live only.
        #[arg(long, conflicts_with = "snapshot")]
        detail: bool,
    },
    /// Take the meeting's snapshot of today's table now, replacing an
    /// earlier one of today. `serve` takes it by itself at the cut-off
    /// (`config set --cutoff`) when none of today exists.
    Snapshot {
        /// Hub data directory.
        #[arg(long, env = "LIANFANG_HUB_DATA")]
        data: PathBuf,
    },
    /// Print the street's daily log (日志) for a date, with the clerk's
    /// note; safe while `serve` runs. `log note` writes the note.
    #[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
    Log {
        #[command(subcommand)]
        command: Option<LogCommand>,
        /// Hub data directory.
        #[arg(long, env = "LIANFANG_HUB_DATA", required = true)]
        data: Option<PathBuf>,
        /// Date of the log, YYYY-MM-DD (default: today, China time).
        #[arg(long)]
        date: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Print the date's log as the meeting's snapshot holds it (exit 2
        /// when there is none).
        #[arg(long)]
        snapshot: bool,
        /// At a hub above streets: every compound of every street, as
        /// `table --detail`. Live only.
        #[arg(long, conflicts_with = "snapshot")]
        detail: bool,
    },
    /// Export merged records (persons, households or isolations) as CSV or
    /// JSON. ID numbers, phones and names are masked unless --unmasked, which is
    /// written to the audit log.
    Export {
        #[arg(long, env = "LIANFANG_HUB_DATA")]
        data: PathBuf,
        #[arg(long, value_enum)]
        kind: lianfang_hub::export::ExportKind,
        /// Only this compound's records.
        #[arg(long)]
        compound: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Csv)]
        format: Format,
        /// Show ID numbers, phones and names in full (audited).
        #[arg(long)]
        unmasked: bool,
    },
    /// Set the level above this hub, once (a street's district, a district's
    /// city); without --hub and --token, show where the upward link stands.
    ///
    /// A street hub becomes a member of its district's hub (enrolled there
    /// with `lianfang-hub enroll --compound STREET_CODE`), a district's of
    /// its city's. Then `serve`
    /// also syncs upward in the background (a running one within seconds), and
    /// `sync-up --once` syncs once. What goes up: each compound's table and
    /// log per date (aggregates only, never a personal record), and what
    /// became of each directive passed down from above.
    Upstream {
        /// Hub data directory.
        #[arg(long, env = "LIANFANG_HUB_DATA")]
        data: PathBuf,
        /// Address of the hub above, e.g. https://district.example:7700
        /// (http:// only to a hub on this machine).
        #[arg(long, requires = "token")]
        hub: Option<String>,
        /// Token from `lianfang-hub enroll` at the hub above (its last line).
        #[arg(long, requires = "hub")]
        token: Option<String>,
        /// Dates sent up: today and the days before it, 1 to 62.
        #[arg(long, default_value_t = lianfang_hub::upstream::DEFAULT_DAYS)]
        days: u32,
        /// Seconds between `serve`'s upward syncs when nothing changed (a
        /// member's sync starts one within 10 s).
        #[arg(long, default_value_t = lianfang_hub::upstream::DEFAULT_INTERVAL_SECS)]
        interval: u64,
        /// Output format of the status (without --hub and --token).
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Sync with the level above (set by `upstream`) once, or until
    /// stopped.
    ///
    /// Passes on what came down to this hub's compounds, and sends the
    /// changed figures and the directives' roll-ups up.
    SyncUp {
        /// Hub data directory.
        #[arg(long, env = "LIANFANG_HUB_DATA")]
        data: PathBuf,
        /// Sync once and exit: 0 when the hub above has everything, 1 when
        /// the link failed (run again to resume), 3 when it refused or no
        /// level above is set. Without it, sync until Ctrl-C or SIGTERM.
        #[arg(long)]
        once: bool,
        /// Seconds between syncs when running continuously.
        #[arg(long, default_value_t = 30)]
        interval: u64,
    },
    /// Revoke a compound's token at once (a lost or stolen node PC); its
    /// node is refused from its next call. `enroll` issues a new token.
    Revoke {
        #[arg(long, env = "LIANFANG_HUB_DATA")]
        data: PathBuf,
        #[arg(long)]
        compound: String,
    },
    /// Show the audit log: enrolments, revocations, refused records,
    /// unmasked exports.
    Audit {
        #[arg(long, env = "LIANFANG_HUB_DATA")]
        data: PathBuf,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Apply a bundle file a compound carried in (written by
    /// `lianfang-node export-bundle`): authenticated, idempotent, gap-free.
    ImportBundle {
        #[arg(long, env = "LIANFANG_HUB_DATA")]
        data: PathBuf,
        /// The bundle file.
        file: PathBuf,
    },
    /// Notices to compounds (the daily 提示): send, and see who has them.
    #[command(subcommand)]
    Directive(DirectiveCommand),
    /// Verification lists (排摸核查) for one compound, and their answers.
    #[command(subcommand)]
    Task(TaskCommand),
    /// Problems to rectify (整改), followed until each compound fixes them.
    #[command(subcommand)]
    Problem(ProblemCommand),
    /// Settings: key regions and isolation period (pushed down to every
    /// node); the meeting's cut-off and the street's name (the hub's own).
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Debug, Subcommand)]
enum DirectiveCommand {
    /// Send a notice to all compounds or to some; prints its id.
    Send {
        #[arg(long, env = "LIANFANG_HUB_DATA")]
        data: PathBuf,
        #[arg(long)]
        title: String,
        #[arg(long)]
        body: String,
        /// Compound codes, comma-separated (default: every compound).
        #[arg(long, value_delimiter = ',')]
        to: Option<Vec<String>>,
        #[arg(long, value_enum, default_value_t = PriorityArg::Normal)]
        priority: PriorityArg,
        /// Due time, e.g. "2020-02-21 12:00".
        #[arg(long, default_value = "")]
        due: String,
    },
    /// Per target compound: delivered at, acknowledged at, response.
    Status {
        #[arg(long, env = "LIANFANG_HUB_DATA")]
        data: PathBuf,
        /// Directive id.
        id: i64,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Every directive with its delivery and acknowledgement counts.
    List {
        #[arg(long, env = "LIANFANG_HUB_DATA")]
        data: PathBuf,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Add a dashboard user; the password is the first line of stdin
    /// (`--password-stdin`), at least 8 characters.
    Add {
        #[arg(long, env = "LIANFANG_HUB_DATA")]
        data: PathBuf,
        /// User name (letters, digits, '.', '-', '_').
        #[arg(long)]
        user: String,
        /// staff: reads, sends notices, tasks and problems; admin: also
        /// manages users, enrolments and configuration.
        #[arg(long, value_enum, default_value_t = Role::Staff)]
        role: Role,
        /// Read the password from stdin (required: never as a flag).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// List the dashboard users with their roles.
    List {
        #[arg(long, env = "LIANFANG_HUB_DATA")]
        data: PathBuf,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Remove a dashboard user and end their sessions (the last admin stays).
    Remove {
        #[arg(long, env = "LIANFANG_HUB_DATA")]
        data: PathBuf,
        #[arg(long)]
        user: String,
    },
    /// Set a user's password (first line of stdin); ends their sessions and
    /// lifts a lock from wrong passwords.
    Passwd {
        #[arg(long, env = "LIANFANG_HUB_DATA")]
        data: PathBuf,
        #[arg(long)]
        user: String,
        /// Read the password from stdin (required: never as a flag).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

/// The password: the first line of stdin, without its line ending.
fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("cannot read the password from stdin")?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    anyhow::ensure!(
        !password.is_empty(),
        "no password on stdin: pipe it in, e.g. `printf '%s\\n' \"$PW\" | lianfang-hub user add ... --password-stdin`"
    );
    Ok(password)
}

fn user_command(command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add {
            data, user, role, ..
        } => {
            let password = read_password()?;
            HubApp::open(&data)?.add_user(&user, role, &password)?;
            eprintln!("added {} user {user}", role.as_str());
        }
        UserCommand::List { data, format } => {
            let users = HubApp::open_read_only(&data)?.users()?;
            match format {
                Format::Json | Format::Csv => print_json(&users)?,
                Format::Text if users.is_empty() => {
                    outln!(
                        "no users: add the first admin with `lianfang-hub user add --role admin`"
                    )
                }
                Format::Text => {
                    for u in users {
                        let lock = match &u.locked_until {
                            Some(until) => format!("  locked until {until}"),
                            None => String::new(),
                        };
                        outln!(
                            "{:<16} {:<6} since {}{lock}",
                            u.name,
                            u.role.as_str(),
                            u.created_at
                        );
                    }
                }
            }
        }
        UserCommand::Remove { data, user } => {
            HubApp::open(&data)?.remove_user(&user)?;
            eprintln!("removed user {user}; their sessions ended");
        }
        UserCommand::Passwd { data, user, .. } => {
            let password = read_password()?;
            HubApp::open(&data)?.set_password(&user, &password)?;
            eprintln!("password of {user} changed; their sessions ended");
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum PriorityArg {
    Normal,
    High,
}

#[derive(Debug, Subcommand)]
enum TaskCommand {
    /// Send a verification list to one compound; prints its id.
    Send {
        #[arg(long, env = "LIANFANG_HUB_DATA")]
        data: PathBuf,
        /// The compound to verify them.
        #[arg(long)]
        to: String,
        #[arg(long, default_value = "排摸核查")]
        title: String,
        /// One person: "name|phone|address|reason" (repeatable).
        #[arg(long)]
        entry: Vec<String>,
        /// A CSV of people with columns 姓名/name, 手机/phone, 地址/address, 原因/reason.
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// Entries of one task with the compound's answers.
    Status {
        #[arg(long, env = "LIANFANG_HUB_DATA")]
        data: PathBuf,
        id: i64,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Show phones in full (audited).
        #[arg(long)]
        unmasked: bool,
    },
    /// Entries not yet answered, across all tasks.
    Outstanding {
        #[arg(long, env = "LIANFANG_HUB_DATA")]
        data: PathBuf,
        /// Only this compound's.
        #[arg(long)]
        compound: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Show phones in full (audited).
        #[arg(long)]
        unmasked: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ProblemCommand {
    /// Record a problem for a compound and send it down; prints its id.
    Add {
        #[arg(long, env = "LIANFANG_HUB_DATA")]
        data: PathBuf,
        #[arg(long)]
        compound: String,
        /// What is wrong.
        #[arg(long)]
        what: String,
        /// Where (gate, building, …).
        #[arg(long = "where", default_value = "")]
        location: String,
        /// Found at the daily inspection or the meeting.
        #[arg(long, value_enum, default_value_t = FoundArg::Inspection)]
        found: FoundArg,
        /// Day it was found, YYYY-MM-DD (default: today).
        #[arg(long)]
        date: Option<String>,
    },
    /// Problems and where they stand; open ones past the next day's meeting are flagged.
    List {
        #[arg(long, env = "LIANFANG_HUB_DATA")]
        data: PathBuf,
        /// Only open problems.
        #[arg(long)]
        open: bool,
        /// Judge overdue as of this day (default: today).
        #[arg(long)]
        date: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum FoundArg {
    Inspection,
    Meeting,
}

#[derive(Debug, Subcommand)]
enum LogCommand {
    /// Write the street clerk's narrative for a day, shown with its log
    /// (an empty --text removes it).
    Note {
        #[arg(long, env = "LIANFANG_HUB_DATA")]
        data: PathBuf,
        /// The day, YYYY-MM-DD.
        #[arg(long)]
        date: String,
        /// The note.
        #[arg(long)]
        text: String,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Change settings. A new key-region list or isolation period is sent
    /// to every node; the cut-off and the street name stay at the hub.
    Set {
        #[arg(long, env = "LIANFANG_HUB_DATA")]
        data: PathBuf,
        /// Key regions, comma-separated (an origin matches by prefix).
        #[arg(long, value_delimiter = ',')]
        key_regions: Option<Vec<String>>,
        /// Days an isolation lasts without a release date.
        #[arg(long)]
        isolation_days: Option<u32>,
        /// The meeting's cut-off, HH:MM China time (UTC+8; default 16:30):
        /// `serve` takes the day's snapshot then.
        #[arg(long, value_name = "HH:MM", value_parser = parse_cutoff)]
        cutoff: Option<Cutoff>,
        /// The street's name, for titles and exports ("" for none: titles
        /// then say 街道).
        #[arg(long, value_name = "NAME", value_parser = parse_street_name)]
        street_name: Option<String>,
    },
    /// Show the current settings.
    Show {
        #[arg(long, env = "LIANFANG_HUB_DATA")]
        data: PathBuf,
    },
}

/// Says that `date` (default today) has no snapshot; exit 2.
fn no_snapshot(date: Option<chrono::NaiveDate>) -> ExitCode {
    let day = date.unwrap_or_else(lianfang_hub::today);
    eprintln!(
        "no snapshot of {day}: it is taken at the meeting's cut-off while \
         `lianfang-hub serve` runs, or now by `lianfang-hub snapshot`"
    );
    ExitCode::from(NO_SNAPSHOT)
}

fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    outln!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn parse_cutoff(s: &str) -> Result<Cutoff, meeting::SettingError> {
    s.parse()
}

fn parse_street_name(s: &str) -> Result<String, meeting::SettingError> {
    meeting::street_name(s)
}

/// `sync-up --once`: exit 0 caught up, 1 link failed, 3 refused or not set.
async fn sync_up_once_command(data: &std::path::Path) -> anyhow::Result<ExitCode> {
    match lianfang_hub::upstream::sync_up_once(data, |_| {}).await {
        Ok((report, prepared)) => {
            outln!(
                "synced up: {} member day(s) and {} roll-up(s) changed, {} entr(ies) sent; \
                 {} directive(s) received, {} passed on to the compounds",
                prepared.member_days,
                prepared.rollups,
                report.sent_urgent + report.sent,
                report.received,
                prepared.relayed
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(e.exit_code()))
        }
    }
}

/// `sync-up` without `--once`: the upward link's worker until Ctrl-C or
/// SIGTERM (what `serve` runs beside the service).
async fn sync_up_command(
    data: &std::path::Path,
    interval: std::time::Duration,
) -> anyhow::Result<()> {
    if !lianfang_hub::upstream::is_set(data) {
        anyhow::bail!(lianfang_hub::upstream::UpstreamError::NotSet);
    }
    let worker = lianfang_hub::upstream::worker(
        data,
        interval,
        std::time::Duration::ZERO,
        std::sync::Arc::new(tokio::sync::Notify::new()),
    );
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        stop.send_replace(true);
    });
    worker
        .run(shutdown, |event| match event {
            lianfang_client::worker::Event::Progress(_) => {}
            lianfang_client::worker::Event::Synced(report) => eprintln!(
                "synced up: {} entr(ies) sent, {} directive(s) received",
                report.sent_urgent + report.sent,
                report.received
            ),
            lianfang_client::worker::Event::Failed { error, retry_in } => {
                eprintln!("upward sync failed: {error}; retrying in {retry_in:?}");
            }
        })
        .await?;
    Ok(())
}

fn parse_date(s: &str) -> anyhow::Result<chrono::NaiveDate> {
    chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .with_context(|| format!("--date {s:?} is not a date in the form YYYY-MM-DD"))
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

/// Where `serve` puts the dashboard unless told otherwise.
const DEFAULT_WEB: &str = "127.0.0.1:7781";

/// Exit status of `table --snapshot` when the date has no snapshot.
const NO_SNAPSHOT: u8 = 2;

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // Every command reads the hub's clock: a malformed offset stops here.
    lianfang_hub::check_clock()?;
    match cli.command {
        Command::Enroll {
            data,
            compound,
            name,
            liaison,
            liaison_phone,
        } => {
            let app = HubApp::open(&data)?;
            let token = app.enroll(&compound, name.as_deref())?;
            if let Some(liaison) = liaison {
                app.set_liaison(&compound, &liaison, liaison_phone.as_deref().unwrap_or(""))?;
            }
            eprintln!(
                "enrolled {compound}; on the compound's PC run:\n  lianfang-node init --data DIR --compound {compound} --hub http://HUB:PORT --token <token below>"
            );
            outln!("{token}");
        }
        Command::Serve {
            data,
            listen,
            tls,
            web,
            no_web,
        } => {
            let listener = tokio::net::TcpListener::bind(&listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            let addr = listener.local_addr()?;
            let mut web_warning = None;
            let web_listener = match (web, no_web) {
                (_, true) => None,
                (Some(web), false) => Some(
                    tokio::net::TcpListener::bind(&web)
                        .await
                        .with_context(|| format!("cannot listen on --web {web}"))?,
                ),
                (None, false) => match tokio::net::TcpListener::bind(DEFAULT_WEB).await {
                    Ok(listener) => Some(listener),
                    Err(e) => {
                        // Said after the banner, which scripts read first.
                        web_warning = Some(format!(
                            "warning: dashboard not started: {DEFAULT_WEB} is not free ({e}); \
                             give --web HOST:PORT"
                        ));
                        None
                    }
                },
            };
            let tls_grpc = lianfang_hub::server::requires_tls(addr, tls);
            let scheme = if tls_grpc {
                "https (TLS)"
            } else {
                "plaintext, loopback only"
            };
            eprintln!(
                "lianfang-hub serving {} ({scheme}) on {addr}",
                data.display()
            );
            eprintln!("store: {}", lianfang_hub::app::store_description(&data)?);
            if let Some(warning) = web_warning {
                eprintln!("{warning}");
            }
            if let Some(web) = &web_listener {
                let web_addr = web.local_addr()?;
                let scheme = if lianfang_hub::dashboard::requires_tls(web_addr, tls) {
                    "https"
                } else {
                    "http"
                };
                eprintln!("dashboard: {scheme}://{web_addr}/");
            }
            lianfang_hub::server::run_with_dashboard(
                listener,
                web_listener,
                &data,
                tls,
                shutdown_signal(),
            )
            .await?;
        }
        Command::User(command) => user_command(command)?,
        Command::Log {
            command: Some(LogCommand::Note { data, date, text }),
            ..
        } => {
            let date = parse_date(&date)?;
            HubApp::open(&data)?.set_log_note(date, &text)?;
            // An empty text removes the note (`set_log_note`).
            let done = if text.trim().is_empty() {
                "removed"
            } else {
                "saved"
            };
            eprintln!("note for {} {done}", date.format("%Y-%m-%d"));
        }
        Command::Log {
            command: None,
            data,
            date,
            format,
            snapshot,
            detail,
        } => {
            let data = data.context("--data is required")?;
            let date = date.as_deref().map(parse_date).transpose()?;
            let app = HubApp::open_read_only(&data)?;
            let log = if detail {
                app.log_detail(date)?
            } else if snapshot {
                let Some(log) = app.log_snapshot(date)? else {
                    return Ok(no_snapshot(date));
                };
                log
            } else {
                app.log(date)?
            };
            out!("{}", report::render_log(&log, format));
        }
        Command::Table {
            data,
            date,
            format,
            snapshot,
            detail,
        } => {
            let date = date.as_deref().map(parse_date).transpose()?;
            let app = HubApp::open_read_only(&data)?;
            let report = if detail {
                app.table_detail(date)?
            } else if snapshot {
                let Some(report) = app.table_snapshot(date)? else {
                    return Ok(no_snapshot(date));
                };
                report
            } else {
                app.table_report(date)?
            };
            out!("{}", report::render_report(&report, format));
        }
        Command::Upstream {
            data,
            hub,
            token,
            days,
            interval,
            format,
        } => {
            let (Some(hub), Some(token)) = (hub, token) else {
                let status = HubApp::open_read_only(&data)?.upstream_status()?;
                match (format, status) {
                    (Format::Json | Format::Csv, status) => print_json(&status)?,
                    (Format::Text, None) => outln!(
                        "no level above is set; set it with `lianfang-hub upstream --data DIR \
                         --hub https://HOST:PORT --token TOKEN`"
                    ),
                    (Format::Text, Some(s)) => {
                        outln!("level above   {} as {}", s.hub, s.code);
                        outln!(
                            "sends         {} date(s), at least every {} s",
                            s.days,
                            s.interval_secs
                        );
                        outln!("pending       {} change(s)", s.pending);
                        outln!(
                            "last success  {}",
                            s.last_success.as_deref().unwrap_or("never")
                        );
                        outln!(
                            "last error    {}",
                            s.last_error.as_deref().unwrap_or("none")
                        );
                        outln!("passed on     {} directive(s) from above", s.passed_on);
                    }
                }
                return Ok(ExitCode::SUCCESS);
            };
            let pace = lianfang_hub::upstream::Pace {
                days,
                interval_secs: interval,
            };
            let set = HubApp::open(&data)?.set_upstream(&hub, &token, pace)?;
            if let Some(aside) = &set.replaced {
                eprintln!(
                    "the earlier level above was moved to {} (its figures are sent again)",
                    aside.display()
                );
            }
            let what = if set.unchanged { "already set" } else { "set" };
            outln!(
                "level above {what}: {} as {} ({days} dates go up); `serve` syncs upward in \
                 the background (a running one within seconds), or run `sync-up --once`",
                set.identity.hub,
                set.identity.compound
            );
        }
        Command::SyncUp {
            data,
            once,
            interval,
        } => {
            if once {
                return sync_up_once_command(&data).await;
            }
            sync_up_command(&data, std::time::Duration::from_secs(interval.max(1))).await?;
        }
        Command::Snapshot { data } => {
            let taken = HubApp::open(&data)?.take_snapshot()?;
            outln!(
                "snapshot of {} taken at {}: {} compound row(s)",
                taken.date,
                taken.taken_at,
                taken.rows
            );
            if let Some(earlier) = taken.replaced {
                eprintln!("replaced the snapshot of {} taken at {earlier}", taken.date);
            }
        }
        Command::Export {
            data,
            kind,
            compound,
            format,
            unmasked,
        } => {
            let rows = HubApp::open(&data)?.export(
                kind,
                compound.as_deref(),
                Reveal::from_flag(unmasked),
            )?;
            match format {
                Format::Json => outln!("{}", export::to_json(&rows)),
                Format::Csv | Format::Text => {
                    out!("{}", export::to_csv(&rows, &export::header(kind)))
                }
            }
            eprintln!("{} record(s)", rows.len());
        }
        Command::Revoke { data, compound } => {
            let n = HubApp::open(&data)?.revoke(&compound)?;
            outln!("revoked {n} token(s) of {compound}; enrol it again to issue a new one");
        }
        Command::Audit { data, format } => {
            let log = HubApp::open_read_only(&data)?.audit_log()?;
            match format {
                Format::Json | Format::Csv => print_json(&log)?,
                Format::Text => {
                    for e in log {
                        outln!(
                            "{} {:<8} {:<16} {}",
                            e.at,
                            e.compound.as_deref().unwrap_or("-"),
                            e.event,
                            e.detail
                        );
                    }
                }
            }
        }
        Command::ImportBundle { data, file } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let import = HubApp::open(&data)?
                .import_bundle(&bytes)
                .with_context(|| format!("{}", file.display()))?;
            for (lane, applied) in import.lanes {
                outln!(
                    "{}: {} lane: {} new change(s) applied, hub now has up to {}",
                    import.compound,
                    lane.as_str_name()
                        .trim_start_matches("LANE_")
                        .to_lowercase(),
                    applied.applied,
                    applied.cursor
                );
            }
        }
        Command::Directive(command) => directive_command(command)?,
        Command::Task(command) => task_command(command)?,
        Command::Problem(command) => problem_command(command)?,
        Command::Config(ConfigCommand::Set {
            data,
            key_regions,
            isolation_days,
            cutoff,
            street_name,
        }) => {
            let change = SettingsChange {
                key_regions,
                isolation_days,
                cutoff,
                street_name,
            };
            anyhow::ensure!(
                !change.is_empty(),
                "nothing to set: give --key-regions, --isolation-days, --cutoff and/or --street-name"
            );
            let (config, id) = HubApp::open(&data)?.set_config(change)?;
            print_json(&config)?;
            if id > 0 {
                eprintln!("sent to every compound as directive {id}");
            }
        }
        Command::Config(ConfigCommand::Show { data }) => {
            print_json(&HubApp::open_read_only(&data)?.config()?)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn directive_command(command: DirectiveCommand) -> anyhow::Result<()> {
    match command {
        DirectiveCommand::Send {
            data,
            title,
            body,
            to,
            priority,
            due,
        } => {
            let notice = pb::Notice {
                title,
                body,
                priority: match priority {
                    PriorityArg::Normal => pb::Priority::Normal,
                    PriorityArg::High => pb::Priority::High,
                } as i32,
                due,
            };
            let id = HubApp::open(&data)?.send_notice(notice, to.as_deref())?;
            outln!("{id}");
        }
        DirectiveCommand::Status { data, id, format } => {
            let status = HubApp::open_read_only(&data)?.directive_status(id)?;
            match format {
                Format::Json | Format::Csv => print_json(&status)?,
                Format::Text => {
                    outln!(
                        "#{} {} {} (sent {})",
                        status.id,
                        status.kind,
                        status.title,
                        status.created_at
                    );
                    for t in &status.targets {
                        if let Some(m) = &t.members {
                            outln!(
                                "  {:<8} delivered {:<22} its compounds: {}/{} delivered, {}/{} acknowledged",
                                t.compound,
                                t.delivered_at.as_deref().unwrap_or("-"),
                                m.delivered,
                                m.compounds,
                                m.acknowledged,
                                m.compounds
                            );
                            for r in &m.responses {
                                outln!("      {:<8} {} {}", r.compound, r.acked_at, r.response);
                            }
                            continue;
                        }
                        outln!(
                            "  {:<8} delivered {:<22} acknowledged {:<22} {}",
                            t.compound,
                            t.delivered_at.as_deref().unwrap_or("-"),
                            t.acked_at.as_deref().unwrap_or("-"),
                            t.response.as_deref().unwrap_or("")
                        );
                    }
                    let waiting = app::not_acknowledged(&status);
                    if waiting.is_empty() {
                        outln!("all {} acknowledged", status.targets.len());
                    } else {
                        outln!(
                            "not yet acknowledged ({}): {}",
                            waiting.len(),
                            waiting.join(", ")
                        );
                    }
                }
            }
        }
        DirectiveCommand::List { data, format } => {
            let all = HubApp::open_read_only(&data)?.directives()?;
            match format {
                Format::Json | Format::Csv => print_json(&all)?,
                Format::Text => {
                    for d in all {
                        let tally = app::tally(&d);
                        outln!(
                            "#{:<4} {:<8} {}  delivered {}/{n}, acknowledged {}/{n}",
                            d.id,
                            d.kind,
                            d.title,
                            tally.delivered,
                            tally.acknowledged,
                            n = tally.targets
                        );
                    }
                }
            }
        }
    }
    Ok(())
}

fn task_command(command: TaskCommand) -> anyhow::Result<()> {
    match command {
        TaskCommand::Send {
            data,
            to,
            title,
            entry,
            file,
        } => {
            let entries = app::task_entries(&entry, file.as_deref())?;
            let id = HubApp::open(&data)?.send_task(&to, title, entries)?;
            outln!("{id}");
        }
        TaskCommand::Status {
            data,
            id,
            format,
            unmasked,
        } => {
            let entries = HubApp::open(&data)?.task_status(id, Reveal::from_flag(unmasked))?;
            print_entries(&entries, format)?;
        }
        TaskCommand::Outstanding {
            data,
            compound,
            format,
            unmasked,
        } => {
            let entries = HubApp::open(&data)?
                .outstanding(compound.as_deref(), Reveal::from_flag(unmasked))?;
            print_entries(&entries, format)?;
        }
    }
    Ok(())
}

fn print_entries(entries: &[TaskEntryStatus], format: Format) -> anyhow::Result<()> {
    match format {
        Format::Json | Format::Csv => print_json(&entries)?,
        Format::Text if entries.is_empty() => outln!("no entries"),
        Format::Text => {
            for e in entries {
                outln!(
                    "task {} {} entry {}: {} {} {} ({}) -> {} {}",
                    e.task,
                    e.compound,
                    e.entry_id,
                    e.name,
                    e.phone,
                    e.address,
                    e.reason,
                    e.result.as_deref().unwrap_or("OUTSTANDING"),
                    e.note.as_deref().unwrap_or("")
                );
            }
        }
    }
    Ok(())
}

fn problem_command(command: ProblemCommand) -> anyhow::Result<()> {
    match command {
        ProblemCommand::Add {
            data,
            compound,
            what,
            location,
            found,
            date,
        } => {
            let found_on = date.as_deref().map(parse_date).transpose()?;
            let found_at = match found {
                FoundArg::Inspection => pb::FoundAt::Inspection,
                FoundArg::Meeting => pb::FoundAt::Meeting,
            };
            let id =
                HubApp::open(&data)?.add_problem(&compound, what, location, found_at, found_on)?;
            outln!("{id}");
        }
        ProblemCommand::List {
            data,
            open,
            date,
            format,
        } => {
            let day = date.as_deref().map(parse_date).transpose()?;
            let problems = HubApp::open_read_only(&data)?.problems(day, open)?;
            match format {
                Format::Json | Format::Csv => print_json(&problems)?,
                Format::Text if problems.is_empty() => outln!("no problems"),
                Format::Text => {
                    for p in problems {
                        let state = match (&p.fixed_at, p.overdue) {
                            (Some(at), _) => {
                                format!("fixed {at}: {}", p.note.as_deref().unwrap_or(""))
                            }
                            (None, true) => "OPEN, OVERDUE (问题不过夜)".to_owned(),
                            (None, false) => "open".to_owned(),
                        };
                        outln!(
                            "#{} {} {} @ {} (found at {} {}) {state}",
                            p.id,
                            p.compound,
                            p.what,
                            p.location,
                            p.found_at,
                            p.found_on
                        );
                    }
                }
            }
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    lianfang_hub::app::use_store(cli.store.clone());
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LIANFANG_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    // Output into a closed pipe (`… | head`) ends the command quietly, exit 0.
    let result = run(cli)
        .await
        .and_then(|code| Ok(lianfang_hub::out::flush().map(|()| code)?));
    match result {
        Ok(code) => code,
        Err(e) if lianfang_hub::out::is_broken_pipe(&*e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
