//! `/etc/ld.so.cache`, as Debian's libc-bin trigger makes it by running
//! `ldconfig` after every install: the shared objects of the directories
//! `/etc/ld.so.conf` names (with its `include`s) and of glibc's own
//! directories, keyed by soname, in the binary format glibc 2.32 and later
//! write (`glibc-ld.so.cache1.1`). The dynamic linker finds libraries
//! without it, but `ldconfig -p` and everything built on it (Python's
//! `ctypes.util.find_library`) do not.
//!
//! What each package holds (its sonames, its ld.so.conf files) is read
//! once per package and kept in a sealed cache entry, so a warm build
//! reads no layer for this.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use bale_fileset::{Digest, EntryKind, FileIndexEntry};
use bale_progress::Progress;
use bale_store::Store;
use serde::{Deserialize, Serialize};

use super::{ComposeError, Member, SpecContent};

pub(super) const LD_SO_CACHE: &str = "etc/ld.so.cache";
const LD_SO_CONF: &str = "etc/ld.so.conf";
const PACKAGE_CACHE: &str = "ldconfig-v2";
/// An ld.so.conf file larger than this is not read.
const MAX_CONF_SIZE: u64 = 64 * 1024;
/// How deep `include`s may nest, as a guard against an include loop.
const MAX_INCLUDE_DEPTH: usize = 16;
const MAX_SYMLINK_HOPS: usize = 40;

const FLAG_ELF_LIBC6: i32 = 0x0003;
const EXTENSION_MAGIC: u32 = 0xEAA4_2174;
const EXTENSION_GENERATOR: u32 = 0;
const GENERATOR: &[u8] = b"bale";

/// The cache and the soname links ldconfig would have made beside it.
#[derive(Debug, Clone)]
pub(super) struct LdCache {
    pub bytes: Vec<u8>,
    /// `(path, target)` of soname links no package ships.
    pub links: Vec<(String, String)>,
}

/// What one package holds that ldconfig reads.
#[derive(Debug, Default, Serialize, Deserialize)]
struct PackageScan {
    /// Shared objects (named `lib*.so*`, `ld-*.so*`, …) by path.
    objects: BTreeMap<String, SharedObject>,
    /// ld.so.conf files by path, as text.
    conf: BTreeMap<String, String>,
}

/// What the ELF file says, and nothing bale derives from it: the cache
/// holds facts of the file, so a later bale that classifies differently
/// reads the same entry right.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SharedObject {
    soname: Option<String>,
    elf64: bool,
    machine: u16,
    elf_flags: u32,
}

impl SharedObject {
    fn cache_flags(&self) -> i32 {
        let class = if self.elf64 { bale_elf::Class::Elf64 } else { bale_elf::Class::Elf32 };
        cache_flags(self.machine, class, self.elf_flags)
    }
}

