//! Checkpoints: the folded state of the fleet at a log position, kept
//! beside the log so start-up folds only the tail.
//!
//! The store keeps opaque bodies (what a body holds is the folding side's
//! business, see `projections::board_checkpoint`) under a
//! [`CheckpointMeta`]: the log position, the rules and format that wrote
//! it, the log it belongs to, and the SHA-256 of the body. A backend writes
//! body and meta so that a checkpoint is listed only once it is whole
//! (redb: one transaction; JetStream object store: the object's info is
//! published after its last chunk), so a kill -9 while one is written
//! leaves the older ones as they were.
//!
//! [`newest_usable`] walks the list newest first and takes the first one
//! that passes every check, saying in the log why each one before it was
//! skipped.

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{GlobalSeq, StoreError};

/// What is known about a stored checkpoint without reading its body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointMeta {
    /// The name it is stored under (`board-<position>`).
    pub name: String,
    /// The last log position folded into it.
    pub position: GlobalSeq,
    /// `domain::RULES_VERSION` of the rules that folded it.
    pub rules: u32,
    /// The body's format version (the folding side's).
    pub format: u32,
    /// The log it was folded from (a stream recreated under the same name
    /// is another log).
    pub log: String,
    /// SHA-256 of the body, hex.
    pub sha256: String,
    pub bytes: u64,
    /// When it was written (ms since the epoch).
    pub written_at: u64,
}

impl CheckpointMeta {
    /// The meta of `body`, folded up to `position`.
    pub fn of(
        body: &[u8],
        position: GlobalSeq,
        rules: u32,
        format: u32,
        log: &str,
        written_at: u64,
    ) -> Self {
        CheckpointMeta {
            name: format!("board-{position:020}"),
            position,
            rules,
            format,
            log: log.to_owned(),
            sha256: hex::encode(Sha256::digest(body)),
            bytes: body.len() as u64,
            written_at,
        }
    }

    /// Whether `body` is the one this meta was made for.
    pub fn verify(&self, body: &[u8]) -> Result<(), String> {
        if body.len() as u64 != self.bytes {
            return Err(format!(
                "{} bytes where {} were written (truncated?)",
                body.len(),
                self.bytes
            ));
        }
        let sha = hex::encode(Sha256::digest(body));
        if sha != self.sha256 {
            return Err(format!("checksum {sha} where {} was written", self.sha256));
        }
        Ok(())
    }
}

/// Where checkpoints are kept: one per backend of the log.
pub trait CheckpointStore: Send + Sync {
    /// Where, for messages (the redb file and table, the bucket).
    fn describe(&self) -> String;

    /// The identity of the log these checkpoints belong to.
    fn log_id(&self) -> String;

    /// Store `body` under `meta` (durable when this returns).
    fn save(&self, meta: CheckpointMeta, body: Vec<u8>) -> BoxFuture<'_, Result<(), StoreError>>;

    /// Every whole checkpoint, newest (highest position) first. A meta
    /// that does not read is left out and said in the log.
    fn list(&self) -> BoxFuture<'_, Result<Vec<CheckpointMeta>, StoreError>>;

    /// The body of one checkpoint.
    fn load<'a>(&'a self, meta: &'a CheckpointMeta) -> BoxFuture<'a, Result<Vec<u8>, StoreError>>;

    /// Remove one checkpoint.
    fn remove<'a>(&'a self, meta: &'a CheckpointMeta) -> BoxFuture<'a, Result<(), StoreError>>;
}

/// What a checkpoint must match to be used.
#[derive(Debug, Clone, Copy)]
pub struct Wanted<'a> {
    pub rules: u32,
    pub format: u32,
    pub log: &'a str,
    /// Only checkpoints at or below this position (a follower that is
    /// behind the newest one); `GlobalSeq::MAX` for any.
    pub at_most: GlobalSeq,
}

