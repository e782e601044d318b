//! Pause points for tests that race bale: with `BALE_TEST_PAUSE=NAME@N`
//! and `BALE_TEST_PAUSE_DIR=DIR` set, the N-th time bale reaches the point
//! NAME it creates `DIR/NAME.paused` and waits (up to a minute) until
//! `DIR/NAME.resume` exists. A test can then change the filesystem at
//! exactly that moment, as another user would, instead of hoping a loop
//! wins the race. Without the variables a point costs one relaxed load.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

struct Armed {
    name: String,
    at: u64,
    dir: PathBuf,
    hits: AtomicU64,
}

fn armed() -> Option<&'static Armed> {
    static ARMED: OnceLock<Option<Armed>> = OnceLock::new();
    ARMED
        .get_or_init(|| {
            let spec = std::env::var("BALE_TEST_PAUSE").ok()?;
            let dir = PathBuf::from(std::env::var_os("BALE_TEST_PAUSE_DIR")?);
            let (name, at) = match spec.split_once('@') {
                Some((name, at)) => (name.to_string(), at.parse().ok()?),
                None => (spec, 1),
            };
            Some(Armed { name, at, dir, hits: AtomicU64::new(0) })
        })
        .as_ref()
}

/// Marks the point `name`; pauses there if a test asked for it.
pub fn pause_point(name: &str) {
    let Some(armed) = armed() else { return };
    if armed.name != name || armed.hits.fetch_add(1, Ordering::Relaxed) + 1 != armed.at {
        return;
    }
    let _ = std::fs::write(armed.dir.join(format!("{name}.paused")), b"");
    let resume = armed.dir.join(format!("{name}.resume"));
    let deadline = Instant::now() + Duration::from_secs(60);
    while !resume.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
}
