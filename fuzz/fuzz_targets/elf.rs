//! A shared object's dynamic section read from a stream: errors, never
//! panics, and never holds more than the file.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = bale_elf::read_dynamic(&mut &data[..], data.len() as u64);
});
