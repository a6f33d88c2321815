//! The node's sync worker against a real hub on loopback: a local write
//! through the application layer goes up at once (the interval is an
//! hour), a refusal is kept for the page or ends the CLI's worker,
//! shutdown stops it cleanly, and a sync in progress at shutdown finishes
//! within the deadline or is dropped past it, costing only the batch in
//! flight.

use std::path::PathBuf;
use std::time::Duration;

use lianfang_hub::store::HubStore;
use lianfang_node::app::NodeApp;
use lianfang_node::sync::{SyncError, SyncOptions, sync_once};
use lianfang_node::worker::{Event, SyncState, WorkerOptions};
use lianfang_proto::Kind;
use lianfang_sim::generate::{self, StreetSpec};
use lianfang_tests::{TestHub, node_with_ledger};
use tokio::sync::watch;

/// Syncs only when woken: the interval never passes during a test.
fn options() -> WorkerOptions {
    WorkerOptions::every(
        Duration::from_secs(3600),
        SyncOptions {
            attempts: 1,
            call_timeout: Duration::from_secs(10),
            ..SyncOptions::default()
        },
    )
}

async fn node(hub: &TestHub, root: &std::path::Path) -> NodeApp {
    let token = hub.enroll("HM001");
    let (app, _) = NodeApp::init(&root.join("node"), "HM001", &hub.url(), &token).expect("init");
    app
}

async fn until(
    state: &mut watch::Receiver<SyncState>,
    what: &str,
    done: impl FnMut(&SyncState) -> bool,
) -> SyncState {
    let reached = tokio::time::timeout(Duration::from_secs(30), state.wait_for(done))
        .await
        .map(|state| state.expect("worker alive").clone());
    reached.unwrap_or_else(|_| panic!("{what}: not within 30 s; state {:?}", *state.borrow()))
}

