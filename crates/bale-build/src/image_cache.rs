//! A build that changes nothing composes nothing. The composed image and
//! its SBOMs are remembered under a key of everything they are made from:
//! the exact packages (by manifest digest), what the spec writes itself,
//! its `[[run]]` commands, the runtime config, the compose options, the image's name and tag, and
//! the bale binary that composed them (its version, and the size, mtime
//! and inode of the executable, so a rebuilt bale never recalls what an
//! older one made). Entries are sealed like every cache that could change
//! what bale builds, and one is used only while every blob it names is in
//! the store.

use bale_fileset::Digest;
use bale_image::{ComposeOptions, Image, SbomFormat, Spec, SpecContent};
use bale_progress::Progress;
use bale_store::Store;
use serde::{Deserialize, Serialize};

const NAMESPACE: &str = "image-v1";

/// SBOM documents as stored, by format.
pub(crate) type Documents = Vec<(SbomFormat, Vec<u8>)>;

/// What an image is made from, as one digest; `None` when the running
/// binary cannot be identified (then nothing is cached).
pub(crate) fn key(
    store: &Store,
    ids: &[String],
    content: &SpecContent,
    spec: &Spec,
    options: &ComposeOptions,
) -> Option<Digest> {
    let (config, name, tag) = (&spec.config, &spec.name, &spec.tag);
    use std::fmt::Write;
    use std::os::unix::fs::MetadataExt;
    let exe = std::env::current_exe().ok().and_then(|path| std::fs::metadata(path).ok())?;
    let records = store.packages_by_id().ok()?;
    let mut text = format!(
        "{NAMESPACE}\nbale {} {} {} {} {}\n{options:?}\n{name}\n{tag}\n{config:?}\n",
        env!("CARGO_PKG_VERSION"),
        exe.len(),
        exe.mtime(),
        exe.mtime_nsec(),
        exe.ino()
    );
    let mut sorted: Vec<&String> = ids.iter().collect();
    sorted.sort();
    sorted.dedup();
    for id in sorted {
        // A reference that is not an exact id is left to compose.
        let record = records.get(id.as_str())?;
        let _ = writeln!(text, "package {id} {}", record.manifest.digest);
    }
    for file in &content.files {
        let _ = writeln!(text, "file {} {:o} {}", file.path, file.mode, bale_fileset::sha256_bytes(&file.content));
    }
    let _ = writeln!(
        text,
        "{:?}\n{}\n{}\nuser {}",
        content.dirs,
        content.accounts.passwd(),
        content.accounts.group(),
        content.user
    );
    // The last-step commands are inputs as the packages are: the same
    // commands over the same image write the same layer.
    for step in &spec.runs {
        let _ = writeln!(text, "run {:?}", step.argv());
    }
    Some(bale_fileset::sha256_bytes(text.as_bytes()))
}

#[derive(Serialize, Deserialize)]
struct Entry {
    image: Image,
    /// The SBOM documents, by format name and blob digest.
    documents: Vec<(String, Digest)>,
}

fn format_name(format: SbomFormat) -> &'static str {
    match format {
        SbomFormat::Spdx => "spdx",
        SbomFormat::CycloneDx => "cyclonedx",
    }
}

/// The image composed earlier under `key`, with its SBOM documents, if
/// every blob of it is still in the store.
pub(crate) fn recall(store: &Store, key: &Digest, progress: &dyn Progress) -> Option<(Image, Documents)> {
    let bytes = match store.read_sealed_cache(NAMESPACE, key) {
        bale_store::CacheRead::Hit(bytes) => bytes,
        bale_store::CacheRead::Damaged(path) => {
            progress.warn(&format!("{} failed its integrity check; composing again", path.display()));
            store.discard_cache(NAMESPACE, key);
            return None;
        }
        bale_store::CacheRead::Miss => return None,
    };
    let entry: Entry = serde_json::from_slice(&bytes).ok()?;
    let image = &entry.image;
    let blobs = [image.manifest.digest, image.config.digest]
        .into_iter()
        .chain(image.layers.iter().map(|l| l.descriptor.digest))
        .chain(image.referrers.iter().map(|r| r.digest))
        .chain(image.referrer_blobs.iter().copied());
    for digest in blobs {
        if !store.has_blob(&digest) {
            return None;
        }
    }
    let mut documents = Vec::new();
    for (name, digest) in &entry.documents {
        let format = [SbomFormat::Spdx, SbomFormat::CycloneDx].into_iter().find(|f| format_name(*f) == name)?;
        documents.push((format, store.read_blob(digest).ok()?));
    }
    Some((entry.image, documents))
}

/// Remembers `image` and its SBOM documents under `key`; best effort.
pub(crate) fn remember(store: &Store, key: &Digest, image: &Image, documents: &[(SbomFormat, Vec<u8>)]) {
    let entry = Entry {
        image: image.clone(),
        documents: documents
            .iter()
            .map(|(format, bytes)| (format_name(*format).to_string(), bale_fileset::sha256_bytes(bytes)))
            .collect(),
    };
    if let Ok(bytes) = serde_json::to_vec(&entry) {
        let _ = store.write_sealed_cache(NAMESPACE, key, &bytes);
    }
}
