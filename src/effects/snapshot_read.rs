//! Reading a snapshot's text back by its hash: for `confkeep diff`, the
//! API's diff and the web page.
//!
//! The log holds only hashes; the text is where it was published: the
//! content-addressed files of embedded mode, or the snapshot events on
//! JetStream (the platform's stream), whose text may be in the object
//! store when it was too large for one message. Reading scans the
//! device's own subject only, and never writes anything.

use futures::StreamExt;
use serde::Deserialize;

use crate::domain::{DeviceId, TenantId};

use super::snapshot::SnapshotFiles;
use super::snapshot_objects::ObjectBucket;

/// Why a snapshot's text could not be read (names it, never shows it).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("no snapshot {sha256} of device {device} at {place}")]
    Missing {
        device: String,
        sha256: String,
        place: String,
    },
    #[error("cannot read snapshot {sha256} of device {device} at {place}: {reason}")]
    Unreadable {
        device: String,
        sha256: String,
        place: String,
        reason: String,
    },
}

/// Where snapshot texts are read from.
#[derive(Debug)]
pub enum SnapshotReader {
    Files(SnapshotFiles),
    JetStream(Box<JetStreamReader>),
}

/// Snapshot events on JetStream, as the collector published them.
#[derive(Debug)]
pub struct JetStreamReader {
    pub js: async_nats::jetstream::Context,
    /// The subject template (`config.snapshot.create.{device_id}`).
    pub template: String,
    pub objects: ObjectBucket,
}

/// The parts of a snapshot event that lead to its text.
#[derive(Deserialize)]
struct SnapshotEvent {
    sha256_hash: String,
    #[serde(default)]
    config_text: Option<String>,
    #[serde(default)]
    config_object: Option<ObjectName>,
}

#[derive(Deserialize)]
struct ObjectName {
    name: String,
}

impl SnapshotReader {
    /// The text of `device`'s snapshot `sha256`.
    pub async fn text(
        &self,
        tenant: &TenantId,
        device: &DeviceId,
        sha256: &str,
    ) -> Result<String, ReadError> {
        match self {
            SnapshotReader::Files(files) => {
                let path = files.path_of(tenant, device, sha256);
                let place = path.display().to_string();
                let read = tokio::fs::read_to_string(&path).await;
                match read {
                    Ok(text) => Ok(text),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(ReadError::Missing {
                        device: device.to_string(),
                        sha256: sha256.to_owned(),
                        place,
                    }),
                    Err(e) => Err(ReadError::Unreadable {
                        device: device.to_string(),
                        sha256: sha256.to_owned(),
                        place,
                        reason: e.to_string(),
                    }),
                }
            }
            SnapshotReader::JetStream(js) => js.text(tenant, device, sha256).await,
        }
    }
}

impl JetStreamReader {
    async fn text(
        &self,
        tenant: &TenantId,
        device: &DeviceId,
        sha256: &str,
    ) -> Result<String, ReadError> {
        let subject = self
            .template
            .replace("{device_id}", device.as_str())
            .replace("{tenant_id}", tenant.as_str());
        let fail = |reason: String| ReadError::Unreadable {
            device: device.to_string(),
            sha256: sha256.to_owned(),
            place: format!("subject {subject}"),
            reason,
        };
        let found = self.find(&subject, sha256).await.map_err(fail)?;
        match found {
            Some(SnapshotEvent {
                config_text: Some(text),
                ..
            }) => Ok(text),
            Some(SnapshotEvent {
                config_object: Some(object),
                ..
            }) => self.objects.get(&object.name).await.map_err(fail),
            Some(_) => Err(fail(
                "the event carries neither config_text nor config_object".into(),
            )),
            None => Err(ReadError::Missing {
                device: device.to_string(),
                sha256: sha256.to_owned(),
                place: format!("subject {subject}"),
            }),
        }
    }

    /// The newest event on `subject` with this hash.
    async fn find(&self, subject: &str, sha256: &str) -> Result<Option<SnapshotEvent>, String> {
        use async_nats::jetstream::consumer::pull::OrderedConfig;
        let stream_name = self
            .js
            .stream_by_subject(subject.to_owned())
            .await
            .map_err(|e| format!("no stream holds it: {e}"))?;
        let stream = self
            .js
            .get_stream(&stream_name)
            .await
            .map_err(|e| format!("stream {stream_name}: {e}"))?;
        let consumer = stream
            .create_consumer(OrderedConfig {
                filter_subject: subject.to_owned(),
                ..Default::default()
            })
            .await
            .map_err(|e| format!("stream {stream_name}: {e}"))?;
        let pending = consumer.cached_info().num_pending;
        let mut messages = consumer
            .messages()
            .await
            .map_err(|e| format!("stream {stream_name}: {e}"))?
            .take(usize::try_from(pending).unwrap_or(usize::MAX));
        let mut found = None;
        while let Some(message) = messages.next().await {
            let message = message.map_err(|e| format!("stream {stream_name}: {e}"))?;
            // Another writer's message on the subject is not ours to judge.
            if let Ok(event) = serde_json::from_slice::<SnapshotEvent>(&message.payload)
                && event.sha256_hash == sha256
            {
                found = Some(event);
            }
        }
        Ok(found)
    }
}
