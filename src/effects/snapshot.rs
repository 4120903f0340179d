//! Publishing a collected snapshot: content-addressed files (embedded mode)
//! or a `ConfigSnapshotEvent` on JetStream.
//!
//! Files: `<data>/snapshots/<tenant>/<device>/<sha256>.rsc`, mode 0600,
//! written to a temporary file, fsynced and renamed, so a crash never leaves
//! half a snapshot under a hash name. An unchanged configuration writes
//! nothing new. `latest` is a symlink to the newest snapshot of the device,
//! replaced atomically.
//!
//! JetStream: the platform's event on its subject (a template, default
//! `config.snapshot.create.{device_id}`), published into whatever stream
//! covers that subject (the platform's `DEVICE_EVENTS`), acknowledged by
//! the stream before the attempt counts as collected, `Nats-Msg-Id` the
//! attempt's id so a retried publish is stored once. The config text
//! travels only here, never in the backup event log. A config whose event
//! would exceed the server's `max_payload` goes to the object store
//! ([`super::snapshot_objects`]) and the event names it (`config_object`).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::domain::normalize::NORMALIZATION_VERSION;
use crate::domain::{DeviceId, StoredApart, TenantId, Timestamp};

use super::snapshot_objects::{ConfigObject, HEADER_ROOM, ObjectBucket};

/// One collected, normalized export, ready to publish.
#[derive(Debug, Clone)]
pub struct Snapshot<'a> {
    pub tenant: &'a TenantId,
    pub device: &'a DeviceId,
    pub sha256: &'a str,
    pub normalized: &'a str,
    pub routeros_version: Option<&'a str>,
    pub collected_at: Timestamp,
    pub host_key: &'a str,
    /// The attempt that collected it (`<device>/<attempt>` is the message id).
    pub attempt: crate::domain::AttemptId,
}

/// Why a snapshot could not be published (names the place, never the text).
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("cannot write snapshot {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot publish snapshot on {subject}: {reason}")]
    Nats { subject: String, reason: String },
}

/// What publishing did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    /// A new snapshot was stored at this place.
    New(String),
    /// The same content was already stored: nothing new written.
    Unchanged(String),
    /// Too large for one message: the text went to an object, the event
    /// (published at the first place) names it.
    Apart(String, crate::domain::StoredApart),
}

/// Where snapshots go.
#[derive(Debug, Clone)]
pub enum SnapshotSink {
    Files(SnapshotFiles),
    JetStream(Box<JetStreamSnapshots>),
}

impl SnapshotSink {
    pub async fn publish(&self, snapshot: &Snapshot<'_>) -> Result<Published, PublishError> {
        match self {
            SnapshotSink::Files(files) => {
                let files = files.clone();
                let owned = OwnedSnapshot::from(snapshot);
                tokio::task::spawn_blocking(move || files.write(&owned.borrow()))
                    .await
                    .map_err(|e| PublishError::Io {
                        path: PathBuf::from("<snapshot writer>"),
                        source: std::io::Error::other(e.to_string()),
                    })?
            }
            SnapshotSink::JetStream(js) => js.publish(snapshot).await,
        }
    }
}

struct OwnedSnapshot {
    tenant: TenantId,
    device: DeviceId,
    sha256: String,
    normalized: String,
    routeros_version: Option<String>,
    collected_at: Timestamp,
    host_key: String,
    attempt: crate::domain::AttemptId,
}

impl OwnedSnapshot {
    fn from(s: &Snapshot<'_>) -> Self {
        OwnedSnapshot {
            tenant: s.tenant.clone(),
            device: s.device.clone(),
            sha256: s.sha256.to_owned(),
            normalized: s.normalized.to_owned(),
            routeros_version: s.routeros_version.map(str::to_owned),
            collected_at: s.collected_at,
            host_key: s.host_key.to_owned(),
            attempt: s.attempt,
        }
    }
    fn borrow(&self) -> Snapshot<'_> {
        Snapshot {
            tenant: &self.tenant,
            device: &self.device,
            sha256: &self.sha256,
            normalized: &self.normalized,
            routeros_version: self.routeros_version.as_deref(),
            collected_at: self.collected_at,
            host_key: &self.host_key,
            attempt: self.attempt,
        }
    }
}

/// Content-addressed snapshot files under a data directory.
#[derive(Debug, Clone)]
pub struct SnapshotFiles {
    root: PathBuf,
}

