//! Who may call the API: the bearer token and the rule for reads and writes.
//!
//! Every state-changing request (any method but `GET`/`HEAD`) needs
//! `Authorization: Bearer <token>` once a token is configured, whichever
//! address it comes from. Reads need it too on a listener that is not
//! loopback, unless `api_public_reads = true`. Without a token the daemon
//! only ever listens on loopback (checked at start, see `serve`), so a
//! tokenless write can only come from this host. A diff shows config text
//! (`show-sensitive`: passwords, keys), so it needs the token whenever one
//! is set, like a write, even on loopback or with public reads.
//!
//! The token is kept as its SHA-256 and compared in constant time: the
//! digest makes both sides the same length, so neither the content nor the
//! length of the real token leaks through timing, and nothing that holds the
//! token can print it by accident (`Debug` shows `***`).

use std::path::{Path, PathBuf};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The shortest token accepted: a guessable token is no lock.
pub const MIN_TOKEN_LEN: usize = 16;

/// The configured API token, as its digest.
#[derive(Clone)]
pub struct ApiToken([u8; 32]);

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiToken(***)")
    }
}

/// A token that cannot be used, naming where it came from.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("{source_name}: the API token is empty")]
    Empty { source_name: String },
    #[error(
        "{source_name}: the API token has {len} characters; use at least {MIN_TOKEN_LEN} (e.g. `head -c 32 /dev/urandom | base64`)"
    )]
    TooShort { source_name: String, len: usize },
    #[error("api_token_file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "api_token_file {}: readable by group or others (mode {mode:o}); run `chmod 600 {}`",
        path.display(),
        path.display()
    )]
    Exposed { path: PathBuf, mode: u32 },
    #[error(
        "both CONFKEEP_API_TOKEN and api_token_file ({}) are set: keep one",
        path.display()
    )]
    Ambiguous { path: PathBuf },
}

impl ApiToken {
    /// A token from its text (surrounding whitespace, such as a file's
    /// final newline, is not part of it).
    pub fn new(raw: &str, source_name: &str) -> Result<ApiToken, TokenError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(TokenError::Empty {
                source_name: source_name.into(),
            });
        }
        if raw.chars().count() < MIN_TOKEN_LEN {
            return Err(TokenError::TooShort {
                source_name: source_name.into(),
                len: raw.chars().count(),
            });
        }
        Ok(ApiToken(Sha256::digest(raw.as_bytes()).into()))
    }

    /// Whether `presented` is the token, in time independent of both.
    pub fn matches(&self, presented: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        digest.ct_eq(&self.0).into()
    }

    /// The token from `CONFKEEP_API_TOKEN` (`env`) or `api_token_file`;
    /// `None` when neither is set. A file readable by group or others is
    /// refused.
    pub fn load(env: Option<String>, file: Option<&Path>) -> Result<Option<ApiToken>, TokenError> {
        let env = env.filter(|v| !v.is_empty());
        match (env, file) {
            (Some(_), Some(path)) => Err(TokenError::Ambiguous {
                path: path.to_owned(),
            }),
            (Some(v), None) => ApiToken::new(&v, "CONFKEEP_API_TOKEN").map(Some),
            (None, Some(path)) => read_token_file(path).map(Some),
            (None, None) => Ok(None),
        }
    }
}

fn read_token_file(path: &Path) -> Result<ApiToken, TokenError> {
    use std::os::unix::fs::PermissionsExt;
    let read = |source| TokenError::Read {
        path: path.to_owned(),
        source,
    };
    let mode = std::fs::metadata(path).map_err(read)?.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(TokenError::Exposed {
            path: path.to_owned(),
            mode: mode & 0o777,
        });
    }
    let text = std::fs::read_to_string(path).map_err(read)?;
    ApiToken::new(&text, &format!("api_token_file {}", path.display()))
}

/// The rule one listener applies to every request.
#[derive(Debug, Clone)]
pub struct Access {
    pub token: Option<ApiToken>,
    /// Reads without the token on a listener off loopback.
    pub public_reads: bool,
    /// The listener is bound to a loopback address.
    pub loopback: bool,
}

/// Why a request was refused: what the caller must add.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    Missing,
    NotBearer,
    Wrong,
}

impl Denied {
    pub fn message(self) -> &'static str {
        match self {
            Denied::Missing => {
                "missing the API token: send `Authorization: Bearer <token>` (the CLI: --token-file or CONFKEEP_API_TOKEN)"
            }
            Denied::NotBearer => "the Authorization header is not `Bearer <token>`",
            Denied::Wrong => "the API token does not match",
        }
    }
}

/// Paths anyone may read, for load balancers and probes: they say nothing
/// about the fleet.
const OPEN_PATHS: &[&str] = &["/healthz"];

/// Paths that answer with config text (`show-sensitive`: passwords and
/// keys): the token whenever one is set, loopback and public reads too.
pub fn reveals_config(path: &str) -> bool {
    path.starts_with("/v1/devices/") && path.ends_with("/diff")
}