/// The cache for the composed tree, or `None` when the image holds no
/// glibc or a package ships the cache itself.
pub(super) fn ld_so_cache(
    store: &Store,
    members: &[Member],
    paths: &BTreeSet<String>,
    owners: &HashMap<String, (usize, FileIndexEntry)>,
    spec: &SpecContent,
    architecture: &str,
    progress: &dyn Progress,
) -> Result<Option<LdCache>, ComposeError> {
    let has_glibc =
        paths.iter().any(|p| p.ends_with("/libc.so.6") && (p.starts_with("usr/lib") || p.starts_with("lib")));
    if !has_glibc || paths.contains(LD_SO_CACHE) || spec.has_file(LD_SO_CACHE) {
        return Ok(None);
    }
    let Some(triplet) = crate::platform::multiarch_triplet(architecture) else { return Ok(None) };
    let mut objects: HashMap<String, SharedObject> = HashMap::new();
    let mut conf: HashMap<String, String> = HashMap::new();
    let holders: BTreeSet<usize> = owners
        .iter()
        .filter(|(path, (_, entry))| entry.kind == "file" && (is_shared_object_name(basename(path)) || is_conf(path)))
        .map(|(_, (i, _))| *i)
        .collect();
    for i in holders {
        let scan = package_scan(store, &members[i], progress)?;
        // Only what the image keeps of this package counts.
        for (path, object) in scan.objects {
            if owners.get(&path).is_some_and(|(owner, _)| *owner == i) {
                objects.insert(path, object);
            }
        }
        for (path, text) in scan.conf {
            if owners.get(&path).is_some_and(|(owner, _)| *owner == i) {
                conf.insert(path, text);
            }
        }
    }
    for file in &spec.files {
        if is_conf(&file.path) {
            conf.insert(file.path.clone(), String::from_utf8_lossy(&file.content).into_owned());
        }
    }
    let tree = Tree::new(paths, owners, spec);

    // The directories, in the order ldconfig takes them: the configuration,
    // then glibc's built-in ones. One directory reached by two names keeps
    // the first.
    let mut named: Vec<String> = Vec::new();
    if let Some(text) = conf.get(LD_SO_CONF) {
        parse_conf(&tree, &conf, LD_SO_CONF, text, 0, &mut named, progress);
    }
    for dir in [format!("/lib/{triplet}"), format!("/usr/lib/{triplet}"), "/lib".into(), "/usr/lib".into()] {
        named.push(dir);
    }
    let mut seen_dirs = BTreeSet::new();
    let mut entries: Vec<CacheEntry> = Vec::new();
    let mut links: Vec<(String, String)> = Vec::new();
    for name in named {
        let Some(dir) = tree.resolve(&name).filter(|d| tree.is_dir(d)) else { continue };
        if !seen_dirs.insert(dir.clone()) {
            continue;
        }
        let shown = name.trim_end_matches('/');
        for found in scan_dir(&tree, &objects, &dir) {
            let link = join(&dir, &found.soname);
            if !found.is_link && found.name != found.soname && !tree.exists(&link) {
                links.push((link, found.name.clone()));
            }
            entries.push(CacheEntry {
                key: found.soname.clone(),
                value: format!("{shown}/{}", found.soname),
                flags: found.flags,
            });
        }
    }
    entries.sort_by(|a, b| libcmp(&b.key, &a.key).then(b.flags.cmp(&a.flags)));
    links.sort();
    Ok(Some(LdCache { bytes: serialize(&entries, architecture == "s390x"), links }))
}

fn is_conf(path: &str) -> bool {
    path == LD_SO_CONF || path.starts_with("etc/ld.so.conf.d/")
}

/// The names ldconfig considers: `lib*.so*`, `ld-*.so*`, `ld.so.*`, `ld64.so.*`.
fn is_shared_object_name(name: &str) -> bool {
    ((name.starts_with("lib") || name.starts_with("ld-")) && name.contains(".so"))
        || name.starts_with("ld.so.")
        || name.starts_with("ld64.so.")
}

fn basename(path: &str) -> &str {
    path.rsplit_once('/').map_or(path, |(_, name)| name)
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() { name.to_string() } else { format!("{dir}/{name}") }
}

