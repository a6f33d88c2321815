//! A fault-injecting TCP link on loopback, for the demo and for tests.
//!
//! [`FaultLink`] listens on `127.0.0.1:0` and forwards every accepted
//! connection to a target address, byte for byte and in order, but slowly
//! and unreliably as its [`LinkProfile`] says: added latency and jitter,
//! a bandwidth cap, connections cut after a random number of bytes, and
//! periodic or on-demand outages during which new connections are refused.
//!
//! Each connection runs as one task. Each direction is a reader and a writer
//! joined by a bounded queue of chunks (at most [`QUEUE_CHUNKS`] of at most
//! [`MAX_CHUNK`] bytes), so a slow link pushes back on the sender the way a
//! real one does. The reader stamps each chunk with its delivery time: when
//! the pipe has carried it (bandwidth) plus latency plus jitter, never earlier
//! than the previous chunk's, so bytes are never reordered. The writer sleeps
//! until that time and writes. An idle connection waits on its sockets only:
//! timers run only while data is in flight or a blackout is scheduled.
//!
//! A cut closes both sockets with a reset (`SO_LINGER` 0), as an abruptly
//! dropped link looks to both ends; a side that closes normally has its
//! half-close passed on after the data in flight.

use std::cmp::max;
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, sleep, sleep_until};

/// Largest chunk read at once from either side.
const MAX_CHUNK: usize = 16 * 1024;
/// Smallest chunk read at once when the bandwidth is capped.
const MIN_PACED_CHUNK: u64 = 256;
/// With a bandwidth cap, a chunk is at most this fraction of a second of
/// data (1/32 s), so data arrives paced rather than in bursts.
const PACED_CHUNKS_PER_SEC: u64 = 32;
/// Chunks in flight per direction before the reader stops reading.
const QUEUE_CHUNKS: usize = 64;

/// How a link misbehaves. All randomness comes from `seed`, so a run is
/// reproducible given the same timing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkProfile {
    /// One-way delay added to every chunk, each direction.
    pub latency: Duration,
    /// Uniform extra delay `0..=jitter` per chunk; never reorders bytes
    /// within a connection.
    pub jitter: Duration,
    /// Bytes per second per direction per connection; `None` is unlimited.
    pub bandwidth: Option<u64>,
    /// A connection is cut (both halves closed abruptly) after an
    /// exponentially distributed number of bytes (both directions counted)
    /// with this mean.
    pub mean_bytes_between_cuts: Option<u64>,
    /// Periodic outages: every `every`, for `length`, all open connections
    /// are cut and new ones are refused (accepted, then closed at once).
    pub blackout: Option<Blackout>,
    /// Seed of every random choice (jitter, cut points).
    pub seed: u64,
}

/// A periodic outage: starts every `every` (start to start), lasts `length`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blackout {
    pub every: Duration,
    pub length: Duration,
}

impl LinkProfile {
    /// No faults: bytes pass as fast as loopback carries them.
    pub fn perfect() -> Self {
        LinkProfile {
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
            bandwidth: None,
            mean_bytes_between_cuts: None,
            blackout: None,
            seed: 0,
        }
    }

    /// A poor compound link: 80 ms one-way latency, 20 ms jitter,
    /// 2 Mbit/s, a cut every ~400 kB on average, no blackout.
    pub fn mobile(seed: u64) -> Self {
        LinkProfile {
            latency: Duration::from_millis(80),
            jitter: Duration::from_millis(20),
            bandwidth: Some(250_000),
            mean_bytes_between_cuts: Some(400_000),
            blackout: None,
            seed,
        }
    }

    /// A thin link: 64 kbit/s (8000 B/s), 150 ms one-way (300 ms round
    /// trip), no cuts.
    pub fn thin(seed: u64) -> Self {
        LinkProfile {
            latency: Duration::from_millis(150),
            jitter: Duration::ZERO,
            bandwidth: Some(8_000),
            mean_bytes_between_cuts: None,
            blackout: None,
            seed,
        }
    }
}

