//! Bench section: see `args::HELP`.

use super::*;

pub(crate) async fn run(ctx: &mut Ctx) -> anyhow::Result<()> {
    let Ctx {
        args,
        spec,
        started,
        report,
        bins,
        street,
        hub_a,
        ..
    } = ctx;
    let started = *started;
    // ---------------------------------------------------------- 5. table
    if args.runs("table")
        && let Some(hub) = &hub_a
    {
        stage(started, "5. daily table of the whole street");
        let store = HubStore::open_read_only(&hub.dir)?;
        let month_back = spec.today - chrono::Duration::days(30);
        for (date, limit, label) in [(spec.today, 0.050, "50 ms"), (month_back, 1.0, "1 s")] {
            let mut times = Vec::new();
            let mut persons = 0;
            for _ in 0..5 {
                let t = Instant::now();
                let table = store.table(date)?;
                times.push(t.elapsed());
                persons = table.total.persons;
            }
            let street_persons: u64 = street.iter().map(|c| c.persons.len() as u64).sum();
            if persons != street_persons {
                bail!("table for {date} counts {persons} persons, the street has {street_persons}");
            }
            let m = median(times.clone());
            eprintln!(
                "    table({date}): {:?}",
                times.iter().map(|t| dur(*t)).collect::<Vec<_>>()
            );
            report.at_most(
                &format!(
                    "5. HubStore::table({date}){} ({} compounds, median of 5)",
                    if date == spec.today {
                        " today"
                    } else {
                        " a month back"
                    },
                    street.len()
                ),
                dur(m),
                m.as_secs_f64(),
                limit,
                label,
            );
        }
        // ------------------------------------------------ 5b. daily log
        stage(started, "5b. daily log of the whole street");
        let config = store.table_config()?;
        for (date, label) in [(spec.today, "today"), (month_back, "a month back")] {
            let mut times = Vec::new();
            let mut total = lianfang_proto::log::DailyLog::default();
            for _ in 0..5 {
                let t = Instant::now();
                let log = store.day_log(date)?;
                times.push(t.elapsed());
                total = log.total;
            }
            // The same figures as the oracle, summed over the street.
            let mut expected = lianfang_proto::log::DailyLog::default();
            for compound in street.iter() {
                expected.add(&lianfang_tests::log_oracle(compound, date, &config));
            }
            if total != expected {
                bail!("the log of {date} differs from the oracle: {total:?} vs {expected:?}");
            }
            let m = median(times.clone());
            eprintln!(
                "    day_log({date}): {:?}",
                times.iter().map(|t| dur(*t)).collect::<Vec<_>>()
            );
            report.at_most(
                &format!(
                    "5b. HubStore::day_log({date}) {label} ({} compounds, median of 5)",
                    street.len()
                ),
                dur(m),
                m.as_secs_f64(),
                0.050,
                "50 ms",
            );
        }
        if let Some(dir) = bins.as_ref() {
            let m = cli_median(&dir.join("lianfang-hub"), "log", &hub.dir, spec.today)?;
            report.at_most(
                &format!(
                    "5b. `lianfang-hub log --format json` as a process, today ({} compounds, median of 5)",
                    street.len()
                ),
                dur(m),
                m.as_secs_f64(),
                0.100,
                "100 ms",
            );
        }
        drop(store);
        let data = if args.varied { "varied" } else { "default" };
        let hub_bin = bins.as_ref().map(|dir| dir.join("lianfang-hub"));
        let cli_table = |report: &mut Report, what: &str| -> anyhow::Result<()> {
            let Some(bin) = &hub_bin else { return Ok(()) };
            let m = cli_median(bin, "table", &hub.dir, spec.today)?;
            report.at_most(
                &format!(
                    "5. `lianfang-hub table --format json` as a process, {what} ({} compounds, median of 5)",
                    street.len()
                ),
                dur(m),
                m.as_secs_f64(),
                0.100,
                "100 ms",
            );
            Ok(())
        };
        cli_table(&mut *report, &format!("{data} origins"))?;
        // The key regions changed at run time: the aggregates are
        // reclassified in the transaction that stores the configuration.
        let mut writer = HubStore::open_or_create(&hub.dir)?;
        let t = Instant::now();
        writer.set_config(Some(vec!["湖北".into(), "浙江".into()]), None)?;
        let rebuild = t.elapsed();
        eprintln!("    config set --key-regions 湖北,浙江: {}", dur(rebuild));
        report.info(
            &format!("5. config set --key-regions 湖北,浙江 ({data} origins): transaction with the rebuild"),
            dur(rebuild),
        );
        let store = HubStore::open_read_only(&hub.dir)?;
        let mut times = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            store.table(spec.today)?;
            times.push(t.elapsed());
        }
        let m = median(times);
        report.at_most(
            &format!(
                "5. HubStore::table({}) after the key-regions change ({data} origins, median of 5)",
                spec.today
            ),
            dur(m),
            m.as_secs_f64(),
            0.050,
            "50 ms",
        );
        cli_table(
            &mut *report,
            &format!("{data} origins, after the key-regions change"),
        )?;
        drop(store);
        writer.set_config(Some(vec!["湖北".into()]), None)?;
    }

    Ok(())
}

/// Runs `lianfang-hub COMMAND --data DIR --date DATE --format json` five
/// times; the median wall time.
fn cli_median(
    bin: &Path,
    command: &str,
    dir: &Path,
    date: chrono::NaiveDate,
) -> anyhow::Result<Duration> {
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let out = Command::new(bin)
            .arg(command)
            .arg("--data")
            .arg(dir)
            .args(["--date", &date.to_string(), "--format", "json"])
            .output()?;
        times.push(t.elapsed());
        if !out.status.success() {
            bail!(
                "lianfang-hub {command} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    eprintln!(
        "    lianfang-hub {command}: {:?}",
        times.iter().map(|t| dur(*t)).collect::<Vec<_>>()
    );
    Ok(median(times))
}
