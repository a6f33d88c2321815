//! The meeting's cut-off through the real binaries: the hub-local settings
//! (`config set --cutoff / --street-name`), the snapshot (`snapshot`,
//! `table --snapshot`), the revisions since it (`since_cutoff`), `serve`
//! taking it by itself at the cut-off, and the hub's clock offset.

use lianfang_proto::table::COLUMNS;
use lianfang_sim::generate::{self, StreetSpec};
use lianfang_tests::{Serve, offset_to, ok, ok_with, oracle, run, run_with};

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn table_json(hub: &str, date: &str, snapshot: bool) -> serde_json::Value {
    let mut args = vec!["table", "--data", hub, "--date", date, "--format", "json"];
    if snapshot {
        args.push("--snapshot");
    }
    json(&ok("lianfang-hub", &args))
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `lianfang-hub enroll`; returns the token (last line of stdout).
fn enroll(hub: &str, code: &str, name: &str) -> String {
    let out = ok(
        "lianfang-hub",
        &["enroll", "--data", hub, "--compound", code, "--name", name],
    );
    out.lines().last().unwrap().trim().to_owned()
}

/// Imports `ledger` (as CSV, from `dir/name`) into the node in `node`.
fn import(node: &str, ledger: &generate::CompoundLedger, dir: &std::path::Path) {
    let files = ledger.write_csv(dir).unwrap();
    let mut args = vec!["import", "--data", node];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    ok("lianfang-node", &args);
}

/// How many directives the hub has sent (every one appends to down logs).
fn directives(hub: &str) -> usize {
    json(&ok(
        "lianfang-hub",
        &["directive", "list", "--data", hub, "--format", "json"],
    ))
    .as_array()
    .unwrap()
    .len()
}

#[test]
fn cutoff_and_street_name_are_hub_settings_sent_to_no_node() {
    let root = tempfile::tempdir().unwrap();
    let hub_dir = root.path().join("hub");
    let hub = hub_dir.to_str().unwrap();
    enroll(hub, "HM001", "联洋新苑");

    let config = json(&ok("lianfang-hub", &["config", "show", "--data", hub]));
    assert_eq!(config["cutoff"], "16:30", "{config}");
    assert_eq!(config["street_name"], "", "{config}");
    assert_eq!(config["isolation_days"], 14, "{config}");

    let set = json(&ok(
        "lianfang-hub",
        &[
            "config",
            "set",
            "--data",
            hub,
            "--cutoff",
            "17:05",
            "--street-name",
            " 花木街道 ",
        ],
    ));
    assert_eq!(set["cutoff"], "17:05", "{set}");
    assert_eq!(set["street_name"], "花木街道", "{set}");
    assert_eq!(directives(hub), 0, "hub-local settings go down to no node");
    ok(
        "lianfang-hub",
        &["config", "set", "--data", hub, "--cutoff", "9:00"],
    );
    assert_eq!(directives(hub), 0);

    // Bad values name the flag, fail, and change nothing.
    for (flag, value) in [
        ("--cutoff", "25:00"),
        ("--cutoff", "4pm"),
        ("--cutoff", "16:30:00"),
        ("--cutoff", ""),
        ("--street-name", "花木\n街道"),
    ] {
        let out = run(
            "lianfang-hub",
            &[
                "config",
                "set",
                "--data",
                hub,
                flag,
                value,
                "--isolation-days",
                "7",
            ],
        );
        assert!(!out.status.success(), "{flag} {value:?}");
        let err = stderr(&out);
        assert!(err.contains(flag), "{flag} {value:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let config = json(&ok("lianfang-hub", &["config", "show", "--data", hub]));
    assert_eq!(config["cutoff"], "09:00", "{config}");
    assert_eq!(config["street_name"], "花木街道", "{config}");
    assert_eq!(config["isolation_days"], 14, "{config}");
    assert_eq!(directives(hub), 0);

    // The table's settings still go down, and leave the hub's own alone.
    let set = json(&ok(
        "lianfang-hub",
        &["config", "set", "--data", hub, "--isolation-days", "7"],
    ));
    assert_eq!(set["isolation_days"], 7, "{set}");
    assert_eq!(set["cutoff"], "09:00", "{set}");
    assert_eq!(directives(hub), 1);

    // The street's name titles the table, and is in its JSON.
    let text = ok(
        "lianfang-hub",
        &["table", "--data", hub, "--date", "2020-02-20"],
    );
    assert!(
        text.lines()
            .next()
            .unwrap()
            .starts_with("花木街道 日表 2020-02-20"),
        "{text}"
    );
    assert_eq!(table_json(hub, "2020-02-20", false)["street"], "花木街道");
    ok(
        "lianfang-hub",
        &["config", "set", "--data", hub, "--street-name", ""],
    );
    let text = ok(
        "lianfang-hub",
        &["table", "--data", hub, "--date", "2020-02-20"],
    );
    assert!(text.starts_with("街道 日表 2020-02-20"), "{text}");
}

#[test]
fn late_data_shows_as_revisions_of_the_snapshot_which_keeps_the_cutoff_figures() {
    let root = tempfile::tempdir().unwrap();
    let hub_dir = root.path().join("hub");
    let hub = hub_dir.to_str().unwrap();
    let date = "2020-02-20";
    let day = chrono::NaiveDate::from_ymd_opt(2020, 2, 20).unwrap();
    let street = StreetSpec::demo(2);
    let ledgers: Vec<_> = (0..2).map(|i| generate::compound(&street, i)).collect();
    let tokens: Vec<_> = ledgers
        .iter()
        .map(|l| enroll(hub, &l.code, &l.name))
        .collect();
    let serve = Serve::start(&hub_dir, &["--listen", "127.0.0.1:0"], &[]);
    let nodes: Vec<String> = ledgers
        .iter()
        .zip(&tokens)
        .enumerate()
        .map(|(i, (ledger, token))| {
            let node = root.path().join(format!("n{i}")).join("data");
            let node = node.to_str().unwrap().to_owned();
            ok(
                "lianfang-node",
                &[
                    "init",
                    "--data",
                    &node,
                    "--compound",
                    &ledger.code,
                    "--hub",
                    &serve.url(),
                    "--token",
                    token,
                ],
            );
            import(&node, ledger, &root.path().join(format!("l{i}")));
            ok("lianfang-node", &["sync", "--data", &node, "--once"]);
            node
        })
        .collect();

    // No snapshot yet: `--snapshot` exits 2 and says so; no revisions.
    let out = run(
        "lianfang-hub",
        &["table", "--data", hub, "--date", date, "--snapshot"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no snapshot of 2020-02-20"),
        "{}",
        stderr(&out)
    );
    assert!(out.stdout.is_empty());
    let live = table_json(hub, date, false);
    assert_eq!(live["snapshot_at"], serde_json::Value::Null, "{live}");
    assert_eq!(live["compounds"][0]["since_cutoff"], serde_json::json!({}));

    // The meeting's snapshot, with the hub's clock on that day at noon.
    let noon = [(
        "LIANFANG_CLOCK_OFFSET_SECS",
        offset_to("2020-02-20T04:00:00Z"),
    )];
    let noon: Vec<(&str, &str)> = noon.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = ok_with("lianfang-hub", &["snapshot", "--data", hub], &noon);
    assert!(
        out.contains("snapshot of 2020-02-20 taken at 2020-02-20T04:00")
            && out.contains("2 compound row(s)"),
        "{out}"
    );
    // Right after it, the live table is the snapshot's, exactly.
    let at_cutoff = table_json(hub, date, false);
    let taken_at = at_cutoff["snapshot_at"].as_str().unwrap().to_owned();
    assert!(taken_at.starts_with("2020-02-20T04:00"), "{taken_at}");
    assert_eq!(table_json(hub, date, true), at_cutoff);
    // With no date, `table` reads the hub's (shifted) clock too.
    let today = json(&ok_with(
        "lianfang-hub",
        &["table", "--data", hub, "--format", "json", "--snapshot"],
        &noon,
    ));
    assert_eq!(today, at_cutoff);

    // Late data from the first compound only.
    let mut edited = ledgers[0].clone();
    edited.edit_day(7, 0.05, day);
    import(&nodes[0], &edited, &root.path().join("l0-late"));
    ok("lianfang-node", &["sync", "--data", &nodes[0], "--once"]);

    let (before, after) = (oracle(&ledgers[0], day), oracle(&edited, day));
    let (before, after) = (
        serde_json::to_value(before).unwrap(),
        serde_json::to_value(after).unwrap(),
    );
    let mut expected = serde_json::Map::new();
    let mut cell = Vec::new();
    for (key, _) in COLUMNS {
        let delta = after[key].as_i64().unwrap() - before[key].as_i64().unwrap();
        if delta != 0 {
            expected.insert(key.to_owned(), delta.into());
            cell.push(format!("{key}{delta:+}"));
        }
    }
    assert!(!expected.is_empty(), "the late data changes the table");
    let live = table_json(hub, date, false);
    assert_eq!(live["snapshot_at"], taken_at.as_str());
    let rows = live["compounds"].as_array().unwrap();
    assert_eq!(rows[0]["compound"], ledgers[0].code.as_str());
    assert_eq!(rows[0]["persons"], after["persons"]);
    assert_eq!(
        rows[0]["since_cutoff"],
        serde_json::Value::Object(expected.clone())
    );
    assert_eq!(rows[1]["since_cutoff"], serde_json::json!({}), "untouched");
    assert_eq!(
        live["total_since_cutoff"],
        serde_json::Value::Object(expected)
    );
    // The snapshot still prints the cut-off's figures, exactly.
    assert_eq!(table_json(hub, date, true), at_cutoff);

    // CSV: existing columns unchanged, the revisions in a last column.
    let csv = ok(
        "lianfang-hub",
        &["table", "--data", hub, "--date", date, "--format", "csv"],
    );
    let mut lines = csv.lines();
    let header = lines.next().unwrap();
    let mut columns = vec!["compound", "name"];
    columns.extend(COLUMNS.iter().map(|(key, _)| *key));
    columns.extend(["last_sync", "caught_up", "source", "since_cutoff"]);
    assert_eq!(header, columns.join(","));
    let first = lines.next().unwrap();
    assert!(first.ends_with(&format!(",{}", cell.join(" "))), "{first}");
    assert!(lines.next().unwrap().ends_with(','), "no revision: {csv}");
    // Text: a column of revisions by the Chinese names, and a title saying so.
    let text = ok("lianfang-hub", &["table", "--data", hub, "--date", date]);
    assert!(text.contains("截点后变动"), "{text}");
    let snapshot_text = ok(
        "lianfang-hub",
        &["table", "--data", hub, "--date", date, "--snapshot"],
    );
    assert!(
        snapshot_text
            .lines()
            .next()
            .unwrap()
            .contains("例会截点快照（取于 2020-02-20 12:00"),
        "{snapshot_text}"
    );
    assert!(!snapshot_text.contains("截点后变动"), "{snapshot_text}");

    // A second snapshot of the day replaces the first, whole.
    let later = [(
        "LIANFANG_CLOCK_OFFSET_SECS",
        offset_to("2020-02-20T08:30:00Z"),
    )];
    let later: Vec<(&str, &str)> = later.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = run_with("lianfang-hub", &["snapshot", "--data", hub], &later);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "replaced the snapshot of 2020-02-20 taken at {taken_at}"
        )),
        "{}",
        stderr(&out)
    );
    let retaken = table_json(hub, date, true);
    assert!(
        retaken["snapshot_at"]
            .as_str()
            .unwrap()
            .starts_with("2020-02-20T08:30"),
        "{retaken}"
    );
    assert_eq!(retaken["compounds"][0]["persons"], after["persons"]);
    let live = table_json(hub, date, false);
    assert_eq!(live, retaken, "nothing changed since the new snapshot");
    // Another day has none of its own.
    let out = run(
        "lianfang-hub",
        &[
            "table",
            "--data",
            hub,
            "--date",
            "2020-02-21",
            "--snapshot",
            "--format",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no snapshot of 2020-02-21"));
    drop(serve);
}

#[test]
fn serve_takes_the_snapshot_by_itself_at_the_cutoff() {
    let root = tempfile::tempdir().unwrap();
    let hub_dir = root.path().join("hub");
    let hub = hub_dir.to_str().unwrap();
    enroll(hub, "HM001", "联洋新苑");
    enroll(hub, "HM002", "东方城市花园");
    ok(
        "lianfang-hub",
        &["config", "set", "--data", hub, "--cutoff", "17:00"],
    );
    // The hub's clock a few seconds before 2020-02-20 17:00 China time.
    let cutoff = "2020-02-20T09:00:00Z";
    let offset = offset_to("2020-02-20T08:59:56Z");
    let env = [("LIANFANG_CLOCK_OFFSET_SECS", offset.as_str())];
    let serve = Serve::start(&hub_dir, &["--listen", "127.0.0.1:0"], &env);
    let started = std::time::Instant::now();
    let taken = loop {
        let out = run(
            "lianfang-hub",
            &[
                "table",
                "--data",
                hub,
                "--date",
                "2020-02-20",
                "--snapshot",
                "--format",
                "json",
            ],
        );
        if out.status.success() {
            break json(&String::from_utf8(out.stdout).unwrap());
        }
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(
            started.elapsed() < std::time::Duration::from_secs(90),
            "serve took no snapshot"
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    };
    // Taken at the cut-off by the hub's clock, not when serve started.
    let taken_at = taken["snapshot_at"].as_str().unwrap().to_owned();
    assert!(taken_at.as_str() >= cutoff, "{taken_at} before {cutoff}");
    assert!(
        taken_at.as_str() < "2020-02-20T09:02:00Z",
        "{taken_at} long after {cutoff}"
    );
    assert_eq!(taken["compounds"].as_array().unwrap().len(), 2, "{taken}");
    // Once a day: it is not taken again while serve goes on.
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(table_json(hub, "2020-02-20", true), taken);
    drop(serve);
}

#[test]
fn a_malformed_clock_offset_stops_every_hub_command() {
    let root = tempfile::tempdir().unwrap();
    let hub_dir = root.path().join("hub");
    let hub = hub_dir.to_str().unwrap();
    enroll(hub, "HM001", "联洋新苑");
    for value in ["soon", "1.5", "3600s"] {
        let env = [("LIANFANG_CLOCK_OFFSET_SECS", value)];
        for args in [
            &["table", "--data", hub][..],
            &["snapshot", "--data", hub],
            &["audit", "--data", hub],
            &["serve", "--data", hub, "--listen", "127.0.0.1:0"],
        ] {
            let out = run_with("lianfang-hub", args, &env);
            assert!(!out.status.success(), "{args:?} with {value:?}");
            assert!(
                stderr(&out).contains("LIANFANG_CLOCK_OFFSET_SECS"),
                "{args:?}: {}",
                stderr(&out)
            );
        }
    }
    // The node refuses it the same way, before touching anything.
    let node = root.path().join("node");
    let out = run_with(
        "lianfang-node",
        &["status", "--data", node.to_str().unwrap()],
        &[("LIANFANG_CLOCK_OFFSET_SECS", "soon")],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("LIANFANG_CLOCK_OFFSET_SECS"),
        "{}",
        stderr(&out)
    );
    let out = run("lianfang-hub", &["table", "--data", hub, "--snapshot"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "nothing was taken: {}",
        stderr(&out)
    );
}
