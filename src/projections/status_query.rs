//! Finding devices on the board: filter by tenant, tag, phase, staleness
//! or a piece of the id or address, one page at a time.
//!
//! The API, the CLI (from the API or from the log) and the web page all ask
//! the board the same question, so they agree on what "stale" or "tag
//! core" means. A query visits every device once but builds a row only for
//! the page it returns, so it stays cheap at 100 000 devices.

use serde::{Deserialize, Serialize};

use crate::domain::{PhaseKind, Timestamp};

use super::{DeviceStatus, Folded, StatusBoard, row, stale};

/// Which devices an operator asks for; every part given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<PhaseKind>,
    /// Only devices without a success within two intervals.
    #[serde(default)]
    pub stale: bool,
    /// A piece of the device id or host, any case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<String>,
}

/// One page of matching devices, in id order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DevicePage {
    /// Devices matching the filter, all pages together.
    pub matching: usize,
    pub offset: usize,
    pub devices: Vec<DeviceStatus>,
    /// Ask again with `offset=` this for the next page; absent on the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_offset: Option<usize>,
}

impl DeviceFilter {
    /// Whether nothing is asked (every device matches).
    pub fn is_empty(&self) -> bool {
        *self == DeviceFilter::default()
    }

    fn matches(&self, f: &Folded, now: Timestamp) -> bool {
        let s = &f.state;
        if self
            .tenant
            .as_deref()
            .is_some_and(|t| s.tenant.as_str() != t)
            || self.tag.as_ref().is_some_and(|t| !s.tags.contains(t))
            || self.phase.is_some_and(|p| s.phase.kind() != p)
        {
            return false;
        }
        if let Some(piece) = self.search.as_deref() {
            let hit =
                contains_any_case(s.device.as_str(), piece) || contains_any_case(&s.host, piece);
            if !hit {
                return false;
            }
        }
        !self.stale || is_stale(f, now)
    }
}

/// `piece` in `text`, ASCII letters in any case, without allocating: a
/// search visits every device (the benchmark found the lowercased copies
/// were most of its cost).
fn contains_any_case(text: &str, piece: &str) -> bool {
    let (text, piece) = (text.as_bytes(), piece.as_bytes());
    piece.is_empty()
        || text
            .windows(piece.len())
            .any(|w| w.eq_ignore_ascii_case(piece))
}

fn is_stale(f: &Folded, now: Timestamp) -> bool {
    let s = &f.state;
    let from = s.last_success.or(f.enrolled_at).unwrap_or(s.since);
    stale(s.phase.kind(), from, s.policy.interval_secs, now)
}

impl StatusBoard {
    /// The devices matching `filter`, `limit` of them from `offset`.
    pub fn query(
        &self,
        filter: &DeviceFilter,
        offset: usize,
        limit: usize,
        now: Timestamp,
    ) -> DevicePage {
        let mut matching = 0;
        let mut devices = Vec::with_capacity(limit.min(1024));
        for f in self.devices.values() {
            if !filter.matches(f, now) {
                continue;
            }
            if matching >= offset && devices.len() < limit {
                devices.push(row(f));
            }
            matching += 1;
        }
        let next = offset.saturating_add(devices.len());
        DevicePage {
            matching,
            offset,
            devices,
            next_offset: (next < matching).then_some(next),
        }
    }

    /// Every tenant and tag on the board with its device count, for the
    /// filters an operator can pick from.
    pub fn facets(&self) -> Facets {
        self.labels.facets()
    }
}

