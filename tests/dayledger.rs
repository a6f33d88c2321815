//! The day's ledgers (health checks, services, mask reservations, vehicle
//! checks, disinfections, hotline tickets, gate counts, surveys) through
//! the real `lianfang-node import`: with the population's three, as CSV
//! and as one workbook of eleven sheets; each bad row refused naming file,
//! row, column and reason with nothing applied; a re-import of an edited
//! ledger logging exactly the edited rows.

use std::path::Path;
use std::process::{Command, Output};

use lianfang_node::store::Store;
use lianfang_proto::{Kind, pb};
use lianfang_sim::generate::{self, CompoundLedger, StreetSpec};
use lianfang_tests::bin;

/// The population's ledgers, then one small ledger of each day kind.
const LEDGERS: [(&str, &str); 11] = [
    (
        "households.csv",
        "户编号,楼号,单元,室号,房屋情况
H1,1,1,101,自住
H2,1,2,202,出租
",
    ),
    (
        "persons.csv",
        "人员编号,户编号,姓名,手机,证件号码,国籍,来源地,返沪日期,返沪登记
P1,H1,张三,13812345678,11010519491231002X,中国,湖北省武汉市,2020-02-01,是
P2,H2,John Smith,,E12345678,us,,,
",
    ),
    (
        "isolations.csv",
        "隔离编号,人员编号,隔离方式,开始日期,解除日期
G1,P1,居家,2020-02-01,
",
    ),
    (
        "health_checks.csv",
        "监测编号,人员编号,日期,时段,体温,症状,测量人
HC1,P1,2020-02-03,上午,36.5,,李医生
HC2,P1,2020-02-03,下午,37.4,咳嗽,
",
    ),
    (
        "services.csv",
        "服务编号,户编号,日期,服务类型,服务人,备注
SR1,H1,2020-02-03,送餐,王志愿者,
SR2,H1,2020-02-03,倒垃圾,,
",
    ),
    (
        "mask_reservations.csv",
        "预约编号,姓名,手机,户编号,预约时间,数量,通知日期,领取日期
MR1,赵六,13812345678,H1,2020-02-03 09:30,5,2020-02-04,2020-02-05
MR2,钱七,13900001111,,2020-02-03 10:00,3,,
",
    ),
    (
        "vehicle_checks.csv",
        "车辆记录编号,日期,车牌,处置,备注
VC1,2020-02-03,鄂A·12345,劝返,
VC2,2020-02-03,沪B1234D,登记,业主车辆
",
    ),
    (
        "disinfections.csv",
        "消毒编号,日期,区域,执行人
DS1,2020-02-03,垃圾箱房,孙八
",
    ),
    (
        "hotline_tickets.csv",
        "工单编号,受理日期,事项,办结日期,处理结果
TK1,2020-02-03,楼道堆物,2020-02-04,已处理
TK2,2020-02-04,口罩预约咨询,,
",
    ),
    (
        "gate_counts.csv",
        "门岗记录编号,日期,门岗,测温人次,快递件数
GC1,2020-02-03,南门,812,1460
GC2,2020-02-03,北门,305,520
",
    ),
    (
        "surveys.csv",
        "排摸编号,日期,姓名,地址,来源,结果,人员编号,备注
SU1,2020-02-03,张三,1号楼101室,来电,已登记,P1,
SU2,2020-02-03,周九,1号楼202室,上门,未登记,,已通知登记
",
    ),
];

/// Rows of [`LEDGERS`]: what a first import writes.
const ROWS: u64 = 2 + 2 + 1 + 2 + 2 + 2 + 2 + 1 + 2 + 2 + 2;

fn node(dir: &Path, code: &str) -> String {
    let data = dir.join("data");
    let token = lianfang_proto::token::encode(&pb::EnrollmentToken {
        compound: code.into(),
        secret: vec![9; 32],
        hub_key: vec![1; 32],
        ..Default::default()
    });
    lianfang_node::init(&data, code, "http://127.0.0.1:9", &token).unwrap();
    data.to_str().unwrap().to_owned()
}

fn run_import(data: &str, paths: &[impl AsRef<std::ffi::OsStr>]) -> Output {
    Command::new(bin("lianfang-node"))
        .args(["import", "--data", data])
        .args(paths)
        .output()
        .unwrap()
}

/// Writes [`LEDGERS`] (with `edit` applied to the named file's text: the
/// first `from` replaced by `to`, or `to` appended when `from` is empty)
/// and runs `lianfang-node import` on all eleven.
fn import(dir: &Path, data: &str, edit: (&str, &str, &str)) -> Output {
    let (file, from, to) = edit;
    let mut paths = Vec::new();
    for (name, text) in LEDGERS {
        let text = if name == file {
            assert!(
                from.is_empty() || text.contains(from),
                "{from} not in {name}"
            );
            if from.is_empty() {
                format!("{text}{to}")
            } else {
                text.replacen(from, to, 1)
            }
        } else {
            text.to_owned()
        };
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        paths.push(path);
    }
    run_import(data, &paths)
}