/// Counters of a [`FaultLink`], readable at any time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Bytes delivered client → server.
    pub up_bytes: u64,
    /// Bytes delivered server → client.
    pub down_bytes: u64,
    /// Connections accepted and forwarded (refused ones not counted).
    pub connections: u64,
    /// Connections cut by the link (byte budget, blackout, `cut_all`).
    pub cuts: u64,
    /// Connections refused during an outage.
    pub refused: u64,
}

/// A fault-injecting TCP proxy on loopback. Dropping it stops the accept
/// loop and closes every connection it carries.
pub struct FaultLink {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl fmt::Debug for FaultLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultLink")
            .field("addr", &self.addr)
            .field("target", &self.shared.target)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl FaultLink {
    /// Binds `127.0.0.1:0` and forwards every connection to `target`.
    /// Must be called within a tokio runtime.
    pub async fn start(target: SocketAddr, profile: LinkProfile) -> io::Result<FaultLink> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            target,
            profile: watch::Sender::new(profile),
            cut: watch::Sender::new(0),
            shutdown: watch::Sender::new(false),
            refuse_until: Mutex::new(None),
            counters: Counters::default(),
        });
        tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        tokio::spawn(blackout_loop(Arc::clone(&shared)));
        Ok(FaultLink { addr, shared })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, for a gRPC client.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The counters now.
    pub fn stats(&self) -> LinkStats {
        let c = &self.shared.counters;
        LinkStats {
            up_bytes: c.up_bytes.load(Ordering::Relaxed),
            down_bytes: c.down_bytes.load(Ordering::Relaxed),
            connections: c.connections.load(Ordering::Relaxed),
            cuts: c.cuts.load(Ordering::Relaxed),
            refused: c.refused.load(Ordering::Relaxed),
        }
    }

    /// Replaces the profile. Latency, jitter and bandwidth apply from the
    /// next chunk read; cut budget and seed from the next connection; a
    /// changed blackout restarts its period now.
    pub fn set_profile(&self, profile: LinkProfile) {
        self.shared.profile.send_replace(profile);
    }

    /// An outage starting now: cuts every open connection and refuses new
    /// ones for `length`.
    pub fn black_out(&self, length: Duration) {
        self.shared.black_out(length);
    }

    /// Cuts every open connection now (a link drop); new connections are
    /// allowed.
    pub fn cut_all(&self) {
        self.shared.cut_all();
    }
}

impl Drop for FaultLink {
    fn drop(&mut self) {
        self.shared.shutdown.send_replace(true);
    }
}

/// State shared by the handle, the accept loop, the blackout schedule and
/// every connection task.
#[derive(Debug)]
struct Shared {
    target: SocketAddr,
    profile: watch::Sender<LinkProfile>,
    /// Bumped to cut every open connection.
    cut: watch::Sender<u64>,
    /// Set once, when the [`FaultLink`] is dropped.
    shutdown: watch::Sender<bool>,
    /// New connections are refused until then.
    refuse_until: Mutex<Option<Instant>>,
    counters: Counters,
}

#[derive(Debug, Default)]
struct Counters {
    up_bytes: AtomicU64,
    down_bytes: AtomicU64,
    connections: AtomicU64,
    cuts: AtomicU64,
    refused: AtomicU64,
}

impl Shared {
    fn black_out(&self, length: Duration) {
        let until = later(Instant::now(), length);
        {
            let mut guard = self.refuse_until.lock().unwrap_or_else(|e| e.into_inner());
            *guard = Some(guard.map_or(until, |t| max(t, until)));
        }
        // Refuse first, then cut, so a client reconnecting at once is refused.
        self.cut_all();
    }

    fn cut_all(&self) {
        self.cut
            .send_modify(|generation| *generation = generation.wrapping_add(1));
    }

    fn refusing(&self, now: Instant) -> bool {
        let guard = self.refuse_until.lock().unwrap_or_else(|e| e.into_inner());
        guard.is_some_and(|until| now < until)
    }
}

/// `t + d`, saturating at a far future instead of panicking.
fn later(t: Instant, d: Duration) -> Instant {
    t.checked_add(d)
        .or_else(|| t.checked_add(Duration::from_secs(86_400 * 365 * 30)))
        .unwrap_or(t)
}