impl Wanted<'_> {
    /// Why `meta` cannot be used, if it cannot.
    fn refuse(&self, meta: &CheckpointMeta) -> Option<String> {
        if meta.rules != self.rules {
            return Some(format!(
                "written by rules version {}, these are version {}",
                meta.rules, self.rules
            ));
        }
        if meta.format != self.format {
            return Some(format!(
                "format {}, this release reads format {}",
                meta.format, self.format
            ));
        }
        if meta.log != self.log {
            return Some(format!(
                "folded from log {}, this is log {}",
                meta.log, self.log
            ));
        }
        (meta.position > self.at_most).then(|| {
            format!(
                "at position {}, past {} where this reader is",
                meta.position, self.at_most
            )
        })
    }
}

/// A checkpoint that passed every check, decoded.
#[derive(Debug)]
pub struct Usable<T> {
    pub meta: CheckpointMeta,
    pub state: T,
    /// Checkpoints skipped before it (newer ones that failed a check).
    pub skipped: usize,
}

/// The newest checkpoint that is `wanted`, whole and decodes; `None` when
/// there is none (then the fold starts from the beginning). Each one
/// skipped is said in the log with why.
pub async fn newest_usable<T>(
    store: &dyn CheckpointStore,
    wanted: Wanted<'_>,
    decode: impl Fn(&CheckpointMeta, &[u8]) -> Result<T, String>,
) -> Result<Option<Usable<T>>, StoreError> {
    first_usable(store, store.list().await?, wanted, decode).await
}

/// The oldest checkpoint that is `wanted`, whole and decodes: the base
/// compaction may remove events below.
pub async fn oldest_usable<T>(
    store: &dyn CheckpointStore,
    wanted: Wanted<'_>,
    decode: impl Fn(&CheckpointMeta, &[u8]) -> Result<T, String>,
) -> Result<Option<Usable<T>>, StoreError> {
    let mut all = store.list().await?;
    all.reverse();
    first_usable(store, all, wanted, decode).await
}

async fn first_usable<T>(
    store: &dyn CheckpointStore,
    candidates: Vec<CheckpointMeta>,
    wanted: Wanted<'_>,
    decode: impl Fn(&CheckpointMeta, &[u8]) -> Result<T, String>,
) -> Result<Option<Usable<T>>, StoreError> {
    let mut skipped = 0;
    for meta in candidates {
        let refused = match wanted.refuse(&meta) {
            Some(why) => Err(why),
            None => match store.load(&meta).await {
                Ok(body) => meta.verify(&body).and_then(|()| decode(&meta, &body)),
                Err(e) => Err(e.to_string()),
            },
        };
        match refused {
            Ok(state) => {
                return Ok(Some(Usable {
                    meta,
                    state,
                    skipped,
                }));
            }
            Err(why) => {
                skipped += 1;
                tracing::warn!(checkpoint = %meta.name, position = meta.position, store = %store.describe(), reason = %why,
                    "a checkpoint was skipped; another one or the log's start is used");
            }
        }
    }
    Ok(None)
}

/// Keep the newest `keep` checkpoints (at least one), remove the rest.
/// Returns how many were removed.
pub async fn prune(store: &dyn CheckpointStore, keep: usize) -> Result<usize, StoreError> {
    let all = store.list().await?;
    let mut removed = 0;
    for meta in all.iter().skip(keep.max(1)) {
        store.remove(meta).await?;
        removed += 1;
    }
    Ok(removed)
}

/// Checkpoints in memory: for the memory log (tests, simulations).
#[derive(Debug, Default)]
pub struct MemoryCheckpoints {
    kept: std::sync::Mutex<std::collections::BTreeMap<String, (CheckpointMeta, Vec<u8>)>>,
}

