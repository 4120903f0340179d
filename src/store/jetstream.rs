//! The JetStream event log: production, and the only backend shared by
//! several daemons.
//!
//! One stream (default `BACKUP_EVENTS`) holds every event, one subject per
//! device: `<prefix>.<tenant>.<device>` (default prefix `backup.events`).
//! The stream sequence is the global sequence.
//!
//! The fence between writers is `Nats-Expected-Last-Subject-Sequence`: the
//! server refuses an append unless the device subject's last message is the
//! one the writer saw. That header speaks in *stream* sequences, so we keep,
//! per device, the stream sequence of its last event (read back from the
//! stream when unknown or stale). `Nats-Msg-Id` = `<device>/<seq>` makes a
//! retry after a lost acknowledgement harmless. A duplicate acknowledgement
//! is only trusted once the stored message is shown to be ours, since
//! another writer racing on the same device sends the same Msg-Id.
//!
//! A device lives under one tenant. A writer that knows the device (expects
//! a sequence above 0) and files it under another tenant is refused by
//! name; so is a second writer enrolling a new device under another tenant
//! while the first one's Msg-Id is in the duplicate window. A writer that
//! enrols a device it has never seen is not checked against every tenant
//! (on 2.9 that look-up scans the whole stream).
//!
//! Works against nats-server 2.9 (no 2.10 features: one filter subject per
//! consumer).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{
    self,
    consumer::{
        DeliverPolicy,
        pull::{OrderedConfig, OrderedError},
    },
    context::PublishErrorKind,
    message::PublishMessage,
    stream::{self, DiscardPolicy, LastRawMessageErrorKind, RetentionPolicy, StorageType},
};
use bytes::Bytes;
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;

use super::{AppendError, EventLog, GlobalSeq, Positioned, StoreError, check_batch};
use crate::domain::{DeviceId, Envelope};

/// Where the JetStream log lives and how the stream is set up.
#[derive(Debug, Clone)]
pub struct JetStreamConfig {
    /// NATS server URL(s), comma-separated (`nats://127.0.0.1:4222`).
    pub url: String,
    /// Stream name (default `BACKUP_EVENTS`).
    pub stream: String,
    /// Subject prefix; devices live on `<prefix>.<tenant>.<device>`
    /// (default `backup.events`).
    pub subject_prefix: String,
    /// Replicas of the stream when we create it (3 recommended in production).
    pub replicas: usize,
    /// How long events are kept; `None` keeps them forever (it is an audit log).
    pub max_age: Option<Duration>,
    /// How long to try to reach the server at start-up before giving up.
    pub connect_timeout: Duration,
    /// Only reading (`confkeep replay`): never create the stream, and take
    /// its retention as it is (the reader does not know the daemon's
    /// `max_age`). Settings that lose events are still refused.
    pub read_only: bool,
}

/// Default stream name.
pub const DEFAULT_STREAM: &str = "BACKUP_EVENTS";
/// Default subject prefix.
pub const DEFAULT_SUBJECT_PREFIX: &str = "backup.events";

impl JetStreamConfig {
    /// The defaults of DESIGN.md for a server URL.
    pub fn new(url: impl Into<String>) -> Self {
        JetStreamConfig {
            url: url.into(),
            stream: DEFAULT_STREAM.to_owned(),
            subject_prefix: DEFAULT_SUBJECT_PREFIX.to_owned(),
            replicas: 1,
            max_age: None,
            connect_timeout: Duration::from_secs(5),
            read_only: false,
        }
    }
}

/// The JetStream event log. Cloning gives another handle on the same
/// connection.
#[derive(Clone)]
pub struct JetStreamLog {
    inner: Arc<Inner>,
}

struct Inner {
    js: jetstream::Context,
    stream: stream::Stream,
    stream_name: String,
    prefix: String,
    /// Per device: (its last sequence, the stream sequence of that event),
    /// as last seen by this process. Only a hint: a stale entry makes the
    /// server refuse the append and we read the truth back.
    fences: Mutex<HashMap<DeviceId, (u64, u64)>>,
    checkpoints: Arc<JetStreamCheckpoints>,
}

