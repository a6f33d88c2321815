//! Ledger import through `lianfang-node import`: each validation rule gives
//! file, row, column and reason, and a failed import changes nothing.

use std::path::Path;
use std::process::Command;

use lianfang_node::store::Store;
use lianfang_proto::Kind;
use lianfang_tests::bin;

const HOUSEHOLDS: &str = "户编号,楼号,单元,室号,房屋情况
H1,1,1,101,自住
H2,1,2,202,出租
";
const PERSONS: &str = "人员编号,户编号,姓名,手机,证件号码,国籍,来源地,返沪日期,返沪登记
P1,H1,张三,13812345678,11010519491231002X,中国,湖北省武汉市,2020-02-01,是
P2,H2,John Smith,,E12345678,us,,,
";
const ISOLATIONS: &str = "隔离编号,人员编号,隔离方式,开始日期,解除日期
G1,P1,居家,2020-02-01,
";

fn node(dir: &Path) -> String {
    let data = dir.join("data");
    let token = lianfang_proto::token::encode(&lianfang_proto::pb::EnrollmentToken {
        compound: "HM001".into(),
        secret: vec![9; 32],
        hub_key: vec![1; 32],
        ..Default::default()
    });
    lianfang_node::init(&data, "HM001", "http://127.0.0.1:9", &token).unwrap();
    data.to_str().unwrap().to_owned()
}

/// Writes the three ledgers (with `edit` applied to the named file's text)
/// and runs `lianfang-node import`.
fn import(dir: &Path, data: &str, edit: (&str, &str, &str)) -> std::process::Output {
    let (file, from, to) = edit;
    let mut paths = Vec::new();
    for (name, text) in [
        ("households.csv", HOUSEHOLDS),
        ("persons.csv", PERSONS),
        ("isolations.csv", ISOLATIONS),
    ] {
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
    Command::new(bin("lianfang-node"))
        .args(["import", "--data", data])
        .args(&paths)
        .output()
        .unwrap()
}

#[test]
fn each_rule_names_file_row_column_and_reason_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = node(dir.path());
    let out = import(dir.path(), &data, ("persons.csv", "", ""));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let head = Store::open(Path::new(&data)).unwrap().head().unwrap();
    assert_eq!(head, 5);

    // (file, text to replace, replacement, expected fragments of the error)
    let cases: &[(&str, &str, &str, &[&str])] = &[
        (
            "persons.csv",
            "11010519491231002X",
            "110105194912310021",
            &["persons.csv row 2", "证件号码", "check digit"],
        ),
        (
            "persons.csv",
            "11010519491231002X",
            "1101051949123100",
            &["persons.csv row 2", "证件号码", "18"],
        ),
        (
            "persons.csv",
            "E12345678",
            "E1",
            &["persons.csv row 3", "证件号码"],
        ),
        (
            "persons.csv",
            "13812345678",
            "12812345678",
            &["persons.csv row 2", "手机", "11 digits"],
        ),
        (
            "persons.csv",
            "13812345678",
            "1381234567",
            &["persons.csv row 2", "手机"],
        ),
        (
            "persons.csv",
            "2020-02-01",
            "2099-01-01",
            &["persons.csv row 2", "返沪日期", "more than a year"],
        ),
        (
            "persons.csv",
            "2020-02-01",
            "1999-12-31",
            &["persons.csv row 2", "返沪日期", "2000"],
        ),
        (
            "persons.csv",
            "2020-02-01",
            "2020-02-30",
            &["persons.csv row 2", "返沪日期", "2020-02-30"],
        ),
        (
            "persons.csv",
            ",us,",
            ",XX,",
            &["persons.csv row 3", "国籍", "XX"],
        ),
        (
            "persons.csv",
            ",是\n",
            ",也许\n",
            &["persons.csv row 2", "返沪登记"],
        ),
        (
            "persons.csv",
            "P2,H2,",
            "P2,H9,",
            &["persons.csv row 3", "户编号", "H9"],
        ),
        (
            "persons.csv",
            "P2,H2,John Smith,",
            "P1,H2,John Smith,",
            &["persons.csv row 3", "duplicate", "P1"],
        ),
        (
            "persons.csv",
            "P2,H2,John Smith,",
            "P2,H2,,",
            &["persons.csv row 3", "姓名"],
        ),
        (
            "persons.csv",
            ",证件号码,",
            ",证件,",
            &["persons.csv", "证件号码"],
        ),
        (
            "households.csv",
            "出租",
            "租住",
            &["households.csv row 3", "房屋情况", "租住"],
        ),
        (
            "isolations.csv",
            "G1,P1,",
            "G1,P9,",
            &["isolations.csv row 2", "人员编号", "P9"],
        ),
        (
            "isolations.csv",
            "居家",
            "在家",
            &["isolations.csv row 2", "隔离方式"],
        ),
        (
            "isolations.csv",
            "2020-02-01,\n",
            "2020-02-01,2020-01-20\n",
            &["isolations.csv row 2", "解除日期", "before"],
        ),
    ];
    for (file, from, to, fragments) in cases {
        // Every bad import also carries a good edit, which must not land.
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

#[test]
fn reimport_of_an_edited_ledger_changes_only_the_edited_rows() {
    let dir = tempfile::tempdir().unwrap();
    let data = node(dir.path());
    assert!(
        import(dir.path(), &data, ("persons.csv", "", ""))
            .status
            .success()
    );
    // Same ledger again: nothing new.
    let out = import(dir.path(), &data, ("persons.csv", "", ""));
    assert!(out.status.success());
    let store = Store::open(Path::new(&data)).unwrap();
    assert_eq!(
        store.head().unwrap(),
        5,
        "re-import of the same ledger writes nothing"
    );
    // One edited person, one new person; P2 left out of the file entirely.
    let out = import(
        dir.path(),
        &data,
        (
            "persons.csv",
            "P2,H2,John Smith,,E12345678,us,,,\n",
            "P3,H2,李四,13900001111,11010519491231002X,,浙江省,2020-02-05,否\n",
        ),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(store.head().unwrap(), 6, "one new row");
    let out = import(
        dir.path(),
        &data,
        ("persons.csv", "13812345678", "13912345678"),
    );
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("1 updated"), "{stdout}");
    assert_eq!(store.head().unwrap(), 7, "one edited row");
    let ids = store.live_ids(Kind::Person).unwrap();
    assert!(
        ids.contains("P2"),
        "a row left out of the file is not deleted"
    );
    assert_eq!(ids.len(), 3);
}
