//! What retention needs of the snapshot files: which devices have files,
//! which snapshots each holds, and removing one.
//!
//! Blocking IO, like writing them: call from a blocking thread. A name
//! that is not a tenant, device or `<sha256>.rsc` (a temporary file, the
//! `latest` link, something an operator left) is never listed, so it is
//! never removed.

use std::path::PathBuf;

use crate::domain::{DeviceId, TenantId};

use super::snapshot::SnapshotFiles;

/// One snapshot file of a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    pub sha256: String,
    pub bytes: u64,
}

/// A directory that could not be read, or a file not removed.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct FilesError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

fn names(dir: &std::path::Path) -> Result<Vec<String>, FilesError> {
    let err = |source| FilesError {
        path: dir.to_owned(),
        source,
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(err)? {
        let entry = entry.map_err(err)?;
        if let Some(name) = entry.file_name().to_str() {
            out.push(name.to_owned());
        }
    }
    out.sort();
    Ok(out)
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

impl SnapshotFiles {
    /// Every device with a directory of snapshots (none: no directory yet).
    pub fn stored_devices(&self) -> Result<Vec<(TenantId, DeviceId)>, FilesError> {
        if !self.root().exists() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for tenant in names(self.root())? {
            let Ok(t) = TenantId::parse(&tenant) else {
                continue;
            };
            let dir = self.root().join(&tenant);
            if !dir.is_dir() {
                continue;
            }
            for device in names(&dir)? {
                if let Ok(d) = DeviceId::parse(&device)
                    && dir.join(&device).is_dir()
                {
                    out.push((t.clone(), d));
                }
            }
        }
        Ok(out)
    }

    /// The snapshot files of one device.
    pub fn stored(
        &self,
        tenant: &TenantId,
        device: &DeviceId,
    ) -> Result<Vec<StoredFile>, FilesError> {
        let dir = self.device_dir(tenant, device);
        let mut out = Vec::new();
        for name in names(&dir)? {
            let Some(sha) = name.strip_suffix(".rsc").filter(|s| is_sha256(s)) else {
                continue;
            };
            let path = dir.join(&name);
            let meta = std::fs::symlink_metadata(&path).map_err(|source| FilesError {
                path: path.clone(),
                source,
            })?;
            if meta.is_file() {
                out.push(StoredFile {
                    sha256: sha.to_owned(),
                    bytes: meta.len(),
                });
            }
        }
        Ok(out)
    }

    /// The snapshot `latest` points to, if it points to one.
    pub fn latest(&self, tenant: &TenantId, device: &DeviceId) -> Option<String> {
        let target = std::fs::read_link(self.device_dir(tenant, device).join("latest")).ok()?;
        let name = target.file_name()?.to_str()?;
        name.strip_suffix(".rsc").map(str::to_owned)
    }

    /// Remove one snapshot file.
    pub fn remove(
        &self,
        tenant: &TenantId,
        device: &DeviceId,
        sha256: &str,
    ) -> Result<(), FilesError> {
        let path = self.path_of(tenant, device, sha256);
        std::fs::remove_file(&path).map_err(|source| FilesError { path, source })
    }
}
