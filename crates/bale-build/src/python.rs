//! One Python distribution, one source: a distribution that the image
//! holds from Debian (a `python3-*` package's `.dist-info` or `.egg-info`
//! in `/usr/lib/python3/dist-packages`) and from PyPI would be two copies
//! on `sys.path`, the PyPI one silently shadowing Debian's. Refused,
//! naming both.

use std::collections::BTreeMap;

use bale_fileset::FileIndex;
use bale_store::Store;

use crate::BuildError;

/// Where Debian's python3 packages install distributions.
const DEBIAN_SITE: &str = "usr/lib/python3/dist-packages/";

pub(crate) fn check(store: &Store, ids: &[String]) -> Result<(), BuildError> {
    let from_pypi: BTreeMap<String, &String> = ids
        .iter()
        .filter(|id| id.starts_with("pypi:"))
        .filter_map(|id| {
            let parsed: bale_store::PackageId = id.parse().ok()?;
            Some((parsed.name, id))
        })
        .collect();
    if from_pypi.is_empty() {
        return Ok(());
    }
    for id in ids.iter().filter(|id| id.starts_with("debian:")) {
        let record = store.resolve(id)?;
        let (_, metadata) = store.load_package(&record)?;
        let index: FileIndex = store.read_json(&metadata.file_index.digest, &format!("the file index of {id}"))?;
        for entry in &index.entries {
            let Some(rest) = entry.path.strip_prefix(DEBIAN_SITE) else { continue };
            let Some(stem) = rest.strip_suffix(".dist-info").or_else(|| rest.strip_suffix(".egg-info")) else {
                continue;
            };
            if stem.contains('/') {
                continue;
            }
            let name = stem.split_once('-').map_or(stem, |(name, _)| name);
            let name = bale_pypi::metadata::normalize(name);
            if let Some(pypi) = from_pypi.get(&name) {
                return Err(BuildError::PythonTwice { distribution: name, debian: id.clone(), pypi: (*pypi).clone() });
            }
        }
    }
    Ok(())
}

/// The Debian package that ships each library wheels may leave to the
/// system (manylinux's policy: glibc's, libgcc_s, libstdc++, zlib, expat,
/// X11, GL, GLib), and a few more wheels commonly need.
const SYSTEM_LIBRARIES: &[(&str, &str)] = &[
    ("libc.so.6", "libc6"),
    ("libm.so.6", "libc6"),
    ("libpthread.so.0", "libc6"),
    ("libdl.so.2", "libc6"),
    ("librt.so.1", "libc6"),
    ("libutil.so.1", "libc6"),
    ("libresolv.so.2", "libc6"),
    ("libanl.so.1", "libc6"),
    ("ld-linux-x86-64.so.2", "libc6"),
    ("ld-linux-aarch64.so.1", "libc6"),
    ("libcrypt.so.1", "libcrypt1"),
    ("libgcc_s.so.1", "libgcc-s1"),
    ("libstdc++.so.6", "libstdc++6"),
    ("libgomp.so.1", "libgomp1"),
    ("libz.so.1", "zlib1g"),
    ("libexpat.so.1", "libexpat1"),
    ("libffi.so.8", "libffi8"),
    ("libX11.so.6", "libx11-6"),
    ("libXext.so.6", "libxext6"),
    ("libXrender.so.1", "libxrender1"),
    ("libICE.so.6", "libice6"),
    ("libSM.so.6", "libsm6"),
    ("libGL.so.1", "libgl1"),
    ("libglib-2.0.so.0", "libglib2.0-0"),
    ("libgobject-2.0.so.0", "libglib2.0-0"),
    ("libgthread-2.0.so.0", "libglib2.0-0"),
];

/// The file names of the libraries the packages `ids` ship in the
/// library directories.
fn shipped_libraries(store: &Store, ids: &[String]) -> Result<std::collections::BTreeSet<String>, BuildError> {
    let mut found = std::collections::BTreeSet::new();
    for id in ids {
        let record = store.resolve(id)?;
        let (_, metadata) = store.load_package(&record)?;
        let index: FileIndex = store.read_json(&metadata.file_index.digest, &format!("the file index of {id}"))?;
        for entry in &index.entries {
            let in_lib = ["usr/lib/", "lib/", "usr/lib64/", "lib64/"].iter().any(|d| entry.path.starts_with(d));
            if in_lib && entry.kind != "directory" {
                found.insert(entry.path.rsplit('/').next().unwrap_or_default().to_string());
            }
        }
    }
    Ok(found)
}

/// The Debian packages to add so that the image has every library the
/// wheels need (`wheels`: id and needed libraries): the package of each
/// system library, whether or not the image holds it already (so the
/// answer depends on the wheels alone and stays the same once added); any
/// other library the image's packages `image` must ship.
pub(crate) fn debian_packages_for(
    store: &Store,
    image: &[String],
    wheels: &[(String, Vec<String>)],
) -> Result<Vec<String>, BuildError> {
    let mut packages = std::collections::BTreeSet::new();
    let mut shipped = None;
    for (wheel, needs) in wheels {
        for library in needs {
            if let Some((_, package)) = SYSTEM_LIBRARIES.iter().find(|(name, _)| name == library) {
                packages.insert(package.to_string());
                continue;
            }
            if shipped.is_none() {
                shipped = Some(shipped_libraries(store, image)?);
            }
            if !shipped.as_ref().is_some_and(|s| s.contains(library)) {
                return Err(BuildError::WheelLibrary { wheel: wheel.clone(), library: library.clone() });
            }
        }
    }
    Ok(packages.into_iter().collect())
}
