#![allow(clippy::disallowed_methods)] // a benchmark measures wall time
//! Start-up as it is today, the baseline for checkpoints ("years of
//! history: checkpoints and a start-up that does not grow with the log").
//!
//! Start-up folds the whole event log into the status board
//! ([`Projector::catch_up`] from an empty [`StatusBoard`]), so its time
//! grows with the log. For logs of 1 M and 5 M events (and 10 M with
//! `STARTUP_10M=1`) over 100 000 devices (10, 50, 100 events each, from
//! [`sample_history`]), on the embedded redb log and, when `NATS_URL` is
//! set, on JetStream (a stream of its own, uniquely named, deleted at the
//! end), it measures:
//!
//! 1. fill: each device's history appended in batches of [`BATCH`] events
//!    per `append` call, [`WINDOW`] devices in flight (setup, printed). The
//!    log is therefore grouped by device, not interleaved as a live fleet
//!    writes it.
//! 2. start-up: the log reopened, then a full replay into a fresh
//!    `StatusBoard` via `Projector::catch_up`: seconds and events/s. This is
//!    the curve a checkpoint has to beat (the later target: ≤ 3 s at 10 M).
//! 3. the baseline, in the same run on the same log, just before and just
//!    after the fold (the faster of the two is kept): a bare read, the
//!    replay stream's items counted (decoded but not folded).
//!    `replay_ratio` = fold events/s ÷ bare read events/s (near 1: the
//!    replay is bound by reading and decoding, not by folding).
//! 4. storage: bytes per event (redb: the file's size after filling;
//!    JetStream: the stream's `state.bytes`), and per device-year at 8
//!    events per device per day (2 920 events). redb grows its file by
//!    whole regions that stay sparse until used, so the blocks the file
//!    really occupies are shown beside its size (`disk B/event`; JetStream:
//!    the same `state.bytes`).
//! 5. memory: VmRSS after the fold (the process also filled the log, so it
//!    is an upper bound), and its growth during the fold, per device (only
//!    the first fold of the run shows the board's full cost: later ones
//!    reuse what the allocator kept from earlier sizes).
//!
//! `cargo bench --bench startup` runs the full sizes; without `--bench`
//! (as `cargo test --all-targets` runs it) it runs 2 000 devices × 10
//! events on the embedded log only, as a smoke test. Prints a markdown
//! table, then one JSON line.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream;
use confkeep::domain::{DeviceId, TenantId, Timestamp};
use confkeep::projections::projector::Projector;
use confkeep::projections::status::StatusBoard;
use confkeep::store::fold::sample_history;
use confkeep::store::{EmbeddedLog, EventLog, JetStreamConfig, JetStreamLog};
use futures::StreamExt;

/// Events per `append` call while filling.
const BATCH: usize = 500;
/// Devices appended at once while filling (lets appends share commits).
const WINDOW: usize = 256;
/// Tenants the devices are spread over.
const TENANTS: u64 = 10;
/// Eight events per device per day, for a year.
const EVENTS_PER_DEVICE_YEAR: f64 = 8.0 * 365.0;
const T0: u64 = 1_700_000_000_000;

fn now() -> std::time::Instant {
    std::time::Instant::now()
}

/// What one log size on one backend measured.
struct Run {
    backend: &'static str,
    devices: u64,
    events: u64,
    fill_s: f64,
    open_s: f64,
    read_s: f64,
    replay_s: f64,
    bytes: u64,
    /// What the log occupies on disk (redb: the file's allocated blocks).
    disk_bytes: u64,
    rss_after: u64,
    rss_growth: u64,
}

impl Run {
    fn read_rate(&self) -> f64 {
        self.events as f64 / self.read_s
    }
    fn replay_rate(&self) -> f64 {
        self.events as f64 / self.replay_s
    }
    fn ratio(&self) -> f64 {
        self.replay_rate() / self.read_rate()
    }
    fn bytes_per_event(&self) -> f64 {
        self.bytes as f64 / self.events as f64
    }
    fn disk_bytes_per_event(&self) -> f64 {
        self.disk_bytes as f64 / self.events as f64
    }
    fn bytes_per_device_year(&self) -> f64 {
        self.bytes_per_event() * EVENTS_PER_DEVICE_YEAR
    }
}

/// "1m", "5m", "20k": how a size appears in the JSON keys.
fn label(events: u64) -> String {
    if events >= 1_000_000 && events.is_multiple_of(1_000_000) {
        format!("{}m", events / 1_000_000)
    } else if events >= 1_000 && events.is_multiple_of(1_000) {
        format!("{}k", events / 1_000)
    } else {
        events.to_string()
    }
}

