//! Bench section: see `args::HELP`. The compound's page (`lianfang-node
//! serve`, issue 12) on the largest compound: every page's time over HTTP
//! from this process (median and 95th percentile of repeated requests),
//! a form's POST, and the serving process's memory.

use std::net::SocketAddr;

use lianfang_tests::http1;

use super::*;

/// Requests per page (the p95 is the 19th slowest of 20 with 20).
const ROUNDS: usize = 40;

/// The `csrf` value of a page's forms.
fn csrf_of(html: &str) -> anyhow::Result<String> {
    let at = html
        .find("name=\"csrf\" value=\"")
        .context("no csrf field on the page")?
        + 19;
    Ok(html[at..at + 64].to_owned())
}

fn p95(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[((xs.len() * 95).div_ceil(100))
        .saturating_sub(1)
        .min(xs.len() - 1)]
}

pub(crate) async fn run(ctx: &mut Ctx) -> anyhow::Result<()> {
    let Ctx {
        args,
        root,
        started,
        report,
        bins,
        ..
    } = ctx;
    let started = *started;
    if !args.runs("page") {
        return Ok(());
    }
    let bins = bins
        .clone()
        .context("the page section needs the release binaries")?;
    let full = StreetSpec {
        seed: args.seed,
        ..StreetSpec::full_street()
    };
    let index = (0..full.compounds)
        .max_by_key(|&i| full.households_of(i))
        .unwrap_or(0);
    let ledger = generate::compound(&full, index);
    stage(
        started,
        &format!(
            "9. the page of the largest compound {} ({} households, {} records)",
            ledger.code,
            ledger.households.len(),
            records_of(&ledger)
        ),
    );
    let base = root.join("page");
    let files = ledger.write_csv(&base.join("ledger"))?;
    let token = HubStore::open_or_create(&base.join("hub"))?.enroll(&ledger.code, None)?;
    let dir = base.join("node");
    // No hub listens at this address: the page must not wait for the link.
    lianfang_node::init(&dir, &ledger.code, "http://127.0.0.1:9", &token)?;
    {
        let mut store = Store::open(&dir)?;
        lianfang_node::import::import_files(
            &mut store,
            &files,
            lianfang_node::today(),
            lianfang_node::now_ms(),
        )?;
    }
    let mut child = Command::new(bins.join("lianfang-node"))
        .args(["serve", "--data"])
        .arg(&dir)
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("spawn lianfang-node serve")?;
    let stdout = child.stdout.take().context("piped stdout")?;
    let proc = Proc {
        child,
        name: "lianfang-node serve",
    };
    let mut lines = std::io::BufReader::new(stdout).lines();
    let line = lines.next().context("serve exited before it was ready")??;
    let addr: SocketAddr = line
        .strip_prefix("page: http://")
        .context("no `page: http://` line")?
        .trim_end_matches('/')
        .parse()?;
    std::thread::spawn(move || lines.for_each(drop));
    let (rss_start, _) = mem_of(proc.pid()).unwrap_or_default();

    let (person_id, person) = &ledger.persons[ledger.persons.len() / 2];
    let (household_id, household) = &ledger.households[ledger.households.len() / 3];
    let name_part: String = person.name.chars().take(1).collect();
    let mut paths: Vec<(String, String)> = vec![
        ("/ (the day)".into(), "/".into()),
        ("/buildings".into(), "/buildings".into()),
        ("/masks/queue".into(), "/masks/queue".into()),
        ("/directives".into(), "/directives".into()),
        ("/tasks".into(), "/tasks".into()),
        ("/problems".into(), "/problems".into()),
        ("/import".into(), "/import".into()),
        ("/status.json".into(), "/status.json".into()),
        (
            "/persons?q=<surname>".into(),
            format!("/persons?q={}", http1::encode(&name_part)),
        ),
        (
            "/persons?q=<phone tail>".into(),
            format!("/persons?q={}", &person.phone.get(7..).unwrap_or("1234")),
        ),
        ("/persons?page=20".into(), "/persons?page=20".into()),
        (
            "/households?q=<building-room>".into(),
            format!(
                "/households?q={}-{}",
                http1::encode(&household.building),
                http1::encode(&household.room)
            ),
        ),
        (
            "/persons/<id>".into(),
            format!("/persons/{}", http1::encode(person_id)),
        ),
        (
            "/persons/<id>?reveal=1".into(),
            format!("/persons/{}?reveal=1", http1::encode(person_id)),
        ),
        (
            "/households/<id>".into(),
            format!("/households/{}", http1::encode(household_id)),
        ),
        ("/health-checks/new".into(), "/health-checks/new".into()),
    ];
    for (_, ledger) in lianfang_proto::Kind::with_ledger() {
        let slug = ledger.name.replace('_', "-");
        paths.push((format!("/{slug}"), format!("/{slug}")));
    }
    let mut rows = Vec::new();
    let mut worst: (Duration, String) = (Duration::ZERO, String::new());
    let mut peak = rss_start;
    for (label, path) in &paths {
        let path = path.clone();
        let times = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<Duration>> {
            let mut times = Vec::new();
            for _ in 0..ROUNDS {
                let t = Instant::now();
                let answer = http1::get(addr, &path, &[])?;
                times.push(t.elapsed());
                if answer.status != 200 {
                    bail!("GET {path}: {}", answer.status);
                }
            }
            Ok(times)
        })
        .await??;
        let (m, p) = (median(times.clone()), p95(times));
        if p > worst.0 {
            worst = (p, label.clone());
        }
        peak = peak.max(mem_of(proc.pid()).map_or(0, |(rss, _)| rss));
        eprintln!("    GET {label}: median {}, p95 {}", dur(m), dur(p));
        rows.push((label.clone(), m, p));
    }
    // POST of a new household (the form's csrf, the page's own origin).
    let html = http1::get(addr, "/households/new", &[])?.text();
    let csrf = csrf_of(&html)?;
    let origin = format!("http://{addr}");
    let posts = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<Duration>> {
        let mut times = Vec::new();
        for i in 0..ROUNDS {
            let room = format!("{}", 9000 + i);
            let t = Instant::now();
            let answer = http1::post_form(
                addr,
                "/households",
                &[("Origin", &origin)],
                &[
                    ("csrf", &csrf),
                    ("household_id", ""),
                    ("building", "99"),
                    ("unit", "1"),
                    ("room", &room),
                    ("housing", "自住"),
                ],
            )?;
            times.push(t.elapsed());
            if answer.status != 303 {
                bail!("POST /households: {} {}", answer.status, answer.text());
            }
        }
        Ok(times)
    })
    .await??;
    let (m, p) = (median(posts.clone()), p95(posts));
    eprintln!("    POST /households: median {}, p95 {}", dur(m), dur(p));
    if p > worst.0 {
        worst = (p, "POST /households".into());
    }
    rows.push(("POST /households (create, 303)".into(), m, p));
    let (rss_end, hwm) = mem_of(proc.pid()).unwrap_or_default();
    peak = peak.max(rss_end);
    drop(proc);

    for (label, m, p) in &rows {
        report.info(
            &format!("9. page GET/POST {label}: median / p95 of {ROUNDS}"),
            format!("{} / {}", dur(*m), dur(*p)),
        );
    }
    report.at_most(
        &format!(
            "9. page: slowest p95 of every page ({} households, {} persons; {})",
            ledger.households.len(),
            ledger.persons.len(),
            worst.1
        ),
        dur(worst.0),
        worst.0.as_secs_f64(),
        0.050,
        "50 ms",
    );
    report.at_most(
        "9. page: `lianfang-node serve` RSS while serving (peak sampled after each page; VmHWM in the next row)",
        mb(peak),
        peak as f64,
        40.0 * 1024.0 * 1024.0,
        "40 MB",
    );
    report.info("9. page: `lianfang-node serve` VmHWM at the end", mb(hwm));
    Ok(())
}