#[path = "jetstream_checkpoints.rs"]
mod checkpoints;
pub use checkpoints::JetStreamCheckpoints;

impl std::fmt::Debug for JetStreamLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JetStreamLog")
            .field("stream", &self.inner.stream_name)
            .field("prefix", &self.inner.prefix)
            .finish()
    }
}

impl JetStreamLog {
    /// Connect, create the stream if it is missing, and check that an
    /// existing one keeps the contract. Fails within `connect_timeout` when
    /// the server cannot be reached.
    pub async fn open(config: &JetStreamConfig) -> Result<Self, StoreError> {
        let unreachable = |reason: String| StoreError::Unavailable {
            reason: format!("cannot reach NATS at {}: {reason}", config.url),
        };
        let connect = async_nats::ConnectOptions::new()
            .connection_timeout(config.connect_timeout)
            .connect(config.url.as_str());
        let client = tokio::time::timeout(config.connect_timeout, connect)
            .await
            .map_err(|_| {
                unreachable(format!(
                    "no answer within {} ms",
                    config.connect_timeout.as_millis()
                ))
            })?
            .map_err(|e| unreachable(e.to_string()))?;
        let js = jetstream::new(client);
        let wanted = stream::Config {
            name: config.stream.clone(),
            subjects: vec![format!("{}.>", config.subject_prefix)],
            storage: StorageType::File,
            retention: RetentionPolicy::Limits,
            discard: DiscardPolicy::Old,
            num_replicas: config.replicas.max(1),
            max_age: config.max_age.unwrap_or_default(),
            allow_direct: true,
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        };
        let stream = match js.get_stream(&config.stream).await {
            Ok(stream) => stream,
            Err(e)
                if matches!(
                    e.kind(),
                    jetstream::context::GetStreamErrorKind::JetStream(ref je)
                        if je.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND
                ) && config.read_only =>
            {
                return Err(StoreError::unavailable(format!(
                    "stream {} does not exist on {}",
                    config.stream, config.url
                )));
            }
            Err(e)
                if matches!(
                    e.kind(),
                    jetstream::context::GetStreamErrorKind::JetStream(ref je)
                        if je.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND
                ) =>
            {
                // nats-server 2.9 can fail a create that races with the
                // deletion of the account's last stream (it removes the
                // directory the new one goes in): try again a few times.
                let mut attempt = 1;
                loop {
                    match js.get_or_create_stream(wanted.clone()).await {
                        Ok(stream) => break stream,
                        Err(e) if attempt < 3 => {
                            tracing::warn!(stream = %config.stream, error = %e, "creating the events stream failed; trying again");
                            attempt += 1;
                            tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
                        }
                        Err(e) => {
                            return Err(StoreError::unavailable(format!(
                                "cannot create stream {}: {e}",
                                config.stream
                            )));
                        }
                    }
                }
            }
            Err(e) => {
                return Err(StoreError::unavailable(format!(
                    "cannot read stream {}: {e}",
                    config.stream
                )));
            }
        };
        check_contract(&stream.cached_info().config, config)?;
        let checkpoints = Arc::new(JetStreamCheckpoints {
            js: js.clone(),
            bucket: format!("{}_CHECKPOINTS", config.stream),
            replicas: config.replicas,
            log_id: format!(
                "{}@{}",
                config.stream,
                stream.cached_info().created.unix_timestamp_nanos()
            ),
            store: tokio::sync::OnceCell::new(),
        });
        Ok(JetStreamLog {
            inner: Arc::new(Inner {
                checkpoints,
                js,
                stream,
                stream_name: config.stream.clone(),
                prefix: config.subject_prefix.clone(),
                fences: Mutex::new(HashMap::new()),
            }),
        })
    }

