//! The SQL read model: the status board and the audit trail as PostgreSQL
//! tables, for the platform's dashboards and an operator's own queries.
//!
//! - `backup_device_status`: one row per device, the board's row;
//! - `backup_history`: one row per event, keyed by its log position;
//! - `backup_read_model_checkpoint`: the log position written so far.
//!
//! A projector folds the log like the in-memory board (the same
//! [`StatusBoard`]) and writes in batches — whatever the log has ready, up
//! to [`BATCH`] events — one transaction each: the history rows (a repeat
//! changes nothing) and the checkpoint, and, when due, the rows of the
//! devices touched since the last time (as the fold says at that batch's
//! end): once caught up that is every batch; in a long catch-up, every
//! 50 000 devices or 200 000 events, so an interleaved log does not
//! rewrite a row per event. At start the fold is rebuilt quietly up to the
//! checkpoint and every status row is written from it, so a crash between
//! two row writes leaves nothing stale, and replaying from any checkpoint
//! (even zero) gives the same rows.

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use sqlx::PgPool;

use crate::domain::{DeviceId, Envelope};
use crate::store::{EventLog, GlobalSeq, StoreError};

use super::status::{DeviceStatus, StatusBoard};

/// Events written in one transaction at most.
pub const BATCH: usize = 5_000;

const SCHEMA: &str = include_str!("sql_schema.sql");

