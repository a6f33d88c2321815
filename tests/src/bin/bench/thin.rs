//! Bench section: see `args::HELP`.

use super::*;

pub(crate) async fn run(ctx: &mut Ctx) -> anyhow::Result<()> {
    let Ctx {
        args,
        root,
        spec,
        started,
        report,
        street,
        largest,
        set_b,
        ..
    } = ctx;
    let started = *started;
    let largest = *largest;
    // ---------------------------------------------------------- 3. thin link
    if args.runs("thin") {
        let (hub_b, links, dirs_b) = set_b.as_ref().expect("set B");
        let code = street[largest].code.clone();
        stage(
            started,
            &format!("3. one compound's daily change ({code}) over 64 kbit/s, 300 ms RTT"),
        );
        let reps_thin = if args.quick { 1 } else { 3 };
        let mut ratios = Vec::new();
        let mut rows = Vec::new();
        for r in 0..reps_thin {
            let day = spec.today + chrono::Duration::days(2 + r as i64);
            street[largest].edit_day(args.seed, 0.02, day);
            let files = street[largest].write_csv(&root.join(format!("ledger-thin-{r}")))?;
            let before_heads = heads(&dirs_b[largest])?;
            reimport(std::slice::from_ref(&dirs_b[largest]), &[files])?;
            let after_heads = heads(&dirs_b[largest])?;
            let changed = (after_heads[0] - before_heads[0]) + (after_heads[1] - before_heads[1]);
            let link = &links[largest];
            link.set_profile(LinkProfile::thin(args.seed + r as u64));
            let before = link.stats();
            // When the hub holds the whole day: its bulk cursor reaches the
            // node's head (polled every 2 ms on a read-only connection).
            let watch = {
                let (hub_dir, code, head) = (hub_b.dir.clone(), code.clone(), after_heads[1]);
                std::thread::spawn(move || -> anyhow::Result<Instant> {
                    let store = HubStore::open_read_only(&hub_dir)?;
                    loop {
                        if store.lane_cursor_of(&code, Lane::Bulk)? >= head {
                            return Ok(Instant::now());
                        }
                        std::thread::sleep(Duration::from_millis(2));
                    }
                })
            };
            let t = Instant::now();
            let rep = sync_once(&dirs_b[largest], &bench_sync_options(), |_| {}).await?;
            let took = t.elapsed();
            let after = link.stats();
            let held = watch
                .join()
                .map_err(|_| anyhow::anyhow!("watcher panicked"))??
                .saturating_duration_since(t);
            link.set_profile(LinkProfile::perfect());
            let bytes = (after.up_bytes - before.up_bytes) + (after.down_bytes - before.down_bytes);
            let ideal = bytes as f64 / 8000.0;
            let ratio = took.as_secs_f64() / ideal;
            eprintln!(
                "    rep {r}: {changed} entries, {} up + {} down in {} (bytes/bandwidth {:.2} s, ratio {ratio:.2}, {} call(s), {} session); at the hub after {}",
                mb(after.up_bytes - before.up_bytes),
                mb(after.down_bytes - before.down_bytes),
                dur(took),
                ideal,
                rep.calls,
                rep.sessions,
                dur(held)
            );
            ratios.push(ratio);
            rows.push((ratio, took, bytes, changed, ideal, held));
        }
        // The same link with nothing to send: the fixed cost of a session.
        let link = &links[largest];
        link.set_profile(LinkProfile::thin(args.seed));
        let before = link.stats();
        let t = Instant::now();
        sync_once(&dirs_b[largest], &bench_sync_options(), |_| {}).await?;
        let noop_took = t.elapsed();
        let after = link.stats();
        link.set_profile(LinkProfile::perfect());
        let noop_bytes =
            (after.up_bytes - before.up_bytes) + (after.down_bytes - before.down_bytes);
        let round_trips = (noop_took.as_secs_f64() - noop_bytes as f64 / 8000.0) / 0.3;
        eprintln!(
            "    nothing to send: {} up + {} down in {} (≈ {round_trips:.1} round trips of 300 ms besides the bytes)",
            mb(after.up_bytes - before.up_bytes),
            mb(after.down_bytes - before.down_bytes),
            dur(noop_took)
        );
        report.info(
            "3. same link, a sync with nothing to send",
            format!(
                "{} for {} (≈ {round_trips:.1} RTTs beyond bytes/bandwidth)",
                dur(noop_took),
                mb(noop_bytes)
            ),
        );
        let m = median_f(ratios);
        let (_, took, bytes, changed, ideal, held) = rows
            .iter()
            .copied()
            .find(|row| row.0 == m)
            .expect("median row");
        // Any transfer that waits for an acknowledgement needs the bytes'
        // time plus one round trip: that ratio is the floor for the first line.
        let acked_floor = (ideal + 0.3) / ideal;
        let delivered = held.as_secs_f64() / ideal;
        report.at_most(
            &format!(
                "3. one compound's day ({changed} changes) at 64 kbit/s, 300 ms RTT: time to the node's acknowledgement / (bytes ÷ 8000 B/s) (median of {reps_thin})"
            ),
            format!(
                "{} for {} → {m:.2} (bytes/bandwidth {ideal:.2} s; bytes/bandwidth + 1 RTT is {acked_floor:.2})",
                dur(took),
                mb(bytes)
            ),
            m,
            1.3,
            "1.3",
        );
        report.at_most(
            "3. same runs: time until the hub holds the day / (bytes ÷ 8000 B/s)",
            format!(
                "{} → {delivered:.2} (bytes/bandwidth + one-way 150 ms is {:.2})",
                dur(held),
                (ideal + 0.15) / ideal
            ),
            delivered,
            1.3,
            "1.3",
        );
    }

    if let Some((hub, links, _)) = set_b.take() {
        drop(links);
        hub.stop().await?;
    }

    Ok(())
}
