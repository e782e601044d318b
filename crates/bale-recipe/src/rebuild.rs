//! `bale rebuild`: a package built from a recipe, built again from what it
//! carries (its recipe, lock and `path` sources) in a fresh sandbox over a
//! freshly unpacked build root, and compared by content digest. When the
//! two differ, the report says where and, when the bytes show it, why.

use std::path::Path;

use bale_fileset::safe_fs::Dir;
use bale_fileset::{Digest, FileIndex, FileIndexEntry, HashingWriter, write_canonical};
use bale_progress::{NoProgress, Progress};
use bale_store::{Provenance, Store, WorkDir};
use serde::Serialize;

use crate::RecipeError;
use crate::make::{
    Built, MakeRequest, RECIPE_LOCK_MEDIA_TYPE, RECIPE_MEDIA_TYPE, RECIPE_SOURCE_MEDIA_TYPE, TITLE, build,
};

/// Files larger than this are compared by digest only.
const MAX_EXPLAINED_FILE: u64 = 16 << 20;
/// At most this many differing files are explained in detail.
const MAX_EXPLAINED: usize = 50;

#[derive(Debug, Clone)]
pub struct RebuildRequest {
    /// The package: id, name or digest, as `bale inspect` takes it.
    pub reference: String,
    pub helper: std::path::PathBuf,
    pub compression: bale_fileset::Compression,
}

/// What a rebuild found.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RebuildReport {
    pub id: String,
    /// The stored package's content digest, and the rebuild's.
    pub expected: Digest,
    pub actual: Digest,
    pub reproducible: bool,
    pub only_in_stored: Vec<String>,
    pub only_in_rebuild: Vec<String>,
    pub differences: Vec<Difference>,
}

/// One path both have, different.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Difference {
    pub path: String,
    /// `content`, `type`, `mode`, `owner`, `target` or `xattrs`.
    pub aspect: String,
    /// The stored and rebuilt values, for people (`0644` / `0755`).
    pub stored: String,
    pub rebuilt: String,
    /// For content: the first byte at which they differ.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_offset: Option<u64>,
    /// For ELF files: the sections whose bytes differ.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub elf_sections: Vec<String>,
    /// For text: the first differing lines, `-` stored, `+` rebuilt.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub text_diff: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub likely_cause: Option<String>,
}

