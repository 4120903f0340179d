//! The configs as a git repository, beside the content-addressed files:
//! one bare repository, one file per device (`<tenant>/<device>.rsc`),
//! one commit per changed config, so `git log -p` shows a router's history
//! as an Oxidized user expects.
//!
//! Written with libgit2 (git2; no `git` process). Each commit's message
//! names the device, the hash and the attempt, and ends with the log
//! position it records (`Log-Position: N`): that trailer on `HEAD` is the
//! writer's checkpoint, so a restart goes on after the last commit and a
//! repository that lost its last commits is written again from the log.
//! A config equal to what the device's file already holds commits nothing.
//! Blocking IO: call from a blocking thread.

use std::path::Path;

use git2::{ErrorCode, Oid, Repository, RepositoryInitOptions, Signature, Time};

/// A git repository that cannot be opened or written.
#[derive(Debug, thiserror::Error)]
#[error("git repository {path}: {source}")]
pub struct GitError {
    pub path: String,
    pub source: git2::Error,
}

/// One changed config to commit.
#[derive(Debug, Clone)]
pub struct Change<'a> {
    pub tenant: &'a str,
    pub device: &'a str,
    pub text: &'a str,
    pub sha256: &'a str,
    pub attempt: u64,
    /// The log position of the collection (the checkpoint it leaves).
    pub global: u64,
    /// When it was collected (ms since the epoch): the commit's time.
    pub at_ms: u64,
    pub node: &'a str,
}

/// The repository of configs.
pub struct GitHistory {
    repo: Repository,
    path: String,
}

const TRAILER: &str = "Log-Position: ";

impl GitHistory {
    /// Open the bare repository at `path`, creating it (branch `main`) when
    /// it does not exist.
    pub fn open(path: &Path) -> Result<GitHistory, GitError> {
        let shown = path.display().to_string();
        let fail = |source| GitError {
            path: shown.clone(),
            source,
        };
        let repo = match Repository::open_bare(path) {
            Ok(r) => r,
            Err(e) if e.code() == ErrorCode::NotFound => {
                crate::private_fs::create_dir(path)
                    .map_err(|e| fail(git2::Error::from_str(&e.to_string())))?;
                let mut opts = RepositoryInitOptions::new();
                opts.bare(true).initial_head("main");
                Repository::init_opts(path, &opts).map_err(fail)?
            }
            Err(e) => return Err(fail(e)),
        };
        Ok(GitHistory { repo, path: shown })
    }

    fn fail(&self, source: git2::Error) -> GitError {
        GitError {
            path: self.path.clone(),
            source,
        }
    }

