//! Bench section: see `args::HELP`.

use super::*;

pub(crate) async fn run(ctx: &mut Ctx) -> anyhow::Result<()> {
    let Ctx {
        args,
        root,
        started,
        report,
        ..
    } = ctx;
    let started = *started;
    // ---------------------------------------------------------- 6. import
    if args.runs("import") {
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
                "6. import of the largest compound {} ({} households, {} records)",
                ledger.code,
                ledger.households.len(),
                records_of(&ledger)
            ),
        );
        let base = root.join("import");
        let files = ledger.write_csv(&base.join("ledger"))?;
        let token = HubStore::open_or_create(&base.join("hub"))?.enroll(&ledger.code, None)?;
        let mut times = Vec::new();
        for r in 0..5 {
            let dir = base.join(format!("node-{r}"));
            lianfang_node::init(&dir, &ledger.code, "http://127.0.0.1:9", &token)?;
            let mut store = Store::open(&dir)?;
            let t = Instant::now();
            let summary = lianfang_node::import::import_files(
                &mut store,
                &files,
                lianfang_node::today(),
                lianfang_node::now_ms(),
            )?;
            times.push(t.elapsed());
            if summary.written() != records_of(&ledger) {
                bail!(
                    "import wrote {} of {} records",
                    summary.written(),
                    records_of(&ledger)
                );
            }
        }
        eprintln!(
            "    {:?}",
            times.iter().map(|t| dur(*t)).collect::<Vec<_>>()
        );
        let m = median(times);
        report.at_most(
            &format!(
                "6. ledger import of the largest compound ({} households, {} records in 11 ledgers, \
                 {} of them households, persons and isolations; median of 5)",
                ledger.households.len(),
                records_of(&ledger),
                ledger.households.len() + ledger.persons.len() + ledger.isolations.len()
            ),
            dur(m),
            m.as_secs_f64(),
            1.0,
            "1 s",
        );
    }

    Ok(())
}
