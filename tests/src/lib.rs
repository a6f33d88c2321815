//! Shared helpers for the end-to-end tests: a real hub on loopback, a link
//! that can be cut, the real binaries, and an independent table oracle.
//!
//! # Layout
//! - [`TestHub`]: the hub's gRPC server in-process on `127.0.0.1:0`.
//! - [`CutProxy`]: a loopback TCP proxy that cuts the link after N bytes.
//! - [`bin`]: path of a workspace binary, built once per test run.
//! - [`oracle`]: the daily table computed straight from a generated ledger;
//!   [`log_oracle`]: the daily log, likewise; [`log_fold`]: the production
//!   log (`LogFold`) over the same ledger, for comparing the two.
//! - [`rawgrpc`]: a gRPC client that is not tonic (raw `h2`, frames by hand).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::NaiveDate;
use lianfang_hub::store::HubStore;
use lianfang_proto::log::DailyLog;
use lianfang_proto::pb;
use lianfang_proto::table::{DailyCounts, TableConfig};
use lianfang_sim::generate::CompoundLedger;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

pub mod browser;
pub mod http1;
pub mod rawgrpc;

/// A hub serving on loopback in this process, with its data in a temp dir.
#[derive(Debug)]
pub struct TestHub {
    pub dir: tempfile::TempDir,
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), lianfang_hub::server::ServeError>>>,
}

impl TestHub {
    pub async fn start() -> TestHub {
        let dir = tempfile::tempdir().expect("temp dir");
        prepare_hub_dir(dir.path());
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut hub = TestHub {
            dir,
            addr,
            stop: None,
            task: None,
        };
        hub.serve(listener);
        hub
    }

    fn serve(&mut self, listener: TcpListener) {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let data = self.dir.path().to_owned();
        // Create the database before serving so enrol and read work at once.
        drop(HubStore::open_or_create(&data).expect("hub store"));
        self.task = Some(tokio::spawn(async move {
            lianfang_hub::server::run(listener, &data, false, async {
                let _ = stopped.await;
            })
            .await
        }));
        self.stop = Some(stop);
    }