impl Access {
    /// Whether a request with this method, path and `Authorization` header
    /// may go on.
    pub fn check(
        &self,
        method: &Method,
        path: &str,
        authorization: Option<&HeaderValue>,
    ) -> Result<(), Denied> {
        let Some(token) = &self.token else {
            return Ok(()); // loopback only: checked when the listener was bound
        };
        let read = (*method == Method::GET || *method == Method::HEAD) && !reveals_config(path);
        if read && (OPEN_PATHS.contains(&path) || self.loopback || self.public_reads) {
            return Ok(());
        }
        let value = authorization.ok_or(Denied::Missing)?;
        let value = value.to_str().map_err(|_| Denied::NotBearer)?;
        let presented = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or(Denied::NotBearer)?;
        if token.matches(presented.trim()) {
            Ok(())
        } else {
            Err(Denied::Wrong)
        }
    }
}

/// The axum middleware: 401 with a JSON error saying what is missing.
pub async fn require(State(access): State<Access>, request: Request, next: Next) -> Response {
    match access.check(
        request.method(),
        request.uri().path(),
        request.headers().get(header::AUTHORIZATION),
    ) {
        Ok(()) => next.run(request).await,
        Err(denied) => {
            let mut response =
                super::error(StatusCode::UNAUTHORIZED, "unauthorized", denied.message());
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"confkeep\""),
            );
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "correct-horse-battery-staple";

    fn access(loopback: bool, public_reads: bool) -> Access {
        Access {
            token: Some(ApiToken::new(TOKEN, "test").unwrap()),
            public_reads,
            loopback,
        }
    }

    fn bearer(t: &str) -> HeaderValue {
        HeaderValue::from_str(&format!("Bearer {t}")).unwrap()
    }

    #[test]
    fn writes_need_the_token_even_on_loopback() {
        let a = access(true, false);
        let path = "/v1/devices/r1/trigger";
        assert_eq!(a.check(&Method::POST, path, None), Err(Denied::Missing));
        assert_eq!(
            a.check(&Method::POST, path, Some(&bearer("nope-nope-nope-nope"))),
            Err(Denied::Wrong)
        );
        let basic = HeaderValue::from_static("Basic dXNlcjpwdw==");
        assert_eq!(
            a.check(&Method::POST, path, Some(&basic)),
            Err(Denied::NotBearer)
        );
        assert_eq!(a.check(&Method::POST, path, Some(&bearer(TOKEN))), Ok(()));
        assert_eq!(a.check(&Method::DELETE, path, None), Err(Denied::Missing));
    }

    #[test]
    fn reads_off_loopback_need_it_unless_public() {
        assert_eq!(
            access(false, false).check(&Method::GET, "/v1/status", None),
            Err(Denied::Missing)
        );
        assert_eq!(
            access(false, true).check(&Method::GET, "/v1/status", None),
            Ok(())
        );
        assert_eq!(
            access(true, false).check(&Method::GET, "/v1/status", None),
            Ok(())
        );
        for (loopback, public) in [(true, false), (false, true)] {
            assert_eq!(
                access(loopback, public).check(&Method::GET, "/v1/devices/r1/diff", None),
                Err(Denied::Missing),
                "config text needs the token (loopback {loopback}, public reads {public})"
            );
        }
        assert_eq!(
            access(false, false).check(&Method::GET, "/healthz", None),
            Ok(())
        );
        assert_eq!(
            access(false, true).check(&Method::POST, "/healthz", None),
            Err(Denied::Missing)
        );
    }

    #[test]
    fn tokens_are_checked_and_never_printed() {
        let t = ApiToken::new(&format!("  {TOKEN}\n"), "x").unwrap();
        assert!(t.matches(TOKEN));
        assert!(!t.matches(&TOKEN[1..]));
        assert!(!format!("{t:?}").contains(TOKEN));
        let e = ApiToken::new("short", "api_token_file /etc/t").unwrap_err();
        assert!(e.to_string().contains("/etc/t") && e.to_string().contains("16"));
        assert!(matches!(
            ApiToken::new(" \n", "x"),
            Err(TokenError::Empty { .. })
        ));
    }

    #[test]
    fn a_token_file_readable_by_others_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, TOKEN).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = ApiToken::load(None, Some(&path)).unwrap_err().to_string();
        assert!(e.contains("token") && e.contains("chmod 600"), "{e}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(
            ApiToken::load(None, Some(&path))
                .unwrap()
                .unwrap()
                .matches(TOKEN)
        );
        let e = ApiToken::load(Some(TOKEN.into()), Some(&path)).unwrap_err();
        assert!(matches!(e, TokenError::Ambiguous { .. }));
        assert!(ApiToken::load(None, None).unwrap().is_none());
        let missing = dir.path().join("absent");
        let e = ApiToken::load(None, Some(&missing))
            .unwrap_err()
            .to_string();
        assert!(e.contains("absent"), "{e}");
    }
}