/// Reads (or recalls) what one package holds for ldconfig.
fn package_scan(store: &Store, member: &Member, progress: &dyn Progress) -> Result<PackageScan, ComposeError> {
    let content: Digest = member.metadata.content.digest;
    let key = bale_fileset::sha256_bytes(format!("{PACKAGE_CACHE} {content}").as_bytes());
    match store.read_sealed_cache(PACKAGE_CACHE, &key) {
        bale_store::CacheRead::Hit(bytes) => {
            if let Ok(scan) = serde_json::from_slice::<PackageScan>(&bytes) {
                return Ok(scan);
            }
        }
        bale_store::CacheRead::Damaged(path) => {
            progress.warn(&format!("{} failed its integrity check; reading the package again", path.display()));
            store.discard_cache(PACKAGE_CACHE, &key);
        }
        bale_store::CacheRead::Miss => {}
    }
    let mut scan = PackageScan::default();
    let id = &member.record.id;
    member.read_layer(store, |entry, data| {
        let EntryKind::File { size } = entry.kind else { return Ok(()) };
        if is_conf(&entry.path) && size <= MAX_CONF_SIZE {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(data, &mut bytes)
                .map_err(|e| bale_fileset::FilesetError::Io { path: entry.path.clone().into(), source: e })?;
            scan.conf.insert(entry.path.clone(), String::from_utf8_lossy(&bytes).into_owned());
        } else if is_shared_object_name(basename(&entry.path)) {
            match bale_elf::read_dynamic(data, size) {
                Ok(Some(object)) => {
                    scan.objects.insert(
                        entry.path.clone(),
                        SharedObject {
                            soname: object.soname.clone(),
                            elf64: object.class == bale_elf::Class::Elf64,
                            machine: object.machine,
                            elf_flags: object.flags,
                        },
                    );
                }
                Ok(None) => {}
                // ldconfig skips what it cannot read, and so does bale.
                Err(e) => progress.warn(&format!("/{} in {id}: {e}; left out of /etc/ld.so.cache", entry.path)),
            }
        }
        Ok(())
    })?;
    if let Ok(bytes) = serde_json::to_vec(&scan) {
        // Best effort: without it the next build reads the package again.
        let _ = store.write_sealed_cache(PACKAGE_CACHE, &key, &bytes);
    }
    Ok(scan)
}

/// The flags ldconfig records for a shared object: always glibc's ELF
/// (libc6), and the ABI where a machine has several.
fn cache_flags(machine: u16, class: bale_elf::Class, flags: u32) -> i32 {
    use bale_elf::Class::{Elf32, Elf64};
    let required = match (machine, class) {
        (bale_elf::EM_X86_64, Elf64) => 0x0300,
        (bale_elf::EM_X86_64, Elf32) => 0x0800,
        (bale_elf::EM_AARCH64, Elf64) => 0x0a00,
        (bale_elf::EM_PPC64, Elf64) => 0x0500,
        (bale_elf::EM_S390, Elf64) => 0x0400,
        // EF_ARM_ABI_FLOAT_HARD, EF_ARM_ABI_FLOAT_SOFT.
        (bale_elf::EM_ARM, _) if flags & 0x400 != 0 => 0x0900,
        (bale_elf::EM_ARM, _) if flags & 0x200 != 0 => 0x0b00,
        // EF_RISCV_FLOAT_ABI: soft, double.
        (bale_elf::EM_RISCV, _) if flags & 0x6 == 0 => 0x0f00,
        (bale_elf::EM_RISCV, _) if flags & 0x6 == 0x4 => 0x1000,
        // EF_LARCH_ABI_MODIFIER: soft, double.
        (bale_elf::EM_LOONGARCH, _) if flags & 0x7 == 0x1 => 0x1100,
        (bale_elf::EM_LOONGARCH, _) if flags & 0x7 == 0x3 => 0x1200,
        // EF_MIPS_NAN2008, EF_MIPS_ABI2 (n32).
        (bale_elf::EM_MIPS, Elf64) => {
            if flags & 0x400 != 0 {
                0x0e00
            } else {
                0x0700
            }
        }
        (bale_elf::EM_MIPS, Elf32) if flags & 0x20 != 0 => {
            if flags & 0x400 != 0 {
                0x0d00
            } else {
                0x0600
            }
        }
        (bale_elf::EM_MIPS, Elf32) if flags & 0x400 != 0 => 0x0c00,
        _ => 0,
    };
    required | FLAG_ELF_LIBC6
}

/// The composed tree's paths, for following links the way ldconfig's
/// chroot does: inside the image, never out of it.
struct Tree<'a> {
    owners: &'a HashMap<String, (usize, FileIndexEntry)>,
    children: BTreeMap<&'a str, Vec<&'a str>>,
    spec_dirs: BTreeSet<&'a str>,
}

