//! The daily log (日志) through the real binaries: every kind of the
//! compound's day imported as ledgers, synced over a link that is cut, and
//! the node's and the hub's `log` against figures worked out by hand from
//! DESIGN.md's definitions (the generated-data oracle is `log_oracle`).

use std::path::Path;

use lianfang_proto::log::KEYS;
use lianfang_tests::{CutProxy, Serve, ok, run};
use serde_json::{Value, json};

const HOUSEHOLDS: &str = "户编号,楼号,单元,室号,房屋情况
H1,1,1,101,自住
H2,1,1,102,出租
H3,2,1,201,自住
";

const PERSONS: &str = "人员编号,户编号,姓名,手机,证件号码,国籍,来源地,返沪日期,返沪登记
P1,H1,张三,13912345678,11010519491231002X,中国,湖北省武汉市,2020-02-08,是
P2,H2,李四,13912345679,11010519491231002X,中国,浙江省,2020-02-10,否
P3,H3,王五,,11010519491231002X,中国,,,否
";

const ISOLATIONS: &str = "隔离编号,人员编号,隔离方式,开始日期,解除日期
I1,P1,居家,2020-02-08,
I2,P2,居家,2020-02-10,
I3,P3,集中,2020-02-05,
";

const HEALTH_CHECKS: &str = "监测编号,人员编号,日期,时段,体温,症状,测量人
HC1,P1,2020-02-10,上午,36.5,,李医生
HC2,P1,2020-02-10,下午,37.5,咳嗽,李医生
HC3,P2,2020-02-10,am,36.8,,
HC4,P3,2020-02-10,上午,38.0,,
";

const SERVICES: &str = "服务编号,户编号,日期,服务类型,服务人,备注
S1,H1,2020-02-10,送餐,小王,
S2,H1,2020-02-10,倒垃圾,小王,
S3,H2,2020-02-10,meal,,
";

const MASKS: &str = "预约编号,姓名,手机,户编号,预约时间,数量,通知日期,领取日期
M1,赵六,13812345678,H1,2020-02-09 10:00,5,2020-02-10,2020-02-10
M2,钱七,13812345679,,2020-02-10 09:00,3,,
M3,孙八,13812345670,H2,2020-02-08 08:00,5,2020-02-11,
";

const VEHICLES: &str = "车辆记录编号,日期,车牌,处置,备注
V1,2020-02-10,鄂a·12345,劝返,
V2,2020-02-10,沪B 12345,登记,
";

const DISINFECTIONS: &str = "消毒编号,日期,区域,执行人
D1,2020-02-10,1号楼,物业
D2,2020-02-10,2号楼,
D3,2020-02-09,1号楼,
";

const TICKETS: &str = "工单编号,受理日期,事项,办结日期,处理结果
T1,2020-02-09,楼道堆物,2020-02-10,已清理
T2,2020-02-10,噪音,,
T3,2020-02-08,漏水,2020-02-09,已修
";

const GATES: &str = "门岗记录编号,日期,门岗,测温人次,快递件数
G1,2020-02-10,南门,800,1500
G2,2020-02-10,北门,200,300
";

const SURVEYS: &str = "排摸编号,日期,姓名,地址,来源,结果,人员编号,备注
SV1,2020-02-10,李四,1号楼102,来电,未登记,P2,
SV2,2020-02-10,某某,2号楼201,上门,已登记,,
";

/// What DESIGN.md's definitions give for the ledgers above on 2020-02-10.
fn expected_0210() -> Value {
    json!({
        "surveys": 2, "surveys_unregistered": 1,
        "arrivals_key_today": 0, "arrivals_other_today": 1,
        "home_isolated_persons": 2, "checks_due": 4, "checks_done": 3,
        "unchecked_persons": 0, "fever_persons": 2,
        "meals": 2, "rubbish": 1, "shopping": 0,
        "masks_reserved": 1, "masks_notified": 1, "masks_collected": 1, "masks_waiting": 2,
        "vehicles_key": 1, "vehicles_turned_back": 1,
        "disinfections": 2,
        "hotline_received": 1, "hotline_closed": 1, "hotline_open": 1,
        "gate_temperature_checks": 1000, "parcels": 1800,
    })
}

/// And on 2020-02-09: P1 alone is home-isolated and was not checked; M1
/// and M3 wait; T1 is open.
fn expected_0209() -> Value {
    json!({
        "surveys": 0, "surveys_unregistered": 0,
        "arrivals_key_today": 0, "arrivals_other_today": 0,
        "home_isolated_persons": 1, "checks_due": 2, "checks_done": 0,
        "unchecked_persons": 1, "fever_persons": 0,
        "meals": 0, "rubbish": 0, "shopping": 0,
        "masks_reserved": 1, "masks_notified": 0, "masks_collected": 0, "masks_waiting": 2,
        "vehicles_key": 0, "vehicles_turned_back": 0,
        "disinfections": 1,
        "hotline_received": 1, "hotline_closed": 1, "hotline_open": 1,
        "gate_temperature_checks": 0, "parcels": 0,
    })
}

