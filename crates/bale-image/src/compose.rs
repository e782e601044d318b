//! Composing an image from packages in the store: one layer per package,
//! dependencies first, a conflict check over every path, and one generated
//! layer on top. Order in the request never matters.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bale_fileset::{
    Compression, Content, Digest, Entry, EntryKind, FileIndex, FileIndexEntry, Limits, Normalize, Plan,
};
use bale_progress::Progress;
use bale_store::oci::{self, Descriptor, MANIFEST_MEDIA_TYPE, Manifest};
use bale_store::{PackageMetadata, PackageRecord, Store, StoreError, store_layer};
use serde::Serialize;

use crate::spec::RuntimeConfig;

pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
/// Annotation on each layer descriptor naming the package it is.
pub const PACKAGE_ANNOTATION: &str = "vnd.bale.package";
/// Store cache namespace: merged layers by the packages they hold.
const MERGED_CACHE: &str = "merged-layers";
/// Paths bale writes itself into the generated layer.
const GENERATED: [&str; 2] = ["etc/group", "etc/passwd"];

#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "{path:?} is {first_says} in {first} but {second_says} in {second}; packages in one image may not disagree about a path"
    )]
    Conflict { path: String, first: String, first_says: String, second: String, second_says: String },
    #[error(
        "{package} ships {path:?}, which bale writes itself (for every image, or from the spec's [files]); \
         drop that package, its file, or the spec's file"
    )]
    Generated { package: String, path: String },
    #[error("building the generated layer: {0}")]
    Layer(#[from] bale_fileset::FilesetError),
    #[error("no packages to compose")]
    Empty,
}

#[derive(Debug, Clone)]
pub struct ComposeOptions {
    pub architecture: String,
    /// Seconds since the epoch for `created` (SOURCE_DATE_EPOCH, else 0).
    pub created: i64,
    pub layer_cap: usize,
    pub compression: Compression,
}

/// A composed image, all of whose blobs are in the store.
#[derive(Debug, Clone)]
pub struct Image {
    pub manifest: Descriptor,
    pub config: Descriptor,
    /// Package layers in order, then the generated layer (`package` None).
    pub layers: Vec<ImageLayer>,
    /// Artifacts that refer to the image (its SBOMs): their manifests, and
    /// every blob they need.
    pub referrers: Vec<Descriptor>,
    pub referrer_blobs: Vec<Digest>,
}

#[derive(Debug, Clone)]
pub struct ImageLayer {
    /// The package this layer is, or None for the generated layer and a
    /// merged one.
    pub package: Option<String>,
    /// The packages sharing this layer, when the layer cap merged them.
    pub merged: Vec<String>,
    pub descriptor: Descriptor,
    pub diff_id: Digest,
}

struct Member {
    record: PackageRecord,
    manifest: Manifest,
    metadata: PackageMetadata,
}

