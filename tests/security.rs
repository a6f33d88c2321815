//! Who may write what: TLS with a pinned CA, revocation, the audit log, and
//! limits that keep one node's flood from starving the others.

use std::process::Command;

use lianfang_node::sync::{SyncOptions, sync_once};
use lianfang_proto::pb;
use lianfang_proto::pb::sync_client::SyncClient;
use lianfang_sim::generate::{self, StreetSpec};
use lianfang_tests::{Serve, TestHub, bin, node_with_ledger, ok, oracle, run};
use tonic::Code;

#[test]
fn tls_with_the_pinned_hub_ca_and_plaintext_only_to_this_machine() {
    let root = tempfile::tempdir().unwrap();
    let hub = root.path().join("hub");
    let h = hub.to_str().unwrap();
    let compound = generate::compound(
        &StreetSpec {
            min_households: 30,
            max_households: 30,
            ..StreetSpec::demo(1)
        },
        0,
    );
    let token = ok(
        "lianfang-hub",
        &["enroll", "--data", h, "--compound", &compound.code],
    )
    .trim()
    .to_owned();
    let serve = Serve::start(&hub, &["--listen", "127.0.0.1:0", "--tls"], &[]);
    assert!(serve.banner.contains("TLS"), "{}", serve.banner);
    let port = serve.addr.rsplit_once(':').unwrap().1.to_owned();

    // Plaintext to another machine is refused before any traffic, saying how to fix it.
    let node = root.path().join("node");
    let n = node.to_str().unwrap();
    let out = run(
        "lianfang-node",
        &[
            "init",
            "--data",
            n,
            "--compound",
            &compound.code,
            "--hub",
            "http://192.0.2.10:7700",
            "--token",
            &token,
        ],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("https://192.0.2.10:7700"), "{stderr}");

    // TLS, verified against the CA from the token.
    ok(
        "lianfang-node",
        &[
            "init",
            "--data",
            n,
            "--compound",
            &compound.code,
            "--hub",
            &format!("https://127.0.0.1:{port}"),
            "--token",
            &token,
        ],
    );
    let files = compound.write_csv(&root.path().join("ledger")).unwrap();
    let mut args = vec!["import", "--data", n];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    ok("lianfang-node", &args);
    let out = ok("lianfang-node", &["sync", "--data", n, "--once"]);
    assert!(out.contains("hub and node agree"), "{out}");
    let json: serde_json::Value = serde_json::from_str(&ok(
        "lianfang-hub",
        &[
            "table",
            "--data",
            h,
            "--date",
            "2020-02-10",
            "--format",
            "json",
        ],
    ))
    .unwrap();
    let expected = oracle(
        &compound,
        chrono::NaiveDate::from_ymd_opt(2020, 2, 10).unwrap(),
    );
    assert_eq!(json["total"]["persons"], expected.persons);

    // A plaintext client cannot talk to the TLS hub.
    let plain = root.path().join("plain");
    ok(
        "lianfang-hub",
        &["enroll", "--data", h, "--compound", "HM777"],
    );
    let token2 = ok(
        "lianfang-hub",
        &["enroll", "--data", h, "--compound", "HM778"],
    )
    .trim()
    .to_owned();
    ok(
        "lianfang-node",
        &[
            "init",
            "--data",
            plain.to_str().unwrap(),
            "--compound",
            "HM778",
            "--hub",
            &format!("http://127.0.0.1:{port}"),
            "--token",
            &token2,
        ],
    );
    let out = run(
        "lianfang-node",
        &[
            "sync",
            "--data",
            plain.to_str().unwrap(),
            "--once",
            "--attempts",
            "1",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A hub with another CA (an impostor on the right address) is refused:
    // the node pins the CA its token carried.
    serve.kill();
    let impostor = root.path().join("impostor");
    ok(
        "lianfang-hub",
        &[
            "enroll",
            "--data",
            impostor.to_str().unwrap(),
            "--compound",
            &compound.code,
        ],
    );
    let fake = Serve::start(
        &impostor,
        &["--listen", &format!("127.0.0.1:{port}"), "--tls"],
        &[],
    );
    let out = run(
        "lianfang-node",
        &["sync", "--data", n, "--once", "--attempts", "1"],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.to_lowercase().contains("certificate") || stderr.contains("transport"),
        "{stderr}"
    );
    fake.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_node_is_refused_at_once_and_re_enrolment_issues_a_new_token() {
    let hub = TestHub::start().await;
    let compound = generate::compound(
        &StreetSpec {
            min_households: 20,
            max_households: 20,
            ..StreetSpec::demo(1)
        },
        0,
    );
    let token = hub.enroll(&compound.code);
    let root = tempfile::tempdir().unwrap();
    let data = node_with_ledger(&root.path().join("a"), &compound, &hub.url(), &token, false);
    sync_once(&data, &SyncOptions::default(), |_| {})
        .await
        .unwrap();

    let h = hub.dir.path().to_str().unwrap();
    let out = ok(
        "lianfang-hub",
        &["revoke", "--data", h, "--compound", &compound.code],
    );
    assert!(out.contains("revoked 1"), "{out}");
    let out = run(
        "lianfang-node",
        &["sync", "--data", data.to_str().unwrap(), "--once"],
    );
    assert_eq!(out.status.code(), Some(3), "refused, not a link failure");
    assert!(String::from_utf8_lossy(&out.stderr).contains("unauthenticated"));

    let token = hub.enroll(&compound.code);
    let fresh = node_with_ledger(&root.path().join("b"), &compound, &hub.url(), &token, false);
    let report = sync_once(&fresh, &SyncOptions::default(), |_| {})
        .await
        .unwrap();
    assert_eq!(report.digests_agree, Some(true));

    let audit: serde_json::Value = serde_json::from_str(&ok(
        "lianfang-hub",
        &["audit", "--data", h, "--format", "json"],
    ))
    .unwrap();
    let events: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["enroll", "revoke", "enroll"]);
    hub.stop().await;
}

fn request<T>(token: &str, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_from_one_node_is_limited_and_others_still_sync() {
    let hub = TestHub::start().await;
    let flooder = hub.enroll("HM900");
    let compound = generate::compound(&StreetSpec::demo(1), 0);
    let token = hub.enroll(&compound.code);
    let root = tempfile::tempdir().unwrap();
    let data = node_with_ledger(root.path(), &compound, &hub.url(), &token, false);

    let client = SyncClient::connect(hub.url()).await.unwrap();
    let mut flood = tokio::task::JoinSet::new();
    for i in 0..400 {
        let mut client = client.clone();
        let flooder = flooder.clone();
        flood.spawn(async move {
            let hello = pb::HandshakeRequest {
                log_id: "flood".into(),
                head: i,
                ..Default::default()
            };
            client.handshake(request(&flooder, hello)).await.map(drop)
        });
    }
    let report = sync_once(&data, &SyncOptions::default(), |_| {})
        .await
        .unwrap();
    assert_eq!(
        report.digests_agree,
        Some(true),
        "the other node synced during the flood"
    );
    let (mut ok, mut limited) = (0, 0);
    while let Some(result) = flood.join_next().await {
        match result.unwrap() {
            Ok(()) => ok += 1,
            Err(status) if status.code() == Code::ResourceExhausted => limited += 1,
            // HTTP/2's own limit on streams in flight on one connection
            // refuses the excess before the hub's admission sees it.
            Err(status)
                if status.code() == Code::Unavailable
                    && format!("{status:?}").contains("REFUSED_STREAM") =>
            {
                limited += 1
            }
            Err(status) => panic!("unexpected {status:?}"),
        }
    }
    eprintln!("flood: {ok} admitted, {limited} refused with RESOURCE_EXHAUSTED");
    assert!(limited > 0, "the flood was limited");

    // One batch over the limit is refused whole, naming the limit.
    // The flooder's own budget refills at 100 calls/s: like a real client,
    // it backs off until it is admitted again.
    let mut client = SyncClient::connect(hub.url()).await.unwrap();
    let mut tries = 0;
    loop {
        let hello = pb::HandshakeRequest {
            log_id: "flood".into(),
            ..Default::default()
        };
        match client.handshake(request(&flooder, hello)).await {
            Ok(_) => break,
            Err(status) if status.code() == Code::ResourceExhausted && tries < 100 => {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Err(status) => panic!("{status:?}"),
        }
    }
    let entries = (1..=20_001)
        .map(|seq| pb::LogEntry {
            seq,
            record: Some(pb::Record {
                compound: "HM900".into(),
                id: format!("H{seq}"),
                stamp: 1 << 16,
                origin: "n".into(),
                deleted: true,
                body: Some(pb::record::Body::Household(pb::Household::default())),
            }),
        })
        .collect();
    let push = pb::PushRequest {
        log_id: "flood".into(),
        entries,
        head: 20_001,
        lane: 0,
    };
    let status = client.push(request(&flooder, push)).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("20000"), "{}", status.message());
    hub.stop().await;
}

#[test]
fn personal_data_is_masked_in_every_output_and_unmasking_is_audited() {
    let root = tempfile::tempdir().unwrap();
    let hub = root.path().join("hub");
    let h = hub.to_str().unwrap();
    let compound = generate::compound(
        &StreetSpec {
            min_households: 25,
            max_households: 25,
            ..StreetSpec::demo(1)
        },
        0,
    );
    let token = ok(
        "lianfang-hub",
        &["enroll", "--data", h, "--compound", &compound.code],
    )
    .trim()
    .to_owned();
    // The hub logs at debug level: even its logs must not carry personal data.
    let serve = Serve::start(
        &hub,
        &["--listen", "127.0.0.1:0"],
        &[("LIANFANG_LOG", "debug")],
    );
    let addr = serve.addr.clone();

    let node = root.path().join("node");
    let n = node.to_str().unwrap();
    ok(
        "lianfang-node",
        &[
            "init",
            "--data",
            n,
            "--compound",
            &compound.code,
            "--hub",
            &format!("http://{addr}"),
            "--token",
            &token,
        ],
    );
    let files = compound.write_csv(&root.path().join("ledger")).unwrap();
    let mut args = vec!["import", "--data", n];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    ok("lianfang-node", &args);
    let sync = Command::new(bin("lianfang-node"))
        .args(["sync", "--data", n, "--once"])
        .env("LIANFANG_LOG", "debug")
        .output()
        .unwrap();
    assert!(sync.status.success());
    let task = ok(
        "lianfang-hub",
        &[
            "task",
            "send",
            "--data",
            h,
            "--to",
            &compound.code,
            "--entry",
            "王五|13912345678|3号楼|举报",
        ],
    )
    .trim()
    .to_owned();
    ok("lianfang-node", &["sync", "--data", n, "--once"]);

    let secrets: Vec<&str> = compound
        .persons
        .iter()
        .flat_map(|(_, p)| [p.id_number.as_str(), p.phone.as_str()])
        .chain(["13912345678"])
        .filter(|s| s.len() >= 8)
        .collect();
    let leaks = |what: &str, text: &str| {
        for secret in &secrets {
            assert!(!text.contains(secret), "{what} shows {secret} unmasked");
        }
    };
    let outputs = [
        (
            "table json",
            ok(
                "lianfang-hub",
                &[
                    "table",
                    "--data",
                    h,
                    "--date",
                    "2020-02-10",
                    "--format",
                    "json",
                ],
            ),
        ),
        (
            "table csv",
            ok(
                "lianfang-hub",
                &[
                    "table",
                    "--data",
                    h,
                    "--date",
                    "2020-02-10",
                    "--format",
                    "csv",
                ],
            ),
        ),
        (
            "export csv",
            ok(
                "lianfang-hub",
                &["export", "--data", h, "--kind", "persons"],
            ),
        ),
        (
            "export json",
            ok(
                "lianfang-hub",
                &[
                    "export", "--data", h, "--kind", "persons", "--format", "json",
                ],
            ),
        ),
        (
            "task status",
            ok(
                "lianfang-hub",
                &["task", "status", "--data", h, &task, "--format", "json"],
            ),
        ),
        (
            "task outstanding",
            ok("lianfang-hub", &["task", "outstanding", "--data", h]),
        ),
        (
            "node tasks",
            ok("lianfang-node", &["tasks", "--data", n, "--format", "json"]),
        ),
        (
            "node table",
            ok("lianfang-node", &["table", "--data", n, "--format", "json"]),
        ),
        (
            "node sync log",
            String::from_utf8_lossy(&sync.stderr).into_owned(),
        ),
    ];
    for (what, text) in &outputs {
        leaks(what, text);
    }
    let export = &outputs[2].1;
    assert!(
        export.lines().count() > secrets.len() / 2,
        "the export has the persons"
    );
    assert!(export.contains("****"), "masked, not dropped");
    // Names are personal data too: each export shows a person's name with
    // only its first char (`张三丰` → `张**`).
    for (what, export) in [&outputs[2], &outputs[3]] {
        for (_, p) in &compound.persons {
            let masked = lianfang_proto::mask::name(&p.name);
            assert_ne!(masked, p.name, "{what}: the generator's names are maskable");
            assert!(export.contains(&masked), "{what} lacks {masked}");
            assert!(
                !export.contains(&format!(",{},", p.name))
                    && !export.contains(&format!("\"{}\"", p.name)),
                "{what} shows the name {} unmasked",
                p.name
            );
        }
    }
    assert!(outputs[4].1.contains("139****5678"), "{}", outputs[4].1);

    // A bad ledger value is reported without showing it whole.
    std::fs::write(
        root.path().join("bad.csv"),
        "人员编号,户编号,姓名,手机,证件号码\nPX,H00001,某,13612345678x,11010519491231002X\n",
    )
    .unwrap();
    let bad = run(
        "lianfang-node",
        &[
            "import",
            "--data",
            n,
            root.path().join("bad.csv").to_str().unwrap(),
        ],
    );
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("手机") && !stderr.contains("13612345678"),
        "{stderr}"
    );

    // Unmasked on request, and every such request is audited.
    let full = ok(
        "lianfang-hub",
        &["export", "--data", h, "--kind", "persons", "--unmasked"],
    );
    assert!(full.contains(secrets[0]));
    let full = ok(
        "lianfang-hub",
        &["task", "status", "--data", h, &task, "--unmasked"],
    );
    assert!(full.contains("13912345678"));
    let full = ok("lianfang-node", &["tasks", "--data", n, "--unmasked"]);
    assert!(full.contains("13912345678"));
    let audit: serde_json::Value = serde_json::from_str(&ok(
        "lianfang-hub",
        &["audit", "--data", h, "--format", "json"],
    ))
    .unwrap();
    let unmasked = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "unmasked_output")
        .count();
    assert_eq!(unmasked, 2);
    let node_audit = lianfang_node::store::Store::open(&node)
        .unwrap()
        .audit_log()
        .unwrap();
    assert_eq!(node_audit.len(), 1);
    assert_eq!(node_audit[0].1, "unmasked_output");

    leaks("hub debug log", &serve.kill_for_log());
}
