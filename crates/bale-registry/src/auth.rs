//! Credentials from the usual container auth files: `$REGISTRY_AUTH_FILE`,
//! `$XDG_RUNTIME_DIR/containers/auth.json`, `~/.docker/config.json`
//! (`{"auths": {"host": {"auth": base64("user:password")}}}`).

use std::path::PathBuf;

/// The `auth` value (base64 of `user:password`) for `registry`, if any
/// auth file has one.
pub fn basic_auth(registry: &str) -> Option<String> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(path) = std::env::var_os("REGISTRY_AUTH_FILE") {
        candidates.push(path.into());
    }
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR") {
        candidates.push(PathBuf::from(dir).join("containers/auth.json"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        candidates.push(PathBuf::from(&home).join(".config/containers/auth.json"));
        candidates.push(PathBuf::from(home).join(".docker/config.json"));
    }
    for path in candidates {
        let Ok(bytes) = std::fs::read(&path) else { continue };
        let Ok(doc) = serde_json::from_slice::<serde_json::Value>(&bytes) else { continue };
        let auths = &doc["auths"];
        for key in [registry.to_string(), format!("https://{registry}"), format!("http://{registry}")] {
            if let Some(auth) = auths[&key]["auth"].as_str() {
                return Some(auth.to_string());
            }
        }
    }
    None
}
