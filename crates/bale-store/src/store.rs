use std::collections::HashMap;
use std::fs;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use bale_fileset::{Digest, LAYER_MEDIA_TYPE_GZIP, LAYER_MEDIA_TYPE_ZSTD, sha256_bytes};
use serde::de::DeserializeOwned;
use verifying::VerifyingReader;

use crate::blob::{BlobWriter, sync_dir};
use crate::error::StoreError;
use crate::id::{IdParts, PackageId};
use crate::lock::StoreLock;
use crate::oci::{self, Descriptor, Index, Manifest, REF_NAME_ANNOTATION};
use crate::package::PackageMetadata;

/// Annotation on a package's index entry carrying its content digest, so
/// lookups by content and conflict checks need not read the config.
pub(crate) const CONTENT_DIGEST_ANNOTATION: &str = "vnd.bale.content.digest";

/// Annotation on the store's `index.json` giving its format: 2 since
/// package ids name their architecture. Format 1 had none.
pub const STORE_FORMAT_ANNOTATION: &str = "vnd.bale.store.format";
pub const STORE_FORMAT: u32 = 2;

const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// The largest cache entry bale reads back.
const MAX_CACHE_ENTRY: u64 = 256 << 20;
const SEAL_PREFIX: &[u8] = b"bale-sealed-v1 ";

/// What a sealed cache lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheRead {
    Miss,
    Hit(Vec<u8>),
    /// An entry is there but its seal does not verify: the caller reports
    /// it, discards it and computes the result again.
    Damaged(PathBuf),
}

fn seal_input(namespace: &str, key: &Digest, body: &[u8]) -> Vec<u8> {
    let mut input = format!("{namespace}\0{}\0", key.hex()).into_bytes();
    input.extend_from_slice(body);
    input
}

/// A package as the index lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageRecord {
    pub id: String,
    pub manifest: Descriptor,
    pub content_digest: Option<Digest>,
}

type LoadedPackage = (Manifest, PackageMetadata);

/// A store rooted at one directory. Cheap to clone; all state is on disk,
/// but for a memo of package manifests and metadata read in this process.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    /// Packages read so far, by manifest digest. Blobs never change under
    /// their digest, and each was verified when first read, so one build
    /// (which reads every package for composing, then for its SBOMs)
    /// parses each once.
    loaded: std::sync::Arc<std::sync::Mutex<HashMap<Digest, LoadedPackage>>>,
}

impl Store {
    /// `$BALE_HOME`, else `$XDG_DATA_HOME/bale`, else `~/.local/share/bale`.
    pub fn default_root() -> Result<PathBuf, StoreError> {
        let non_empty = |key| std::env::var_os(key).filter(|v| !v.is_empty()).map(PathBuf::from);
        if let Some(home) = non_empty("BALE_HOME") {
            return Ok(home);
        }
        if let Some(data) = non_empty("XDG_DATA_HOME") {
            return Ok(data.join("bale"));
        }
        non_empty("HOME").map(|h| h.join(".local/share/bale")).ok_or(StoreError::NoHome)
    }

