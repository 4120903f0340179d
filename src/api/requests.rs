//! What clients send: request bodies and query strings, parsed without IO
//! into checked values, or refused with an error that names the field.
//!
//! The same parsers serve the HTTP API and, for the trigger, the platform's
//! request shape (`{"device_id", "tenant_id"}`), and they are what the fuzz
//! targets feed with arbitrary bytes: nothing here may panic.

use serde::Deserialize;

use crate::domain::{DeviceId, PhaseKind, TenantId, Timestamp};
use crate::projections::status::DeviceFilter;

/// A request that cannot be used: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct RequestError {
    /// The field's path (`fingerprint`, `device_id`, `limit`), or `body`.
    pub field: String,
    pub message: String,
}

impl RequestError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        RequestError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Decode JSON into `T`, naming the field that does not fit.
fn json<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, RequestError> {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        None => {
            return Err(RequestError::new(
                "body",
                "empty: a JSON object is expected",
            ));
        }
        Some(b'{') => {}
        // serde would take an array for a struct: refuse it plainly.
        Some(_) => return Err(RequestError::new("body", "a JSON object is expected")),
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        // The root, or a key with no name: name the body.
        let field = if path == "." || path.is_empty() {
            "body".to_owned()
        } else {
            path
        };
        RequestError::new(field, e.into_inner().to_string())
    })?;
    de.end()
        .map_err(|e| RequestError::new("body", format!("trailing data: {e}")))?;
    Ok(value)
}

/// A manual trigger: which device, and optionally whose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerRequest {
    pub device: DeviceId,
    pub tenant: Option<TenantId>,
}

#[derive(Deserialize)]
struct RawTrigger {
    device_id: String,
    #[serde(default)]
    tenant_id: Option<String>,
}

/// `{"device_id": "r1", "tenant_id": "acme"}` (`tenant_id` optional; other
/// fields are ignored, as the platform may send more).
pub fn trigger(body: &[u8]) -> Result<TriggerRequest, RequestError> {
    let raw: RawTrigger = json(body)?;
    let device = DeviceId::parse(&raw.device_id)
        .map_err(|e| RequestError::new("device_id", e.to_string()))?;
    let tenant = raw
        .tenant_id
        .map(|t| TenantId::parse(&t).map_err(|e| RequestError::new("tenant_id", e.to_string())))
        .transpose()?;
    Ok(TriggerRequest { device, tenant })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccept {
    fingerprint: String,
}

/// `{"fingerprint": "SHA256:…"}`: the key an operator checked and trusts.
pub fn host_key_accept(body: &[u8]) -> Result<String, RequestError> {
    let raw: RawAccept = json(body)?;
    check_fingerprint(&raw.fingerprint).map_err(|m| RequestError::new("fingerprint", m))?;
    Ok(raw.fingerprint)
}

/// `SHA256:` and 43 characters of unpadded base64, as `ssh-keygen -l`
/// prints a SHA-256 fingerprint.
pub fn check_fingerprint(fp: &str) -> Result<(), String> {
    const HINT: &str =
        "must look like SHA256:<43 characters of base64>, as `ssh-keygen -l` prints it";
    let Some(b64) = fp.strip_prefix("SHA256:") else {
        return Err(HINT.into());
    };
    let alphabet = |c: char| c.is_ascii_alphanumeric() || c == '+' || c == '/';
    if b64.len() != 43 || !b64.chars().all(alphabet) {
        return Err(HINT.into());
    }
    Ok(())
}

/// One page of a device's history: the events after sequence `after`, at
/// most `limit` of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryPage {
    pub after: u64,
    pub limit: usize,
    /// Only events recorded at or after this time.
    pub since: Option<Timestamp>,
    /// Only events recorded at or before this time.
    pub until: Option<Timestamp>,
}

/// The page size when none is asked for.
pub const DEFAULT_PAGE: usize = 500;
/// The largest page: bounds what one answer holds in memory.
pub const MAX_PAGE: usize = 5_000;

/// The query string's pairs, percent-decoded.
fn pairs(query: Option<&str>) -> impl Iterator<Item = (String, String)> + '_ {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
}

fn number(key: &str, value: &str) -> Result<u64, RequestError> {
    value
        .parse::<u64>()
        .map_err(|_| RequestError::new(key, format!("{value:?} is not a whole number")))
}

fn page_size(key: &str, value: &str, max: usize) -> Result<usize, RequestError> {
    let n = number(key, value)?;
    if n == 0 || n > max as u64 {
        return Err(RequestError::new(key, format!("{n} is outside 1..={max}")));
    }
    Ok(n as usize)
}

/// `after=N&limit=N&since=MS&until=MS` (all optional) from a query string.
pub fn history_page(query: Option<&str>) -> Result<HistoryPage, RequestError> {
    let mut page = HistoryPage {
        after: 0,
        limit: DEFAULT_PAGE,
        since: None,
        until: None,
    };
    for (key, value) in pairs(query) {
        match key.as_str() {
            "after" => page.after = number(&key, &value)?,
            "limit" => page.limit = page_size(&key, &value, MAX_PAGE)?,
            "since" => page.since = Some(Timestamp(number(&key, &value)?)),
            "until" => page.until = Some(Timestamp(number(&key, &value)?)),
            _ => {
                return Err(RequestError::new(
                    key,
                    "unknown parameter (after, limit, since, until)",
                ));
            }
        }
    }
    Ok(page)
}

