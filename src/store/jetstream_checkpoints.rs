//! Checkpoints of the JetStream log: objects in a JetStream object store
//! bucket `<stream>_CHECKPOINTS`, one per checkpoint, the meta (JSON) in
//! the object's description.
//!
//! The object store publishes an object's info after its last chunk, so a
//! daemon killed mid-upload leaves no listed object (its chunks are purged
//! by the next put of the same name). The log's identity is the stream's
//! name and creation time: a stream deleted and created again under the
//! same name does not take up the old stream's checkpoints.

use async_nats::jetstream::{self, object_store};
use futures::StreamExt;
use futures::future::BoxFuture;
use tokio::io::AsyncReadExt;
use tokio::sync::OnceCell;

use crate::store::StoreError;
use crate::store::checkpoint::{CheckpointMeta, CheckpointStore, newest_first};

/// The JetStream log's checkpoints.
pub struct JetStreamCheckpoints {
    pub(super) js: jetstream::Context,
    pub(super) bucket: String,
    pub(super) replicas: usize,
    pub(super) log_id: String,
    pub(super) store: OnceCell<object_store::ObjectStore>,
}

/// Object store chunks: large ones, a checkpoint is many MB.
const CHUNK: usize = 1024 * 1024;

impl JetStreamCheckpoints {
    fn failed(&self, what: &str, e: impl std::fmt::Display) -> StoreError {
        StoreError::unavailable(format!("object store bucket {}: {what}: {e}", self.bucket))
    }

    async fn open(&self) -> Result<&object_store::ObjectStore, StoreError> {
        self.store
            .get_or_try_init(|| async {
                if let Ok(store) = self.js.get_object_store(&self.bucket).await {
                    return Ok(store);
                }
                let config = object_store::Config {
                    bucket: self.bucket.clone(),
                    description: Some("confkeep: checkpoints of the events stream".into()),
                    storage: jetstream::stream::StorageType::File,
                    num_replicas: self.replicas.max(1),
                    ..Default::default()
                };
                self.js
                    .create_object_store(config)
                    .await
                    .map_err(|e| self.failed("cannot create", e))
            })
            .await
    }

    async fn save_inner(&self, meta: CheckpointMeta, body: Vec<u8>) -> Result<(), StoreError> {
        let store = self.open().await?;
        let description = serde_json::to_string(&meta)
            .map_err(|e| self.failed("cannot encode a checkpoint's meta", e))?;
        let object = object_store::ObjectMetadata {
            name: meta.name.clone(),
            description: Some(description),
            chunk_size: Some(CHUNK),
            ..Default::default()
        };
        let mut reader = body.as_slice();
        store
            .put(object, &mut reader)
            .await
            .map_err(|e| self.failed(&format!("cannot store {}", meta.name), e))?;
        Ok(())
    }

    /// Every object's info, read one subject at a time: the stream's
    /// subjects, then the last message of each. Not the object store's own
    /// list: its end is the pending count of a push consumer, and an object
    /// written or removed while it runs (a shutdown's checkpoint and the
    /// pruning behind it) can leave it waiting forever (async-nats 0.51 on
    /// nats-server 2.9, seen in CI).
    async fn infos(&self) -> Result<Vec<object_store::ObjectInfo>, StoreError> {
        self.open().await?;
        let stream = self
            .js
            .get_stream_no_info(format!("OBJ_{}", self.bucket))
            .await
            .map_err(|e| self.failed("cannot list", e))?;
        let mut subjects = stream
            .info_with_subjects(format!("$O.{}.M.>", self.bucket))
            .await
            .map_err(|e| self.failed("cannot list", e))?;
        let mut names = Vec::new();
        while let Some(subject) = subjects.next().await {
            names.push(subject.map_err(|e| self.failed("cannot list", e))?.0);
        }
        let mut infos = Vec::with_capacity(names.len());
        for subject in names {
            let message = match stream.get_last_raw_message_by_subject(&subject).await {
                Ok(m) => m,
                // Removed since the subjects were read.
                Err(e)
                    if matches!(
                        e.kind(),
                        jetstream::stream::LastRawMessageErrorKind::NoMessageFound
                    ) =>
                {
                    continue;
                }
                Err(e) => return Err(self.failed("cannot list", e)),
            };
            match serde_json::from_slice::<object_store::ObjectInfo>(&message.payload) {
                Ok(info) if info.deleted => {}
                Ok(info) => infos.push(info),
                Err(e) => {
                    tracing::warn!(bucket = %self.bucket, subject = %subject, sequence = message.sequence, error = %e,
                    "an object's info does not decode; it is left out")
                }
            }
        }
        Ok(infos)
    }

    async fn list_inner(&self) -> Result<Vec<CheckpointMeta>, StoreError> {
        let mut all = Vec::new();
        for info in self.infos().await? {
            let meta = info
                .description
                .as_deref()
                .map(serde_json::from_str::<CheckpointMeta>);
            match meta {
                Some(Ok(m)) if m.name == info.name => all.push(m),
                Some(Ok(_)) | None => tracing::warn!(bucket = %self.bucket, object = %info.name,
                    "an object that is not a confkeep checkpoint is left out"),
                Some(Err(e)) => {
                    tracing::warn!(bucket = %self.bucket, object = %info.name, error = %e,
                    "a checkpoint's meta does not decode; it is left out")
                }
            }
        }
        newest_first(&mut all);
        Ok(all)
    }

    async fn load_inner(&self, meta: &CheckpointMeta) -> Result<Vec<u8>, StoreError> {
        let store = self.open().await?;
        let what = || format!("cannot read {}", meta.name);
        let mut object = store
            .get(&meta.name)
            .await
            .map_err(|e| self.failed(&what(), e))?;
        let mut body = Vec::with_capacity(usize::try_from(meta.bytes).unwrap_or(0).min(1 << 30));
        object
            .read_to_end(&mut body)
            .await
            .map_err(|e| self.failed(&what(), e))?;
        Ok(body)
    }
}

impl CheckpointStore for JetStreamCheckpoints {
    fn describe(&self) -> String {
        format!("object store bucket {}", self.bucket)
    }

    fn log_id(&self) -> String {
        self.log_id.clone()
    }

    fn save(&self, meta: CheckpointMeta, body: Vec<u8>) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.save_inner(meta, body))
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<CheckpointMeta>, StoreError>> {
        Box::pin(self.list_inner())
    }

    fn load<'a>(&'a self, meta: &'a CheckpointMeta) -> BoxFuture<'a, Result<Vec<u8>, StoreError>> {
        Box::pin(self.load_inner(meta))
    }

    fn remove<'a>(&'a self, meta: &'a CheckpointMeta) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let store = self.open().await?;
            store
                .delete(&meta.name)
                .await
                .map_err(|e| self.failed(&format!("cannot remove {}", meta.name), e))
        })
    }
}
