//! Writing an image out as an OCI image layout directory, blobs hard-linked
//! from the store where the filesystem allows (copied otherwise).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use bale_store::oci::{self, Descriptor, Index};
use bale_store::{REF_NAME_ANNOTATION, Store};

use crate::compose::Image;

#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{} exists and is not an OCI layout bale may replace; choose another --output", path.display())]
    Occupied { path: PathBuf },
}

fn io_err(path: &Path) -> impl Fn(io::Error) -> LayoutError + '_ {
    move |source| LayoutError::Io { path: path.to_path_buf(), source }
}

/// Writes `image` to `dir` as an OCI layout tagged `tag`. The layout is
/// built next to `dir` and renamed into place, so `dir` is never half
/// written; an existing OCI layout there is replaced.
pub fn write_layout(store: &Store, image: &Image, dir: &Path, tag: &str) -> Result<(), LayoutError> {
    if dir.exists() {
        let is_layout = dir.join("oci-layout").is_file();
        let empty = fs::read_dir(dir).map_err(io_err(dir))?.next().is_none();
        if !is_layout && !empty {
            return Err(LayoutError::Occupied { path: dir.to_path_buf() });
        }
    }
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(io_err(parent))?;
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "image".into());
    let staging = parent.join(format!(".{name}.bale-{}", std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    let result = fill(store, image, &staging, tag).and_then(|()| {
        if dir.exists() {
            fs::remove_dir_all(dir).map_err(io_err(dir))?;
        }
        fs::rename(&staging, dir).map_err(io_err(dir))
    });
    if result.is_err() {
        let _ = fs::remove_dir_all(&staging);
    }
    result
}

fn fill(store: &Store, image: &Image, dir: &Path, tag: &str) -> Result<(), LayoutError> {
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs).map_err(io_err(&blobs))?;
    let mut digests = vec![image.manifest.digest, image.config.digest];
    digests.extend(image.layers.iter().map(|l| l.descriptor.digest));
    for digest in digests {
        let from = store.blob_path(&digest);
        let to = blobs.join(digest.hex());
        if to.exists() {
            continue;
        }
        if fs::hard_link(&from, &to).is_err() {
            fs::copy(&from, &to).map_err(io_err(&from))?;
        }
    }
    fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).map_err(io_err(dir))?;
    let mut descriptor: Descriptor = image.manifest.clone();
    descriptor.annotations.insert(REF_NAME_ANNOTATION.into(), tag.into());
    let index = Index { manifests: vec![descriptor], ..Index::default() };
    fs::write(dir.join("index.json"), oci::to_json(&index)).map_err(io_err(dir))?;
    Ok(())
}
