//! A .deb (ar archive, control and data tars, any compression) converted
//! into a package: errors, never panics.
#![no_main]

use bale_debian::deb::{DebOptions, convert};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let spool = tempfile::tempdir().expect("a temporary directory");
    let _ = convert(data, "fuzz.deb", spool.path(), DebOptions::default());
});