/// Composes the packages `ids` (an unordered set) with `config`.
pub fn compose(
    store: &Store,
    ids: &[String],
    files: &[SpecFileContent],
    config: &RuntimeConfig,
    options: &ComposeOptions,
    progress: &dyn Progress,
) -> Result<Image, ComposeError> {
    let _session = store.lock_shared()?;
    let mut unique: Vec<&String> = ids.iter().collect();
    unique.sort();
    unique.dedup();
    if unique.is_empty() {
        return Err(ComposeError::Empty);
    }
    let records = store.packages_by_id()?;
    let mut members = Vec::new();
    for id in unique {
        let record = match records.get(id.as_str()) {
            Some(record) => record.clone(),
            // Not an exact id: let resolve explain (or accept a name).
            None => store.resolve(id)?,
        };
        let (manifest, metadata) = store.load_package(&record)?;
        members.push(Member { record, manifest, metadata });
    }
    let order = dependency_order(&members);

    // Every path, and which package put it there.
    let mut owners: HashMap<String, (usize, FileIndexEntry)> = HashMap::new();
    let mut all_paths: BTreeSet<String> = BTreeSet::new();
    for &i in &order {
        let member = &members[i];
        let index: FileIndex =
            store.read_json(&member.metadata.file_index.digest, &format!("the file index of {}", member.record.id))?;
        for entry in index.entries {
            if GENERATED.contains(&entry.path.as_str()) || files.iter().any(|f| f.path == entry.path) {
                return Err(ComposeError::Generated {
                    package: member.record.id.clone(),
                    path: format!("/{}", entry.path),
                });
            }
            match owners.get(&entry.path) {
                Some((other, seen)) if !same(seen, &entry) => {
                    return Err(ComposeError::Conflict {
                        path: format!("/{}", entry.path),
                        first: members[*other].record.id.clone(),
                        first_says: describe(seen),
                        second: member.record.id.clone(),
                        second_says: describe(&entry),
                    });
                }
                Some(_) => {}
                None => {
                    all_paths.insert(entry.path.clone());
                    owners.insert(entry.path.clone(), (i, entry));
                }
            }
        }
    }

    let bundle = ca_bundle(store, &members, &all_paths, &owners)?;
    let generated = generated_layer(&members, &all_paths, bundle, files)?;
    let (generated_summary, _) = store_layer(store, &generated, options.compression, progress)?;

    // Above the cap, the lowest packages of the stack (the most stable:
    // libraries everything else needs) share one layer, so that the
    // packages above keep a layer each.
    let own_layers = options.layer_cap.saturating_sub(1).max(1);
    let merge_count = if order.len() > own_layers { order.len() - own_layers + 1 } else { 0 };
    let mut layers: Vec<ImageLayer> = Vec::new();
    if merge_count > 0 {
        layers.push(merged_layer(store, &members, &order[..merge_count], options.compression, progress)?);
    }
    for &i in &order[merge_count..] {
        let member = &members[i];
        let Some(layer) = member.manifest.layers.first() else {
            return Err(StoreError::MissingBlob {
                digest: member.record.manifest.digest,
                path: store.blob_path(&member.record.manifest.digest),
            }
            .into());
        };
        let mut descriptor = layer.clone();
        descriptor.annotations.insert(PACKAGE_ANNOTATION.into(), member.record.id.clone());
        layers.push(ImageLayer {
            package: Some(member.record.id.clone()),
            merged: Vec::new(),
            descriptor,
            diff_id: member.metadata.content.digest,
        });
    }
    let mut generated_descriptor =
        Descriptor::new(options.compression.media_type(), generated_summary.blob_digest, generated_summary.blob_size);
    generated_descriptor.annotations.insert(PACKAGE_ANNOTATION.into(), "bale: generated".into());
    layers.push(ImageLayer {
        package: None,
        merged: Vec::new(),
        descriptor: generated_descriptor,
        diff_id: generated_summary.content_digest,
    });

    let created = rfc3339(options.created);
    let image_config = ImageConfig {
        created: created.clone(),
        architecture: options.architecture.clone(),
        os: "linux".into(),
        config: ContainerConfig::from(config),
        rootfs: RootFs { kind: "layers".into(), diff_ids: layers.iter().map(|l| l.diff_id).collect() },
        history: layers
            .iter()
            .map(|l| History {
                created: created.clone(),
                created_by: match &l.package {
                    Some(id) => format!("bale: package {id}"),
                    None if !l.merged.is_empty() => format!("bale: packages {}", l.merged.join(", ")),
                    None => "bale: generated layer (/etc/passwd, /etc/group; alternatives, CA bundle and spec files when any)".into(),
                },
            })
            .collect(),
    };
    let config_bytes = oci::to_json(&image_config);
    let config_digest = store.put_bytes(&config_bytes)?;
    let config_descriptor = Descriptor::new(CONFIG_MEDIA_TYPE, config_digest, config_bytes.len() as u64);
    let manifest = Manifest {
        schema_version: 2,
        media_type: MANIFEST_MEDIA_TYPE.into(),
        artifact_type: None,
        config: config_descriptor.clone(),
        layers: layers.iter().map(|l| l.descriptor.clone()).collect(),
        subject: None,
        annotations: {
            let mut a = config.annotations.clone();
            a.insert("org.opencontainers.image.created".into(), created);
            a
        },
    };
    let manifest_bytes = oci::to_json(&manifest);
    let manifest_digest = store.put_bytes(&manifest_bytes)?;
    Ok(Image {
        manifest: Descriptor::new(MANIFEST_MEDIA_TYPE, manifest_digest, manifest_bytes.len() as u64),
        config: config_descriptor,
        layers,
        referrers: Vec::new(),
        referrer_blobs: Vec::new(),
    })
}

