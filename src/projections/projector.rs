//! The one projector: reads the log from its checkpoint and folds it into
//! the status board and the metrics — replay at start-up, then live.
//!
//! It reads [`EventLog::tail`], never the runner, so what another writer
//! appends (an operator's command, another daemon) shows up exactly like
//! our own events. A record that does not decode or that breaks a device's
//! sequence is reported with where it sits (subject or key, position) and
//! the rest goes on. When the log itself is unavailable, the projector
//! resumes from its checkpoint once it answers again: nothing is folded
//! twice and nothing is skipped.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::watch;

use crate::store::{EventLog, GlobalSeq, Positioned, StoreError};

use super::metrics;
use super::status::StatusBoard;

/// How long the projector waits before reading again after the log failed.
const RETRY: Duration = Duration::from_secs(1);

/// Envelopes folded under one lock of the board at most.
const BATCH: usize = 512;

/// Folds the log into a shared [`StatusBoard`].
#[derive(Clone)]
pub struct Projector {
    log: Arc<dyn EventLog>,
    board: Arc<Mutex<StatusBoard>>,
    /// Bumped after every batch folded: the log position reached.
    folded: watch::Sender<GlobalSeq>,
}

impl Projector {
    /// A projector of `log` into `board`, resuming from the board's
    /// checkpoint.
    pub fn new(log: Arc<dyn EventLog>, board: Arc<Mutex<StatusBoard>>) -> Self {
        let at = board.lock().map(|b| b.checkpoint()).unwrap_or(0);
        Projector {
            log,
            board,
            folded: watch::channel(at).0,
        }
    }

    /// The log position folded so far; await `changed()` to follow it.
    pub fn folded(&self) -> watch::Receiver<GlobalSeq> {
        self.folded.subscribe()
    }

    pub fn board(&self) -> Arc<Mutex<StatusBoard>> {
        self.board.clone()
    }

    fn checkpoint(&self) -> GlobalSeq {
        self.board.lock().map(|b| b.checkpoint()).unwrap_or(0)
    }

    /// Fold the log from the checkpoint to its end as it is now; returns
    /// the envelopes folded. An unavailable log is an error (start-up
    /// reports it); bad records are reported and skipped.
    pub async fn catch_up(&self) -> Result<u64, StoreError> {
        let stream = self.log.replay(self.checkpoint() + 1);
        self.fold(stream).await
    }

    /// Follow the log from the checkpoint until `stop` resolves, folding
    /// each new envelope once; then fold what is left up to the log's end.
    pub async fn follow(self, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            let stream = self.log.tail(self.checkpoint() + 1);
            let ended = tokio::select! {
                r = self.fold(stream) => r.err(),
                _ = &mut stop => {
                    if let Err(e) = self.catch_up().await {
                        tracing::warn!(error = %e, "the projector could not read the log's last events");
                    }
                    return;
                }
            };
            if let Some(e) = ended {
                tracing::warn!(error = %e, "the projector cannot read the event log; resuming from its checkpoint");
            }
            tokio::select! {
                _ = tokio::time::sleep(RETRY) => {}
                _ = &mut stop => return,
            }
        }
    }

    async fn fold(
        &self,
        stream: futures::stream::BoxStream<'static, Result<Positioned, StoreError>>,
    ) -> Result<u64, StoreError> {
        let mut chunks = stream.ready_chunks(BATCH);
        let mut n = 0;
        while let Some(chunk) = chunks.next().await {
            let mut failed = None;
            {
                let Ok(mut board) = self.board.lock() else {
                    return Err(StoreError::unavailable("the status board is poisoned"));
                };
                for item in chunk {
                    match item {
                        Ok((global, env)) => {
                            n += 1;
                            let before = board.last_problem().0;
                            if let Some(change) = board.apply(global, &env) {
                                metrics::publish(&change, &board);
                            }
                            if let (after, Some(p)) = board.last_problem()
                                && after > before
                            {
                                tracing::error!(location = %p.location, global, problem = %p.problem,
                                    "an event breaks its device's sequence; its status is out of date");
                            }
                        }
                        Err(StoreError::Decode {
                            location,
                            seq,
                            device,
                            source,
                        }) => {
                            tracing::error!(location = %location, seq, device = ?device.as_ref().map(|d| d.as_str()), error = %source,
                                "a record of the event log does not decode; its device's status is out of date");
                            board.reject(seq, &location, device.as_ref(), &source.to_string());
                        }
                        Err(e) => failed = Some(e),
                    }
                }
                self.folded.send_replace(board.checkpoint());
            }
            if let Some(e) = failed {
                return Err(e);
            }
        }
        Ok(n)
    }
}
