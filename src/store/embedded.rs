//! The embedded event log: one redb file, the default without NATS.
//!
//! Same contract and same conflict rule as JetStream, for a single daemon on
//! one host. Two tables:
//!
//! - `events`: global sequence → envelope JSON (the same bytes JetStream
//!   would store);
//! - `device_events`: (device, sequence) → global sequence, so a device's
//!   history and last sequence are one range read.
//!
//! Appends go through one writer thread that commits with fsync before it
//! answers (durable on return). While a commit is on disk, new appends
//! queue up and the next commit takes them all at once (group commit): each
//! one is still checked against its device's sequence on its own, but many
//! devices share one fsync.
//!
//! After a storage error (a full disk, a failed fsync) redb refuses every
//! later operation on that handle. The log then drops the handle: the
//! appends of the failed commit are answered with
//! [`StoreError::Unavailable`] (nothing of them is acknowledged; a retry of
//! the same envelopes is safe), and the next use of the log reopens the
//! file (redb repairs it if needed), so appends succeed again once the disk
//! has space, without a restart.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::{oneshot, watch};

use super::{AppendError, EventLog, GlobalSeq, Positioned, StoreError, check_batch};
use crate::domain::{DeviceId, Envelope};

const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");
const DEVICE_EVENTS: TableDefinition<(&str, u64), u64> = TableDefinition::new("device_events");

/// The file name under the data directory.
pub const FILE_NAME: &str = "events.redb";

/// How many events one read copies out of the database at a time.
const CHUNK: usize = 4096;
/// At most this many queued appends share one commit.
const GROUP: usize = 4096;

/// The embedded event log. Cloning gives another handle on the same file.
#[derive(Clone)]
pub struct EmbeddedLog {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    path: PathBuf,
    /// `None` only while dropping.
    writer: Option<mpsc::Sender<Request>>,
    writer_thread: Option<std::thread::JoinHandle<()>>,
    last_global: watch::Receiver<GlobalSeq>,
}

/// What the writer thread and the readers share: the open database (or
/// none, after a storage error, until the next use reopens it).
struct Shared {
    path: PathBuf,
    db: Mutex<Option<Arc<Database>>>,
    /// The last global sequence committed (what bounds replay and wakes tails).
    last_global: watch::Sender<GlobalSeq>,
    /// The storage seam (tests inject a full disk through it).
    faults: Arc<Faults>,
}

impl Shared {
    /// The open database, reopening the file if a storage error closed it.
    /// Hold the handle only as long as needed: the file can only be reopened
    /// once every handle on the failed database is gone.
    fn db(&self) -> Result<Arc<Database>, StoreError> {
        let mut slot = self.db.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(db) = &*slot {
            return Ok(db.clone());
        }
        let db = Arc::new(open_database(&self.path, &self.faults)?);
        // A commit whose answer was an error may still have reached the disk.
        let last = last_global(&db, &self.path)?;
        self.last_global.send_if_modified(|g| {
            let newer = last > *g;
            *g = (*g).max(last);
            newer
        });
        *slot = Some(db.clone());
        Ok(db)
    }

    /// A read transaction on the open database (the handle itself is not
    /// kept: a failed database must be free to go).
    fn begin_read(&self) -> Result<redb::ReadTransaction, StoreError> {
        let db = self.db()?;
        db.begin_read().map_err(|e| {
            self.invalidate(&db);
            storage(&self.path, "cannot read", e)
        })
    }

    /// A storage error happened on `failed`: stop handing it out, so that
    /// the next use reopens the file.
    fn invalidate(&self, failed: &Arc<Database>) {
        let mut slot = self.db.lock().unwrap_or_else(|p| p.into_inner());
        if slot.as_ref().is_some_and(|db| Arc::ptr_eq(db, failed)) {
            *slot = None;
        }
    }
}

/// Faults injected under the database: how many more writes, length
/// changes and fsyncs succeed before each one fails as on a full disk.
/// Unlimited unless a test says otherwise.
#[derive(Debug)]
struct Faults {
    allowed: AtomicU64,
}

impl Faults {
    fn none() -> Self {
        Faults {
            allowed: AtomicU64::new(u64::MAX),
        }
    }