impl MemoryCheckpoints {
    fn kept(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::BTreeMap<String, (CheckpointMeta, Vec<u8>)>>
    {
        self.kept.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl CheckpointStore for MemoryCheckpoints {
    fn describe(&self) -> String {
        "memory".to_owned()
    }

    fn log_id(&self) -> String {
        "memory".to_owned()
    }

    fn save(&self, meta: CheckpointMeta, body: Vec<u8>) -> BoxFuture<'_, Result<(), StoreError>> {
        self.kept().insert(meta.name.clone(), (meta, body));
        Box::pin(async { Ok(()) })
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<CheckpointMeta>, StoreError>> {
        let mut all: Vec<CheckpointMeta> = self.kept().values().map(|(m, _)| m.clone()).collect();
        newest_first(&mut all);
        Box::pin(async { Ok(all) })
    }

    fn load<'a>(&'a self, meta: &'a CheckpointMeta) -> BoxFuture<'a, Result<Vec<u8>, StoreError>> {
        let body = self.kept().get(&meta.name).map(|(_, b)| b.clone());
        Box::pin(async move {
            body.ok_or_else(|| StoreError::unavailable(format!("no checkpoint {}", meta.name)))
        })
    }

    fn remove<'a>(&'a self, meta: &'a CheckpointMeta) -> BoxFuture<'a, Result<(), StoreError>> {
        self.kept().remove(&meta.name);
        Box::pin(async { Ok(()) })
    }
}

/// Sort metas newest (highest position) first.
pub fn newest_first(all: &mut [CheckpointMeta]) {
    all.sort_by(|a, b| b.position.cmp(&a.position).then(b.name.cmp(&a.name)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted() -> Wanted<'static> {
        Wanted {
            rules: 1,
            format: 1,
            log: "memory",
            at_most: GlobalSeq::MAX,
        }
    }

    fn save(store: &MemoryCheckpoints, position: u64, rules: u32, body: &[u8]) -> CheckpointMeta {
        let meta = CheckpointMeta::of(body, position, rules, 1, "memory", 0);
        futures::executor::block_on(store.save(meta.clone(), body.to_vec())).unwrap();
        meta
    }

    fn decode(_: &CheckpointMeta, body: &[u8]) -> Result<String, String> {
        String::from_utf8(body.to_vec()).map_err(|e| e.to_string())
    }

    #[test]
    fn the_newest_whole_checkpoint_of_these_rules_is_used() {
        let store = MemoryCheckpoints::default();
        save(&store, 10, 1, b"ten");
        save(&store, 30, 2, b"thirty, other rules");
        let corrupt = save(&store, 20, 1, b"twenty");
        store.kept().get_mut(&corrupt.name).unwrap().1 = b"twenty!".to_vec();
        save(&store, 25, 1, &[0xff, 0xfe]);
        let got = futures::executor::block_on(newest_usable(&store, wanted(), decode))
            .unwrap()
            .unwrap();
        assert_eq!((got.meta.position, got.state.as_str()), (10, "ten"));
        assert_eq!(got.skipped, 3, "other rules, undecodable, truncated");
    }

    #[test]
    fn a_reader_behind_the_newest_takes_an_older_one_and_none_is_none() {
        let store = MemoryCheckpoints::default();
        save(&store, 10, 1, b"ten");
        save(&store, 20, 1, b"twenty");
        let behind = Wanted {
            at_most: 15,
            ..wanted()
        };
        let got = futures::executor::block_on(newest_usable(&store, behind, decode)).unwrap();
        assert_eq!(got.unwrap().meta.position, 10);
        let none = Wanted {
            at_most: 5,
            ..wanted()
        };
        let got = futures::executor::block_on(newest_usable(&store, none, decode)).unwrap();
        assert!(got.is_none());
        let removed = futures::executor::block_on(prune(&store, 1)).unwrap();
        assert_eq!(removed, 1);
        let left = futures::executor::block_on(store.list()).unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].position, 20);
    }

    #[test]
    fn verify_names_truncation_and_checksum() {
        let meta = CheckpointMeta::of(b"abc", 1, 1, 1, "memory", 0);
        assert!(meta.verify(b"ab").unwrap_err().contains("truncated"));
        assert!(meta.verify(b"abd").unwrap_err().contains("checksum"));
        assert!(meta.verify(b"abc").is_ok());
    }
}