/// `dry_run=&keep=&keep_days=` of a retention pass; what is not given
/// comes from `configured`, and a pass needs a bound.
pub fn gc_query(
    query: Option<&str>,
    configured: crate::domain::RetentionRule,
) -> Result<(bool, crate::domain::RetentionRule), RequestError> {
    let (mut dry_run, mut rule) = (false, configured);
    for (key, value) in pairs(query) {
        match key.as_str() {
            "dry_run" => dry_run = matches!(value.as_str(), "" | "1" | "true" | "on"),
            "keep" => {
                rule.keep = Some(usize::try_from(number(&key, &value)?).unwrap_or(usize::MAX))
            }
            "keep_days" => rule.keep_days = Some(number(&key, &value)?),
            _ => {
                return Err(RequestError::new(
                    key,
                    "unknown parameter (dry_run, keep, keep_days)",
                ));
            }
        }
    }
    if rule.is_empty() {
        return Err(RequestError::new(
            "keep",
            "no [retention] is configured: give keep or keep_days",
        ));
    }
    rule.validate()
        .map_err(|e| RequestError::new("keep", e.to_string()))?;
    Ok((dry_run, rule))
}

/// `before=SEQ` (optional) of a device page's timeline.
pub fn timeline_before(query: Option<&str>) -> Result<Option<u64>, RequestError> {
    let mut before = None;
    for (key, value) in pairs(query) {
        match key.as_str() {
            "before" => before = Some(number(&key, &value)?),
            _ => return Err(RequestError::new(key, "unknown parameter (before)")),
        }
    }
    Ok(before)
}

/// A page of the device list: which devices, from where, how many.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceQuery {
    pub filter: DeviceFilter,
    pub offset: usize,
    pub limit: usize,
}

/// The largest page of devices.
pub const MAX_DEVICES_PAGE: usize = 1_000;
/// The page of devices when none is asked for.
pub const DEFAULT_DEVICES_PAGE: usize = 100;

/// `tenant=&tag=&phase=&stale=&q=&offset=&limit=` (all optional);
/// `limit` defaults to `default_limit`.
pub fn device_query(
    query: Option<&str>,
    default_limit: usize,
) -> Result<DeviceQuery, RequestError> {
    let mut q = DeviceQuery {
        filter: DeviceFilter::default(),
        offset: 0,
        limit: default_limit,
    };
    for (key, value) in pairs(query) {
        let text = || Some(value.clone()).filter(|v| !v.is_empty());
        match key.as_str() {
            "tenant" => q.filter.tenant = text(),
            "tag" => q.filter.tag = text(),
            "q" => q.filter.search = text(),
            "phase" if value.is_empty() => q.filter.phase = None,
            "phase" => {
                q.filter.phase = Some(phase(&value).ok_or_else(|| {
                    let names: Vec<&str> = PhaseKind::ALL.iter().map(|p| p.name()).collect();
                    RequestError::new(
                        "phase",
                        format!("{value:?} is not one of {}", names.join(", ")),
                    )
                })?)
            }
            "stale" => {
                q.filter.stale = match value.as_str() {
                    "" | "0" | "false" => false,
                    "1" | "true" | "on" => true,
                    _ => {
                        return Err(RequestError::new(
                            "stale",
                            format!("{value:?} is not true or false"),
                        ));
                    }
                }
            }
            "offset" => q.offset = usize::try_from(number(&key, &value)?).unwrap_or(usize::MAX),
            "limit" => q.limit = page_size(&key, &value, MAX_DEVICES_PAGE)?,
            _ => {
                return Err(RequestError::new(
                    key,
                    "unknown parameter (tenant, tag, phase, stale, q, offset, limit)",
                ));
            }
        }
    }
    Ok(q)
}

/// The query string [`device_query`] reads back as `filter` from `offset`
/// (what the CLI sends and the web page links to).
pub fn device_query_string(filter: &DeviceFilter, offset: usize) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    let text = [
        ("tenant", filter.tenant.as_deref()),
        ("tag", filter.tag.as_deref()),
        ("phase", filter.phase.map(|p| p.name())),
        ("stale", filter.stale.then_some("1")),
        ("q", filter.search.as_deref()),
    ];
    for (key, value) in text {
        if let Some(v) = value {
            q.append_pair(key, v);
        }
    }
    if offset > 0 {
        q.append_pair("offset", &offset.to_string());
    }
    q.finish()
}

/// A phase by its name (`auth_blocked`), as the API and the CLI write it.
pub fn phase(name: &str) -> Option<PhaseKind> {
    PhaseKind::ALL.into_iter().find(|p| p.name() == name)
}

