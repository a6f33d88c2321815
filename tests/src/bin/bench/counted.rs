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
        set_b,
        ..
    } = ctx;
    let started = *started;
    // ---------------------------------------------------------- set B: counted
    if args.runs_any(&["initial", "incremental", "thin"]) {
        stage(
            started,
            "set B: second hub in process, each node behind a perfect FaultLink",
        );
        let hub_dir = root.join("b").join("hub");
        let tokens = enroll_all(&hub_dir, street)?;
        let hub = InProcessHub::start(&hub_dir).await?;
        let mut links = Vec::with_capacity(street.len());
        for _ in 0..street.len() {
            links.push(FaultLink::start(hub.addr, LinkProfile::perfect()).await?);
        }
        let urls: Vec<String> = links.iter().map(FaultLink::url).collect();
        let (dirs, took) =
            setup_nodes(&root.join("b").join("nodes"), street, files, &urls, &tokens)?;
        eprintln!("    imported set B in {}", dur(took));
        stage(
            started,
            "1. initial sync of the street through counting links",
        );
        let before = link_totals(&links);
        let totals = sync_all(&dirs, args.parallel, "initial sync B").await?;
        let after = link_totals(&links);
        let (up, down) = (
            after.up_bytes - before.up_bytes,
            after.down_bytes - before.down_bytes,
        );
        if args.runs("initial") {
            stage(
                started,
                "1. floor: zstd -3 of each node's whole log as one protobuf buffer",
            );
            let (raw, z, n) = floor(&dirs, &vec![[0, 0]; dirs.len()])?;
            eprintln!(
                "    {n} entries: protobuf {} → zstd-3 {} ({:.1}x); wire {} up + {} down",
                mb(raw),
                mb(z),
                raw as f64 / z.max(1) as f64,
                mb(up),
                mb(down)
            );
            report.info(
                "1. initial sync, wall time through perfect FaultLinks",
                format!(
                    "{} ({} connections)",
                    dur(totals.wall),
                    after.connections - before.connections
                ),
            );
            report.info(
                "1. initial sync, bytes on the wire",
                format!(
                    "{} up, {} down ({:.1} B/record up)",
                    mb(up),
                    mb(down),
                    up as f64 / n.max(1) as f64
                ),
            );
            report.info(
                "1. floor: records' protobuf → zstd-3, one buffer per node",
                format!("{} → {}", mb(raw), mb(z)),
            );
            let ratio = (up + down) as f64 / z.max(1) as f64;
            report.at_most(
                "1. initial sync, wire bytes (up+down) / floor",
                format!("{ratio:.2}"),
                ratio,
                1.3,
                "1.3",
            );
        }
        *set_b = Some((hub, links, dirs));
    }

    Ok(())
}
