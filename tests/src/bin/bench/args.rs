//! Bench: command-line arguments and the help text.

use super::*;

pub(crate) const HELP: &str = "\
bench — Lianfang benchmark over the demo's generator (full street by default)

USAGE:
    cargo run --release -p lianfang-tests --bin bench -- [OPTIONS]

OPTIONS:
    --compounds N    compounds in the street (default 167: ~230k households,
                     ~540k persons, ~40k isolations and ~1.2M records of the
                     day's eight ledgers: ~2.0M records)
    --quick          small run: 12 compounds, fewer repetitions
    --only NAME      run one measurement (and the setup it needs); NAME is one of
                     initial, incremental, thin, apply, table, import, rss,
                     real, dashboard, page
    --parallel P     node syncs run at once in the street-wide syncs (default 8)
    --seed S         generator seed (default 2020)
    --tls            section 8 (real) with the hub serving TLS, as it always does
                     off loopback, and the nodes set up with https://
    --varied         origins at city, district and street/town level, as real
                     registrations spell them (generate::vary_origins)
    --registers-only households, persons and isolations only (the three
                     ledgers before the kinds of the day), to compare with a
                     build from before them
    --keep DIR       put the data under DIR and keep it (default: a temp dir)
    --rss-clients K  in the rss measurement, node syncs against the real hub at
                     once (default: all of them)
    --city-compounds N  committees at the one hub of the city measurement
                     (default 6000; --quick: 300)
    --city-parallel P   their syncs at once (default 32)
    --city-store URL    keep the city hub's store in this PostgreSQL database
                        (empty; e.g. postgresql://postgres@127.0.0.1:5432/city)
                        instead of SQLite; the hub CPU figures then leave out
                        PostgreSQL's own processes
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
    import       import_files of the largest compound (2,600 households, all
                 eleven ledgers) into a fresh node, median of 5 (target <= 1 s)
    rss          real binaries: node daemon idle (target <= 20 MB) and while
                 syncing a big backlog; hub serving all nodes syncing at once
                 (target <= 200 MB)
    dashboard    the real `lianfang-hub serve --web` on the synced street, one
                 user logged in: GET /table (target p95 <= 100 ms),
                 /table.xlsx (p95 <= 300 ms), /log and /trends (reported)
    real         the street's initial sync as users run it: one `lianfang-node
                 sync --once` process per compound, 4 and then 8 at once,
                 against `lianfang-hub serve` (target >= 150,000 records/s; the
                 hub's CPU per record within 1.5x the apply-only figure)
    page         `lianfang-node serve` on the largest compound (no hub
                 reachable): every page and a form's POST, median and p95 of
                 40 requests each (target p95 <= 50 ms), and the process's
                 RSS while serving (target <= 40 MB)
    city         one real `lianfang-hub serve` holding a city's residents'
                 committees (6,000 compounds of 20-80 households): the first
                 sync of each, then a day's small change and one sync each
                 (target >= 200 exchanges/s: every committee's idle worker at
                 its 30 s interval), an idle round, the hub's peak RSS
                 (target <= 500 MB), the table and the log of the day over
                 every committee (targets <= 1 s and <= 2 s in process, the
                 table process <= 2 s). Not run unless --only city.
";

pub(crate) const MEASUREMENTS: [&str; 11] = [
    "initial",
    "incremental",
    "thin",
    "apply",
    "table",
    "import",
    "rss",
    "real",
    "dashboard",
    "page",
    "city",
];

#[derive(Debug, Clone)]
pub(crate) struct Args {
    pub(crate) compounds: usize,
    pub(crate) quick: bool,
    pub(crate) only: Option<String>,
    pub(crate) parallel: usize,
    pub(crate) seed: u64,
    pub(crate) keep: Option<PathBuf>,
    pub(crate) rss_clients: Option<usize>,
    pub(crate) varied: bool,
    pub(crate) registers_only: bool,
    pub(crate) tls: bool,
    pub(crate) city_compounds: usize,
    pub(crate) city_parallel: usize,
    pub(crate) city_store: Option<String>,
}

impl Args {
    pub(crate) fn parse() -> anyhow::Result<Option<Args>> {
        let mut args = Args {
            compounds: 167,
            quick: false,
            only: None,
            parallel: 8,
            seed: 2020,
            keep: None,
            rss_clients: None,
            varied: false,
            registers_only: false,
            tls: false,
            city_compounds: 6000,
            city_parallel: 32,
            city_store: None,
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
                "--registers-only" => args.registers_only = true,
                "--tls" => args.tls = true,
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
                "--city-compounds" => {
                    args.city_compounds = value("--city-compounds")?.parse::<usize>()?.max(1);
                }
                "--city-store" => {
                    args.city_store = Some(value("--city-store")?);
                }
                "--city-parallel" => {
                    args.city_parallel = value("--city-parallel")?.parse::<usize>()?.max(1);
                }
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

    pub(crate) fn runs(&self, name: &str) -> bool {
        // The city is a bench of its own (minutes of setup): only when asked.
        match self.only.as_deref() {
            None => name != "city",
            Some(only) => only == name,
        }
    }

    pub(crate) fn runs_any(&self, names: &[&str]) -> bool {
        names.iter().any(|n| self.runs(n))
    }
}
