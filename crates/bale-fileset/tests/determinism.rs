//! Property tests: packing depends only on content, never on creation
//! order, timestamps, umask or owners; and pack → unpack → pack is the
//! identity.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use bale_fileset::{
    Compression, LayerSink, LayerSummary, Limits, Normalize, Plan, UnpackOptions, unpack, write_canonical,
};
use bale_progress::NoProgress;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Node {
    Dir,
    File {
        data: Vec<u8>,
        exec: bool,
    },
    Symlink(String),
    /// A hard link to the n-th file (modulo the number of files).
    Hardlink(usize),
}

fn path_strategy() -> impl Strategy<Value = String> {
    let component =
        prop::sample::select(vec!["a", "b", "bin", "lib", "x.so", "Z", "é", "a-b", "a.b", "long-name-0123456789"]);
    prop::collection::vec(component, 1..4).prop_map(|parts| parts.join("/"))
}

fn node_strategy() -> impl Strategy<Value = Node> {
    prop_oneof![
        2 => Just(Node::Dir),
        4 => (prop::collection::vec(any::<u8>(), 0..3000), any::<bool>()).prop_map(|(data, exec)| Node::File { data, exec }),
        1 => prop::sample::select(vec!["a", "../b", "/usr/bin/x", "bin/../lib"]).prop_map(|t| Node::Symlink(t.to_string())),
        1 => (0usize..8).prop_map(Node::Hardlink),
    ]
}

/// A consistent tree: no entry below a non-directory, no escaping symlink.
fn tree_strategy() -> impl Strategy<Value = BTreeMap<String, Node>> {
    prop::collection::btree_map(path_strategy(), node_strategy(), 1..25).prop_map(|raw| {
        let mut tree = BTreeMap::new();
        for (path, node) in raw {
            let blocked =
                path.match_indices('/').any(|(i, _)| tree.get(&path[..i]).is_some_and(|n| !matches!(n, Node::Dir)));
            let escapes = matches!(&node, Node::Symlink(t) if t.starts_with("..") && !path.contains('/'));
            if !blocked && !escapes {
                tree.insert(path, node);
            }
        }
        // Directories implied by deeper paths must not be files.
        let implied: Vec<String> = tree
            .keys()
            .flat_map(|p| p.match_indices('/').map(|(i, _)| p[..i].to_string()).collect::<Vec<_>>())
            .collect();
        for dir in implied {
            tree.insert(dir, Node::Dir);
        }
        tree
    })
}

#[derive(Debug)]
struct Variation {
    order_seed: u64,
    mtime_base: u64,
    umask: u32,
    owner: Option<(u32, u32)>,
}

fn variation_strategy() -> impl Strategy<Value = Variation> {
    (
        any::<u64>(),
        0u64..2_000_000_000,
        prop::sample::select(vec![0o000, 0o002, 0o022, 0o027, 0o077]),
        any::<bool>(),
        1u32..60000,
    )
        .prop_map(|(order_seed, mtime_base, umask, chown, id)| Variation {
            order_seed,
            mtime_base,
            umask,
            owner: chown.then_some((id, id + 1)),
        })
}

fn shuffled<T: Clone>(items: &[T], seed: u64) -> Vec<T> {
    let mut items = items.to_vec();
    let mut state = seed | 1;
    for i in (1..items.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        items.swap(i, (state % (i as u64 + 1)) as usize);
    }
    items
}

/// Varying owners takes root; asked once, so a run without it says so once.
fn is_root() -> bool {
    static ROOT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ROOT.get_or_init(|| bale_testkit::require_root("packing trees with varied owners"))
}

