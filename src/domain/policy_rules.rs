//! Per-tag policies: `[[policy_for]]` rules that give devices with a tag a
//! policy of their own.
//!
//! ```toml
//! [[policy_for]]
//! tags = ["core"]          # a device with any of these tags
//! interval_secs = 3600     # any RetryPolicy field but max_concurrent
//! ```
//!
//! The first rule whose tags meet the device's wins (firewall order, which
//! operators already read); fields a rule leaves out come from `[policy]`.
//! `max_concurrent` is fleet-wide and has no per-device value. Resolving is
//! pure: the daemon resolves at each reconcile and records the result in
//! the device's `Enrolled` or `PolicyChanged`, so replay never reads the
//! rules.

use serde::{Deserialize, Serialize};

use super::policy::{PolicyError, RetryPolicy};

/// One `[[policy_for]]` rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyRule {
    /// Devices with any of these tags get this rule.
    pub tags: Vec<String>,
    pub interval_secs: Option<u64>,
    pub jitter_min_secs: Option<u64>,
    pub jitter_max_secs: Option<u64>,
    pub backoff_secs: Option<Vec<u64>>,
    pub command_timeout_secs: Option<u64>,
    pub deadline_grace_secs: Option<u64>,
    pub offline_recheck_secs: Option<u64>,
    pub lock_held_retry_secs: Option<u64>,
}

/// Why a rule cannot be used, naming the rule (1-based, as in the file).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("[[policy_for]] number {rule}: tags must name at least one tag")]
    NoTags { rule: usize },
    #[error("[[policy_for]] number {rule} (tags {tags:?}): {source}")]
    Policy {
        rule: usize,
        tags: Vec<String>,
        source: PolicyError,
    },
}

impl PolicyRule {
    fn matches(&self, tags: &[String]) -> bool {
        self.tags.iter().any(|t| tags.contains(t))
    }

    /// `base` with this rule's fields in place of its own.
    pub fn apply(&self, base: &RetryPolicy) -> RetryPolicy {
        let mut p = base.clone();
        let pick = |v: Option<u64>, d: u64| v.unwrap_or(d);
        p.interval_secs = pick(self.interval_secs, p.interval_secs);
        p.jitter_min_secs = pick(self.jitter_min_secs, p.jitter_min_secs);
        p.jitter_max_secs = pick(self.jitter_max_secs, p.jitter_max_secs);
        p.command_timeout_secs = pick(self.command_timeout_secs, p.command_timeout_secs);
        p.deadline_grace_secs = pick(self.deadline_grace_secs, p.deadline_grace_secs);
        p.offline_recheck_secs = pick(self.offline_recheck_secs, p.offline_recheck_secs);
        p.lock_held_retry_secs = pick(self.lock_held_retry_secs, p.lock_held_retry_secs);
        if let Some(ladder) = &self.backoff_secs {
            p.backoff_secs = ladder.clone();
        }
        p
    }
}

/// The base policy and the rules that refine it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policies {
    pub base: RetryPolicy,
    pub rules: Vec<PolicyRule>,
}

impl Policies {
    /// Check every rule gives a policy that works.
    pub fn validate(&self) -> Result<(), RuleError> {
        for (i, rule) in self.rules.iter().enumerate() {
            let number = i + 1;
            if rule.tags.is_empty() {
                return Err(RuleError::NoTags { rule: number });
            }
            rule.apply(&self.base)
                .validate()
                .map_err(|source| RuleError::Policy {
                    rule: number,
                    tags: rule.tags.clone(),
                    source,
                })?;
        }
        Ok(())
    }

    /// The policy of a device with `tags`: the first matching rule's, else
    /// the base.
    pub fn for_tags(&self, tags: &[String]) -> RetryPolicy {
        match self.rules.iter().find(|r| r.matches(tags)) {
            Some(rule) => rule.apply(&self.base),
            None => self.base.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(tags: &[&str], interval: u64) -> PolicyRule {
        PolicyRule {
            tags: tags.iter().map(|t| t.to_string()).collect(),
            interval_secs: Some(interval),
            ..PolicyRule::default()
        }
    }

    #[test]
    fn the_first_matching_rule_wins_and_the_rest_comes_from_the_base() {
        let p = Policies {
            base: RetryPolicy::default(),
            rules: vec![rule(&["core"], 3600), rule(&["core", "edge"], 7200)],
        };
        let tags = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(p.for_tags(&tags(&["edge", "core"])).interval_secs, 3600);
        assert_eq!(p.for_tags(&tags(&["edge"])).interval_secs, 7200);
        assert_eq!(p.for_tags(&tags(&["lab"])), RetryPolicy::default());
        let core = p.for_tags(&tags(&["core"]));
        assert_eq!(core.backoff_secs, RetryPolicy::default().backoff_secs);
    }

    #[test]
    fn a_rule_that_cannot_work_is_named() {
        let p = Policies {
            base: RetryPolicy::default(),
            rules: vec![rule(&["core"], 3600), rule(&["lab"], 0)],
        };
        let e = p.validate().unwrap_err().to_string();
        assert!(
            e.contains("number 2") && e.contains("lab") && e.contains("interval_secs"),
            "{e}"
        );
        let p = Policies {
            base: RetryPolicy::default(),
            rules: vec![rule(&[], 60)],
        };
        assert_eq!(p.validate(), Err(RuleError::NoTags { rule: 1 }));
    }
}