impl<'a> Tree<'a> {
    fn new(
        paths: &'a BTreeSet<String>,
        owners: &'a HashMap<String, (usize, FileIndexEntry)>,
        spec: &'a SpecContent,
    ) -> Self {
        let mut children: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for path in paths {
            let (parent, name) = path.rsplit_once('/').unwrap_or(("", path));
            children.entry(parent).or_default().push(name);
        }
        let spec_dirs = spec.dirs.iter().map(|d| d.path.as_str()).collect();
        Self { owners, children, spec_dirs }
    }

    fn entry(&self, path: &str) -> Option<&FileIndexEntry> {
        self.owners.get(path).map(|(_, entry)| entry)
    }

    fn exists(&self, path: &str) -> bool {
        self.owners.contains_key(path) || self.children.contains_key(path)
    }

    fn is_dir(&self, path: &str) -> bool {
        path.is_empty()
            || self.spec_dirs.contains(path)
            || self.entry(path).map_or(self.children.contains_key(path), |e| e.kind == "directory")
    }

    /// The path `path` (absolute or relative to the root) names once every
    /// link is followed, or `None` when it does not exist or links loop.
    fn resolve(&self, path: &str) -> Option<String> {
        let mut pending: Vec<String> = path.split('/').rev().map(str::to_string).collect();
        let mut current: Vec<String> = Vec::new();
        let mut hops = 0;
        while let Some(part) = pending.pop() {
            match part.as_str() {
                "" | "." => continue,
                ".." => {
                    current.pop();
                    continue;
                }
                _ => {}
            }
            current.push(part);
            let joined = current.join("/");
            match self.entry(&joined) {
                Some(entry) if entry.kind == "symlink" => {
                    hops += 1;
                    if hops > MAX_SYMLINK_HOPS {
                        return None;
                    }
                    current.pop();
                    let target = entry.target.as_deref().unwrap_or_default();
                    if target.starts_with('/') {
                        current.clear();
                    }
                    pending.extend(target.split('/').rev().map(str::to_string));
                }
                Some(_) => {}
                None if self.children.contains_key(joined.as_str()) || self.spec_dirs.contains(joined.as_str()) => {}
                None => return None,
            }
        }
        Some(current.join("/"))
    }

    /// The regular file at `path` (a hard link's first name), if it is one.
    fn regular_file(&self, path: &str) -> Option<String> {
        let entry = self.entry(path)?;
        match entry.kind.as_str() {
            "file" => Some(path.to_string()),
            "hardlink" => entry.target.clone(),
            _ => None,
        }
    }

    /// Matches one `include` pattern (`*`, `?` and `[…]` in any part)
    /// against the tree, in sorted order as glob(3) returns them.
    fn glob(&self, pattern: &str) -> Vec<String> {
        let mut found = vec![String::new()];
        for part in pattern.split('/').filter(|p| !p.is_empty()) {
            let mut next = Vec::new();
            for base in &found {
                let Some(dir) = self.resolve(base) else { continue };
                if !is_pattern(part) {
                    next.push(join(base, part));
                    continue;
                }
                let mut names: Vec<&str> = self.children.get(dir.as_str()).cloned().unwrap_or_default();
                names.sort_unstable();
                for name in names {
                    if !name.starts_with('.') && wildcard(part.as_bytes(), name.as_bytes()) {
                        next.push(join(base, name));
                    }
                }
            }
            found = next;
        }
        found.retain(|path| !path.is_empty() && self.resolve(path).is_some_and(|p| self.exists(&p)));
        found
    }
}

fn is_pattern(part: &str) -> bool {
    part.contains(['*', '?', '['])
}