    /// Opens the store at `root`, creating an empty one if there is none.
    pub fn open(root: &Path) -> Result<Self, StoreError> {
        let store = Self { root: root.to_path_buf(), loaded: Default::default() };
        for dir in [store.blobs_dir(), store.tmp_dir()] {
            fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
        }
        let layout = root.join("oci-layout");
        if layout.exists() && store.index_path().exists() {
            return Ok(store);
        }
        // Creating the layout writes through tmp/, which gc empties.
        let _session = store.lock_shared()?;
        if !layout.exists() {
            store.write_atomically(&layout, OCI_LAYOUT)?;
        }
        if !store.index_path().exists() {
            let _guard = store.index_lock()?;
            if !store.index_path().exists() {
                let mut index = Index::default();
                index.annotations.insert(STORE_FORMAT_ANNOTATION.to_string(), STORE_FORMAT.to_string());
                store.write_atomically(&store.index_path(), &oci::to_json(&index))?;
            }
        }
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn blobs_dir(&self) -> PathBuf {
        self.root.join("blobs/sha256")
    }

    /// Where in-flight writes live; everything here is garbage once no
    /// writer holds the store lock.
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    pub(crate) fn index_path(&self) -> PathBuf {
        self.root.join("index.json")
    }

    /// Refuses `path` (which need not exist) when it is the store's own
    /// directory or inside it: an output written there would replace the
    /// store's `index.json`, or bury files among its blobs.
    pub fn refuse_inside(&self, path: &Path) -> Result<(), StoreError> {
        let Ok(root) = fs::canonicalize(&self.root) else { return Ok(()) };
        let absolute = match path.is_absolute() {
            true => path.to_path_buf(),
            false => std::env::current_dir().map_err(|e| StoreError::io(path, e))?.join(path),
        };
        // The deepest ancestor that exists, with its links resolved, then
        // the parts below it as given.
        let mut existing = absolute.as_path();
        let mut below = Vec::new();
        let resolved = loop {
            if let Ok(real) = fs::canonicalize(existing) {
                break below.iter().rev().fold(real, |full: PathBuf, part: &&std::ffi::OsStr| full.join(part));
            }
            match (existing.parent(), existing.file_name()) {
                (Some(parent), Some(name)) => {
                    below.push(name);
                    existing = parent;
                }
                _ => return Ok(()),
            }
        };
        if resolved.starts_with(&root) {
            return Err(StoreError::InsideStore { path: path.to_path_buf(), store: self.root.clone() });
        }
        Ok(())
    }

    /// Held by every writer for its whole session; see [`StoreLock`].
    pub fn lock_shared(&self) -> Result<StoreLock, StoreError> {
        StoreLock::shared(&self.root.join("store.lock"))
    }

    pub(crate) fn lock_exclusive(&self) -> Result<StoreLock, StoreError> {
        StoreLock::exclusive(&self.root.join("store.lock"))
    }

    fn index_lock(&self) -> Result<StoreLock, StoreError> {
        StoreLock::exclusive(&self.root.join("index.lock"))
    }

    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.blobs_dir().join(digest.hex())
    }

    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    pub fn blob_writer(&self) -> Result<BlobWriter, StoreError> {
        BlobWriter::create(&self.tmp_dir(), &self.blobs_dir(), true)
    }

    /// A blob writer that does not hash: for callers that hash exactly the
    /// bytes they write and commit with that digest.
    pub fn prehashed_blob_writer(&self) -> Result<BlobWriter, StoreError> {
        BlobWriter::create(&self.tmp_dir(), &self.blobs_dir(), false)
    }

    /// Stores `bytes` (if not already there) and returns their digest.
    pub fn put_bytes(&self, bytes: &[u8]) -> Result<Digest, StoreError> {
        let digest = sha256_bytes(bytes);
        // Small blobs are cheap to re-check, so a damaged copy gets repaired.
        if self.check_blob(&digest).is_err() {
            let mut writer = self.blob_writer()?;
            io::Write::write_all(&mut writer, bytes).map_err(|e| StoreError::io(self.tmp_dir(), e))?;
            writer.commit(Some(digest))?;
        }
        Ok(digest)
    }

    /// A missing blob is [`StoreError::MissingBlob`]; anything else is I/O.
    fn blob_error(&self, digest: &Digest, error: io::Error) -> StoreError {
        let path = self.blob_path(digest);
        match error.kind() {
            io::ErrorKind::NotFound => StoreError::MissingBlob { digest: *digest, path },
            _ => StoreError::io(path, error),
        }
    }