/// This process's resident memory, from `/proc/self/status` (0 elsewhere).
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Append `per_device` events of sample history for each of `devices`
/// devices, generated device by device (never the whole log in memory).
async fn fill(log: Arc<dyn EventLog>, devices: u64, per_device: u64) -> u64 {
    futures::stream::iter(0..devices)
        .map(|d| {
            let log = log.clone();
            async move {
                let device = DeviceId::parse(&format!("rb-{d:06}")).unwrap();
                let tenant = TenantId::parse(&format!("tenant-{:02}", d % TENANTS)).unwrap();
                let mut history =
                    sample_history(&device, &tenant, Timestamp(T0), per_device).into_iter();
                let mut last = 0;
                loop {
                    let batch: Vec<_> = history.by_ref().take(BATCH).collect();
                    if batch.is_empty() {
                        break;
                    }
                    last = log.append(&device, last, batch).await.expect("append");
                }
                last
            }
        })
        .buffer_unordered(WINDOW)
        .fold(0, |n, last| async move { n + last })
        .await
}

/// The bare read, then start-up's fold, on `log` (just reopened).
async fn read_then_fold(log: Arc<dyn EventLog>, events: u64) -> (f64, f64, u64, u64) {
    let started = now();
    let read = log
        .replay(0)
        .fold(0u64, |n, item| async move {
            std::hint::black_box(item.expect("replay"));
            n + 1
        })
        .await;
    let read_s = started.elapsed().as_secs_f64();
    assert_eq!(read, events, "the bare read saw every event");

    let before = rss_bytes();
    let board = Arc::new(Mutex::new(StatusBoard::new()));
    let started = now();
    let log2 = log.clone();
    let folded = Projector::new(log, board.clone())
        .catch_up()
        .await
        .expect("catch up");
    let replay_s = started.elapsed().as_secs_f64();
    let after = rss_bytes();
    assert_eq!(folded, events, "start-up folded every event");
    // The bare read again, after the fold: the best of the two brackets
    // the fold (the first read also warms caches).
    let started = now();
    let again = log2
        .replay(0)
        .fold(0u64, |n, item| async move {
            std::hint::black_box(item.expect("replay"));
            n + 1
        })
        .await;
    let read_s = read_s.min(started.elapsed().as_secs_f64());
    assert_eq!(again, events, "the bare read saw every event");
    {
        let board = board.lock().unwrap();
        assert_eq!(board.checkpoint(), events);
        std::hint::black_box(board.len());
    }
    drop(board);
    (read_s, replay_s, after, after.saturating_sub(before))
}

async fn embedded(devices: u64, per_device: u64) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let log: Arc<dyn EventLog> = Arc::new(EmbeddedLog::open_dir(dir.path()).unwrap());
    let started = now();
    let events = fill(log.clone(), devices, per_device).await;
    let fill_s = started.elapsed().as_secs_f64();
    drop(log); // closes the file (one handle at a time)
    let path = dir.path().join(confkeep::store::embedded::FILE_NAME);
    let meta = std::fs::metadata(&path).unwrap();
    let (bytes, disk_bytes) = (
        meta.len(),
        std::os::unix::fs::MetadataExt::blocks(&meta) * 512,
    );

    let started = now();
    let log: Arc<dyn EventLog> = Arc::new(EmbeddedLog::open_dir(dir.path()).unwrap());
    let open_s = started.elapsed().as_secs_f64();
    let (read_s, replay_s, rss_after, rss_growth) = read_then_fold(log, events).await;
    Run {
        backend: "embedded",
        devices,
        events,
        fill_s,
        open_s,
        read_s,
        replay_s,
        bytes,
        disk_bytes,
        rss_after,
        rss_growth,
    }
}

async fn jetstream(url: &str, run_id: &str, devices: u64, per_device: u64) -> Run {
    let size = label(devices * per_device);
    let mut cfg = JetStreamConfig::new(url);
    cfg.stream = format!("BENCH_STARTUP_{run_id}_{}", size.to_uppercase());
    cfg.subject_prefix = format!("bench.startup.{run_id}.{size}");
    let client = async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(5))
        .connect(url)
        .await
        .expect("NATS_URL must point at a nats-server with JetStream");
    let js = jetstream::new(client);

    let log: Arc<dyn EventLog> = Arc::new(JetStreamLog::open(&cfg).await.unwrap());
    let started = now();
    let events = fill(log.clone(), devices, per_device).await;
    let fill_s = started.elapsed().as_secs_f64();
    drop(log);
    let bytes = js
        .get_stream(&cfg.stream)
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .state
        .bytes;

    let started = now();
    let log: Arc<dyn EventLog> = Arc::new(JetStreamLog::open(&cfg).await.unwrap());
    let open_s = started.elapsed().as_secs_f64();
    let (read_s, replay_s, rss_after, rss_growth) = read_then_fold(log, events).await;
    js.delete_stream(&cfg.stream).await.unwrap();
    Run {
        backend: "jetstream",
        devices,
        events,
        fill_s,
        open_s,
        read_s,
        replay_s,
        bytes,
        disk_bytes: bytes,
        rss_after,
        rss_growth,
    }
}