/// Resolves once the link is shut down.
async fn stopped(rx: &mut watch::Receiver<bool>) {
    // An error means the sender is gone: shut down as well.
    let _ = rx.wait_for(|stop| *stop).await.map(|_| ());
}

/// Closes a socket abruptly (RST), as a dropped link does.
fn reset(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut stop = shared.shutdown.subscribe();
    loop {
        let accepted = tokio::select! {
            biased;
            () = stopped(&mut stop) => return,
            accepted = listener.accept() => accepted,
        };
        let client = match accepted {
            Ok((client, _)) => client,
            Err(e) => {
                // E.g. out of file descriptors: back off briefly, don't spin.
                tracing::debug!(error = %e, "fault link: accept failed");
                sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        if shared.refusing(Instant::now()) {
            shared.counters.refused.fetch_add(1, Ordering::Relaxed);
            reset(client);
            continue;
        }
        let number = shared.counters.connections.fetch_add(1, Ordering::Relaxed);
        // Subscribed before the task starts, so no cut is missed.
        let cut = shared.cut.subscribe();
        let stop = shared.shutdown.subscribe();
        tokio::spawn(run_connection(
            Arc::clone(&shared),
            client,
            number,
            cut,
            stop,
        ));
    }
}

/// Runs the periodic outages of the current profile, if it has any; idle
/// (no timer) otherwise.
async fn blackout_loop(shared: Arc<Shared>) {
    let mut stop = shared.shutdown.subscribe();
    let mut profile = shared.profile.subscribe();
    let mut current: Option<Blackout> = None;
    let mut next = Instant::now();
    loop {
        let wanted = profile
            .borrow_and_update()
            .blackout
            .filter(|b| !b.every.is_zero());
        if wanted != current {
            current = wanted;
            if let Some(b) = current {
                next = later(Instant::now(), b.every);
            }
        }
        match current {
            Some(b) => tokio::select! {
                biased;
                () = stopped(&mut stop) => return,
                changed = profile.changed() => if changed.is_err() { return },
                () = sleep_until(next) => {
                    shared.black_out(b.length);
                    let now = Instant::now();
                    next = later(next, b.every);
                    if next <= now {
                        next = later(now, b.every);
                    }
                }
            },
            None => tokio::select! {
                biased;
                () = stopped(&mut stop) => return,
                changed = profile.changed() => if changed.is_err() { return },
            },
        }
    }
}

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Both sides closed normally.
    Closed,
    /// The link cut it.
    Cut,
    /// A read or write failed: pass the failure on to the other side.
    Broken,
    /// The link was shut down.
    Stopped,
}

async fn run_connection(
    shared: Arc<Shared>,
    mut client: TcpStream,
    number: u64,
    mut cut: watch::Receiver<u64>,
    mut stop: watch::Receiver<bool>,
) {
    let profile = shared.profile.borrow().clone();
    let connected = tokio::select! {
        biased;
        () = stopped(&mut stop) => {
            reset(client);
            return;
        }
        Ok(()) = cut.changed() => {
            shared.counters.cuts.fetch_add(1, Ordering::Relaxed);
            reset(client);
            return;
        }
        connected = TcpStream::connect(shared.target) => connected,
    };
    let mut server = match connected {
        Ok(server) => server,
        Err(e) => {
            tracing::debug!(error = %e, target = %shared.target, "fault link: connect failed");
            reset(client);
            return;
        }
    };
    // Chunks are written when due; Nagle would only delay them further.
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);

    let mut rng = StdRng::seed_from_u64(profile.seed ^ number.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let budget = profile
        .mean_bytes_between_cuts
        .map(|mean| AtomicU64::new(draw_budget(&mut rng, mean)));
    let up_rng = StdRng::seed_from_u64(rng.random());
    let down_rng = StdRng::seed_from_u64(rng.random());

    let end = {
        let (client_read, client_write) = client.split();
        let (server_read, server_write) = server.split();
        let up = pump(
            client_read,
            server_write,
            &shared.profile,
            &shared.counters.up_bytes,
            budget.as_ref(),
            up_rng,
        );
        let down = pump(
            server_read,
            client_write,
            &shared.profile,
            &shared.counters.down_bytes,
            budget.as_ref(),
            down_rng,
        );
        tokio::select! {
            biased;
            () = stopped(&mut stop) => End::Stopped,
            Ok(()) = cut.changed() => End::Cut,
            ended = async { tokio::try_join!(up, down) } => match ended {
                Ok(_) => End::Closed,
                Err(end) => end,
            },
        }
    };
    match end {
        End::Closed => {}
        End::Cut => {
            shared.counters.cuts.fetch_add(1, Ordering::Relaxed);
            reset(client);
            reset(server);
        }
        End::Broken | End::Stopped => {
            reset(client);
            reset(server);
        }
    }
}

/// Bytes a connection carries (both directions) before it is cut:
/// exponential with the given mean, at least 1.
fn draw_budget(rng: &mut StdRng, mean: u64) -> u64 {
    let u = 1.0 - rng.random::<f64>(); // (0, 1]
    (-(mean as f64) * u.ln()).round().max(1.0) as u64
}

/// What one chunk needs from the current profile.
#[derive(Debug, Clone, Copy)]
struct Shape {
    latency: Duration,
    jitter: Duration,
    bandwidth: Option<u64>,
}

fn shape(profile: &watch::Sender<LinkProfile>) -> Shape {
    let p = profile.borrow();
    Shape {
        latency: p.latency,
        jitter: p.jitter,
        bandwidth: p.bandwidth,
    }
}

/// Largest chunk to read at once under this bandwidth.
fn chunk_len(bandwidth: Option<u64>) -> usize {
    match bandwidth {
        None => MAX_CHUNK,
        Some(bw) => (bw / PACED_CHUNKS_PER_SEC).clamp(MIN_PACED_CHUNK, MAX_CHUNK as u64) as usize,
    }
}

/// Time the pipe needs to carry `n` bytes at `bandwidth` bytes per second.
fn transmit_time(n: usize, bandwidth: u64) -> Duration {
    let nanos = n as u128 * 1_000_000_000 / u128::from(bandwidth.max(1));
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// A chunk in flight and when it is due at the far end.
#[derive(Debug)]
struct Chunk {
    data: Vec<u8>,
    due: Instant,
}

/// One direction of a connection: a reader and a writer joined by a bounded
/// queue. Ends `Ok` when the source closed and its half-close was passed on.
async fn pump<R, W>(
    source: R,
    sink: W,
    profile: &watch::Sender<LinkProfile>,
    delivered: &AtomicU64,
    budget: Option<&AtomicU64>,
    rng: StdRng,
) -> Result<(), End>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (tx, rx) = mpsc::channel(QUEUE_CHUNKS);
    tokio::try_join!(
        read_side(source, tx, profile, rng),
        write_side(rx, sink, delivered, budget)
    )
    .map(|_| ())
}

async fn read_side<R>(
    mut source: R,
    tx: mpsc::Sender<Chunk>,
    profile: &watch::Sender<LinkProfile>,
    mut rng: StdRng,
) -> Result<(), End>
where
    R: AsyncRead + Unpin,
{
    let mut buf = vec![0u8; MAX_CHUNK];
    // When the pipe has carried everything read so far.
    let mut pipe_free = Instant::now();
    // Due time of the previous chunk: no chunk is due before it.
    let mut last_due = Instant::now();
    loop {
        let len = chunk_len(shape(profile).bandwidth);
        if pipe_free > Instant::now() {
            // The pipe is busy: don't read more yet, so the sender feels it.
            sleep_until(pipe_free).await;
        }
        let n = source
            .read(&mut buf[..len])
            .await
            .map_err(|_| End::Broken)?;
        if n == 0 {
            // Dropping `tx` tells the writer to pass the half-close on.
            return Ok(());
        }
        let now = Instant::now();
        let s = shape(profile);
        let carried = match s.bandwidth {
            Some(bw) => {
                pipe_free = later(max(now, pipe_free), transmit_time(n, bw));
                pipe_free
            }
            None => now,
        };
        let jitter = if s.jitter.is_zero() {
            Duration::ZERO
        } else {
            let max_nanos = u64::try_from(s.jitter.as_nanos()).unwrap_or(u64::MAX);
            Duration::from_nanos(rng.random_range(0..=max_nanos))
        };
        let due = max(later(later(carried, s.latency), jitter), last_due);
        last_due = due;
        let chunk = Chunk {
            data: buf[..n].to_vec(),
            due,
        };
        if tx.send(chunk).await.is_err() {
            // The writer has ended, and with it the connection.
            return Ok(());
        }
    }
}

async fn write_side<W>(
    mut rx: mpsc::Receiver<Chunk>,
    mut sink: W,
    delivered: &AtomicU64,
    budget: Option<&AtomicU64>,
) -> Result<(), End>
where
    W: AsyncWrite + Unpin,
{
    while let Some(chunk) = rx.recv().await {
        if chunk.due > Instant::now() {
            sleep_until(chunk.due).await;
        }
        let n = chunk.data.len() as u64;
        let (pass, cut) = match budget {
            None => (n, false),
            Some(budget) => {
                let left = match budget.fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
                    Some(left.saturating_sub(n))
                }) {
                    Ok(left) | Err(left) => left,
                };
                let pass = left.min(n);
                (pass, pass == left)
            }
        };
        if pass > 0 {
            let data = &chunk.data[..pass as usize];
            sink.write_all(data).await.map_err(|_| End::Broken)?;
            delivered.fetch_add(pass, Ordering::Relaxed);
        }
        if cut {
            return Err(End::Cut);
        }
    }
    sink.shutdown().await.map_err(|_| End::Broken)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::timeout;

    /// A TCP echo server on loopback; each connection echoes until EOF.
    async fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = stream.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        addr
    }

    async fn link(profile: LinkProfile) -> FaultLink {
        FaultLink::start(echo_server().await, profile)
            .await
            .unwrap()
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    /// Writes `msg` and reads the same number of bytes back.
    async fn round_trip(stream: &mut TcpStream, msg: &[u8]) -> io::Result<Vec<u8>> {
        stream.write_all(msg).await?;
        let mut back = vec![0u8; msg.len()];
        stream.read_exact(&mut back).await?;
        Ok(back)
    }

    /// Whether the peer closed the stream (EOF or reset) within 2 s.
    async fn closed(stream: &mut TcpStream) -> bool {
        let mut buf = [0u8; 64];
        loop {
            match timeout(Duration::from_secs(2), stream.read(&mut buf)).await {
                Err(_) => return false,
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => continue,
            }
        }
    }

    #[tokio::test]
    async fn perfect_link_passes_bytes_intact_and_counts_them() {
        let link = link(LinkProfile::perfect()).await;
        assert!(link.url().starts_with("http://127.0.0.1:"));
        let data = pattern(300_000);
        let stream = TcpStream::connect(link.addr()).await.unwrap();
        let (mut r, mut w) = stream.into_split();
        let sent = data.clone();
        let writer = tokio::spawn(async move {
            w.write_all(&sent).await.unwrap();
            w.shutdown().await.unwrap();
        });
        let mut back = Vec::new();
        timeout(Duration::from_secs(3), r.read_to_end(&mut back))
            .await
            .unwrap()
            .unwrap();
        writer.await.unwrap();
        assert!(back == data, "echo differs");
        let stats = link.stats();
        assert_eq!(
            stats,
            LinkStats {
                up_bytes: data.len() as u64,
                down_bytes: data.len() as u64,
                connections: 1,
                cuts: 0,
                refused: 0,
            }
        );
    }

    #[tokio::test]
    async fn latency_delays_round_trip() {
        let latency = Duration::from_millis(100);
        let link = link(LinkProfile {
            latency,
            ..LinkProfile::perfect()
        })
        .await;
        let mut stream = TcpStream::connect(link.addr()).await.unwrap();
        let start = std::time::Instant::now();
        assert_eq!(round_trip(&mut stream, b"ping").await.unwrap(), b"ping");
        let rtt = start.elapsed();
        assert!(rtt >= 2 * latency, "round trip {rtt:?}");
        assert!(
            rtt < 2 * latency + Duration::from_millis(400),
            "round trip {rtt:?}"
        );
    }

    #[tokio::test]
    async fn jitter_never_reorders() {
        // The mobile link without cuts: latency, jitter and a bandwidth cap.
        let link = link(LinkProfile {
            mean_bytes_between_cuts: None,
            ..LinkProfile::mobile(7)
        })
        .await;
        let stream = TcpStream::connect(link.addr()).await.unwrap();
        let (mut r, mut w) = stream.into_split();
        let data = pattern(20_000);
        let sent = data.clone();
        let writer = tokio::spawn(async move {
            // Small writes spaced out, so each is its own chunk with its own jitter.
            for piece in sent.chunks(200) {
                w.write_all(piece).await.unwrap();
                sleep(Duration::from_millis(2)).await;
            }
            w.shutdown().await.unwrap();
        });
        let mut back = Vec::new();
        timeout(Duration::from_secs(3), r.read_to_end(&mut back))
            .await
            .unwrap()
            .unwrap();
        writer.await.unwrap();
        assert!(back == data, "bytes reordered or lost");
        assert_eq!(link.stats().cuts, 0);
    }

    #[tokio::test]
    async fn bandwidth_caps_throughput() {
        let link = link(LinkProfile {
            bandwidth: Some(64 * 1024),
            ..LinkProfile::perfect()
        })
        .await;
        let mut stream = TcpStream::connect(link.addr()).await.unwrap();
        let data = pattern(64 * 1024);
        let start = std::time::Instant::now();
        let back = timeout(Duration::from_secs(4), round_trip(&mut stream, &data))
            .await
            .unwrap()
            .unwrap();
        let took = start.elapsed();
        assert!(back == data);
        assert!(took >= Duration::from_millis(800), "took {took:?}");
        assert!(took < Duration::from_millis(2500), "took {took:?}");
    }

    #[tokio::test]
    async fn byte_budget_cuts_long_stream() {
        let link = link(LinkProfile {
            mean_bytes_between_cuts: Some(20_000),
            seed: 42,
            ..LinkProfile::perfect()
        })
        .await;
        let stream = TcpStream::connect(link.addr()).await.unwrap();
        let (mut r, mut w) = stream.into_split();
        let total = 4_000_000usize;
        let writer = tokio::spawn(async move {
            let piece = pattern(8192);
            let mut sent = 0;
            while sent < total {
                if w.write_all(&piece).await.is_err() {
                    break;
                }
                sent += piece.len();
            }
        });
        let mut received = 0usize;
        let mut buf = vec![0u8; 16 * 1024];
        let read = timeout(Duration::from_secs(3), async {
            loop {
                match r.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => received += n,
                }
            }
        })
        .await;
        assert!(read.is_ok(), "connection not closed");
        assert!(received < total, "received {received} of {total}");
        let _ = writer.await;
        let stats = link.stats();
        assert!(stats.cuts >= 1, "{stats:?}");
        assert!(stats.up_bytes + stats.down_bytes < 2 * total as u64);
    }

    #[tokio::test]
    async fn black_out_refuses_then_recovers() {
        let link = link(LinkProfile::perfect()).await;
        let mut open = TcpStream::connect(link.addr()).await.unwrap();
        assert_eq!(round_trip(&mut open, b"hello").await.unwrap(), b"hello");

        let start = std::time::Instant::now();
        let length = Duration::from_millis(400);
        link.black_out(length);
        assert!(
            closed(&mut open).await,
            "open connection survived the blackout"
        );

        let mut refused = TcpStream::connect(link.addr()).await.unwrap();
        assert!(
            closed(&mut refused).await,
            "new connection accepted in a blackout"
        );
        assert!(
            start.elapsed() < length,
            "test too slow to observe the outage"
        );
        let stats = link.stats();
        assert!(stats.refused >= 1, "{stats:?}");
        assert_eq!(stats.cuts, 1);

        sleep(length.saturating_sub(start.elapsed()) + Duration::from_millis(50)).await;
        let mut after = TcpStream::connect(link.addr()).await.unwrap();
        assert_eq!(round_trip(&mut after, b"again").await.unwrap(), b"again");
        assert_eq!(link.stats().connections, 2);
    }

    #[tokio::test]
    async fn periodic_blackout_cuts_connections() {
        let link = link(LinkProfile {
            blackout: Some(Blackout {
                every: Duration::from_millis(200),
                length: Duration::from_millis(100),
            }),
            ..LinkProfile::perfect()
        })
        .await;
        let mut stream = TcpStream::connect(link.addr()).await.unwrap();
        assert_eq!(round_trip(&mut stream, b"hi").await.unwrap(), b"hi");
        assert!(
            closed(&mut stream).await,
            "not cut by the scheduled blackout"
        );
        assert!(link.stats().cuts >= 1);
        // Back to no blackouts: connections stay up.
        link.set_profile(LinkProfile::perfect());
        sleep(Duration::from_millis(150)).await;
        let mut stream = TcpStream::connect(link.addr()).await.unwrap();
        sleep(Duration::from_millis(300)).await;
        assert_eq!(round_trip(&mut stream, b"still").await.unwrap(), b"still");
    }

    #[tokio::test]
    async fn cut_all_closes_open_connections_only() {
        let link = link(LinkProfile::perfect()).await;
        let mut a = TcpStream::connect(link.addr()).await.unwrap();
        let mut b = TcpStream::connect(link.addr()).await.unwrap();
        assert_eq!(round_trip(&mut a, b"a").await.unwrap(), b"a");
        assert_eq!(round_trip(&mut b, b"b").await.unwrap(), b"b");
        link.cut_all();
        assert!(closed(&mut a).await);
        assert!(closed(&mut b).await);
        let mut c = TcpStream::connect(link.addr()).await.unwrap();
        assert_eq!(round_trip(&mut c, b"c").await.unwrap(), b"c");
        let stats = link.stats();
        assert_eq!((stats.cuts, stats.connections, stats.refused), (2, 3, 0));
    }

    #[tokio::test]
    async fn drop_closes_everything() {
        let link = link(LinkProfile::perfect()).await;
        let addr = link.addr();
        let mut stream = TcpStream::connect(addr).await.unwrap();
        assert_eq!(round_trip(&mut stream, b"x").await.unwrap(), b"x");
        drop(link);
        assert!(closed(&mut stream).await, "connection outlived the link");
        sleep(Duration::from_millis(50)).await;
        // The listener is gone: connecting fails, or the connection dies at once.
        if let Ok(mut late) = TcpStream::connect(addr).await {
            assert!(closed(&mut late).await);
        }
    }

    #[test]
    fn budgets_are_reproducible_and_near_the_mean() {
        let mut a = StdRng::seed_from_u64(9);
        let mut b = StdRng::seed_from_u64(9);
        let xs: Vec<u64> = (0..2000).map(|_| draw_budget(&mut a, 10_000)).collect();
        let ys: Vec<u64> = (0..2000).map(|_| draw_budget(&mut b, 10_000)).collect();
        assert_eq!(xs, ys);
        let mean = xs.iter().sum::<u64>() as f64 / xs.len() as f64;
        assert!((8_500.0..11_500.0).contains(&mean), "mean {mean}");
        assert!(xs.iter().all(|&x| x >= 1));
    }

    #[test]
    fn pacing_chunks() {
        assert_eq!(chunk_len(None), MAX_CHUNK);
        assert_eq!(chunk_len(Some(8_000)), 256);
        assert_eq!(chunk_len(Some(100_000_000)), MAX_CHUNK);
        assert_eq!(transmit_time(8_000, 8_000), Duration::from_secs(1));
        assert_eq!(transmit_time(1, 0), Duration::from_secs(1));
    }
}
