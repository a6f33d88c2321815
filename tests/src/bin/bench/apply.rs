//! Bench section: see `args::HELP`.

use super::*;

pub(crate) async fn run(ctx: &mut Ctx) -> anyhow::Result<()> {
    let Ctx {
        args,
        root,
        started,
        report,
        street,
        hub_a,
        dirs_a,
        ..
    } = ctx;
    let started = *started;
    // ---------------------------------------------------------- 4. apply rate
    if args.runs("apply") {
        stage(
            started,
            "4. hub apply rate: HubStore::apply_batch with 2000-entry batches",
        );
        let want: u64 = if args.quick { 60_000 } else { 200_000 };
        // Real node logs (bulk lane, from seq 1), whole nodes until `want`.
        let mut logs: Vec<(String, String, u64, Vec<pb::LogEntry>)> = Vec::new();
        let mut total = 0u64;
        for (i, dir) in dirs_a.iter().enumerate() {
            if total >= want {
                break;
            }
            let store = Store::open(dir)?;
            let head = store.head_of(Lane::Bulk)?;
            let entries = store.log_range_of(Lane::Bulk, 1, head)?;
            total += entries.len() as u64;
            logs.push((
                street[i].code.clone(),
                store.identity()?.log_id,
                head,
                entries,
            ));
        }
        let apply_reps = if args.quick { 2 } else { 3 };
        let mut rates = Vec::new();
        for r in 0..apply_reps {
            let dir = root.join(format!("apply-hub-{r}"));
            let mut hub = HubStore::open_or_create(&dir)?;
            let mut callers = Vec::new();
            for (code, log_id, head, _) in &logs {
                let token = hub.enroll(code, None)?;
                let caller = hub.authenticate(&token)?;
                hub.handshake(&caller, log_id, [(Lane::Bulk, *head), (Lane::Urgent, 0)], 0)?;
                callers.push(caller);
            }
            let t = Instant::now();
            for ((_, log_id, head, entries), caller) in logs.iter().zip(&callers) {
                for batch in entries.chunks(2000) {
                    hub.apply_batch(caller, log_id, Lane::Bulk, *head, batch)?;
                }
            }
            let took = t.elapsed();
            let rate = total as f64 / took.as_secs_f64();
            eprintln!(
                "    rep {r}: {total} entries in {} = {}/s",
                dur(took),
                thousands(rate)
            );
            rates.push(rate);
            drop(hub);
            let _ = std::fs::remove_dir_all(&dir);
        }
        let rate = median_f(rates);
        ctx.apply_rate = Some(rate);
        report.at_least(
            &format!(
                "4. hub apply rate into SQLite with cursor ({} entries of {} nodes, median of {apply_reps})",
                total,
                logs.len()
            ),
            format!("{}/s", thousands(rate)),
            rate,
            200_000.0,
            "200,000/s",
        );
    }

    if let Some(hub) = hub_a.take() {
        hub.stop().await?;
    }

    Ok(())
}