    fn subject(&self, tenant: &str, device: &DeviceId) -> String {
        // Pushed rather than formatted: this runs for every append.
        let prefix = &self.inner.prefix;
        let mut subject =
            String::with_capacity(prefix.len() + tenant.len() + device.as_str().len() + 2);
        for part in [prefix.as_str(), ".", tenant, ".", device.as_str()] {
            subject.push_str(part);
        }
        subject
    }

    fn fence_hint(&self, device: &DeviceId) -> Option<(u64, u64)> {
        let fences = self.inner.fences.lock().unwrap_or_else(|p| p.into_inner());
        fences.get(device).copied()
    }

    fn set_fence(&self, device: &DeviceId, fence: Option<(u64, u64)>) {
        let mut fences = self.inner.fences.lock().unwrap_or_else(|p| p.into_inner());
        match (fence, fences.get_mut(device)) {
            // Updated in place: no key to clone on every append.
            (Some(f), Some(known)) => *known = f,
            (Some(f), None) => {
                fences.insert(device.clone(), f);
            }
            (None, _) => {
                fences.remove(device);
            }
        }
    }

    /// The last message on `subject` (a wildcard too), or `None` when there
    /// is none.
    pub(super) async fn last_message(
        &self,
        subject: &str,
    ) -> Result<Option<async_nats::jetstream::message::StreamMessage>, StoreError> {
        match self
            .inner
            .stream
            .get_last_raw_message_by_subject(subject)
            .await
        {
            Ok(msg) => Ok(Some(msg)),
            Err(e) if matches!(e.kind(), LastRawMessageErrorKind::NoMessageFound) => Ok(None),
            Err(e) => Err(StoreError::unavailable(format!(
                "stream {}: cannot read the last event on {subject}: {e}",
                self.inner.stream_name
            ))),
        }
    }

    /// The device's last event as stored: (its sequence, its stream
    /// sequence, its bytes), or `None` when the device has no events.
    async fn read_last(&self, subject: &str) -> Result<Option<(u64, u64, Bytes)>, StoreError> {
        let Some(msg) = self.last_message(subject).await? else {
            return Ok(None);
        };
        let env = super::codec::decode(&msg.payload).map_err(|source| StoreError::Decode {
            location: format!("stream {} subject {}", self.inner.stream_name, msg.subject),
            seq: msg.sequence,
            device: device_of(&msg.subject, &msg.payload),
            source,
        })?;
        Ok(Some((env.seq, msg.sequence, msg.payload)))
    }

    /// The stream sequence to put in the fence for an append after
    /// `expected_seq`, or the conflict if the device has moved on.
    async fn fence_for(
        &self,
        device: &DeviceId,
        subject: &str,
        expected_seq: u64,
    ) -> Result<u64, AppendError> {
        match self.fence_hint(device) {
            Some((seq, stream_seq)) if seq == expected_seq => return Ok(stream_seq),
            // A device new to this writer: fence 0 needs no look-up (the
            // server refuses it if the subject has events). Not looking for
            // the device under other tenants here is deliberate: on 2.9 a
            // wildcard look-up for a device that has no events scans the
            // whole stream (about 14 ms on a million events), once per new
            // device. The same device enrolled under another tenant at the
            // same time is still refused, atomically, by its Msg-Id.
            None if expected_seq == 0 => return Ok(0),
            _ => {}
        }
        let (seq, stream_seq) = match self.read_last(subject).await? {
            Some((seq, stream_seq, _)) => (seq, stream_seq),
            None => match self.nothing_on(device, subject).await? {
                0 => (0, 0),
                actual => return Err(AppendError::Conflict { actual }),
            },
        };
        self.set_fence(device, Some((seq, stream_seq)));
        if seq != expected_seq {
            return Err(AppendError::Conflict { actual: seq });
        }
        Ok(stream_seq)
    }

