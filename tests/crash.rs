//! Crash tests: kill -9 (SIGKILL, `Child::kill` on Unix) of the real
//! `lianfang-node` and `lianfang-hub` processes at random moments. What was
//! committed survives, nothing is half applied or applied twice, and the
//! next run converges to the table computed straight from the ledger.
//!
//! Delays are random; each test prints its seed, and
//! `LIANFANG_CRASH_SEED=N` repeats a run. Run with `--nocapture` to see
//! where the kills landed.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{OnceLock, mpsc};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use lianfang_hub::store::HubStore;
use lianfang_node::store::Store;
use lianfang_proto::{Kind, Lane};
use lianfang_sim::generate::{self, CompoundLedger, StreetSpec};
use lianfang_tests::{Serve, bin, ok, oracle};

const DATES: [&str; 2] = ["2020-02-10", "2020-02-15"];

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// A compound of 2,000 households, generated once for all crash tests.
fn big_compound() -> &'static CompoundLedger {
    static COMPOUND: OnceLock<CompoundLedger> = OnceLock::new();
    COMPOUND.get_or_init(|| {
        let spec = StreetSpec {
            min_households: 2000,
            max_households: 2000,
            ..StreetSpec::demo(1)
        };
        generate::compound(&spec, 0)
    })
}

/// Entries a fresh import of `compound` appends to the log: one per record.
fn entries_of(compound: &CompoundLedger) -> u64 {
    compound.n_records() as u64
}

/// Random delays (splitmix64), seeded from `LIANFANG_CRASH_SEED` or the clock.
struct Rng(u64);

impl Rng {
    fn new(test: &str) -> Rng {
        let seed = std::env::var("LIANFANG_CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64;
                nanos ^ u64::from(std::process::id()) << 32
            });
        eprintln!("{test}: seed {seed} (LIANFANG_CRASH_SEED={seed} repeats it)");
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// A child process killed (SIGKILL) on drop, so a failing test leaves none.
struct Proc(Child);

impl Proc {
    fn spawn(program: &str, args: &[&str]) -> Proc {
        lianfang_tests::prepare_hub_args(program, args);
        Proc(
            Command::new(bin(program))
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("spawn {program}: {e}")),
        )
    }

    /// Spawns with stderr read line by line into the returned channel.
    fn spawn_watched(program: &str, args: &[&str]) -> (Proc, mpsc::Receiver<String>) {
        lianfang_tests::prepare_hub_args(program, args);
        let mut child = Command::new(bin(program))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {program}: {e}"));
        let lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        (Proc(child), rx)
    }

    /// Its exit status if it has ended.
    fn ended(&mut self) -> Option<ExitStatus> {
        self.0.try_wait().unwrap()
    }

    /// Kill -9 and reap.
    fn kill(mut self) {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
    }

