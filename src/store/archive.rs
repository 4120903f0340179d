//! The archive: events compacted out of the live log, kept for the audit.
//!
//! One file per device and month of the events' time,
//! `<dir>/<tenant>/<device>/<YYYY-MM>.jsonl.gz`: gzip members appended one
//! per compaction pass (a gzip file may hold several; `zcat` reads them
//! all), each line one envelope exactly as the log stored it. Files are
//! 0600 and fsynced before the live log loses anything; a pass that dies
//! half-way and runs again appends the same events once more, and reading
//! keeps the first of each sequence.
//!
//! A line or member that does not decode is reported with its file and
//! line, and reading that device goes on with the next good line.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;

use crate::domain::{DecodeError, DeviceId, Envelope, TenantId, Timestamp};

/// The archive under a directory.
#[derive(Debug, Clone)]
pub struct Archive {
    dir: PathBuf,
}

/// What went wrong with the archive: which file, and why.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("archive {path}: {reason}")]
    Io { path: PathBuf, reason: String },
    #[error("archive {path}, line {line}: {source}")]
    Decode {
        path: PathBuf,
        line: usize,
        #[source]
        source: DecodeError,
    },
}

fn io(path: &Path, e: impl std::fmt::Display) -> ArchiveError {
    ArchiveError::Io {
        path: path.to_owned(),
        reason: e.to_string(),
    }
}

/// `YYYY-MM` of a time (UTC).
pub fn month(at: Timestamp) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_millis(at.0);
    humantime::format_rfc3339_seconds(time).to_string()[..7].to_owned()
}

/// One device's archived events, and the lines that did not read.
#[derive(Debug, Default)]
pub struct DeviceArchive {
    pub events: Vec<Envelope>,
    pub problems: Vec<ArchiveError>,
}

impl Archive {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Archive { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn device_dir(&self, tenant: &TenantId, device: &DeviceId) -> PathBuf {
        self.dir.join(tenant.as_str()).join(device.as_str())
    }

    /// Append `events` (one device's, in sequence order) to their months'
    /// files, durable when this returns.
    pub fn append(&self, events: &[Envelope]) -> Result<(), ArchiveError> {
        let Some(first) = events.first() else {
            return Ok(());
        };
        let dir = self.device_dir(&first.tenant, &first.device);
        crate::private_fs::create_dir(&dir).map_err(|e| io(&dir, e))?;
        let mut start = 0;
        while start < events.len() {
            let m = month(events[start].at);
            let end = events[start..]
                .iter()
                .position(|e| month(e.at) != m)
                .map_or(events.len(), |n| start + n);
            self.append_month(&dir.join(format!("{m}.jsonl.gz")), &events[start..end])?;
            start = end;
        }
        let handle = std::fs::File::open(&dir).map_err(|e| io(&dir, e))?;
        handle.sync_all().map_err(|e| io(&dir, e))
    }

    fn append_month(&self, path: &Path, events: &[Envelope]) -> Result<(), ArchiveError> {
        let mut member = GzEncoder::new(Vec::new(), Compression::default());
        for env in events {
            let line = super::codec::encode(env).map_err(|e| io(path, e))?;
            member.write_all(&line).map_err(|e| io(path, e))?;
            member.write_all(b"\n").map_err(|e| io(path, e))?;
        }
        let bytes = member.finish().map_err(|e| io(path, e))?;
        crate::private_fs::ensure_file(path).map_err(|e| io(path, e))?;
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| io(path, e))?;
        file.write_all(&bytes).map_err(|e| io(path, e))?;
        file.sync_all().map_err(|e| io(path, e))
    }

    /// Every archived event of one device, in sequence order (a sequence
    /// archived twice is read once), with what did not read.
    pub fn device(&self, tenant: &TenantId, device: &DeviceId) -> DeviceArchive {
        let dir = self.device_dir(tenant, device);
        let mut out = DeviceArchive::default();
        let mut months = match std::fs::read_dir(&dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.to_string_lossy().ends_with(".jsonl.gz"))
                .collect::<Vec<_>>(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return out,
            Err(e) => {
                out.problems.push(io(&dir, e));
                return out;
            }
        };
        months.sort();
        for path in months {
            read_month(&path, &mut out);
        }
        out.events.sort_by_key(|e| e.seq);
        out.events.dedup_by_key(|e| e.seq);
        out
    }