fn materialize(root: &Path, tree: &BTreeMap<String, Node>, v: &Variation) {
    fs::create_dir_all(root).unwrap();
    let entries: Vec<(String, Node)> = tree.iter().map(|(p, n)| (p.clone(), n.clone())).collect();
    let files: Vec<String> =
        tree.iter().filter(|(_, n)| matches!(n, Node::File { .. })).map(|(p, _)| p.clone()).collect();
    let order = shuffled(&entries, v.order_seed);
    for (i, (path, node)) in order.iter().enumerate() {
        let full = root.join(path);
        if let Some(parent) = full.parent() {
            fs::create_dir_all(parent).unwrap();
        }
        match node {
            Node::Dir => {
                fs::create_dir_all(&full).unwrap();
                fs::set_permissions(&full, fs::Permissions::from_mode(0o777 & !v.umask)).unwrap();
            }
            Node::File { data, exec } => {
                fs::write(&full, data).unwrap();
                let mode = if *exec { 0o777 } else { 0o666 } & !v.umask;
                fs::set_permissions(&full, fs::Permissions::from_mode(mode)).unwrap();
                let when = SystemTime::UNIX_EPOCH + Duration::from_secs(v.mtime_base + i as u64 * 7919);
                fs::File::options().write(true).open(&full).unwrap().set_modified(when).unwrap();
            }
            Node::Symlink(target) => std::os::unix::fs::symlink(target, &full).unwrap(),
            Node::Hardlink(_) => {}
        }
    }
    for (path, node) in &order {
        if let Node::Hardlink(n) = node {
            let full = root.join(path);
            if files.is_empty() {
                fs::write(&full, b"lonely").unwrap();
            } else {
                fs::hard_link(root.join(&files[n % files.len()]), &full).unwrap();
            }
        }
    }
    if let Some((uid, gid)) = v.owner
        && is_root()
    {
        for path in tree.keys() {
            std::os::unix::fs::lchown(root.join(path), Some(uid), Some(gid)).unwrap();
        }
    }
}

fn pack_dir(dir: &Path) -> (LayerSummary, Vec<u8>) {
    let plan = Plan::from_dir(dir, Normalize::default(), Limits::default(), &NoProgress).unwrap();
    let mut sink = LayerSink::new(Vec::new(), Compression::Gzip).unwrap();
    write_canonical(&plan, &mut sink, &NoProgress).unwrap();
    let (blob, summary) = sink.finish().unwrap();
    (summary, blob)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn digest_depends_only_on_content(tree in tree_strategy(), a in variation_strategy(), b in variation_strategy()) {
        let tmp = tempfile::tempdir().unwrap();
        materialize(&tmp.path().join("a"), &tree, &a);
        materialize(&tmp.path().join("b"), &tree, &b);
        let (first, blob_a) = pack_dir(&tmp.path().join("a"));
        let (second, blob_b) = pack_dir(&tmp.path().join("b"));
        prop_assert_eq!(first.content_digest, second.content_digest);
        prop_assert_eq!(first.blob_digest, second.blob_digest);
        prop_assert_eq!(blob_a, blob_b);
    }

    #[test]
    fn pack_unpack_pack_is_identity(tree in tree_strategy(), v in variation_strategy()) {
        let tmp = tempfile::tempdir().unwrap();
        materialize(&tmp.path().join("src"), &tree, &v);
        let (first, blob) = pack_dir(&tmp.path().join("src"));
        let tar = flate_decode(&blob);
        unpack(tar.as_slice(), &tmp.path().join("out"), &Limits::default(), UnpackOptions::default()).unwrap();
        let (second, _) = pack_dir(&tmp.path().join("out"));
        prop_assert_eq!(first.content_digest, second.content_digest);
        // And re-reading the canonical tar as a tar source gives itself.
        let plan = Plan::from_tar(tar.as_slice(), Normalize::default(), Limits::default(), tmp.path()).unwrap();
        let mut out = Vec::new();
        write_canonical(&plan, &mut out, &NoProgress).unwrap();
        prop_assert!(out == tar, "re-writing a canonical tar changed it");
    }
}

fn flate_decode(blob: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(blob).read_to_end(&mut out).unwrap();
    out
}