    /// `subject` held no event of `device` when we looked: return the
    /// device's actual last sequence (0 for a new device; more if a rival
    /// writer just appended), or refuse when the device is filed under
    /// another tenant (the fence is per subject and the tenant is part of
    /// it, so continuing here would break its sequence).
    async fn nothing_on(&self, device: &DeviceId, subject: &str) -> Result<u64, AppendError> {
        let anywhere = format!("{}.*.{device}", self.inner.prefix);
        match self
            .inner
            .stream
            .get_last_raw_message_by_subject(&anywhere)
            .await
        {
            Err(e) if matches!(e.kind(), LastRawMessageErrorKind::NoMessageFound) => Ok(0),
            Err(e) => Err(StoreError::unavailable(format!(
                "cannot read the last event on {anywhere}: {e}"
            ))
            .into()),
            Ok(msg) if msg.subject.as_str() == subject => {
                Ok(self.read_last(subject).await?.map_or(0, |(seq, ..)| seq))
            }
            Ok(msg) => Err(AppendError::Invalid {
                device: device.clone(),
                reason: moved_tenant(msg.subject.as_str(), subject),
            }),
        }
    }

    /// Publish one envelope behind the fence; returns its stream sequence.
    async fn publish_one(
        &self,
        subject: &str,
        env: &Envelope,
        fence: u64,
    ) -> Result<u64, AppendError> {
        let payload = Bytes::from(super::codec::encode(env).map_err(|e| AppendError::Invalid {
            device: env.device.clone(),
            reason: e.to_string(),
        })?);
        let msg = PublishMessage::build()
            .payload(payload.clone())
            .message_id(message_id(env))
            .expected_last_subject_sequence(fence);
        let sent = self.inner.js.send_publish(subject.to_owned(), msg).await;
        let acked = match sent {
            Ok(ack) => ack.await,
            Err(e) => Err(e),
        };
        match acked {
            Ok(ack) if !ack.duplicate => Ok(ack.sequence),
            Ok(ack) => {
                // Same Msg-Id already stored: ours (a retry) or a rival's.
                let stored = self.inner.stream.get_raw_message(ack.sequence).await;
                match stored {
                    Ok(m) if m.payload == payload => Ok(ack.sequence),
                    Ok(m) if m.subject.as_str() != subject => Err(AppendError::Invalid {
                        device: env.device.clone(),
                        reason: moved_tenant(m.subject.as_str(), subject),
                    }),
                    Ok(_) => Err(self.conflict_now(subject).await),
                    Err(e) => Err(StoreError::unavailable(format!(
                        "cannot check duplicate {subject} sequence {}: {e}",
                        ack.sequence
                    ))
                    .into()),
                }
            }
            Err(e) if e.kind() == PublishErrorKind::WrongLastSequence => {
                // A retry whose first try landed after the dedupe window, or
                // a rival writer: only the stored bytes can tell.
                match self.read_last(subject).await? {
                    Some((seq, stream_seq, stored)) if seq == env.seq && stored == payload => {
                        Ok(stream_seq)
                    }
                    Some((seq, ..)) => Err(AppendError::Conflict { actual: seq }),
                    None => Err(AppendError::Conflict {
                        actual: self.nothing_on(&env.device, subject).await?,
                    }),
                }
            }
            Err(e) => Err(StoreError::unavailable(format!(
                "append to {subject} not acknowledged: {e}"
            ))
            .into()),
        }
    }

    async fn conflict_now(&self, subject: &str) -> AppendError {
        match self.read_last(subject).await {
            Ok(last) => AppendError::Conflict {
                actual: last.map_or(0, |(seq, ..)| seq),
            },
            Err(e) => e.into(),
        }
    }

