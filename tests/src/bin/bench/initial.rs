//! Bench section: see `args::HELP`.

use super::*;

pub(crate) async fn run(ctx: &mut Ctx) -> anyhow::Result<()> {
    let Ctx {
        args,
        root,
        started,
        report,
        street,
        files,
        n_records,
        hub_a,
        dirs_a,
        ..
    } = ctx;
    let started = *started;
    let n_records = *n_records;
    // ---------------------------------------------------------- set A: plain
    if args.runs_any(&["initial", "incremental", "table", "apply", "dashboard"]) {
        stage(started, "set A: hub in process, nodes straight to it");
        let hub_dir = root.join("a").join("hub");
        let tokens = enroll_all(&hub_dir, street)?;
        let hub = InProcessHub::start(&hub_dir).await?;
        let urls = vec![format!("http://{}", hub.addr); street.len()];
        let (dirs, took) =
            setup_nodes(&root.join("a").join("nodes"), street, files, &urls, &tokens)?;
        eprintln!(
            "    imported {n_records} records into {} nodes in {} (2 threads)",
            street.len(),
            dur(took)
        );
        report.info(
            "setup: ledger import of the whole street, eleven ledgers (2 threads)",
            format!(
                "{} for {} records ({} records/s)",
                dur(took),
                thousands(n_records as f64),
                thousands(n_records as f64 / took.as_secs_f64())
            ),
        );
        *hub_a = Some(hub);
        *dirs_a = dirs;
    }

    // ---------------------------------------------------------- 1. initial (plain)
    if args.runs_any(&["initial", "incremental", "table", "dashboard"]) {
        stage(started, "1. initial sync of the street, plain loopback");
        let totals = sync_all(dirs_a, args.parallel, "initial sync A").await?;
        if args.runs("initial") {
            let rate = totals.sent as f64 / totals.wall.as_secs_f64();
            report.info(
                "1. initial sync of all eleven ledgers, wall time (plain loopback)",
                format!(
                    "{} for {} entries, {} nodes, {} at once",
                    dur(totals.wall),
                    totals.sent,
                    totals.nodes,
                    args.parallel.min(totals.nodes)
                ),
            );
            report.at_least(
                "1. initial sync, records/s end to end",
                format!("{}/s", thousands(rate)),
                rate,
                100_000.0,
                "100,000/s",
            );
        }
    }

    Ok(())
}
