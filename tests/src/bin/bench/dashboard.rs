//! Bench section 10 (issue 13): the street office's dashboard as a browser
//! reads it. The real `lianfang-hub serve --web` on set A's hub (the whole
//! street synced), a user logged in through `POST /login`, then timed GETs
//! (each a fresh HTTP/1.1 connection, the body read whole): `/table` (the
//! whole street's page, target p95 ≤ 100 ms), `/table.xlsx` (≤ 300 ms),
//! `/log` and `/trends` (reported).

use std::net::SocketAddr;

use lianfang_tests::http1;

use super::*;

/// A p95 limit: seconds, and as the report writes it.
type Limit = Option<(f64, &'static str)>;

/// (path, repetitions, p95 limit; `None`: reported only).
const PAGES: [(&str, usize, Limit); 4] = [
    ("/table", 60, Some((0.100, "100 ms"))),
    ("/table.xlsx", 30, Some((0.300, "300 ms"))),
    ("/log", 20, None),
    ("/trends", 5, None),
];

fn p95(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    let i = ((xs.len() as f64) * 0.95).ceil() as usize;
    xs[i.saturating_sub(1).min(xs.len() - 1)]
}

/// Logs in as `user`; returns the `Cookie` header value of the session.
fn log_in(web: SocketAddr, user: &str, password: &str) -> anyhow::Result<String> {
    let form = http1::get(web, "/login", &[])?;
    let pre = form
        .headers_named("set-cookie")
        .into_iter()
        .find_map(|c| c.split(';').next().filter(|c| c.starts_with("lf_login=")))
        .context("no lf_login cookie")?
        .to_owned();
    let html = form.text();
    let at = html
        .find("name=\"csrf\" value=\"")
        .context("no csrf field")?
        + 19;
    let csrf = html[at..].split('"').next().unwrap_or_default().to_owned();
    let own = format!("http://{web}");
    let answer = http1::post_form(
        web,
        "/login",
        &[("Cookie", &pre), ("Origin", &own)],
        &[("user", user), ("password", password), ("csrf", &csrf)],
    )?;
    if answer.status != 303 {
        bail!("login answered {}: {}", answer.status, answer.text());
    }
    let session = answer
        .headers_named("set-cookie")
        .into_iter()
        .find_map(|c| c.split(';').next().filter(|c| c.starts_with("lf_session=")))
        .context("no session cookie")?
        .to_owned();
    Ok(session)
}

pub(crate) async fn run(ctx: &mut Ctx) -> anyhow::Result<()> {
    if !ctx.args.runs("dashboard") {
        return Ok(());
    }
    let (Some(hub), Some(bins)) = (&ctx.hub_a, &ctx.bins) else {
        return Ok(());
    };
    stage(
        ctx.started,
        "10. the dashboard of the whole street (real `serve --web`)",
    );
    let password = "bench password 2020";
    let mut add = Command::new(bins.join("lianfang-hub"))
        .args(["user", "add", "--data"])
        .arg(&hub.dir)
        .args(["--user", "bench", "--role", "staff", "--password-stdin"])
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    {
        use std::io::Write as _;
        writeln!(add.stdin.take().context("stdin")?, "{password}")?;
    }
    if !add.wait()?.success() {
        bail!("lianfang-hub user add failed");
    }
    let mut child = Command::new(bins.join("lianfang-hub"))
        .args(["serve", "--data"])
        .arg(&hub.dir)
        .args(["--listen", "127.0.0.1:0", "--web", "127.0.0.1:0"])
        .env_remove("LIANFANG_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("spawning lianfang-hub serve --web")?;
    let stderr = child.stderr.take().context("stderr")?;
    let serve = Proc {
        child,
        name: "lianfang-hub serve --web",
    };
    let web: SocketAddr = tokio::task::spawn_blocking(move || -> anyhow::Result<SocketAddr> {
        let mut lines = std::io::BufReader::new(stderr).lines();
        loop {
            let line = lines.next().context("serve exited")??;
            if let Some(url) = line.strip_prefix("dashboard: http://") {
                std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
                return Ok(url.trim_end_matches('/').parse()?);
            }
        }
    })
    .await??;
    let today = ctx.spec.today.format("%Y-%m-%d").to_string();
    let quick = ctx.args.quick;
    let results = tokio::task::spawn_blocking(
        move || -> anyhow::Result<Vec<(String, Vec<Duration>, usize)>> {
            let cookie = log_in(web, "bench", password)?;
            let mut out = Vec::new();
            for (path, n, _) in PAGES {
                let n = if quick { n.min(10) } else { n };
                let url = if path == "/trends" {
                    format!("{path}?date={today}&days=14")
                } else {
                    format!("{path}?date={today}")
                };
                // One warm-up request, not timed.
                let warm = http1::get(web, &url, &[("Cookie", &cookie)])?;
                if warm.status != 200 {
                    bail!("GET {url} answered {}", warm.status);
                }
                let mut times = Vec::new();
                let mut bytes = 0;
                for _ in 0..n {
                    let t = Instant::now();
                    let answer = http1::get(web, &url, &[("Cookie", &cookie)])?;
                    times.push(t.elapsed());
                    bytes = answer.body.len();
                }
                out.push((path.to_owned(), times, bytes));
            }
            Ok(out)
        },
    )
    .await??;
    drop(serve);
    for ((path, times, bytes), (_, _, limit)) in results.into_iter().zip(PAGES) {
        let m = median(times.clone());
        let p = p95(times.clone());
        eprintln!(
            "    GET {path}: median {}, p95 {} over {} requests, {} bytes",
            dur(m),
            dur(p),
            times.len(),
            bytes
        );
        let what = format!(
            "10. dashboard GET {path} ({} compounds, logged in, p95 of {}; median {})",
            ctx.street.len(),
            times.len(),
            dur(m)
        );
        match limit {
            Some((limit, label)) => {
                ctx.report
                    .at_most(&what, dur(p), p.as_secs_f64(), limit, label);
            }
            None => ctx
                .report
                .info(&what, format!("p95 {}, {} bytes", dur(p), bytes)),
        }
    }
    Ok(())
}