/// One layer holding the union of several packages (they were checked to
/// agree wherever they overlap).
fn merged_layer(
    store: &Store,
    members: &[Member],
    which: &[usize],
    compression: Compression,
    progress: &dyn Progress,
) -> Result<ImageLayer, ComposeError> {
    let ids: Vec<String> = which.iter().map(|&i| members[i].record.id.clone()).collect();
    // The same packages merge to the same layer: remember it, so a warm
    // build does not recompress them.
    let contents: Vec<String> = which.iter().map(|&i| members[i].metadata.content.digest.to_string()).collect();
    let key = bale_fileset::sha256_bytes(format!("merged-v1 {} {}", compression.name(), contents.join(" ")).as_bytes());
    let describe = |blob: Digest, size: u64, diff_id: Digest| {
        let mut descriptor = Descriptor::new(compression.media_type(), blob, size);
        descriptor.annotations.insert(PACKAGE_ANNOTATION.into(), ids.join(","));
        ImageLayer { package: None, merged: ids.clone(), descriptor, diff_id }
    };
    match store.read_sealed_cache(MERGED_CACHE, &key) {
        bale_store::CacheRead::Hit(bytes) => {
            let cached = serde_json::from_slice::<serde_json::Value>(&bytes).unwrap_or_default();
            let blob = cached["blob"].as_str().and_then(|d| d.parse::<Digest>().ok());
            let diff_id = cached["diffId"].as_str().and_then(|d| d.parse::<Digest>().ok());
            if let (Some(blob), Some(diff_id), Some(size)) = (blob, diff_id, cached["size"].as_u64()) {
                // The layer must still be what the entry says: its blob
                // decompresses to exactly the recorded diff_id.
                match layer_diff_id(store, &blob, size, compression) {
                    Some(actual) if actual == diff_id => return Ok(describe(blob, size, diff_id)),
                    Some(_) => progress.warn(&format!(
                        "the cached merged layer {blob} does not match its recorded diff_id; merging again"
                    )),
                    None => {}
                }
            }
        }
        bale_store::CacheRead::Damaged(path) => {
            progress.warn(&format!("{} failed its integrity check; merging again", path.display()));
            store.discard_cache(MERGED_CACHE, &key);
        }
        bale_store::CacheRead::Miss => {}
    }
    let mut readers = Vec::new();
    let mut limits = Limits { max_total_size: 0, max_entry_size: 0, max_entries: 0 };
    for &i in which {
        let member = &members[i];
        let Some(layer) = member.manifest.layers.first() else { continue };
        readers.push(store.open_layer(layer)?);
        limits.max_total_size += member.metadata.content.size;
        limits.max_entry_size = limits.max_entry_size.max(member.metadata.content.size);
        limits.max_entries += member.metadata.content.entries;
    }
    // Everything is already canonical: keep it exactly as the packages say.
    let keep = Normalize {
        modes: bale_fileset::ModePolicy::Preserve { special_bits: true },
        owners: bale_fileset::OwnerPolicy::Preserve,
        keep_xattrs: true,
    };
    let plan = Plan::union_of_tars(readers, keep, limits, &store.tmp_dir())?;
    let (summary, _) = store_layer(store, &plan, compression, progress)?;
    let record = serde_json::json!({
        "blob": summary.blob_digest,
        "size": summary.blob_size,
        "diffId": summary.content_digest,
    });
    // Best effort: without it the next build merges again.
    let _ = store.write_sealed_cache(MERGED_CACHE, &key, record.to_string().as_bytes());
    Ok(describe(summary.blob_digest, summary.blob_size, summary.content_digest))
}

/// The diff_id of a stored layer blob, by decompressing and hashing it;
/// `None` if the blob is missing or damaged.
fn layer_diff_id(store: &Store, blob: &Digest, size: u64, compression: Compression) -> Option<Digest> {
    let reader = store.open_layer(&Descriptor::new(compression.media_type(), *blob, size)).ok()?;
    bale_fileset::sha256_reader(reader).ok().map(|(digest, _)| digest)
}

