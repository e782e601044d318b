//! A [`Plan`] is a file set about to be written: every entry, normalised and
//! checked, with where its content comes from. Building the plan first is
//! what lets the writer emit entries in canonical order whatever order the
//! source had.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::{self, Read, Seek};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bale_progress::Progress;

use crate::entry::{Entry, EntryKind, Normalize};
use crate::error::{EntryProblem, FilesetError};
use crate::path::{self, normalize};
use crate::read::{Limits, read_entries};
use crate::safe_fs::{Dir, Identity, Kind};

/// Where a regular file's bytes come from.
#[derive(Debug, Clone)]
pub enum Content {
    /// Directories, symlinks, hard links.
    None,
    /// A file a directory walk found at `path` below `root`. It is opened
    /// again through the root's handle when written, and refused unless it
    /// is still the same inode, a regular file, of the same size.
    Tree { root: Arc<Dir>, path: String, identity: Identity },
    /// A file bale itself keeps (a store blob); it must be a regular file
    /// whose size does not change before it is written.
    Path(PathBuf),
    /// A range of the plan's spool file (content copied out of a tar).
    Spool { offset: u64, len: u64 },
    /// Bytes generated in memory.
    Bytes(Vec<u8>),
}

/// A file set ready to be written canonically.
#[derive(Debug)]
pub struct Plan {
    entries: BTreeMap<String, (Entry, Content)>,
    spool: Option<File>,
    normalize: Normalize,
    limits: Limits,
    total_size: u64,
}