/// fnmatch(3) without flags beyond a leading dot: `*`, `?`, `[abc]`,
/// `[a-z]`, `[!a]`.
fn wildcard(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|skip| wildcard(rest, &name[skip..])),
        Some((b'?', rest)) => !name.is_empty() && wildcard(rest, &name[1..]),
        Some((b'[', rest)) => {
            let Some((&c, tail)) = name.split_first() else { return false };
            let (negate, mut class) = match rest.split_first() {
                Some((b'!' | b'^', after)) => (true, after),
                _ => (false, rest),
            };
            let mut matched = false;
            let mut first = true;
            loop {
                match class {
                    [] => return false,
                    [b']', after @ ..] if !first => {
                        class = after;
                        break;
                    }
                    [low, b'-', high, after @ ..] if *high != b']' => {
                        matched |= (*low..=*high).contains(&c);
                        class = after;
                    }
                    [one, after @ ..] => {
                        matched |= *one == c;
                        class = after;
                    }
                }
                first = false;
            }
            matched != negate && wildcard(class, tail)
        }
        Some((&literal, rest)) => name.first() == Some(&literal) && wildcard(rest, &name[1..]),
    }
}

/// Adds the directories an ld.so.conf file names to `dirs`, following its
/// `include` lines, as ldconfig's parse_conf reads it.
fn parse_conf(
    tree: &Tree,
    conf: &HashMap<String, String>,
    file: &str,
    text: &str,
    depth: usize,
    dirs: &mut Vec<String>,
    progress: &dyn Progress,
) {
    if depth > MAX_INCLUDE_DEPTH {
        progress.warn(&format!("/{file}: includes nest more than {MAX_INCLUDE_DEPTH} deep; the rest is left out"));
        return;
    }
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        if let Some(patterns) = line.strip_prefix("include").filter(|rest| rest.starts_with([' ', '\t'])) {
            for pattern in patterns.split([' ', '\t']).filter(|p| !p.is_empty()) {
                // A relative pattern is relative to the including file.
                let pattern = if pattern.starts_with('/') {
                    pattern.to_string()
                } else {
                    let parent = file.rsplit_once('/').map_or("", |(parent, _)| parent);
                    format!("/{parent}/{pattern}")
                };
                for included in tree.glob(&pattern) {
                    let Some(real) = tree.resolve(&included) else { continue };
                    match conf.get(&real) {
                        Some(text) => parse_conf(tree, conf, &real, text, depth + 1, dirs, progress),
                        None => progress.warn(&format!(
                            "/{file} includes /{included}, which bale does not read (only /etc/ld.so.conf and /etc/ld.so.conf.d); \
                             its directories are left out of /etc/ld.so.cache"
                        )),
                    }
                }
            }
        } else if line.len() > 5 && line[..5].eq_ignore_ascii_case("hwcap") && line[5..].starts_with([' ', '\t']) {
            // ldconfig ignores these too.
        } else {
            // `DIR=TYPE` is an old form; the type is ignored.
            let dir = line.split('=').next().unwrap_or_default().trim_end();
            let dir = if dir.len() > 1 { dir.trim_end_matches('/') } else { dir };
            if !dir.is_empty() {
                dirs.push(dir.to_string());
            }
        }
    }
}

/// One library of a directory, as ldconfig's search_dir settles it.
#[derive(Debug)]
struct Found {
    soname: String,
    /// The directory entry that won for this soname.
    name: String,
    is_link: bool,
    flags: i32,
}

fn scan_dir(tree: &Tree, objects: &HashMap<String, SharedObject>, dir: &str) -> Vec<Found> {
    let mut names: Vec<&str> = tree.children.get(dir).cloned().unwrap_or_default();
    names.sort_unstable();
    let mut found: Vec<Found> = Vec::new();
    for name in names {
        if !is_shared_object_name(name) {
            continue;
        }
        let path = join(dir, name);
        let Some(entry) = tree.entry(&path) else { continue };
        let mut is_link = entry.kind == "symlink";
        let real = if is_link { tree.resolve(&path) } else { Some(path.clone()) };
        let Some(real) = real else { continue };
        let Some(object) = tree.regular_file(&real).and_then(|file| objects.get(&file)) else { continue };
        let mut soname = object.soname.clone().unwrap_or_else(|| name.to_string());
        // A link counts as a link only when it is the soname link itself,
        // or the `.so` link for ld(1) (ldconfig, run without -r as the
        // trigger runs it, judges the link by its own name); any other
        // link is taken as a file holding its target's soname.
        if is_link && name != soname && !(name.ends_with(".so") && soname.starts_with(name)) {
            is_link = false;
        }
        if is_link {
            soname = name.to_string();
        }
        match found.iter_mut().find(|f| f.soname == soname) {
            Some(existing) => {
                // A file wins over a link, then the newer name.
                if (!is_link && existing.is_link)
                    || (is_link == existing.is_link && libcmp(&existing.name, name) == Ordering::Less)
                {
                    existing.name = name.to_string();
                    existing.is_link = is_link;
                    existing.flags = object.cache_flags();
                }
            }
            None => found.push(Found { soname, name: name.to_string(), is_link, flags: object.cache_flags() }),
        }
    }
    found
}

