//! Keeping credentials out of messages.
//!
//! Service URLs (`nats://user:pass@host`, `redis://:pass@host`) may carry a
//! password; every log line and error that names a server goes through
//! [`redact_url`], so an operator can paste a log without leaking one.

/// `url` with any user-info (`user:password@`) replaced by `***@`.
/// Anything that does not look like a URL with credentials comes back as is.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let authority_start = scheme_end + 3;
    let rest = &url[authority_start..];
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_len].rfind('@') {
        Some(at) => format!("{}***{}", &url[..authority_start], &rest[at..]),
        None => url.to_owned(),
    }
}

/// Whether `url` carries user-info (a user name, a password or a token).
pub fn has_credentials(url: &str) -> bool {
    redact_url(url) != url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_hidden_and_the_rest_kept() {
        assert_eq!(
            redact_url("nats://backup:s3cret@10.0.0.1:4222"),
            "nats://***@10.0.0.1:4222"
        );
        assert_eq!(
            redact_url("redis://:p@ss@127.0.0.1:6379/0"),
            "redis://***@127.0.0.1:6379/0"
        );
        assert_eq!(redact_url("nats://10.0.0.1:4222"), "nats://10.0.0.1:4222");
        assert_eq!(
            redact_url("redis://127.0.0.1/0?user=a@b"),
            "redis://127.0.0.1/0?user=a@b"
        );
        assert_eq!(redact_url("not a url"), "not a url");
        assert!(has_credentials("nats://tok@h"));
        assert!(!has_credentials("nats://h"));
    }
}
