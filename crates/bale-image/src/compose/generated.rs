//! The layer bale writes itself: the accounts (root, daemon and the
//! spec's), the spec's directories, homes and `/tmp`, the CA bundle, the
//! alternatives symlinks the packages' maintainer scripts would have made,
//! `/etc/ld.so.cache` ([`super::ldcache`]), and the spec's files.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bale_fileset::{Content, Entry, EntryKind, FileIndexEntry, Limits, Normalize, Plan};
use bale_store::Store;

use super::{ComposeError, Member};

/// Paths bale writes itself into the generated layer.
pub(super) const GENERATED: [&str; 2] = ["etc/group", "etc/passwd"];

/// Where update-ca-certificates writes the bundle most software reads.
const CA_BUNDLE: &str = "etc/ssl/certs/ca-certificates.crt";
const CA_SOURCE: &str = "usr/share/ca-certificates/";

/// The CA bundle update-ca-certificates would make: every certificate the
/// packages put under /usr/share/ca-certificates, in path order,
/// concatenated. `None` when there are none, or a package ships the bundle.
pub(super) fn ca_bundle(
    store: &Store,
    members: &[Member],
    paths: &BTreeSet<String>,
    owners: &HashMap<String, (usize, FileIndexEntry)>,
) -> Result<Option<Vec<u8>>, ComposeError> {
    let certificates: BTreeSet<&String> =
        paths.iter().filter(|p| p.starts_with(CA_SOURCE) && p.ends_with(".crt")).collect();
    if certificates.is_empty() || paths.contains(CA_BUNDLE) {
        return Ok(None);
    }
    // Only the packages that ship certificates are read.
    let shippers: BTreeSet<usize> = certificates.iter().filter_map(|p| owners.get(*p).map(|(i, _)| *i)).collect();
    let mut contents: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for member in shippers.into_iter().map(|i| &members[i]) {
        member.read_layer(store, |entry, data| {
            if certificates.contains(&entry.path) && matches!(entry.kind, EntryKind::File { .. }) {
                let mut bytes = Vec::new();
                std::io::Read::read_to_end(data, &mut bytes)
                    .map_err(|e| bale_fileset::FilesetError::Io { path: entry.path.clone().into(), source: e })?;
                contents.insert(entry.path.clone(), bytes);
            }
            Ok(())
        })?;
    }
    let mut bundle = Vec::new();
    for bytes in contents.values() {
        bundle.extend_from_slice(bytes);
        if !bundle.ends_with(b"\n") {
            bundle.push(b'\n');
        }
    }
    Ok(Some(bundle))
}

/// What the spec asks bale to write itself, resolved.
#[derive(Debug, Clone, Default)]
pub struct SpecContent {
    pub files: Vec<SpecFileContent>,
    pub dirs: Vec<crate::spec::ResolvedDir>,
    pub accounts: crate::accounts::Accounts,
    /// `uid:gid` of the image config.
    pub user: String,
}

impl SpecContent {
    /// Whether the spec makes `path` (relative) itself, as a file.
    pub(super) fn has_file(&self, path: &str) -> bool {
        self.files.iter().any(|f| f.path == path)
    }

    pub(super) fn dir(&self, path: &str) -> Option<&crate::spec::ResolvedDir> {
        self.dirs.iter().find(|d| d.path == path)
    }
}

/// A file of the spec, read, for the generated layer.
#[derive(Debug, Clone)]
pub struct SpecFileContent {
    /// Relative to the root (`etc/app.conf`).
    pub path: String,
    pub mode: u32,
    pub content: Vec<u8>,
}