impl Plan {
    pub fn new(normalize: Normalize, limits: Limits) -> Self {
        Self { entries: BTreeMap::new(), spool: None, normalize, limits, total_size: 0 }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Total bytes of regular-file content.
    pub fn content_size(&self) -> u64 {
        self.total_size
    }

    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.entries.get(path).map(|(entry, _)| entry)
    }

    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values().map(|(entry, _)| entry)
    }

    /// Gives each entry that `owner` names that owner (uid, gid); the rest
    /// keep theirs.
    pub fn set_owners(&mut self, owner: impl Fn(&str) -> Option<(u64, u64)>) {
        for (path, (entry, _)) in &mut self.entries {
            if let Some((uid, gid)) = owner(path) {
                entry.uid = uid;
                entry.gid = gid;
            }
        }
    }

    pub(crate) fn entries_with_content(&self) -> impl Iterator<Item = (&Entry, &Content)> {
        self.entries.values().map(|(entry, content)| (entry, content))
    }

    /// What [`Plan::insert`] would refuse of a file entry for its path or
    /// size, before its content is read.
    fn check_insert(&self, entry: &Entry) -> Result<(), FilesetError> {
        let problem = |p| FilesetError::entry(entry.path.as_bytes(), p);
        if self.entries.contains_key(&entry.path) {
            return Err(problem(EntryProblem::Duplicate));
        }
        if let EntryKind::File { size } = entry.kind {
            if size > self.limits.max_entry_size {
                return Err(problem(EntryProblem::EntryTooLarge { size, limit: self.limits.max_entry_size }));
            }
            if self.total_size.saturating_add(size) > self.limits.max_total_size {
                return Err(problem(EntryProblem::TotalTooLarge { limit: self.limits.max_total_size }));
            }
        }
        Ok(())
    }

    /// Adds one entry, applying the plan's mode and owner policy. The path
    /// must already be normalised; symlink targets are checked here.
    pub fn insert(&mut self, mut entry: Entry, content: Content) -> Result<(), FilesetError> {
        let problem = |p| FilesetError::entry(entry.path.as_bytes(), p);
        if entry.path.rsplit('/').next().is_some_and(|name| name.starts_with(".wh.")) {
            return Err(problem(EntryProblem::Whiteout));
        }
        if let EntryKind::Symlink { target } = &entry.kind {
            if target.is_empty() || target.contains('\0') {
                return Err(problem(EntryProblem::BadLinkTarget));
            }
            if !path::symlink_stays_inside(&entry.path, target) {
                return Err(problem(EntryProblem::SymlinkEscapes { target: target.clone() }));
            }
        }
        if self.entries.contains_key(&entry.path) {
            return Err(problem(EntryProblem::Duplicate));
        }
        // Written as one PAX header, which must stay readable by bale's own
        // reader, whose cap on extended headers is MAX_EXTENSION_SIZE.
        let xattr_bytes: usize = entry.xattrs.iter().map(|(k, v)| k.len() + v.len() + 32).sum();
        if self.normalize.keep_xattrs && xattr_bytes as u64 > crate::read::MAX_EXTENSION_SIZE / 2 {
            let size = xattr_bytes as u64;
            return Err(problem(EntryProblem::ExtensionTooLarge { size, limit: crate::read::MAX_EXTENSION_SIZE / 2 }));
        }
        if self.entries.len() as u64 >= self.limits.max_entries {
            return Err(problem(EntryProblem::TooManyEntries { limit: self.limits.max_entries }));
        }
        if let EntryKind::File { size } = entry.kind {
            if size > self.limits.max_entry_size {
                return Err(problem(EntryProblem::EntryTooLarge { size, limit: self.limits.max_entry_size }));
            }
            self.total_size = self.total_size.saturating_add(size);
            if self.total_size > self.limits.max_total_size {
                return Err(problem(EntryProblem::TotalTooLarge { limit: self.limits.max_total_size }));
            }
        }
        entry.mode = self.normalize.mode(&entry.kind, entry.mode);
        entry.uid = self.normalize.owner(entry.uid);
        entry.gid = self.normalize.owner(entry.gid);
        if !self.normalize.keep_xattrs {
            entry.xattrs.clear();
        }
        self.entries.insert(entry.path.clone(), (entry, content));
        Ok(())
    }

    /// Moves the entries whose paths `take` chooses into a new plan with the
    /// same policy, with copies of the directories above them, so each
    /// plan is a whole file set; the directories stay here too (the same
    /// directory in two packages is no conflict). A hard link and its
    /// target must end up on the same side.
    pub fn split_off(&mut self, take: &dyn Fn(&str) -> bool) -> Result<Plan, FilesetError> {
        let chosen: Vec<String> = self
            .entries
            .iter()
            .filter(|(path, (entry, _))| entry.kind != EntryKind::Directory && take(path))
            .map(|(path, _)| path.clone())
            .collect();
        let mut out = Plan::new(self.normalize, self.limits);
        let spool = match &self.spool {
            Some(file) => Some(file.try_clone().map_err(|e| FilesetError::io("(the plan's spool file)", e))?),
            None => None,
        };
        out.spool = spool;
        for path in &chosen {
            let mut parent = path.as_str();
            while let Some((above, _)) = parent.rsplit_once('/') {
                parent = above;
                if let Some((entry, content)) = self.entries.get(parent)
                    && !out.entries.contains_key(parent)
                {
                    out.entries.insert(parent.to_string(), (entry.clone(), content.clone()));
                }
            }
            if let Some((entry, content)) = self.entries.remove(path) {
                if let EntryKind::File { size } = entry.kind {
                    self.total_size = self.total_size.saturating_sub(size);
                    out.total_size = out.total_size.saturating_add(size);
                }
                out.entries.insert(path.clone(), (entry, content));
            }
        }
        // Directories chosen by the pattern itself (an empty one) move too.
        for (path, (entry, content)) in &self.entries {
            if entry.kind == EntryKind::Directory && take(path) && !out.entries.contains_key(path) {
                out.entries.insert(path.clone(), (entry.clone(), content.clone()));
            }
        }
        for (plan, other) in [(&out, &*self), (&*self, &out)] {
            for (path, (entry, _)) in &plan.entries {
                if let EntryKind::Hardlink { target } = &entry.kind
                    && !plan.entries.contains_key(target)
                    && other.entries.contains_key(target)
                {
                    return Err(FilesetError::entry(
                        path.as_bytes(),
                        EntryProblem::SplitHardlink { target: target.clone() },
                    ));
                }
            }
        }
        Ok(out)
    }

    /// Walks `dir` (which itself is not an entry). Everything below it is
    /// reached through directory handles and no symlink is followed: links
    /// are recorded as links, files sharing an inode become hard links, and
    /// a directory swapped for a link during the walk is an error.
    pub fn from_dir(
        dir: &Path,
        normalize: Normalize,
        limits: Limits,
        progress: &dyn Progress,
    ) -> Result<Self, FilesetError> {
        let root = Arc::new(Dir::open(dir).map_err(|e| FilesetError::io(dir, e))?);
        let mut plan = Self::new(normalize, limits);
        // The first name seen of each multiply-linked inode; later names
        // become links to it (and carry no size toward the limits).
        let mut inodes: HashMap<Identity, String> = HashMap::new();
        let mut links: Vec<(String, String)> = Vec::new();
        progress.phase("scanning", None);
        let mut stack = vec![String::new()];
        while let Some(rel_dir) = stack.pop() {
            let opened;
            let here: &Dir = if rel_dir.is_empty() {
                &root
            } else {
                opened = root.open_dir(&rel_dir).map_err(|e| FilesetError::io(root.display(&rel_dir), e))?;
                &opened
            };
            let names = here.names().map_err(|e| FilesetError::io(here.path(), e))?;
            for name in names {
                let mut raw = rel_dir.as_bytes().to_vec();
                if !raw.is_empty() {
                    raw.push(b'/');
                }
                raw.extend_from_slice(&name);
                let rel_text = normalize_path(&raw)?;
                let leaf = rel_text.rsplit('/').next().unwrap_or(&rel_text);
                let md = here.entry_meta(leaf).map_err(|e| FilesetError::io(root.display(&rel_text), e))?;
                let (kind, content) = match md.kind {
                    Kind::Directory => {
                        stack.push(rel_text.clone());
                        (EntryKind::Directory, Content::None)
                    }
                    Kind::File => match (md.nlink > 1).then(|| inodes.get(&md.identity)).flatten() {
                        Some(first) => {
                            links.push((rel_text.clone(), first.clone()));
                            (EntryKind::Hardlink { target: first.clone() }, Content::None)
                        }
                        None => {
                            if md.nlink > 1 {
                                inodes.insert(md.identity, rel_text.clone());
                            }
                            let content = Content::Tree {
                                root: Arc::clone(&root),
                                path: rel_text.clone(),
                                identity: md.identity,
                            };
                            (EntryKind::File { size: md.size }, content)
                        }
                    },
                    Kind::Symlink => {
                        let target = here.read_link(leaf).map_err(|e| FilesetError::io(root.display(&rel_text), e))?;
                        let target = String::from_utf8(target)
                            .map_err(|_| FilesetError::entry(&raw, EntryProblem::BadLinkTarget))?;
                        (EntryKind::Symlink { target }, Content::None)
                    }
                    other => {
                        let kind = other.describe().to_string();
                        return Err(FilesetError::entry(&raw, EntryProblem::UnsupportedType { kind }));
                    }
                };
                let entry = Entry {
                    path: rel_text,
                    kind,
                    mode: md.mode,
                    uid: u64::from(md.uid),
                    gid: u64::from(md.gid),
                    xattrs: BTreeMap::new(),
                };
                plan.insert(entry, content)?;
                progress.advance(1);
            }
        }
        progress.finish_phase();
        plan.canonicalize_hardlinks(links);
        plan.finalize()?;
        crate::hook::pause_point("pack-scanned");
        Ok(plan)
    }

    /// Reads any tar (ustar, PAX or GNU, optionally gzip/zstd/xz-free) with
    /// the strict reader, copying file contents into a spool file under
    /// `spool_dir` so entries can be re-emitted in canonical order.
    pub fn from_tar(
        reader: impl Read,
        normalize: Normalize,
        limits: Limits,
        spool_dir: &Path,
    ) -> Result<Self, FilesetError> {
        Self::from_tar_with(reader, normalize, limits, spool_dir, |entry| Ok(Some(entry)))
    }

    /// [`Plan::from_tar`] with every accepted entry passed through `rewrite`
    /// first, which may move it (returning it changed) or drop it
    /// (`None`). Entries are still checked after rewriting, and two
    /// directories that land on the same path merge (the first one's
    /// metadata wins); any other collision is an error.
    pub fn from_tar_with(
        reader: impl Read,
        normalize: Normalize,
        limits: Limits,
        spool_dir: &Path,
        rewrite: impl FnMut(Entry) -> Result<Option<Entry>, FilesetError>,
    ) -> Result<Self, FilesetError> {
        let mut builder = TarUnion::new(normalize, limits, spool_dir)?;
        builder.absorb(reader, rewrite, false)?;
        builder.finish()
    }

    /// The union of several file sets (canonical tars that are known to
    /// agree wherever they overlap, as composition checks): a path already
    /// present is kept as the first tar had it.
    pub fn union_of_tars<R: Read>(
        readers: impl IntoIterator<Item = R>,
        normalize: Normalize,
        limits: Limits,
        spool_dir: &Path,
    ) -> Result<Self, FilesetError> {
        let mut builder = TarUnion::new(normalize, limits, spool_dir)?;
        for reader in readers {
            builder.absorb(reader, |entry| Ok(Some(entry)), true)?;
        }
        builder.finish()
    }

    /// A hard-linked group keeps its content on whichever member sorts first;
    /// the others link to it, so the output does not depend on which name the
    /// source happened to store the data under.
    fn canonicalize_hardlinks(&mut self, links: Vec<(String, String)>) {
        let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (link, target) in links {
            // The strict reader already resolved chains to a regular file.
            groups.entry(target).or_default().push(link);
        }
        for (holder, mut members) in groups {
            members.push(holder.clone());
            members.sort();
            let first = members[0].clone();
            if first != holder {
                // The first name takes the data; the old holder becomes a link.
                let (Some((holder_entry, data)), Some((first_entry, _))) =
                    (self.entries.remove(&holder), self.entries.remove(&first))
                else {
                    continue;
                };
                let new_first = Entry { path: first.clone(), ..holder_entry.clone() };
                let new_holder = Entry { path: holder.clone(), kind: first_entry.kind, ..holder_entry };
                self.entries.insert(first.clone(), (new_first, data));
                self.entries.insert(holder.clone(), (new_holder, Content::None));
            }
            for member in &members[1..] {
                if let Some((entry, _)) = self.entries.get_mut(member) {
                    entry.kind = EntryKind::Hardlink { target: first.clone() };
                }
            }
        }
    }

    /// Adds missing parent directories and checks that every ancestor of
    /// every entry is a directory and every hard link names a regular file
    /// that sorts before it.
    fn finalize(&mut self) -> Result<(), FilesetError> {
        let mut missing = Vec::new();
        for path in self.entries.keys() {
            for ancestor in path::ancestors(path) {
                match self.entries.get(ancestor) {
                    Some((e, _)) if e.kind != EntryKind::Directory => {
                        return Err(FilesetError::entry(
                            path.as_bytes(),
                            EntryProblem::ThroughNonDirectory { ancestor: ancestor.to_string() },
                        ));
                    }
                    Some(_) => {}
                    None => missing.push(ancestor.to_string()),
                }
            }
        }
        for dir in missing {
            if !self.entries.contains_key(&dir) {
                let mut entry = Entry::directory(dir);
                entry.mode = self.normalize.mode(&entry.kind, 0o755);
                self.entries.insert(entry.path.clone(), (entry, Content::None));
            }
        }
        for (path, (entry, _)) in &self.entries {
            if let EntryKind::Hardlink { target } = &entry.kind {
                let ok = target < path
                    && matches!(self.entries.get(target), Some((t, _)) if matches!(t.kind, EntryKind::File { .. }));
                if !ok {
                    return Err(FilesetError::entry(
                        path.as_bytes(),
                        EntryProblem::HardlinkTarget { target: target.clone() },
                    ));
                }
            }
        }
        Ok(())
    }

    /// Completes a plan built with [`Plan::insert`]: adds missing parents and
    /// checks hard links, exactly as the directory and tar sources do.
    pub fn seal(mut self) -> Result<Self, FilesetError> {
        self.finalize()?;
        Ok(self)
    }

    /// Reads a regular file of the plan into memory, if it is there and no
    /// larger than `max` bytes (a copyright file, a config file).
    pub fn read_file(&self, path: &str, max: u64) -> Option<Result<Vec<u8>, FilesetError>> {
        let (entry, content) = self.entries.get(path)?;
        let EntryKind::File { size } = entry.kind else { return None };
        if size > max {
            return None;
        }
        let mut out = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        Some(
            self.open_content(entry, content)
                .and_then(|r| {
                    r.take(max.saturating_add(1)).read_to_end(&mut out).map_err(|e| FilesetError::io(path, e))
                })
                .and_then(|n| {
                    if n as u64 > max {
                        Err(FilesetError::entry(
                            path.as_bytes(),
                            EntryProblem::Changed { expected: size, actual: n as u64 },
                        ))
                    } else {
                        Ok(out)
                    }
                }),
        )
    }

    /// Opens the content of a regular file for writing it out.
    pub(crate) fn open_content<'a>(
        &'a self,
        entry: &Entry,
        content: &'a Content,
    ) -> Result<Box<dyn Read + 'a>, FilesetError> {
        Ok(match content {
            Content::None => Box::new(io::empty()),
            Content::Tree { root, path, identity } => {
                let replaced = |detail: String| FilesetError::entry(path.as_bytes(), EntryProblem::Replaced { detail });
                let (file, meta) = root.open_file(path).map_err(|e| match e.kind() {
                    io::ErrorKind::InvalidData | io::ErrorKind::NotFound => replaced(e.to_string()),
                    _ => FilesetError::io(root.display(path), e),
                })?;
                if meta.identity != *identity {
                    return Err(replaced("it is no longer the file bale scanned".into()));
                }
                Box::new(file)
            }
            Content::Path(p) => {
                Box::new(crate::safe_fs::open_regular(p, u64::MAX).map_err(|e| FilesetError::io(p, e))?.0)
            }
            Content::Bytes(b) => Box::new(b.as_slice()),
            Content::Spool { offset, len } => {
                let file = self
                    .spool
                    .as_ref()
                    .ok_or_else(|| FilesetError::entry(entry.path.as_bytes(), EntryProblem::Truncated))?;
                Box::new(SpoolReader { file, pos: *offset, end: offset + len })
            }
        })
    }
}