impl SnapshotFiles {
    /// Snapshots under `<data_dir>/snapshots`.
    pub fn new(data_dir: &Path) -> Self {
        SnapshotFiles {
            root: data_dir.join("snapshots"),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory of one device's snapshots.
    pub fn device_dir(&self, tenant: &TenantId, device: &DeviceId) -> PathBuf {
        self.root.join(tenant.as_str()).join(device.as_str())
    }

    /// The file of one snapshot.
    pub fn path_of(&self, tenant: &TenantId, device: &DeviceId, sha256: &str) -> PathBuf {
        self.device_dir(tenant, device)
            .join(format!("{sha256}.rsc"))
    }

    /// Write a snapshot (blocking IO: call from a blocking thread).
    pub fn write(&self, s: &Snapshot<'_>) -> Result<Published, PublishError> {
        let dir = self.device_dir(s.tenant, s.device);
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| PublishError::Io { path, source }
        };
        crate::private_fs::create_dir(&dir).map_err(io(&dir))?;
        let file_name = format!("{}.rsc", s.sha256);
        let path = dir.join(&file_name);
        let shown = path.display().to_string();
        let fresh = if path.exists() {
            false
        } else {
            let tmp = dir.join(format!(".{}.tmp", s.sha256));
            let written = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)
                .and_then(|mut f| {
                    f.write_all(s.normalized.as_bytes())?;
                    f.sync_all()
                });
            if let Err(e) = written {
                // A full disk leaves no half-written file behind.
                let _ = std::fs::remove_file(&tmp);
                return Err(io(&tmp)(e));
            }
            std::fs::rename(&tmp, &path).map_err(io(&path))?;
            true
        };
        let latest = dir.join("latest");
        let current = std::fs::read_link(&latest).ok();
        if current.as_deref() != Some(Path::new(&file_name)) {
            let tmp_link = dir.join(".latest.tmp");
            let _ = std::fs::remove_file(&tmp_link);
            std::os::unix::fs::symlink(&file_name, &tmp_link).map_err(io(&tmp_link))?;
            std::fs::rename(&tmp_link, &latest).map_err(io(&latest))?;
        }
        if fresh {
            // The rename is durable only once the directory entry is.
            if let Ok(d) = std::fs::File::open(&dir) {
                let _ = d.sync_all();
            }
            Ok(Published::New(shown))
        } else {
            Ok(Published::Unchanged(shown))
        }
    }
}

/// The event the platform's backend ingests: it requires `device_id`,
/// `tenant_id`, `sha256_hash` and `config_text` (a message missing one is
/// dropped); `routeros_version` is left out when unknown.
#[derive(Debug, Serialize)]
pub struct ConfigSnapshotEvent<'a> {
    pub device_id: &'a str,
    pub tenant_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routeros_version: Option<&'a str>,
    /// RFC 3339, UTC.
    pub collected_at: String,
    /// Hex SHA-256 of `config_text`.
    pub sha256_hash: &'a str,
    /// The normalized text; absent when it is in `config_object`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_text: Option<&'a str>,
    /// Where the text is when the event could not carry it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_object: Option<ConfigObject>,
    pub normalization_version: u32,
    pub size_bytes: usize,
    pub host_key_fingerprint: &'a str,
}

/// RFC 3339 (UTC, milliseconds) of a timestamp.
pub fn rfc3339(at: Timestamp) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(at.as_millis());
    humantime::format_rfc3339_millis(t).to_string()
}

/// Publishes snapshots to JetStream.
#[derive(Debug, Clone)]
pub struct JetStreamSnapshots {
    js: async_nats::jetstream::Context,
    /// With `{device_id}` and `{tenant_id}` to replace.
    template: String,
    /// The server's limit on one message.
    max_payload: usize,
    objects: std::sync::Arc<ObjectBucket>,
}

impl JetStreamSnapshots {
    /// Snapshots on `template` with `{device_id}` and `{tenant_id}`
    /// replaced; the platform's is `config.snapshot.create.{device_id}`.
    /// Events over `max_payload` (the server's) put their text into
    /// `objects` instead.
    pub fn new(
        js: async_nats::jetstream::Context,
        template: &str,
        max_payload: usize,
        objects: ObjectBucket,
    ) -> Self {
        JetStreamSnapshots {
            js,
            template: template.to_owned(),
            max_payload,
            objects: std::sync::Arc::new(objects),
        }
    }

    /// The largest snapshot message the server takes, and the bucket for
    /// configs over it.
    pub fn limits(&self) -> (usize, &str) {
        (self.max_payload, self.objects.name())
    }

    /// The subject of one device's snapshots.
    pub fn subject(&self, tenant: &TenantId, device: &DeviceId) -> String {
        self.template
            .replace("{device_id}", device.as_str())
            .replace("{tenant_id}", tenant.as_str())
    }

