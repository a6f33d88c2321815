//! Bench section: see `args::HELP`.

use super::*;

pub(crate) async fn run(ctx: &mut Ctx) -> anyhow::Result<()> {
    let Ctx {
        args,
        root,
        started,
        report,
        bins,
        street,
        files,
        largest,
        ..
    } = ctx;
    let started = *started;
    let largest = *largest;
    // ---------------------------------------------------------- 7. RSS
    if args.runs("rss") {
        stage(started, "7. RSS of the real binaries");
        let bins = bins.clone().context("release binaries")?;
        let hub_dir = root.join("d").join("hub");
        let tokens = enroll_all(&hub_dir, street)?;
        let (hub, port) = start_hub_process(&bins, &hub_dir, false).await?;
        let url = format!("http://127.0.0.1:{port}");
        let urls = vec![url; street.len()];
        let (dirs, took) =
            setup_nodes(&root.join("d").join("nodes"), street, files, &urls, &tokens)?;
        eprintln!("    imported set D in {}", dur(took));
        let hub_idle = mem_of(hub.pid()).context("hub status")?.0;

        // Every node syncs at once: the largest through the real binary.
        let (node, caught_up) = spawn_node_daemon(&bins, &dirs[largest])?;
        let sampler = Sampler::start(vec![hub.pid(), node.pid()]);
        let others: Vec<PathBuf> = dirs
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != largest)
            .map(|(_, d)| d.clone())
            .collect();
        let totals = sync_all(
            &others,
            args.rss_clients
                .unwrap_or(others.len())
                .clamp(1, others.len().max(1)),
            "nodes syncing against the real hub",
        )
        .await?;
        wait_for(&caught_up, 1, Duration::from_secs(120)).await?;
        let node_hwm = mem_of(node.pid()).context("node status")?.1;
        let (hub_rss, hub_hwm) = mem_of(hub.pid()).context("hub status")?;
        let hub_split = rss_split(hub.pid());
        let peaks = sampler.finish();
        eprintln!(
            "    hub: idle {} · peak sampled {} ({} threads at most) · VmHWM {} · now {} ({hub_split}); node: VmHWM {}",
            mb(hub_idle),
            mb(peaks[0].0),
            peaks[0].1,
            mb(hub_hwm),
            mb(hub_rss),
            mb(node_hwm)
        );
        // Idle after catching up its backlog: the daemon sleeps 30 s.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let node_idle_after = mem_of(node.pid()).context("node status")?.0;
        let node_idle_after_split = rss_split(node.pid());
        drop(node);
        // A fresh daemon with nothing to send.
        let (node, caught_up) = spawn_node_daemon(&bins, &dirs[largest])?;
        wait_for(&caught_up, 1, Duration::from_secs(60)).await?;
        tokio::time::sleep(Duration::from_secs(3)).await;
        let (node_idle, node_idle_hwm) = mem_of(node.pid()).context("node status")?;
        let node_idle_split = rss_split(node.pid());
        drop(node);
        drop(hub);
        let backlog = records_of(&street[largest]);
        report.at_most(
            "7. node RSS idle (daemon `lianfang-node sync`, caught up, nothing pending)",
            format!(
                "{} ({node_idle_split}; VmHWM {})",
                mb(node_idle),
                mb(node_idle_hwm)
            ),
            node_idle as f64,
            20e6,
            "20 MB",
        );
        report.at_most(
            "7. node RSS idle after syncing its backlog (same daemon, 3 s later)",
            format!("{} ({node_idle_after_split})", mb(node_idle_after)),
            node_idle_after as f64,
            20e6,
            "20 MB",
        );
        report.info(
            &format!("7. node peak RSS while syncing a backlog of {backlog} records (VmHWM)"),
            mb(node_hwm),
        );
        report.at_most(
            &format!(
                "7. hub peak RSS, {} nodes syncing ({} at once; VmHWM)",
                dirs.len(),
                totals.peak_in_flight + 1
            ),
            format!(
                "{} (idle {}, {} threads at peak; after: {})",
                mb(hub_hwm),
                mb(hub_idle),
                peaks[0].1,
                hub_split
            ),
            hub_hwm as f64,
            200e6,
            "200 MB",
        );
    }
    Ok(())
}