pub(super) fn generated_layer(
    members: &[Member],
    paths: &BTreeSet<String>,
    ca_bundle: Option<Vec<u8>>,
    ld_cache: Option<super::ldcache::LdCache>,
    spec: &SpecContent,
) -> Result<Plan, ComposeError> {
    // Modes and owners as the spec declares them (`/tmp` is 1777), and
    // everything else written 0644 or 0755, owned by root.
    let modes = Normalize {
        modes: bale_fileset::ModePolicy::Preserve { special_bits: true },
        owners: bale_fileset::OwnerPolicy::Preserve,
        ..Normalize::default()
    };
    let mut plan = Plan::new(modes, Limits::default());
    let file = |path: &str, text: &str| {
        let mut entry = Entry::directory(path);
        entry.kind = EntryKind::File { size: text.len() as u64 };
        entry.mode = 0o644;
        (entry, Content::Bytes(text.as_bytes().to_vec()))
    };
    for (path, text) in [("etc/passwd", spec.accounts.passwd()), ("etc/group", spec.accounts.group())] {
        let (entry, content) = file(path, &text);
        plan.insert(entry, content)?;
    }
    for dir in &spec.dirs {
        let mut entry = Entry::directory(dir.path.as_str());
        entry.mode = dir.mode;
        entry.uid = u64::from(dir.uid);
        entry.gid = u64::from(dir.gid);
        plan.insert(entry, Content::None)?;
    }
    for file in &spec.files {
        let mut entry = Entry::directory(file.path.as_str());
        entry.kind = EntryKind::File { size: file.content.len() as u64 };
        entry.mode = file.mode;
        plan.insert(entry, Content::Bytes(file.content.clone()))?;
    }
    if let Some(bundle) = ca_bundle {
        let mut entry = Entry::directory(CA_BUNDLE);
        entry.kind = EntryKind::File { size: bundle.len() as u64 };
        entry.mode = 0o644;
        plan.insert(entry, Content::Bytes(bundle))?;
    }
    if let Some(cache) = ld_cache {
        let mut entry = Entry::directory(super::ldcache::LD_SO_CACHE);
        entry.kind = EntryKind::File { size: cache.bytes.len() as u64 };
        entry.mode = 0o644;
        plan.insert(entry, Content::Bytes(cache.bytes))?;
        for (path, target) in cache.links {
            if plan.get(&path).is_none() {
                let mut entry = Entry::directory(path.as_str());
                entry.kind = EntryKind::Symlink { target };
                plan.insert(entry, Content::None)?;
            }
        }
    }
    // For each alternative name, the highest priority (then the smallest
    // path) among candidates whose target is in the image wins, as
    // update-alternatives' automatic mode picks. Paths are read as merged
    // /usr lays them out (a script may still say /bin/nc).
    let mut chosen: BTreeMap<&str, (i64, String, String)> = BTreeMap::new();
    for member in members {
        for alt in &member.metadata.alternatives {
            let link = merged_usr(alt.link.trim_start_matches('/'));
            let target = merged_usr(alt.path.trim_start_matches('/'));
            if link.is_empty() || !paths.contains(&target) {
                continue;
            }
            let better = match chosen.get(alt.name.as_str()) {
                None => true,
                Some((priority, _, best)) => {
                    (alt.priority, std::cmp::Reverse(&target)) > (*priority, std::cmp::Reverse(best))
                }
            };
            if better {
                chosen.insert(&alt.name, (alt.priority, link, target));
            }
        }
    }
    for (_, link, target) in chosen.values() {
        // A package that ships the link itself wins.
        if paths.contains(link) || plan.get(link).is_some() {
            continue;
        }
        let mut entry = Entry::directory(link.as_str());
        entry.kind = EntryKind::Symlink { target: format!("/{target}") };
        plan.insert(entry, Content::None)?;
    }
    Ok(plan.seal()?)
}

/// Where merged /usr puts a path (`bin/x` → `usr/bin/x`).
fn merged_usr(path: &str) -> String {
    for top in ["bin", "sbin", "lib", "lib32", "lib64", "libx32"] {
        if path == top || path.strip_prefix(top).is_some_and(|rest| rest.starts_with('/')) {
            return format!("usr/{path}");
        }
    }
    path.to_string()
}
