//! A corpus of hostile tars. Each must be refused with the entry named, must
//! leave the store exactly as it was, and must write nothing outside the
//! unpack destination.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;

use bale_fileset::{Limits, UnpackOptions, unpack};
use common::{Env, RawEntry, gnu_long_name, pax, raw_tar, raw_tar_with_end};

struct Case {
    name: &'static str,
    tar: Vec<u8>,
    /// Text the error must contain: the entry and the reason.
    expect: &'static [&'static str],
    extra_args: &'static [&'static str],
}

fn corpus() -> Vec<Case> {
    let big = "8589934593"; // 8 GiB + 1
    let _ = big;
    vec![
        Case {
            name: "dotdot",
            tar: raw_tar(&[RawEntry::file(b"../evil", b"x")]),
            expect: &["\"../evil\"", "escape"],
            extra_args: &[],
        },
        Case {
            name: "nested dotdot",
            tar: raw_tar(&[RawEntry::dir(b"a/"), RawEntry::file(b"a/../../evil", b"x")]),
            expect: &["\"a/../../evil\"", "escape"],
            extra_args: &[],
        },
        Case {
            name: "absolute",
            tar: raw_tar(&[RawEntry::file(b"/tmp/evil", b"x")]),
            expect: &["\"/tmp/evil\"", "absolute"],
            extra_args: &[],
        },
        Case {
            name: "symlink then write through it",
            tar: raw_tar(&[RawEntry::link(b"escape", b'2', b"/tmp"), RawEntry::file(b"escape/evil", b"x")]),
            expect: &["\"escape/evil\"", "through \"escape\""],
            extra_args: &[],
        },
        Case {
            name: "relative symlink escaping",
            tar: raw_tar(&[RawEntry::dir(b"a/"), RawEntry::link(b"a/up", b'2', b"../../outside")]),
            expect: &["\"a/up\"", "outside the file set"],
            extra_args: &[],
        },
        Case {
            name: "hardlink escape",
            tar: raw_tar(&[RawEntry::link(b"h", b'1', b"../../etc/passwd")]),
            expect: &["\"h\"", "hard link"],
            extra_args: &[],
        },
        Case {
            name: "hardlink to a later or missing entry",
            tar: raw_tar(&[RawEntry::link(b"h", b'1', b"later"), RawEntry::file(b"later", b"x")]),
            expect: &["\"h\"", "not a regular file earlier"],
            extra_args: &[],
        },
        Case {
            name: "hardlink to a symlink",
            tar: raw_tar(&[RawEntry::link(b"s", b'2', b"/etc/shadow"), RawEntry::link(b"h", b'1', b"s")]),
            expect: &["\"h\"", "not a regular file earlier"],
            extra_args: &[],
        },
        Case {
            name: "character device",
            tar: raw_tar(&[RawEntry::special(b"dev/null", b'3')]),
            expect: &["\"dev/null\"", "character device"],
            extra_args: &[],
        },
        Case {
            name: "block device",
            tar: raw_tar(&[RawEntry::special(b"dev/sda", b'4')]),
            expect: &["\"dev/sda\"", "block device"],
            extra_args: &[],
        },
        Case {
            name: "fifo",
            tar: raw_tar(&[RawEntry::special(b"run/fifo", b'6')]),
            expect: &["\"run/fifo\"", "fifo"],
            extra_args: &[],
        },
        Case {
            name: "huge declared size",
            tar: raw_tar_with_end(&[RawEntry::lying(b"huge", 9 << 30, b"")], false),
            expect: &["\"huge\"", "9663676416 bytes", "limit"],
            extra_args: &[],
        },
        Case {
            name: "total over the limit",
            tar: raw_tar(&[RawEntry::file(b"a", &[1; 600]), RawEntry::file(b"b", &[2; 600])]),
            expect: &["\"b\"", "exceed 1000 bytes"],
            extra_args: &["--max-size", "1000"],
        },
        Case {
            name: "too many entries",
            tar: raw_tar(&(0..101).map(|i| RawEntry::file(format!("f{i:03}").as_bytes(), b"")).collect::<Vec<_>>()),
            expect: &["\"f100\"", "exceed 100 entries"],
            extra_args: &["--max-entries", "100"],
        },
        Case {
            name: "non-UTF-8 name",
            tar: raw_tar(&[RawEntry::file(b"bad\xffname", b"x")]),
            expect: &["\"bad\\xffname\"", "UTF-8"],
            extra_args: &[],
        },
        Case {
            name: "whiteout",
            tar: raw_tar(&[RawEntry::file(b"etc/.wh.passwd", b"")]),
            expect: &["\"etc/.wh.passwd\"", "whiteout"],
            extra_args: &[],
        },
        Case {
            name: "duplicate",
            tar: raw_tar(&[RawEntry::file(b"a", b"1"), RawEntry::file(b"a", b"2")]),
            expect: &["\"a\"", "more than once"],
            extra_args: &[],
        },
        Case {
            name: "file used as a directory",
            tar: raw_tar(&[RawEntry::file(b"a", b"1"), RawEntry::file(b"a/b", b"2")]),
            expect: &["\"a/b\"", "through \"a\""],
            extra_args: &[],
        },
        Case {
            name: "truncated data",
            tar: raw_tar_with_end(&[RawEntry::lying(b"short", 5000, &[7; 100])], false),
            expect: &["\"short\"", "ends inside"],
            extra_args: &[],
        },
        Case {
            name: "GNU long name hiding traversal",
            tar: raw_tar(&[
                gnu_long_name(format!("{}/../../../evil", "d".repeat(120)).as_bytes()),
                RawEntry::file(b"innocent", b"x"),
            ]),
            expect: &["/../../../evil\"", "escape"],
            extra_args: &[],
        },
        Case {
            name: "PAX path hiding traversal",
            tar: raw_tar(&[pax("path", b"../pax-evil"), RawEntry::file(b"innocent", b"x")]),
            expect: &["\"../pax-evil\"", "escape"],
            extra_args: &[],
        },
        Case {
            name: "PAX linkpath making a symlink escape",
            tar: raw_tar(&[pax("linkpath", b"../../../../etc"), RawEntry::link(b"l", b'2', b"harmless")]),
            expect: &["\"l\"", "outside the file set"],
            extra_args: &[],
        },
        Case {
            name: "stacked PAX headers (extended data without a bound)",
            tar: raw_tar(&[pax("SCHILY.xattr.a", b"1"), pax("SCHILY.xattr.b", b"2"), RawEntry::file(b"x", b"x")]),
            expect: &["\"././@PaxHeader\"", "a second extended header"],
            extra_args: &[],
        },
        Case {
            name: "a PAX path and a GNU long name for one entry",
            tar: raw_tar(&[pax("path", b"one"), gnu_long_name(b"two"), RawEntry::file(b"x", b"x")]),
            expect: &["\"././@LongLink\"", "both a PAX and a GNU header give the path"],
            extra_args: &[],
        },
        Case {
            name: "GNU sparse file",
            tar: raw_tar(&[RawEntry::special(b"sparse", b'S')]),
            expect: &["\"sparse\"", "sparse"],
            extra_args: &[],
        },
    ]
}