    /// Every archived event, device after device (each in sequence order):
    /// how a fold that starts before the live log takes them up. What does
    /// not read goes to `problem`.
    pub fn for_each(
        &self,
        mut event: impl FnMut(&Envelope),
        mut problem: impl FnMut(&ArchiveError),
    ) {
        let devices = match self.devices() {
            Ok(d) => d,
            Err(e) => return problem(&e),
        };
        for (tenant, device) in devices {
            let read = self.device(&tenant, &device);
            read.problems.iter().for_each(&mut problem);
            read.events.iter().for_each(&mut event);
        }
    }

    /// Every (tenant, device) with an archive.
    pub fn devices(&self) -> Result<Vec<(TenantId, DeviceId)>, ArchiveError> {
        let mut out = Vec::new();
        let tenants = match std::fs::read_dir(&self.dir) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(io(&self.dir, e)),
        };
        for tenant in tenants {
            let tenant = tenant.map_err(|e| io(&self.dir, e))?.path();
            let Some(t) = tenant
                .file_name()
                .and_then(|n| TenantId::parse(&n.to_string_lossy()).ok())
            else {
                continue;
            };
            for device in std::fs::read_dir(&tenant).map_err(|e| io(&tenant, e))? {
                let device = device.map_err(|e| io(&tenant, e))?.path();
                if let Some(d) = device
                    .file_name()
                    .and_then(|n| DeviceId::parse(&n.to_string_lossy()).ok())
                {
                    out.push((t.clone(), d));
                }
            }
        }
        out.sort();
        Ok(out)
    }
}

fn read_month(path: &Path, out: &mut DeviceArchive) {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => {
            out.problems.push(io(path, e));
            return;
        }
    };
    let reader = std::io::BufReader::new(MultiGzDecoder::new(std::io::BufReader::new(file)));
    for (n, line) in reader.split(b'\n').enumerate() {
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                // A damaged gzip stream: what came before it stays read.
                out.problems.push(io(path, format!("line {}: {e}", n + 1)));
                return;
            }
        };
        if line.is_empty() {
            continue;
        }
        match super::codec::decode(&line) {
            Ok(env) => out.events.push(env),
            Err(source) => out.problems.push(ArchiveError::Decode {
                path: path.to_owned(),
                line: n + 1,
                source,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::fold::sample_history;

    #[test]
    fn archived_events_read_back_once_by_month_and_bad_lines_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let archive = Archive::new(dir.path().join("archive"));
        let device = DeviceId::parse("r1").unwrap();
        let tenant = TenantId::parse("acme").unwrap();
        // Forty days of events: two months' files.
        let history = sample_history(&device, &tenant, Timestamp(1_700_000_000_000), 40);
        archive.append(&history[..30]).unwrap();
        archive.append(&history[20..]).unwrap(); // a pass repeated in part
        let read = archive.device(&tenant, &device);
        assert!(read.problems.is_empty(), "{:?}", read.problems);
        assert_eq!(read.events, history);
        let months = std::fs::read_dir(archive.dir().join("acme/r1"))
            .unwrap()
            .count();
        assert!(months >= 1);
        assert_eq!(
            archive.devices().unwrap(),
            vec![(tenant.clone(), device.clone())]
        );

        let first = std::fs::read_dir(archive.dir().join("acme/r1"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let mut bad = GzEncoder::new(Vec::new(), Compression::default());
        bad.write_all(b"{\"not\": \"an envelope\"}\n").unwrap();
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&first)
            .unwrap();
        file.write_all(&bad.finish().unwrap()).unwrap();
        let read = archive.device(&tenant, &device);
        assert_eq!(read.events, history, "the good lines stay");
        assert_eq!(read.problems.len(), 1);
        let said = read.problems[0].to_string();
        assert!(
            said.contains(first.to_str().unwrap()) && said.contains("line"),
            "{said}"
        );
    }
}
