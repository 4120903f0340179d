//! The event log: every input of every device's machine, in order.
//!
//! One contract ([`EventLog`]), three backends: JetStream (production),
//! embedded redb (the default without NATS) and memory (tests and
//! simulations); [`open`] picks one from a [`StoreConfig`]. Every backend
//! keeps two orders:
//!
//! - the **per-device sequence** (`Envelope::seq`, from 1, without gaps):
//!   [`EventLog::append`] takes the sequence the writer last saw and refuses
//!   with [`AppendError::Conflict`] when the log has moved on. This is the
//!   fence that stops two writers (two daemons, or a daemon and an operator
//!   command) from both deciding the same step.
//! - the **global sequence** ([`GlobalSeq`], from 1, increasing): the order
//!   in which the log accepted events across all devices. Replay and tail
//!   follow it, and projections use it as their checkpoint.
//!
//! Reading never panics on stored bytes: an envelope that does not decode is
//! an item `Err(StoreError::Decode { .. })` naming where it sits, and the
//! stream goes on with the next one (the caller decides to stop or skip).
//! Any other error ends the stream.

pub mod archive;
pub mod checkpoint;
pub mod codec;
pub mod embedded;
pub mod fold;
pub mod jetstream;
pub mod memory;

use futures::future::BoxFuture;
use futures::stream::BoxStream;

use crate::domain::{DecodeError, DeviceId, Envelope};

pub use embedded::EmbeddedLog;
pub use jetstream::{JetStreamConfig, JetStreamLog};
pub use memory::MemoryLog;

/// Position of an event in the whole log (all devices), from 1. On
/// JetStream it is the stream sequence; gaps are possible there (a deleted
/// message), never reordering.
pub type GlobalSeq = u64;

/// One event as read back from the log, with its global position.
pub type Positioned = (GlobalSeq, Envelope);

/// A failure of the log itself (not of a device): typed, so callers can tell
/// "try again later" from "this record is bad".
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The log cannot be reached or refused the operation (connection lost,
    /// timeout, disk error). Nothing was recorded unless a later read says so.
    #[error("event log unavailable: {reason}")]
    Unavailable { reason: String },
    /// A stored record does not decode (corrupt, or written by a newer
    /// release). `location` is the NATS subject or the redb key.
    #[error("undecodable event at {location}, sequence {seq}: {source}")]
    Decode {
        location: String,
        seq: u64,
        /// The device the record names, when that much of it reads.
        device: Option<DeviceId>,
        #[source]
        source: DecodeError,
    },
    /// The log exists but is set up in a way that breaks the contract (for
    /// example a JetStream discard policy that drops events). `setting`
    /// names what to change.
    #[error("event log {log}: setting {setting} breaks the contract: {reason}")]
    Misconfigured {
        log: String,
        setting: String,
        reason: String,
    },
}

impl StoreError {
    /// Shorthand for [`StoreError::Unavailable`].
    pub fn unavailable(reason: impl std::fmt::Display) -> Self {
        StoreError::Unavailable {
            reason: reason.to_string(),
        }
    }
}