/// Why the read model could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReadModelError {
    #[error("read model database: {0}")]
    Sql(#[from] sqlx::Error),
    #[error(transparent)]
    Log(#[from] StoreError),
    #[error("read model writer: {0}")]
    Task(String),
}

/// The projector into PostgreSQL.
pub struct ReadModel {
    pool: PgPool,
    log: Arc<dyn EventLog>,
    board: StatusBoard,
    at: GlobalSeq,
    /// Devices whose status row is not written yet.
    touched: BTreeSet<DeviceId>,
    /// Events folded since status rows were last written.
    since_rows: u64,
    /// Where the tables are, for whoever waits on them (compaction
    /// removes nothing the read model has not written).
    written: tokio::sync::watch::Sender<GlobalSeq>,
}

/// Status rows are written when the log is caught up (a batch that is not
/// full), when this many devices wait, or after this many events: in a
/// long catch-up a device's row is rewritten once per flush, not once per
/// event.
const ROWS_WAITING: usize = 50_000;
const EVENTS_BETWEEN_ROWS: u64 = 200_000;

impl ReadModel {
    /// Create the tables if needed and rebuild the fold up to the
    /// checkpoint (nothing is written for that part).
    pub async fn open(pool: PgPool, log: Arc<dyn EventLog>) -> Result<ReadModel, ReadModelError> {
        Self::open_after(pool, log, None).await
    }

    /// [`ReadModel::open`] on a compacted log: the fold takes up the
    /// archive's events before the live log's.
    pub async fn open_after(
        pool: PgPool,
        log: Arc<dyn EventLog>,
        archive: Option<&crate::store::archive::Archive>,
    ) -> Result<ReadModel, ReadModelError> {
        sqlx::raw_sql(SCHEMA).execute(&pool).await?;
        let at: Option<i64> = sqlx::query_scalar(
            "SELECT global_seq FROM backup_read_model_checkpoint WHERE name = 'main'",
        )
        .fetch_optional(&pool)
        .await?;
        let at = at.map_or(0, |a| a.max(0) as u64);
        let mut board = StatusBoard::new();
        if let Some(archive) = archive {
            archive.for_each(
                |env| {
                    board.apply_archived(env);
                },
                |p| tracing::warn!(problem = %p, "an archived record does not read"),
            );
        }
        let mut quiet = log.replay(1);
        while let Some(item) = quiet.next().await {
            match item {
                Ok((global, env)) if global <= at => {
                    board.apply(global, &env);
                }
                Ok(_) => break,
                Err(StoreError::Unavailable { reason }) => {
                    return Err(StoreError::Unavailable { reason }.into());
                }
                Err(_) => {}
            }
        }
        // Status rows may lag the checkpoint (they are written less often
        // than history, see `write_all`): the fold at the checkpoint is
        // the truth, so every row is written from it once here.
        let rows: Vec<DeviceStatus> = board.rows().collect();
        for part in rows.chunks(BATCH) {
            let mut tx = pool.begin().await?;
            upsert_status(&mut tx, part, at).await?;
            tx.commit().await?;
        }
        Ok(ReadModel {
            pool,
            log,
            board,
            at,
            touched: BTreeSet::new(),
            since_rows: 0,
            written: tokio::sync::watch::channel(at).0,
        })
    }

    /// The log position written so far.
    pub fn checkpoint(&self) -> GlobalSeq {
        self.at
    }

    /// Say every position written to `to` from now on (and this one now).
    pub fn report_to(&mut self, to: tokio::sync::watch::Sender<GlobalSeq>) {
        to.send_replace(self.at);
        self.written = to;
    }

    fn advance(&mut self, at: GlobalSeq) {
        self.at = at;
        self.written.send_replace(at);
    }

    /// Write the log from the checkpoint to its end as it is now, at most
    /// `limit` events (all: `None`); returns the events written.
    pub async fn catch_up(&mut self, limit: Option<u64>) -> Result<u64, ReadModelError> {
        let stream = self.log.replay(self.at + 1);
        let stream = stream.take(limit.map_or(usize::MAX, |l| l as usize));
        self.write_all(stream).await
    }

    /// Follow the log's tail until `stop`, writing what arrives.
    pub async fn follow(
        &mut self,
        stop: impl std::future::Future<Output = ()>,
    ) -> Result<u64, ReadModelError> {
        let stream = self.log.tail(self.at + 1);
        tokio::select! {
            r = self.write_all(stream) => r,
            _ = stop => Ok(0),
        }
    }

    /// Batches are folded here while the previous one is written (a task
    /// of its own), one transaction after the other, so reading and folding
    /// the log overlap the database's work and the checkpoint only grows.
    async fn write_all(
        &mut self,
        stream: impl Stream<Item = Result<(GlobalSeq, Envelope), StoreError>>,
    ) -> Result<u64, ReadModelError> {
        let mut chunks = std::pin::pin!(stream.ready_chunks(BATCH));
        let mut written = 0;
        let mut writing: Option<tokio::task::JoinHandle<Result<GlobalSeq, sqlx::Error>>> = None;
        while let Some(chunk) = chunks.next().await {
            let mut batch = Vec::with_capacity(chunk.len());
            for item in chunk {
                match item {
                    Ok(p) => batch.push(p),
                    Err(e @ StoreError::Unavailable { .. }) => return Err(e.into()),
                    // Undecodable: the board's problem list names it.
                    Err(_) => {}
                }
            }
            written += batch.len() as u64;
            let caught_up = batch.len() < BATCH;
            let Some(prepared) = self.prepare(batch, caught_up) else {
                continue;
            };
            if let Some(previous) = writing.take() {
                self.advance(finished(previous).await?);
            }
            writing = Some(tokio::spawn(store(self.pool.clone(), prepared)));
        }
        if let Some(previous) = writing.take() {
            self.advance(finished(previous).await?);
        }
        if !self.touched.is_empty() {
            let rows = self.rows_waiting();
            let mut tx = self.pool.begin().await?;
            upsert_status(&mut tx, &rows, self.at).await?;
            tx.commit().await?;
        }
        Ok(written)
    }

    fn rows_waiting(&mut self) -> Vec<DeviceStatus> {
        self.since_rows = 0;
        std::mem::take(&mut self.touched)
            .iter()
            .filter_map(|d| self.board.get(d))
            .collect()
    }

    /// Fold a batch; what it writes (the status rows only when due).
    fn prepare(&mut self, batch: Vec<(GlobalSeq, Envelope)>, caught_up: bool) -> Option<Prepared> {
        let last = batch.last().map(|(g, _)| *g)?;
        for (global, env) in &batch {
            self.board.apply(*global, env);
            self.touched.insert(env.device.clone());
        }
        self.since_rows += batch.len() as u64;
        let due = caught_up
            || self.touched.len() >= ROWS_WAITING
            || self.since_rows >= EVENTS_BETWEEN_ROWS;
        let rows = if due { self.rows_waiting() } else { Vec::new() };
        Some(Prepared { batch, rows, last })
    }
}

/// A folded batch, ready to write.
struct Prepared {
    batch: Vec<(GlobalSeq, Envelope)>,
    rows: Vec<DeviceStatus>,
    last: GlobalSeq,
}

async fn finished(
    task: tokio::task::JoinHandle<Result<GlobalSeq, sqlx::Error>>,
) -> Result<GlobalSeq, ReadModelError> {
    match task.await {
        Ok(r) => Ok(r?),
        Err(e) => Err(ReadModelError::Task(e.to_string())),
    }
}

/// One transaction: the history rows, the touched devices' rows, the
/// checkpoint.
async fn store(pool: PgPool, p: Prepared) -> Result<GlobalSeq, sqlx::Error> {
    let mut tx = pool.begin().await?;
    insert_history(&mut tx, &p.batch).await?;
    if !p.rows.is_empty() {
        upsert_status(&mut tx, &p.rows, p.last).await?;
    }
    sqlx::query(
        "INSERT INTO backup_read_model_checkpoint (name, global_seq) VALUES ('main', $1)
         ON CONFLICT (name) DO UPDATE SET global_seq = GREATEST(backup_read_model_checkpoint.global_seq, EXCLUDED.global_seq)",
    )
    .bind(p.last as i64)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(p.last)
}

type Tx = sqlx::Transaction<'static, sqlx::Postgres>;

fn ms(t: crate::domain::Timestamp) -> i64 {
    t.as_millis() as i64
}

async fn insert_history(tx: &mut Tx, batch: &[(GlobalSeq, Envelope)]) -> Result<(), sqlx::Error> {
    let mut cols = HistoryColumns::default();
    for (global, env) in batch {
        cols.global.push(*global as i64);
        cols.device.push(env.device.to_string());
        cols.tenant.push(env.tenant.to_string());
        cols.seq.push(env.seq as i64);
        cols.at.push(ms(env.at));
        cols.node.push(env.node.clone());
        cols.event.push(env.event.name().to_owned());
        cols.after
            .push(env.after.as_ref().map(|a| a.phase.name().to_owned()));
        cols.correlation.push(env.correlation.clone());
        cols.detail
            .push(serde_json::to_value(&env.event).unwrap_or_default());
    }
    sqlx::query(
        "INSERT INTO backup_history
           (global_seq, device_id, tenant_id, seq, recorded_at, node, event, phase_after, correlation, detail)
         SELECT g, d, t, s, to_timestamp(a / 1000.0), n, e, p, c, x
           FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::bigint[],
                       $6::text[], $7::text[], $8::text[], $9::text[], $10::jsonb[])
             AS u(g, d, t, s, a, n, e, p, c, x)
         ON CONFLICT (global_seq) DO NOTHING",
    )
    .bind(cols.global)
    .bind(cols.device)
    .bind(cols.tenant)
    .bind(cols.seq)
    .bind(cols.at)
    .bind(cols.node)
    .bind(cols.event)
    .bind(cols.after)
    .bind(cols.correlation)
    .bind(cols.detail)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[derive(Default)]
struct HistoryColumns {
    global: Vec<i64>,
    device: Vec<String>,
    tenant: Vec<String>,
    seq: Vec<i64>,
    at: Vec<i64>,
    node: Vec<String>,
    event: Vec<String>,
    after: Vec<Option<String>>,
    correlation: Vec<Option<String>>,
    detail: Vec<serde_json::Value>,
}

/// Tags travel as one text each (arrays of arrays do not `UNNEST`),
/// joined by the ASCII unit separator.
const TAG_SEPARATOR: &str = "\u{1f}";

/// The rows as typed column arrays, one statement for any number of
/// devices (typed arrays, not JSON: the benchmark found JSON extraction a
/// large part of the cost).
async fn upsert_status(
    tx: &mut Tx,
    rows: &[DeviceStatus],
    at: GlobalSeq,
) -> Result<(), sqlx::Error> {
    let col = |f: &dyn Fn(&DeviceStatus) -> String| rows.iter().map(f).collect::<Vec<String>>();
    let opt = |f: &dyn Fn(&DeviceStatus) -> Option<String>| rows.iter().map(f).collect::<Vec<_>>();
    let num = |f: &dyn Fn(&DeviceStatus) -> i64| rows.iter().map(f).collect::<Vec<i64>>();
    let time = |f: &dyn Fn(&DeviceStatus) -> Option<crate::domain::Timestamp>| {
        rows.iter()
            .map(|r| f(r).map(ms))
            .collect::<Vec<Option<i64>>>()
    };
    sqlx::query(include_str!("sql_upsert_status.sql"))
        .bind(col(&|r| r.device.clone()))
        .bind(col(&|r| r.tenant.clone()))
        .bind(col(&|r| r.phase.name().to_owned()))
        .bind(num(&|r| ms(r.since)))
        .bind(col(&|r| r.host.clone()))
        .bind(rows.iter().map(|r| i32::from(r.port)).collect::<Vec<i32>>())
        .bind(col(&|r| r.tags.join(TAG_SEPARATOR)))
        .bind(num(&|r| r.interval_secs as i64))
        .bind(time(&|r| r.last_attempt))
        .bind(time(&|r| r.last_success))
        .bind(opt(&|r| r.last_hash.clone()))
        .bind(rows.iter().map(|r| r.failures as i32).collect::<Vec<i32>>())
        .bind(time(&|r| r.next_due))
        .bind(opt(&|r| r.last_error.as_ref().map(|e| e.kind.clone())))
        .bind(opt(&|r| r.last_error.as_ref().map(|e| e.message.clone())))
        .bind(opt(&|r| r.trusted_host_key.clone()))
        .bind(num(&|r| r.events as i64))
        .bind(num(&|r| r.seq as i64))
        .bind(at as i64)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
