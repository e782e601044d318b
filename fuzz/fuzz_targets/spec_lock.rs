//! bale.toml and bale.lock: parsed and checked, errors bounded in size.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Err(e) = bale_image::Spec::parse(text, Path::new("bale.toml")) {
        let message = e.to_string();
        assert!(message.len() <= 8 * 1024, "a {} byte error", message.len());
    }
    if let Err(e) = bale_image::Lock::parse(text, Path::new("bale.lock")) {
        let message = e.to_string();
        assert!(message.len() <= 8 * 1024, "a {} byte error", message.len());
    }
});
