//! The retry policy: when to back up, how to back off, how long to wait.
//!
//! The policy in force is part of each device's state (it arrives in
//! `Enrolled` and `PolicyChanged` events), never read from the current
//! configuration during replay. Durations are whole seconds, as operators
//! write them (`CONFIG_BACKUP_INTERVAL=21600`).

use serde::{Deserialize, Serialize};

/// How a device's backups are scheduled and retried.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// Time between two successful backups.
    pub interval_secs: u64,
    /// Shortest delay before the first backup after enrolment.
    pub jitter_min_secs: u64,
    /// Longest delay before the first backup after enrolment.
    pub jitter_max_secs: u64,
    /// Delay before retry after the n-th consecutive transient failure; the
    /// last rung is the cap.
    pub backoff_secs: Vec<u64>,
    /// Bound on one attempt (connect, key exchange, auth, exec and read).
    pub command_timeout_secs: u64,
    /// Extra time after the command timeout before a result that never came
    /// is declared abandoned.
    pub deadline_grace_secs: u64,
    /// Attempts running at once, fleet-wide per daemon.
    pub max_concurrent: u32,
    /// Delay before looking again at a device the online gate says is offline.
    pub offline_recheck_secs: u64,
    /// Delay before retrying a device whose lock another collector holds.
    pub lock_held_retry_secs: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            interval_secs: 21_600,
            jitter_min_secs: 30,
            jitter_max_secs: 300,
            backoff_secs: vec![300, 900, 3_600],
            command_timeout_secs: 60,
            deadline_grace_secs: 30,
            max_concurrent: 10,
            offline_recheck_secs: 900,
            lock_held_retry_secs: 300,
        }
    }
}

/// A policy that cannot work, named by its field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("interval_secs must be greater than 0 (a zero interval would back up continuously)")]
    ZeroInterval,
    #[error("backoff_secs must list at least one delay (e.g. [300, 900, 3600])")]
    EmptyLadder,
    #[error("backoff_secs[{index}] is 0: every retry delay must be at least one second")]
    ZeroBackoff { index: usize },
    #[error("jitter_min_secs ({min}) is greater than jitter_max_secs ({max})")]
    JitterInverted { min: u64, max: u64 },
    #[error("max_concurrent must be at least 1 (0 would never run a backup)")]
    ZeroConcurrency,
    #[error("command_timeout_secs must be greater than 0")]
    ZeroCommandTimeout,
}

impl RetryPolicy {
    /// Check that the policy can work; the error names the field.
    pub fn validate(&self) -> Result<(), PolicyError> {
        if self.interval_secs == 0 {
            return Err(PolicyError::ZeroInterval);
        }
        if self.backoff_secs.is_empty() {
            return Err(PolicyError::EmptyLadder);
        }
        if let Some(index) = self.backoff_secs.iter().position(|&s| s == 0) {
            return Err(PolicyError::ZeroBackoff { index });
        }
        if self.jitter_min_secs > self.jitter_max_secs {
            return Err(PolicyError::JitterInverted {
                min: self.jitter_min_secs,
                max: self.jitter_max_secs,
            });
        }
        if self.max_concurrent == 0 {
            return Err(PolicyError::ZeroConcurrency);
        }
        if self.command_timeout_secs == 0 {
            return Err(PolicyError::ZeroCommandTimeout);
        }
        Ok(())
    }

    /// A validated policy, or the reason it cannot work.
    pub fn try_new(policy: RetryPolicy) -> Result<RetryPolicy, PolicyError> {
        policy.validate()?;
        Ok(policy)
    }

    /// Retry delay after `failures` consecutive transient failures (>= 1):
    /// `ladder[min(n, len) - 1]`. Zero failures is treated as one; an empty
    /// ladder (refused by `validate`, but possible in a hand-edited log) as
    /// the command timeout, so the fold never panics.
    pub fn backoff_delay_secs(&self, failures: u32) -> u64 {
        let n = (failures.max(1) as usize).min(self.backoff_secs.len());
        match n.checked_sub(1).and_then(|i| self.backoff_secs.get(i)) {
            Some(&d) => d,
            None => self.command_timeout_secs.max(1),
        }
    }

    /// How long a running attempt may go without a result before it is
    /// abandoned: command timeout plus grace.
    pub fn attempt_deadline_secs(&self) -> u64 {
        self.command_timeout_secs
            .saturating_add(self.deadline_grace_secs)
    }

    /// The jitter range in milliseconds, for whoever draws the enrolment jitter.
    pub fn jitter_range_ms(&self) -> (u64, u64) {
        (
            self.jitter_min_secs.saturating_mul(1000),
            self.jitter_max_secs.saturating_mul(1000),
        )
    }
}