fn assert_ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Live records of each kind with a ledger.
fn counts(store: &Store) -> Vec<(Kind, usize)> {
    Kind::with_ledger()
        .map(|(kind, _)| (kind, store.live_ids(kind).unwrap().len()))
        .collect()
}

#[test]
fn a_csv_of_each_day_kind_imports_with_the_population_s_three() {
    let dir = tempfile::tempdir().unwrap();
    let data = node(dir.path(), "HM001");
    assert_ok(&import(dir.path(), &data, ("", "", "")));
    let store = Store::open(Path::new(&data)).unwrap();
    assert_eq!(store.head().unwrap(), ROWS);
    for (kind, n) in counts(&store) {
        assert!(n >= 1, "{kind:?}");
    }
    // The plate is stored as the rule normalises it.
    let record = store.get(Kind::VehicleCheck, "VC1").unwrap().unwrap();
    let Some(pb::record::Body::VehicleCheck(check)) = record.body else {
        panic!("{record:?}")
    };
    assert_eq!(check.plate, "鄂A12345");
    assert_eq!(check.action(), pb::VehicleAction::TurnedBack);
    let record = store.get(Kind::HealthCheck, "HC2").unwrap().unwrap();
    let Some(pb::record::Body::HealthCheck(check)) = record.body else {
        panic!("{record:?}")
    };
    assert_eq!(
        (check.temperature_tenths, check.slot()),
        (374, pb::Slot::Pm)
    );
    // The same files again write nothing.
    assert_ok(&import(dir.path(), &data, ("", "", "")));
    assert_eq!(store.head().unwrap(), ROWS);
}

/// A generated compound's eleven ledgers: as one workbook of eleven sheets
/// and as eleven CSV files, each into its own node, every record stored.
#[test]
fn a_workbook_of_eleven_sheets_and_eleven_csvs_import_whole() {
    let spec = StreetSpec {
        min_households: 40,
        max_households: 40,
        ..StreetSpec::demo(1)
    };
    let ledger = generate::compound(&spec, 0);
    let dir = tempfile::tempdir().unwrap();
    let xlsx = dir.path().join("ledger.xlsx");
    ledger.write_xlsx(&xlsx).unwrap();
    let csvs = ledger.write_csv(&dir.path().join("csv")).unwrap();
    assert_eq!(csvs.len(), 11);
    for (name, files) in [("xlsx", vec![xlsx]), ("csv", csvs)] {
        let data = node(&dir.path().join(name), &ledger.code);
        let stdout = assert_ok(&run_import(&data, &files));
        let store = Store::open(Path::new(&data)).unwrap();
        assert_eq!(store.head().unwrap(), ledger.n_records() as u64, "{name}");
        for (kind, n) in counts(&store) {
            assert_eq!(n, ledger.n_of(kind), "{name}: {kind:?}");
            assert!(ledger.n_of(kind) > 0, "{kind:?}: the compound has some");
        }
        assert!(stdout.contains("health_checks"), "{stdout}");
    }
}

