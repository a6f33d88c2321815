//! The street office's dashboard (issue 13) through the real binaries:
//! `lianfang-hub user add`, `lianfang-hub serve --web 127.0.0.1:0`, real
//! nodes syncing with `lianfang-node`, and a real headless Chromium: log in
//! (a refused password first), read the table, send a notice to two
//! compounds and watch its matrix fill as their nodes sync, download the
//! xlsx and read its cells back; a session-less GET, a cross-origin POST
//! and a POST without `csrf` are refused and change nothing. Screenshots go
//! to `target/screenshots/dashboard*/`.

use std::io::{BufRead as _, Write as _};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};

use lianfang_sim::generate::{self, StreetSpec};
use lianfang_tests::browser::Browser;
use lianfang_tests::{bin, http1, ok, run};

const PASSWORD: &str = "花木街道-2020";

/// `lianfang-hub serve --web`, killed on drop.
struct WebHub {
    child: std::process::Child,
    /// The gRPC address nodes sync with.
    grpc: String,
    /// The dashboard's address, as it printed it.
    web: SocketAddr,
}

impl WebHub {
    fn start(data: &Path) -> WebHub {
        let mut child = Command::new(bin("lianfang-hub"))
            .args(["serve", "--data", data.to_str().unwrap()])
            .args(["--listen", "127.0.0.1:0", "--web", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn lianfang-hub serve");
        let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let (mut grpc, mut web) = (None, None);
        while grpc.is_none() || web.is_none() {
            let line = lines.next().expect("serve exited early").unwrap();
            if let Some(url) = line.strip_prefix("dashboard: http://") {
                web = Some(url.trim_end_matches('/').parse().unwrap());
            } else if let Some((_, addr)) = line.rsplit_once(" on ") {
                grpc = Some(addr.trim().to_owned());
            }
        }
        std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
        WebHub {
            child,
            grpc: format!("http://{}", grpc.unwrap()),
            web: web.unwrap(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.web)
    }
}

impl Drop for WebHub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `lianfang-hub user ARGS --password-stdin` with `password` on stdin.
fn user_with_password(args: &[&str], password: &str) -> std::process::Output {
    let mut child = Command::new(bin("lianfang-hub"))
        .arg("user")
        .args(args)
        .arg("--password-stdin")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    child.wait_with_output().unwrap()
}

/// A hub with an admin `wang`, compounds HM001..HM003 (HM001 and HM002
/// with nodes holding generated ledgers, synced once).
struct Street {
    root: tempfile::TempDir,
    hub: WebHub,
    nodes: Vec<String>,
}

fn street() -> Street {
    let root = tempfile::tempdir().unwrap();
    let hub_dir = root.path().join("hub");
    let hub = hub_dir.to_str().unwrap();
    let out = user_with_password(
        &["add", "--data", hub, "--user", "wang", "--role", "admin"],
        PASSWORD,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = ok("lianfang-hub", &["user", "list", "--data", hub]);
    assert!(
        listed.contains("wang") && listed.contains("admin"),
        "{listed}"
    );
    assert!(!listed.contains(PASSWORD));
    ok(
        "lianfang-hub",
        &["config", "set", "--data", hub, "--street-name", "花木街道"],
    );
    let spec = StreetSpec::demo(3);
    let ledgers: Vec<_> = (0..3).map(|i| generate::compound(&spec, i)).collect();
    let tokens: Vec<String> = ledgers
        .iter()
        .map(|l| {
            let mut args = vec![
                "enroll",
                "--data",
                hub,
                "--compound",
                &l.code,
                "--name",
                &l.name,
            ];
            if l.code == "HM001" {
                args.extend(["--liaison", "张伟", "--liaison-phone", "13800001111"]);
            }
            ok("lianfang-hub", &args)
                .lines()
                .last()
                .unwrap()
                .trim()
                .to_owned()
        })
        .collect();
    let web = WebHub::start(&hub_dir);
    let mut nodes = Vec::new();
    for (i, (ledger, token)) in ledgers.iter().zip(&tokens).enumerate().take(2) {
        let node = root.path().join(format!("n{i}"));
        let files = ledger
            .write_csv(&root.path().join(format!("l{i}")))
            .unwrap();
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
                &web.grpc,
                "--token",
                token,
            ],
        );
        let mut args = vec!["import", "--data", node.as_str()];
        args.extend(files.iter().map(|f| f.to_str().unwrap()));
        ok("lianfang-node", &args);
        ok("lianfang-node", &["sync", "--data", &node, "--once"]);
        nodes.push(node);
    }
    Street {
        root,
        hub: web,
        nodes,
    }
}

/// Waits (up to 10 s) until the browser's URL satisfies `want`: a click
/// returns before the page it posts to has loaded.
async fn wait_url(browser: &Browser, want: impl Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let url = match browser.client.current_url().await {
            Ok(url) => url.to_string(),
            Err(_) => String::new(),
        };
        if want(&url) || std::time::Instant::now() > deadline {
            return url;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Waits (up to 10 s) until the page's text contains `needle`; returns it.
async fn wait_text(browser: &Browser, needle: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        // Mid-navigation the old body is gone and the new one not there yet.
        let text = match browser.client.find(fantoccini::Locator::Css("body")).await {
            Ok(body) => body.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if text.contains(needle) || std::time::Instant::now() > deadline {
            return text;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The session cookie the browser holds, as a `Cookie` header value.
async fn session_cookie(browser: &Browser) -> String {
    let cookies = browser.client.get_all_cookies().await.unwrap();
    cookies
        .iter()
        .map(|c| format!("{}={}", c.name(), c.value()))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The value of the hidden `csrf` field in a page.
fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a csrf field");
    let rest = &html[at + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

fn directives(hub: &Path) -> usize {
    let out = ok(
        "lianfang-hub",
        &[
            "directive",
            "list",
            "--data",
            hub.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    serde_json::from_str::<serde_json::Value>(&out)
        .unwrap()
        .as_array()
        .unwrap()
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_login_table_notice_matrix_xlsx_and_refusals() {
    let street = tokio::task::spawn_blocking(street).await.unwrap();
    let hub_dir = street.root.path().join("hub");
    let web = street.hub.web;

    // No session: every page sends to the login.
    let anonymous = tokio::task::spawn_blocking(move || {
        let page = http1::get(web, "/table", &[]).unwrap();
        let xlsx = http1::get(web, "/table.xlsx", &[]).unwrap();
        (
            page.status,
            page.header("location").map(str::to_owned),
            xlsx.status,
        )
    })
    .await
    .unwrap();
    assert_eq!(anonymous, (303, Some("/login".to_owned()), 303));

    let mut browser = Browser::start("dashboard").await;
    browser.goto(&street.hub.url("/")).await;
    assert!(browser.url().await.ends_with("/login"));
    browser.fill("user", "wang").await;
    browser.fill("password", "not the password").await;
    browser.click("button[type=submit]").await;
    let text = wait_text(&browser, "用户名或密码错误").await;
    assert!(text.contains("用户名或密码错误"), "{text}");
    let source = browser.source().await;
    assert!(source.contains("value=\"wang\""), "the typed name is kept");
    browser.screenshot("login-refused").await;

    browser.fill("password", PASSWORD).await;
    browser.click("button[type=submit]").await;
    let home = street.hub.url("/");
    assert_eq!(wait_url(&browser, |u| u == home).await, home);
    let text = wait_text(&browser, "合计").await;
    assert!(text.contains("《花木街道人口信息排摸表》"), "{text}");
    for code in ["HM001", "HM002", "HM003"] {
        assert!(text.contains(code), "{code}: {text}");
    }
    assert!(text.contains("合计"));
    assert!(
        text.contains("已追平"),
        "synced nodes are caught up: {text}"
    );
    assert!(text.contains("从未同步"), "HM003 never synced: {text}");
    browser.screenshot("table").await;

    // A compound's page: its liaison and lanes.
    browser.goto(&street.hub.url("/compounds/HM001")).await;
    let text = browser.text().await;
    assert!(
        text.contains("张伟") && text.contains("13800001111"),
        "{text}"
    );
    assert!(text.contains("已追平"), "{text}");
    browser.screenshot("compound").await;

    // A notice to two compounds; the matrix fills as their nodes sync.
    browser.goto(&street.hub.url("/notices")).await;
    browser.fill("title", "").await;
    browser.click("main button[type=submit]").await;
    assert!(
        wait_text(&browser, "请填写标题")
            .await
            .contains("请填写标题")
    );
    browser.fill("title", "今日提示：加强门岗测温").await;
    browser.fill("body", "所有出入人员一律测温登记。").await;
    browser.fill("to", "HM001,HM002").await;
    browser.click("main button[type=submit]").await;
    let url = wait_url(&browser, |u| u.contains("/notices/")).await;
    let id = url.rsplit('/').next().unwrap().to_owned();
    assert!(url.ends_with(&format!("/notices/{id}")), "{url}");
    let text = wait_text(&browser, "未送达").await;
    assert_eq!(text.matches("未送达").count(), 2, "{text}");
    assert!(
        !text.contains("HM003"),
        "sent to two compounds only: {text}"
    );
    browser.screenshot("notice-sent").await;

    let nodes = street.nodes.clone();
    let ack_id = id.clone();
    tokio::task::spawn_blocking(move || {
        for node in &nodes {
            ok("lianfang-node", &["sync", "--data", node, "--once"]);
        }
        ok(
            "lianfang-node",
            &["ack", "--data", &nodes[0], &ack_id, "--response", "已落实"],
        );
        ok("lianfang-node", &["sync", "--data", &nodes[0], "--once"]);
    })
    .await
    .unwrap();
    browser.goto(&url).await;
    let text = browser.text().await;
    assert_eq!(text.matches("未送达").count(), 0, "{text}");
    assert!(text.contains("已落实"), "{text}");
    assert!(text.contains("尚未确认（1）：HM002"), "{text}");
    browser.screenshot("notice-matrix").await;

    // An inspection with a failed item: it becomes a problem sent down.
    browser.goto(&street.hub.url("/inspections")).await;
    browser.select("compound", "HM001").await;
    browser.fill("inspector", "李书记").await;
    browser.click("input[name=parcel_point][value=fail]").await;
    browser
        .fill("parcel_point_note", "快递堆放在门外无人看管")
        .await;
    browser.click("main button[type=submit]").await;
    let url = wait_url(&browser, |u| u.contains("saved=")).await;
    assert!(url.contains("/inspections?saved="), "{url}");
    browser.goto(&street.hub.url("/problems")).await;
    let text = browser.text().await;
    assert!(text.contains("巡察未通过：快递外卖集中点"), "{text}");
    browser.screenshot("problems").await;
    browser
        .goto(&street.hub.url("/trends?compound=HM001&date=2020-02-20"))
        .await;
    let text = browser.text().await;
    assert!(
        text.contains("每日返沪人数") && text.contains("2020-02-20"),
        "{text}"
    );
    assert!(
        browser.source().await.contains("<svg"),
        "charts drawn on the server"
    );
    browser.screenshot("trends").await;

    // The xlsx, fetched with the browser's session, read back.
    let cookie = session_cookie(&browser).await;
    let cookie_for_xlsx = cookie.clone();
    let xlsx = tokio::task::spawn_blocking(move || {
        http1::get(web, "/table.xlsx", &[("Cookie", &cookie_for_xlsx)]).unwrap()
    })
    .await
    .unwrap();
    assert_eq!(xlsx.status, 200);
    check_xlsx(&xlsx.body);

    let old_cookie = cookie.clone();
    // Refused: a cross-origin POST and one without csrf; nothing changes.
    let before = directives(&hub_dir);
    let notices = {
        let cookie = cookie.clone();
        tokio::task::spawn_blocking(move || {
            http1::get(web, "/notices", &[("Cookie", &cookie)]).unwrap()
        })
        .await
        .unwrap()
    };
    let csrf = csrf_of(&notices.text());
    let own = format!("http://{web}");
    let statuses = tokio::task::spawn_blocking(move || {
        let fields = [
            ("title", "伪造"),
            ("body", "x"),
            ("to", ""),
            ("csrf", csrf.as_str()),
        ];
        let cross = http1::post_form(
            web,
            "/notices",
            &[("Cookie", &cookie), ("Origin", "http://evil.example")],
            &fields,
        )
        .unwrap();
        let no_csrf = http1::post_form(
            web,
            "/notices",
            &[("Cookie", &cookie), ("Origin", &own)],
            &fields[..3],
        )
        .unwrap();
        let no_session = http1::post_form(web, "/notices", &[("Origin", &own)], &fields).unwrap();
        (cross.status, no_csrf.status, no_session.status)
    })
    .await
    .unwrap();
    assert_eq!(statuses, (403, 403, 303));
    assert_eq!(
        directives(&hub_dir),
        before,
        "a refused POST changes nothing"
    );

    // Every action is audited with the user's name.
    let audit = ok(
        "lianfang-hub",
        &[
            "audit",
            "--data",
            hub_dir.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    let audit: serde_json::Value = serde_json::from_str(&audit).unwrap();
    let by_wang: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["user"] == "wang")
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    for event in ["login_refused", "login", "notice", "inspection", "download"] {
        assert!(by_wang.contains(&event), "{event}: {by_wang:?}");
    }

    // Logout ends the session.
    browser.goto(&street.hub.url("/")).await;
    browser.click("header.top button[type=submit]").await;
    assert!(
        wait_url(&browser, |u| u.ends_with("/login"))
            .await
            .ends_with("/login")
    );
    browser.screenshot("logged-out").await;
    let after = tokio::task::spawn_blocking(move || {
        http1::get(web, "/", &[("Cookie", &old_cookie)])
            .unwrap()
            .status
    })
    .await
    .unwrap();
    assert_eq!(after, 303, "the ended session opens nothing");
    browser.close().await;
}

fn check_xlsx(bytes: &[u8]) {
    use calamine::{Data, Reader as _, Xlsx};
    let mut book: Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(bytes.to_vec())).expect("an xlsx");
    assert_eq!(book.sheet_names().len(), 1, "one sheet");
    let name = book.sheet_names()[0].clone();
    let range = book.worksheet_range(&name).unwrap();
    let cell = |r: u32, c: u32| -> String {
        match range.get_value((r, c)) {
            Some(Data::String(s)) => s.clone(),
            Some(Data::Float(f)) => f.to_string(),
            Some(Data::Int(i)) => i.to_string(),
            Some(other) => other.to_string(),
            None => String::new(),
        }
    };
    assert_eq!(cell(0, 0), "《花木街道人口信息排摸表》");
    assert!(cell(1, 0).starts_with("日期："), "{}", cell(1, 0));
    assert_eq!(cell(2, 2), "户数");
    assert_eq!(cell(3, 2), "合计");
    assert_eq!(cell(2, 6), "人数");
    assert_eq!(cell(2, 8), "重点地区返沪");
    assert_eq!(cell(2, 12), "返沪未登记");
    assert_eq!(cell(2, 13), "隔离");
    assert_eq!(cell(3, 15), "今日解除");
    assert_eq!(cell(4, 0), "HM001");
    assert_eq!(cell(6, 0), "HM003");
    assert_eq!(cell(7, 0), "合计");
    // The total row is the sum of the rows, key by key.
    for c in 2..16 {
        let sum: f64 = (4..7).map(|r| cell(r, c).parse::<f64>().unwrap()).sum();
        assert_eq!(cell(7, c).parse::<f64>().unwrap(), sum, "column {c}");
    }
    assert!(
        cell(4, 2).parse::<f64>().unwrap() > 0.0,
        "HM001 has households"
    );
    assert_eq!(cell(4, 17), "已追平");
}

#[test]
fn user_commands_read_passwords_from_stdin_only() {
    let root = tempfile::tempdir().unwrap();
    let hub = root.path().join("hub");
    let hub = hub.to_str().unwrap();
    let short = user_with_password(&["add", "--data", hub, "--user", "li"], "short");
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 8"));
    let out = user_with_password(&["add", "--data", hub, "--user", "li"], "long enough pw");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let no_flag = run(
        "lianfang-hub",
        &["user", "add", "--data", hub, "--user", "x"],
    );
    assert!(
        !no_flag.status.success(),
        "the password comes only through --password-stdin"
    );
    let passwd = user_with_password(
        &["passwd", "--data", hub, "--user", "li"],
        "another password",
    );
    assert!(passwd.status.success());
    let list = ok(
        "lianfang-hub",
        &["user", "list", "--data", hub, "--format", "json"],
    );
    assert!(
        list.contains("\"staff\"") && !list.contains("password"),
        "{list}"
    );
    ok(
        "lianfang-hub",
        &["user", "remove", "--data", hub, "--user", "li"],
    );
    let list = ok("lianfang-hub", &["user", "list", "--data", hub]);
    assert!(list.contains("no users"), "{list}");
    let help = ok("lianfang-hub", &["serve", "--help"]);
    assert!(
        help.contains("--web") && help.contains("dashboard"),
        "{help}"
    );
}
