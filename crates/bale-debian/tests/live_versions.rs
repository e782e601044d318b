//! Version ordering checked against `dpkg --compare-versions` on versions
//! from the live archive index (mirror from the host's apt sources). Runs
//! when BALE_LIVE=1.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Stdio};

use bale_debian::Version;
use bale_debian::archive::{ArchiveConfig, open};

#[test]
fn live_index_versions_order_like_dpkg() {
    if !bale_testkit::require_live() {
        return;
    }
    let sources = bale_debian::sources::host_sources(Path::new("/")).unwrap();
    let source = sources.first().expect("the host has an apt source");
    let store_dir = tempfile::tempdir().unwrap();
    let store = bale_store::Store::open(store_dir.path()).unwrap();
    let config = ArchiveConfig {
        mirror: source.uri.clone(),
        suite: source.suites[0].clone(),
        components: vec!["main".into()],
        architecture: "amd64".into(),
        keyring: source.signed_by.clone().unwrap_or_else(|| "/usr/share/keyrings/debian-archive-keyring.gpg".into()),
        allow_expired: false,
        now: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64,
        updates: Vec::new(),
    };
    let archive = open(&config, &store, &bale_progress::NoProgress).unwrap();
    assert!(archive.index.len() > 10_000, "{} packages", archive.index.len());
    // Every stanza of the real index parses in full (the index reads them
    // lazily, so this is the check that none would fail when needed).
    let all: Vec<_> = (0..archive.index.len()).map(|i| archive.index.package(i).unwrap()).collect();
    // Every 25th version of the index, sorted by bale; dpkg must agree on
    // each neighbouring pair.
    let mut versions: Vec<Version> = all.iter().step_by(25).map(|p| p.version.clone()).collect();
    versions.sort();
    versions.dedup_by(|a, b| a.as_str() == b.as_str());
    let mut checked = 0;
    for pair in versions.windows(2) {
        let relation = if pair[0] == pair[1] { "eq" } else { "lt" };
        let ok = Command::new("dpkg")
            .args(["--compare-versions", pair[0].as_str(), relation, pair[1].as_str()])
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success();
        assert!(ok, "bale orders {} {relation} {}, dpkg does not", pair[0], pair[1]);
        checked += 1;
    }
    assert!(checked > 1000, "only {checked} pairs");
}