    /// Waits at most `limit` for the process to end.
    fn wait(mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.ended() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "process still running after {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A temp dir with a hub directory where `lianfang-hub enroll` enrolled the
/// compound, its token, and the ledger written as CSV; the node lives in
/// `node/` unless a test picks other directories.
struct Setup {
    root: tempfile::TempDir,
    token: String,
    files: Vec<PathBuf>,
}

impl Setup {
    fn new(compound: &CompoundLedger) -> Setup {
        let root = tempfile::tempdir().unwrap();
        let hub = root.path().join("hub");
        let out = ok(
            "lianfang-hub",
            &[
                "enroll",
                "--data",
                hub.to_str().unwrap(),
                "--compound",
                &compound.code,
                "--name",
                &compound.name,
            ],
        );
        let token = out.lines().last().unwrap().trim().to_owned();
        let files = compound.write_csv(&root.path().join("ledger")).unwrap();
        Setup { root, token, files }
    }

    fn hub(&self) -> PathBuf {
        self.root.path().join("hub")
    }

    fn node(&self) -> PathBuf {
        self.root.path().join("node")
    }

    fn node_arg(&self) -> String {
        self.node().to_str().unwrap().to_owned()
    }

    fn init_node(&self, compound: &CompoundLedger, hub_url: &str) {
        ok(
            "lianfang-node",
            &[
                "init",
                "--data",
                &self.node_arg(),
                "--compound",
                &compound.code,
                "--hub",
                hub_url,
                "--token",
                &self.token,
            ],
        );
    }

    fn import_args(&self) -> Vec<String> {
        let mut args = vec!["import".to_owned(), "--data".to_owned(), self.node_arg()];
        args.extend(self.files.iter().map(|f| f.to_str().unwrap().to_owned()));
        args
    }
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// Opens the node's store after a crash and checks it: the database is
/// sound and both lanes of the log are contiguous from 1. Returns the bulk
/// head and the hub cursor the node last stored.
fn check_node(dir: &Path) -> (u64, u64) {
    let conn = rusqlite::Connection::open(dir.join("node.db")).unwrap();
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(integrity, "ok", "node database after kill -9");
    drop(conn);
    let store = Store::open(dir).unwrap();
    for lane in [Lane::Bulk, Lane::Urgent] {
        let head = store.head_of(lane).unwrap();
        let entries = store.log_range_of(lane, 1, head).unwrap();
        assert_eq!(entries.len() as u64, head, "{lane:?} lane has holes");
        for (i, entry) in entries.iter().enumerate() {
            assert_eq!(entry.seq, i as u64 + 1);
        }
    }
    (store.head().unwrap(), store.acked().unwrap())
}

/// A connection to another process's SQLite database that tells whether
/// that process is inside a write transaction right now (both stores begin
/// their writes with `BEGIN IMMEDIATE`, which takes the write lock).
enum LockProbe {
    Sqlite(rusqlite::Connection),
    /// A hub whose store is on PostgreSQL: its write transactions hold an
    /// advisory lock.
    Postgres(postgres::Client),
}

impl LockProbe {
    fn open(db: &Path) -> LockProbe {
        let conn = rusqlite::Connection::open(db).unwrap();
        conn.busy_timeout(Duration::ZERO).unwrap();
        LockProbe::Sqlite(conn)
    }

    /// The probe of the hub in `dir`, on whichever store it keeps.
    fn open_hub(dir: &Path) -> LockProbe {
        match std::fs::read_to_string(dir.join(lianfang_hub::store::STORE_FILE)) {
            Ok(url) => LockProbe::Postgres(
                postgres::Client::connect(url.trim(), postgres::NoTls).expect("probe PostgreSQL"),
            ),
            Err(_) => LockProbe::open(&dir.join("hub.db")),
        }
    }

    /// Whether the write lock is held; if it is free, takes and releases it
    /// at once (a writer arriving meanwhile waits on its busy timeout).
    fn write_locked(&mut self) -> bool {
        let conn = match self {
            LockProbe::Sqlite(conn) => conn,
            LockProbe::Postgres(client) => {
                return client
                    .query_one(lianfang_hub::db::WRITE_LOCK_HELD_SQL, &[])
                    .expect("probe pg_locks")
                    .get(0);
            }
        };
        match conn.execute_batch("BEGIN IMMEDIATE") {
            Ok(()) => {
                conn.execute_batch("ROLLBACK").unwrap();
                false
            }
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy =>
            {
                true
            }
            Err(e) => panic!("lock probe: {e}"),
        }
    }
}

/// The hub's bulk cursor for the compound, and its live ledger records.
/// After a fresh import each log entry is a distinct record, so a hub that
/// applies batches whole, once, holds exactly `cursor` records.
fn hub_state(dir: &Path, code: &str) -> (u64, u64) {
    let store = HubStore::open_read_only(dir).unwrap();
    let cursor = store.cursor(code).unwrap();
    let records = Kind::with_ledger()
        .map(|(kind, _)| store.record_count(code, kind).unwrap())
        .sum();
    (cursor, records)
}

/// The hub holds the whole ledger: counts, table for a few dates (against
/// the independent oracle), cursor at the node's head.
fn assert_converged(hub: &Path, node: &Path, compound: &CompoundLedger) {
    let (head, acked) = check_node(node);
    assert_eq!(head, entries_of(compound), "node log");
    assert_eq!(acked, head, "node knows the hub has everything");
    let store = HubStore::open_read_only(hub).unwrap();
    assert_eq!(store.cursor(&compound.code).unwrap(), head);
    for (kind, _) in Kind::with_ledger() {
        let n = compound.n_of(kind);
        assert_eq!(
            store.record_count(&compound.code, kind).unwrap(),
            n as u64,
            "{}",
            kind.name()
        );
    }
    for date in DATES {
        let table = store.table(day(date)).unwrap();
        assert_eq!(table.compounds.len(), 1);
        assert!(table.compounds[0].caught_up, "{date}");
        assert_eq!(
            table.compounds[0].counts,
            oracle(compound, day(date)),
            "{date}"
        );
    }
}

/// `sent N` and `M new` from the output of a successful `sync --once`.
fn sent_and_new(out: &str) -> (u64, u64) {
    let number_after = |s: &str, key: &str| -> Option<u64> {
        let rest = &s[s.find(key)? + key.len()..];
        rest.split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    };
    let number_before = |s: &str, key: &str| -> Option<u64> {
        let head = &s[..s.find(key)?];
        head.rsplit(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    };
    let sent = number_after(out, "sent ").unwrap_or_else(|| panic!("no 'sent N' in {out:?}"));
    let new = number_before(out, " new").unwrap_or_else(|| panic!("no 'N new' in {out:?}"));
    (sent, new)
}

/// Waits for the `n`-th progress line ("sync: hub has X/Y entries") of a
/// sync, at most `limit`; false when the sync ended (or stayed silent)
/// first.
fn progress_lines(lines: &mpsc::Receiver<String>, n: usize, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    let mut seen = 0;
    while seen < n {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains("hub has") => seen += 1,
            Ok(_) => {}
            Err(_) => return false,
        }
    }
    true
}

/// The node's import is killed at random moments, each time in a fresh node
/// directory: every kill leaves the whole ledger or nothing of it. A
/// re-import then writes nothing twice and the hub converges.
#[test]
fn node_killed_during_import_keeps_all_or_nothing() {
    const TRIALS: usize = 12;
    let started = Instant::now();
    let mut rng = Rng::new("import kill");
    let compound = big_compound();
    let full = entries_of(compound);
    let setup = Setup::new(compound);
    let serve = Serve::start(&setup.hub(), &["--listen", "127.0.0.1:0"], &[]);
    let import_into = |dir: &Path| {
        let mut args = setup.import_args();
        args[2] = dir.to_str().unwrap().to_owned();
        args
    };
    let init = |dir: &Path| {
        ok(
            "lianfang-node",
            &[
                "init",
                "--data",
                dir.to_str().unwrap(),
                "--compound",
                &compound.code,
                "--hub",
                &serve.url(),
                "--token",
                &setup.token,
            ],
        );
    };

    // How long a whole import takes here, on a scratch node; importing the
    // same ledger again there writes nothing.
    let scratch = setup.root.path().join("scratch");
    init(&scratch);
    let t = Instant::now();
    ok("lianfang-node", &strs(&import_into(&scratch)));
    let import_time = t.elapsed();
    assert_eq!(check_node(&scratch).0, full);
    let again = ok("lianfang-node", &strs(&import_into(&scratch)));
    assert_eq!(
        check_node(&scratch).0,
        full,
        "re-import wrote again: {again}"
    );

    // Kills at random moments over the import's span, a fresh node each time.
    let (mut before_write, mut in_write, mut after_commit, mut finished) = (0, 0, 0, 0);
    let mut kills = Vec::new();
    let mut last = PathBuf::new();
    let span = import_time.as_millis() as u64;
    for trial in 0..TRIALS {
        last = setup.root.path().join(format!("trial-{trial}"));
        init(&last);
        let mut probe = LockProbe::open(&last.join("node.db"));
        let mut child = Proc::spawn("lianfang-node", &strs(&import_into(&last)));
        let wait = Duration::from_millis(span / 4 + rng.next() % (span * 7 / 8 + 1));
        std::thread::sleep(wait);
        let writing = probe.write_locked();
        if let Some(status) = child.ended() {
            assert!(status.success(), "import failed: {status}");
            finished += 1;
            kills.push(format!("{}ms:done", wait.as_millis()));
            continue;
        }
        child.kill();
        drop(probe);
        let (head, _) = check_node(&last);
        assert!(
            head == 0 || head == full,
            "kill after {wait:?} left {head} of {full} entries: a partial import"
        );
        kills.push(format!(
            "{}ms:{}{head}",
            wait.as_millis(),
            if writing { "W" } else { "" }
        ));
        match (head, writing) {
            (0, false) => before_write += 1,
            (0, true) => in_write += 1,
            _ => after_commit += 1,
        }
    }

    // The last trial's node, imported to the end, syncs and converges.
    let summary = ok("lianfang-node", &strs(&import_into(&last)));
    assert_eq!(check_node(&last).0, full, "{summary}");
    ok(
        "lianfang-node",
        &[
            "sync",
            "--data",
            last.to_str().unwrap(),
            "--once",
            "--timeout",
            "10",
            "--attempts",
            "2",
        ],
    );
    assert_converged(&setup.hub(), &last, compound);
    eprintln!(
        "import kill: {full} entries, a whole import takes {import_time:?}; kills \
         (delay:W if inside the write transaction:head) [{}]: {before_write} before the write \
         began, {in_write} inside the write transaction, {after_commit} after the commit, \
         {finished} imports ended before their kill; test {:?}",
        kills.join(" "),
        started.elapsed()
    );
    drop(serve);
}

/// `sync --once` is killed at random moments while it pushes: the node's
/// log stays whole, the hub has applied whole batches only, once, and the
/// next sync sends exactly what the hub lacks.
#[test]
fn node_killed_during_sync_resumes_without_loss_or_double_apply() {
    const KILLS: usize = 6;
    let started = Instant::now();
    let mut rng = Rng::new("sync kill");
    let compound = big_compound();
    let full = entries_of(compound);
    let setup = Setup::new(compound);
    let serve = Serve::start(&setup.hub(), &["--listen", "127.0.0.1:0"], &[]);
    setup.init_node(compound, &serve.url());
    ok("lianfang-node", &strs(&setup.import_args()));
    let node = setup.node_arg();
    let sync = [
        "sync",
        "--data",
        node.as_str(),
        "--once",
        "--batch-size",
        "200",
        "--attempts",
        "1",
    ];

    let mut kills = Vec::new();
    let (mut mid, mut finished) = (0, 0);
    for _ in 0..KILLS {
        // A random moment: 0-20 ms after the handshake or the 1st or 2nd
        // acknowledged batch (each prints a progress line).
        let (mut child, lines) = Proc::spawn_watched("lianfang-node", &sync);
        let acks = 1 + (rng.next() % 3) as usize;
        progress_lines(&lines, acks, Duration::from_secs(20));
        let wait = Duration::from_millis(rng.next() % 21);
        std::thread::sleep(wait);
        if let Some(status) = child.ended() {
            assert!(status.success(), "sync failed: {status}");
            finished += 1;
            break;
        }
        child.kill();
        let (head, acked) = check_node(&setup.node());
        assert_eq!(head, full, "a sync never writes the bulk log");
        let (cursor, records) = hub_state(&setup.hub(), &compound.code);
        assert!(
            acked <= cursor && cursor <= head,
            "node acked {acked}, hub cursor {cursor}, head {head}"
        );
        assert_eq!(records, cursor, "hub records vs its cursor");
        kills.push(format!("{}+{}ms:{cursor}", acks - 1, wait.as_millis()));
        if 0 < cursor && cursor < head {
            mid += 1;
        }
    }

    let (before, _) = hub_state(&setup.hub(), &compound.code);
    let out = ok(
        "lianfang-node",
        &[
            "sync",
            "--data",
            &node,
            "--once",
            "--batch-size",
            "200",
            "--timeout",
            "10",
            "--attempts",
            "2",
        ],
    );
    let (sent, new) = sent_and_new(&out);
    assert_eq!(
        (sent, new),
        (full - before, full - before),
        "the last sync sends and applies exactly what the hub lacked: {out}"
    );
    assert_converged(&setup.hub(), &setup.node(), compound);
    eprintln!(
        "sync kill: {full} entries; kills (batches acked+delay:hub cursor) [{}]: {mid} left the hub \
         mid-log, {finished} syncs ended before their kill; the last sync sent {sent}; test {:?}",
        kills.join(" "),
        started.elapsed()
    );
    drop(serve);
}

/// Every cursor a session starting at `start` can leave between whole
/// batches in its first ten, when it starts at `first` entries a batch and
/// each call (the first exchange, which may carry no bulk entries, too)
/// grows, keeps or shrinks the size as `BatchSizer` may (the sizes depend
/// on the calls' timing, which the test does not control).
fn batch_ends(start: u64, head: u64, first: u64) -> std::collections::HashSet<u64> {
    let (min, max) = (16u64, 20_000u64);
    let next_sizes = |size: u64| [(size + size / 2 + 1).min(max), size, (size / 2).max(min)];
    let mut ends = std::collections::HashSet::from([start, head]);
    let mut seen = std::collections::HashSet::new();
    let first = first.clamp(min, max);
    let mut todo: Vec<(u64, u64, u32)> = std::iter::once(first)
        .chain(next_sizes(first))
        .map(|size| (start, size, 0))
        .collect();
    while let Some((at, size, depth)) = todo.pop() {
        if at >= head || depth == 10 || !seen.insert((at, size)) {
            continue;
        }
        let next = (at + size).min(head);
        ends.insert(next);
        for size in next_sizes(size) {
            todo.push((next, size, depth + 1));
        }
    }
    ends
}

/// The hub is killed at random moments while a node pushes batches of
/// 5,000 entries (then as the batch sizer adapts them), and restarted on the same address: every batch is applied
/// whole or not at all, and the last sync converges.
#[test]
fn hub_killed_during_batch_apply_applies_whole_batches_only() {
    const BATCH: u64 = 5000;
    const KILLS: usize = 8;
    let started = Instant::now();
    let mut rng = Rng::new("hub kill");
    let compound = big_compound();
    let full = entries_of(compound);
    assert!(full > BATCH, "the log spans several batches");
    let setup = Setup::new(compound);
    let mut serve = Serve::start(&setup.hub(), &["--listen", "127.0.0.1:0"], &[]);
    setup.init_node(compound, &serve.url());
    ok("lianfang-node", &strs(&setup.import_args()));
    let node = setup.node_arg();
    let batch = BATCH.to_string();
    let sync = [
        "sync",
        "--data",
        node.as_str(),
        "--once",
        "--batch-size",
        batch.as_str(),
        "--attempts",
        "1",
    ];

    let mut kills = Vec::new();
    let (mut failed, mut in_write, mut advanced, mut finished) = (0, 0, 0, 0);
    // Every third round kills a random 0-150 ms after the handshake; the
    // others wait until the hub is seen inside a write transaction (applying
    // the first batch), then kill a random 0-10 ms later.
    for round in 0..KILLS {
        let (before, _) = hub_state(&setup.hub(), &compound.code);
        let mut probe = LockProbe::open_hub(&setup.hub());
        let (mut child, lines) = Proc::spawn_watched("lianfang-node", &sync);
        progress_lines(&lines, 1, Duration::from_secs(20));
        let handshake = Instant::now();
        if round % 3 != 2 {
            while handshake.elapsed() < Duration::from_secs(5)
                && child.ended().is_none()
                && !probe.write_locked()
            {
                std::thread::sleep(Duration::from_millis(1));
            }
            std::thread::sleep(Duration::from_millis(rng.next() % 11));
        } else {
            std::thread::sleep(Duration::from_millis(rng.next() % 151));
        }
        let wait = handshake.elapsed().as_millis();
        let writing = probe.write_locked();
        let addr = serve.kill();
        drop(probe);
        let status = child.wait(Duration::from_secs(20));
        // 0: it finished before the kill; 1: the link failed. Never 3 (refused).
        match status.code() {
            Some(0) => finished += 1,
            Some(1) => failed += 1,
            _ => panic!("sync with the hub killed under it exited {status}"),
        }
        serve = Serve::start(&setup.hub(), &["--listen", &addr], &[]);
        assert_eq!(serve.addr, addr, "restarted on the same address");
        let (head, acked) = check_node(&setup.node());
        let (cursor, records) = hub_state(&setup.hub(), &compound.code);
        assert!(
            batch_ends(before, head, BATCH).contains(&cursor),
            "hub cursor {cursor}: a batch that started at {before} (first of {BATCH} entries, \
             then adapting) was applied in part"
        );
        assert_eq!(records, cursor, "hub records vs its cursor");
        assert!(
            acked <= cursor,
            "node acked {acked} beyond hub cursor {cursor}"
        );
        kills.push(format!(
            "{wait}ms:{}exit {}:{before}->{cursor}",
            if writing { "W:" } else { "" },
            status.code().unwrap()
        ));
        if writing && cursor == before {
            in_write += 1;
        }
        if cursor == head {
            break;
        }
        if cursor != before {
            advanced += 1;
        }
    }

    let (before, _) = hub_state(&setup.hub(), &compound.code);
    let out = ok(
        "lianfang-node",
        &[
            "sync",
            "--data",
            &node,
            "--once",
            "--batch-size",
            &batch,
            "--timeout",
            "10",
            "--attempts",
            "2",
        ],
    );
    let (sent, new) = sent_and_new(&out);
    assert_eq!(
        (sent, new),
        (full - before, full - before),
        "the last sync sends and applies exactly what the hub lacked: {out}"
    );
    drop(serve);
    // (PostgreSQL checks its own pages.)
    if lianfang_hub::db::testing::server().is_none() {
        let conn = rusqlite::Connection::open(setup.hub().join("hub.db")).unwrap();
        let integrity: String = conn
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .unwrap();
        assert_eq!(integrity, "ok", "hub database after kill -9");
    }
    assert_converged(&setup.hub(), &setup.node(), compound);
    eprintln!(
        "hub kill: {full} entries; kills (delay after handshake:W if inside a hub write \
         transaction:sync exit:hub cursor) [{}]: {failed} syncs failed under the kill, \
         {in_write} kills inside a batch's transaction left the hub as it was, {advanced} \
         left it after a batch got through, {finished} syncs finished first; the last sync \
         sent {sent}; test {:?}",
        kills.join(" "),
        started.elapsed()
    );
}
