//! The canonical tar reader on arbitrary bytes: it must refuse or accept,
//! never panic and never allocate beyond its caps; and whatever a plan
//! accepts must write canonically and read back with the same entries.
#![no_main]

use bale_fileset::{Limits, Normalize, Plan, read_entries, write_canonical};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits { max_total_size: 1 << 20, max_entry_size: 1 << 20, max_entries: 1000 };
    let spool = tempfile::tempdir().expect("a temporary directory");
    let Ok(plan) = Plan::from_tar(data, Normalize::default(), limits, spool.path()) else { return };
    let mut out = Vec::new();
    write_canonical(&plan, &mut out, &bale_progress_none::None).expect("an accepted plan writes");
    let mut paths = Vec::new();
    read_entries(out.as_slice(), &limits, |entry, _| {
        assert!(entry.path.split('/').all(|c| !c.is_empty() && c != "." && c != ".." && c.len() <= 255));
        paths.push(entry.path);
        Ok(())
    })
    .expect("a canonical tar reads back");
    let planned: Vec<String> = plan.entries().map(|e| e.path.clone()).collect();
    assert_eq!(paths, planned);
});

mod bale_progress_none {
    pub struct None;
    impl bale_progress::Progress for None {
        fn phase(&self, _: &str, _: Option<u64>) {}
        fn advance(&self, _: u64) {}
        fn finish_phase(&self) {}
    }
}
