//! Configs too large for one snapshot message: stored in a JetStream object
//! store bucket, the snapshot event naming the object instead of carrying
//! the text.
//!
//! A NATS server refuses a message over its `max_payload` (1 MiB by
//! default), and a router with a large firewall or address list exports
//! more than that. Such a config is never a failed backup: it is put into
//! the bucket (created on first need, file storage, the events' replicas)
//! under a content-addressed name, `<tenant>/<device>/<sha256>`, so a retry
//! or an unchanged config puts the same object again rather than a second
//! one. The put completes before the event is published, so an event never
//! names an object that is not there.

use async_nats::jetstream;
use serde::Serialize;
use tokio::sync::OnceCell;

use crate::domain::{DeviceId, TenantId};

/// Room left for the message's headers (`Nats-Msg-Id`, the server's own).
pub const HEADER_ROOM: usize = 512;

/// The bucket big configs go to.
pub struct ObjectBucket {
    js: jetstream::Context,
    name: String,
    replicas: usize,
    store: OnceCell<jetstream::object_store::ObjectStore>,
}

/// What the snapshot event says in place of `config_text`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigObject {
    pub bucket: String,
    pub name: String,
    /// Bytes of the normalized text.
    pub size: usize,
    /// Hex SHA-256 of the text (the event's `sha256_hash`).
    pub sha256: String,
}

impl std::fmt::Debug for ObjectBucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectBucket")
            .field("name", &self.name)
            .field("open", &self.store.initialized())
            .finish()
    }
}

impl ObjectBucket {
    pub fn new(js: jetstream::Context, name: &str, replicas: usize) -> Self {
        ObjectBucket {
            js,
            name: name.to_owned(),
            replicas: replicas.max(1),
            store: OnceCell::new(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The object's name for one config.
    pub fn object_name(tenant: &TenantId, device: &DeviceId, sha256: &str) -> String {
        format!("{tenant}/{device}/{sha256}")
    }

    async fn open(&self) -> Result<&jetstream::object_store::ObjectStore, String> {
        self.store
            .get_or_try_init(|| async {
                if let Ok(store) = self.js.get_object_store(&self.name).await {
                    return Ok(store);
                }
                let config = jetstream::object_store::Config {
                    bucket: self.name.clone(),
                    description: Some("confkeep: configs over the server's max_payload".into()),
                    storage: jetstream::stream::StorageType::File,
                    num_replicas: self.replicas,
                    ..Default::default()
                };
                self.js.create_object_store(config).await.map_err(|e| {
                    format!("cannot create the object store bucket {}: {e}", self.name)
                })
            })
            .await
    }

    /// Put one config (acknowledged by the stream when this returns).
    pub async fn put(
        &self,
        tenant: &TenantId,
        device: &DeviceId,
        sha256: &str,
        text: &str,
    ) -> Result<ConfigObject, String> {
        let store = self.open().await?;
        let name = Self::object_name(tenant, device, sha256);
        let mut reader = text.as_bytes();
        store
            .put(name.as_str(), &mut reader)
            .await
            .map_err(|e| format!("cannot store object {}/{name}: {e}", self.name))?;
        Ok(ConfigObject {
            bucket: self.name.clone(),
            name,
            size: text.len(),
            sha256: sha256.to_owned(),
        })
    }

    /// Read one config back (for `diff` and the web page).
    pub async fn get(&self, name: &str) -> Result<String, String> {
        use tokio::io::AsyncReadExt;
        let store = self
            .js
            .get_object_store(&self.name)
            .await
            .map_err(|e| format!("cannot open the object store bucket {}: {e}", self.name))?;
        let mut object = store
            .get(name)
            .await
            .map_err(|e| format!("cannot read object {}/{name}: {e}", self.name))?;
        let mut text = String::new();
        object
            .read_to_string(&mut text)
            .await
            .map_err(|e| format!("cannot read object {}/{name}: {e}", self.name))?;
        Ok(text)
    }
}
