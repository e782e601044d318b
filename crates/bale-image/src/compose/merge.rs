//! The layer cap: the lowest packages of a stack merged into one layer,
//! cached by the packages it holds and checked against its diff_id on use.

use bale_fileset::{Compression, Digest, Limits, Normalize, Plan};
use bale_progress::Progress;
use bale_store::oci::Descriptor;
use bale_store::{Store, store_layer};

use super::{ComposeError, ImageLayer, Member, PACKAGE_ANNOTATION};

/// Store cache namespace: merged layers by the packages they hold.
const MERGED_CACHE: &str = "merged-layers";

/// One layer holding the union of several packages (they were checked to
/// agree wherever they overlap).
pub(super) fn merged_layer(
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
