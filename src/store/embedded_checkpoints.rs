//! Checkpoints of the embedded log: two tables in the same redb file.
//!
//! - `checkpoints`: name → meta (JSON);
//! - `checkpoint_bodies`: name → body.
//!
//! Both are written in one transaction (fsynced on commit), so a kill -9
//! mid-write leaves either the whole checkpoint or none of it. Writes wait
//! for the log's group commit like any other writer (redb has one writer at
//! a time): a checkpoint of 100 000 devices holds appends for tens of ms.

use std::sync::Arc;

use futures::future::BoxFuture;
use redb::{ReadableTable, TableDefinition};

use super::{Shared, storage};
use crate::store::StoreError;
use crate::store::checkpoint::{CheckpointMeta, CheckpointStore, newest_first};

const METAS: TableDefinition<&str, &[u8]> = TableDefinition::new("checkpoints");
const BODIES: TableDefinition<&str, &[u8]> = TableDefinition::new("checkpoint_bodies");

/// The embedded log's checkpoints.
pub struct EmbeddedCheckpoints {
    pub(super) shared: Arc<Shared>,
}

impl EmbeddedCheckpoints {
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Shared) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || work(&shared))
            .await
            .map_err(|e| StoreError::unavailable(format!("a checkpoint task failed: {e}")))?
    }
}

fn write(
    shared: &Shared,
    what: &str,
    change: impl FnOnce(&redb::WriteTransaction) -> Result<(), redb::Error>,
) -> Result<(), StoreError> {
    let path = &shared.path;
    let db = shared.db()?;
    let result = (|| -> Result<(), redb::Error> {
        let tx = db.begin_write()?;
        change(&tx)?;
        tx.commit()?;
        Ok(())
    })();
    result.map_err(|e| {
        shared.invalidate(&db);
        storage(path, what, e)
    })
}

fn read_metas(shared: &Shared) -> Result<Vec<CheckpointMeta>, StoreError> {
    let path = &shared.path;
    let tx = shared.begin_read()?;
    let table = match tx.open_table(METAS) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
        Err(e) => return Err(storage(path, "cannot open table checkpoints", e)),
    };
    let mut all = Vec::new();
    for row in table
        .iter()
        .map_err(|e| storage(path, "cannot read checkpoints", e))?
    {
        let (name, meta) = row.map_err(|e| storage(path, "cannot read checkpoints", e))?;
        match serde_json::from_slice::<CheckpointMeta>(meta.value()) {
            Ok(m) => all.push(m),
            Err(e) => tracing::warn!(log = %path.display(), checkpoint = name.value(), error = %e,
                "a checkpoint's meta does not decode; it is left out"),
        }
    }
    newest_first(&mut all);
    Ok(all)
}

impl CheckpointStore for EmbeddedCheckpoints {
    fn describe(&self) -> String {
        format!("table checkpoints of {}", self.shared.path.display())
    }

    fn log_id(&self) -> String {
        // The checkpoints live in the log's own file: they go with it.
        "embedded".to_owned()
    }

    fn save(&self, meta: CheckpointMeta, body: Vec<u8>) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.blocking(move |shared| {
            let json = serde_json::to_vec(&meta).map_err(|e| {
                StoreError::unavailable(format!("cannot encode a checkpoint's meta: {e}"))
            })?;
            write(shared, "cannot write a checkpoint", |tx| {
                tx.open_table(BODIES)?
                    .insert(meta.name.as_str(), body.as_slice())?;
                tx.open_table(METAS)?
                    .insert(meta.name.as_str(), json.as_slice())?;
                Ok(())
            })
        }))
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<CheckpointMeta>, StoreError>> {
        Box::pin(self.blocking(read_metas))
    }

    fn load<'a>(&'a self, meta: &'a CheckpointMeta) -> BoxFuture<'a, Result<Vec<u8>, StoreError>> {
        let name = meta.name.clone();
        Box::pin(self.blocking(move |shared| {
            let path = &shared.path;
            let tx = shared.begin_read()?;
            let table = tx
                .open_table(BODIES)
                .map_err(|e| storage(path, "cannot open table checkpoint_bodies", e))?;
            let body = table
                .get(name.as_str())
                .map_err(|e| storage(path, "cannot read a checkpoint", e))?;
            body.map(|b| b.value().to_vec()).ok_or_else(|| {
                StoreError::unavailable(format!(
                    "{}: checkpoint {name} has no body",
                    path.display()
                ))
            })
        }))
    }

    fn remove<'a>(&'a self, meta: &'a CheckpointMeta) -> BoxFuture<'a, Result<(), StoreError>> {
        let name = meta.name.clone();
        Box::pin(self.blocking(move |shared| {
            write(shared, "cannot remove a checkpoint", |tx| {
                tx.open_table(METAS)?.remove(name.as_str())?;
                tx.open_table(BODIES)?.remove(name.as_str())?;
                Ok(())
            })
        }))
    }
}