#[test]
fn every_hostile_tar_is_refused_by_pack_and_the_store_is_unchanged() {
    let env = Env::new();
    // Something already in the store, to check it survives untouched.
    let good = env.path().join("good");
    common::sample_tree(&good);
    env.ok(&["pack", good.to_str().unwrap(), "--name", "good", "--version", "1"]);
    let before = env.store_state();
    for case in corpus() {
        let path = env.path().join("evil.tar");
        fs::write(&path, &case.tar).unwrap();
        let mut args = vec!["pack", path.to_str().unwrap(), "--name", "evil", "--version", "1"];
        args.extend_from_slice(case.extra_args);
        let out = env.run(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{}: pack succeeded", case.name);
        for needle in case.expect {
            assert!(stderr.contains(needle), "{}: error does not mention {needle:?}:\n{stderr}", case.name);
        }
        assert_eq!(env.store_state(), before, "{}: the store changed", case.name);
        assert_eq!(fs::read_dir(env.store().join("tmp")).unwrap().count(), 0, "{}: temp files left", case.name);
    }
    assert!(!env.path().join("evil").exists() && !env.path().join("outside").exists());
    env.ok(&["store", "verify"]);
}

#[test]
fn every_hostile_tar_is_refused_by_unpack_and_nothing_lands_outside() {
    let env = Env::new();
    let sandbox = env.path().join("sandbox");
    for case in corpus() {
        fs::create_dir_all(&sandbox).unwrap();
        let dest = sandbox.join("a/b/dest");
        fs::create_dir_all(dest.parent().unwrap()).unwrap();
        let mut limits = Limits::default();
        if case.extra_args.contains(&"--max-size") {
            limits.max_total_size = 1000;
        }
        if case.extra_args.contains(&"--max-entries") {
            limits.max_entries = 100;
        }
        let err = unpack(case.tar.as_slice(), &dest, &limits, UnpackOptions::default()).unwrap_err().to_string();
        for needle in case.expect {
            assert!(err.contains(needle), "{}: error does not mention {needle:?}: {err}", case.name);
        }
        // The destination this call created is gone; nothing else appeared.
        let mut found = Vec::new();
        for item in walk(&sandbox) {
            found.push(item);
        }
        assert_eq!(found, vec!["a".to_string(), "a/b".to_string()], "{}: unexpected files", case.name);
        fs::remove_dir_all(&sandbox).unwrap();
    }
}

fn walk(root: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for item in fs::read_dir(&dir).unwrap() {
            let item = item.unwrap();
            out.push(item.path().strip_prefix(root).unwrap().to_string_lossy().into_owned());
            if item.file_type().unwrap().is_dir() {
                stack.push(item.path());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn unpack_refuses_a_destination_that_is_not_empty() {
    let env = Env::new();
    let dest = env.path().join("dest");
    fs::create_dir_all(&dest).unwrap();
    fs::write(dest.join("keep"), "mine").unwrap();
    let tar = raw_tar(&[RawEntry::file(b"keep", b"theirs")]);
    let err = unpack(tar.as_slice(), &dest, &Limits::default(), UnpackOptions::default()).unwrap_err();
    assert!(err.to_string().contains("not an empty directory"), "{err}");
    assert_eq!(fs::read_to_string(dest.join("keep")).unwrap(), "mine");
}
