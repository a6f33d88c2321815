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