/// Why an append did not record anything (or, for [`AppendError::Store`],
/// may not have: the caller reads the device's last sequence to find out).
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// Another writer got there first: the device's log is at `actual`, not
    /// at the expected sequence. Nothing from this append was recorded
    /// (JetStream: for a batch, the events before the conflicting one were;
    /// see [`EventLog::append`]).
    #[error("conflict: the device's log is at sequence {actual}, not the expected one")]
    Conflict { actual: u64 },
    /// The envelopes do not fit the call (wrong device, sequences not
    /// following `expected_seq`): a bug in the caller, refused before
    /// anything is written.
    #[error("invalid append for device {device}: {reason}")]
    Invalid { device: DeviceId, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The event log, shared by the runner as `Arc<dyn EventLog>`.
///
/// Streams are `'static` (they hold their own handle on the backend), so
/// they can be moved into tasks.
pub trait EventLog: Send + Sync {
    /// Record `events` for `device`, after the sequence `expected_seq` the
    /// writer last saw (0: the device has no events yet). The envelopes must
    /// carry `device` and the sequences `expected_seq + 1, expected_seq + 2…`.
    ///
    /// Returns the device's new last sequence once the events are durable
    /// (embedded: fsynced; JetStream: acknowledged by the stream). When the
    /// device's log is not at `expected_seq`, returns
    /// [`AppendError::Conflict`] with the actual last sequence.
    ///
    /// Retrying the same envelopes after an error whose outcome is unknown
    /// (a lost acknowledgement) is safe: it succeeds if they were recorded,
    /// and never records them twice.
    ///
    /// Memory and embedded record a batch atomically. JetStream writes a
    /// batch one event after the other behind the same fence, so a conflict
    /// in the middle leaves the earlier events recorded; the runner appends
    /// one event at a time.
    fn append<'a>(
        &'a self,
        device: &'a DeviceId,
        expected_seq: u64,
        events: Vec<Envelope>,
    ) -> BoxFuture<'a, Result<u64, AppendError>>;

    /// The last sequence of `device` (0: no events), read cheaply: what a
    /// writer needs after a conflict.
    fn last_seq<'a>(&'a self, device: &'a DeviceId) -> BoxFuture<'a, Result<u64, StoreError>>;

    /// Every event of every device with global sequence `>= from` (0 and 1
    /// both mean "from the beginning"), in log order, up to the end of the
    /// log as it was when replay started; then the stream ends.
    fn replay(&self, from: GlobalSeq) -> BoxStream<'static, Result<Positioned, StoreError>>;

    /// The events of one device, in its sequence order, then the stream ends.
    fn device_history(&self, device: &DeviceId)
    -> BoxStream<'static, Result<Envelope, StoreError>>;

    /// Like [`EventLog::replay`] but never ends: after the existing events it
    /// waits for new ones and yields each exactly once, without gaps. The
    /// runner replays, then tails from the next global sequence.
    fn tail(&self, from: GlobalSeq) -> BoxStream<'static, Result<Positioned, StoreError>>;

    /// Remove `device`'s events with a sequence below `keep_from` from the
    /// live log (after they were archived: the caller's duty), keeping the
    /// device's last event whatever `keep_from` says — it is the fence the
    /// next append is checked against. Returns how many were removed.
    /// JetStream: a purge of the device's subject below the stream
    /// sequence of the first kept event.
    fn compact<'a>(
        &'a self,
        device: &'a DeviceId,
        keep_from: u64,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        let _ = (device, keep_from);
        Box::pin(async { Err(StoreError::unavailable("this log cannot be compacted")) })
    }

    /// `device`'s events older than `cutoff`, oldest first, then the first
    /// one that is not (if any): what a compaction pass decides on, without
    /// reading the rest. A record that does not decode ends the list (what
    /// lies past it is never archived nor removed).
    fn oldest_events<'a>(
        &'a self,
        device: &'a DeviceId,
        cutoff: crate::domain::Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Envelope>, StoreError>> {
        Box::pin(async move {
            let mut history = self.device_history(device);
            let mut out = Vec::new();
            while let Some(item) = futures::StreamExt::next(&mut history).await {
                match item {
                    Ok(env) => {
                        let old = env.at < cutoff;
                        out.push(env);
                        if !old {
                            break;
                        }
                    }
                    Err(e @ StoreError::Unavailable { .. }) => return Err(e),
                    Err(_) => break,
                }
            }
            Ok(out)
        })
    }

    /// Where this log keeps checkpoints of what was folded from it; `None`:
    /// it keeps none, and every start folds from the beginning.
    fn checkpoints(&self) -> Option<std::sync::Arc<dyn checkpoint::CheckpointStore>> {
        None
    }
}

/// Check that `events` fit an append for `device` after `expected_seq`.
/// Shared by the backends so they refuse the same mistakes the same way.
pub fn check_batch(
    device: &DeviceId,
    expected_seq: u64,
    events: &[Envelope],
) -> Result<(), AppendError> {
    for (i, env) in events.iter().enumerate() {
        let want = expected_seq.saturating_add(i as u64 + 1);
        if env.device != *device {
            return Err(AppendError::Invalid {
                device: device.clone(),
                reason: format!("envelope {} belongs to device {}", i + 1, env.device),
            });
        }
        if env.seq != want {
            return Err(AppendError::Invalid {
                device: device.clone(),
                reason: format!(
                    "envelope {} carries sequence {}, expected {want} (expected_seq {expected_seq} + {})",
                    i + 1,
                    env.seq,
                    i + 1
                ),
            });
        }
    }
    Ok(())
}

/// Which log to use: what the daemon and the CLI read from their options.
#[derive(Debug, Clone)]
pub enum StoreConfig {
    /// JetStream, when a NATS URL is configured.
    JetStream(jetstream::JetStreamConfig),
    /// The embedded redb file `<data_dir>/events.redb` otherwise.
    Embedded { data_dir: std::path::PathBuf },
}

impl StoreConfig {
    /// JetStream with the default stream and subjects when `nats_url` is
    /// given, else the embedded log under `data_dir`.
    pub fn from_options(nats_url: Option<&str>, data_dir: &std::path::Path) -> Self {
        match nats_url.filter(|u| !u.trim().is_empty()) {
            Some(url) => StoreConfig::JetStream(jetstream::JetStreamConfig::new(url)),
            None => StoreConfig::Embedded {
                data_dir: data_dir.to_owned(),
            },
        }
    }

    /// Where the log is, for messages.
    pub fn describe(&self) -> String {
        match self {
            StoreConfig::JetStream(c) => format!(
                "JetStream stream {} at {}",
                c.stream,
                crate::redact::redact_url(&c.url)
            ),
            StoreConfig::Embedded { data_dir } => {
                format!("{}", data_dir.join(embedded::FILE_NAME).display())
            }
        }
    }
}

/// Open the configured log (creating it if needed).
pub async fn open(config: &StoreConfig) -> Result<std::sync::Arc<dyn EventLog>, StoreError> {
    Ok(match config {
        StoreConfig::JetStream(c) => std::sync::Arc::new(jetstream::JetStreamLog::open(c).await?),
        StoreConfig::Embedded { data_dir } => {
            let data_dir = data_dir.clone();
            let log =
                tokio::task::spawn_blocking(move || embedded::EmbeddedLog::open_dir(&data_dir))
                    .await
                    .map_err(|e| {
                        StoreError::unavailable(format!("cannot open the embedded log: {e}"))
                    })??;
            std::sync::Arc::new(log)
        }
    })
}