fn households(root: &std::path::Path, n: usize) -> PathBuf {
    let path = root.join("households.csv");
    let mut text = "户编号,楼号,单元,室号,房屋情况\n".to_owned();
    for i in 1..=n {
        text.push_str(&format!("H{i:03},1,1,{},自住\n", 100 + i));
    }
    std::fs::write(&path, text).expect("write ledger");
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_write_wakes_the_worker_and_shutdown_stops_it_cleanly() {
    let root = tempfile::tempdir().unwrap();
    let hub = TestHub::start().await;
    let app = node(&hub, root.path()).await;
    let worker = app.worker(options());
    let mut state = worker.state();
    let (stop, shutdown) = watch::channel(false);
    let task = tokio::spawn(worker.run(shutdown, |_| {}));

    // The first sync runs at once; then the worker waits (an hour).
    let first = until(&mut state, "first sync", |s| s.syncs >= 1 && !s.syncing).await;
    assert!(first.online, "{first:?}");
    assert!(first.last_success.is_some() && first.last_refusal.is_none());

    // A write through the app wakes it: the records reach the hub long
    // before the interval.
    let ledger = households(root.path(), 3);
    let summary = app
        .blocking(move |app| app.import(&[ledger]))
        .await
        .expect("import");
    assert_eq!(summary.written(), 3);
    let after = until(&mut state, "sync after the write", |s| {
        s.syncs >= 2 && !s.syncing && s.pending == Some(0)
    })
    .await;
    assert!(after.online && after.last_error.is_none(), "{after:?}");
    assert_eq!(
        hub.store().record_count("HM001", Kind::Household).unwrap(),
        3
    );
    assert_eq!(app.status().unwrap().pending, 0);

    // A re-import that changes nothing writes nothing and wakes nothing.
    let unchanged = households(root.path(), 3);
    let summary = app.blocking(move |app| app.import(&[unchanged])).await;
    assert_eq!(summary.expect("import").written(), 0);

    // Shutdown while it waits: it returns at once, without error.
    stop.send_replace(true);
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("stopped within 10 s of shutdown")
        .expect("no panic")
        .expect("no error");
    assert_eq!(state.borrow().syncs, 2, "{:?}", state.borrow());
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_is_kept_for_the_page_or_ends_the_cli_worker() {
    let root = tempfile::tempdir().unwrap();
    let hub = TestHub::start().await;
    let app = node(&hub, root.path()).await;
    HubStore::open_or_create(hub.dir.path())
        .unwrap()
        .revoke("HM001")
        .unwrap();

    // A page's worker stays up and shows the refusal with its reason.
    let worker = app.worker(options());
    let mut state = worker.state();
    let (stop, shutdown) = watch::channel(false);
    let task = tokio::spawn(worker.run(shutdown, |_| {}));
    let refused = until(&mut state, "refusal", |s| s.last_refusal.is_some()).await;
    assert!(!refused.online);
    let reason = refused.last_refusal.unwrap().reason;
    assert!(reason.contains("revoked"), "{reason}");
    assert!(!task.is_finished());
    stop.send_replace(true);
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("stopped within 10 s of shutdown")
        .expect("no panic")
        .expect("no error");

    // The CLI's worker ends with the refusal (`sync` exits 2 with it).
    let worker = app.worker(WorkerOptions {
        stop_on_refusal: true,
        ..options()
    });
    let (_stop, shutdown) = watch::channel(false);
    let ended = tokio::time::timeout(Duration::from_secs(30), worker.run(shutdown, |_| {}))
        .await
        .expect("ends within 30 s");
    assert!(matches!(ended, Err(SyncError::Refused(_))), "{ended:?}");
    hub.stop().await;
}

/// A node with a backlog of some thousand entries that goes up in batches
/// of 50, and a worker for it that is told to stop at its `stop_at`-th
/// progress report (the first comes as the sync starts, then one per
/// acknowledged batch). Returns what `run` returned, the hub's cursor and
/// the node's head then, and the number of syncs that caught up.
async fn stop_during_a_backlog(
    stop_at: usize,
    exit_deadline: Duration,
) -> (Result<(), SyncError>, u64, u64, u64) {
    let hub = TestHub::start().await;
    let spec = StreetSpec {
        min_households: 300,
        max_households: 300,
        ..StreetSpec::demo(1)
    };
    let compound = generate::compound(&spec, 0);
    let token = hub.enroll(&compound.code);
    let root = tempfile::tempdir().unwrap();
    let data = node_with_ledger(root.path(), &compound, &hub.url(), &token, false);
    let app = NodeApp::open(&data).unwrap();
    let head = app.status().unwrap().head;
    let batches = SyncOptions {
        batch_size: 50,
        min_batch: 50,
        max_batch: 50,
        attempts: 1,
        ..SyncOptions::default()
    };
    let worker = app.worker(WorkerOptions {
        exit_deadline,
        ..WorkerOptions::every(Duration::from_secs(3600), batches.clone())
    });
    let state = worker.state();
    let (stop, shutdown) = watch::channel(false);
    let mut reports = 0;
    let ended = tokio::time::timeout(
        Duration::from_secs(120),
        worker.run(shutdown, |event| {
            if let Event::Progress(_) = event {
                reports += 1;
                if reports == stop_at {
                    stop.send_replace(true);
                }
            }
        }),
    )
    .await
    .expect("the worker ends within 120 s of shutdown");
    let cursor = hub.store().cursor(&compound.code).unwrap();
    let syncs = state.borrow().syncs;
    // Whatever happened, the next sync sends what the hub lacks.
    sync_once(&data, &batches, |_| {}).await.expect("resumes");
    assert_eq!(hub.store().cursor(&compound.code).unwrap(), head);
    hub.stop().await;
    (ended, cursor, head, syncs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_the_sync_in_progress_finish_within_the_deadline() {
    let (ended, cursor, head, syncs) = stop_during_a_backlog(1, Duration::from_secs(60)).await;
    ended.expect("no error");
    assert!(head > 500, "a backlog of many batches: {head}");
    assert_eq!(cursor, head, "the sync in progress finished");
    assert_eq!(syncs, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_past_the_deadline_is_dropped_and_costs_only_the_batch_in_flight() {
    let (ended, cursor, head, syncs) = stop_during_a_backlog(3, Duration::ZERO).await;
    ended.expect("no error");
    assert!(
        0 < cursor && cursor < head,
        "stopped mid-backlog: hub has {cursor} of {head}"
    );
    assert_eq!(syncs, 0);
}

/// Waits for a child process to exit; its exit code.
async fn exit_code(child: &mut std::process::Child, within: Duration) -> Option<i32> {
    let deadline = std::time::Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status.code();
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("still running after {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `lianfang-node sync` without `--once` runs the worker: the same lines
/// as before at each round, exit 0 at SIGTERM, exit 2 with the reason when
/// the hub refuses the node.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_without_once_runs_until_sigterm_or_a_refusal() {
    let root = tempfile::tempdir().unwrap();
    let hub = TestHub::start().await;
    let app = node(&hub, root.path()).await;
    app.import(&[households(root.path(), 2)]).unwrap();
    let data = app.dir().to_str().unwrap().to_owned();
    drop(app);
    let node_bin = lianfang_tests::bin("lianfang-node");
    let spawn = |name: &str| {
        let out = root.path().join(format!("{name}.out"));
        let err = root.path().join(format!("{name}.err"));
        let child = std::process::Command::new(&node_bin)
            .args(["sync", "--data", &data, "--interval", "1"])
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .expect("spawn lianfang-node sync");
        (child, out, err)
    };

    let (mut child, out, err) = spawn("running");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::fs::read_to_string(&out)
        .unwrap_or_default()
        .matches("hub and node agree (digests)")
        .count()
        < 2
    {
        assert!(
            child.try_wait().unwrap().is_none(),
            "exited early: {}",
            std::fs::read_to_string(&err).unwrap_or_default()
        );
        assert!(
            std::time::Instant::now() < deadline,
            "no second round in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(kill.success());
    assert_eq!(
        exit_code(&mut child, Duration::from_secs(20)).await,
        Some(0)
    );
    let printed = std::fs::read_to_string(&out).unwrap();
    assert!(
        printed.starts_with(
            "caught up: hub has all 2 entries (sent 2 in 1 batch(es), 2 new); \
             received 0 directive(s), 0 in all\nhub and node agree (digests)\n\
             caught up: hub has all 2 entries (sent 0 in 0 batch(es), 0 new); "
        ),
        "{printed}"
    );

    HubStore::open_or_create(hub.dir.path())
        .unwrap()
        .revoke("HM001")
        .unwrap();
    let (mut child, _, err) = spawn("refused");
    assert_eq!(
        exit_code(&mut child, Duration::from_secs(60)).await,
        Some(2)
    );
    assert_eq!(
        std::fs::read_to_string(&err).unwrap(),
        "error: hub refused: unauthenticated: unknown or revoked token\n"
    );
    hub.stop().await;
}