struct CacheEntry {
    key: String,
    value: String,
    flags: i32,
}

/// glibc's `_dl_cache_libcmp`: runs of digits compare as numbers, and a
/// digit sorts after any other character. The dynamic linker binary-searches
/// the cache in this order, so it must be exactly this.
fn libcmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let digits = |s: &[u8]| s.iter().take_while(|c| c.is_ascii_digit()).count();
                let (na, nb) = (digits(a), digits(b));
                let trim = |s: &[u8]| {
                    let zeros = s.iter().take_while(|c| **c == b'0').count();
                    s[zeros..].to_vec()
                };
                let (va, vb) = (trim(&a[..na]), trim(&b[..nb]));
                let by_value = va.len().cmp(&vb.len()).then_with(|| va.cmp(&vb));
                if by_value != Ordering::Equal {
                    return by_value;
                }
                a = &a[na..];
                b = &b[nb..];
            }
            (Some(x), Some(_)) if x.is_ascii_digit() => return Ordering::Greater,
            (Some(_), Some(y)) if y.is_ascii_digit() => return Ordering::Less,
            (Some(x), Some(y)) if x != y => return x.cmp(y),
            _ => {
                a = &a[1..];
                b = &b[1..];
            }
        }
    }
}

/// The `glibc-ld.so.cache1.1` file: a header, 24-byte entries, the string
/// table (each key is the tail of its value, as ldconfig shares them), and
/// one extension naming the generator.
fn serialize(entries: &[CacheEntry], big_endian: bool) -> Vec<u8> {
    let u32b = |v: u32| if big_endian { v.to_be_bytes() } else { v.to_le_bytes() };
    let header_size = 48;
    let table_start = header_size + 24 * entries.len();
    let mut strings: Vec<u8> = Vec::new();
    let mut offsets = Vec::new();
    for entry in entries {
        let value = table_start + strings.len();
        strings.extend_from_slice(entry.value.as_bytes());
        strings.push(0);
        offsets.push((value + entry.value.len() - entry.key.len(), value));
    }
    let strings_end = table_start + strings.len();
    let extension = strings_end.next_multiple_of(4);
    let mut out = Vec::with_capacity(extension + 32);
    out.extend_from_slice(b"glibc-ld.so.cache1.1");
    out.extend_from_slice(&u32b(entries.len() as u32));
    out.extend_from_slice(&u32b(strings.len() as u32));
    // cache_file_new_flags_endian_little, _big.
    out.push(if big_endian { 3 } else { 2 });
    out.extend_from_slice(&[0; 3]);
    out.extend_from_slice(&u32b(extension as u32));
    out.extend_from_slice(&[0; 12]);
    for (entry, (key, value)) in entries.iter().zip(offsets) {
        out.extend_from_slice(&u32b(entry.flags as u32));
        out.extend_from_slice(&u32b(key as u32));
        out.extend_from_slice(&u32b(value as u32));
        out.extend_from_slice(&[0; 4 + 8]);
    }
    out.extend_from_slice(&strings);
    out.resize(extension, 0);
    out.extend_from_slice(&u32b(EXTENSION_MAGIC));
    out.extend_from_slice(&u32b(1));
    let data = extension + 8 + 16;
    for field in [EXTENSION_GENERATOR, 0, data as u32, GENERATOR.len() as u32] {
        out.extend_from_slice(&u32b(field));
    }
    out.extend_from_slice(GENERATOR);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libcmp_compares_numbers_as_numbers() {
        assert_eq!(libcmp("libfoo.so.10", "libfoo.so.9"), Ordering::Greater);
        assert_eq!(libcmp("libz3.so", "libzstd.so.1"), Ordering::Greater);
        assert_eq!(libcmp("libzstd.so.1", "libz.so.1"), Ordering::Greater);
        assert_eq!(libcmp("libfoo.so", "libfoo.so.1"), Ordering::Less);
        assert_eq!(libcmp("libfoo.so.01", "libfoo.so.1"), Ordering::Equal);
        assert_eq!(libcmp("libx.so.99999999999999999999", "libx.so.99999999999999999998"), Ordering::Greater);
    }

    #[test]
    fn flags_name_the_abi_as_ldconfig_does() {
        use bale_elf::Class::{Elf32, Elf64};
        let flags = cache_flags;
        assert_eq!(flags(bale_elf::EM_X86_64, Elf64, 0), 0x0303);
        assert_eq!(flags(bale_elf::EM_X86_64, Elf32, 0), 0x0803);
        assert_eq!(flags(bale_elf::EM_386, Elf32, 0), 0x0003);
        assert_eq!(flags(bale_elf::EM_AARCH64, Elf64, 0), 0x0a03);
        assert_eq!(flags(bale_elf::EM_ARM, Elf32, 0x0500_0400), 0x0903);
        assert_eq!(flags(bale_elf::EM_ARM, Elf32, 0x0500_0200), 0x0b03);
        assert_eq!(flags(bale_elf::EM_PPC64, Elf64, 2), 0x0503);
        assert_eq!(flags(bale_elf::EM_S390, Elf64, 0), 0x0403);
        assert_eq!(flags(bale_elf::EM_RISCV, Elf64, 0x5), 0x1003);
        assert_eq!(flags(bale_elf::EM_LOONGARCH, Elf64, 0x43), 0x1203);
        assert_eq!(flags(bale_elf::EM_MIPS, Elf64, 0x8000_0007), 0x0703);
    }

    #[test]
    fn wildcards_match_as_fnmatch_does() {
        assert!(wildcard(b"*.conf", b"libc.conf"));
        assert!(!wildcard(b"*.conf", b"libc.conf.bak"));
        assert!(wildcard(b"x?[0-9][!a]", b"xy5b"));
        assert!(!wildcard(b"x?[0-9][!a]", b"xy5a"));
        assert!(wildcard(b"[]x]", b"]"));
    }

    #[test]
    fn the_file_layout_is_what_ld_so_reads() {
        let entries = vec![
            CacheEntry { key: "libz.so.1".into(), value: "/lib/x86_64-linux-gnu/libz.so.1".into(), flags: 0x303 },
            CacheEntry { key: "libc.so.6".into(), value: "/lib/x86_64-linux-gnu/libc.so.6".into(), flags: 0x303 },
        ];
        let bytes = serialize(&entries, false);
        assert_eq!(&bytes[..20], b"glibc-ld.so.cache1.1");
        let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        assert_eq!(u32_at(20), 2);
        let key = u32_at(48 + 4);
        let value = u32_at(48 + 8);
        assert_eq!(&bytes[value..value + 32], b"/lib/x86_64-linux-gnu/libz.so.1\0");
        assert_eq!(&bytes[key..key + 10], b"libz.so.1\0");
        let extension = u32_at(32);
        assert_eq!(extension % 4, 0);
        assert_eq!(u32_at(extension) as u32, EXTENSION_MAGIC);
        assert_eq!(&bytes[bytes.len() - 4..], GENERATOR);
        assert_eq!(bytes, serialize(&entries, false));
    }
}
