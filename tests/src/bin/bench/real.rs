//! Bench section 8: the street's initial sync as a user runs it — one
//! `lianfang-node sync --once` process per compound, P at once, against a
//! real `lianfang-hub serve` — so this figure cannot drift apart from the
//! in-process one of section 1 again (issue 15, finding 2).

use super::*;

/// Node processes at once in each run: the range issue 15 asks about.
const PARALLEL: [usize; 2] = [4, 8];

/// Target for the whole street through the real binaries.
const TARGET_RECORDS_PER_S: f64 = 150_000.0;

/// The hub's CPU per record may be at most this many times the apply-only
/// figure of section 4.
const CPU_FACTOR: f64 = 1.5;

pub(crate) async fn run(ctx: &mut Ctx) -> anyhow::Result<()> {
    if !ctx.args.runs("real") {
        return Ok(());
    }
    let bins = ctx.bins.clone().context("release binaries")?;
    // The day-0 ledgers: `incremental` edits the street in place.
    let persons = ctx.day0_persons;
    for parallel in PARALLEL {
        stage(
            ctx.started,
            &format!(
                "8. initial sync through the real binaries, {parallel} node processes at once"
            ),
        );
        let set = ctx.root.join(format!("r{parallel}"));
        let hub_dir = set.join("hub");
        let tokens = enroll_all(&hub_dir, &ctx.street)?;
        let tls = ctx.args.tls;
        let (hub, port) = start_hub_process(&bins, &hub_dir, tls).await?;
        let scheme = if tls { "https" } else { "http" };
        let urls = vec![format!("{scheme}://127.0.0.1:{port}"); ctx.street.len()];
        let (dirs, took) =
            setup_nodes(&set.join("nodes"), &ctx.street, &ctx.files, &urls, &tokens)?;
        eprintln!("    imported in {}", dur(took));
        let entries: u64 = dirs
            .iter()
            .map(|d| heads(d).map(|h| h[0] + h[1]))
            .sum::<anyhow::Result<u64>>()?;

        let hub_cpu = cpu_of(hub.pid());
        let nodes_cpu = children_cpu();
        let t = Instant::now();
        let node_bin = bins.join("lianfang-node");
        tokio::task::spawn_blocking(move || sync_processes(&node_bin, &dirs, parallel))
            .await
            .context("node processes panicked")??;
        let wall = t.elapsed();
        let hub_cpu = cpu_of(hub.pid()) - hub_cpu;
        let nodes_cpu = children_cpu() - nodes_cpu;

        // What the street office would read now.
        let table = HubStore::open_read_only(&hub_dir)?.table(ctx.spec.today)?;
        drop(hub);
        if table.total.persons != persons {
            bail!(
                "after the real binaries' sync the table counts {} persons, the street has {persons}",
                table.total.persons
            );
        }
        let rate = entries as f64 / wall.as_secs_f64();
        let hub_us = hub_cpu * 1e6 / entries.max(1) as f64;
        eprintln!(
            "    {entries} entries in {}: {}/s; hub CPU {hub_cpu:.2} s ({hub_us:.2} µs/entry), nodes' CPU {nodes_cpu:.2} s",
            dur(wall),
            thousands(rate)
        );
        ctx.report.info(
            &format!(
                "8. real binaries{}, {parallel} `lianfang-node sync --once` at once: wall and CPU",
                if tls { " over TLS" } else { "" }
            ),
            format!(
                "{} for {entries} entries of {} nodes against `lianfang-hub serve`; hub CPU {hub_cpu:.2} s, nodes' CPU {nodes_cpu:.2} s",
                dur(wall),
                ctx.street.len()
            ),
        );
        ctx.report.at_least(
            &format!(
                "8. real binaries{}, {parallel} at once: records/s end to end",
                if tls { " over TLS" } else { "" }
            ),
            format!("{}/s", thousands(rate)),
            rate,
            TARGET_RECORDS_PER_S,
            "150,000/s",
        );
        if let Some(apply_rate) = ctx.apply_rate {
            let apply_us = 1e6 / apply_rate;
            let factor = hub_us / apply_us;
            ctx.report.at_most(
                &format!("8. real binaries, {parallel} at once: hub CPU per record / apply-only (section 4)"),
                format!("{hub_us:.2} µs / {apply_us:.2} µs = {factor:.2}"),
                factor,
                CPU_FACTOR,
                "1.5",
            );
        }
    }
    Ok(())
}

/// Runs `lianfang-node sync --once` for every node, `parallel` processes at
/// once, failing on the first that does not exit 0.
fn sync_processes(bin: &Path, dirs: &[PathBuf], parallel: usize) -> anyhow::Result<()> {
    let next = AtomicUsize::new(0);
    let failed = Mutex::new(None::<String>);
    std::thread::scope(|scope| {
        for _ in 0..parallel.min(dirs.len()) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(dir) = dirs.get(i) else { break };
                    let out = Command::new(bin)
                        .args(["sync", "--once", "--data"])
                        .arg(dir)
                        .env_remove("LIANFANG_LOG")
                        .stdin(Stdio::null())
                        .output();
                    let error = match out {
                        Ok(out) if out.status.success() => continue,
                        Ok(out) => format!(
                            "lianfang-node sync --once of {} exited {}: {}",
                            dir.display(),
                            out.status,
                            String::from_utf8_lossy(&out.stderr).trim()
                        ),
                        Err(e) => format!("spawning lianfang-node: {e}"),
                    };
                    failed
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get_or_insert(error);
                    break;
                }
            });
        }
    });
    match failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(error) => bail!(error),
        None => Ok(()),
    }
}
