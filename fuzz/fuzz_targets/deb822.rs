//! deb822 text as the archive serves it: control paragraphs, a Release,
//! a Packages index (scanned, then every stanza parsed and queried),
//! relations, versions and copyright files.
#![no_main]

use bale_debian::packages::PackageIndex;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = bale_debian::control::parse(text);
    let _ = bale_debian::release::Release::parse(text);
    let _ = bale_debian::relation::parse_relations(text);
    let _ = text.parse::<bale_debian::Version>();
    let _ = bale_debian::copyright::spdx_from_copyright(text);
    let _ = bale_debian::deb::parse_alternatives(text);
    let mut index = PackageIndex::default();
    if index.add(text.to_string(), "main", "fuzz/Packages").is_ok() {
        for position in 0..index.len() {
            if let Ok(package) = index.package(position) {
                let name = package.name.clone();
                let _ = index.versions(&name);
                let _ = index.providers(&name);
            }
        }
    }
});