/// Two packages may both ship a path only if they agree on everything
/// about it.
fn same(a: &FileIndexEntry, b: &FileIndexEntry) -> bool {
    a.kind == b.kind
        && a.mode == b.mode
        && a.uid == b.uid
        && a.gid == b.gid
        && a.size == b.size
        && a.sha256 == b.sha256
        && a.target == b.target
        && a.xattrs == b.xattrs
}

fn describe(e: &FileIndexEntry) -> String {
    match (e.kind.as_str(), &e.sha256, &e.target) {
        ("file", Some(sha), _) => {
            format!("a file (mode {}, {}:{}, {} bytes, {})", e.mode, e.uid, e.gid, e.size.unwrap_or(0), sha.short())
        }
        ("symlink", _, Some(t)) => format!("a symlink to {t:?}"),
        ("hardlink", _, Some(t)) => format!("a hard link to {t:?}"),
        (kind, _, _) => format!("a {kind} (mode {}, {}:{})", e.mode, e.uid, e.gid),
    }
}

/// Dependencies before dependants. Packages that depend on each other (a
/// cycle, such as libc6 and libgcc-s1) are placed together, by id; ties are
/// broken by id; and the project's own packages (no origin: `[[local]]`
/// directories) go above everything from a source, so the layers that
/// change most often are the top ones. The same set always gives the same
/// order.
fn dependency_order(members: &[Member]) -> Vec<usize> {
    let mut by_name: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, m) in members.iter().enumerate() {
        by_name.insert(&m.metadata.name, i);
    }
    for (i, m) in members.iter().enumerate() {
        for provided in &m.metadata.provides {
            by_name.entry(&provided.name).or_insert(i);
        }
    }
    let local = |i: usize| members[i].metadata.origin.is_none();
    let mut needs: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); members.len()];
    for (i, m) in members.iter().enumerate() {
        for dependency in &m.metadata.dependencies {
            if let Some(&j) = dependency.any_of.iter().find_map(|alt| by_name.get(alt.name.as_str()))
                && j != i
            {
                needs[i].insert(j);
            }
        }
        // Every source package sits below every local one.
        if local(i) {
            needs[i].extend((0..members.len()).filter(|&j| !local(j)));
        }
    }
    let components = strongly_connected(&needs);
    let mut component_of = vec![0; members.len()];
    for (c, nodes) in components.iter().enumerate() {
        for &n in nodes {
            component_of[n] = c;
        }
    }
    let id = |i: usize| members[i].record.id.as_str();
    let smallest = |c: usize| components[c].iter().map(|&i| id(i)).min().unwrap_or("");
    let mut done = vec![false; components.len()];
    let mut order = Vec::with_capacity(members.len());
    let mut placed = 0;
    while placed < components.len() {
        let mut ready: Vec<usize> = (0..components.len())
            .filter(|&c| {
                !done[c]
                    && components[c]
                        .iter()
                        .all(|&i| needs[i].iter().all(|&j| component_of[j] == c || done[component_of[j]]))
            })
            .collect();
        if ready.is_empty() {
            // Cannot happen (components form an acyclic graph); never loop.
            ready = (0..components.len()).filter(|&c| !done[c]).collect();
        }
        ready.sort_by_key(|&c| smallest(c));
        for c in ready {
            done[c] = true;
            placed += 1;
            let mut nodes = components[c].clone();
            nodes.sort_by_key(|&i| id(i));
            order.extend(nodes);
        }
    }
    order
}

/// Tarjan's strongly connected components of the graph `edges` (node →
/// the nodes it needs).
fn strongly_connected(edges: &[BTreeSet<usize>]) -> Vec<Vec<usize>> {
    struct State<'a> {
        edges: &'a [BTreeSet<usize>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        out: Vec<Vec<usize>>,
    }
    fn visit(s: &mut State<'_>, v: usize) {
        s.index[v] = Some(s.next);
        s.low[v] = s.next;
        s.next += 1;
        s.stack.push(v);
        s.on_stack[v] = true;
        for &w in s.edges[v].iter() {
            match s.index[w] {
                None => {
                    visit(s, w);
                    s.low[v] = s.low[v].min(s.low[w]);
                }
                Some(iw) if s.on_stack[w] => s.low[v] = s.low[v].min(iw),
                Some(_) => {}
            }
        }
        if Some(s.low[v]) == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack[w] = false;
                component.push(w);
                if w == v {
                    break;
                }
            }
            s.out.push(component);
        }
    }
    let n = edges.len();
    let mut state = State {
        edges,
        index: vec![None; n],
        low: vec![0; n],
        on_stack: vec![false; n],
        stack: Vec::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in 0..n {
        if state.index[v].is_none() {
            visit(&mut state, v);
        }
    }
    state.out
}

