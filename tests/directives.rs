//! Down the hub's log: notices, tasks, problems and configuration reach
//! exactly their compounds, signed, and the answers come back.

use std::path::{Path, PathBuf};
use std::process::Command;

use lianfang_hub::store::HubStore;
use lianfang_node::directives;
use lianfang_node::store::Store;
use lianfang_node::sync::{SyncError, SyncOptions, sync_once};
use lianfang_proto::pb;
use lianfang_sim::generate::{self, StreetSpec};
use lianfang_tests::{TestHub, bin, node_with_ledger, ok};

/// A hub and `n` empty enrolled nodes HM001.. in `root`.
async fn street(root: &Path, n: usize) -> (TestHub, Vec<PathBuf>) {
    let hub = TestHub::start().await;
    let mut nodes = Vec::new();
    for i in 1..=n {
        let code = format!("HM{i:03}");
        let token = hub.enroll(&code);
        let data = root.join(&code);
        lianfang_node::init(&data, &code, &hub.url(), &token).unwrap();
        nodes.push(data);
    }
    (hub, nodes)
}

async fn sync(data: &Path) -> lianfang_node::sync::SyncReport {
    sync_once(data, &SyncOptions::default(), |_| {})
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notice_to_a_subset_reaches_exactly_it_and_acks_come_back() {
    let root = tempfile::tempdir().unwrap();
    let (hub, nodes) = street(root.path(), 3).await;
    let hub_data = hub.dir.path().to_str().unwrap().to_owned();
    let id = ok(
        "lianfang-hub",
        &[
            "directive",
            "send",
            "--data",
            &hub_data,
            "--title",
            "今日提示",
            "--body",
            "加强门岗测温",
            "--to",
            "HM001,HM003",
            "--priority",
            "high",
        ],
    );
    let id = id.trim().to_owned();
    for data in &nodes {
        sync(data).await;
    }
    let received = |data: &Path| -> serde_json::Value {
        serde_json::from_str(&ok(
            "lianfang-node",
            &[
                "directives",
                "--data",
                data.to_str().unwrap(),
                "--format",
                "json",
            ],
        ))
        .unwrap()
    };
    for (data, expected) in nodes.iter().zip([true, false, true]) {
        let list = received(data);
        let got = list
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["id"] == id.as_str());
        assert_eq!(got, expected, "{}", data.display());
    }
    assert_eq!(received(&nodes[0])[0]["title"], "今日提示");
    assert_eq!(received(&nodes[0])[0]["priority"], "high");
    assert!(
        received(&nodes[1]).as_array().unwrap().is_empty(),
        "HM002 receives nothing"
    );

    let status = |id: &str| -> serde_json::Value {
        serde_json::from_str(&ok(
            "lianfang-hub",
            &[
                "directive",
                "status",
                "--data",
                &hub_data,
                id,
                "--format",
                "json",
            ],
        ))
        .unwrap()
    };
    let s = status(&id);
    assert_eq!(s["id"], id.as_str());
    let targets = s["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 2);
    assert_eq!(targets[0]["compound"], "HM001");
    assert_eq!(targets[1]["compound"], "HM003");
    for t in targets {
        assert!(t["delivered_at"].is_string(), "{t}");
        assert!(t["acked_at"].is_null());
    }

    ok(
        "lianfang-node",
        &[
            "ack",
            "--data",
            nodes[0].to_str().unwrap(),
            &id,
            "--response",
            "已落实",
        ],
    );
    sync(&nodes[0]).await;
    let s = status(&id);
    assert!(s["targets"][0]["acked_at"].is_string());
    assert_eq!(s["targets"][0]["response"], "已落实");
    assert!(
        s["targets"][1]["acked_at"].is_null(),
        "HM003 has not acknowledged"
    );

    // Acknowledging what was never received is refused.
    let out = Command::new(bin("lianfang-node"))
        .args(["ack", "--data", nodes[1].to_str().unwrap(), &id])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no directive"));
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_and_problems_are_answered_and_followed_until_fixed() {
    let root = tempfile::tempdir().unwrap();
    let (hub, nodes) = street(root.path(), 2).await;
    let mut store = HubStore::open_or_create(hub.dir.path()).unwrap();
    let entries = (1..=3)
        .map(|i| pb::VerificationEntry {
            entry_id: i.to_string(),
            name: format!("王{i}"),
            phone: "13800000000".into(),
            address: format!("{i}号楼"),
            reason: "群众举报".into(),
        })
        .collect();
    let task = store
        .send_task(
            "HM001",
            pb::VerificationTask {
                title: "核查".into(),
                entries,
            },
        )
        .unwrap();
    let problem = store
        .add_problem(
            "HM002",
            pb::Problem {
                what: "门岗未测温".into(),
                location: "北门".into(),
                found_at: pb::FoundAt::Inspection as i32,
                found_on: "2020-02-19".into(),
            },
        )
        .unwrap();
    for data in &nodes {
        sync(data).await;
    }
    {
        let mut node = Store::open(&nodes[0]).unwrap();
        assert_eq!(directives::tasks(&node).unwrap().len(), 3);
        let t = task.to_string();
        directives::answer_entry(&mut node, &t, "1", pb::AnswerResult::Registered, "").unwrap();
        directives::answer_entry(
            &mut node,
            &t,
            "2",
            pb::AnswerResult::NotLivingHere,
            "已搬走",
        )
        .unwrap();
        assert!(directives::answer_entry(&mut node, &t, "9", pb::AnswerResult::Other, "").is_err());
    }
    sync(&nodes[0]).await;
    let outstanding: Vec<_> = store
        .task_entries(None, None)
        .unwrap()
        .into_iter()
        .filter(|e| e.result.is_none())
        .collect();
    assert_eq!(outstanding.len(), 1);
    assert_eq!(outstanding[0].entry_id, "3");
    let answered = store.task_entries(Some(task), None).unwrap();
    assert_eq!(answered[1].result.as_deref(), Some("not_living_here"));
    assert_eq!(answered[1].note.as_deref(), Some("已搬走"));

    let day = |s| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    let open = &store.problems(day("2020-02-19")).unwrap()[0];
    assert!(
        open.open && !open.overdue,
        "not overdue on the day it was found"
    );
    let open = &store.problems(day("2020-02-20")).unwrap()[0];
    assert!(
        open.open && open.overdue,
        "still open at the next day's meeting"
    );
    assert!(open.delivered_at.is_some());
    {
        let mut node = Store::open(&nodes[1]).unwrap();
        assert_eq!(directives::problems(&node).unwrap()[0].what, "门岗未测温");
        directives::fix(&mut node, &problem.to_string(), "已安排专人测温").unwrap();
    }
    sync(&nodes[1]).await;
    let fixed = &store.problems(day("2020-02-20")).unwrap()[0];
    assert!(!fixed.open && !fixed.overdue);
    assert_eq!(fixed.note.as_deref(), Some("已安排专人测温"));
    drop(store);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_or_tampered_messages_are_refused_and_nothing_is_applied() {
    let root = tempfile::tempdir().unwrap();
    let (hub, nodes) = street(root.path(), 1).await;
    let mut store = HubStore::open_or_create(hub.dir.path()).unwrap();
    let notice = |title: &str| pb::Notice {
        title: title.into(),
        body: "b".into(),
        ..Default::default()
    };
    store.send_notice(notice("first"), None).unwrap();
    sync(&nodes[0]).await;
    store.send_notice(notice("second"), None).unwrap();
    let db = lianfang_tests::hub_db(hub.dir.path());
    let (message, signature): (Vec<u8>, Vec<u8>) = db
        .query_row(
            "SELECT message, signature FROM downlog WHERE seq = 2",
            (),
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();

    // Tampered: the text changed after signing.
    let mut tampered = message.clone();
    let at = tampered.windows(6).position(|w| w == b"second").unwrap();
    tampered[at] = b'S';
    db.execute("UPDATE downlog SET message = ?1 WHERE seq = 2", [&tampered])
        .unwrap();
    // Forged: signed, but by another key.
    let forger = lianfang_proto::sign::signing_key(&[42; 32]);
    let forged = lianfang_proto::sign::sign_entry(&forger, "HM001", 2, message.clone());
    for (what, sql, value) in [
        (
            "tampered",
            "UPDATE downlog SET message = ?1 WHERE seq = 2",
            tampered.clone(),
        ),
        (
            "forged",
            "UPDATE downlog SET message = ?1, signature = ?2 WHERE seq = 2",
            forged.message.clone(),
        ),
    ] {
        if what == "forged" {
            db.execute(sql, lianfang_hub::params![value, forged.signature])
                .unwrap();
        } else {
            db.execute(sql, [&value]).unwrap();
        }
        let error = sync_once(&nodes[0], &SyncOptions::default(), |_| {})
            .await
            .unwrap_err();
        assert!(matches!(error, SyncError::Down(_)), "{what}: {error}");
        assert!(
            error.to_string().contains("signature verification"),
            "{what}: {error}"
        );
        let node = Store::open(&nodes[0]).unwrap();
        assert_eq!(node.down_cursor().unwrap(), 1, "{what} entry not applied");
        assert_eq!(directives::received(&node).unwrap().len(), 1);
        let status: Option<String> = node.optional_meta("last_error").unwrap();
        assert!(status.unwrap().contains("signature"), "status shows why");
    }
    // The genuine entry goes through.
    db.execute(
        "UPDATE downlog SET message = ?1, signature = ?2 WHERE seq = 2",
        lianfang_hub::params![message, signature],
    )
    .unwrap();
    sync(&nodes[0]).await;
    let titles: Vec<String> = directives::received(&Store::open(&nodes[0]).unwrap())
        .unwrap()
        .into_iter()
        .map(|d| d.title)
        .collect();
    assert_eq!(titles, ["first", "second"]);
    drop(store);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_offline_for_days_receives_everything_in_order() {
    let root = tempfile::tempdir().unwrap();
    let (hub, nodes) = street(root.path(), 2).await;
    let mut store = HubStore::open_or_create(hub.dir.path()).unwrap();
    // Days of notices, some to the other compound only, while HM001 is off.
    let mut expected = Vec::new();
    for i in 0..600 {
        let to = if i % 3 == 0 {
            Some(vec!["HM002".to_owned()])
        } else {
            None
        };
        let notice = pb::Notice {
            title: format!("提示 {i}"),
            body: String::new(),
            ..Default::default()
        };
        let id = store.send_notice(notice, to.as_deref()).unwrap();
        if to.is_none() {
            expected.push(id.to_string());
        }
    }
    let report = sync(&nodes[0]).await;
    assert_eq!(report.received, expected.len() as u64);
    let got: Vec<String> = directives::received(&Store::open(&nodes[0]).unwrap())
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(got, expected, "all, in order, none of HM002's");
    // A second sync has nothing new.
    assert_eq!(sync(&nodes[0]).await.received, 0);
    drop(store);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_from_the_hub_changes_the_node_local_view() {
    let hub = TestHub::start().await;
    let compound = generate::compound(&StreetSpec::demo(1), 0);
    let token = hub.enroll(&compound.code);
    let root = tempfile::tempdir().unwrap();
    let data = node_with_ledger(root.path(), &compound, &hub.url(), &token, false);
    sync(&data).await;
    let date = chrono::NaiveDate::from_ymd_opt(2020, 2, 12).unwrap();
    let view = || {
        let node = Store::open(&data).unwrap();
        node.table(date, &node.table_config().unwrap()).unwrap()
    };
    let before = view();
    assert_eq!(before, hub.store().table(date).unwrap().compounds[0].counts);

    let hub_data = hub.dir.path().to_str().unwrap();
    ok(
        "lianfang-hub",
        &[
            "config",
            "set",
            "--data",
            hub_data,
            "--key-regions",
            "湖北,浙江",
            "--isolation-days",
            "7",
        ],
    );
    let report = sync(&data).await;
    assert_eq!(report.received, 1);
    let after = view();
    assert!(
        after.returned_key_total > before.returned_key_total,
        "浙江 returnees now count as key"
    );
    assert_eq!(
        after.returned_key_total + after.returned_other_total,
        before.returned_key_total + before.returned_other_total
    );
    assert_ne!(
        after.home_isolation, before.home_isolation,
        "7-day isolations end sooner"
    );
    assert_eq!(
        after,
        hub.store().table(date).unwrap().compounds[0].counts,
        "node and hub agree"
    );

    // A compound enrolled later starts with the current configuration.
    let token = hub.enroll("HM100");
    let late = root.path().join("late");
    lianfang_node::init(&late, "HM100", &hub.url(), &token).unwrap();
    sync(&late).await;
    let config = Store::open(&late).unwrap().table_config().unwrap();
    assert_eq!(config.key_regions, ["湖北", "浙江"]);
    assert_eq!(config.isolation_days, 7);
    hub.stop().await;
}
