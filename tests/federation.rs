//! Federation through the real binaries, three levels up: a city hub, a
//! district hub under it, three street hubs under the district, two
//! compounds under each street, every node behind a link that cuts.
//! Each hub is a real `lianfang-hub serve` process that syncs upward in the
//! background (`upstream`); the nodes are real `lianfang-node` processes.
//!
//! Checked: the district's table and log equal its streets' (row by row,
//! and in detail compound by compound) for several dates, before and after
//! late data; the city's equal the district's; a city notice reaches every
//! compound through two hubs that pass it on, signed by each, and the
//! acknowledgements roll back up to the city; a street hub killed while its
//! upward link is cut resumes after a restart without loss or double
//! counting.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lianfang_proto::log::KEYS;
use lianfang_proto::table::COLUMNS;
use lianfang_sim::generate::{self, StreetSpec};
use lianfang_tests::{CutProxy, Serve, offset_to, ok_with, run_with};

/// The generated ledgers' "today", where every hub's clock is put.
const TODAY: &str = "2020-02-20";
/// Dates compared, all inside the default window of 14 dates sent up.
const DATES: [&str; 3] = ["2020-02-10", "2020-02-16", TODAY];

/// `LIANFANG_CLOCK_OFFSET_SECS` putting a clock at 10:00 China time of
/// [`TODAY`] (before the meeting's cut-off).
fn offset() -> String {
    offset_to(&format!("{TODAY}T02:00:00Z"))
}