    fn check(&self) -> io::Result<()> {
        if self.allowed.load(Ordering::Relaxed) == u64::MAX {
            return Ok(());
        }
        match self
            .allowed
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
        {
            Ok(_) => Ok(()),
            Err(_) => Err(io::Error::new(
                io::ErrorKind::StorageFull,
                "no space left on device (injected)",
            )),
        }
    }

    /// Let `n` more mutating operations through, then fail every one.
    #[cfg(test)]
    fn fail_after(&self, n: u64) {
        self.allowed.store(n, Ordering::Relaxed);
    }

    /// Space is back.
    #[cfg(test)]
    fn heal(&self) {
        self.allowed.store(u64::MAX, Ordering::Relaxed);
    }
}

/// redb's file backend behind the fault seam.
#[derive(Debug)]
struct Disk {
    file: redb::backends::FileBackend,
    faults: Arc<Faults>,
}

impl redb::StorageBackend for Disk {
    fn len(&self) -> io::Result<u64> {
        self.file.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        self.file.read(offset, out)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.faults.check()?;
        self.file.set_len(len)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.faults.check()?;
        self.file.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.faults.check()?;
        self.file.write(offset, data)
    }

    fn close(&self) -> io::Result<()> {
        self.file.close()
    }
}

/// Open (or create) the database file and its tables.
fn open_database(path: &Path, faults: &Arc<Faults>) -> Result<Database, StoreError> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| storage(path, "cannot open", e))?;
    let file =
        redb::backends::FileBackend::new(file).map_err(|e| storage(path, "cannot open", e))?;
    // A bounded page cache: the log is read in full only at start-up, and
    // an idle daemon of 100 000 devices must stay small.
    let db = redb::Builder::new()
        .set_cache_size(CACHE_BYTES)
        .create_with_backend(Disk {
            file,
            faults: faults.clone(),
        })
        .map_err(|e| storage(path, "cannot open", e))?;
    // Create the tables so that readers never see them missing.
    let tx = db
        .begin_write()
        .map_err(|e| storage(path, "cannot write", e))?;
    tx.open_table(EVENTS)
        .map_err(|e| storage(path, "cannot open table events", e))?;
    tx.open_table(DEVICE_EVENTS)
        .map_err(|e| storage(path, "cannot open table device_events", e))?;
    tx.commit().map_err(|e| storage(path, "cannot commit", e))?;
    Ok(db)
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Stop the writer and wait for it, so that the file is closed when
        // the last handle goes (a reopen in the same process must work).
        self.writer.take();
        if let Some(thread) = self.writer_thread.take() {
            let _ = thread.join();
        }
    }
}

struct Request {
    device: DeviceId,
    expected_seq: u64,
    encoded: Vec<Vec<u8>>,
    reply: oneshot::Sender<Result<u64, AppendError>>,
}

impl std::fmt::Debug for EmbeddedLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedLog")
            .field("path", &self.inner.path)
            .finish()
    }
}

fn storage(path: &Path, what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::unavailable(format!("{}: {what}: {e}", path.display()))
}

/// redb's page cache (its default grows to a large share of memory).
const CACHE_BYTES: usize = 16 * 1024 * 1024;

impl EmbeddedLog {
    /// Open (or create) the log at `<data_dir>/events.redb`.
    pub fn open_dir(data_dir: &Path) -> Result<Self, StoreError> {
        crate::private_fs::create_dir(data_dir)
            .map_err(|e| storage(data_dir, "cannot create the data directory", e))?;
        let path = data_dir.join(FILE_NAME);
        // Created 0600 before redb opens it (redb would create it 0644);
        // an existing log readable by others is narrowed.
        if let Some(had) = crate::private_fs::ensure_file(&path)
            .map_err(|e| storage(&path, "cannot create the log file", e))?
        {
            tracing::warn!(log = %path.display(), mode = format!("{had:o}"), "the event log was readable by others: narrowed to 600");
        }
        Self::open(&path)
    }