#[test]
fn the_gzip_layer_is_accepted_by_gzip_itself() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("src");
    fs::create_dir_all(dir.join("usr/bin")).unwrap();
    fs::write(dir.join("usr/bin/tool"), vec![7u8; 3 << 20]).unwrap();
    let (summary, blob) = pack_dir(&dir);
    let path = tmp.path().join("layer.tar.gz");
    fs::write(&path, &blob).unwrap();
    let out = std::process::Command::new("gzip").arg("-dc").arg(&path).output().unwrap();
    assert!(out.status.success(), "gzip -t failed: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(bale_fileset::sha256_bytes(&out.stdout), summary.content_digest);
    // GNU tar reads the canonical tar and sees the same entries.
    let listing = std::process::Command::new("tar").arg("-tzvf").arg(&path).output().unwrap();
    let text = String::from_utf8(listing.stdout).unwrap();
    assert!(text.contains("0/0") && text.contains("usr/bin/tool") && text.contains("1970-01-01"), "{text}");
}

#[test]
fn long_names_and_large_owner_ids_use_pax_and_read_back() {
    let tmp = tempfile::tempdir().unwrap();
    let long = format!("{}/{}", "d".repeat(120), "f".repeat(130));
    let mut plan = Plan::new(
        Normalize { owners: bale_fileset::OwnerPolicy::Preserve, keep_xattrs: true, ..Normalize::default() },
        Limits::default(),
    );
    let mut entry = bale_fileset::Entry::directory(long.clone());
    entry.kind = bale_fileset::EntryKind::File { size: 5 };
    entry.uid = 3_000_000;
    entry.gid = 7;
    entry.xattrs.insert("security.capability".into(), vec![1, 0, 0, 2]);
    plan.insert(entry, bale_fileset::Content::Bytes(b"hello".to_vec())).unwrap();
    let mut link = bale_fileset::Entry::directory("l");
    link.kind = bale_fileset::EntryKind::Symlink { target: "t".repeat(150) };
    plan.insert(link, bale_fileset::Content::None).unwrap();
    let plan = plan.seal().unwrap();
    let mut tar = Vec::new();
    write_canonical(&plan, &mut tar, &NoProgress).unwrap();
    let path = tmp.path().join("x.tar");
    fs::write(&path, &tar).unwrap();
    let listing = std::process::Command::new("tar").arg("--numeric-owner").arg("-tvf").arg(&path).output().unwrap();
    let text = String::from_utf8(listing.stdout).unwrap();
    assert!(text.contains(&long) && text.contains("3000000/7") && text.contains(&"t".repeat(150)), "{text}");
    let reread = Plan::from_tar(
        tar.as_slice(),
        Normalize { owners: bale_fileset::OwnerPolicy::Preserve, keep_xattrs: true, ..Normalize::default() },
        Limits::default(),
        tmp.path(),
    )
    .unwrap();
    let file = reread.get(&long).unwrap();
    assert_eq!((file.uid, file.gid), (3_000_000, 7));
    assert_eq!(file.xattrs.get("security.capability"), Some(&vec![1, 0, 0, 2]));
    let mut again = Vec::new();
    write_canonical(&reread, &mut again, &NoProgress).unwrap();
    assert!(again == tar);
}

#[test]
fn xattrs_from_a_tar_are_dropped_unless_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let mut plan = Plan::new(Normalize { keep_xattrs: true, ..Normalize::default() }, Limits::default());
    let mut entry = bale_fileset::Entry::directory("bin/ping");
    entry.kind = bale_fileset::EntryKind::File { size: 1 };
    entry.xattrs.insert("security.capability".into(), vec![1, 2]);
    plan.insert(entry, bale_fileset::Content::Bytes(b"x".to_vec())).unwrap();
    let mut tar = Vec::new();
    let written = write_canonical(&plan.seal().unwrap(), &mut tar, &NoProgress).unwrap();
    let ping = written.file_index.entries.iter().find(|e| e.path == "bin/ping").unwrap();
    assert_eq!(ping.xattrs.get("security.capability").map(String::as_str), Some("0102"));

    let dropped = Plan::from_tar(tar.as_slice(), Normalize::default(), Limits::default(), tmp.path()).unwrap();
    assert!(dropped.get("bin/ping").unwrap().xattrs.is_empty());
    let kept = Plan::from_tar(
        tar.as_slice(),
        Normalize { keep_xattrs: true, ..Normalize::default() },
        Limits::default(),
        tmp.path(),
    )
    .unwrap();
    assert_eq!(kept.get("bin/ping").unwrap().xattrs.len(), 1);
}
