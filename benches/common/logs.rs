#![allow(clippy::disallowed_methods)] // a benchmark measures wall time
#![allow(dead_code)] // each benchmark uses its own share
//! What the start-up and storage benchmarks share: a log of sample
//! histories filled device by device, where that log is (embedded or a
//! JetStream stream of its own), the full fold, and this process's memory.

use std::path::PathBuf;
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
pub const BATCH: usize = 500;

/// Devices appended at once while filling (lets appends share commits).
pub const WINDOW: usize = 256;

/// Tenants the devices are spread over.
pub const TENANTS: u64 = 10;

/// Eight events per device per day, for a year.
pub const EVENTS_PER_DEVICE_YEAR: f64 = 8.0 * 365.0;

pub const T0: u64 = 1_700_000_000_000;

pub fn now() -> std::time::Instant {
    std::time::Instant::now()
}

/// "1m", "5m", "20k": how a size appears in the JSON keys.
pub fn label(events: u64) -> String {
    if events >= 1_000_000 && events.is_multiple_of(1_000_000) {
        format!("{}m", events / 1_000_000)
    } else if events >= 1_000 && events.is_multiple_of(1_000) {
        format!("{}k", events / 1_000)
    } else {
        events.to_string()
    }
}

/// One `kB` field of `/proc/self/status`, in bytes (0 elsewhere).
pub fn proc_status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// This process's resident memory.
pub fn rss_bytes() -> u64 {
    proc_status_bytes("VmRSS:")
}

pub fn device_of(d: u64) -> (DeviceId, TenantId) {
    (
        DeviceId::parse(&format!("rb-{d:06}")).unwrap(),
        TenantId::parse(&format!("tenant-{:02}", d % TENANTS)).unwrap(),
    )
}

/// Append `per_device` events of sample history for each of `devices`
/// devices, generated device by device (never the whole log in memory).
pub async fn fill(log: Arc<dyn EventLog>, devices: u64, per_device: u64) -> u64 {
    futures::stream::iter(0..devices)
        .map(|d| {
            let log = log.clone();
            async move {
                let (device, tenant) = device_of(d);
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

/// Start-up without a checkpoint: the whole log folded into a fresh
/// board (and the seconds it took).
pub async fn full_fold(log: Arc<dyn EventLog>, events: u64) -> (Arc<Mutex<StatusBoard>>, f64) {
    let board = Arc::new(Mutex::new(StatusBoard::new()));
    let started = now();
    let folded = Projector::new(log, board.clone())
        .catch_up()
        .await
        .expect("catch up");
    assert_eq!(folded, events, "start-up folded every event");
    (board, started.elapsed().as_secs_f64())
}

/// Where a log is, so that a child process can open it.
#[derive(Clone)]
pub enum Target {
    Embedded(PathBuf),
    JetStream {
        url: String,
        stream: String,
        prefix: String,
    },
}

pub async fn jetstream_context(url: &str) -> jetstream::Context {
    let client = async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(5))
        .connect(url)
        .await
        .expect("NATS_URL must point at a nats-server with JetStream");
    jetstream::new(client)
}

/// Remove the stream and its checkpoint bucket.
pub async fn jetstream_cleanup(js: &jetstream::Context, target: &Target) {
    if let Target::JetStream { stream, .. } = target {
        js.delete_stream(stream).await.unwrap();
        // Absent if no checkpoint was written (a failed run).
        let _ = js
            .delete_object_store(format!("{stream}_CHECKPOINTS"))
            .await;
    }
}

pub fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

impl Target {
    pub fn backend(&self) -> &'static str {
        match self {
            Target::Embedded(_) => "embedded",
            Target::JetStream { .. } => "jetstream",
        }
    }

    pub fn jetstream_config(url: &str, stream: &str, prefix: &str) -> JetStreamConfig {
        let mut cfg = JetStreamConfig::new(url);
        cfg.stream = stream.to_owned();
        cfg.subject_prefix = prefix.to_owned();
        cfg
    }

    pub async fn open(&self) -> Arc<dyn EventLog> {
        match self {
            Target::Embedded(dir) => Arc::new(EmbeddedLog::open_dir(dir).unwrap()),
            Target::JetStream {
                url,
                stream,
                prefix,
            } => Arc::new(
                JetStreamLog::open(&Target::jetstream_config(url, stream, prefix))
                    .await
                    .unwrap(),
            ),
        }
    }
}

/// A checkpoint of `board` written as the daemon writes one.
pub async fn write_checkpoint(
    log: &dyn EventLog,
    board: Arc<Mutex<StatusBoard>>,
) -> confkeep::store::checkpoint::CheckpointMeta {
    confkeep::daemon::checkpoint::Checkpointer::new(
        log,
        board,
        Arc::new(confkeep::effects::runner::SystemClock),
        confkeep::effects::config::HistoryConfig::default(),
        0,
    )
    .expect("the log keeps checkpoints")
    .write()
    .await
    .expect("a checkpoint was written")
}