    /// Open (or create) the log in this file. Only one process may hold it.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(path, Arc::new(Faults::none()))
    }

    fn open_with(path: &Path, faults: Arc<Faults>) -> Result<Self, StoreError> {
        let (last_tx, last_rx) = watch::channel(0);
        let shared = Arc::new(Shared {
            path: path.to_owned(),
            db: Mutex::new(None),
            last_global: last_tx,
            faults,
        });
        drop(shared.db()?);
        let (writer, requests) = mpsc::channel();
        let writer_shared = shared.clone();
        let writer_thread = std::thread::Builder::new()
            .name("confkeep-redb-writer".into())
            .spawn(move || write_loop(&writer_shared, &requests))
            .map_err(|e| storage(path, "cannot start the writer thread", e))?;
        Ok(EmbeddedLog {
            inner: Arc::new(Inner {
                shared,
                path: path.to_owned(),
                writer: Some(writer),
                writer_thread: Some(writer_thread),
                last_global: last_rx,
            }),
        })
    }

    /// The file this log lives in.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Read events with global sequence in `[from, to]`, at most `CHUNK`.
    fn read_chunk(
        shared: &Shared,
        from: GlobalSeq,
        to: GlobalSeq,
    ) -> Result<Vec<Result<Positioned, StoreError>>, StoreError> {
        let path = &shared.path;
        let tx = shared.begin_read()?;
        let table = tx
            .open_table(EVENTS)
            .map_err(|e| storage(path, "cannot open table events", e))?;
        let range = table
            .range(from.max(1)..=to)
            .map_err(|e| storage(path, "cannot read events", e))?;
        let mut out = Vec::with_capacity(CHUNK.min(to.saturating_sub(from) as usize + 1));
        for row in range.take(CHUNK) {
            let (key, value) = row.map_err(|e| storage(path, "cannot read events", e))?;
            let global = key.value();
            out.push(decode(path, global, value.value()).map(|env| (global, env)));
        }
        Ok(out)
    }

    fn history_sync(
        &self,
        device: &DeviceId,
    ) -> Result<Vec<Result<Envelope, StoreError>>, StoreError> {
        let path = &self.inner.path;
        let tx = self.inner.shared.begin_read()?;
        let index = tx
            .open_table(DEVICE_EVENTS)
            .map_err(|e| storage(path, "cannot open table device_events", e))?;
        let events = tx
            .open_table(EVENTS)
            .map_err(|e| storage(path, "cannot open table events", e))?;
        let mut out = Vec::new();
        let range = index
            .range((device.as_str(), 0)..=(device.as_str(), u64::MAX))
            .map_err(|e| storage(path, "cannot read device_events", e))?;
        for row in range {
            let (_, global) = row.map_err(|e| storage(path, "cannot read device_events", e))?;
            let global = global.value();
            let bytes = events
                .get(global)
                .map_err(|e| storage(path, "cannot read events", e))?
                .ok_or_else(|| {
                    storage(
                        path,
                        "index points at a missing event",
                        format!("device {device} -> events key {global}"),
                    )
                })?;
            out.push(decode(path, global, bytes.value()));
        }
        Ok(out)
    }

    fn last_seq_sync(&self, device: &DeviceId) -> Result<u64, StoreError> {
        let path = &self.inner.path;
        let tx = self.inner.shared.begin_read()?;
        let index = tx
            .open_table(DEVICE_EVENTS)
            .map_err(|e| storage(path, "cannot open table device_events", e))?;
        device_last(&index, device.as_str())
            .map_err(|e| storage(path, "cannot read device_events", e))
    }

    /// Read `[from, to]` chunk by chunk; `to = None` waits for new events.
    fn read(
        &self,
        from: GlobalSeq,
        to: Option<GlobalSeq>,
    ) -> BoxStream<'static, Result<Positioned, StoreError>> {
        let log = self.clone();
        let changed = self.inner.last_global.clone();
        futures::stream::unfold(
            (from.max(1), changed, false),
            move |(next, mut changed, ended)| {
                let log = log.clone();
                async move {
                    if ended {
                        return None;
                    }
                    loop {
                        changed.borrow_and_update();
                        let last = to.unwrap_or(GlobalSeq::MAX);
                        if next > last {
                            return None;
                        }
                        let shared = log.inner.shared.clone();
                        let chunk = tokio::task::spawn_blocking(move || {
                            Self::read_chunk(&shared, next, last)
                        })
                        .await
                        .unwrap_or_else(|e| {
                            Err(StoreError::unavailable(format!("reader failed: {e}")))
                        });
                        let chunk = match chunk {
                            Ok(chunk) => chunk,
                            Err(e) => {
                                let items = futures::stream::iter(vec![Err(e)]);
                                return Some((items, (next, changed, true)));
                            }
                        };
                        let last_read = chunk.iter().rev().find_map(|item| match item {
                            Ok((g, _)) => Some(*g),
                            Err(StoreError::Decode { seq, .. }) => Some(*seq),
                            Err(_) => None,
                        });
                        if let Some(last_read) = last_read {
                            return Some((
                                futures::stream::iter(chunk),
                                (last_read + 1, changed, false),
                            ));
                        }
                        if to.is_some() {
                            return None;
                        }
                        changed.changed().await.ok()?;
                    }
                }
            },
        )
        .flatten()
        .boxed()
    }
}