/// Builds a plan entry by entry from content read once (the members of
/// a wheel's zip), copied into the plan's spool file so that memory stays
/// bounded however large the content.
pub struct SpoolingPlan<'a> {
    inner: TarUnion<'a>,
}

impl std::fmt::Debug for SpoolingPlan<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SpoolingPlan({} entries)", self.inner.plan.len())
    }
}

impl<'a> SpoolingPlan<'a> {
    pub fn new(normalize: Normalize, limits: Limits, spool_dir: &'a Path) -> Result<Self, FilesetError> {
        Ok(Self { inner: TarUnion::new(normalize, limits, spool_dir)? })
    }

    /// Adds a directory or a symlink (no content).
    pub fn insert(&mut self, entry: Entry) -> Result<(), FilesetError> {
        if matches!(entry.kind, EntryKind::File { .. } | EntryKind::Hardlink { .. }) {
            return Err(FilesetError::entry(entry.path.as_bytes(), EntryProblem::Truncated));
        }
        self.inner.plan.insert(entry, Content::None)
    }

    /// Adds a file whose content is the `size` bytes `data` yields (its
    /// entry's size); fewer or more is an error naming the entry.
    pub fn insert_file(&mut self, entry: Entry, data: &mut dyn Read) -> Result<(), FilesetError> {
        let EntryKind::File { size } = entry.kind else {
            return Err(FilesetError::entry(entry.path.as_bytes(), EntryProblem::Truncated));
        };
        // Checked against the limits before a byte is copied.
        self.inner.plan.check_insert(&entry)?;
        let copied = io::copy(&mut data.take(size.saturating_add(1)), &mut self.inner.spool)
            .map_err(|e| FilesetError::io(self.inner.spool_dir, e))?;
        if copied != size {
            return Err(FilesetError::entry(entry.path.as_bytes(), EntryProblem::Truncated));
        }
        let content = Content::Spool { offset: self.inner.offset, len: size };
        self.inner.offset += size;
        self.inner.plan.insert(entry, content)
    }

