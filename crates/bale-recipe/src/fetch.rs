//! A recipe's file sources into the store, by the sha256 the recipe gives:
//! read from beside the recipe, or fetched, and kept only when the digest
//! matches. The store's copy is what the build sees.

use std::path::Path;

use bale_fileset::Digest;
use bale_fileset::safe_fs::Dir;
use bale_progress::Progress;
use bale_store::{Store, StoreError};

use crate::RecipeError;
use crate::recipe::FileOrigin;

/// Puts the source into the store unless it is there already. A file
/// beside the recipe is always read again (an edit there must not go
/// unnoticed); a fetched one is fetched only when the store lacks it.
/// Returns the file's size.
pub(crate) fn file_source(
    store: &Store,
    recipe_dir: &Path,
    origin: &FileOrigin,
    sha256: &Digest,
    progress: &dyn Progress,
) -> Result<u64, RecipeError> {
    let name = origin.to_string();
    let mismatch = |e: StoreError| match e {
        StoreError::DigestMismatch { expected, actual } => {
            RecipeError::SourceDigest { source_name: name.clone(), expected, actual }
        }
        other => RecipeError::Store(other),
    };
    match origin {
        FileOrigin::Path(rel) => Ok(beside_recipe(store, recipe_dir, rel, Some(*sha256))
            .map_err(|e| match e {
                RecipeError::Store(e) => mismatch(e),
                other => other,
            })?
            .1),
        FileOrigin::Url(url) => {
            if store.has_blob(sha256) {
                let path = store.blob_path(sha256);
                return Ok(std::fs::metadata(&path).map_err(|e| RecipeError::io(path, e))?.len());
            }
            progress.phase(&format!("fetching {url}"), None);
            let limits = bale_http::NetLimits::from_env();
            let agent = bale_http::agent(&limits);
            let response = agent
                .get(url)
                .call()
                .map_err(|e| RecipeError::Fetch { url: url.clone(), message: bale_http::describe(&e, &limits) })?;
            let body = response.into_body().into_reader();
            let mut writer = store.blob_writer()?;
            bale_http::copy_declared(body, limits.max_blob, &mut writer, &limits)
                .map_err(|source| RecipeError::Download { url: url.clone(), source })?;
            progress.finish_phase();
            Ok(writer.commit(Some(*sha256)).map_err(mismatch)?.1)
        }
    }
}

/// Copies the file `rel` below the recipe's directory into the store,
/// following no link on the way, and checks it against `expected`.
pub(crate) fn beside_recipe(
    store: &Store,
    recipe_dir: &Path,
    rel: &Path,
    expected: Option<Digest>,
) -> Result<(Digest, u64), RecipeError> {
    let missing =
        |source| RecipeError::SourceMissing { recipe: recipe_dir.to_path_buf(), file: rel.to_path_buf(), source };
    let dir = Dir::open(recipe_dir).map_err(missing)?;
    let text = rel.to_str().unwrap_or_default();
    let (mut file, _) = dir.open_file(text).map_err(missing)?;
    let mut writer = store.blob_writer()?;
    std::io::copy(&mut file, &mut writer).map_err(missing)?;
    Ok(writer.commit(expected)?)
}

/// Copies the blob `digest` into `dir` as the new file `name`.
pub(crate) fn copy_blob(store: &Store, digest: &Digest, dir: &Dir, name: &str) -> Result<(), RecipeError> {
    let mut blob = store.open_blob(digest)?;
    let mut file = dir.create_file(name, 0o644).map_err(|e| RecipeError::io(dir.display(name), e))?;
    std::io::copy(&mut blob, &mut file).map_err(|e| RecipeError::io(dir.display(name), e))?;
    Ok(())
}