impl EmbeddedLog {
    /// Replay `[from, to]` from one read transaction on a thread of its
    /// own, reading and decoding a few chunks ahead of the consumer, so that
    /// decoding overlaps with whatever the consumer does (folding).
    fn read_ahead(
        &self,
        from: GlobalSeq,
        to: GlobalSeq,
    ) -> BoxStream<'static, Result<Positioned, StoreError>> {
        let (tx, rx) = tokio::sync::mpsc::channel::<Vec<Result<Positioned, StoreError>>>(4);
        let shared = self.inner.shared.clone();
        let path = self.inner.path.clone();
        let reader = move || {
            let send_err = |e: StoreError| {
                let _ = tx.blocking_send(vec![Err(e)]);
            };
            let tx_read = match shared.begin_read() {
                Ok(t) => t,
                Err(e) => return send_err(e),
            };
            drop(shared);
            let table = match tx_read.open_table(EVENTS) {
                Ok(t) => t,
                Err(e) => return send_err(storage(&path, "cannot open table events", e)),
            };
            let range = match table.range(from.max(1)..=to) {
                Ok(r) => r,
                Err(e) => return send_err(storage(&path, "cannot read events", e)),
            };
            let mut chunk = Vec::with_capacity(CHUNK);
            for row in range {
                let (key, value) = match row {
                    Ok(kv) => kv,
                    Err(e) => {
                        chunk.push(Err(storage(&path, "cannot read events", e)));
                        break;
                    }
                };
                let global = key.value();
                chunk.push(decode(&path, global, value.value()).map(|env| (global, env)));
                if chunk.len() == CHUNK
                    && tx
                        .blocking_send(std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK)))
                        .is_err()
                {
                    return; // the consumer went away
                }
            }
            if !chunk.is_empty() {
                let _ = tx.blocking_send(chunk);
            }
        };
        if let Err(e) = std::thread::Builder::new()
            .name("confkeep-redb-replay".into())
            .spawn(reader)
        {
            let e = storage(&self.inner.path, "cannot start a reader thread", e);
            return futures::stream::iter(vec![Err(e)]).boxed();
        }
        futures::stream::unfold(rx, |mut rx| async move {
            let chunk = rx.recv().await?;
            Some((futures::stream::iter(chunk), rx))
        })
        .flatten()
        .scan(false, |ended, item| {
            // Any error but a bad record ends the stream (the contract).
            if *ended {
                return futures::future::ready(None);
            }
            *ended = matches!(item, Err(StoreError::Unavailable { .. }));
            futures::future::ready(Some(item))
        })
        .boxed()
    }
}

fn decode(path: &Path, global: GlobalSeq, bytes: &[u8]) -> Result<Envelope, StoreError> {
    super::codec::decode(bytes).map_err(|source| StoreError::Decode {
        location: format!("{} table events key {global}", path.display()),
        seq: global,
        device: Envelope::probe_device(bytes),
        source,
    })
}