    /// Whether the plan already has `path`.
    pub fn contains(&self, path: &str) -> bool {
        self.inner.plan.entries.contains_key(path)
    }

    /// The plan, with the directories its paths need.
    pub fn finish(self) -> Result<Plan, FilesetError> {
        self.inner.finish()
    }
}

/// Builds a plan from one or more tars sharing one spool file.
struct TarUnion<'a> {
    plan: Plan,
    /// Buffered: tar readers hand out file data in small pieces, and a
    /// write per piece cost a tenth of a Debian import's CPU in syscalls.
    spool: io::BufWriter<File>,
    spool_dir: &'a Path,
    offset: u64,
    links: Vec<(String, String)>,
}

impl<'a> TarUnion<'a> {
    fn new(normalize: Normalize, limits: Limits, spool_dir: &'a Path) -> Result<Self, FilesetError> {
        Ok(Self {
            plan: Plan::new(normalize, limits),
            spool: io::BufWriter::with_capacity(256 * 1024, tempfile_in(spool_dir)?),
            spool_dir,
            offset: 0,
            links: Vec::new(),
        })
    }

    fn absorb(
        &mut self,
        reader: impl Read,
        mut rewrite: impl FnMut(Entry) -> Result<Option<Entry>, FilesetError>,
        keep_existing: bool,
    ) -> Result<(), FilesetError> {
        let limits = self.plan.limits;
        read_entries(reader, &limits, |entry, data| {
            let Some(entry) = rewrite(entry)? else { return Ok(()) };
            let existing = self.plan.entries.get(&entry.path);
            if (keep_existing && existing.is_some())
                || (entry.kind == EntryKind::Directory && existing.is_some_and(|(e, _)| e.kind == EntryKind::Directory))
            {
                return Ok(());
            }
            let content = match entry.kind {
                EntryKind::File { size } => {
                    let copied = io::copy(data, &mut self.spool).map_err(|e| FilesetError::io(self.spool_dir, e))?;
                    if copied != size {
                        return Err(FilesetError::entry(entry.path.as_bytes(), EntryProblem::Truncated));
                    }
                    let c = Content::Spool { offset: self.offset, len: size };
                    self.offset += size;
                    c
                }
                _ => Content::None,
            };
            if let EntryKind::Hardlink { target } = &entry.kind {
                self.links.push((entry.path.clone(), target.clone()));
            }
            self.plan.insert(entry, content)
        })
    }