/// Rebuilds the package `request.reference` and compares.
pub fn rebuild(store: &Store, request: &RebuildRequest, progress: &dyn Progress) -> Result<RebuildReport, RecipeError> {
    let _session = store.lock_shared()?;
    let record = store.resolve(&request.reference)?;
    let (manifest, metadata) = store.load_package(&record)?;
    let Provenance::Recipe(provenance) = &metadata.provenance else {
        return Err(RecipeError::NotFromRecipe { id: record.id });
    };
    // The recipe and lock rebuilt from are the ones the provenance names,
    // by digest and by name.
    let named = &provenance.build_definition.external_parameters;
    let recorded = |descriptor: &bale_store::ResourceDescriptor, layer: &bale_store::Descriptor| {
        descriptor.digest.get("sha256").is_some_and(|hex| *hex == layer.digest.hex())
            && layer.annotations.get(TITLE) == Some(&descriptor.name)
    };
    let work = WorkDir::new(store, "make")?;
    let recipe_dir = work.path.join("recipe");
    std::fs::create_dir(&recipe_dir).map_err(|e| RecipeError::io(&recipe_dir, e))?;
    let mut recipe_path = None;
    let mut lock_found = false;
    for layer in &manifest.layers {
        let kind = layer.media_type.as_str();
        if ![RECIPE_MEDIA_TYPE, RECIPE_LOCK_MEDIA_TYPE, RECIPE_SOURCE_MEDIA_TYPE].contains(&kind) {
            continue;
        }
        let title = layer.annotations.get(TITLE).map(String::as_str).unwrap_or_default();
        let valid = !title.is_empty()
            && !title.starts_with('/')
            && title.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
            && (kind == RECIPE_SOURCE_MEDIA_TYPE || !title.contains('/'));
        if !valid {
            return Err(RecipeError::BadAttachment { id: record.id.clone(), title: title.to_string() });
        }
        // Parents made here, in a directory only this build has.
        let target = recipe_dir.join(title);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| RecipeError::io(parent, e))?;
        }
        let expected = match kind {
            RECIPE_MEDIA_TYPE => Some(&named.recipe),
            RECIPE_LOCK_MEDIA_TYPE => Some(&named.lock),
            _ => None,
        };
        if expected.is_some_and(|descriptor| !recorded(descriptor, layer)) {
            return Err(RecipeError::BadAttachment { id: record.id.clone(), title: title.to_string() });
        }
        let (dir, name) = bale_fileset::safe_fs::open_parent(&target).map_err(|e| RecipeError::io(&target, e))?;
        crate::fetch::copy_blob(store, &layer.digest, &dir, &name)?;
        match kind {
            RECIPE_MEDIA_TYPE => recipe_path = Some(target),
            RECIPE_LOCK_MEDIA_TYPE => lock_found = true,
            _ => {}
        }
    }
    let (Some(recipe), true) = (recipe_path, lock_found) else {
        return Err(RecipeError::NotFromRecipe { id: record.id });
    };
    if crate::lock::recipe_lock_path(&recipe) != recipe_dir.join(&named.lock.name) {
        return Err(RecipeError::BadAttachment { id: record.id.clone(), title: named.lock.name.clone() });
    }
    let make = MakeRequest { recipe, locked: true, helper: request.helper.clone(), compression: request.compression };
    let built = build(store, &make, true, progress)?;
    let mut hashing = HashingWriter::new(std::io::sink());
    // The output of the build that is this package: the main one or a split.
    let Some((plan, _)) = built.outputs.iter().find(|(_, m)| m.name == metadata.name) else {
        return Err(RecipeError::NotFromRecipe { id: record.id });
    };
    let written = write_canonical(plan, &mut hashing, &NoProgress).map_err(RecipeError::Output)?;
    let (_, actual, _) = hashing.into_parts();
    let expected = metadata.content.digest;
    let mut report = RebuildReport {
        id: record.id.clone(),
        expected,
        actual,
        reproducible: actual == expected,
        only_in_stored: Vec::new(),
        only_in_rebuild: Vec::new(),
        differences: Vec::new(),
    };
    if report.reproducible {
        return Ok(report);
    }
    let stored_index: FileIndex = store.read_json(&metadata.file_index.digest, "file index")?;
    let original = work.path.join("stored");
    if let Some(content) = manifest.layers.first() {
        bale_image::unpack_layers(
            store,
            std::slice::from_ref(content),
            &original,
            bale_fileset::UnpackOptions { owners: false },
        )
        .map_err(|source| RecipeError::Unpack { dir: original.clone(), source })?;
    }
    compare(&stored_index, &written.file_index, &original, &built, &mut report);
    Ok(report)
}

fn compare(stored: &FileIndex, rebuilt: &FileIndex, original: &Path, built: &Built, report: &mut RebuildReport) {
    let by_path = |index: &FileIndex| -> std::collections::BTreeMap<String, FileIndexEntry> {
        index.entries.iter().map(|e| (e.path.clone(), e.clone())).collect()
    };
    let (stored, rebuilt) = (by_path(stored), by_path(rebuilt));
    report.only_in_stored = stored.keys().filter(|p| !rebuilt.contains_key(*p)).cloned().collect();
    report.only_in_rebuild = rebuilt.keys().filter(|p| !stored.contains_key(*p)).cloned().collect();
    let original_dir = Dir::open(original).ok();
    let out_dir = Dir::open(&built.out).ok();
    for (path, a) in &stored {
        let Some(b) = rebuilt.get(path) else { continue };
        let plain = |aspect: &str, x: String, y: String| Difference {
            path: path.clone(),
            aspect: aspect.into(),
            stored: x,
            rebuilt: y,
            first_offset: None,
            elf_sections: Vec::new(),
            text_diff: Vec::new(),
            likely_cause: None,
        };
        if a.kind != b.kind {
            report.differences.push(plain("type", a.kind.clone(), b.kind.clone()));
            continue;
        }
        if a.mode != b.mode {
            report.differences.push(plain("mode", a.mode.clone(), b.mode.clone()));
        }
        if (a.uid, a.gid) != (b.uid, b.gid) {
            report.differences.push(plain("owner", format!("{}:{}", a.uid, a.gid), format!("{}:{}", b.uid, b.gid)));
        }
        if a.target != b.target {
            report.differences.push(plain(
                "target",
                a.target.clone().unwrap_or_default(),
                b.target.clone().unwrap_or_default(),
            ));
        }
        if a.xattrs != b.xattrs {
            report.differences.push(plain("xattrs", format!("{:?}", a.xattrs), format!("{:?}", b.xattrs)));
        }
        if a.sha256 != b.sha256 {
            let size = |e: &FileIndexEntry| e.size.map_or_else(String::new, |s| format!("{s} bytes"));
            let mut difference = plain("content", size(a), size(b));
            if report.differences.iter().filter(|d| d.aspect == "content").count() < MAX_EXPLAINED
                && let (Some(x), Some(y)) =
                    (read_bounded(original_dir.as_ref(), path), read_bounded(out_dir.as_ref(), path))
            {
                explain(&x, &y, built.window, &mut difference);
            }
            report.differences.push(difference);
        }
    }
}