fn device_last(
    index: &impl ReadableTable<(&'static str, u64), u64>,
    device: &str,
) -> Result<u64, redb::StorageError> {
    let mut range = index.range((device, 0)..=(device, u64::MAX))?;
    Ok(match range.next_back() {
        Some(row) => row?.0.value().1,
        None => 0,
    })
}

fn last_global(db: &Database, path: &Path) -> Result<GlobalSeq, StoreError> {
    let tx = db
        .begin_read()
        .map_err(|e| storage(path, "cannot read", e))?;
    let table = tx
        .open_table(EVENTS)
        .map_err(|e| storage(path, "cannot open table events", e))?;
    let last = table
        .last()
        .map_err(|e| storage(path, "cannot read events", e))?;
    Ok(last.map_or(0, |(k, _)| k.value()))
}

/// The writer thread: take every queued append, check and write each in one
/// transaction, commit (fsync), then answer.
///
/// A storage error fails the whole group with [`StoreError::Unavailable`]
/// (nothing of it is acknowledged, though a commit that failed late may be
/// on disk: a retry of the same envelopes then succeeds without a
/// duplicate) and drops the database handle, which redb no longer trusts;
/// the next group reopens the file, and fails the same way while the disk
/// still refuses.
fn write_loop(shared: &Shared, requests: &mpsc::Receiver<Request>) {
    let path = shared.path.as_path();
    while let Ok(first) = requests.recv() {
        let mut group = vec![first];
        while group.len() < GROUP {
            match requests.try_recv() {
                Ok(r) => group.push(r),
                Err(_) => break,
            }
        }
        let written = shared
            .db()
            .and_then(|db| write_group(&db, path, &group).inspect_err(|_| shared.invalidate(&db)));
        match written {
            Ok((answers, last)) => {
                shared.last_global.send_if_modified(|g| {
                    let newer = last > *g;
                    *g = (*g).max(last);
                    newer
                });
                for (req, answer) in group.into_iter().zip(answers) {
                    let _ = req.reply.send(answer);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, appends = group.len(),
                    "embedded event log: commit failed; the appends are not acknowledged and the file is reopened at the next append");
                let reason =
                    format!("{e} (not acknowledged; the log reopens the file at the next append)");
                for req in group {
                    let _ = req.reply.send(Err(StoreError::unavailable(&reason).into()));
                }
            }
        }
    }
}

type Answers = Vec<Result<u64, AppendError>>;

fn write_group(
    db: &Database,
    path: &Path,
    group: &[Request],
) -> Result<(Answers, GlobalSeq), StoreError> {
    let tx = db
        .begin_write()
        .map_err(|e| storage(path, "cannot write", e))?;
    let mut answers = Vec::with_capacity(group.len());
    let last;
    {
        let mut events = tx
            .open_table(EVENTS)
            .map_err(|e| storage(path, "cannot open table events", e))?;
        let mut index = tx
            .open_table(DEVICE_EVENTS)
            .map_err(|e| storage(path, "cannot open table device_events", e))?;
        let mut next = events
            .last()
            .map_err(|e| storage(path, "cannot read events", e))?
            .map_or(0, |(k, _)| k.value())
            + 1;
        for req in group {
            let device = req.device.as_str();
            let actual = device_last(&index, device)
                .map_err(|e| storage(path, "cannot read device_events", e))?;
            if actual != req.expected_seq {
                answers.push(retry_or_conflict(&events, &index, req, actual, path)?);
                continue;
            }
            for (i, bytes) in req.encoded.iter().enumerate() {
                let seq = req.expected_seq + i as u64 + 1;
                events
                    .insert(next, bytes.as_slice())
                    .map_err(|e| storage(path, "cannot write events", e))?;
                index
                    .insert((device, seq), next)
                    .map_err(|e| storage(path, "cannot write device_events", e))?;
                next += 1;
            }
            answers.push(Ok(req.expected_seq + req.encoded.len() as u64));
        }
        last = next - 1;
    }
    tx.commit().map_err(|e| storage(path, "cannot commit", e))?;
    Ok((answers, last))
}

/// An append whose expected sequence is behind: a retry of events already
/// recorded (same bytes) succeeds; anything else is a conflict.
fn retry_or_conflict(
    events: &impl ReadableTable<u64, &'static [u8]>,
    index: &impl ReadableTable<(&'static str, u64), u64>,
    req: &Request,
    actual: u64,
    path: &Path,
) -> Result<Result<u64, AppendError>, StoreError> {
    let end = req.expected_seq + req.encoded.len() as u64;
    if req.encoded.is_empty() || actual < end {
        return Ok(Err(AppendError::Conflict { actual }));
    }
    for (i, bytes) in req.encoded.iter().enumerate() {
        let seq = req.expected_seq + i as u64 + 1;
        let global = index
            .get((req.device.as_str(), seq))
            .map_err(|e| storage(path, "cannot read device_events", e))?
            .map(|g| g.value());
        let stored = match global {
            Some(g) => events
                .get(g)
                .map_err(|e| storage(path, "cannot read events", e))?
                .map(|v| v.value() == bytes.as_slice()),
            None => None,
        };
        if stored != Some(true) {
            return Ok(Err(AppendError::Conflict { actual }));
        }
    }
    Ok(Ok(end))
}

#[path = "embedded_checkpoints.rs"]
mod checkpoints;
#[path = "embedded_compact.rs"]
mod compact;
pub use checkpoints::EmbeddedCheckpoints;
pub use compact::FileUse;

impl EventLog for EmbeddedLog {
    fn compact<'a>(
        &'a self,
        device: &'a DeviceId,
        keep_from: u64,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        let shared = self.inner.shared.clone();
        let device = device.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || compact::compact(&shared, &device, keep_from))
                .await
                .map_err(|e| StoreError::unavailable(format!("a compaction task failed: {e}")))?
        })
    }

    fn checkpoints(&self) -> Option<Arc<dyn super::checkpoint::CheckpointStore>> {
        Some(Arc::new(EmbeddedCheckpoints {
            shared: self.inner.shared.clone(),
        }))
    }

    fn append<'a>(
        &'a self,
        device: &'a DeviceId,
        expected_seq: u64,
        events: Vec<Envelope>,
    ) -> BoxFuture<'a, Result<u64, AppendError>> {
        Box::pin(async move {
            check_batch(device, expected_seq, &events)?;
            let mut encoded = Vec::with_capacity(events.len());
            for env in &events {
                encoded.push(super::codec::encode(env).map_err(|e| AppendError::Invalid {
                    device: device.clone(),
                    reason: e.to_string(),
                })?);
            }
            let (reply, answer) = oneshot::channel();
            let stopped = || StoreError::unavailable("the embedded log's writer has stopped");
            self.inner
                .writer
                .as_ref()
                .ok_or_else(stopped)?
                .send(Request {
                    device: device.clone(),
                    expected_seq,
                    encoded,
                    reply,
                })
                .map_err(|_| stopped())?;
            answer.await.map_err(|_| stopped())?
        })
    }

    fn last_seq<'a>(&'a self, device: &'a DeviceId) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(async move {
            let log = self.clone();
            let device = device.clone();
            tokio::task::spawn_blocking(move || log.last_seq_sync(&device))
                .await
                .unwrap_or_else(|e| Err(StoreError::unavailable(format!("reader failed: {e}"))))
        })
    }

    fn replay(&self, from: GlobalSeq) -> BoxStream<'static, Result<Positioned, StoreError>> {
        let end = *self.inner.last_global.borrow();
        self.read_ahead(from, end)
    }

    fn device_history(
        &self,
        device: &DeviceId,
    ) -> BoxStream<'static, Result<Envelope, StoreError>> {
        let log = self.clone();
        let device = device.clone();
        futures::stream::once(async move {
            let items = tokio::task::spawn_blocking(move || log.history_sync(&device))
                .await
                .unwrap_or_else(|e| Err(StoreError::unavailable(format!("reader failed: {e}"))));
            match items {
                Ok(items) => futures::stream::iter(items),
                Err(e) => futures::stream::iter(vec![Err(e)]),
            }
        })
        .flatten()
        .boxed()
    }

    fn tail(&self, from: GlobalSeq) -> BoxStream<'static, Result<Positioned, StoreError>> {
        self.read(from, None)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::domain::{TenantId, Timestamp};
    use crate::store::fold::sample_history;

    fn dev(name: &str) -> DeviceId {
        DeviceId::parse(name).unwrap()
    }

    /// The first `n` envelopes of a device's sample history.
    fn history_of(name: &str, n: u64) -> Vec<Envelope> {
        let tenant = TenantId::parse("acme").unwrap();
        sample_history(&dev(name), &tenant, Timestamp(1_700_000_000_000), n)
    }

    async fn replayed(log: &EmbeddedLog) -> Vec<Envelope> {
        log.replay(0)
            .map(|item| item.expect("replay item").1)
            .collect()
            .await
    }

    fn assert_unavailable(result: Result<u64, AppendError>) {
        match result {
            Err(AppendError::Store(StoreError::Unavailable { reason })) => {
                assert!(reason.contains("not acknowledged"), "{reason}")
            }
            other => panic!("expected the log to be unavailable, got {other:?}"),
        }
    }

    /// A full disk fails the appends it catches; once space is back the
    /// same handle appends again (no restart) and the log holds exactly what
    /// was acknowledged, also after a real reopen of the file.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_disk_fails_appends_until_space_is_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let faults = Arc::new(Faults::none());
        let log = EmbeddedLog::open_with(&path, faults.clone()).unwrap();
        let (a, b) = (history_of("disk-a", 3), history_of("disk-b", 3));
        assert_eq!(
            log.append(&dev("disk-a"), 0, a[..1].to_vec())
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            log.append(&dev("disk-b"), 0, b[..1].to_vec())
                .await
                .unwrap(),
            1
        );
        let mut tail = log.tail(0);

        faults.fail_after(0);
        assert_unavailable(log.append(&dev("disk-a"), 1, a[1..2].to_vec()).await);
        // Still full: the reopen fails too, and says so.
        assert_unavailable(log.append(&dev("disk-b"), 1, b[1..2].to_vec()).await);
        assert!(log.last_seq(&dev("disk-a")).await.is_err());

        faults.heal();
        assert_eq!(
            log.append(&dev("disk-a"), 1, a[1..2].to_vec())
                .await
                .unwrap(),
            2
        );
        assert_eq!(
            log.append(&dev("disk-b"), 1, b[1..].to_vec())
                .await
                .unwrap(),
            3
        );
        assert_eq!(log.last_seq(&dev("disk-a")).await.unwrap(), 2);
        let want = vec![
            a[0].clone(),
            b[0].clone(),
            a[1].clone(),
            b[1].clone(),
            b[2].clone(),
        ];
        assert_eq!(replayed(&log).await, want);
        // A tail opened before the failure carries on, without gaps.
        let mut seen = Vec::new();
        while seen.len() < want.len() {
            let item = tokio::time::timeout(Duration::from_secs(10), tail.next())
                .await
                .expect("tail stalled")
                .expect("tail ended")
                .unwrap();
            seen.push(item);
        }
        assert_eq!(
            seen.iter().map(|(g, _)| *g).collect::<Vec<_>>(),
            vec![1, 2, 3, 4, 5]
        );
        assert_eq!(seen.into_iter().map(|(_, e)| e).collect::<Vec<_>>(), want);
        drop(tail);
        drop(log);
        let reopened = EmbeddedLog::open(&path).unwrap();
        assert_eq!(replayed(&reopened).await, want);
    }

    /// The disk refusing at any point of a commit (a write, a length change,
    /// an fsync) never loses an acknowledged event, and a retry of the failed
    /// append succeeds with exactly one copy stored, whether or not the
    /// failed commit had reached the disk.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_commit_failing_at_any_step_loses_nothing_acknowledged() {
        let events = history_of("step", 3);
        let (mut failures, mut landed) = (0, 0);
        for allowed in 0..1_000u64 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join(FILE_NAME);
            let faults = Arc::new(Faults::none());
            let log = EmbeddedLog::open_with(&path, faults.clone()).unwrap();
            let d = dev("step");
            assert_eq!(log.append(&d, 0, events[..1].to_vec()).await.unwrap(), 1);
            faults.fail_after(allowed);
            let first_try = log.append(&d, 1, events[1..].to_vec()).await;
            faults.heal();
            if first_try.is_ok() {
                // The commit needs no more than `allowed` operations: every
                // step before has been made to fail.
                assert!(failures > 0, "no failure was ever injected");
                // Both kinds happen: a failure before the commit reached the
                // disk, and one after (an unknown outcome, settled by the retry).
                assert!(landed > 0 && landed < failures, "{landed} of {failures}");
                assert_eq!(replayed(&log).await, events);
                return;
            }
            failures += 1;
            assert_unavailable(first_try);
            // Reading reopens the file as well.
            if log.last_seq(&d).await.unwrap() == 3 {
                landed += 1;
            }
            assert_eq!(
                log.append(&d, 1, events[1..].to_vec()).await.unwrap(),
                3,
                "retry after a failure at operation {allowed}"
            );
            assert_eq!(
                replayed(&log).await,
                events,
                "failure at operation {allowed}"
            );
            drop(log);
            let reopened = EmbeddedLog::open(&path).unwrap();
            assert_eq!(
                replayed(&reopened).await,
                events,
                "failure at operation {allowed}"
            );
        }
        panic!("a commit never succeeded");
    }
}
