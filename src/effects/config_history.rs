//! `[history]`: how the log's history is kept short to fold — checkpoints
//! of the folded state, written every so many events or minutes.

use serde::Deserialize;

/// `[history]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HistoryConfig {
    /// A checkpoint after this many events folded since the last one
    /// (0: not by count).
    pub checkpoint_every_events: u64,
    /// A checkpoint this often while events come in, in seconds (0: not
    /// by time).
    pub checkpoint_every_secs: u64,
    /// Checkpoints kept (the newest first); older ones are removed. More
    /// than one, so a bad newest one falls back to the one before it.
    pub checkpoints_kept: usize,
    /// Events older than this many days move from the live log to the
    /// archive (compaction); absent: the live log keeps everything.
    pub keep_days: Option<u64>,
    /// How often compaction runs, in seconds.
    pub compact_every_secs: u64,
    /// Where the archive is, relative to `data_dir`.
    pub archive_dir: std::path::PathBuf,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        HistoryConfig {
            checkpoint_every_events: 100_000,
            checkpoint_every_secs: 600,
            checkpoints_kept: 3,
            keep_days: None,
            compact_every_secs: 3600,
            archive_dir: std::path::PathBuf::from("archive"),
        }
    }
}

impl HistoryConfig {
    /// Whether checkpoints are written at all.
    pub fn checkpoints(&self) -> bool {
        self.checkpoint_every_events > 0 || self.checkpoint_every_secs > 0
    }
}