    async fn append_inner(
        &self,
        device: &DeviceId,
        expected_seq: u64,
        events: Vec<Envelope>,
    ) -> Result<u64, AppendError> {
        check_batch(device, expected_seq, &events)?;
        let Some(first) = events.first() else {
            let actual = self.last_seq_inner(device).await?;
            return if actual == expected_seq {
                Ok(actual)
            } else {
                Err(AppendError::Conflict { actual })
            };
        };
        if let Some(other) = events.iter().find(|e| e.tenant != first.tenant) {
            return Err(AppendError::Invalid {
                device: device.clone(),
                reason: format!(
                    "one append mixes tenants {} and {}",
                    first.tenant, other.tenant
                ),
            });
        }
        let subject = self.subject(first.tenant.as_str(), device);
        let end = expected_seq + events.len() as u64;
        let mut fence = match self.fence_for(device, &subject, expected_seq).await {
            Ok(fence) => fence,
            Err(AppendError::Conflict { actual }) if actual >= end => {
                return self.confirm_retry(&subject, &events, actual).await;
            }
            Err(e) => return Err(e),
        };
        for (i, env) in events.iter().enumerate() {
            match self.publish_one(&subject, env, fence).await {
                Ok(stream_seq) => {
                    fence = stream_seq;
                    self.set_fence(device, Some((env.seq, stream_seq)));
                }
                // Fenced without a look-up (a device new to this writer)
                // and already past the whole batch: a retry, or a rival's.
                Err(AppendError::Conflict { actual }) if i == 0 && actual >= end => {
                    self.set_fence(device, None);
                    return self.confirm_retry(&subject, &events, actual).await;
                }
                Err(e) => {
                    self.set_fence(device, None);
                    return Err(e);
                }
            }
        }
        Ok(end)
    }

    /// The device is already past these events: succeed only if they are
    /// exactly what is stored (a retry after a lost acknowledgement).
    async fn confirm_retry(
        &self,
        subject: &str,
        events: &[Envelope],
        actual: u64,
    ) -> Result<u64, AppendError> {
        for env in events {
            // Fence 0 can never pass on a subject that holds events, so this
            // publish cannot write: the server either reports the Msg-Id as
            // a duplicate (checked against the stored bytes) or refuses.
            match self.publish_one(subject, env, 0).await {
                Ok(_) => {}
                Err(AppendError::Conflict { .. }) => {
                    return Err(AppendError::Conflict { actual });
                }
                Err(e) => return Err(e),
            }
        }
        Ok(events.last().map_or(0, |e| e.seq))
    }

    async fn last_seq_inner(&self, device: &DeviceId) -> Result<u64, StoreError> {
        // The tenant is part of the subject; a wildcard finds the device
        // under whichever tenant it is filed.
        let subject = format!("{}.*.{device}", self.inner.prefix);
        Ok(self.read_last(&subject).await?.map_or(0, |(seq, ..)| seq))
    }