/// The layer bale writes itself: users 0 and 1, and the alternatives
/// symlinks the packages' maintainer scripts would have made.
/// Where update-ca-certificates writes the bundle most software reads.
const CA_BUNDLE: &str = "etc/ssl/certs/ca-certificates.crt";
const CA_SOURCE: &str = "usr/share/ca-certificates/";

/// The CA bundle update-ca-certificates would make: every certificate the
/// packages put under /usr/share/ca-certificates, in path order,
/// concatenated. `None` when there are none, or a package ships the bundle.
fn ca_bundle(
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
        let Some(layer) = member.manifest.layers.first() else { continue };
        let reader = store.open_layer(layer)?;
        let limits = Limits {
            max_total_size: member.metadata.content.size,
            max_entry_size: member.metadata.content.size,
            max_entries: member.metadata.content.entries,
        };
        bale_fileset::read_entries(reader, &limits, |entry, data| {
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

/// A file of the spec, read, for the generated layer.
#[derive(Debug, Clone)]
pub struct SpecFileContent {
    /// Relative to the root (`etc/app.conf`).
    pub path: String,
    pub mode: u32,
    pub content: Vec<u8>,
}

fn generated_layer(
    members: &[Member],
    paths: &BTreeSet<String>,
    ca_bundle: Option<Vec<u8>>,
    files: &[SpecFileContent],
) -> Result<Plan, ComposeError> {
    // Modes as the spec declares them (everything else is written 0644).
    let modes = Normalize { modes: bale_fileset::ModePolicy::Preserve { special_bits: false }, ..Normalize::default() };
    let mut plan = Plan::new(modes, Limits::default());
    let file = |path: &str, text: &str| {
        let mut entry = Entry::directory(path);
        entry.kind = EntryKind::File { size: text.len() as u64 };
        entry.mode = 0o644;
        (entry, Content::Bytes(text.as_bytes().to_vec()))
    };
    for (path, text) in [
        ("etc/passwd", "root:x:0:0:root:/root:/sbin/nologin\ndaemon:x:1:1:daemon:/:/sbin/nologin\n"),
        ("etc/group", "root:x:0:\ndaemon:x:1:\n"),
    ] {
        let (entry, content) = file(path, text);
        plan.insert(entry, content)?;
    }
    for file in files {
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

#[derive(Serialize)]
struct ImageConfig {
    created: String,
    architecture: String,
    os: String,
    config: ContainerConfig,
    rootfs: RootFs,
    history: Vec<History>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ContainerConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    exposed_ports: BTreeMap<String, BTreeMap<String, String>>,
    env: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    entrypoint: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    cmd: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    working_dir: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    labels: BTreeMap<String, String>,
}

impl From<&RuntimeConfig> for ContainerConfig {
    fn from(c: &RuntimeConfig) -> Self {
        let mut env = c.env.clone();
        env.entry("PATH".into())
            .or_insert_with(|| "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
        Self {
            user: Some(c.user.unwrap_or(0).to_string()),
            exposed_ports: c
                .ports
                .iter()
                .map(|p| (if p.contains('/') { p.clone() } else { format!("{p}/tcp") }, BTreeMap::new()))
                .collect(),
            env: env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
            entrypoint: c.entrypoint.clone(),
            cmd: c.cmd.clone(),
            working_dir: Some(c.workdir.clone().unwrap_or_else(|| "/".into())),
            labels: c.labels.clone(),
        }
    }
}

#[derive(Serialize)]
struct RootFs {
    #[serde(rename = "type")]
    kind: String,
    diff_ids: Vec<Digest>,
}

#[derive(Serialize)]
struct History {
    created: String,
    created_by: String,
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