fn read_bounded(dir: Option<&Dir>, path: &str) -> Option<Vec<u8>> {
    use std::io::Read;
    let (file, meta) = dir?.open_file(path).ok()?;
    if meta.size > MAX_EXPLAINED_FILE {
        return None;
    }
    let mut bytes = Vec::new();
    file.take(MAX_EXPLAINED_FILE).read_to_end(&mut bytes).ok()?;
    Some(bytes)
}

/// Fills in where and how two versions of one file differ.
fn explain(stored: &[u8], rebuilt: &[u8], window: (i64, i64), difference: &mut Difference) {
    let offset = stored.iter().zip(rebuilt).position(|(a, b)| a != b).unwrap_or(stored.len().min(rebuilt.len()));
    difference.first_offset = Some(offset as u64);
    if let (Some(a), Some(b)) = (bale_elf::sections(stored), bale_elf::sections(rebuilt)) {
        fn slice<'a>(bytes: &'a [u8], s: &bale_elf::Section) -> Option<&'a [u8]> {
            let start = usize::try_from(s.offset).ok()?;
            bytes.get(start..start.checked_add(usize::try_from(s.size).ok()?)?)
        }
        let mut names = Vec::new();
        for section in &b {
            let before = a.iter().find(|s| s.name == section.name);
            if before.and_then(|s| slice(stored, s)) != slice(rebuilt, section) {
                names.push(section.name.clone());
            }
        }
        for section in &a {
            if !b.iter().any(|s| s.name == section.name) {
                names.push(format!("{} (only in the stored file)", section.name));
            }
        }
        difference.elf_sections = names;
    } else if let (Ok(a), Ok(b)) = (std::str::from_utf8(stored), std::str::from_utf8(rebuilt))
        && !a.contains('\0')
        && !b.contains('\0')
    {
        difference.text_diff = text_diff(a, b);
    }
    difference.likely_cause = likely_cause(stored, rebuilt, offset, window);
}

/// The first differing lines, a few of each side.
fn text_diff(stored: &str, rebuilt: &str) -> Vec<String> {
    const LINES: usize = 3;
    let pairs = || stored.lines().zip(rebuilt.lines());
    let first = pairs().position(|(x, y)| x != y).unwrap_or_else(|| pairs().count());
    let cut = |line: &str| line.chars().take(160).collect::<String>();
    let mut out: Vec<String> = stored.lines().skip(first).take(LINES).map(|l| format!("-{}", cut(l))).collect();
    out.extend(rebuilt.lines().skip(first).take(LINES).map(|l| format!("+{}", cut(l))));
    out
}