    /// Stops the hub and serves the same data on the same address again, as
    /// a restarted hub process would.
    pub async fn restart(&mut self) {
        self.halt().await;
        // The old connections may linger in TIME_WAIT: reuse the address.
        let mut tries = 0;
        let listener = loop {
            let socket = tokio::net::TcpSocket::new_v4().expect("socket");
            socket.set_reuseaddr(true).expect("SO_REUSEADDR");
            match socket.bind(self.addr).and_then(|()| socket.listen(1024)) {
                Ok(listener) => break listener,
                Err(_) if tries < 100 => {
                    tries += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                Err(e) => panic!("bind {} again: {e}", self.addr),
            }
        };
        self.serve(listener);
    }

    async fn halt(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task").expect("server");
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Enrols a compound and returns its token.
    pub fn enroll(&self, code: &str) -> String {
        HubStore::open_or_create(self.dir.path())
            .expect("hub store")
            .enroll(code, Some(&format!("{code} 小区")))
            .expect("enroll")
    }

    /// A read-only view of the hub's store.
    pub fn store(&self) -> HubStore {
        HubStore::open_read_only(self.dir.path()).expect("hub store")
    }

    pub async fn stop(mut self) {
        self.halt().await;
    }
}

/// A TCP proxy on loopback that forwards to `target` and cuts every
/// connection once `limit` bytes have gone from client to server in total.
/// Counts the bytes each way.
#[derive(Debug)]
pub struct CutProxy {
    pub addr: SocketAddr,
    /// Bytes forwarded client → server.
    pub up: Arc<AtomicU64>,
    /// Bytes forwarded server → client.
    pub down: Arc<AtomicU64>,
    /// Client → server bytes after which connections are cut.
    limit: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl CutProxy {
    pub async fn start(target: SocketAddr, limit: u64) -> CutProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let up = Arc::new(AtomicU64::new(0));
        let down = Arc::new(AtomicU64::new(0));
        let limit = Arc::new(AtomicU64::new(limit));
        let (up2, down2, limit2) = (Arc::clone(&up), Arc::clone(&down), Arc::clone(&limit));
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(target).await else {
                    continue;
                };
                let (up, down, limit) = (Arc::clone(&up2), Arc::clone(&down2), Arc::clone(&limit2));
                tokio::spawn(async move {
                    let (mut cr, mut cw) = client.into_split();
                    let (mut sr, mut sw) = server.into_split();
                    let upstream = async {
                        let mut buf = vec![0u8; 16 * 1024];
                        loop {
                            let n = match cr.read(&mut buf).await {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            };
                            let sent = up.load(Ordering::SeqCst);
                            let limit = limit.load(Ordering::SeqCst);
                            if sent >= limit {
                                break;
                            }
                            let n = n.min((limit - sent).min(usize::MAX as u64) as usize);
                            up.fetch_add(n as u64, Ordering::SeqCst);
                            if sw.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    };
                    let downstream = async {
                        let mut buf = vec![0u8; 16 * 1024];
                        loop {
                            let n = match sr.read(&mut buf).await {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            };
                            down.fetch_add(n as u64, Ordering::SeqCst);
                            if cw.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    };
                    // Whichever side ends first cuts both: a dropped link.
                    tokio::select! {
                        _ = upstream => {}
                        _ = downstream => {}
                    }
                });
            }
        });
        CutProxy {
            addr,
            up,
            down,
            limit,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Lets every byte through from now on: the link is back.
    pub fn heal(&self) {
        self.limit.store(u64::MAX, Ordering::SeqCst);
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Path of a workspace binary (`lianfang-node`, `lianfang-hub`), built once
/// per test run in this target directory's profile.
/// `LIANFANG_TEST_BIN_DIR` overrides where binaries are looked up.
pub fn bin(name: &str) -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        if let Some(dir) = std::env::var_os("LIANFANG_TEST_BIN_DIR") {
            return PathBuf::from(dir);
        }
        // target/<profile>/deps/e2e-xxxx → target/<profile>
        let exe = std::env::current_exe().expect("current exe");
        let profile_dir = exe
            .parent()
            .and_then(|deps| deps.parent())
            .expect("target/<profile>")
            .to_owned();
        let release = profile_dir.file_name().is_some_and(|n| n == "release");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut build = std::process::Command::new(cargo);
        // Bin targets only: building test targets from inside a test run
        // would re-link the very test binary that is running. The whole
        // workspace, so that features resolve as for the test build and its
        // dependencies are reused: `-p`, or `--exclude` of the members the
        // product binaries do not need, resolves them differently and
        // rebuilt every dependency on a clean machine (6 min 20 s in CI;
        // 1 min 5 s this way).
        build.args(["build", "--workspace", "--bins"]);
        if release {
            build.arg("--release");
        }
        let status = build.status().expect("run cargo build");
        assert!(status.success(), "cargo build of the binaries failed");
        profile_dir
    });
    dir.join(name)
}

/// The daily table of one compound computed straight from its generated
/// ledger, following DESIGN.md's definitions with the default settings
/// (key region 湖北, 14-day isolation). Written independently of
/// `lianfang_proto::table` so the two check each other.
pub fn oracle(ledger: &CompoundLedger, date: NaiveDate) -> DailyCounts {
    let day = date.format("%Y-%m-%d").to_string();
    let mut c = DailyCounts {
        households: ledger.households.len() as u64,
        ..DailyCounts::default()
    };
    for (_, h) in &ledger.households {
        match h.housing() {
            pb::Housing::Owner => c.housing_owner += 1,
            pb::Housing::Rented => c.housing_rented += 1,
            pb::Housing::Vacant => c.housing_vacant += 1,
            pb::Housing::Unspecified => {}
        }
    }
    for (_, p) in &ledger.persons {
        c.persons += 1;
        let nationality = if p.nationality.is_empty() || p.nationality == "中国" {
            "CN"
        } else {
            p.nationality.as_str()
        };
        if !nationality.eq_ignore_ascii_case("CN") {
            c.foreigners += 1;
        }
        if p.return_date.is_empty() || p.return_date > day {
            continue;
        }
        let key = p.origin.starts_with("湖北");
        let today = p.return_date == day;
        match (key, today) {
            (true, true) => {
                c.returned_key_total += 1;
                c.returned_key_today += 1;
            }
            (true, false) => c.returned_key_total += 1,
            (false, true) => {
                c.returned_other_total += 1;
                c.returned_other_today += 1;
            }
            (false, false) => c.returned_other_total += 1,
        }
        if !p.registered {
            c.unregistered += 1;
        }
    }
    for (_, i) in &ledger.isolations {
        let start = NaiveDate::parse_from_str(&i.start, "%Y-%m-%d").expect("start date");
        let end = if i.release.is_empty() {
            start + chrono::Duration::days(14)
        } else {
            NaiveDate::parse_from_str(&i.release, "%Y-%m-%d").expect("release date")
        };
        if start <= date && date < end {
            match i.kind() {
                pb::IsolationKind::Home => c.home_isolation += 1,
                pb::IsolationKind::Central => c.central_isolation += 1,
                pb::IsolationKind::Unspecified => {}
            }
        }
        if end == date {
            c.released_today += 1;
        }
    }
    c
}

/// The provinces of DESIGN.md ("The compound's whole day"), as written
/// there: a plate's first character and the province's full name.
const PLATE_PROVINCES: &str = "京 北京市 · 津 天津市 · 沪 上海市 · 渝 重庆市 · 冀 河北省 · \
    豫 河南省 · 云 云南省 · 辽 辽宁省 · 黑 黑龙江省 · 湘 湖南省 · 皖 安徽省 · 鲁 山东省 · \
    新 新疆维吾尔自治区 · 苏 江苏省 · 浙 浙江省 · 赣 江西省 · 鄂 湖北省 · 桂 广西壮族自治区 · \
    甘 甘肃省 · 晋 山西省 · 蒙 内蒙古自治区 · 陕 陕西省 · 吉 吉林省 · 闽 福建省 · 贵 贵州省 · \
    粤 广东省 · 青 青海省 · 藏 西藏自治区 · 川 四川省 · 宁 宁夏回族自治区 · 琼 海南省";

/// The daily log of one compound computed straight from its generated
/// ledger, following DESIGN.md's definitions ("Daily log") under `config`
/// (its key regions and isolation period). Written apart from
/// `lianfang_proto::log` — no `LogFold`, no kind's log rule, no plate
/// table of the proto crate — so the two check each other.
pub fn log_oracle(ledger: &CompoundLedger, date: NaiveDate, config: &TableConfig) -> DailyLog {
    use std::collections::HashSet;

    let day = date.format("%Y-%m-%d").to_string();
    let d = day.as_str();
    let key = |name: &str| {
        config
            .key_regions
            .iter()
            .any(|k| !k.is_empty() && name.trim().starts_with(k.as_str()))
    };
    let mut log = DailyLog::default();

    // 排摸.
    for (_, s) in &ledger.surveys {
        if s.date == d {
            log.surveys += 1;
            if s.result() == pb::AnswerResult::Unregistered {
                log.surveys_unregistered += 1;
            }
        }
    }

    // 入沪: the table's returned today, key region or not.
    for (_, p) in &ledger.persons {
        if p.return_date == d {
            if key(&p.origin) {
                log.arrivals_key_today += 1;
            } else {
                log.arrivals_other_today += 1;
            }
        }
    }

    // 居家隔离 and its temperatures.
    let mut home: HashSet<&str> = HashSet::new();
    for (_, i) in &ledger.isolations {
        if i.kind() != pb::IsolationKind::Home {
            continue;
        }
        let start = NaiveDate::parse_from_str(&i.start, "%Y-%m-%d").expect("start date");
        let end = if i.release.is_empty() {
            start + chrono::Duration::days(i64::from(config.isolation_days))
        } else {
            NaiveDate::parse_from_str(&i.release, "%Y-%m-%d").expect("release date")
        };
        if start <= date && date < end {
            home.insert(&i.person_id);
        }
    }
    log.home_isolated_persons = home.len() as u64;
    log.checks_due = 2 * log.home_isolated_persons;
    let mut done: HashSet<(&str, i32)> = HashSet::new();
    let mut checked: HashSet<&str> = HashSet::new();
    let mut fever: HashSet<&str> = HashSet::new();
    for (_, c) in &ledger.health_checks {
        if c.date != d {
            continue;
        }
        checked.insert(&c.person_id);
        if home.contains(c.person_id.as_str()) {
            done.insert((&c.person_id, c.slot));
        }
        // 37.3 °C or more.
        if c.temperature_tenths >= 373 {
            fever.insert(&c.person_id);
        }
    }
    log.checks_done = done.len() as u64;
    log.unchecked_persons = home.iter().filter(|p| !checked.contains(*p)).count() as u64;
    log.fever_persons = fever.len() as u64;

    // 上门服务.
    for (_, s) in &ledger.services {
        if s.date != d {
            continue;
        }
        match s.kind() {
            pb::ServiceKind::Meal => log.meals += 1,
            pb::ServiceKind::Rubbish => log.rubbish += 1,
            pb::ServiceKind::Shopping => log.shopping += 1,
            pb::ServiceKind::Unspecified => {}
        }
    }

    // 口罩: reserved_at is `YYYY-MM-DD HH:MM`; empty dates never match.
    for (_, m) in &ledger.mask_reservations {
        let reserved = &m.reserved_at[..10];
        log.masks_reserved += u64::from(reserved == d);
        log.masks_notified += u64::from(m.notified_on == d);
        log.masks_collected += u64::from(m.collected_on == d);
        let notified_later = m.notified_on.is_empty() || m.notified_on.as_str() > d;
        log.masks_waiting += u64::from(reserved <= d && notified_later);
    }

    // 车辆: a plate's region is its province's full name.
    for (_, v) in &ledger.vehicle_checks {
        if v.date != d {
            continue;
        }
        let first = v.plate.chars().next().expect("a plate");
        let province = PLATE_PROVINCES.split('·').map(str::trim).find_map(|entry| {
            let (c, name) = entry.split_once(' ')?;
            c.starts_with(first).then_some(name.trim())
        });
        if province.is_some_and(key) {
            log.vehicles_key += 1;
        }
        if v.action() == pb::VehicleAction::TurnedBack {
            log.vehicles_turned_back += 1;
        }
    }

    log.disinfections = ledger
        .disinfections
        .iter()
        .filter(|(_, x)| x.date == d)
        .count() as u64;

    // 12345.
    for (_, t) in &ledger.hotline_tickets {
        log.hotline_received += u64::from(t.received == d);
        log.hotline_closed += u64::from(t.closed == d);
        let closed_later = t.closed.is_empty() || t.closed.as_str() > d;
        log.hotline_open += u64::from(t.received.as_str() <= d && closed_later);
    }

    // 门岗.
    for (_, g) in &ledger.gate_counts {
        if g.date == d {
            log.gate_temperature_checks += g.temperature_checks;
            log.parcels += g.parcels;
        }
    }
    log
}

/// The production daily log of a generated ledger: every record through
/// `LogFold` (and the table through `TableBuilder`, for the arrivals), as
/// node and hub compute it.
pub fn log_fold(ledger: &CompoundLedger, date: NaiveDate, config: &TableConfig) -> DailyLog {
    let builder = lianfang_proto::table::TableBuilder::new(config, date);
    let mut counts = DailyCounts::default();
    let mut fold = lianfang_proto::log::LogFold::new(config, date);
    for (_, _, body) in ledger.bodies() {
        lianfang_proto::kinds::count(&body, &builder, &mut counts);
        fold.add(&body);
    }
    fold.finish(&counts)
}

/// Sets up a node for `ledger` in `dir` (init against `hub_url`, then
/// import its ledger written as CSV, or as one xlsx when `xlsx`).
/// Returns the node's data directory.
pub fn node_with_ledger(
    dir: &std::path::Path,
    ledger: &CompoundLedger,
    hub_url: &str,
    token: &str,
    xlsx: bool,
) -> PathBuf {
    let files_dir = dir.join("ledger");
    std::fs::create_dir_all(&files_dir).expect("ledger dir");
    let files = if xlsx {
        let path = files_dir.join("ledger.xlsx");
        ledger.write_xlsx(&path).expect("write xlsx");
        vec![path]
    } else {
        ledger.write_csv(&files_dir).expect("write csv")
    };
    let data = dir.join("data");
    lianfang_node::init(&data, &ledger.code, hub_url, token).expect("init");
    let mut store = lianfang_node::store::Store::open(&data).expect("open");
    lianfang_node::import::import_files(
        &mut store,
        &files,
        lianfang_node::today(),
        lianfang_node::now_ms(),
    )
    .expect("import");
    data
}

/// When the tests run against PostgreSQL (`LIANFANG_TEST_POSTGRES`, see
/// `lianfang_hub::db::testing`), gives the hub data directory `dir` a
/// database of its own on the test server, recorded in `dir/store.url`
/// (where `lianfang-hub` looks without `--store`), before its store is
/// made; otherwise, and for a directory that has a store already, does
/// nothing. Every hub command this harness runs calls it on its `--data`;
/// a test opening a hub in process calls it first.
pub fn prepare_hub_dir(dir: &std::path::Path) {
    let Some(server) = lianfang_hub::db::testing::server() else {
        return;
    };
    let recorded = dir.join(lianfang_hub::store::STORE_FILE);
    if recorded.exists() || dir.join(lianfang_hub::store::DB_FILE).exists() {
        return;
    }
    let absolute = std::path::absolute(dir).expect("absolute path");
    // FNV-1a of the path: one database per data directory, named the same
    // by every process.
    let hash = absolute
        .to_string_lossy()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
    let url = lianfang_hub::db::testing::database(&server, &format!("lf_{hash:016x}"));
    std::fs::create_dir_all(dir).expect("create hub data dir");
    std::fs::write(recorded, url).expect("write store.url");
}

/// A raw connection to the store of the hub in `dir`, on whichever engine
/// it keeps it (for tests that damage or inspect it as a whole).
pub fn hub_db(dir: &std::path::Path) -> lianfang_hub::db::Db {
    match std::fs::read_to_string(dir.join(lianfang_hub::store::STORE_FILE)) {
        Ok(url) => {
            lianfang_hub::db::Db::postgres(url.trim(), false).expect("connect the hub's store")
        }
        Err(_) => lianfang_hub::db::Db::sqlite(
            rusqlite::Connection::open(dir.join(lianfang_hub::store::DB_FILE))
                .expect("open hub.db"),
        ),
    }
}

/// [`prepare_hub_dir`] on the `--data` of `lianfang-hub`'s arguments.
pub fn prepare_hub_args<S: AsRef<std::ffi::OsStr>>(program: &str, args: &[S]) {
    if program != "lianfang-hub" {
        return;
    }
    let args: Vec<&std::ffi::OsStr> = args.iter().map(AsRef::as_ref).collect();
    for pair in args.windows(2) {
        if pair[0] == "--data" {
            prepare_hub_dir(std::path::Path::new(pair[1]));
        }
    }
    for arg in &args {
        if let Some(dir) = arg.to_str().and_then(|a| a.strip_prefix("--data=")) {
            prepare_hub_dir(std::path::Path::new(dir));
        }
    }
}

/// `lianfang-hub serve` as a child process, killed on drop. Its stderr is
/// drained (so it never blocks) and kept, for tests that read its log.
#[derive(Debug)]
pub struct Serve {
    child: std::process::Child,
    /// The address it announced, e.g. `127.0.0.1:40123`.
    pub addr: String,
    /// The line it announced itself with (says plaintext or TLS).
    pub banner: String,
    log: Option<std::thread::JoinHandle<String>>,
}

impl Serve {
    /// Starts `lianfang-hub serve --data DATA ARGS...` with extra `env`, and
    /// waits until it listens.
    pub fn start(data: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Serve {
        use std::io::BufRead as _;
        prepare_hub_dir(data);
        let mut child = std::process::Command::new(bin("lianfang-hub"))
            .args(["serve", "--data", data.to_str().expect("utf-8 path")])
            .args(args)
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn lianfang-hub serve");
        let stderr = child.stderr.take().expect("piped stderr");
        let mut lines = std::io::BufReader::new(stderr).lines();
        let (banner, addr) = loop {
            let line = lines
                .next()
                .expect("serve exited before listening")
                .expect("read serve's stderr");
            if let Some((_, addr)) = line.rsplit_once(" on ") {
                let addr = addr.trim().to_owned();
                break (line, addr);
            }
        };
        let log =
            std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>().join("\n"));
        Serve {
            child,
            addr,
            banner,
            log: Some(log),
        }
    }

    /// The plaintext URL a node on this machine uses.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Kill -9; returns the address it listened on.
    pub fn kill(mut self) -> String {
        self.stop();
        self.addr.clone()
    }

    /// Kill -9; returns everything it wrote to stderr after its banner.
    pub fn kill_for_log(mut self) -> String {
        self.stop();
        self.log
            .take()
            .map(|log| log.join().expect("log thread"))
            .unwrap_or_default()
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The `LIANFANG_CLOCK_OFFSET_SECS` that puts a binary's clock at `target`
/// (RFC 3339).
pub fn offset_to(target: &str) -> String {
    let target = chrono::DateTime::parse_from_rfc3339(target)
        .expect("an RFC 3339 time")
        .timestamp();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    (target - i64::try_from(now).expect("seconds fit")).to_string()
}

/// Runs a workspace binary to completion.
pub fn run(program: &str, args: &[&str]) -> std::process::Output {
    run_with(program, args, &[])
}

/// Runs a workspace binary with extra environment variables.
pub fn run_with(program: &str, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    prepare_hub_args(program, args);
    std::process::Command::new(bin(program))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"))
}

/// Runs a workspace binary that must succeed; returns its stdout.
pub fn ok(program: &str, args: &[&str]) -> String {
    ok_with(program, args, &[])
}

/// As [`ok`], with extra environment variables.
pub fn ok_with(program: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = run_with(program, args, env);
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}
