//! bale's Debian version ordering agrees with `dpkg --compare-versions` on
//! thousands of pairs: generated versions built to hit every rule, plus the
//! real versions of the packages installed on this machine.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use bale_debian::Version;

fn dpkg_says_less(a: &str, b: &str) -> bool {
    Command::new("dpkg").args(["--compare-versions", a, "lt", b]).status().unwrap().success()
}

fn dpkg_says_equal(a: &str, b: &str) -> bool {
    Command::new("dpkg").args(["--compare-versions", a, "eq", b]).status().unwrap().success()
}

fn generated(count: usize) -> Vec<String> {
    let mut state = 0x1234_5678_9abc_def0_u64;
    let mut next = |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let pieces =
        ["0", "1", "2", "9", "10", "01", "a", "b", "z", "~", "~~", "+", ".", "rc", "beta", "dfsg", "+b1", "~bpo"];
    let mut out = Vec::new();
    while out.len() < count {
        let mut v = String::new();
        if next(5) == 0 {
            v.push_str(&format!("{}:", next(3)));
        }
        v.push_str(&next(20).to_string());
        for _ in 0..next(5) {
            v.push_str(pieces[next(pieces.len() as u64) as usize]);
        }
        if next(2) == 0 {
            v.push('-');
            v.push_str(&next(12).to_string());
            for _ in 0..next(3) {
                let p = pieces[next(pieces.len() as u64) as usize];
                v.push_str(p);
            }
        }
        if v.parse::<Version>().is_ok() {
            out.push(v);
        }
    }
    out
}

fn installed() -> Vec<String> {
    let status = std::fs::read_to_string("/var/lib/dpkg/status").unwrap_or_default();
    status.lines().filter_map(|l| l.strip_prefix("Version: ")).map(str::to_string).collect()
}

#[test]
fn ordering_matches_dpkg() {
    if bale_testkit::require_tool("dpkg").is_none() {
        return;
    }
    let mut versions = generated(1500);
    versions.extend(installed());
    versions.sort();
    versions.dedup();
    let mut parsed: Vec<(Version, String)> = versions.iter().map(|v| (v.parse().unwrap(), v.clone())).collect();
    parsed.sort_by(|a, b| a.0.cmp(&b.0));
    // Sorted by bale, each neighbour must compare the same way in dpkg;
    // that checks a total order with n-1 calls.
    let mut checked = 0;
    for pair in parsed.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        if a.0 == b.0 {
            assert!(dpkg_says_equal(&a.1, &b.1), "bale says {} == {}, dpkg does not", a.1, b.1);
        } else {
            assert!(dpkg_says_less(&a.1, &b.1), "bale says {} < {}, dpkg does not", a.1, b.1);
        }
        checked += 1;
    }
    // And some far-apart pairs in both directions.
    for i in (0..parsed.len()).step_by(7) {
        let j = (i * 31 + 17) % parsed.len();
        let (a, b) = (&parsed[i], &parsed[j]);
        assert_eq!(a.0 < b.0, dpkg_says_less(&a.1, &b.1), "{} vs {}", a.1, b.1);
        checked += 1;
    }
    assert!(checked > 1500, "only {checked} pairs checked");
}