    /// The stream the snapshots will land in: the one that already covers
    /// their subject (the platform's `DEVICE_EVENTS`), else `name`, created
    /// for every device's subject. Returns the stream's name.
    pub async fn ensure_stream(&self, name: &str) -> Result<String, PublishError> {
        let probe = self
            .template
            .replace("{device_id}", "probe")
            .replace("{tenant_id}", "probe");
        let fail = |reason: String| PublishError::Nats {
            subject: probe.clone(),
            reason,
        };
        if let Ok(existing) = self.js.stream_by_subject(probe.clone()).await {
            return Ok(existing);
        }
        let all = self
            .template
            .replace("{device_id}", "*")
            .replace("{tenant_id}", "*");
        self.js
            .get_or_create_stream(async_nats::jetstream::stream::Config {
                name: name.to_owned(),
                subjects: vec![all],
                storage: async_nats::jetstream::stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map(|_| name.to_owned())
            .map_err(|e| fail(e.to_string()))
    }

    pub async fn publish(&self, s: &Snapshot<'_>) -> Result<Published, PublishError> {
        let subject = self.subject(s.tenant, s.device);
        let mut event = ConfigSnapshotEvent {
            device_id: s.device.as_str(),
            tenant_id: s.tenant.as_str(),
            routeros_version: s.routeros_version.filter(|v| !v.is_empty()),
            collected_at: rfc3339(s.collected_at),
            sha256_hash: s.sha256,
            config_text: Some(s.normalized),
            config_object: None,
            normalization_version: NORMALIZATION_VERSION,
            size_bytes: s.normalized.len(),
            host_key_fingerprint: s.host_key,
        };
        let err = |reason: String| PublishError::Nats {
            subject: subject.clone(),
            reason,
        };
        let mut payload = serde_json::to_vec(&event).map_err(|e| err(e.to_string()))?;
        let mut apart = None;
        if payload.len() + HEADER_ROOM > self.max_payload {
            let object = self
                .objects
                .put(s.tenant, s.device, s.sha256, s.normalized)
                .await
                .map_err(err)?;
            apart = Some(StoredApart {
                object: format!("{}/{}", object.bucket, object.name),
                message_bytes: payload.len() as u64,
                max_payload: self.max_payload as u64,
            });
            event.config_text = None;
            event.config_object = Some(object);
            payload = serde_json::to_vec(&event).map_err(|e| err(e.to_string()))?;
        }
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(
            "Nats-Msg-Id",
            format!("{}/{}", s.device, s.attempt).as_str(),
        );
        let ack = self
            .js
            .publish_with_headers(subject.clone(), headers, payload.into())
            .await
            .map_err(|e| err(e.to_string()))?;
        ack.await.map_err(|e| err(e.to_string()))?;
        Ok(match apart {
            Some(apart) => Published::Apart(subject.clone(), apart),
            None => Published::New(subject.clone()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn files_are_content_addressed_private_and_written_once() {
        let dir = tempfile::tempdir().unwrap();
        let files = SnapshotFiles::new(dir.path());
        let tenant = TenantId::parse("acme").unwrap();
        let device = DeviceId::parse("r1").unwrap();
        let snap = Snapshot {
            tenant: &tenant,
            device: &device,
            sha256: "ab",
            normalized: "/system identity\nset name=r1\n",
            routeros_version: Some("7.15"),
            collected_at: Timestamp(0),
            host_key: "SHA256:x",
            attempt: 1,
        };
        let first = files.write(&snap).unwrap();
        assert!(matches!(first, Published::New(_)));
        let path = files.path_of(&tenant, &device, "ab");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let second = files.write(&snap).unwrap();
        assert!(matches!(second, Published::Unchanged(_)));
        let latest = files.device_dir(&tenant, &device).join("latest");
        assert_eq!(
            std::fs::read_to_string(latest).unwrap(),
            "/system identity\nset name=r1\n"
        );
        let other = Snapshot {
            sha256: "cd",
            normalized: "x\n",
            ..snap
        };
        files.write(&other).unwrap();
        let latest = files.device_dir(&tenant, &device).join("latest");
        assert_eq!(std::fs::read_link(latest).unwrap(), Path::new("cd.rsc"));
    }

    #[test]
    fn an_unwritable_snapshot_directory_is_an_error_naming_the_path() {
        // Root ignores permission bits, so the directory is made unusable
        // by a file standing where it should be.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("snapshots"), "not a directory").unwrap();
        let files = SnapshotFiles::new(dir.path());
        let tenant = TenantId::parse("acme").unwrap();
        let device = DeviceId::parse("r1").unwrap();
        let err = files
            .write(&Snapshot {
                tenant: &tenant,
                device: &device,
                sha256: "ab",
                normalized: "/system identity\nset name=r1\n",
                routeros_version: Some("7.15"),
                collected_at: Timestamp(0),
                host_key: "SHA256:x",
                attempt: 1,
            })
            .unwrap_err()
            .to_string();
        assert!(err.contains("snapshots/acme/r1"), "{err}");
        assert!(!err.contains("set name"), "no config text in errors: {err}");
    }

    #[test]
    fn rfc3339_is_utc_with_millis() {
        assert_eq!(rfc3339(Timestamp(1_500)), "1970-01-01T00:00:01.500Z");
    }
}
