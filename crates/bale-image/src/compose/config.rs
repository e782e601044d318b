//! The OCI image config of a composed image.

use std::collections::BTreeMap;

use bale_fileset::Digest;
use serde::Serialize;

use crate::spec::RuntimeConfig;

#[derive(Serialize)]
pub(super) struct ImageConfig {
    pub(super) created: String,
    pub(super) architecture: String,
    pub(super) os: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) variant: Option<String>,
    pub(super) config: ContainerConfig,
    pub(super) rootfs: RootFs,
    pub(super) history: Vec<History>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ContainerConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) user: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) exposed_ports: BTreeMap<String, BTreeMap<String, String>>,
    pub(super) env: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) entrypoint: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) cmd: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) working_dir: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) labels: BTreeMap<String, String>,
}

impl ContainerConfig {
    /// The config of `c`, running as `user` (`uid:gid`).
    pub(super) fn new(c: &RuntimeConfig, user: &str) -> Self {
        let mut env = c.env.clone();
        env.entry("PATH".into())
            .or_insert_with(|| "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
        Self {
            user: Some(user.to_string()),
            exposed_ports: c
                .ports
                .iter()
                .map(|p| (if p.contains('/') { p.clone() } else { format!("{p}/tcp") }, BTreeMap::new()))
                .collect(),
            env: env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
            entrypoint: c.image_entrypoint(),
            cmd: c.cmd.clone(),
            working_dir: Some(c.workdir.clone().unwrap_or_else(|| "/".into())),
            labels: c.labels.clone(),
        }
    }
}

#[derive(Serialize)]
pub(super) struct RootFs {
    #[serde(rename = "type")]
    pub(super) kind: String,
    pub(super) diff_ids: Vec<Digest>,
}

#[derive(Serialize)]
pub(super) struct History {
    pub(super) created: String,
    pub(super) created_by: String,
}

/// `1970-01-01T00:00:00Z` for 0.
pub(crate) fn rfc3339(seconds: i64) -> String {
    let (year, month, day, hour, minute, second) = bale_store::utc_time(seconds);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z")
}

#[cfg(test)]
mod tests {
    #[test]
    fn times() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(1_746_867_480), "2025-05-10T08:58:00Z");
    }
}