    /// The log position of the last commit (0: no commit yet).
    pub fn position(&self) -> Result<u64, GitError> {
        let head = match self.repo.head() {
            Ok(h) => h,
            Err(e) if matches!(e.code(), ErrorCode::UnbornBranch | ErrorCode::NotFound) => {
                return Ok(0);
            }
            Err(e) => return Err(self.fail(e)),
        };
        let commit = head.peel_to_commit().map_err(|e| self.fail(e))?;
        Ok(commit
            .message()
            .unwrap_or("")
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix(TRAILER)?.trim().parse().ok())
            .unwrap_or(0))
    }

    /// Commit `change` unless the device's file already holds it; returns
    /// whether a commit was made.
    pub fn record(&mut self, change: &Change<'_>) -> Result<bool, GitError> {
        let repo = &self.repo;
        let parent = match repo.head() {
            Ok(h) => Some(h.peel_to_commit().map_err(|e| self.fail(e))?),
            Err(_) => None,
        };
        let root = parent
            .as_ref()
            .map(|c| c.tree())
            .transpose()
            .map_err(|e| self.fail(e))?;
        let tenant_tree = root
            .as_ref()
            .and_then(|r| r.get_name(change.tenant))
            .map(|e| repo.find_tree(e.id()))
            .transpose()
            .map_err(|e| self.fail(e))?;
        let file = format!("{}.rsc", change.device);
        let blob = repo
            .blob(change.text.as_bytes())
            .map_err(|e| self.fail(e))?;
        let held = tenant_tree
            .as_ref()
            .and_then(|t| t.get_name(&file))
            .map(|e| e.id());
        if held == Some(blob) {
            return Ok(false);
        }
        let tree = self.tree_with(
            root.as_ref(),
            tenant_tree.as_ref(),
            change.tenant,
            &file,
            blob,
        )?;
        let time = Time::new((change.at_ms / 1000) as i64, 0);
        let email = format!("confkeep@{}", change.node);
        let sig = Signature::new("confkeep", &email, &time).map_err(|e| self.fail(e))?;
        let what = if held.is_some() {
            "changed"
        } else {
            "first backup"
        };
        let message = format!(
            "{}/{}: {what} (sha256 {}, attempt {})\n\n{TRAILER}{}\n",
            change.tenant, change.device, change.sha256, change.attempt, change.global
        );
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        repo.commit(Some("HEAD"), &sig, &sig, &message, &tree, &parents)
            .map_err(|e| self.fail(e))?;
        Ok(true)
    }

    /// The root tree with `tenant/file` set to `blob`.
    fn tree_with(
        &self,
        root: Option<&git2::Tree<'_>>,
        tenant_tree: Option<&git2::Tree<'_>>,
        tenant: &str,
        file: &str,
        blob: Oid,
    ) -> Result<git2::Tree<'_>, GitError> {
        let repo = &self.repo;
        let mut inner = repo.treebuilder(tenant_tree).map_err(|e| self.fail(e))?;
        inner
            .insert(file, blob, 0o100_644)
            .map_err(|e| self.fail(e))?;
        let inner = inner.write().map_err(|e| self.fail(e))?;
        let mut outer = repo.treebuilder(root).map_err(|e| self.fail(e))?;
        outer
            .insert(tenant, inner, 0o040_000)
            .map_err(|e| self.fail(e))?;
        let id = outer.write().map_err(|e| self.fail(e))?;
        repo.find_tree(id).map_err(|e| self.fail(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change<'a>(device: &'a str, text: &'a str, global: u64) -> Change<'a> {
        Change {
            tenant: "acme",
            device,
            text,
            sha256: "ab12",
            attempt: global,
            global,
            at_ms: 1_700_000_000_000 + global * 1000,
            node: "n1",
        }
    }

    #[test]
    fn one_commit_per_change_and_the_position_is_in_head() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("configs.git");
        let mut git = GitHistory::open(&path).unwrap();
        assert_eq!(git.position().unwrap(), 0);
        assert!(
            git.record(&change("r1", "/ip address\nadd 1\n", 3))
                .unwrap()
        );
        assert!(
            !git.record(&change("r1", "/ip address\nadd 1\n", 5))
                .unwrap(),
            "unchanged"
        );
        assert!(git.record(&change("r2", "/system identity\n", 6)).unwrap());
        assert!(
            git.record(&change("r1", "/ip address\nadd 2\n", 9))
                .unwrap()
        );
        drop(git);
        let git = GitHistory::open(&path).unwrap();
        assert_eq!(git.position().unwrap(), 9);
        let repo = Repository::open_bare(&path).unwrap();
        let head = repo.head().unwrap().peel_to_commit().unwrap();
        assert!(
            head.message()
                .unwrap()
                .starts_with("acme/r1: changed (sha256 ab12, attempt 9)")
        );
        let mut walk = repo.revwalk().unwrap();
        walk.push_head().unwrap();
        assert_eq!(walk.count(), 3);
        let blob = head
            .tree()
            .unwrap()
            .get_path(Path::new("acme/r1.rsc"))
            .unwrap()
            .id();
        assert_eq!(
            repo.find_blob(blob).unwrap().content(),
            b"/ip address\nadd 2\n"
        );
    }
}