struct Hubs {
    env: [(&'static str, String); 1],
}

impl Hubs {
    fn env(&self) -> Vec<(&str, &str)> {
        self.env.iter().map(|(k, v)| (*k, v.as_str())).collect()
    }

    fn ok(&self, args: &[&str]) -> String {
        ok_with("lianfang-hub", args, &self.env())
    }

    /// `lianfang-node` on the same clock as the hubs.
    fn node(&self, args: &[&str]) -> String {
        ok_with("lianfang-node", args, &self.env())
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.ok(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    }

    /// `enroll` at `hub`; returns the token.
    fn enroll(&self, hub: &Path, code: &str, name: &str) -> String {
        let out = self.ok(&[
            "enroll",
            "--data",
            path(hub),
            "--compound",
            code,
            "--name",
            name,
        ]);
        out.lines().last().unwrap().trim().to_owned()
    }

    /// `upstream` of `hub` to `above` with `token`, syncing every second.
    fn upstream(&self, hub: &Path, above: &str, token: &str) {
        let out = self.ok(&[
            "upstream",
            "--data",
            path(hub),
            "--hub",
            above,
            "--token",
            token,
            "--interval",
            "1",
        ]);
        assert!(out.contains("level above set"), "{out}");
    }

    fn serve(&self, hub: &Path, listen: &str) -> Serve {
        Serve::start(hub, &["--listen", listen, "--no-web"], &self.env())
    }

    /// `report` (`table` or `log`) of `hub` for `date` as JSON.
    fn report(&self, report: &str, hub: &Path, date: &str, detail: bool) -> serde_json::Value {
        let mut args = vec![
            report,
            "--data",
            path(hub),
            "--date",
            date,
            "--format",
            "json",
        ];
        if detail {
            args.push("--detail");
        }
        self.json(&args)
    }

    fn table(&self, hub: &Path, date: &str, detail: bool) -> serde_json::Value {
        self.report("table", hub, date, detail)
    }
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A row's (or a total's) figures under `keys`.
fn figures(row: &serde_json::Value, keys: &[&str]) -> Vec<i64> {
    keys.iter()
        .map(|k| {
            row[*k]
                .as_i64()
                .unwrap_or_else(|| panic!("no {k} in {row}"))
        })
        .collect()
}

fn table_keys() -> Vec<&'static str> {
    COLUMNS.iter().map(|(k, _)| *k).collect()
}

fn log_keys() -> Vec<&'static str> {
    KEYS.iter().map(|(k, _)| *k).collect()
}

/// Whether `above` (a hub with member hubs) shows exactly what each of
/// `below` (code, data directory) shows, for every date of [`DATES`]: each
/// member hub's row equals that hub's total, its detail rows equal that
/// hub's rows, and the total is their sum. `Err` says the first difference.
fn agrees(hubs: &Hubs, above: &Path, below: &[(String, PathBuf)]) -> Result<(), String> {
    for date in DATES {
        for (report, keys) in [("table", table_keys()), ("log", log_keys())] {
            let read = |hub: &Path, detail: bool| hubs.report(report, hub, date, detail);
            let top = read(above, false);
            let detail = read(above, true);
            let rows = top["compounds"].as_array().unwrap();
            let mut sum = vec![0; keys.len()];
            for (code, dir) in below {
                let theirs = read(dir, false);
                let row = rows
                    .iter()
                    .find(|r| r["compound"] == code.as_str())
                    .ok_or_else(|| format!("{report} {date}: no row {code}"))?;
                if row["source"] != "members" {
                    return Err(format!(
                        "{report} {date} {code}: not from members yet: {row}"
                    ));
                }
                let (got, want) = (figures(row, &keys), figures(&theirs["total"], &keys));
                if got != want {
                    return Err(format!(
                        "{report} {date} {code}: above {got:?}, below {want:?}"
                    ));
                }
                for (a, b) in got.iter().zip(&mut sum) {
                    *b += a;
                }
                // In detail: the member hub's rows, as it shows them.
                let members: Vec<&serde_json::Value> = detail["compounds"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|r| r["member_of"] == code.as_str())
                    .collect();
                let their_rows = theirs["compounds"].as_array().unwrap();
                if members.len() != their_rows.len() {
                    return Err(format!(
                        "{report} {date} {code}: {} detail rows, {} below",
                        members.len(),
                        their_rows.len()
                    ));
                }
                for (m, t) in members.iter().zip(their_rows) {
                    if m["compound"] != t["compound"]
                        || m["name"] != t["name"]
                        || figures(m, &keys) != figures(t, &keys)
                    {
                        return Err(format!("{report} {date} {code}: detail {m} below {t}"));
                    }
                }
            }
            if figures(&top["total"], &keys) != sum {
                return Err(format!("{report} {date}: total is not the rows' sum"));
            }
            if figures(&detail["total"], &keys) != sum {
                return Err(format!("{report} {date}: detailed total differs"));
            }
        }
    }
    Ok(())
}

/// Waits up to `limit` for `check` to pass; panics with its last word.
fn eventually(limit: Duration, mut check: impl FnMut() -> Result<(), String>) {
    let start = Instant::now();
    loop {
        match check() {
            Ok(()) => return,
            Err(why) if start.elapsed() > limit => panic!("not within {limit:?}: {why}"),
            Err(_) => std::thread::sleep(Duration::from_millis(500)),
        }
    }
}

/// `lianfang-node sync --once` until it succeeds, healing `proxy` after a
/// cut; a cut is a link error (exit 1).
fn sync_node(hubs: &Hubs, node: &str, proxy: &CutProxy) {
    for _ in 0..6 {
        let out = run_with(
            "lianfang-node",
            &["sync", "--data", node, "--once"],
            &hubs.env(),
        );
        if out.status.success() {
            return;
        }
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        proxy.heal();
    }
    panic!("{node}: sync never succeeded");
}

struct Street {
    code: String,
    dir: PathBuf,
    serve: Option<Serve>,
    /// The link from the street hub up to the district.
    up: CutProxy,
    /// The link from the nodes to the street hub.
    down: CutProxy,
    nodes: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streets_federate_into_a_district_and_a_city() {
    let root = tempfile::tempdir().unwrap();
    let hubs = Hubs {
        env: [("LIANFANG_CLOCK_OFFSET_SECS", offset())],
    };
    let city = root.path().join("city");
    let district = root.path().join("district");
    let district_token = hubs.enroll(&city, "PD", "浦东新区");
    let city_serve = hubs.serve(&city, "127.0.0.1:0");
    // Every street enrolled before the district serves, so its first
    // upward sync already lists them all.
    let codes = ["S01", "S02", "S03"];
    let names = ["花木街道", "陆家嘴街道", "洋泾街道"];
    let street_tokens: Vec<String> = codes
        .iter()
        .zip(names)
        .map(|(code, name)| hubs.enroll(&district, code, name))
        .collect();
    let district_serve = hubs.serve(&district, "127.0.0.1:0");
    let district_addr = district_serve.addr.parse().unwrap();
    // The district's level above is set while it serves: it starts syncing
    // upward by itself.
    hubs.upstream(&district, &city_serve.url(), &district_token);

    let mut streets = Vec::new();
    for (i, (code, token)) in codes.iter().zip(&street_tokens).enumerate() {
        let dir = root.path().join(code);
        // S01's link up is cut a few hundred bytes into its first upward
        // sync; it is killed in that state below.
        let up = CutProxy::start(district_addr, if i == 0 { 700 } else { u64::MAX }).await;
        hubs.upstream(&dir, &up.url(), token);
        let spec = StreetSpec {
            seed: 7000 + i as u64,
            ..StreetSpec::demo(2)
        };
        let ledgers: Vec<_> = (0..2).map(|c| generate::compound(&spec, c)).collect();
        let tokens: Vec<String> = ledgers
            .iter()
            .map(|l| hubs.enroll(&dir, &l.code, &l.name))
            .collect();
        let serve = hubs.serve(&dir, "127.0.0.1:0");
        let down = CutProxy::start(serve.addr.parse().unwrap(), 900).await;
        let mut nodes = Vec::new();
        for (c, (ledger, token)) in ledgers.iter().zip(&tokens).enumerate() {
            let node = root.path().join(format!("{code}-n{c}"));
            let node = path(&node).to_owned();
            hubs.node(&[
                "init",
                "--data",
                &node,
                "--compound",
                &ledger.code,
                "--hub",
                &down.url(),
                "--token",
                token,
            ]);
            let files = ledger
                .write_csv(&root.path().join(format!("{code}-l{c}")))
                .unwrap();
            let mut args = vec!["import", "--data", node.as_str()];
            args.extend(files.iter().map(|f| path(f)));
            hubs.node(&args);
            sync_node(&hubs, &node, &down);
            nodes.push(node);
        }
        streets.push(Street {
            code: (*code).to_owned(),
            dir,
            serve: Some(serve),
            up,
            down,
            nodes,
        });
    }

    // S01 is killed while its link up is cut, then comes back on the same
    // address (its nodes' link points there) with the link healed.
    let s01 = &mut streets[0];
    std::thread::sleep(Duration::from_secs(2));
    let addr = s01.serve.take().unwrap().kill();
    s01.up.heal();
    s01.serve = Some(hubs.serve(&s01.dir, &addr));

    let below: Vec<(String, PathBuf)> = streets
        .iter()
        .map(|s| (s.code.clone(), s.dir.clone()))
        .collect();
    eventually(Duration::from_secs(90), || agrees(&hubs, &district, &below));
    let district_below = vec![("PD".to_owned(), district.clone())];
    eventually(Duration::from_secs(60), || {
        agrees(&hubs, &city, &district_below)
    });

    // Late data at one compound of S02: an isolation and a day's health
    // checks deleted, which changes the table and the log of past dates.
    let s02 = &streets[1];
    let spec = StreetSpec {
        seed: 7001,
        ..StreetSpec::demo(2)
    };
    let ledger = generate::compound(&spec, 0);
    let before = hubs.table(&district, "2020-02-16", false);
    let checks: Vec<&str> = ledger
        .health_checks
        .iter()
        .filter(|(_, c)| c.date == "2020-02-16")
        .map(|(id, _)| id.as_str())
        .collect();
    assert!(!checks.is_empty(), "the generator checks someone that day");
    let isolation = ledger
        .isolations
        .iter()
        .find(|(_, i)| i.start.as_str() <= "2020-02-10")
        .map(|(id, _)| id.as_str())
        .expect("an isolation begun by 2020-02-10");
    let mut args = vec![
        "delete",
        "--data",
        s02.nodes[0].as_str(),
        "--kind",
        "health_check",
    ];
    args.extend(&checks);
    hubs.node(&args);
    hubs.node(&[
        "delete",
        "--data",
        &s02.nodes[0],
        "--kind",
        "isolation",
        isolation,
    ]);
    sync_node(&hubs, &s02.nodes[0], &s02.down);
    eventually(Duration::from_secs(60), || {
        agrees(&hubs, &district, &below)?;
        agrees(&hubs, &city, &district_below)
    });
    let after = hubs.table(&district, "2020-02-16", false);
    assert_ne!(
        figures(&before["total"], &table_keys()),
        figures(&after["total"], &table_keys()),
        "the late data changed the district's table"
    );

    // A notice from the city reaches every compound, passed on by the
    // district and each street, each signing it again.
    let id = hubs
        .ok(&[
            "directive",
            "send",
            "--data",
            path(&city),
            "--title",
            "市级通知",
            "--body",
            "加强社区防控",
        ])
        .trim()
        .to_owned();
    for street in &streets {
        for node in &street.nodes {
            let received = eventually_received(&hubs, node, &street.down, "市级通知");
            hubs.node(&["ack", "--data", node, &received, "--response", "已落实"]);
            sync_node(&hubs, node, &street.down);
        }
    }
    eventually(Duration::from_secs(60), || {
        let status = hubs.json(&[
            "directive",
            "status",
            "--data",
            path(&city),
            &id,
            "--format",
            "json",
        ]);
        let target = &status["targets"][0];
        let members = &target["members"];
        if target["compound"] != "PD" || members["acknowledged"] != 6 {
            return Err(format!("city's status: {status}"));
        }
        assert_eq!(members["compounds"], 6, "{status}");
        assert_eq!(members["delivered"], 6, "{status}");
        let responses = members["responses"].as_array().unwrap();
        assert_eq!(responses.len(), 6, "{status}");
        assert!(
            responses.iter().all(|r| r["response"] == "已落实"),
            "{status}"
        );
        Ok(())
    });
    // The district's own status: per street, its two compounds.
    let list = hubs.json(&[
        "directive",
        "list",
        "--data",
        path(&district),
        "--format",
        "json",
    ]);
    let passed_on = list[0]["id"].as_str().unwrap().to_owned();
    let status = hubs.json(&[
        "directive",
        "status",
        "--data",
        path(&district),
        &passed_on,
        "--format",
        "json",
    ]);
    assert_eq!(status["title"], "市级通知", "{status}");
    let targets = status["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 3, "{status}");
    for (t, code) in targets.iter().zip(codes) {
        assert_eq!(t["compound"], code, "{status}");
        assert!(t["delivered_at"].is_string(), "{status}");
        assert_eq!(t["members"]["compounds"], 2, "{status}");
        assert_eq!(t["members"]["acknowledged"], 2, "{status}");
    }

    let text = hubs.ok(&["directive", "status", "--data", path(&district), &passed_on]);
    assert!(
        text.contains("its compounds: 2/2 delivered, 2/2 acknowledged"),
        "{text}"
    );
    assert!(text.contains("all 3 acknowledged"), "{text}");

    // Nothing personal went up: the district holds no record of the
    // compounds' ledgers, only the street hubs' member days and roll-ups.
    let exported = hubs.ok(&[
        "export",
        "--data",
        path(&district),
        "--kind",
        "persons",
        "--format",
        "json",
    ]);
    assert_eq!(exported.trim(), "[]", "{exported}");
    drop(city_serve);
    drop(district_serve);
}

/// Syncs `node` until the notice titled `title` is among its directives;
/// returns its id there (the street's own).
fn eventually_received(hubs: &Hubs, node: &str, proxy: &CutProxy, title: &str) -> String {
    let start = Instant::now();
    loop {
        sync_node(hubs, node, proxy);
        let list: serde_json::Value =
            serde_json::from_str(&hubs.node(&["directives", "--data", node, "--format", "json"]))
                .unwrap();
        if let Some(d) = list
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["title"] == title)
        {
            return d["id"].as_str().unwrap().to_owned();
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{node} never received {title:?}: {list}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn upstream_and_sync_up_say_what_is_wrong_and_change_nothing() {
    let root = tempfile::tempdir().unwrap();
    let district = root.path().join("district");
    let street = root.path().join("street");
    let hubs = Hubs {
        env: [("LIANFANG_CLOCK_OFFSET_SECS", "0".to_owned())],
    };
    let token = hubs.enroll(&district, "S01", "花木街道");
    hubs.enroll(&street, "HM001", "联洋新苑");
    let hub = |args: &[&str]| run_with("lianfang-hub", args, &[]);
    let stderr = |out: &std::process::Output| String::from_utf8_lossy(&out.stderr).into_owned();

    // No level above yet: a refusal to fix (exit 3) that says what to run.
    let out = hub(&["sync-up", "--data", path(&street), "--once"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("lianfang-hub upstream"),
        "{}",
        stderr(&out)
    );

    // Bad values name what is wrong and set nothing.
    for (args, says) in [
        (vec!["--token", "lf1.garbage"], "invalid token"),
        (vec!["--token", token.as_str(), "--days", "0"], "--days"),
        (
            vec!["--token", token.as_str(), "--interval", "0"],
            "--interval",
        ),
    ] {
        let mut all = vec![
            "upstream",
            "--data",
            path(&street),
            "--hub",
            "http://127.0.0.1:9",
        ];
        all.extend(args);
        let out = hub(&all);
        assert!(!out.status.success(), "{all:?}");
        assert!(stderr(&out).contains(says), "{all:?}: {}", stderr(&out));
        assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    }
    let out = hub(&["sync-up", "--data", path(&street), "--once"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "still not set: {}",
        stderr(&out)
    );

    // Set, then the same again: nothing changes.
    let args = [
        "upstream",
        "--data",
        path(&street),
        "--hub",
        "http://127.0.0.1:9",
        "--token",
        token.as_str(),
    ];
    assert!(hubs.ok(&args).contains("level above set"));
    assert!(hubs.ok(&args).contains("level above already set"));

    // The hub above is not there: a link error (exit 1), run again later.
    let out = hub(&["sync-up", "--data", path(&street), "--once"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));

    // The hub above at its real address (same token: the same log, moved);
    // one upward sync, exit 0; the district then lists the street's
    // compound under it.
    let serve = hubs.serve(&district, "127.0.0.1:0");
    let mut args = args.to_vec();
    let url = serve.url();
    args[4] = &url;
    let out = hubs.ok(&args);
    assert!(out.contains("level above set"), "{out}");
    assert!(
        !std::fs::read_dir(&street)
            .unwrap()
            .filter_map(Result::ok)
            .any(|e| e
                .file_name()
                .to_string_lossy()
                .starts_with("upstream.replaced-")),
        "the same token keeps its upstream"
    );
    let out = hub(&["sync-up", "--data", path(&street), "--once"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    // The failed attempt above wrote the 14 days already; this sends them.
    assert!(said.contains("14 entr(ies) sent"), "{said}");
    let today = lianfang_hub::today().format("%Y-%m-%d").to_string();
    let detail = hubs.table(&district, &today, true);
    assert_eq!(detail["compounds"][0]["compound"], "HM001", "{detail}");
    assert_eq!(detail["compounds"][0]["member_of"], "S01", "{detail}");
    assert_eq!(detail["compounds"][0]["name"], "联洋新苑", "{detail}");
    let shown = hubs.json(&["upstream", "--data", path(&street), "--format", "json"]);
    assert_eq!(shown["hub"], url.as_str(), "{shown}");
    assert_eq!(shown["code"], "S01", "{shown}");
    assert_eq!(shown["days"], 14, "{shown}");
    assert_eq!(shown["pending"], 0, "{shown}");
    assert!(shown["last_success"].is_string(), "{shown}");
    assert!(
        shown["last_error"].as_str().unwrap().contains("connect"),
        "the earlier failure is kept: {shown}"
    );
    let text = hubs.ok(&["upstream", "--data", path(&street)]);
    assert!(text.contains("pending       0 change(s)"), "{text}");
    // Again: nothing changed, nothing goes up.
    let out = hub(&["sync-up", "--data", path(&street), "--once"]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("synced up: 0 member day(s)") && said.contains(" 0 entr(ies) sent"),
        "{said}"
    );
}
