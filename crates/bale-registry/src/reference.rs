//! Image references: `host[:port]/repository[:tag|@sha256:…]`.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `host[:port]`.
    pub registry: String,
    pub repository: String,
    /// A tag or a `sha256:` digest.
    pub reference: String,
}

#[derive(Debug, thiserror::Error)]
#[error("{input:?} is not an image reference: {reason} (expected host[:port]/repository[:tag|@sha256:…])")]
pub struct ReferenceError {
    pub input: String,
    pub reason: &'static str,
}

impl Reference {
    /// Registries on this machine are spoken to over plain HTTP; all others
    /// over HTTPS.
    pub fn base_url(&self) -> String {
        let host = self.registry.rsplit_once(':').map_or(self.registry.as_str(), |(h, _)| h);
        let local = matches!(host, "127.0.0.1" | "localhost" | "[::1]") || host.starts_with("127.");
        format!("{}://{}", if local { "http" } else { "https" }, self.registry)
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let bad = |reason| ReferenceError { input: input.to_string(), reason };
        let (registry, rest) = input.split_once('/').ok_or_else(|| bad("no registry host"))?;
        if !(registry.contains('.') || registry.contains(':') || registry == "localhost") {
            return Err(bad("the first part must be a registry host (with a dot or a port)"));
        }
        let (repository, reference) = if let Some((repo, digest)) = rest.split_once('@') {
            (repo, digest.to_string())
        } else {
            match rest.rsplit_once(':') {
                Some((repo, tag)) if !tag.contains('/') => (repo, tag.to_string()),
                _ => (rest, "latest".to_string()),
            }
        };
        if repository.is_empty()
            || !repository.split('/').all(|part| {
                !part.is_empty()
                    && part
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
            })
        {
            return Err(bad("the repository must be lowercase path components"));
        }
        if reference.is_empty() {
            return Err(bad("the tag is empty"));
        }
        Ok(Self { registry: registry.to_string(), repository: repository.to_string(), reference })
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sep = if self.reference.starts_with("sha256:") { '@' } else { ':' };
        write!(f, "{}/{}{sep}{}", self.registry, self.repository, self.reference)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        let r: Reference = "127.0.0.1:5000/apps/hello:1.0".parse().unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.reference.as_str()),
            ("127.0.0.1:5000", "apps/hello", "1.0")
        );
        assert_eq!(r.base_url(), "http://127.0.0.1:5000");
        let r: Reference = "registry.example/x".parse().unwrap();
        assert_eq!(r.reference, "latest");
        assert_eq!(r.base_url(), "https://registry.example");
        assert!("hello".parse::<Reference>().is_err());
        assert!("host.example/Upper".parse::<Reference>().is_err());
        let r: Reference = "localhost:5000/a@sha256:abc".parse().unwrap();
        assert_eq!(r.to_string(), "localhost:5000/a@sha256:abc");
    }
}
