//! Bench: processes.

use super::*;

/// A child process killed (SIGKILL) when dropped.
#[derive(Debug)]
pub(crate) struct Proc {
    pub(crate) child: Child,
    pub(crate) name: &'static str,
}

impl Proc {
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        eprintln!("    stopped {} (pid {})", self.name, self.child.id());
    }
}

/// (VmRSS, VmHWM) of a process in bytes.
pub(crate) fn mem_of(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map(|kb| kb * 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// "anon A + file F": where a process's resident pages are.
pub(crate) fn rss_split(pid: u32) -> String {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return "?".into();
    };
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    format!(
        "anon {} + file {}",
        mb(field("RssAnon:")),
        mb(field("RssFile:"))
    )
}

/// CPU time of the whole machine and of this process (with its reaped
/// children), in clock ticks, to tell how busy other processes kept the
/// machine during the run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CpuMeter {
    pub(crate) busy: u64,
    pub(crate) own: u64,
    pub(crate) at: Instant,
}

impl CpuMeter {
    pub(crate) fn now() -> CpuMeter {
        let busy = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| {
                let line = s.lines().next()?.to_owned();
                let v: Vec<u64> = line
                    .split_whitespace()
                    .skip(1)
                    .filter_map(|x| x.parse().ok())
                    .collect();
                // user nice system idle iowait irq softirq steal
                let total: u64 = v.iter().take(8).sum();
                Some(total - v.get(3).copied().unwrap_or(0) - v.get(4).copied().unwrap_or(0))
            })
            .unwrap_or(0);
        let own = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|s| {
                let rest = s.rsplit_once(')')?.1.to_owned();
                let v: Vec<&str> = rest.split_whitespace().collect();
                // utime stime cutime cstime are fields 14..=17; state is field 3.
                v.get(11..15)?
                    .iter()
                    .map(|x| x.parse::<u64>().ok())
                    .sum::<Option<u64>>()
            })
            .unwrap_or(0);
        CpuMeter {
            busy,
            own,
            at: Instant::now(),
        }
    }

    /// Average cores used by this process and by everything else since `self`.
    pub(crate) fn since(self) -> (f64, f64) {
        let now = CpuMeter::now();
        let secs = now.at.duration_since(self.at).as_secs_f64().max(1e-3);
        let ticks = 100.0; // USER_HZ
        let own = now.own.saturating_sub(self.own) as f64 / ticks / secs;
        let all = now.busy.saturating_sub(self.busy) as f64 / ticks / secs;
        (own, (all - own).max(0.0))
    }
}

pub(crate) fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Threads of a process.
pub(crate) fn threads_of(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find(|l| l.starts_with("Threads:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
}

/// Samples the peak VmRSS and thread count of some processes every 20 ms until stopped.
#[derive(Debug)]
pub(crate) struct Sampler {
    pub(crate) stop: Arc<AtomicBool>,
    /// Per process: (peak VmRSS, peak thread count).
    pub(crate) thread: Option<std::thread::JoinHandle<Vec<(u64, u64)>>>,
}

impl Sampler {
    pub(crate) fn start(pids: Vec<u32>) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut peaks = vec![(0u64, 0u64); pids.len()];
            while !flag.load(Ordering::Relaxed) {
                for (peak, pid) in peaks.iter_mut().zip(&pids) {
                    if let Some((rss, _)) = mem_of(*pid) {
                        peak.0 = peak.0.max(rss);
                    }
                    if let Some(threads) = threads_of(*pid) {
                        peak.1 = peak.1.max(threads);
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            peaks
        });
        Sampler {
            stop,
            thread: Some(thread),
        }
    }

    pub(crate) fn finish(mut self) -> Vec<(u64, u64)> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .map(|t| t.join().expect("sampler"))
            .unwrap_or_default()
    }
}

/// Directory of the release binaries (where this bench runs from), building
/// `lianfang-node` and `lianfang-hub` when missing or older than the bench.
pub(crate) fn release_bins() -> anyhow::Result<PathBuf> {
    // Another build's binaries, measured side by side with this one's
    // in-process figures (a before/after comparison).
    if let Some(dir) = std::env::var_os("LIANFANG_BENCH_BINS") {
        let dir = PathBuf::from(dir);
        for name in ["lianfang-node", "lianfang-hub"] {
            if !dir.join(name).exists() {
                bail!(
                    "LIANFANG_BENCH_BINS: {} not found",
                    dir.join(name).display()
                );
            }
        }
        return Ok(dir);
    }
    let exe = std::env::current_exe()?;
    let dir = exe.parent().context("bench's directory")?.to_owned();
    let bench_time = std::fs::metadata(&exe)?.modified()?;
    let stale = ["lianfang-node", "lianfang-hub"].iter().any(|name| {
        std::fs::metadata(dir.join(name))
            .and_then(|m| m.modified())
            .map_or(true, |t| t < bench_time)
    });
    if stale {
        eprintln!("    building lianfang-node and lianfang-hub (release) ...");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "--release",
                "-p",
                "lianfang-node",
                "-p",
                "lianfang-hub",
            ])
            .status()
            .context("running cargo build")?;
        if !status.success() {
            bail!("cargo build --release -p lianfang-node -p lianfang-hub failed");
        }
    }
    for name in ["lianfang-node", "lianfang-hub"] {
        if !dir.join(name).exists() {
            bail!("{} not found after building", dir.join(name).display());
        }
    }
    Ok(dir)
}

