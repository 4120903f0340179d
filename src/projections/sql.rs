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
//! changes nothing), the touched devices' rows (as the fold says after the
//! batch), and the checkpoint. So replaying from any checkpoint, after a
//! crash in the middle of a batch or from zero, gives the same rows. At
//! start the fold is rebuilt quietly up to the checkpoint, then writing
//! goes on from there.

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use sqlx::PgPool;

use crate::domain::{DeviceId, Envelope};
use crate::store::{EventLog, GlobalSeq, StoreError};

use super::status::{DeviceStatus, StatusBoard};

/// Events written in one transaction at most.
pub const BATCH: usize = 2_000;

const SCHEMA: &str = include_str!("sql_schema.sql");

/// Why the read model could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReadModelError {
    #[error("read model database: {0}")]
    Sql(#[from] sqlx::Error),
    #[error(transparent)]
    Log(#[from] StoreError),
}

/// The projector into PostgreSQL.
pub struct ReadModel {
    pool: PgPool,
    log: Arc<dyn EventLog>,
    board: StatusBoard,
    at: GlobalSeq,
}

impl ReadModel {
    /// Create the tables if needed and rebuild the fold up to the
    /// checkpoint (nothing is written for that part).
    pub async fn open(pool: PgPool, log: Arc<dyn EventLog>) -> Result<ReadModel, ReadModelError> {
        sqlx::raw_sql(SCHEMA).execute(&pool).await?;
        let at: Option<i64> = sqlx::query_scalar(
            "SELECT global_seq FROM backup_read_model_checkpoint WHERE name = 'main'",
        )
        .fetch_optional(&pool)
        .await?;
        let at = at.map_or(0, |a| a.max(0) as u64);
        let mut board = StatusBoard::new();
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
        Ok(ReadModel {
            pool,
            log,
            board,
            at,
        })
    }

    /// The log position written so far.
    pub fn checkpoint(&self) -> GlobalSeq {
        self.at
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

    async fn write_all(
        &mut self,
        stream: impl Stream<Item = Result<(GlobalSeq, Envelope), StoreError>>,
    ) -> Result<u64, ReadModelError> {
        let mut chunks = std::pin::pin!(stream.ready_chunks(BATCH));
        let mut written = 0;
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
            self.write_batch(batch).await?;
        }
        Ok(written)
    }

    async fn write_batch(
        &mut self,
        batch: Vec<(GlobalSeq, Envelope)>,
    ) -> Result<(), ReadModelError> {
        let Some(last) = batch.last().map(|(g, _)| *g) else {
            return Ok(());
        };
        let mut touched = BTreeSet::new();
        for (global, env) in &batch {
            self.board.apply(*global, env);
            touched.insert(env.device.clone());
        }
        let rows: Vec<DeviceStatus> = touched
            .iter()
            .filter_map(|d: &DeviceId| self.board.get(d))
            .collect();
        let mut tx = self.pool.begin().await?;
        insert_history(&mut tx, &batch).await?;
        upsert_status(&mut tx, &rows, last).await?;
        sqlx::query(
            "INSERT INTO backup_read_model_checkpoint (name, global_seq) VALUES ('main', $1)
             ON CONFLICT (name) DO UPDATE SET global_seq = GREATEST(backup_read_model_checkpoint.global_seq, EXCLUDED.global_seq)",
        )
        .bind(last as i64)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.at = last;
        Ok(())
    }
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

/// The rows as JSON documents, expanded by PostgreSQL: one statement for
/// any number of devices, every column typed by the table.
async fn upsert_status(
    tx: &mut Tx,
    rows: &[DeviceStatus],
    at: GlobalSeq,
) -> Result<(), sqlx::Error> {
    let docs: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| serde_json::to_value(r).unwrap_or_default())
        .collect();
    sqlx::query(include_str!("sql_upsert_status.sql"))
        .bind(docs)
        .bind(at as i64)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
