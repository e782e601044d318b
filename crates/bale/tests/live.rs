//! Against the real Debian archive, mirror and keyring taken from this
//! host's apt configuration. Runs when BALE_LIVE=1 (scripts/test sets it);
//! everything else in the suite works offline.
#![allow(clippy::unwrap_used)]

mod common;

use common::Env;

fn live() -> bool {
    let on = std::env::var_os("BALE_LIVE").is_some_and(|v| v == "1");
    if !on {
        eprintln!("skipping: set BALE_LIVE=1 to import from the real archive");
    }
    on
}

#[test]
fn imports_busybox_and_python_from_bookworm_reproducibly() {
    if !live() {
        return;
    }
    let import = |env: &Env| {
        env.json(&["import", "debian", "busybox-static", "python3-minimal", "--suite", "bookworm", "--arch", "amd64"])
    };
    let (one, two) = (Env::new(), Env::new());
    let first = import(&one);
    let second = import(&two);
    let names: Vec<&str> = first["packages"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    for wanted in ["busybox-static", "python3-minimal", "python3.11-minimal", "libc6"] {
        assert!(names.contains(&wanted), "{wanted} missing from {names:?}");
    }
    assert_eq!(first["packages"], second["packages"], "two cold imports differ");
    assert_eq!(first["base"], second["base"]);
    one.ok(&["store", "verify", "--deep"]);

    // The converted python runs: its interpreter is where merged /usr puts it.
    let inspect = one.json(&["inspect", "debian:bookworm/python3.11-minimal", "--files"]);
    let files: Vec<&str> = inspect["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert!(files.contains(&"usr/bin/python3.11"), "{files:?}");
    assert!(!files.iter().any(|f| f.starts_with("usr/share/man/")));
    let libc = one.json(&["inspect", "debian:bookworm/libc6", "--files"]);
    let libc_files: Vec<&str> = libc["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert!(libc_files.iter().any(|f| f.starts_with("usr/lib/x86_64-linux-gnu/libc.so")), "{libc_files:?}");
    assert!(!libc_files.iter().any(|f| f.starts_with("lib/") || f.starts_with("lib64/")));
    assert!(libc_files.contains(&"usr/lib64/ld-linux-x86-64.so.2"), "{libc_files:?}");
}
