//! Bench section: see `args::HELP` (`city`): one hub holding a city's worth
//! of residents' committees (issue 14), each a small compound doing a day's
//! sync, against the real `lianfang-hub serve`.

use super::*;

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
    if !args.runs("city") {
        return Ok(());
    }
    let bins = bins.as_ref().context("release binaries located")?;
    let n = if args.quick { 300 } else { args.city_compounds };
    let spec = StreetSpec {
        seed: args.seed,
        compounds: n,
        min_households: 20,
        max_households: 80,
        ..StreetSpec::demo(n)
    };
    let today = spec.today;
    let day = today.format("%Y-%m-%d").to_string();
    stage(
        started,
        &format!(
            "city. {n} committees of {}–{} households at one hub (the real binary), {} syncs at once",
            spec.min_households, spec.max_households, args.city_parallel
        ),
    );
    let base = root.join("city");
    let hub_dir = base.join("hub");
    let t = Instant::now();
    let mut ledgers: Vec<CompoundLedger> = par_map(n, 2, |i| Ok(generate::compound(&spec, i)))?;
    let records: u64 = ledgers.iter().map(|l| records_of(l) as u64).sum();
    eprintln!(
        "    generated {} records in {}",
        thousands(records as f64),
        dur(t.elapsed())
    );
    if let Some(url) = &args.city_store {
        // The hub's store on PostgreSQL: recorded where every open of the
        // hub's data directory looks (in process and the binaries alike).
        std::fs::create_dir_all(&hub_dir)?;
        std::fs::write(hub_dir.join(lianfang_hub::store::STORE_FILE), url)?;
        eprintln!("    the hub's store: PostgreSQL");
    }
    let t = Instant::now();
    let tokens = enroll_all(&hub_dir, &ledgers)?;
    let enrol = t.elapsed();
    let (hub, port) = start_hub_process(bins, &hub_dir, false).await?;
    let url = format!("http://127.0.0.1:{port}");
    let urls = vec![url; n];
    let (files, _) = write_ledgers(&base.join("ledgers"), &ledgers)?;
    let (dirs, setup) = setup_nodes(&base.join("nodes"), &ledgers, &files, &urls, &tokens)?;
    eprintln!(
        "    enrolled {n} in {}, set up {n} nodes in {}",
        dur(enrol),
        dur(setup)
    );

    // With the store on PostgreSQL, its server's processes work for the hub
    // too: their CPU is counted beside the hub's.
    let on_pg = args.city_store.is_some();
    let pg_note = |seconds: f64, calls: u64| {
        if on_pg {
            format!(
                "; PostgreSQL CPU {:.2} ms per exchange",
                seconds * 1000.0 / calls.max(1) as f64
            )
        } else {
            String::new()
        }
    };

    // The first sync of every committee (its whole ledger).
    let sampler = Sampler::start(vec![hub.pid()]);
    let cpu = cpu_of(hub.pid());
    let pg = postgres_cpu();
    let first = sync_all(&dirs, args.city_parallel, "city first sync").await?;
    let first_cpu = cpu_of(hub.pid()) - cpu;
    let first_pg = postgres_cpu() - pg;
    let first_peak = sampler.finish()[0].0;

    // A day's small change at every committee, then one sync each: what
    // every committee's worker does through the day.
    for (i, ledger) in ledgers.iter_mut().enumerate() {
        ledger.edit_day(args.seed ^ (i as u64), 0.02, today);
    }
    let (files, _) = write_ledgers(&base.join("ledgers"), &ledgers)?;
    reimport(&dirs, &files)?;
    let sampler = Sampler::start(vec![hub.pid()]);
    let cpu = cpu_of(hub.pid());
    let pg = postgres_cpu();
    let daily = sync_all(&dirs, args.city_parallel, "city day's sync").await?;
    let daily_cpu = cpu_of(hub.pid()) - cpu;
    let daily_pg = postgres_cpu() - pg;
    let daily_peak = sampler.finish()[0].0;
    // Nothing changed: the idle worker's round, every committee.
    let cpu = cpu_of(hub.pid());
    let pg = postgres_cpu();
    let idle = sync_all(&dirs, args.city_parallel, "city idle round").await?;
    let idle_cpu = cpu_of(hub.pid()) - cpu;
    let idle_pg = postgres_cpu() - pg;
    let rss_after = mem_of(hub.pid()).map_or(0, |(rss, _)| rss);

    let per_s = |totals: &SyncTotals| totals.calls as f64 / totals.wall.as_secs_f64();
    report.info(
        "city: first sync of every committee",
        format!(
            "{} records from {n} committees in {} ({}/s); {} exchanges ({:.0}/s); hub CPU {:.1} s, peak RSS {}{}",
            thousands(first.sent as f64),
            dur(first.wall),
            thousands(first.sent as f64 / first.wall.as_secs_f64()),
            first.calls,
            per_s(&first),
            first_cpu,
            mb(first_peak),
            if on_pg {
                format!("; PostgreSQL CPU {first_pg:.1} s")
            } else {
                String::new()
            }
        ),
    );
    report.at_least(
        "city: a day's small sync, every committee",
        format!(
            "{} changes from {n} committees in {}: {} exchanges, {:.0}/s; hub CPU {:.2} ms per exchange{}",
            thousands(daily.sent as f64),
            dur(daily.wall),
            daily.calls,
            per_s(&daily),
            daily_cpu * 1000.0 / daily.calls.max(1) as f64,
            pg_note(daily_pg, daily.calls)
        ),
        per_s(&daily),
        200.0,
        "200 exchanges/s",
    );
    report.at_least(
        "city: idle round (nothing to send), every committee",
        format!(
            "{} exchanges in {}, {:.0}/s; hub CPU {:.2} ms per exchange{}",
            idle.calls,
            dur(idle.wall),
            per_s(&idle),
            idle_cpu * 1000.0 / idle.calls.max(1) as f64,
            pg_note(idle_pg, idle.calls)
        ),
        per_s(&idle),
        200.0,
        "200 exchanges/s",
    );
    report.at_most(
        "city: hub RSS, peak during the day's sync",
        format!(
            "{} (after the idle round: {})",
            mb(daily_peak),
            mb(rss_after)
        ),
        daily_peak as f64,
        500.0 * 1024.0 * 1024.0,
        "500 MB",
    );

    // The table and the log of the day over every committee: in process,
    // and as the official runs it.
    let store = HubStore::open_read_only(&hub_dir)?;
    let mut tables = Vec::new();
    let mut logs = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let table = store.table(today)?;
        tables.push(t.elapsed());
        let t = Instant::now();
        let log = store.day_log_beside(&table)?;
        logs.push(t.elapsed());
        anyhow::ensure!(table.compounds.len() == n && log.compounds.len() == n);
    }
    drop(store);
    let mut processes = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let out = Command::new(bins.join("lianfang-hub"))
            .args(["table", "--data"])
            .arg(&hub_dir)
            .args(["--date", &day, "--format", "json"])
            .output()?;
        processes.push(t.elapsed());
        anyhow::ensure!(out.status.success(), "lianfang-hub table failed");
    }
    report.at_most(
        "city: HubStore::table, every committee",
        format!("{} (median of 5)", dur(median(tables.clone()))),
        median(tables).as_secs_f64(),
        1.0,
        "1 s",
    );
    report.at_most(
        "city: HubStore::day_log, every committee",
        format!("{} (median of 5)", dur(median(logs.clone()))),
        median(logs).as_secs_f64(),
        2.0,
        "2 s",
    );
    report.at_most(
        "city: `lianfang-hub table --format json` process",
        format!("{} (median of 5)", dur(median(processes.clone()))),
        median(processes).as_secs_f64(),
        2.0,
        "2 s",
    );
    drop(hub);
    Ok(())
}

/// CPU time (user + system) of every PostgreSQL server process on this
/// machine, in seconds (0 without one).
fn postgres_cpu() -> f64 {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    procs
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| stat.contains("(postgres)"))
        .filter_map(|stat| {
            let rest = stat.rsplit_once(')')?.1.to_owned();
            let v: Vec<&str> = rest.split_whitespace().collect();
            Some(v.get(11)?.parse::<u64>().ok()? + v.get(12)?.parse::<u64>().ok()?)
        })
        .sum::<u64>() as f64
        / 100.0
}
