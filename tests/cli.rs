//! The interface users and scripts call, through the real binaries.

use lianfang_proto::table::COLUMNS;
use lianfang_sim::generate::{self, StreetSpec};
use lianfang_tests::{Serve, ok, oracle, run};

#[test]
fn enroll_serve_init_import_sync_and_table_through_the_binaries() {
    let root = tempfile::tempdir().unwrap();
    let hub_dir = root.path().join("hub");
    let node_dir = root.path().join("node");
    let hub = hub_dir.to_str().unwrap();
    let node = node_dir.to_str().unwrap();
    let mut compound = generate::compound(&StreetSpec::demo(1), 0);

    let out = ok(
        "lianfang-hub",
        &[
            "enroll",
            "--data",
            hub,
            "--compound",
            &compound.code,
            "--name",
            &compound.name,
        ],
    );
    let token = out.lines().last().unwrap().trim().to_owned();
    let serve = Serve::start(&hub_dir, &["--listen", "127.0.0.1:0"], &[]);
    let hub_url = format!("http://{}", serve.addr);

    // A token for another compound is refused at init, and nothing is set up.
    let out = run(
        "lianfang-node",
        &[
            "init",
            "--data",
            node,
            "--compound",
            "HM999",
            "--hub",
            &hub_url,
            "--token",
            &token,
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("issued for compound"));
    assert!(!node_dir.join("node.db").exists());

    ok(
        "lianfang-node",
        &[
            "init",
            "--data",
            node,
            "--compound",
            &compound.code,
            "--hub",
            &hub_url,
            "--token",
            &token,
        ],
    );
    let files = compound.write_csv(&root.path().join("ledger")).unwrap();
    let mut args = vec!["import", "--data", node];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    ok("lianfang-node", &args);
    ok("lianfang-node", &["sync", "--data", node, "--once"]);

    // `table` reads while `serve` runs.
    let json: serde_json::Value = serde_json::from_str(&ok(
        "lianfang-hub",
        &[
            "table",
            "--data",
            hub,
            "--date",
            "2020-02-10",
            "--format",
            "json",
        ],
    ))
    .unwrap();
    assert_eq!(json["date"], "2020-02-10");
    let row = &json["compounds"][0];
    assert_eq!(row["compound"], compound.code.as_str());
    assert_eq!(row["name"], compound.name.as_str());
    assert!(chrono::DateTime::parse_from_rfc3339(row["last_sync"].as_str().unwrap()).is_ok());
    let expected = serde_json::to_value(oracle(
        &compound,
        chrono::NaiveDate::from_ymd_opt(2020, 2, 10).unwrap(),
    ))
    .unwrap();
    for (key, _) in COLUMNS {
        assert_eq!(row[key], expected[key], "{key}");
        assert_eq!(json["total"][key], expected[key], "total {key}");
    }
    let csv = ok(
        "lianfang-hub",
        &[
            "table",
            "--data",
            hub,
            "--date",
            "2020-02-10",
            "--format",
            "csv",
        ],
    );
    let header = csv.lines().next().unwrap();
    assert!(header.starts_with("compound,name,households,"), "{header}");
    assert_eq!(csv.lines().count(), 3, "header, one compound, total");

    // The hub goes away: a sync exits non-zero and keeps the change pending.
    let addr = serve.kill();
    let (id, person) = compound
        .persons
        .iter_mut()
        .find(|(_, p)| !p.registered && !p.return_date.is_empty())
        .unwrap();
    person.registered = true;
    let id = id.clone();
    let files = compound.write_csv(&root.path().join("ledger")).unwrap();
    let mut args = vec!["import", "--data", node];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    let summary = ok("lianfang-node", &args);
    assert!(summary.contains("1 updated"), "{summary}");
    let out = run(
        "lianfang-node",
        &["sync", "--data", node, "--once", "--attempts", "2"],
    );
    assert!(!out.status.success(), "sync with the hub down must fail");
    let status: serde_json::Value = serde_json::from_str(&ok(
        "lianfang-node",
        &["status", "--data", node, "--format", "json"],
    ))
    .unwrap();
    assert_eq!(status["pending"], 1);
    assert!(status["last_error"].is_string());

    // The hub is back on the same address: the next sync resumes.
    let _serve = Serve::start(&hub_dir, &["--listen", &addr], &[]);
    let out = ok("lianfang-node", &["sync", "--data", node, "--once"]);
    assert!(
        out.contains("sent 1 "),
        "only the pending change is sent: {out}"
    );
    let status: serde_json::Value = serde_json::from_str(&ok(
        "lianfang-node",
        &["status", "--data", node, "--format", "json"],
    ))
    .unwrap();
    assert_eq!(status["pending"], 0);
    let json: serde_json::Value = serde_json::from_str(&ok(
        "lianfang-hub",
        &[
            "table",
            "--data",
            hub,
            "--date",
            "2020-02-20",
            "--format",
            "json",
        ],
    ))
    .unwrap();
    let expected = oracle(
        &compound,
        chrono::NaiveDate::from_ymd_opt(2020, 2, 20).unwrap(),
    );
    assert_eq!(
        json["compounds"][0]["unregistered"], expected.unregistered,
        "person {id} now registered"
    );
}

/// Columns of the hub's JSON table row for `compound` on `date`.
fn table_row(hub: &str, date: &str, compound: &str) -> serde_json::Value {
    let json: serde_json::Value = serde_json::from_str(&ok(
        "lianfang-hub",
        &["table", "--data", hub, "--date", date, "--format", "json"],
    ))
    .unwrap();
    json["compounds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["compound"] == compound)
        .cloned()
        .unwrap_or_else(|| panic!("no row for {compound}: {json}"))
}

/// `lianfang-hub enroll`; returns the token (last line of stdout).
fn enroll(hub: &str, code: &str) -> String {
    let out = ok(
        "lianfang-hub",
        &["enroll", "--data", hub, "--compound", code],
    );
    out.lines().last().unwrap().trim().to_owned()
}

/// `lianfang-node init` and `import` of `ledger` (as CSV) into `dir/data`;
/// the node never contacts the hub. Returns the data directory.
fn offline_node(
    dir: &std::path::Path,
    ledger: &generate::CompoundLedger,
    hub_url: &str,
    token: &str,
) -> String {
    let data = dir.join("data");
    let node = data.to_str().unwrap().to_owned();
    ok(
        "lianfang-node",
        &[
            "init",
            "--data",
            &node,
            "--compound",
            &ledger.code,
            "--hub",
            hub_url,
            "--token",
            token,
        ],
    );
    let files = ledger.write_csv(&dir.join("ledger")).unwrap();
    let mut args = vec!["import", "--data", node.as_str()];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    ok("lianfang-node", &args);
    node
}

/// Records of `kind` the hub holds for `compound`, by `export` (CSV rows).
fn exported_rows(hub: &str, kind: &str, compound: &str) -> usize {
    ok(
        "lianfang-hub",
        &[
            "export",
            "--data",
            hub,
            "--kind",
            kind,
            "--compound",
            compound,
            "--format",
            "csv",
        ],
    )
    .lines()
    .count()
    .saturating_sub(1)
}

#[test]
fn a_compound_that_never_synced_reaches_the_hub_by_usb_stick() {
    let root = tempfile::tempdir().unwrap();
    let hub_dir = root.path().join("hub");
    let hub = hub_dir.to_str().unwrap();
    let street = StreetSpec::demo(2);
    let compound = generate::compound(&street, 0);
    let token = enroll(hub, &compound.code);
    let serve = Serve::start(&hub_dir, &["--listen", "127.0.0.1:0"], &[]);
    // Set up and imported, but never synced: its enrolment is bound to no log.
    let node = offline_node(&root.path().join("n1"), &compound, &serve.url(), &token);
    let bundle = root.path().join("n1.bundle");
    let bundle_path = bundle.to_str().unwrap();
    ok(
        "lianfang-node",
        &["export-bundle", "--data", &node, bundle_path],
    );

    let out = ok(
        "lianfang-hub",
        &["import-bundle", "--data", hub, bundle_path],
    );
    assert!(out.contains("bulk lane: "), "{out}");
    assert!(
        !out.contains(": 0 new change(s)"),
        "applied the first time: {out}"
    );
    // Carried twice: nothing new, and the output says so for every lane.
    let again = ok(
        "lianfang-hub",
        &["import-bundle", "--data", hub, bundle_path],
    );
    assert!(
        again.lines().count() >= 1 && again.lines().all(|l| l.contains(": 0 new change(s)")),
        "{again}"
    );

    // The hub's table equals the ledger, exactly.
    let date = "2020-02-10";
    let row = table_row(hub, date, &compound.code);
    let expected = serde_json::to_value(oracle(
        &compound,
        chrono::NaiveDate::from_ymd_opt(2020, 2, 10).unwrap(),
    ))
    .unwrap();
    for (key, _) in COLUMNS {
        assert_eq!(row[key], expected[key], "{key}");
    }
    assert_eq!(
        exported_rows(hub, "persons", &compound.code),
        compound.persons.len()
    );
    assert_eq!(
        exported_rows(hub, "isolations", &compound.code),
        compound.isolations.len()
    );

    // The node's first sync sends nothing the bundle carried, and both sides agree.
    let out = ok("lianfang-node", &["sync", "--data", &node, "--once"]);
    assert!(out.contains("sent 0 "), "{out}");
    assert!(out.contains("hub and node agree"), "{out}");
    let status: serde_json::Value = serde_json::from_str(&ok(
        "lianfang-node",
        &["status", "--data", &node, "--format", "json"],
    ))
    .unwrap();
    assert_eq!(status["pending"], 0);
    let after = table_row(hub, date, &compound.code);
    for (key, _) in COLUMNS {
        assert_eq!(after[key], expected[key], "{key} after the sync");
    }
    assert_eq!(after["digests_agree"], true, "{after}");

    // Another node database with the same (now bound) token is refused, as a
    // sync would be, and changes nothing.
    let other = offline_node(&root.path().join("n1b"), &compound, &serve.url(), &token);
    let other_bundle = root.path().join("n1b.bundle");
    ok(
        "lianfang-node",
        &[
            "export-bundle",
            "--data",
            &other,
            other_bundle.to_str().unwrap(),
        ],
    );
    let out = run(
        "lianfang-hub",
        &[
            "import-bundle",
            "--data",
            hub,
            other_bundle.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bundle refused") && stderr.contains("bound to"),
        "{stderr}"
    );
}

#[test]
fn a_bundle_sealed_by_a_revoked_token_is_refused_and_changes_nothing() {
    let root = tempfile::tempdir().unwrap();
    let hub_dir = root.path().join("hub");
    let hub = hub_dir.to_str().unwrap();
    let compound = generate::compound(&StreetSpec::demo(2), 1);
    let token = enroll(hub, &compound.code);
    let node = offline_node(root.path(), &compound, "http://127.0.0.1:1", &token);
    let bundle = root.path().join("revoked.bundle");
    let bundle_path = bundle.to_str().unwrap();
    ok(
        "lianfang-node",
        &["export-bundle", "--data", &node, bundle_path],
    );
    ok(
        "lianfang-hub",
        &["revoke", "--data", hub, "--compound", &compound.code],
    );
    let before = table_row(hub, "2020-02-10", &compound.code);

    let out = run(
        "lianfang-hub",
        &["import-bundle", "--data", hub, bundle_path],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bundle refused") && stderr.contains("revoked"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(table_row(hub, "2020-02-10", &compound.code), before);
    assert_eq!(exported_rows(hub, "persons", &compound.code), 0);
    // Enrolled again, the compound's old bundle is still refused.
    enroll(hub, &compound.code);
    let out = run(
        "lianfang-hub",
        &["import-bundle", "--data", hub, bundle_path],
    );
    assert!(!out.status.success());
    assert_eq!(exported_rows(hub, "persons", &compound.code), 0);
}

/// Runs a binary with its stdout a pipe whose reader closes after the first
/// few bytes; asserts the full output (run apart) is larger than a pipe
/// buffer, and that the command stopped quietly: exit 0, no panic.
fn stops_quietly_on_a_closed_pipe(program: &str, args: &[&str]) {
    use std::io::Read as _;
    let full = ok(program, args);
    assert!(
        full.len() > 96 * 1024,
        "{program} {args:?} prints only {} bytes: too little to fill a pipe",
        full.len()
    );
    let mut child = std::process::Command::new(lianfang_tests::bin(program))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut head = [0u8; 64];
    stdout.read_exact(&mut head).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{program} {args:?}: {stderr}");
    assert!(
        out.status.success(),
        "{program} {args:?}: {} {stderr}",
        out.status
    );
    assert!(
        stderr.trim().is_empty(),
        "{program} {args:?} is quiet: {stderr}"
    );
}

#[test]
fn output_into_a_closed_pipe_stops_quietly() {
    let root = tempfile::tempdir().unwrap();
    let hub_dir = root.path().join("hub");
    let hub = hub_dir.to_str().unwrap();
    // Many compounds, for a table larger than a pipe buffer.
    {
        let mut store = lianfang_hub::store::HubStore::open_or_create(&hub_dir).unwrap();
        for i in 0..2000 {
            store
                .enroll(&format!("T{i:04}"), Some("联洋新苑测试小区第一期东区"))
                .unwrap();
        }
    }
    // One large compound with records, for a large export (carried by bundle).
    let street = StreetSpec {
        min_households: 1500,
        max_households: 1500,
        ..StreetSpec::demo(1)
    };
    let compound = generate::compound(&street, 0);
    let token = enroll(hub, &compound.code);
    let serve = Serve::start(&hub_dir, &["--listen", "127.0.0.1:0"], &[]);
    let node = offline_node(root.path(), &compound, &serve.url(), &token);
    let bundle = root.path().join("big.bundle");
    let bundle_path = bundle.to_str().unwrap();
    ok(
        "lianfang-node",
        &["export-bundle", "--data", &node, bundle_path],
    );
    ok(
        "lianfang-hub",
        &["import-bundle", "--data", hub, bundle_path],
    );
    // A long verification task, for a long listing at the node.
    let people = root.path().join("people.csv");
    let mut csv = String::from("姓名,手机,地址,原因\n");
    for i in 0..4000 {
        csv.push_str(&format!(
            "张三{i},139{i:08},联洋新苑{}号楼{}室,外地返沪未登记\n",
            i % 60,
            i % 900
        ));
    }
    std::fs::write(&people, csv).unwrap();
    ok(
        "lianfang-hub",
        &[
            "task",
            "send",
            "--data",
            hub,
            "--to",
            &compound.code,
            "--file",
            people.to_str().unwrap(),
        ],
    );
    ok("lianfang-node", &["sync", "--data", &node, "--once"]);

    for format in ["csv", "json"] {
        stops_quietly_on_a_closed_pipe(
            "lianfang-hub",
            &[
                "export", "--data", hub, "--kind", "persons", "--format", format,
            ],
        );
    }
    for format in ["text", "json", "csv"] {
        stops_quietly_on_a_closed_pipe(
            "lianfang-hub",
            &[
                "table",
                "--data",
                hub,
                "--date",
                "2020-02-10",
                "--format",
                format,
            ],
        );
    }
    stops_quietly_on_a_closed_pipe("lianfang-hub", &["task", "outstanding", "--data", hub]);
    for format in ["text", "json"] {
        stops_quietly_on_a_closed_pipe(
            "lianfang-node",
            &["tasks", "--data", &node, "--format", format],
        );
    }
}
