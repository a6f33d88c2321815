//! The compound office's page (`lianfang-node serve`, issue 12) through the
//! real binary and a real headless Chromium, against a real hub: a
//! worker's day (a household, a returnee, a refused value beside its
//! field, an isolation, the day's two checks, mask reservations and the
//! next to notify, a notice acknowledged, a task answered), then all of it
//! at the hub after the background sync; foreign and token-less POSTs are
//! refused with 403 and change nothing; an import's bad row is shown as a
//! table; SIGTERM stops it cleanly. Screenshots are kept under
//! `target/screenshots/node_page*/`.

use std::io::BufRead as _;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use lianfang_hub::store::HubStore;
use lianfang_proto::{Kind, pb};
use lianfang_tests::browser::Browser;
use lianfang_tests::{TestHub, bin, http1, ok};

/// `lianfang-node serve` as a child process; killed on drop unless stopped.
struct PageProcess {
    child: std::process::Child,
    addr: SocketAddr,
}

impl PageProcess {
    fn start(data: &Path) -> PageProcess {
        let mut child = std::process::Command::new(bin("lianfang-node"))
            .args(["serve", "--data", data.to_str().unwrap()])
            .args(["--listen", "127.0.0.1:0", "--interval", "2"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("spawn lianfang-node serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = std::io::BufReader::new(stdout).lines();
        let line = lines
            .next()
            .expect("serve exited before it was ready")
            .expect("read serve's stdout");
        let url = line
            .strip_prefix("page: http://")
            .unwrap_or_else(|| panic!("first line {line:?} is not `page: http://HOST:PORT/`"));
        let addr = url.trim_end_matches('/').parse().expect("HOST:PORT");
        std::thread::spawn(move || lines.for_each(drop));
        PageProcess { child, addr }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// SIGTERM, then the exit status within 15 s.
    fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "serve did not stop within 15 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for PageProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn today() -> String {
    lianfang_node::today().format("%Y-%m-%d").to_string()
}

/// The `csrf` value of the page's forms.
fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    html[at..at + 64].to_owned()
}

async fn get(addr: SocketAddr, path: &str) -> http1::Response {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || http1::get(addr, &path, &[]).expect("GET"))
        .await
        .unwrap()
}

/// Polls `check` every 200 ms for up to 30 s.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(Instant::now() < deadline, "{what}: not within 30 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Clicks `css` (a submit button) and waits until the next page has
/// loaded: a WebDriver click may return before the navigation it starts.
async fn click_through(browser: &Browser, css: &str) {
    browser
        .client
        .execute("window.__before_click = true;", vec![])
        .await
        .expect("mark the page");
    browser.click(css).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let loaded = browser
            .client
            .execute(
                "return window.__before_click === undefined && document.readyState === 'complete';",
                vec![],
            )
            .await
            .ok()
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        if loaded {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no new page within 20 s of clicking {css}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn submit(browser: &Browser) {
    click_through(browser, "form.record button[type=submit]").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_page_a_workers_day_reaches_the_hub() {
    let root = tempfile::tempdir().unwrap();
    let hub = TestHub::start().await;
    let token = hub.enroll("HM001");
    let node = root.path().join("node");
    let node_str = node.to_str().unwrap();
    ok(
        "lianfang-node",
        &[
            "init",
            "--data",
            node_str,
            "--compound",
            "HM001",
            "--hub",
            &hub.url(),
            "--token",
            &token,
        ],
    );
    let (notice, task) = {
        let mut store = HubStore::open_or_create(hub.dir.path()).unwrap();
        let notice = store
            .send_notice(
                pb::Notice {
                    title: "今日重点：返沪人员登记".into(),
                    body: "请各小区今日完成返沪人员“三问三登记”。".into(),
                    priority: pb::Priority::High as i32,
                    due: String::new(),
                },
                None,
            )
            .unwrap();
        let task = store
            .send_task(
                "HM001",
                pb::VerificationTask {
                    title: "12345 来电核查".into(),
                    entries: vec![pb::VerificationEntry {
                        entry_id: "1".into(),
                        name: "赵六".into(),
                        phone: "13700001111".into(),
                        address: "12号楼 101".into(),
                        reason: "群众来电反映返沪未登记".into(),
                    }],
                },
            )
            .unwrap();
        (notice, task)
    };

    let page = PageProcess::start(&node);
    let addr = page.addr;
    // The worker beside the page fetches the directives by itself.
    let mut fetched = false;
    for _ in 0..150 {
        if get(addr, "/directives").await.text().contains("今日重点") {
            fetched = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(fetched, "the notice reached the page's node");
    let t = today();

    let mut browser = Browser::start("node_page").await;
    browser.goto(&page.url("/")).await;
    let text = browser.text().await;
    assert!(text.contains("今日重点：返沪人员登记"), "{text}");
    assert!(text.contains("已连通街道"), "{text}");
    browser.screenshot("day-start").await;

    // A household, then a returnee in it.
    browser.goto(&page.url("/households/new")).await;
    browser.fill("household_id", "H001").await;
    browser.fill("building", "12").await;
    browser.fill("unit", "1").await;
    browser.fill("room", "101").await;
    browser.select("housing", "自住").await;
    submit(&browser).await;
    assert_eq!(browser.url().await, page.url("/households/H001?saved=1"));

    browser.goto(&page.url("/persons/new")).await;
    browser.fill("person_id", "P001").await;
    browser.fill("household_id", "H001").await;
    browser.fill("name", "王芳").await;
    browser.fill("phone", "13912345678").await;
    // A wrong check digit: refused beside its field, what was typed kept.
    browser.fill("id_number", "110105194912310021").await;
    browser.fill("origin", "湖北省武汉市").await;
    browser.fill("return_date", &t).await;
    browser.select("registered", "是").await;
    submit(&browser).await;
    let source = browser.source().await;
    let at = source
        .find("id=\"field-id_number\"")
        .expect("the id_number field");
    let field = &source[at..at + source[at..].find("</div>\n</div>").unwrap_or(600).min(2000)];
    assert!(field.contains("class=\"message\""), "{field}");
    assert!(
        field.contains("check digit"),
        "the ledger's reason beside the field: {field}"
    );
    assert!(source.contains("value=\"王芳\""), "typed values kept");
    browser.screenshot("refused-id-number").await;
    let refused = http1::get(addr, "/persons", &[]).unwrap().text();
    assert!(!refused.contains("P001"), "nothing stored");

    browser.fill("id_number", "11010519491231002X").await;
    submit(&browser).await;
    assert_eq!(browser.url().await, page.url("/persons/P001?saved=1"));
    let text = browser.text().await;
    assert!(
        text.contains("1101**********002X"),
        "masked on the record page: {text}"
    );
    assert!(!text.contains("11010519491231002X"));

    // Home isolation from today; the person shows as unchecked.
    browser.goto(&page.url("/isolations/new")).await;
    browser.fill("isolation_id", "I001").await;
    browser.fill("person_id", "P001").await;
    browser.select("kind", "居家").await;
    submit(&browser).await;
    assert_eq!(browser.url().await, page.url("/isolations/I001?saved=1"));
    browser.goto(&page.url("/")).await;
    let unchecked = browser.text().await;
    assert!(unchecked.contains("王芳"), "{unchecked}");
    browser.screenshot("day-unchecked").await;

    // The day's two checks, from the day page's link (an id made for each).
    for (slot, temperature) in [("上午", "36.5"), ("下午", "36.8")] {
        browser.goto(&page.url("/")).await;
        click_through(&browser, "#unchecked a").await;
        browser.select("slot", slot).await;
        browser.fill("temperature", temperature).await;
        submit(&browser).await;
        assert!(
            browser.url().await.contains("?saved=1"),
            "{}",
            browser.url().await
        );
    }
    browser.goto(&page.url("/")).await;
    let text = browser.text().await;
    assert!(text.contains("两次体温都已测"), "{text}");

    // Two mask reservations; notify the next one and see whom to call.
    for (id, name, phone) in [
        ("M001", "李雷", "13800000001"),
        ("M002", "韩梅梅", "13800000002"),
    ] {
        browser.goto(&page.url("/mask-reservations/new")).await;
        browser.fill("reservation_id", id).await;
        browser.fill("name", name).await;
        browser.fill("phone", phone).await;
        browser.fill("quantity", "5").await;
        submit(&browser).await;
        assert!(browser.url().await.contains("?saved=1"));
    }
    browser.goto(&page.url("/masks/queue")).await;
    let queue = browser.text().await;
    assert!(
        queue.find("李雷").unwrap() < queue.find("韩梅梅").unwrap(),
        "{queue}"
    );
    assert!(queue.contains("138****0001") && !queue.contains("13800000001"));
    browser.fill("n", "1").await;
    click_through(&browser, "form[action='/masks/notify'] button").await;
    assert_eq!(browser.url().await, page.url("/masks/called"));
    let called = browser.text().await;
    assert!(
        called.contains("李雷") && called.contains("13800000001"),
        "{called}"
    );
    assert!(!called.contains("韩梅梅"));
    browser.screenshot("masks-called").await;

    // The notice acknowledged, the task answered.
    browser.goto(&page.url("/directives")).await;
    browser.fill("response", "收到，今日完成").await;
    click_through(&browser, "form[action$='/ack'] button").await;
    assert!(browser.text().await.contains("已确认"));
    browser.goto(&page.url("/tasks")).await;
    browser.select("result", "registered").await;
    browser.fill("note", "已上门登记").await;
    click_through(&browser, "form[action$='/answer'] button").await;
    assert!(browser.text().await.contains("已回复"));

    // A list with a search by phone tail: masked phones and ID numbers.
    browser.goto(&page.url("/persons?q=5678")).await;
    let list = browser.text().await;
    assert!(
        list.contains("王芳") && list.contains("139****5678"),
        "{list}"
    );
    assert!(!list.contains("13912345678"));
    browser.screenshot("persons-list").await;
    // The record's full values on an explicit reveal, written to the audit log.
    browser.goto(&page.url("/persons/P001?reveal=1")).await;
    assert!(
        browser
            .source()
            .await
            .contains("value=\"11010519491231002X\"")
    );
    browser.goto(&page.url("/buildings")).await;
    let map = browser.text().await;
    assert!(map.contains("12") && map.contains("王芳"), "{map}");
    browser.screenshot("buildings").await;
    browser.goto(&page.url("/")).await;
    browser.screenshot("day-end").await;
    browser.close().await;

    // A phone: one column, the form's refusal readable.
    let mut phone = Browser::start_with_size("node_page_phone", 390, 844).await;
    phone.goto(&page.url("/")).await;
    phone.screenshot("day").await;
    phone
        .goto(&page.url("/health-checks/new?person_id=P001"))
        .await;
    phone.fill("temperature", "45").await;
    submit(&phone).await;
    assert!(phone.text().await.contains("temperature"), "refused");
    phone.screenshot("refused-temperature").await;
    phone.goto(&page.url("/persons")).await;
    phone.screenshot("persons-list").await;
    phone.close().await;

    // Foreign or token-less POSTs: 403, nothing changed.
    let html = get(addr, "/households/new").await.text();
    let csrf = csrf_of(&html);
    let own = format!("http://{addr}");
    let statuses = tokio::task::spawn_blocking(move || {
        let form = |headers: &[(&str, &str)], csrf: Option<&str>| {
            let mut fields = vec![
                ("household_id", "H666"),
                ("building", "6"),
                ("unit", "6"),
                ("room", "666"),
                ("housing", "自住"),
            ];
            if let Some(csrf) = csrf {
                fields.push(("csrf", csrf));
            }
            http1::post_form(addr, "/households", headers, &fields)
                .unwrap()
                .status
        };
        [
            form(&[("Origin", "http://evil.example")], Some(&csrf)),
            form(
                &[("Host", "evil.example"), ("Origin", "http://evil.example")],
                Some(&csrf),
            ),
            form(&[("Origin", &own)], None),
            form(&[("Origin", &own)], Some("0".repeat(64).as_str())),
            // Own origin with the token: the only one that may write.
            form(&[("Origin", &own)], Some(&csrf)),
        ]
    })
    .await
    .unwrap();
    assert_eq!(statuses, [403, 403, 403, 403, 303]);
    let households = get(addr, "/households").await.text();
    assert!(households.contains("H666"));
    let html = get(addr, "/households/H666/delete").await.text();
    assert!(html.contains("确定删除"));
    let csrf = csrf_of(&html);
    let deleted = tokio::task::spawn_blocking(move || {
        http1::post_form(
            addr,
            "/households/H666/delete",
            &[],
            &[("csrf", &csrf), ("confirm", "yes")],
        )
        .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(deleted.status, 303);
    assert!(!get(addr, "/households").await.text().contains("H666"));

    // An import with a bad row: the error as a table, nothing applied.
    let csrf = csrf_of(&get(addr, "/import").await.text());
    let imported = tokio::task::spawn_blocking(move || {
        let boundary = "lianfangboundary";
        let mut body = String::new();
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n"
        ));
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"households.csv\"\r\n\
             Content-Type: text/csv\r\n\r\n户编号,楼号,单元,室号,房屋情况\nH010,3,1,101,自住\nH011,3,1,102,别墅\n\r\n--{boundary}--\r\n"
        ));
        http1::request(
            addr,
            "POST",
            "/import",
            &[(
                "Content-Type",
                &format!("multipart/form-data; boundary={boundary}"),
            )],
            body.as_bytes(),
        )
        .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(imported.status, 422);
    let text = imported.text();
    assert!(
        text.contains("households.csv") && text.contains("房屋情况"),
        "{text}"
    );
    assert!(!get(addr, "/households").await.text().contains("H010"));

    // Everything at the hub after the background sync.
    let store = hub.store();
    eventually("the day's records at the hub", || {
        store.record_count("HM001", Kind::HealthCheck).unwrap() == 2
            && store.record_count("HM001", Kind::MaskReservation).unwrap() == 2
            && store.record_count("HM001", Kind::Household).unwrap() == 1
    })
    .await;
    let date = lianfang_node::today();
    eventually("the task answer at the hub", || {
        store.task_entries(Some(task), None).unwrap()[0]
            .result
            .as_deref()
            == Some("registered")
    })
    .await;
    eventually("the receipt at the hub", || {
        store.directive_status(notice).unwrap().targets[0]
            .acked_at
            .is_some()
    })
    .await;
    let table = store.table(date).unwrap();
    let row = &table.compounds[0].counts;
    assert_eq!(
        (
            row.households,
            row.persons,
            row.returned_key_today,
            row.home_isolation
        ),
        (1, 1, 1, 1)
    );
    let log = &store.day_log(date).unwrap().compounds[0].log;
    assert_eq!(
        (
            log.home_isolated_persons,
            log.checks_done,
            log.unchecked_persons,
            log.masks_notified
        ),
        (1, 2, 0, 1)
    );
    let status = store.directive_status(notice).unwrap();
    assert_eq!(
        status.targets[0].response.as_deref(),
        Some("收到，今日完成")
    );

    // /status.json is `status --format json`, once nothing is pending.
    eventually("nothing pending", || {
        serde_json::from_str::<serde_json::Value>(
            &http1::get(addr, "/status.json", &[]).unwrap().text(),
        )
        .unwrap()["pending"]
            == 0
    })
    .await;
    // The worker keeps syncing on its interval and each sync stamps
    // `last_success`, so the two are read again until no sync fell between
    // the two reads; a real difference never matches.
    eventually("/status.json equal to `status --format json`", || {
        let page_json: serde_json::Value =
            serde_json::from_str(&http1::get(addr, "/status.json", &[]).unwrap().text()).unwrap();
        let cli_json: serde_json::Value = serde_json::from_str(&ok(
            "lianfang-node",
            &["status", "--data", node_str, "--format", "json"],
        ))
        .unwrap();
        if page_json != cli_json {
            eprintln!(
                "status differs (a sync between the reads?):\n  page {page_json}\n  cli  {cli_json}"
            );
        }
        page_json == cli_json
    })
    .await;
    let audit = ok("lianfang-node", &["status", "--data", node_str]);
    drop(audit);

    // SIGTERM: a clean stop.
    let exit = page.terminate();
    assert!(exit.success(), "{exit:?}");
    hub.stop().await;
}

#[test]
fn node_page_refuses_to_listen_off_loopback_without_the_flag() {
    let root = tempfile::tempdir().unwrap();
    let out = lianfang_tests::run(
        "lianfang-node",
        &[
            "serve",
            "--data",
            root.path().to_str().unwrap(),
            "--listen",
            "0.0.0.0:0",
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--allow-remote"), "{err}");
    let help = ok("lianfang-node", &["serve", "--help"]);
    assert!(
        help.contains("--listen") && help.contains("--allow-remote"),
        "{help}"
    );
}