    /// An ordered consumer over `filter` from `start`, decoding as it goes;
    /// `bounded` stops after the messages that existed when it was created.
    ///
    /// The consumer runs in a task of its own that only pulls: it hands the
    /// messages over in chunks as they arrive and polls again at once, so
    /// its next pull request leaves while the caller decodes and folds the
    /// last chunk (an ordered consumer asks for 500 messages at a time: a
    /// reader busy decoding leaves the server waiting for the request).
    fn read(
        &self,
        filter: String,
        start: GlobalSeq,
        bounded: bool,
    ) -> BoxStream<'static, Result<Positioned, StoreError>> {
        let log = self.clone();
        let (tx, rx) = tokio::sync::mpsc::channel::<Chunk>(16);
        let reader = async move {
            let deliver_policy = if start <= 1 {
                DeliverPolicy::All
            } else {
                DeliverPolicy::ByStartSequence {
                    start_sequence: start,
                }
            };
            let cannot_read = |e: &dyn std::fmt::Display| {
                Chunk::Failed(StoreError::unavailable(format!(
                    "cannot read {filter} from the stream: {e}"
                )))
            };
            // A bounded read ends at the last message matching the filter
            // as it is now (events purged by a compaction meanwhile are
            // never delivered, and nats-server 2.9 does not lower the
            // pending counts for them: counting alone would wait forever).
            let end = if bounded {
                match log.last_message(&filter).await {
                    Ok(m) => m.map_or(0, |m| m.sequence),
                    Err(e) => {
                        let _ = tx.send(Chunk::Failed(e)).await;
                        return;
                    }
                }
            } else {
                GlobalSeq::MAX
            };
            let consumer = match log
                .inner
                .stream
                .create_consumer(OrderedConfig {
                    filter_subject: filter.clone(),
                    deliver_policy,
                    ..Default::default()
                })
                .await
            {
                Ok(c) => c,
                Err(e) => {
                    let _ = tx.send(cannot_read(&e)).await;
                    return;
                }
            };
            let pending = consumer.cached_info().num_pending;
            let messages = match consumer.messages().await {
                Ok(m) => m,
                Err(e) => {
                    let _ = tx.send(cannot_read(&e)).await;
                    return;
                }
            };
            let limit = if bounded { pending } else { u64::MAX };
            let mut chunks = messages
                .take(usize::try_from(limit).unwrap_or(usize::MAX))
                .ready_chunks(READ_CHUNK);
            loop {
                let mut msgs = tokio::select! {
                    next = chunks.next() => match next {
                        Some(msgs) => msgs,
                        None => return,
                    },
                    // Nobody reads any more (a dropped tail): stop the consumer.
                    () = tx.closed() => return,
                };
                // A failed read ends the stream (the contract), and so
                // does a bounded read's last message.
                let last = msgs
                    .iter()
                    .position(|m| m.is_err() || (bounded && is_last(m, end)));
                if let Some(at) = last {
                    msgs.truncate(at + 1);
                }
                if tx.send(Chunk::Messages(msgs)).await.is_err() || last.is_some() {
                    return;
                }
            }
        };
        Decoded {
            reader: Some(Box::pin(reader)),
            rx,
            chunk: Vec::new().into_iter(),
            stream_name: self.inner.stream_name.clone(),
            ended: false,
        }
        .boxed()
    }
}

/// The message a bounded read ends with: the last matching one as the read
/// began (`end`) or later, or one the server says nothing follows. A
/// message without its position is no end.
fn is_last(item: &Result<jetstream::Message, OrderedError>, end: GlobalSeq) -> bool {
    let Ok(message) = item else { return false };
    message
        .info()
        .is_ok_and(|info| info.pending == 0 || info.stream_sequence >= end)
}

/// The caller's side of [`JetStreamLog::read`]: decodes each message as it
/// is asked for, and ends after any error but a bad record (the contract).
/// One hand-written stream, not a stack of combinators: an envelope is
/// moved once on its way out.
struct Decoded {
    /// The reader task, spawned at the first poll (reading starts when the
    /// caller reads, inside its runtime).
    reader: Option<BoxFuture<'static, ()>>,
    rx: tokio::sync::mpsc::Receiver<Chunk>,
    chunk: std::vec::IntoIter<Result<jetstream::Message, OrderedError>>,
    stream_name: String,
    ended: bool,
}

impl futures::Stream for Decoded {
    type Item = Result<Positioned, StoreError>;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        let this = self.get_mut();
        if let Some(reader) = this.reader.take() {
            tokio::spawn(reader);
        }
        loop {
            if this.ended {
                return Poll::Ready(None);
            }
            if let Some(msg) = this.chunk.next() {
                let item = decode_message(&this.stream_name, msg);
                this.ended = matches!(item, Err(StoreError::Unavailable { .. }));
                return Poll::Ready(Some(item));
            }
            match std::task::ready!(this.rx.poll_recv(cx)) {
                Some(Chunk::Messages(msgs)) => this.chunk = msgs.into_iter(),
                Some(Chunk::Failed(e)) => {
                    this.ended = true;
                    return Poll::Ready(Some(Err(e)));
                }
                None => this.ended = true,
            }
        }
    }
}

/// What the reader task hands over.
enum Chunk {
    /// Messages as they arrived (a failed read, if any, last).
    Messages(Vec<Result<jetstream::Message, OrderedError>>),
    /// The consumer could not be set up.
    Failed(StoreError),
}