#[test]
fn each_bad_day_row_names_file_row_column_and_reason_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = node(dir.path(), "HM001");
    assert_ok(&import(dir.path(), &data, ("", "", "")));
    let head = ROWS;

    // (file, text to replace, replacement, expected fragments of the error)
    let cases: &[(&str, &str, &str, &[&str])] = &[
        (
            "vehicle_checks.csv",
            "鄂A·12345",
            "XYZ123",
            &[
                "vehicle_checks.csv row 2",
                "车牌",
                "province character",
                "XYZ123",
            ],
        ),
        (
            "vehicle_checks.csv",
            "沪B1234D",
            "沪B123",
            &["vehicle_checks.csv row 3", "车牌", "5 or 6"],
        ),
        (
            "vehicle_checks.csv",
            "劝返",
            "放行",
            &["vehicle_checks.csv row 2", "处置", "放行"],
        ),
        (
            "health_checks.csv",
            "36.5",
            "43.0",
            &["health_checks.csv row 2", "体温", "42.0"],
        ),
        (
            "health_checks.csv",
            "36.5",
            "36.55",
            &["health_checks.csv row 2", "体温", "one decimal"],
        ),
        (
            "health_checks.csv",
            "HC2,P1,",
            "HC2,P9,",
            &["health_checks.csv row 3", "人员编号", "P9"],
        ),
        (
            "health_checks.csv",
            "上午",
            "晚上",
            &["health_checks.csv row 2", "时段", "晚上"],
        ),
        (
            "services.csv",
            "SR2,H1,",
            "SR2,H9,",
            &["services.csv row 3", "户编号", "H9"],
        ),
        (
            "services.csv",
            "送餐",
            "洗衣",
            // `kind` is also the isolation ledger's (隔离方式): the error
            // names the services ledger's header.
            &["services.csv row 2", "column 服务类型 (kind)", "洗衣"],
        ),
        (
            "mask_reservations.csv",
            ",3,,",
            ",3,,2020-02-05",
            &["mask_reservations.csv row 3", "领取日期", "notified"],
        ),
        (
            "mask_reservations.csv",
            "2020-02-04,2020-02-05",
            "2020-02-02,",
            &["mask_reservations.csv row 2", "通知日期", "before"],
        ),
        (
            "mask_reservations.csv",
            ",H1,2020-02-03 09:30",
            ",H9,2020-02-03 09:30",
            &["mask_reservations.csv row 2", "户编号", "H9"],
        ),
        (
            "mask_reservations.csv",
            ",5,",
            ",11,",
            &["mask_reservations.csv row 2", "数量"],
        ),
        (
            "mask_reservations.csv",
            "13900001111",
            "",
            &["mask_reservations.csv row 3", "手机"],
        ),
        (
            "mask_reservations.csv",
            "2020-02-03 10:00",
            "2020-02-03 25:00",
            &["mask_reservations.csv row 3", "预约时间"],
        ),
        (
            "disinfections.csv",
            ",垃圾箱房,",
            ",,",
            &["disinfections.csv row 2", "区域"],
        ),
        (
            "hotline_tickets.csv",
            "2020-02-04,已处理",
            "2020-02-01,已处理",
            &["hotline_tickets.csv row 2", "办结日期", "before"],
        ),
        (
            "gate_counts.csv",
            ",812,",
            ",-1,",
            &["gate_counts.csv row 2", "测温人次"],
        ),
        (
            "gate_counts.csv",
            ",1460",
            ",1000001",
            &["gate_counts.csv row 2", "快递件数"],
        ),
        (
            "surveys.csv",
            "已登记,P1,",
            "已登记,P9,",
            &["surveys.csv row 2", "人员编号", "P9"],
        ),
        (
            "surveys.csv",
            "来电",
            "网上",
            &["surveys.csv row 2", "来源", "网上"],
        ),
        (
            "surveys.csv",
            "2020-02-03,周九",
            "2020-02-30,周九",
            &["surveys.csv row 3", "日期", "2020-02-30"],
        ),
    ];
    for (file, from, to, fragments) in cases {
        let out = import(dir.path(), &data, (file, from, to));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{file}: {from} → {to} was accepted");
        for fragment in *fragments {
            assert!(
                stderr.contains(fragment),
                "{from} → {to}: {fragment:?} not in {stderr}"
            );
        }
        let store = Store::open(Path::new(&data)).unwrap();
        assert_eq!(
            store.head().unwrap(),
            head,
            "{from} → {to} changed the store"
        );
    }
}

/// Rows of `after` that are new or differ from `before`, over all eleven
/// ledgers.
fn edited_rows(before: &CompoundLedger, after: &CompoundLedger) -> u64 {
    let mut n = 0;
    for (old, new) in before.ledgers().into_iter().zip(after.ledgers()) {
        let ids: std::collections::HashMap<&str, pb::record::Body> = (0..old.n_rows())
            .map(|i| (old.id(i), old.body(i)))
            .collect();
        n += (0..new.n_rows())
            .filter(|&i| ids.get(new.id(i)) != Some(&new.body(i)))
            .count() as u64;
    }
    n
}

/// The node's outbox grows by exactly the edited rows: a day of work on a
/// generated compound (new checks, services, reservations, gate counts,
/// the queue's notifications and collections, closed tickets, and the
/// population's edits), written again and re-imported.
#[test]
fn reimport_of_edited_day_ledgers_logs_only_the_edited_rows() {
    let spec = StreetSpec {
        min_households: 60,
        max_households: 60,
        ..StreetSpec::demo(1)
    };
    let before = generate::compound(&spec, 0);
    let dir = tempfile::tempdir().unwrap();
    let data = node(dir.path(), &before.code);
    let files = before.write_csv(&dir.path().join("day0")).unwrap();
    assert_ok(&run_import(&data, &files));
    let store = Store::open(Path::new(&data)).unwrap();
    let head = store.head().unwrap();
    assert_eq!(head, before.n_records() as u64);

    let mut after = before.clone();
    after.edit_day(3, 0.02, spec.today + chrono::Days::new(1));
    let edited = edited_rows(&before, &after);
    let day_edits = edited_rows(
        &CompoundLedger {
            households: Vec::new(),
            persons: Vec::new(),
            isolations: Vec::new(),
            ..before.clone()
        },
        &CompoundLedger {
            households: Vec::new(),
            persons: Vec::new(),
            isolations: Vec::new(),
            ..after.clone()
        },
    );
    assert!(day_edits > 10, "{day_edits} edits of the day's ledgers");
    let changed_masks = before
        .mask_reservations
        .iter()
        .zip(&after.mask_reservations)
        .filter(|(a, b)| a != b)
        .count();
    assert!(changed_masks > 0, "existing rows are edited too");
    let files = after.write_csv(&dir.path().join("day1")).unwrap();
    assert_ok(&run_import(&data, &files));
    assert_eq!(
        store.head().unwrap(),
        head + edited,
        "one entry per edited row"
    );
    // And again: nothing.
    assert_ok(&run_import(&data, &files));
    assert_eq!(store.head().unwrap(), head + edited);
}
