//! Who may pull and push (docs/serve.md#auth): users from a TOML file,
//! each with a token bale generated (the file keeps only its sha256) and
//! the repositories it may pull from and push to. Clients send HTTP basic
//! credentials (user name, token), as `podman login`, skopeo's `--creds`
//! and bale's own client (from auth.json) do.

use std::path::{Path, PathBuf};

use base64::Engine;
use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the auth file {path}: {reason}")]
    File { path: PathBuf, reason: String },
}

/// The auth file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthFile {
    /// Anyone may pull every repository.
    #[serde(default)]
    pub anonymous_pull: bool,
    #[serde(default, rename = "user")]
    pub users: Vec<User>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub name: String,
    /// `sha256:HEX` of the user's token.
    pub token_sha256: String,
    /// Repositories it may pull: `*`, a prefix `team/*`, or a name.
    #[serde(default)]
    pub pull: Vec<String>,
    /// Repositories it may push to (and delete in); pushing implies pulling.
    #[serde(default)]
    pub push: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Pull,
    Push,
}

/// Why a request is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Denied {
    /// No or wrong credentials: 401, with a challenge.
    Unauthenticated(String),
    /// Known user, not allowed there: 403.
    Forbidden(String),
}

/// The shortest token taken: bale's are 64 hex digits.
const MIN_TOKEN: usize = 32;

impl AuthFile {
    pub fn load(path: &Path) -> Result<Self, AuthError> {
        let fail = |reason: String| AuthError::File { path: path.to_path_buf(), reason };
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        let file: Self = toml::from_str(&text).map_err(|e| fail(e.to_string()))?;
        for user in &file.users {
            let hex = user.token_sha256.strip_prefix("sha256:").unwrap_or_default();
            if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(fail(format!("user {:?}: token_sha256 must be sha256:<64 hex digits>", user.name)));
            }
            for pattern in user.pull.iter().chain(&user.push) {
                if pattern.contains('*') && pattern != "*" && !pattern.ends_with("/*")
                    || pattern.matches('*').count() > 1
                {
                    return Err(fail(format!(
                        "user {:?}: {pattern:?}: a pattern is `*`, `prefix/*` or a repository name",
                        user.name
                    )));
                }
            }
        }
        Ok(file)
    }

    /// Whether `authorization` (the request's header) may do `action` on
    /// `repository` (none: on the registry as a whole, as the catalog and
    /// queries are).
    pub fn check(&self, authorization: Option<&str>, repository: Option<&str>, action: Action) -> Result<(), Denied> {
        let Some(header) = authorization else {
            if action == Action::Pull && self.anonymous_pull {
                return Ok(());
            }
            return Err(Denied::Unauthenticated("credentials are required".into()));
        };
        let user = self.user_of(header).ok_or_else(|| Denied::Unauthenticated("unknown user or token".into()))?;
        let matches = |patterns: &[String]| {
            patterns.iter().any(|p| match (p.as_str(), repository) {
                ("*", _) => true,
                (_, None) => false,
                (p, Some(r)) => match p.strip_suffix('*') {
                    Some(prefix) => r.starts_with(prefix),
                    None => p == r,
                },
            })
        };
        let allowed = match action {
            Action::Pull => self.anonymous_pull || matches(&user.pull) || matches(&user.push),
            Action::Push => matches(&user.push),
        };
        if allowed {
            Ok(())
        } else {
            let what = if action == Action::Push { "push to" } else { "pull" };
            Err(Denied::Forbidden(format!(
                "{} may not {what} {}",
                user.name,
                repository.unwrap_or("the whole registry")
            )))
        }
    }

    fn user_of(&self, header: &str) -> Option<&User> {
        let encoded = header.strip_prefix("Basic ")?;
        let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (name, token) = text.split_once(':')?;
        if token.len() < MIN_TOKEN {
            return None;
        }
        let digest = bale_fileset::sha256_bytes(token.as_bytes()).to_string();
        self.users.iter().find(|u| u.name == name && u.token_sha256 == digest)
    }
}

/// `bytes` bytes from the kernel's random source, in hex.
pub(crate) fn random_hex(bytes: usize) -> std::io::Result<String> {
    use std::io::Read;
    let mut buffer = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut buffer)?;
    Ok(buffer.iter().map(|b| format!("{b:02x}")).collect())
}

/// A new token (64 hex digits from the kernel's random source) and the
/// `sha256:` line the auth file keeps of it.
pub fn new_token() -> std::io::Result<(String, String)> {
    let token = random_hex(32)?;
    let digest = bale_fileset::sha256_bytes(token.as_bytes()).to_string();
    Ok((token, digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, token: &str) -> String {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{token}")))
    }

    #[test]
    fn rights_by_repository_pattern() {
        let (token, digest) = new_token().unwrap();
        let file: AuthFile = toml::from_str(&format!(
            "[[user]]\nname = \"ci\"\ntoken_sha256 = \"{digest}\"\npull = [\"*\"]\npush = [\"team/*\"]\n"
        ))
        .unwrap();
        let ci = basic("ci", &token);
        assert_eq!(file.check(Some(&ci), Some("team/app"), Action::Push), Ok(()));
        assert!(matches!(file.check(Some(&ci), Some("other/app"), Action::Push), Err(Denied::Forbidden(_))));
        assert_eq!(file.check(Some(&ci), Some("other/app"), Action::Pull), Ok(()));
        assert!(matches!(file.check(None, Some("team/app"), Action::Pull), Err(Denied::Unauthenticated(_))));
        let wrong = basic("ci", &"0".repeat(64));
        assert!(matches!(file.check(Some(&wrong), Some("team/app"), Action::Pull), Err(Denied::Unauthenticated(_))));
        assert!(matches!(file.check(Some(&basic("ci", "short")), None, Action::Pull), Err(Denied::Unauthenticated(_))));
    }
}
