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
        dirs_a,
        set_b,
        ..
    } = ctx;
    let started = *started;
    // ---------------------------------------------------------- 2. incremental
    if args.runs("incremental") {
        let (_, links, dirs_b) = set_b.as_ref().expect("set B");
        stage(
            started,
            "2. fixed cost: a sync of every node with nothing to send",
        );
        let before = link_totals(links);
        sync_all(dirs_b, args.parallel, "no-op sync B").await?;
        let after = link_totals(links);
        let noop = (after.up_bytes - before.up_bytes) + (after.down_bytes - before.down_bytes);
        let noop_per_node = noop as f64 / dirs_b.len() as f64;

        stage(
            started,
            "2. edit_day(2%) on every compound, write CSV, import into sets A and B",
        );
        let day = spec.today + chrono::Duration::days(1);
        let t = Instant::now();
        for c in street.iter_mut() {
            c.edit_day(args.seed, 0.02, day);
        }
        let edit_took = t.elapsed();
        let (files1, _) = write_ledgers(&root.join("ledger-day1"), street)?;
        let heads_a = par_map(dirs_a.len(), 2, |i| heads(&dirs_a[i]))?;
        let heads_b = par_map(dirs_b.len(), 2, |i| heads(&dirs_b[i]))?;
        let import_a = reimport(dirs_a, &files1)?;
        let import_b = reimport(dirs_b, &files1)?;
        let new_a = par_map(dirs_a.len(), 2, |i| heads(&dirs_a[i]))?;
        let new_b = par_map(dirs_b.len(), 2, |i| heads(&dirs_b[i]))?;
        let logged = |new: &[[u64; 2]], old: &[[u64; 2]]| -> u64 {
            new.iter()
                .zip(old)
                .map(|(n, o)| (n[1] - o[1]) + (n[0] - o[0]))
                .sum()
        };
        let changed = logged(&new_b, &heads_b);
        if logged(&new_a, &heads_a) != changed {
            bail!("sets A and B logged different changes for the same edits");
        }
        eprintln!(
            "    edit_day took {}; re-import of the street: {} (A), {} (B); {changed} entries logged",
            dur(edit_took),
            dur(import_a),
            dur(import_b)
        );
        let (raw, z, n) = floor(dirs_b, &heads_b)?;
        report.info(
            "2. incremental day: re-import of every edited ledger (2 threads)",
            format!(
                "{} for {} changed records",
                dur(import_a),
                thousands(n as f64)
            ),
        );

        stage(
            started,
            "2. incremental sync through counting links (set B)",
        );
        let before = link_totals(links);
        let totals_b = sync_all(dirs_b, args.parallel, "incremental B").await?;
        let after = link_totals(links);
        let (up, down) = (
            after.up_bytes - before.up_bytes,
            after.down_bytes - before.down_bytes,
        );
        stage(started, "2. incremental sync, plain (set A)");
        let totals_a = sync_all(dirs_a, args.parallel, "incremental A").await?;
        let wire = up + down;
        report.info(
            "2. incremental sync, wall time (plain loopback)",
            format!(
                "{} for {} entries ({} through FaultLinks)",
                dur(totals_a.wall),
                totals_a.sent,
                dur(totals_b.wall)
            ),
        );
        report.info(
            "2. incremental: bytes per changed record, wire vs floor",
            format!(
                "{:.1} B wire ({} up + {} down) vs {:.1} B zstd-3 ({:.1} B protobuf); fixed {:.0} B per sync",
                wire as f64 / n.max(1) as f64,
                mb(up),
                mb(down),
                z as f64 / n.max(1) as f64,
                raw as f64 / n.max(1) as f64,
                noop_per_node
            ),
        );
        let variable = wire as f64 - noop as f64;
        let ratio = variable / z.max(1) as f64;
        report.at_most(
            "2. incremental: (wire − fixed per-sync cost) / floor",
            format!(
                "{ratio:.2} (raw wire/floor {:.2})",
                wire as f64 / z.max(1) as f64
            ),
            ratio,
            1.5,
            "1.5 + fixed",
        );
    }

    Ok(())
}