/// `old=HASH&new=HASH` (both optional: the last change).
pub fn diff_query(query: Option<&str>) -> Result<(Option<String>, Option<String>), RequestError> {
    let (mut old, mut new) = (None, None);
    for (key, value) in pairs(query) {
        let hash = Some(value.clone()).filter(|v| !v.is_empty());
        if let Some(h) = &hash
            && !h.chars().all(|c| c.is_ascii_hexdigit())
        {
            return Err(RequestError::new(
                key,
                "a hash (or its prefix) is hexadecimal",
            ));
        }
        match key.as_str() {
            "old" => old = hash,
            "new" => new = hash,
            _ => return Err(RequestError::new(key, "unknown parameter (old, new)")),
        }
    }
    Ok((old, new))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trigger_names_what_is_wrong() {
        let t = trigger(br#"{"device_id": "r1", "tenant_id": "acme", "extra": 1}"#).unwrap();
        assert_eq!(t.device.as_str(), "r1");
        assert_eq!(t.tenant.unwrap().as_str(), "acme");
        assert!(trigger(br#"{"device_id": "r1"}"#).unwrap().tenant.is_none());
        for (body, field) in [
            (&br#"{"tenant_id": "acme"}"#[..], "body"),
            (br#"{"device_id": 7}"#, "device_id"),
            (br#"{"device_id": "a b"}"#, "device_id"),
            (br#"{"device_id": "r1", "tenant_id": "x/y"}"#, "tenant_id"),
            (b"", "body"),
            (b"[1,2]", "body"),
            (br#"{"device_id": "r1"} {}"#, "body"),
            (b"\xff\xfe", "body"),
            // Found by the fuzzer: an empty key before bad UTF-8.
            (b"{\"\": \"core-\xd7\xdd\xd3\"}", "body"),
        ] {
            let e = trigger(body).unwrap_err();
            assert_eq!(e.field, field, "{:?}: {e}", String::from_utf8_lossy(body));
        }
        let e = trigger(br#"{"tenant_id": "acme"}"#).unwrap_err();
        assert!(e.message.contains("device_id"), "{e}");
    }

    #[test]
    fn a_fingerprint_must_be_one() {
        let good = "SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8";
        assert_eq!(
            host_key_accept(format!(r#"{{"fingerprint": "{good}"}}"#).as_bytes()).unwrap(),
            good
        );
        for body in [
            r#"{"fingerprint": "MD5:aa"}"#,
            r#"{"fingerprint": "SHA256:short"}"#,
            r#"{"fingerprint": "SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8="}"#,
            r#"{"fingerprint": "SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5S!8"}"#,
        ] {
            assert_eq!(
                host_key_accept(body.as_bytes()).unwrap_err().field,
                "fingerprint"
            );
        }
        let e = host_key_accept(br#"{"fingerprnt": "x"}"#).unwrap_err();
        assert!(e.message.contains("fingerprnt"), "{e}");
    }

    #[test]
    fn history_pages_are_bounded() {
        assert_eq!(
            history_page(None).unwrap(),
            HistoryPage {
                after: 0,
                limit: DEFAULT_PAGE,
                since: None,
                until: None,
            }
        );
        assert_eq!(
            history_page(Some("after=10&limit=3")).unwrap(),
            HistoryPage {
                after: 10,
                limit: 3,
                since: None,
                until: None,
            }
        );
        assert_eq!(history_page(Some("limit=0")).unwrap_err().field, "limit");
        assert_eq!(
            history_page(Some("limit=999999")).unwrap_err().field,
            "limit"
        );
        assert_eq!(history_page(Some("after=-1")).unwrap_err().field, "after");
        assert_eq!(
            history_page(Some("since=1")).unwrap().since,
            Some(Timestamp(1))
        );
        assert_eq!(history_page(Some("before=1")).unwrap_err().field, "before");
    }

    #[test]
    fn device_queries_name_what_is_wrong() {
        let q = device_query(
            Some("tenant=acme&tag=fault%2Dauth&phase=auth_blocked&stale=true&offset=5&limit=20"),
            100,
        )
        .unwrap();
        assert_eq!(q.filter.tenant.as_deref(), Some("acme"));
        assert_eq!(q.filter.tag.as_deref(), Some("fault-auth"));
        assert_eq!(q.filter.phase, Some(PhaseKind::AuthBlocked));
        assert!(q.filter.stale);
        assert_eq!((q.offset, q.limit), (5, 20));
        assert_eq!(device_query(None, 7).unwrap().limit, 7);
        for (bad, field) in [
            ("phase=sleepy", "phase"),
            ("stale=maybe", "stale"),
            ("limit=0", "limit"),
            ("limit=5000", "limit"),
            ("sort=x", "sort"),
        ] {
            assert_eq!(
                device_query(Some(bad), 100).unwrap_err().field,
                field,
                "{bad}"
            );
        }
        assert!(
            device_query(Some("phase=sleepy"), 1)
                .unwrap_err()
                .message
                .contains("auth_blocked")
        );
        assert_eq!(
            diff_query(Some("old=ab12&new=")).unwrap(),
            (Some("ab12".into()), None)
        );
        assert_eq!(diff_query(Some("old=../x")).unwrap_err().field, "old");
    }
}
