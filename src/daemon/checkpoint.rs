//! Checkpoints, wired: the newest usable one is taken up at start-up by
//! the board and the runner alike, and new ones are written while the
//! daemon runs (every `checkpoint_every_events` folded or
//! `checkpoint_every_secs`, and once more at shutdown).
//!
//! The board is encoded under its lock (the projector waits that long; a
//! measured figure is in the README), the body compressed, then stored
//! outside the lock. A checkpoint that cannot be written is said in the log
//! and tried again at the next occasion: the log is still whole, only the
//! next start folds a longer tail.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use crate::domain::RULES_VERSION;
use crate::effects::config::HistoryConfig;
use crate::effects::runner::{Clock, Runner};
use crate::projections::status::{CHECKPOINT_FORMAT, StatusBoard};
use crate::store::checkpoint::{CheckpointMeta, CheckpointStore, Wanted, newest_usable, prune};
use crate::store::{EventLog, GlobalSeq};

/// What start-up took from a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    pub name: String,
    pub position: GlobalSeq,
    pub devices: usize,
    /// Newer checkpoints that were skipped (each said in the log).
    pub skipped: usize,
}

/// The newest usable checkpoint of `log`, decoded into a board (whose
/// device states are also the runner's machines at the same position).
/// `None`: there is none (or the list could not be read: said in the
/// log), and the fold starts from the beginning.
pub async fn newest(log: &dyn EventLog) -> Option<(Restored, StatusBoard)> {
    let store = log.checkpoints()?;
    let log_id = store.log_id();
    let usable = match newest_usable(store.as_ref(), wanted(&log_id), decode).await {
        Ok(u) => u?,
        Err(e) => {
            tracing::warn!(store = %store.describe(), error = %e, "the checkpoints cannot be listed; folding the log from the start");
            return None;
        }
    };
    let restored = Restored {
        name: usable.meta.name,
        position: usable.meta.position,
        devices: usable.state.len(),
        skipped: usable.skipped,
    };
    Some((restored, usable.state))
}

/// What this release can start from: its rules, its board format, this log.
pub fn wanted(log_id: &str) -> Wanted<'_> {
    Wanted {
        rules: RULES_VERSION,
        format: CHECKPOINT_FORMAT,
        log: log_id,
        at_most: GlobalSeq::MAX,
    }
}

/// A checkpoint body as the board it holds.
pub fn decode(meta: &CheckpointMeta, body: &[u8]) -> Result<StatusBoard, String> {
    StatusBoard::from_checkpoint_body(body, meta.rules, meta.position).map_err(|e| e.to_string())
}

/// Take up the newest usable checkpoint into `board` and `runner`, before
/// either folds anything (see [`newest`]).
pub async fn take_up(
    log: &dyn EventLog,
    board: &Mutex<StatusBoard>,
    runner: &mut Runner,
) -> Option<Restored> {
    let (restored, state) = newest(log).await?;
    runner.restore(restored.position, state.states().cloned(), state.slots());
    if let Ok(mut b) = board.lock() {
        *b = state;
    }
    Some(restored)
}

/// Writes checkpoints of the board.
#[derive(Clone)]
pub struct Checkpointer {
    store: Arc<dyn CheckpointStore>,
    board: Arc<Mutex<StatusBoard>>,
    clock: Arc<dyn Clock>,
    settings: HistoryConfig,
    /// The position of the newest checkpoint written (or taken up).
    written: watch::Sender<GlobalSeq>,
    /// One write at a time: the shutdown's write waits for a periodic one
    /// under way (and then finds nothing new to write) rather than storing
    /// the same checkpoint beside it.
    writing: Arc<tokio::sync::Mutex<()>>,
}

impl Checkpointer {
    /// A writer into `log`'s checkpoint store, if it keeps checkpoints and
    /// the settings want them.
    pub fn new(
        log: &dyn EventLog,
        board: Arc<Mutex<StatusBoard>>,
        clock: Arc<dyn Clock>,
        settings: HistoryConfig,
        from: GlobalSeq,
    ) -> Option<Self> {
        let store = log.checkpoints().filter(|_| settings.checkpoints())?;
        Some(Checkpointer {
            store,
            board,
            clock,
            settings,
            written: watch::channel(from).0,
            writing: Arc::default(),
        })
    }

    /// The position of the newest checkpoint written; await `changed()`.
    pub fn written(&self) -> watch::Receiver<GlobalSeq> {
        self.written.subscribe()
    }

    /// Write one now if the board moved since the last one.
    pub async fn write(&self) -> Option<CheckpointMeta> {
        let _one = self.writing.lock().await;
        let last = *self.written.borrow();
        let board = self.board.clone();
        let started = self.clock.now();
        let encoded = tokio::task::spawn_blocking(move || {
            let b = board
                .lock()
                .map_err(|_| "the status board is poisoned".to_owned())?;
            let position = b.checkpoint();
            if position <= last {
                return Ok(None);
            }
            let devices = b.states().count();
            let body = b
                .checkpoint_body(RULES_VERSION)
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(Some((position, devices, body)))
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r);
        let (position, devices, body) = match encoded {
            Ok(Some(e)) => e,
            Ok(None) => return None,
            Err(e) => {
                tracing::warn!(error = %e, "a checkpoint could not be made; trying again later");
                return None;
            }
        };
        let encoded_ms = self.clock.now().millis_since(started);
        let meta = CheckpointMeta::of(
            &body,
            position,
            RULES_VERSION,
            CHECKPOINT_FORMAT,
            &self.store.log_id(),
            self.clock.now().as_millis(),
        );
        if let Err(e) = self.store.save(meta.clone(), body).await {
            tracing::warn!(store = %self.store.describe(), position, error = %e, "a checkpoint could not be stored; the next start folds a longer tail");
            return None;
        }
        self.written.send_replace(position);
        tracing::info!(checkpoint = %meta.name, position, devices, bytes = meta.bytes, encoded_ms, store = %self.store.describe(), "checkpoint written");
        match prune(self.store.as_ref(), self.settings.checkpoints_kept).await {
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(store = %self.store.describe(), error = %e, "old checkpoints could not be removed")
            }
        }
        Some(meta)
    }

    /// Write a checkpoint whenever enough was folded or enough time
    /// passed, until `stop` changes.
    pub async fn run(
        self,
        mut folded: watch::Receiver<GlobalSeq>,
        mut stop: watch::Receiver<bool>,
    ) {
        let every = Duration::from_secs(self.settings.checkpoint_every_secs.max(1));
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            let by_time = tokio::select! {
                changed = folded.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    false
                }
                _ = tick.tick(), if self.settings.checkpoint_every_secs > 0 => true,
                _ = stop.changed() => return,
            };
            let since = (*folded.borrow()).saturating_sub(*self.written.borrow());
            let by_count = self.settings.checkpoint_every_events > 0
                && since >= self.settings.checkpoint_every_events;
            if by_count || (by_time && since > 0) {
                self.write().await;
            }
        }
    }
}