    /// Reads a whole blob and checks it against its digest.
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        let path = self.blob_path(digest);
        let bytes = fs::read(&path).map_err(|e| self.blob_error(digest, e))?;
        let actual = sha256_bytes(&bytes);
        if actual != *digest {
            return Err(StoreError::CorruptBlob { digest: *digest, actual });
        }
        Ok(bytes)
    }

    /// A derived result cached under `cache/<namespace>/<key>` (such as a
    /// dependency resolution for a given signed Release). Caches are only
    /// ever an optimisation: a missing or unreadable entry is `None`.
    pub fn read_cache(&self, namespace: &str, key: &Digest) -> Option<Vec<u8>> {
        fs::read(self.root.join("cache").join(namespace).join(key.hex())).ok()
    }

    /// Writes a cache entry atomically (see [`Store::read_cache`]).
    pub fn write_cache(&self, namespace: &str, key: &Digest, bytes: &[u8]) -> Result<(), StoreError> {
        let dir = self.root.join("cache").join(namespace);
        fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
        let temp = self.write_temp(&format!("cache-{}", key.hex()), bytes, false)?;
        let target = dir.join(key.hex());
        fs::rename(&temp, &target).map_err(|e| StoreError::io(&target, e))
    }

    /// Writes `bytes` to a new file under `tmp/` (created exclusively, with
    /// an unguessable name) and returns its path, for a rename into place.
    fn write_temp(&self, name: &str, bytes: &[u8], sync: bool) -> Result<PathBuf, StoreError> {
        let tmp = self.tmp_dir();
        let dir = bale_fileset::safe_fs::Dir::open(&tmp).map_err(|e| StoreError::io(&tmp, e))?;
        let (temp, mut file) = dir.create_temp(name, 0o644).map_err(|e| StoreError::io(&tmp, e))?;
        let temp = tmp.join(temp);
        let mut write = || -> io::Result<()> {
            io::Write::write_all(&mut file, bytes)?;
            if sync {
                file.sync_all()?;
            }
            Ok(())
        };
        if let Err(e) = write() {
            let _ = fs::remove_file(&temp);
            return Err(StoreError::io(&temp, e));
        }
        Ok(temp)
    }

    /// A cache entry that could change what bale builds (a resolution, a
    /// merged layer), sealed with an HMAC under a secret only this store
    /// holds (`cache-secret`, mode 0600), so an entry that was damaged or
    /// edited is told apart from one bale wrote. See [`CacheRead`].
    pub fn read_sealed_cache(&self, namespace: &str, key: &Digest) -> CacheRead {
        let path = self.root.join("cache").join(namespace).join(key.hex());
        let bytes = match bale_fileset::safe_fs::read_regular(&path, MAX_CACHE_ENTRY) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return CacheRead::Miss,
            Err(_) => return CacheRead::Damaged(path),
        };
        let Ok(secret) = self.cache_secret() else { return CacheRead::Miss };
        let body = bytes
            .strip_prefix(SEAL_PREFIX)
            .and_then(|rest| rest.get(64..).map(|body| (&rest[..64], body)))
            .and_then(|(tag, body)| Some((hex::decode(tag).ok()?, body.strip_prefix(b"\n")?)));
        match body {
            Some((tag, body)) if ring::hmac::verify(&secret, &seal_input(namespace, key, body), &tag).is_ok() => {
                CacheRead::Hit(body.to_vec())
            }
            _ => CacheRead::Damaged(path),
        }
    }

    /// Writes a sealed cache entry (see [`Store::read_sealed_cache`]).
    pub fn write_sealed_cache(&self, namespace: &str, key: &Digest, bytes: &[u8]) -> Result<(), StoreError> {
        let secret = self.cache_secret()?;
        let tag = ring::hmac::sign(&secret, &seal_input(namespace, key, bytes));
        let mut sealed = SEAL_PREFIX.to_vec();
        sealed.extend_from_slice(hex::encode(tag.as_ref()).as_bytes());
        sealed.push(b'\n');
        sealed.extend_from_slice(bytes);
        self.write_cache(namespace, key, &sealed)
    }

    /// Drops a cache entry (one found damaged, so it is rebuilt).
    pub fn discard_cache(&self, namespace: &str, key: &Digest) {
        let _ = fs::remove_file(self.root.join("cache").join(namespace).join(key.hex()));
    }

    /// The store's cache secret, made on first use: 32 random bytes,
    /// published with a hard link so two processes agree on one.
    fn cache_secret(&self) -> Result<ring::hmac::Key, StoreError> {
        let path = self.root.join("cache-secret");
        let read = || bale_fileset::safe_fs::read_regular(&path, 64);
        let bytes = match read() {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let mut secret = [0u8; 32];
                ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut secret)
                    .map_err(|_| StoreError::io(&path, io::Error::other("no randomness for the cache secret")))?;
                let tmp = self.tmp_dir();
                let dir = bale_fileset::safe_fs::Dir::open(&tmp).map_err(|e| StoreError::io(&tmp, e))?;
                let (name, mut file) = dir.create_temp("cache-secret", 0o600).map_err(|e| StoreError::io(&tmp, e))?;
                let temp = tmp.join(name);
                let written = io::Write::write_all(&mut file, &secret).and_then(|()| file.sync_all());
                let linked = written.and_then(|()| match fs::hard_link(&temp, &path) {
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
                    other => other,
                });
                let _ = fs::remove_file(&temp);
                linked.map_err(|e| StoreError::io(&path, e))?;
                read().map_err(|e| StoreError::io(&path, e))?
            }
            Err(e) => return Err(StoreError::io(&path, e)),
        };
        if bytes.len() != 32 {
            return Err(StoreError::io(&path, io::Error::other("the cache secret is damaged; delete it")));
        }
        Ok(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &bytes))
    }

    /// Removes a blob kept only as a download cache (a .deb, an index),
    /// which no manifest references. Best effort: `gc` removes it anyway.
    pub fn discard_cached_blob(&self, digest: &Digest) {
        let _ = fs::remove_file(self.blob_path(digest));
    }

    /// Re-hashes one blob; a mismatch is [`StoreError::CorruptBlob`].
    pub fn check_blob(&self, digest: &Digest) -> Result<(), StoreError> {
        let path = self.blob_path(digest);
        let file = fs::File::open(&path).map_err(|e| self.blob_error(digest, e))?;
        let (actual, _) = bale_fileset::sha256_reader(file).map_err(|e| StoreError::io(&path, e))?;
        if actual != *digest {
            return Err(StoreError::CorruptBlob { digest: *digest, actual });
        }
        Ok(())
    }

    pub fn read_json<T: DeserializeOwned>(&self, digest: &Digest, what: &str) -> Result<T, StoreError> {
        let bytes = self.read_blob(digest)?;
        serde_json::from_slice(&bytes).map_err(|source| StoreError::BadJson {
            what: what.to_string(),
            path: self.blob_path(digest),
            source,
        })
    }

    /// Streams a blob without checking it: only for a blob this process
    /// has just written or verified under the store lock.
    pub fn open_blob_just_verified(&self, digest: &Digest) -> Result<impl Read + use<>, StoreError> {
        let path = self.blob_path(digest);
        let file = fs::File::open(&path).map_err(|e| self.blob_error(digest, e))?;
        Ok(BufReader::with_capacity(256 * 1024, file))
    }

    /// Streams a blob, failing at the end if its bytes do not match `digest`.
    pub fn open_blob(&self, digest: &Digest) -> Result<impl Read + use<>, StoreError> {
        let path = self.blob_path(digest);
        let file = fs::File::open(&path).map_err(|e| self.blob_error(digest, e))?;
        Ok(VerifyingReader::new(BufReader::with_capacity(256 * 1024, file), *digest))
    }

    /// Streams the uncompressed canonical tar of a layer.
    pub fn open_layer(&self, layer: &Descriptor) -> Result<Box<dyn Read>, StoreError> {
        let blob = self.open_blob(&layer.digest)?;
        Ok(match layer.media_type.as_str() {
            LAYER_MEDIA_TYPE_ZSTD => Box::new(
                zstd::stream::read::Decoder::new(blob).map_err(|e| StoreError::io(self.blob_path(&layer.digest), e))?,
            ),
            LAYER_MEDIA_TYPE_GZIP => Box::new(flate2::read::MultiGzDecoder::new(blob)),
            _ => Box::new(blob),
        })
    }

    /// The index, refused when its ids are not of this bale's format: an
    /// id without an architecture must never be taken for one with.
    pub fn read_index(&self) -> Result<Index, StoreError> {
        let index = self.read_index_unchecked()?;
        match index.annotations.get(STORE_FORMAT_ANNOTATION) {
            Some(format) if format.parse::<u32>().is_ok_and(|f| f <= STORE_FORMAT) => {}
            Some(format) => {
                return Err(StoreError::NewerStore {
                    root: self.root.clone(),
                    found: format.clone(),
                    supported: STORE_FORMAT,
                });
            }
            // Format 1 had no marker; an index with no packages in it is
            // the same in both.
            None if index.manifests.iter().any(|d| d.annotations.contains_key(REF_NAME_ANNOTATION)) => {
                return Err(StoreError::NeedsMigration { root: self.root.clone() });
            }
            None => {}
        }
        Ok(index)
    }

    fn read_index_unchecked(&self) -> Result<Index, StoreError> {
        let path = self.index_path();
        let bytes = fs::read(&path).map_err(|e| StoreError::io(&path, e))?;
        serde_json::from_slice(&bytes).map_err(|source| StoreError::BadJson {
            what: "the store index".into(),
            path,
            source,
        })
    }

    /// Rewrites a format-1 index (ids without an architecture) as format 2:
    /// each package's architecture comes from its own metadata, `all` when
    /// it names none (bale-native packages of format 1 claimed none). Only
    /// the index changes. Returns the ids rewritten, old → new.
    pub fn migrate(&self) -> Result<Vec<(String, String)>, StoreError> {
        let _session = self.lock_shared()?;
        let _guard = self.index_lock()?;
        let mut index = self.read_index_unchecked()?;
        if let Some(format) = index.annotations.get(STORE_FORMAT_ANNOTATION)
            && format.parse::<u32>().is_ok_and(|f| f == STORE_FORMAT)
        {
            return Ok(Vec::new());
        }
        let mut changed = Vec::new();
        for entry in &mut index.manifests {
            let Some(old) = entry.annotations.get(REF_NAME_ANNOTATION).cloned() else { continue };
            let record = PackageRecord { id: old.clone(), manifest: entry.clone(), content_digest: None };
            let (_, metadata) = self.load_package(&record)?;
            let new = metadata.id();
            // The metadata must agree with the old id on everything else,
            // or the index was not bale's.
            if new.replacen(&format!(":{}", metadata.architecture_or_all()), "", 1) != old {
                return Err(StoreError::MigrationMismatch { old, new });
            }
            entry.annotations.insert(REF_NAME_ANNOTATION.to_string(), new.clone());
            changed.push((old, new));
        }
        index.annotations.insert(STORE_FORMAT_ANNOTATION.to_string(), STORE_FORMAT.to_string());
        self.write_atomically(&self.index_path(), &oci::to_json(&index))?;
        Ok(changed)
    }

    /// Read-modify-write of `index.json` under the index lock, replaced
    /// atomically so readers without the lock always see a whole index.
    fn update_index<R>(&self, change: impl FnOnce(&mut Index) -> Result<R, StoreError>) -> Result<R, StoreError> {
        let _guard = self.index_lock()?;
        let mut index = self.read_index()?;
        index.annotations.insert(STORE_FORMAT_ANNOTATION.to_string(), STORE_FORMAT.to_string());
        let result = change(&mut index)?;
        index.manifests.sort_by(|a, b| {
            (a.annotations.get(REF_NAME_ANNOTATION), a.digest).cmp(&(b.annotations.get(REF_NAME_ANNOTATION), b.digest))
        });
        self.write_atomically(&self.index_path(), &oci::to_json(&index))?;
        Ok(result)
    }

    fn write_atomically(&self, path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
        let temp = self.write_temp(path.file_name().and_then(|n| n.to_str()).unwrap_or("file"), bytes, true)?;
        fs::rename(&temp, path).map_err(|e| StoreError::io(path, e))?;
        sync_dir(&self.root)
    }

    pub fn packages(&self) -> Result<Vec<PackageRecord>, StoreError> {
        Ok(self.read_index()?.manifests.into_iter().filter_map(record_of).collect())
    }

    /// Every package by exact id, from one read of the index: for callers
    /// that look up many ids (composition, imports), where [`Store::resolve`]
    /// would read and parse the index once per id.
    pub fn packages_by_id(&self) -> Result<HashMap<String, PackageRecord>, StoreError> {
        Ok(self.packages()?.into_iter().map(|r| (r.id.clone(), r)).collect())
    }

    /// Records a pulled image in the index under its reference (replacing
    /// what that reference named before), so that `gc` keeps its blobs.
    /// Images are not packages: [`Store::packages`] leaves them out.
    /// Its `referrers` (SBOMs) are recorded beside it under the same
    /// reference, marked as referrers, so gc keeps them and a layout
    /// written from the store carries them.
    pub fn add_image(&self, reference: &str, manifest: Descriptor, referrers: &[Descriptor]) -> Result<(), StoreError> {
        self.update_index(|index| {
            index
                .manifests
                .retain(|d| d.annotations.get(IMAGE_REFERENCE_ANNOTATION).map(String::as_str) != Some(reference));
            let mut entry = manifest;
            entry.annotations.insert(IMAGE_REFERENCE_ANNOTATION.to_string(), reference.to_string());
            index.manifests.push(entry);
            for referrer in referrers {
                let mut entry = referrer.clone();
                entry.annotations.insert(IMAGE_REFERENCE_ANNOTATION.to_string(), reference.to_string());
                entry.annotations.insert(REFERRER_ANNOTATION.to_string(), "true".to_string());
                index.manifests.push(entry);
            }
            Ok(())
        })
    }

    /// The image recorded under a pulled `reference` and its referrers.
    pub fn pulled_image(&self, reference: &str) -> Result<Option<(Descriptor, Vec<Descriptor>)>, StoreError> {
        let index = self.read_index()?;
        let mut top = None;
        let mut referrers = Vec::new();
        for entry in index.manifests {
            if entry.annotations.get(IMAGE_REFERENCE_ANNOTATION).map(String::as_str) != Some(reference) {
                continue;
            }
            if entry.annotations.contains_key(REFERRER_ANNOTATION) {
                referrers.push(entry);
            } else {
                top = Some(entry);
            }
        }
        Ok(top.map(|t| (t, referrers)))
    }

    /// Records a package in the index. Returns `false` if exactly this
    /// package was already there. A different content under the same id is
    /// refused unless `replace`.
    pub fn add_package(
        &self,
        id: &str,
        manifest: Descriptor,
        content_digest: Digest,
        replace: bool,
    ) -> Result<bool, StoreError> {
        self.update_index(|index| {
            let existing = index
                .manifests
                .iter()
                .position(|d| d.annotations.get(REF_NAME_ANNOTATION).map(String::as_str) == Some(id));
            if let Some(pos) = existing {
                let old = &index.manifests[pos];
                if old.digest == manifest.digest {
                    return Ok(false);
                }
                let old_content = old.annotations.get(CONTENT_DIGEST_ANNOTATION).and_then(|d| d.parse().ok());
                if !replace && old_content != Some(content_digest) {
                    return Err(StoreError::PackageExists {
                        id: id.to_string(),
                        existing: old_content.unwrap_or(old.digest),
                        new: content_digest,
                    });
                }
                index.manifests.remove(pos);
            }
            let mut entry = manifest;
            entry.annotations.insert(REF_NAME_ANNOTATION.to_string(), id.to_string());
            entry.annotations.insert(CONTENT_DIGEST_ANNOTATION.to_string(), content_digest.to_string());
            index.manifests.push(entry);
            Ok(true)
        })
    }

    /// Drops a package from the index; its blobs go at the next `gc`.
    pub fn remove_package(&self, id: &str) -> Result<(), StoreError> {
        let _session = self.lock_shared()?;
        self.update_index(|index| {
            let before = index.manifests.len();
            index.manifests.retain(|d| d.annotations.get(REF_NAME_ANNOTATION).map(String::as_str) != Some(id));
            if index.manifests.len() == before {
                return Err(StoreError::NotFound { reference: id.to_string() });
            }
            // Its signatures go with it.
            index.manifests.retain(|d| d.annotations.get(PACKAGE_REFERRER_ANNOTATION).map(String::as_str) != Some(id));
            Ok(())
        })
    }

    /// Records `referrer` (a signature's artifact manifest, in the store)
    /// as referring to the package `record`, so gc keeps it and
    /// [`Store::package_referrers`] finds it.
    pub fn add_package_referrer(&self, record: &PackageRecord, referrer: Descriptor) -> Result<(), StoreError> {
        self.update_index(|index| {
            let mut entry = referrer;
            entry.annotations.insert(PACKAGE_REFERRER_ANNOTATION.to_string(), record.id.clone());
            entry.annotations.insert(SUBJECT_ANNOTATION.to_string(), record.manifest.digest.to_string());
            if !index.manifests.iter().any(|d| d.digest == entry.digest && d.annotations == entry.annotations) {
                index.manifests.push(entry);
            }
            Ok(())
        })
    }

    /// The referrers recorded for the package `record` as it is now (one
    /// made for content the id named before does not count).
    pub fn package_referrers(&self, record: &PackageRecord) -> Result<Vec<Descriptor>, StoreError> {
        let subject = record.manifest.digest.to_string();
        Ok(self
            .read_index()?
            .manifests
            .into_iter()
            .filter(|d| {
                d.annotations.get(PACKAGE_REFERRER_ANNOTATION) == Some(&record.id)
                    && d.annotations.get(SUBJECT_ANNOTATION) == Some(&subject)
            })
            .collect())
    }

    /// Finds one package by id (`name:arch@version`), by any part of it
    /// that leaves one package (`libc6`, `libc6:arm64`, `hello@1.0`,
    /// `debian:bookworm/libc6`), or by content or manifest digest (or a
    /// prefix of at least 6 hex digits).
    pub fn resolve(&self, reference: &str) -> Result<PackageRecord, StoreError> {
        let records = self.packages()?;
        let hex_prefix = reference.strip_prefix("sha256:").unwrap_or(reference);
        let looks_like_digest = hex_prefix.len() >= 6 && hex_prefix.bytes().all(|b| b.is_ascii_hexdigit());
        let wanted = IdParts::parse(reference);
        let ids: Vec<Option<PackageId>> = records.iter().map(|r| r.id.parse().ok()).collect();
        let find = |matches: &dyn Fn(&PackageId) -> bool| -> Vec<&PackageRecord> {
            records.iter().zip(&ids).filter(|(_, id)| id.as_ref().is_some_and(matches)).map(|(r, _)| r).collect()
        };
        let mut found = find(&|id| wanted.matches(id));
        // `other` also finds `a.example/other`, when that leaves one.
        if found.is_empty() && !reference.contains('/') {
            found = find(&|id| {
                let last = id.name.rsplit('/').next().unwrap_or(&id.name);
                last == wanted.name && wanted.matches(&PackageId { name: last.to_string(), ..id.clone() })
            });
        }
        let matches: Vec<&PackageRecord> = if !found.is_empty() || !looks_like_digest {
            found
        } else {
            let prefix = hex_prefix.to_ascii_lowercase();
            records
                .iter()
                .filter(|r| {
                    r.manifest.digest.hex().starts_with(&prefix)
                        || r.content_digest.is_some_and(|d| d.hex().starts_with(&prefix))
                })
                .collect()
        };
        match matches.as_slice() {
            [] => Err(StoreError::NotFound { reference: reference.to_string() }),
            [one] => Ok((*one).clone()),
            many => Err(StoreError::Ambiguous {
                reference: reference.to_string(),
                candidates: many.iter().map(|r| r.id.clone()).collect(),
            }),
        }
    }

    /// The manifest and metadata of a recorded package.
    pub fn load_package(&self, record: &PackageRecord) -> Result<(Manifest, PackageMetadata), StoreError> {
        let recalled = self.loaded.lock().ok().and_then(|loaded| loaded.get(&record.manifest.digest).cloned());
        if let Some(package) = recalled {
            return Ok(package);
        }
        let manifest: Manifest = self.read_json(&record.manifest.digest, &format!("the manifest of {}", record.id))?;
        let metadata = self.read_metadata(&manifest.config.digest, &format!("the metadata of {}", record.id))?;
        let package = (manifest, metadata);
        if let Ok(mut loaded) = self.loaded.lock() {
            loaded.insert(record.manifest.digest, package.clone());
        }
        Ok(package)
    }

    /// A package metadata blob, read as [`PackageMetadata::from_json`] does.
    pub fn read_metadata(&self, digest: &Digest, what: &str) -> Result<PackageMetadata, StoreError> {
        let bytes = self.read_blob(digest)?;
        PackageMetadata::from_json(&bytes).map_err(|source| StoreError::BadJson {
            what: what.to_string(),
            path: self.blob_path(digest),
            source,
        })
    }
}