/// What the rebuilt bytes around the first difference look like, when it
/// is one of the usual causes of unreproducible builds.
fn likely_cause(stored: &[u8], rebuilt: &[u8], offset: usize, window: (i64, i64)) -> Option<String> {
    let (from, to) = (window.0 - 5, window.1 + 5);
    // A decimal number through the first differing byte.
    let number = |bytes: &[u8]| -> Option<String> {
        if !bytes.get(offset)?.is_ascii_digit() {
            return None;
        }
        let start = bytes[..offset].iter().rposition(|b| !b.is_ascii_digit()).map_or(0, |i| i + 1);
        let end = bytes[offset..].iter().position(|b| !b.is_ascii_digit()).map_or(bytes.len(), |i| offset + i);
        Some(String::from_utf8_lossy(&bytes[start..end]).into_owned())
    };
    if let Some(digits) = number(rebuilt) {
        for (len, unit, scale) in [
            (10, "seconds", 1i128),
            (13, "milliseconds", 1_000),
            (16, "microseconds", 1_000_000),
            (19, "nanoseconds", 1_000_000_000),
        ] {
            if digits.len() == len
                && let Ok(value) = digits.parse::<i128>()
                && (i128::from(from)..=i128::from(to)).contains(&(value / scale))
            {
                return Some(format!(
                    "the time of the build: {digits} is {unit} since the epoch, within the rebuild; \
                     use $SOURCE_DATE_EPOCH instead of the clock"
                ));
            }
        }
        let cpus = std::thread::available_parallelism().map_or(0, usize::from);
        if digits == cpus.to_string() && number(stored).is_some_and(|d| d != digits) {
            return Some(format!("the CPU count ({cpus} here): use $JOBS, which is fixed, instead of nproc"));
        }
    }
    // A binary timestamp that covers the first differing byte.
    for width in [4usize, 8] {
        for start in offset.saturating_sub(width - 1)..=offset {
            let Some(raw) = rebuilt.get(start..start + width) else { continue };
            let mut value: i64 = 0;
            for &byte in raw.iter().rev() {
                value = (value << 8) | i64::from(byte);
            }
            if (from..=to).contains(&value) {
                return Some(
                    "the time of the build, stored as a binary integer (an archive's or a header's date); use \
                     $SOURCE_DATE_EPOCH"
                        .into(),
                );
            }
        }
    }
    // A calendar date or a clock time of the build, written out.
    let near = &rebuilt[offset.saturating_sub(24)..(offset + 24).min(rebuilt.len())];
    let text = String::from_utf8_lossy(near);
    for seconds in [window.0, window.1] {
        let (y, m, d, hh, mm, _) = bale_store::utc_time(seconds);
        const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
        let month = MONTHS[usize::try_from(m - 1).unwrap_or(0).min(11)];
        let forms = [
            format!("{y:04}-{m:02}-{d:02}"),
            format!("{month} {d:>2} {y}"),
            format!("{y:04}{m:02}{d:02}"),
            format!("{hh:02}:{mm:02}"),
        ];
        if let Some(form) = forms.iter().find(|f| text.contains(f.as_str())) {
            return Some(format!(
                "the date or time of the build ({form}), as __DATE__, __TIME__ or `date` write it; use \
                 $SOURCE_DATE_EPOCH"
            ));
        }
    }
    let host = rustix::system::uname().nodename().to_string_lossy().into_owned();
    if !host.is_empty() && host.len() > 2 && String::from_utf8_lossy(rebuilt).contains(&host) {
        return Some(format!("the host's name ({host}), which the sandbox hides: is it in a source file?"));
    }
    None
}

/// After a rebuild that gave identical content, a rebuilder's signed
/// attestation of it (SLSA provenance v1: the package's own build
/// definition, this rebuilder, and the content it got), recorded beside
/// the package in the store. Refused for a rebuild that differed.
pub fn attest(
    store: &Store,
    report: &RebuildReport,
    key: &bale_trust::SigningKey,
) -> Result<bale_trust::KeyId, RecipeError> {
    if !report.reproducible {
        return Err(RecipeError::NotReproducible { id: report.id.clone() });
    }
    let record = store.resolve(&report.id)?;
    let (_, metadata) = store.load_package(&record)?;
    let Provenance::Recipe(provenance) = &metadata.provenance else {
        return Err(RecipeError::NotFromRecipe { id: record.id });
    };
    let predicate = serde_json::json!({
        "buildDefinition": provenance.build_definition,
        "runDetails": {
            "builder": {
                "id": "urn:bale:rebuilder",
                "version": { "bale": env!("CARGO_PKG_VERSION"), "kernel": crate::make::kernel_release() },
            },
            "byproducts": [{ "name": "rebuilt content", "digest": { "sha256": report.actual.hex() } }],
        },
    });
    let bundle =
        bale_trust::attest_rebuild(&record.id, &record.manifest.digest.hex(), &report.expected.hex(), predicate, key)
            .map_err(RecipeError::Trust)?;
    bale_image::attach_package_bundle(store, &record, &bundle).map_err(RecipeError::Sign)?;
    Ok(key.public().id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nanosecond_clock_is_named() {
        let now = 1_796_000_000i64;
        let cause = likely_cause(b"1700000000000000000\n", b"1796000001123456789\n", 1, (now, now + 2));
        assert!(cause.is_some_and(|c| c.contains("nanoseconds")));
    }

    #[test]
    fn a_written_date_is_named() {
        let now = 1_796_300_000i64; // 2026-12-03
        let cause = likely_cause(b"built Jan  1 2020", b"built Dec  3 2026", 6, (now, now));
        assert!(
            cause.is_some_and(|c| c.contains("Dec  3 2026")),
            "{:?}",
            likely_cause(b"built Jan  1 2020", b"built Dec  3 2026", 6, (now, now))
        );
    }

    #[test]
    fn other_changes_have_no_cause_named() {
        assert_eq!(likely_cause(b"abc", b"abd", 2, (10, 20)), None);
    }

    #[test]
    fn text_differences_show_the_first_differing_lines() {
        assert_eq!(text_diff("a\nb\nc\n", "a\nB\nc\n"), ["-b", "-c", "+B", "+c"]);
    }
}