/// Tenants and tags with how many devices carry each.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Facets {
    pub tenants: std::collections::BTreeMap<String, usize>,
    pub tags: std::collections::BTreeMap<String, usize>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{DeviceId, Envelope, Event, RetryPolicy, SCHEMA_VERSION, TenantId};

    fn enrolled(seq_global: u64, device: &str, tenant: &str, tags: &[&str]) -> (u64, Envelope) {
        let tenant = TenantId::parse(tenant).unwrap();
        let env = Envelope {
            schema: SCHEMA_VERSION,
            device: DeviceId::parse(device).unwrap(),
            tenant: tenant.clone(),
            seq: 1,
            at: Timestamp(1_000),
            node: "n".into(),
            correlation: None,
            event: Event::Enrolled {
                tenant,
                host: format!("{device}.example.net"),
                port: 22,
                jitter_ms: 0,
                policy: RetryPolicy::default(),
                tags: tags.iter().map(|t| t.to_string()).collect(),
            },
            after: None,
        };
        (seq_global, env)
    }

    #[test]
    fn filters_combine_and_pages_cover_every_match_once() {
        let mut board = StatusBoard::new();
        for i in 0..25u64 {
            let tenant = if i % 2 == 0 { "acme" } else { "globex" };
            let tags: &[&str] = if i % 5 == 0 { &["core"] } else { &["edge"] };
            let (g, env) = enrolled(i + 1, &format!("r{i:02}"), tenant, tags);
            board.apply(g, &env);
        }
        let acme_core = DeviceFilter {
            tenant: Some("acme".into()),
            tag: Some("core".into()),
            ..DeviceFilter::default()
        };
        let page = board.query(&acme_core, 0, 10, Timestamp(2_000));
        let ids: Vec<&str> = page.devices.iter().map(|d| d.device.as_str()).collect();
        assert_eq!(ids, ["r00", "r10", "r20"]);
        assert_eq!((page.matching, page.next_offset), (3, None));
        let mut seen = Vec::new();
        let mut offset = Some(0);
        while let Some(o) = offset {
            let p = board.query(&DeviceFilter::default(), o, 7, Timestamp(2_000));
            seen.extend(p.devices.into_iter().map(|d| d.device));
            offset = p.next_offset;
        }
        assert_eq!(seen.len(), 25);
        let search = DeviceFilter {
            search: Some("R1".into()),
            phase: Some(PhaseKind::Jitter),
            ..DeviceFilter::default()
        };
        assert_eq!(board.query(&search, 0, 100, Timestamp(2_000)).matching, 10);
        let later = Timestamp(1_000 + 2 * 21_600_000 + 1);
        let stale = DeviceFilter {
            stale: true,
            ..DeviceFilter::default()
        };
        assert_eq!(board.query(&stale, 0, 1, Timestamp(2_000)).matching, 0);
        assert_eq!(board.query(&stale, 0, 1, later).matching, 25);
        let facets = board.facets();
        assert_eq!(facets.tags.get("core"), Some(&5));
        assert_eq!(facets.tenants.get("globex"), Some(&12));
    }
}

/// Devices per tenant and per tag, kept as the fold goes (see
/// `StatusBoard::apply`): the facets without a pass over the fleet.
#[derive(Debug, Clone, Default)]
pub(super) struct Labels {
    tenants: std::collections::HashMap<crate::domain::TenantId, usize>,
    tags: std::collections::HashMap<String, usize>,
}

impl Labels {
    /// Add (`by` 1) or take away (`by` -1) one device with these labels.
    pub(super) fn count(&mut self, tenant: &crate::domain::TenantId, tags: &[String], by: isize) {
        let bump = |n: &mut usize| *n = n.saturating_add_signed(by);
        bump(self.tenants.entry(tenant.clone()).or_default());
        for tag in tags {
            bump(self.tags.entry(tag.clone()).or_default());
        }
    }

    fn facets(&self) -> Facets {
        let sorted = |m: Vec<(String, usize)>| m.into_iter().filter(|(_, n)| *n > 0).collect();
        Facets {
            tenants: sorted(
                self.tenants
                    .iter()
                    .map(|(t, n)| (t.to_string(), *n))
                    .collect(),
            ),
            tags: sorted(self.tags.iter().map(|(t, n)| (t.clone(), *n)).collect()),
        }
    }
}