/// Why an append to `subject` is refused when the device's events are filed
/// on `filed` (another tenant).
fn moved_tenant(filed: &str, subject: &str) -> String {
    format!(
        "its events are filed on {filed}, not {subject}: moving a device between tenants is not supported"
    )
}

/// `Nats-Msg-Id` of an envelope: `<device>/<seq>` (pushed rather than
/// formatted: this runs for every append).
fn message_id(env: &Envelope) -> String {
    use std::fmt::Write;
    let device = env.device.as_str();
    let mut id = String::with_capacity(device.len() + 1 + 20);
    id.push_str(device);
    id.push('/');
    let _ = write!(id, "{}", env.seq);
    id
}

/// How many messages the reader hands over at most at once.
const READ_CHUNK: usize = 512;

fn decode_message(
    stream_name: &str,
    item: Result<jetstream::Message, OrderedError>,
) -> Result<Positioned, StoreError> {
    let msg =
        item.map_err(|e| StoreError::unavailable(format!("reading the stream failed: {e}")))?;
    let info = msg
        .info()
        .map_err(|e| StoreError::unavailable(format!("message without metadata: {e}")))?;
    let seq = info.stream_sequence;
    let env = super::codec::decode(&msg.payload).map_err(|source| StoreError::Decode {
        location: format!("stream {stream_name} subject {}", msg.subject),
        seq,
        device: device_of(&msg.subject, &msg.payload),
        source,
    })?;
    Ok((seq, env))
}

/// The device a record that does not decode belongs to: its subject says
/// (`<prefix>.<tenant>.<device>`) even when its bytes do not.
fn device_of(subject: &str, payload: &[u8]) -> Option<DeviceId> {
    subject
        .rsplit('.')
        .next()
        .and_then(|d| DeviceId::parse(d).ok())
        .or_else(|| Envelope::probe_device(payload))
}

/// Refuse a stream whose settings would lose or hide events.
fn check_contract(found: &stream::Config, wanted: &JetStreamConfig) -> Result<(), StoreError> {
    let refuse = |setting: &str, reason: String| {
        Err(StoreError::Misconfigured {
            log: format!("stream {}", wanted.stream),
            setting: setting.to_owned(),
            reason,
        })
    };
    // First: a mirror has no subjects of its own, and "subjects" would
    // name the wrong thing to change.
    if found.mirror.is_some() {
        return refuse("mirror", "a mirror refuses appends".to_owned());
    }
    // A sealed stream can still be read (an archive).
    if found.sealed && !wanted.read_only {
        return refuse("sealed", "a sealed stream refuses appends".to_owned());
    }
    let ours = format!("{}.>", wanted.subject_prefix);
    if !found.subjects.iter().any(|s| subject_covers(s, &ours)) {
        return refuse(
            "subjects",
            format!(
                "{:?} does not cover {ours}: events would not be stored",
                found.subjects
            ),
        );
    }
    if found.retention != RetentionPolicy::Limits {
        return refuse(
            "retention",
            format!(
                "{:?} deletes events once consumed; the log needs limits retention",
                found.retention
            ),
        );
    }
    if found.storage != StorageType::File {
        return refuse(
            "storage",
            "memory storage loses every event when the server restarts; use file".to_owned(),
        );
    }
    if found.discard == DiscardPolicy::Old {
        for (name, limit) in [
            ("max_msgs", found.max_messages),
            ("max_bytes", found.max_bytes),
            ("max_msgs_per_subject", found.max_messages_per_subject),
        ] {
            if limit > 0 {
                return refuse(
                    "discard",
                    format!(
                        "discard old with {name} = {limit} drops the oldest events; remove the limit"
                    ),
                );
            }
        }
    }
    if found.max_messages_per_subject > 0 {
        return refuse(
            "max_msgs_per_subject",
            format!(
                "{} caps each device's history; remove the limit",
                found.max_messages_per_subject
            ),
        );
    }
    let want_age = wanted.max_age.unwrap_or_default();
    if found.max_age != want_age && !wanted.read_only {
        return refuse(
            "max_age",
            format!(
                "the stream keeps events {}, the configuration says {}",
                describe_age(found.max_age),
                describe_age(want_age)
            ),
        );
    }
    if found.no_ack && !wanted.read_only {
        return refuse(
            "no_ack",
            "appends must be acknowledged to be known durable".to_owned(),
        );
    }
    if found.num_replicas != wanted.replicas.max(1) {
        tracing::warn!(
            stream = %wanted.stream,
            found = found.num_replicas,
            configured = wanted.replicas,
            "the events stream has a different number of replicas than configured"
        );
    }
    Ok(())
}

