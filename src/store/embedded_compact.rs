//! Compaction of the embedded log: a device's oldest events removed from
//! both tables in one transaction (fsynced on commit), never its last one.

use redb::ReadableTable;

use super::{DEVICE_EVENTS, EVENTS, Shared, storage};
use crate::domain::DeviceId;
use crate::store::StoreError;

/// Remove `device`'s events with a sequence below `keep_from` (its last
/// event always stays: it is the fence the next append checks). Returns
/// how many were removed.
pub(super) fn compact(
    shared: &Shared,
    device: &DeviceId,
    keep_from: u64,
) -> Result<u64, StoreError> {
    let path = &shared.path;
    let db = shared.db()?;
    let result = (|| -> Result<u64, redb::Error> {
        let tx = db.begin_write()?;
        let mut removed = 0;
        {
            let mut index = tx.open_table(DEVICE_EVENTS)?;
            let last = index
                .range((device.as_str(), 0)..=(device.as_str(), u64::MAX))?
                .next_back()
                .transpose()?
                .map(|(k, _)| k.value().1);
            let Some(last) = last else {
                return Ok(0);
            };
            let below = keep_from.min(last);
            let doomed: Vec<(u64, u64)> = index
                .range((device.as_str(), 0)..(device.as_str(), below))?
                .map(|row| row.map(|(k, g)| (k.value().1, g.value())))
                .collect::<Result<_, _>>()?;
            let mut events = tx.open_table(EVENTS)?;
            for (seq, global) in doomed {
                index.remove((device.as_str(), seq))?;
                events.remove(global)?;
                removed += 1;
            }
        }
        tx.commit()?;
        Ok(removed)
    })();
    result.map_err(|e| {
        shared.invalidate(&db);
        storage(path, &format!("cannot compact device {device}"), e)
    })
}

/// What the log's file holds. redb reuses the pages a compaction frees:
/// the file does not shrink, it stops growing once compaction keeps pace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileUse {
    /// The file's length.
    pub file_bytes: u64,
    /// Pages in use (data and redb's own metadata).
    pub allocated_bytes: u64,
    /// What the tables store (keys and values).
    pub stored_bytes: u64,
}

impl super::EmbeddedLog {
    /// What the file holds now (a write transaction, given up at once: it
    /// waits for an append under way).
    pub fn file_use(&self) -> Result<FileUse, StoreError> {
        let shared = &self.inner.shared;
        let path = &shared.path;
        let db = shared.db()?;
        let stats = db
            .begin_write()
            .and_then(|tx| {
                let stats = tx.stats();
                tx.abort()?;
                Ok(stats)
            })
            .map_err(redb::Error::from)
            .and_then(|s| s.map_err(redb::Error::from))
            .map_err(|e| storage(path, "cannot read the file's statistics", e))?;
        let file_bytes = std::fs::metadata(path)
            .map_err(|e| storage(path, "cannot read the file's size", e))?
            .len();
        Ok(FileUse {
            file_bytes,
            allocated_bytes: stats.allocated_pages() * stats.page_size() as u64,
            stored_bytes: stats.stored_bytes() + stats.metadata_bytes(),
        })
    }
}