    fn finish(mut self) -> Result<Plan, FilesetError> {
        let spool = self.spool.into_inner().map_err(|e| FilesetError::io(self.spool_dir, e.into_error()))?;
        self.plan.spool = Some(spool);
        let links = std::mem::take(&mut self.links);
        self.plan.canonicalize_hardlinks(links);
        self.plan.finalize()?;
        Ok(self.plan)
    }
}

fn normalize_path(raw: &[u8]) -> Result<String, FilesetError> {
    match normalize(raw) {
        Ok(Some(p)) => Ok(p),
        Ok(None) => Err(FilesetError::entry(raw, EntryProblem::EmptyPath)),
        Err(problem) => Err(FilesetError::entry(raw, problem)),
    }
}

/// An anonymous temporary file: unlinked at once, so it vanishes with the
/// process even if it is killed.
fn tempfile_in(dir: &Path) -> Result<File, FilesetError> {
    fs::create_dir_all(dir).map_err(|e| FilesetError::io(dir, e))?;
    let mut rng = std::collections::hash_map::RandomState::new();
    for attempt in 0u32..100 {
        use std::hash::{BuildHasher, Hasher};
        let mut h = rng.build_hasher();
        h.write_u32(attempt);
        h.write_u32(std::process::id());
        let path = dir.join(format!(".spool-{:016x}", h.finish()));
        match fs::OpenOptions::new().read(true).write(true).create_new(true).open(&path) {
            Ok(mut f) => {
                let _ = fs::remove_file(&path);
                f.rewind().map_err(|e| FilesetError::io(&path, e))?;
                return Ok(f);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                rng = std::collections::hash_map::RandomState::new();
            }
            Err(e) => return Err(FilesetError::io(&path, e)),
        }
    }
    Err(FilesetError::io(dir, io::Error::other("could not create a spool file")))
}

struct SpoolReader<'a> {
    file: &'a File,
    pos: u64,
    end: u64,
}

impl Read for SpoolReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf.len().min((self.end - self.pos) as usize);
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.pos += n as u64;
        Ok(n)
    }
}