fn describe_age(age: Duration) -> String {
    if age.is_zero() {
        "forever".to_owned()
    } else {
        format!("for {} s", age.as_secs())
    }
}

/// Whether the subject filter `pattern` matches every subject of `target`
/// (both may hold `*` and a final `>`).
fn subject_covers(pattern: &str, target: &str) -> bool {
    let mut p = pattern.split('.');
    let mut t = target.split('.');
    loop {
        match (p.next(), t.next()) {
            (Some(">"), Some(_)) => return true,
            (Some(_), Some(">")) | (Some(_), None) | (None, Some(_)) => return false,
            (None, None) => return true,
            (Some("*"), Some(tt)) if tt != ">" => {}
            (Some(pp), Some(tt)) if pp == tt && tt != "*" => {}
            (Some(_), Some(_)) => return false,
        }
    }
}

#[path = "jetstream_compact.rs"]
mod compact;

impl EventLog for JetStreamLog {
    fn compact<'a>(
        &'a self,
        device: &'a DeviceId,
        keep_from: u64,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(self.compact_inner(device, keep_from))
    }

    fn oldest_events<'a>(
        &'a self,
        device: &'a DeviceId,
        cutoff: crate::domain::Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Envelope>, StoreError>> {
        Box::pin(self.oldest_events_inner(device, cutoff))
    }

    fn checkpoints(&self) -> Option<Arc<dyn super::checkpoint::CheckpointStore>> {
        Some(self.inner.checkpoints.clone())
    }

    fn append<'a>(
        &'a self,
        device: &'a DeviceId,
        expected_seq: u64,
        events: Vec<Envelope>,
    ) -> BoxFuture<'a, Result<u64, AppendError>> {
        Box::pin(self.append_inner(device, expected_seq, events))
    }

    fn last_seq<'a>(&'a self, device: &'a DeviceId) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(self.last_seq_inner(device))
    }

    fn replay(&self, from: GlobalSeq) -> BoxStream<'static, Result<Positioned, StoreError>> {
        self.read(format!("{}.>", self.inner.prefix), from, true)
    }

    fn device_history(
        &self,
        device: &DeviceId,
    ) -> BoxStream<'static, Result<Envelope, StoreError>> {
        self.read(format!("{}.*.{device}", self.inner.prefix), 1, true)
            .map(|item| item.map(|(_, env)| env))
            .boxed()
    }

    fn tail(&self, from: GlobalSeq) -> BoxStream<'static, Result<Positioned, StoreError>> {
        self.read(format!("{}.>", self.inner.prefix), from, false)
    }
}

#[cfg(test)]
mod tests {
    use super::subject_covers;

    #[test]
    fn subject_coverage() {
        assert!(subject_covers("backup.events.>", "backup.events.>"));
        assert!(subject_covers(">", "backup.events.>"));
        assert!(subject_covers("backup.>", "backup.events.>"));
        assert!(subject_covers("*.events.>", "backup.events.>"));
        assert!(!subject_covers("backup.events.*", "backup.events.>"));
        assert!(!subject_covers("backup.events.t1.>", "backup.events.>"));
        assert!(!subject_covers("other.>", "backup.events.>"));
        assert!(!subject_covers("backup.events", "backup.events.>"));
    }
}