fn write(dir: &Path, files: &[(&str, &str)]) -> Vec<String> {
    std::fs::create_dir_all(dir).unwrap();
    files
        .iter()
        .map(|(name, text)| {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            path.to_str().unwrap().to_owned()
        })
        .collect()
}

fn keys_of(value: &Value) -> Value {
    Value::Object(
        KEYS.iter()
            .map(|(key, _)| ((*key).to_owned(), value[*key].clone()))
            .collect(),
    )
}

fn hub_log(hub: &str, date: &str) -> Value {
    serde_json::from_str(&ok(
        "lianfang-hub",
        &["log", "--data", hub, "--date", date, "--format", "json"],
    ))
    .unwrap()
}

fn node_log(node: &str, date: &str) -> Value {
    serde_json::from_str(&ok(
        "lianfang-node",
        &["log", "--data", node, "--date", date, "--format", "json"],
    ))
    .unwrap()
}

/// `sync --once` until it succeeds (the link is healed after the first
/// failure); returns how many attempts failed.
fn sync_until_done(node: &str, proxy: &CutProxy) -> usize {
    for failed in 0..6 {
        let out = run("lianfang-node", &["sync", "--data", node, "--once"]);
        if out.status.success() {
            return failed;
        }
        assert_eq!(
            out.status.code(),
            Some(1),
            "a cut link is a link error: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        proxy.heal();
    }
    panic!("sync never succeeded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_of_every_kind_through_the_binaries_and_a_cut_link() {
    let root = tempfile::tempdir().unwrap();
    let hub_dir = root.path().join("hub");
    let hub = hub_dir.to_str().unwrap();
    let enroll = |code: &str| {
        let out = ok(
            "lianfang-hub",
            &["enroll", "--data", hub, "--compound", code],
        );
        out.lines().last().unwrap().trim().to_owned()
    };
    let (token_a, token_b) = (enroll("HM001"), enroll("HM002"));
    let serve = Serve::start(&hub_dir, &["--listen", "127.0.0.1:0"], &[]);
    let proxy = CutProxy::start(serve.addr.parse().unwrap(), 600).await;

    let init = |dir: &str, code: &str, token: &str| {
        ok(
            "lianfang-node",
            &[
                "init",
                "--data",
                dir,
                "--compound",
                code,
                "--hub",
                &proxy.url(),
                "--token",
                token,
            ],
        );
    };
    let node_a = root.path().join("a").to_str().unwrap().to_owned();
    let node_b = root.path().join("b").to_str().unwrap().to_owned();
    init(&node_a, "HM001", &token_a);
    init(&node_b, "HM002", &token_b);

    let files = write(
        &root.path().join("ledger-a"),
        &[
            ("households.csv", HOUSEHOLDS),
            ("persons.csv", PERSONS),
            ("isolations.csv", ISOLATIONS),
            ("体温.csv", HEALTH_CHECKS),
            ("services.csv", SERVICES),
            ("masks.csv", MASKS),
            ("vehicles.csv", VEHICLES),
            ("disinfections.csv", DISINFECTIONS),
            ("12345.csv", TICKETS),
            ("gates.csv", GATES),
            ("surveys.csv", SURVEYS),
        ],
    );
    let mut args = vec!["import", "--data", node_a.as_str()];
    args.extend(files.iter().map(String::as_str));
    ok("lianfang-node", &args);
    let gates_b = write(
        &root.path().join("ledger-b"),
        &[(
            "门岗.csv",
            "门岗记录编号,日期,门岗,测温人次,快递件数\nG1,2020-02-10,东门,50,70\n",
        )],
    );
    ok("lianfang-node", &["import", "--data", &node_b, &gates_b[0]]);

    // A bad plate refuses the whole file, said once, naming the cell.
    let bad = write(
        &root.path().join("ledger-bad"),
        &[(
            "vehicles-bad.csv",
            "车辆记录编号,日期,车牌,处置,备注\nV9,2020-02-10,鄂A54321,登记,\nV10,2020-02-10,XYZ123,登记,\n",
        )],
    );
    let out = run("lianfang-node", &["import", "--data", &node_a, &bad[0]]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr
            .matches("vehicles-bad.csv row 3, column 车牌 (plate)")
            .count(),
        1,
        "{stderr}"
    );
    assert!(stderr.contains("XYZ123"), "{stderr}");

    // The node's own log needs no link.
    assert_eq!(keys_of(&node_log(&node_a, "2020-02-10")), expected_0210());
    assert_eq!(node_log(&node_a, "2020-02-10")["date"], "2020-02-10");
    assert_eq!(keys_of(&node_log(&node_a, "2020-02-09")), expected_0209());

    assert!(
        sync_until_done(&node_a, &proxy) >= 1,
        "the link was cut once"
    );
    sync_until_done(&node_b, &proxy);

    for (date, expected) in [
        ("2020-02-10", expected_0210()),
        ("2020-02-09", expected_0209()),
    ] {
        let log = hub_log(hub, date);
        assert_eq!(log["date"], date);
        let rows = log["compounds"].as_array().unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0]["compound"], "HM001");
        assert_eq!(keys_of(&rows[0]), expected, "{date}");
        assert_eq!(rows[0]["source"], "records");
        assert_eq!(rows[0]["caught_up"], true);
        let mut total = expected.clone();
        if date == "2020-02-10" {
            total["gate_temperature_checks"] = json!(1050);
            total["parcels"] = json!(1870);
        }
        assert_eq!(keys_of(&log["total"]), total, "{date} total");
    }

    // The clerk's note rides with the log; CSV ends with the total.
    ok(
        "lianfang-hub",
        &[
            "log",
            "note",
            "--data",
            hub,
            "--date",
            "2020-02-10",
            "--text",
            "今日无新增确诊",
        ],
    );
    assert_eq!(hub_log(hub, "2020-02-10")["note"], "今日无新增确诊");
    assert_eq!(hub_log(hub, "2020-02-09")["note"], Value::Null);
    let csv = ok(
        "lianfang-hub",
        &[
            "log",
            "--data",
            hub,
            "--date",
            "2020-02-10",
            "--format",
            "csv",
        ],
    );
    let lines: Vec<&str> = csv.lines().collect();
    assert!(
        lines[0].starts_with("compound,name,surveys,surveys_unregistered,"),
        "{csv}"
    );
    assert!(
        lines[3].starts_with("TOTAL,合计,2,1,0,1,2,4,3,0,2,"),
        "{csv}"
    );
    let text = ok(
        "lianfang-hub",
        &["log", "--data", hub, "--date", "2020-02-10"],
    );
    assert!(
        text.contains("日志 2020-02-10") && text.contains("今日无新增确诊"),
        "{text}"
    );

    // The meeting's snapshot of 2020-02-10, with the hub's clock at noon
    // that day (China time).
    let noon = chrono::DateTime::parse_from_rfc3339("2020-02-10T04:00:00Z").unwrap();
    #[allow(clippy::disallowed_methods)] // The real clock, to shift the hub's.
    let offset = (noon.timestamp() - chrono::Utc::now().timestamp()).to_string();
    lianfang_tests::ok_with(
        "lianfang-hub",
        &["snapshot", "--data", hub],
        &[("LIANFANG_CLOCK_OFFSET_SECS", offset.as_str())],
    );
    let at_cutoff = hub_log(hub, "2020-02-10");
    assert!(
        at_cutoff["snapshot_at"]
            .as_str()
            .unwrap()
            .starts_with("2020-02-10T04:00")
    );
    assert_eq!(at_cutoff["compounds"][0]["since_cutoff"], json!({}));
    let none = run(
        "lianfang-hub",
        &["log", "--data", hub, "--date", "2020-02-09", "--snapshot"],
    );
    assert_eq!(none.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&none.stderr).contains("no snapshot of 2020-02-09"));

    // An edited ledger, re-imported: a second fever, M2 notified. Only the
    // edited rows change, and both logs follow.
    let edited = write(
        &root.path().join("ledger-a2"),
        &[
            (
                "体温.csv",
                &HEALTH_CHECKS.replace("HC3,P2,2020-02-10,am,36.8", "HC3,P2,2020-02-10,am,37.4"),
            ),
            (
                "masks.csv",
                &MASKS.replace("2020-02-10 09:00,3,,", "2020-02-10 09:00,3,2020-02-10,"),
            ),
        ],
    );
    let before: Value = serde_json::from_str(&ok(
        "lianfang-node",
        &["status", "--data", &node_a, "--format", "json"],
    ))
    .unwrap();
    ok(
        "lianfang-node",
        &["import", "--data", &node_a, &edited[0], &edited[1]],
    );
    let after: Value = serde_json::from_str(&ok(
        "lianfang-node",
        &["status", "--data", &node_a, "--format", "json"],
    ))
    .unwrap();
    assert_eq!(
        after["pending"].as_u64().unwrap() - before["pending"].as_u64().unwrap(),
        2,
        "exactly the two edited rows are logged: {before} → {after}"
    );
    let mut expected = expected_0210();
    expected["fever_persons"] = json!(3);
    expected["masks_notified"] = json!(2);
    expected["masks_waiting"] = json!(1);
    assert_eq!(keys_of(&node_log(&node_a, "2020-02-10")), expected);
    sync_until_done(&node_a, &proxy);
    assert_eq!(
        keys_of(&hub_log(hub, "2020-02-10")["compounds"][0]),
        expected
    );
}
