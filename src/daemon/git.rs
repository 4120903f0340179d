//! Keeping the git repository of configs ([`GitHistory`]) written: a task
//! that follows the log from the position of the repository's last commit
//! and commits each collected config that differs from the device's file.
//!
//! It is beside the runner, never on its path: a repository that cannot be
//! written is said once in the log, the same change is tried again with
//! backoff (5 s doubling to 5 min) so the history keeps its order and has
//! no holes, and snapshots are stored all the while. A config whose text
//! can no longer be read (retention removed it) is skipped, saying so.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::watch;

use crate::domain::{Envelope, Event, Outcome};
use crate::effects::git_history::{Change, GitError, GitHistory};
use crate::effects::snapshot_read::SnapshotReader;
use crate::store::{EventLog, GlobalSeq};

/// Follow the log into the repository at `path` until `stop`; `written`
/// follows the log position the repository holds.
pub async fn follow(
    path: PathBuf,
    log: Arc<dyn EventLog>,
    reader: Arc<SnapshotReader>,
    written: watch::Sender<GlobalSeq>,
    mut stop: watch::Receiver<bool>,
) {
    let opened = tokio::task::spawn_blocking(move || {
        let git = GitHistory::open(&path)?;
        let at = git.position()?;
        Ok::<_, GitError>((git, at))
    })
    .await;
    let (mut git, at) = match opened {
        Ok(Ok(g)) => g,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "configs are not committed to git (snapshots are still stored)");
            return;
        }
        Err(_) => return,
    };
    written.send_replace(at);
    let mut tail = log.tail(at + 1);
    loop {
        let item = tokio::select! {
            item = tail.next() => item,
            _ = stop.changed() => return,
        };
        let Some(Ok((global, env))) = item else {
            continue;
        };
        let Some(text) = collected_text(&reader, &env).await else {
            written.send_replace(global);
            continue;
        };
        match commit(git, &env, text, global, &mut stop).await {
            Some(g) => git = g,
            None => return,
        }
        written.send_replace(global);
    }
}

/// The text of the config `env` collected, if it is a collection and the
/// text can be read.
async fn collected_text(reader: &SnapshotReader, env: &Envelope) -> Option<String> {
    let Event::AttemptFinished {
        outcome: Outcome::Collected { sha256, .. },
        ..
    } = &env.event
    else {
        return None;
    };
    match reader.text(&env.tenant, &env.device, sha256).await {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::info!(device = %env.device, error = %e, "a config is not committed to git: its text cannot be read");
            None
        }
    }
}

/// Commit, retrying with backoff until it is written or `stop`; gives the
/// repository back (`None`: stopped).
async fn commit(
    git: GitHistory,
    env: &Envelope,
    text: String,
    global: GlobalSeq,
    stop: &mut watch::Receiver<bool>,
) -> Option<GitHistory> {
    let (mut git, mut wait, mut said) = (git, Duration::from_secs(5), false);
    loop {
        let owned = env.clone();
        let text = text.clone();
        let (back, result) = tokio::task::spawn_blocking(move || {
            let r = record(&mut git, &owned, &text, global);
            (git, r)
        })
        .await
        .ok()?;
        git = back;
        match result {
            Ok(_) if said => {
                tracing::info!("configs are committed to git again");
                return Some(git);
            }
            Ok(_) => return Some(git),
            Err(e) if !said => {
                tracing::error!(error = %e, "a config could not be committed to git; trying again with backoff (snapshots are still stored)");
                said = true;
            }
            Err(_) => {}
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return None,
        }
        wait = (wait * 2).min(Duration::from_secs(300));
    }
}

fn record(
    git: &mut GitHistory,
    env: &Envelope,
    text: &str,
    global: GlobalSeq,
) -> Result<bool, GitError> {
    let Event::AttemptFinished {
        attempt,
        outcome: Outcome::Collected { sha256, .. },
    } = &env.event
    else {
        return Ok(false);
    };
    git.record(&Change {
        tenant: env.tenant.as_str(),
        device: env.device.as_str(),
        text,
        sha256,
        attempt: *attempt,
        global,
        at_ms: env.at.as_millis(),
        node: &env.node,
    })
}