/// Spawns `lianfang-node sync --data DIR` (the daemon loop); a flag is set
/// each time it prints "caught up".
pub(crate) fn spawn_node_daemon(bins: &Path, dir: &Path) -> anyhow::Result<(Proc, Arc<AtomicU64>)> {
    let mut child = Command::new(bins.join("lianfang-node"))
        .args(["sync", "--data"])
        .arg(dir)
        .env_remove("LIANFANG_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("spawning lianfang-node")?;
    let caught_up = Arc::new(AtomicU64::new(0));
    let stdout = child.stdout.take().context("node stdout")?;
    let flag = Arc::clone(&caught_up);
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.starts_with("caught up") {
                flag.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    Ok((
        Proc {
            child,
            name: "lianfang-node sync",
        },
        caught_up,
    ))
}

pub(crate) async fn wait_for(
    flag: &AtomicU64,
    at_least: u64,
    timeout: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    while flag.load(Ordering::SeqCst) < at_least {
        if Instant::now() > deadline {
            bail!("timed out after {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

/// Starts `lianfang-hub serve` on a free loopback port (with `--tls` when
/// `tls`) and waits until it listens.
pub(crate) async fn start_hub_process(
    bins: &Path,
    hub_dir: &Path,
    tls: bool,
) -> anyhow::Result<(Proc, u16)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let hub = Proc {
        child: Command::new(bins.join("lianfang-hub"))
            .args(["serve", "--data"])
            .arg(hub_dir)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(tls.then_some("--tls"))
            .env_remove("LIANFANG_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("spawning lianfang-hub serve")?,
        name: "lianfang-hub serve",
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        if Instant::now() > deadline {
            bail!("lianfang-hub serve did not listen on port {port}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok((hub, port))
}

/// CPU time (user + system) a live process has used so far, in seconds.
pub(crate) fn cpu_of(pid: u32) -> f64 {
    stat_ticks(&format!("/proc/{pid}/stat"), 11..13) as f64 / 100.0
}

/// CPU time (user + system) of this process's reaped children, in seconds.
pub(crate) fn children_cpu() -> f64 {
    stat_ticks("/proc/self/stat", 13..15) as f64 / 100.0
}

/// Sum of some clock-tick fields of a `/proc/*/stat` file, counted from the
/// field after the command name (state is index 0).
fn stat_ticks(path: &str, fields: std::ops::Range<usize>) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1.to_owned();
            let v: Vec<&str> = rest.split_whitespace().collect();
            v.get(fields)?
                .iter()
                .map(|x| x.parse::<u64>().ok())
                .sum::<Option<u64>>()
        })
        .unwrap_or(0)
}