/// Index annotation marking an entry of a pulled image as one of its
/// referrers (an SBOM), not the image.
pub const REFERRER_ANNOTATION: &str = "vnd.bale.image.referrer";
/// On a store index entry: the id of the package the entry refers to.
pub const PACKAGE_REFERRER_ANNOTATION: &str = "vnd.bale.package.referrer";
/// On a store index entry of a package's referrer: the package manifest
/// it was made for.
pub const SUBJECT_ANNOTATION: &str = "vnd.bale.package.subject";

/// Index annotation naming a pulled image by the reference it came from.
pub const IMAGE_REFERENCE_ANNOTATION: &str = "vnd.bale.image.reference";

fn record_of(descriptor: Descriptor) -> Option<PackageRecord> {
    let id = descriptor.annotations.get(REF_NAME_ANNOTATION)?.clone();
    let content_digest = descriptor.annotations.get(CONTENT_DIGEST_ANNOTATION).and_then(|d| d.parse().ok());
    Some(PackageRecord { id, manifest: descriptor, content_digest })
}

mod verifying {
    use std::io::{self, Read};

    use bale_fileset::{Digest, HashingWriter};

    /// Hashes what passes through and fails at end of stream on a mismatch,
    /// so a corrupt blob can never be consumed silently.
    pub struct VerifyingReader<R> {
        inner: R,
        hasher: Option<HashingWriter<io::Sink>>,
        expected: Digest,
    }

    impl<R> VerifyingReader<R> {
        pub fn new(inner: R, expected: Digest) -> Self {
            Self { inner, hasher: Some(HashingWriter::new(io::sink())), expected }
        }
    }

    impl<R: Read> Read for VerifyingReader<R> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.inner.read(buf)?;
            if n > 0 {
                if let Some(h) = &mut self.hasher {
                    io::Write::write_all(h, &buf[..n])?;
                }
            } else if !buf.is_empty()
                && let Some(h) = self.hasher.take()
            {
                let (_, actual, _) = h.into_parts();
                if actual != self.expected {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("blob {} is corrupt: its content hashes to {actual}", self.expected),
                    ));
                }
            }
            Ok(n)
        }
    }
}