fn row(r: &Run) -> String {
    format!(
        "| {} | {} | {} | {:.1} | {:.0} | {:.3} | {:.2} | {:.0} | {:.2} | {:.0} | {:.2} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} |",
        r.backend,
        r.events,
        r.devices,
        r.fill_s,
        r.events as f64 / r.fill_s,
        r.open_s,
        r.read_s,
        r.read_rate(),
        r.replay_s,
        r.replay_rate(),
        r.ratio(),
        r.bytes_per_event(),
        r.disk_bytes_per_event(),
        r.bytes_per_device_year(),
        r.rss_after as f64 / 1e6,
        r.rss_after as f64 / r.devices as f64,
        r.rss_growth as f64 / r.devices as f64,
    )
}

/// The JSON keys of one backend's runs (`prefix` "" for embedded, as the
/// headline figures, "jetstream_" for JetStream).
fn keys(out: &mut serde_json::Map<String, serde_json::Value>, runs: &[&Run], prefix: &str) {
    let Some(largest) = runs.iter().max_by_key(|r| r.events) else {
        return;
    };
    for r in runs {
        let size = label(r.events);
        out.insert(format!("{prefix}replay_{size}_s"), r.replay_s.into());
        out.insert(format!("{prefix}read_{size}_s"), r.read_s.into());
        out.insert(format!("{prefix}fill_{size}_s"), r.fill_s.into());
    }
    out.insert(
        format!("{prefix}replay_events_per_s"),
        largest.replay_rate().into(),
    );
    out.insert(
        format!("{prefix}read_events_per_s"),
        largest.read_rate().into(),
    );
    out.insert(format!("{prefix}replay_ratio"), largest.ratio().into());
    let store = if prefix.is_empty() { "redb_" } else { prefix };
    out.insert(
        format!("{store}bytes_per_event"),
        largest.bytes_per_event().into(),
    );
    out.insert(
        format!("{store}disk_bytes_per_event"),
        largest.disk_bytes_per_event().into(),
    );
    out.insert(
        format!("{store}bytes_per_device_year"),
        largest.bytes_per_device_year().into(),
    );
    out.insert(
        format!("{prefix}rss_bytes_per_device"),
        (largest.rss_after as f64 / largest.devices as f64).into(),
    );
    out.insert(
        format!("{prefix}rss_growth_bytes_per_device"),
        (largest.rss_growth as f64 / largest.devices as f64).into(),
    );
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (devices, per_device): (u64, Vec<u64>) = if full {
        let mut sizes = vec![10, 50];
        if std::env::var("STARTUP_10M").is_ok_and(|v| v == "1") {
            sizes.push(100);
        }
        (100_000, sizes)
    } else {
        (2_000, vec![10])
    };
    let url = std::env::var("NATS_URL")
        .ok()
        .filter(|u| full && !u.trim().is_empty());
    let run_id = format!(
        "{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis())
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let started = now();
    let mut runs = Vec::new();
    for &n in &per_device {
        let r = rt.block_on(embedded(devices, n));
        eprintln!("{}", row(&r));
        runs.push(r);
    }
    if let Some(url) = &url {
        for &n in &per_device {
            let r = rt.block_on(jetstream(url, &run_id, devices, n));
            eprintln!("{}", row(&r));
            runs.push(r);
        }
    } else if full {
        println!("jetstream: skipped (no NATS_URL)");
    }

    println!();
    println!(
        "| backend | events | devices | fill s | fill ev/s | open s | bare read s | bare read ev/s \
         | start-up replay s | replay ev/s | replay ratio | bytes/event | disk B/event | bytes/device-year \
         | RSS after fold MB | RSS/device B | RSS growth in fold/device B |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in &runs {
        println!("{}", row(r));
    }
    println!("total time: {:.0} s", started.elapsed().as_secs_f64());

    let mut out = serde_json::Map::new();
    out.insert("bench".into(), "startup".into());
    out.insert("devices".into(), devices.into());
    let of = |b: &str| runs.iter().filter(|r| r.backend == b).collect::<Vec<_>>();
    keys(&mut out, &of("embedded"), "");
    keys(&mut out, &of("jetstream"), "jetstream_");
    println!("{}", serde_json::Value::Object(out));
}
