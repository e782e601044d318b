use crate::Version;
use crate::packages::PackageIndex;
use crate::relation::{Atom, parse_relations};

use super::{Request, ResolveError, resolve};

/// One stanza: `fields` are extra control lines; the architecture is amd64
/// unless `fields` says otherwise.
fn stanza(name: &str, version: &str, fields: &str) -> String {
    let mut text = format!("Package: {name}\nVersion: {version}\n");
    if !fields.contains("Architecture:") {
        text.push_str("Architecture: amd64\n");
    }
    for line in fields.lines().map(str::trim).filter(|l| !l.is_empty()) {
        text.push_str(line);
        text.push('\n');
    }
    text.push_str(&format!("Filename: pool/main/{name}_{version}.deb\nSize: 1000\nSHA256: {}\n\n", "ab".repeat(32)));
    text
}

fn index(stanzas: &[String]) -> PackageIndex {
    let mut index = PackageIndex::default();
    index.add(stanzas.concat(), "main", "Packages").unwrap();
    index
}

fn atoms(text: &str) -> Vec<Atom> {
    parse_relations(text).unwrap().into_iter().map(|mut group| group.remove(0)).collect()
}

fn request<'a>(index: &'a PackageIndex, roots: &str, locked: &[(&str, &str)]) -> Request<'a> {
    Request {
        index,
        architecture: "amd64".into(),
        roots: atoms(roots),
        locked: locked.iter().map(|(n, v)| (n.to_string(), v.parse::<Version>().unwrap())).collect(),
    }
}

/// `name=version` of every package chosen, in the resolution's order.
fn names(index: &PackageIndex, request: &Request<'_>) -> Result<Vec<String>, ResolveError> {
    resolve(request).map(|resolution| {
        resolution.packages.iter().map(|&p| format!("{}={}", index.get(p).name, index.get(p).version)).collect()
    })
}

fn solve(index: &PackageIndex, roots: &str) -> Vec<String> {
    names(index, &request(index, roots, &[])).unwrap()
}

fn solve_locked(index: &PackageIndex, roots: &str, locked: &[(&str, &str)]) -> Vec<String> {
    names(index, &request(index, roots, locked)).unwrap()
}

fn unsat(index: &PackageIndex, roots: &str) -> String {
    match resolve(&request(index, roots, &[])) {
        Err(ResolveError::Unsatisfiable { explanation }) => {
            println!("{roots}:\n{explanation}\n");
            explanation
        }
        other => panic!("expected Unsatisfiable, got {:?}", other.map(|r| r.packages)),
    }
}

#[test]
fn alternatives_prefer_the_first() {
    let index = index(&[
        stanza("app", "1.0", "Depends: awk-b | awk-a"),
        stanza("awk-a", "1.0", ""),
        stanza("awk-b", "1.0", ""),
    ]);
    assert_eq!(solve(&index, "app"), ["app=1.0", "awk-b=1.0"]);
}

#[test]
fn alternatives_fall_back_when_the_first_is_impossible() {
    let index = index(&[
        stanza("app", "1.0", "Depends: first (>= 2) | second"),
        stanza("first", "1.5", ""),
        stanza("second", "3", ""),
        stanza("other", "1", "Depends: missing-thing | second"),
    ]);
    assert_eq!(solve(&index, "app"), ["app=1.0", "second=3"]);
    // The first alternative names nothing in the index at all.
    assert_eq!(solve(&index, "other"), ["other=1", "second=3"]);
}

#[test]
fn the_order_of_roots_does_not_matter() {
    let index = index(&[
        stanza("app", "1.0", "Depends: awk-a | awk-b"),
        stanza("tool", "1.0", "Depends: awk-b"),
        stanza("awk-a", "1.0", ""),
        stanza("awk-b", "1.0", ""),
    ]);
    let one = solve(&index, "tool, app");
    assert_eq!(solve(&index, "app, tool"), one);
    assert_eq!(solve(&index, "app, tool, app"), one);
    assert!(one.contains(&"awk-b=1.0".to_string()), "{one:?}");
}

#[test]
fn virtual_package_by_unversioned_provides() {
    let index = index(&[
        stanza("mailer", "1.0", "Depends: mail-transport-agent"),
        stanza("postfix", "3.7.11-0+deb12u1", "Provides: mail-transport-agent\nPriority: optional"),
        stanza("exim4-daemon-light", "4.96-15", "Provides: mail-transport-agent\nPriority: optional"),
    ]);
    // Equal priority: the first by name.
    assert_eq!(solve(&index, "mailer"), ["exim4-daemon-light=4.96-15", "mailer=1.0"]);
    // A virtual name can be asked for directly.
    assert_eq!(solve(&index, "mail-transport-agent"), ["exim4-daemon-light=4.96-15"]);
}

#[test]
fn virtual_package_prefers_the_real_package_then_priority() {
    let index = index(&[
        stanza("app", "1", "Depends: awk"),
        stanza("gawk", "5.2", "Provides: awk\nPriority: optional"),
        stanza("mawk", "1.3.4", "Provides: awk\nPriority: required"),
    ]);
    assert_eq!(solve(&index, "app"), ["app=1", "mawk=1.3.4"]);
    let with_real = self::index(&[
        stanza("app", "1", "Depends: awk"),
        stanza("mawk", "1.3.4", "Provides: awk\nPriority: required"),
        stanza("awk", "1.0", ""),
    ]);
    assert_eq!(solve(&with_real, "app"), ["app=1", "awk=1.0"]);
}

#[test]
fn versioned_provides_satisfy_versioned_dependencies() {
    let index = index(&[
        stanza("app", "1", "Depends: libfoo-abi (>= 2)"),
        stanza("libfoo2", "2.1-1", "Provides: libfoo-abi (= 2.1)"),
        stanza("libfoo1", "1.9-1", "Provides: libfoo-abi (= 1.9)"),
    ]);
    assert_eq!(solve(&index, "app"), ["app=1", "libfoo2=2.1-1"]);
    // An unversioned dependency is met by either provider.
    assert_eq!(solve(&index, "libfoo-abi").len(), 1);
    // (<< 2) picks the other one.
    let older = self::index(&[
        stanza("app", "1", "Depends: libfoo-abi (<< 2)"),
        stanza("libfoo2", "2.1-1", "Provides: libfoo-abi (= 2.1)"),
        stanza("libfoo1", "1.9-1", "Provides: libfoo-abi (= 1.9)"),
    ]);
    assert_eq!(solve(&older, "app"), ["app=1", "libfoo1=1.9-1"]);
}

#[test]
fn unversioned_provides_never_satisfy_versioned_dependencies() {
    let index =
        index(&[stanza("app", "1", "Depends: libfoo-abi (>= 2)"), stanza("libfoo", "9.0", "Provides: libfoo-abi")]);
    let explanation = unsat(&index, "app");
    assert!(explanation.contains("app 1 requires libfoo-abi (>= 2)"), "{explanation}");
    assert!(explanation.contains("libfoo 9.0 provides libfoo-abi without a version"), "{explanation}");
    // ... while the unversioned dependency is fine.
    let plain =
        self::index(&[stanza("app", "1", "Depends: libfoo-abi"), stanza("libfoo", "9.0", "Provides: libfoo-abi")]);
    assert_eq!(solve(&plain, "app"), ["app=1", "libfoo=9.0"]);
}

#[test]
fn version_relations_follow_debian_ordering() {
    let index = index(&[
        stanza("b", "1:0.5", ""),
        stanza("b", "5.0", ""),
        stanza("c", "2.0~rc1", ""),
        stanza("c", "2.0", ""),
        stanza("c", "2.0-1", ""),
        stanza("want-epoch", "1", "Depends: b (>= 1:0)"),
        stanza("want-no-epoch", "1", "Depends: b (<< 1:0)"),
        stanza("want-rc", "1", "Depends: c (<< 2.0)"),
        stanza("want-tilde", "1", "Depends: c (>= 2.0~), c (<= 2.0)"),
        stanza("want-exact", "1", "Depends: c (= 2.0-1)"),
        stanza("want-later", "1", "Depends: c (>> 2.0)"),
    ]);
    assert_eq!(solve(&index, "want-epoch"), ["b=1:0.5", "want-epoch=1"]);
    assert_eq!(solve(&index, "want-no-epoch"), ["b=5.0", "want-no-epoch=1"]);
    assert_eq!(solve(&index, "want-rc"), ["c=2.0~rc1", "want-rc=1"]);
    assert_eq!(solve(&index, "want-tilde"), ["c=2.0", "want-tilde=1"]);
    assert_eq!(solve(&index, "want-exact"), ["c=2.0-1", "want-exact=1"]);
    assert_eq!(solve(&index, "want-later"), ["c=2.0-1", "want-later=1"]);
    // Newest by default, and a root may carry its own constraint.
    assert_eq!(solve(&index, "b"), ["b=1:0.5"]);
    assert_eq!(solve(&index, "c (<< 2.0-1)"), ["c=2.0"]);
}

#[test]
fn conflicts_steer_the_choice_of_alternative() {
    let index = index(&[
        stanza("app", "1", "Depends: net-a | net-b"),
        stanza("net-a", "1", ""),
        stanza("net-b", "1", ""),
        stanza("guard", "1", "Conflicts: net-a"),
    ]);
    assert_eq!(solve(&index, "app"), ["app=1", "net-a=1"]);
    assert_eq!(solve(&index, "app, guard"), ["app=1", "guard=1", "net-b=1"]);
}

#[test]
fn conflicts_steer_the_choice_of_version() {
    let index = index(&[
        stanza("lib", "1", ""),
        stanza("lib", "2", ""),
        stanza("app", "1", "Depends: lib"),
        stanza("old-user", "1", "Conflicts: lib (>= 2)"),
    ]);
    assert_eq!(solve(&index, "app"), ["app=1", "lib=2"]);
    assert_eq!(solve(&index, "app, old-user"), ["app=1", "lib=1", "old-user=1"]);
}

#[test]
fn conflicts_that_cannot_be_avoided_fail() {
    let index = index(&[
        stanza("sysvinit-core", "3.06-4", "Conflicts: systemd-sysv"),
        stanza("systemd-sysv", "252.30-1", ""),
        stanza("desktop", "1", "Depends: systemd-sysv"),
    ]);
    let explanation = unsat(&index, "desktop, sysvinit-core");
    assert!(explanation.contains("sysvinit-core 3.06-4 conflicts with systemd-sysv"), "{explanation}");
    assert!(explanation.contains("systemd-sysv 252.30-1 is needed"), "{explanation}");
    assert!(explanation.contains("desktop 1 requires systemd-sysv"), "{explanation}");
}

#[test]
fn conflicts_on_a_virtual_name_reach_its_providers() {
    let index = index(&[
        stanza("app", "1", "Depends: logger"),
        stanza("rsyslog", "8.2302", "Provides: system-log-daemon"),
        stanza("logger", "1", "Conflicts: system-log-daemon"),
    ]);
    let explanation = unsat(&index, "app, rsyslog");
    assert!(explanation.contains("conflicts with system-log-daemon, which rsyslog 8.2302 provides"), "{explanation}");
    // A versioned conflict matches only versioned provides that meet it.
    let versioned = self::index(&[
        stanza("api-old", "1", "Provides: api (= 1)"),
        stanza("api-new", "1", "Provides: api (= 3)"),
        stanza("plain", "1", "Provides: api"),
        stanza("strict", "1", "Conflicts: api (<< 2)"),
    ]);
    assert_eq!(solve(&versioned, "strict, api-new, plain"), ["api-new=1", "plain=1", "strict=1"]);
    assert!(unsat(&versioned, "strict, api-old").contains("conflicts with api (<< 2)"));
}

#[test]
fn breaks_force_an_upgrade() {
    let index = index(&[
        stanza("libc6", "2.36-9", ""),
        stanza("libc6", "2.36-9+deb12u9", ""),
        stanza("newtool", "1", "Breaks: libc6 (<< 2.36-9+deb12u1)"),
    ]);
    // The lock asks for the old libc6, Breaks overrules it.
    assert_eq!(solve_locked(&index, "libc6, newtool", &[("libc6", "2.36-9")]), ["libc6=2.36-9+deb12u9", "newtool=1"]);
    let explanation = unsat(&index, "libc6 (= 2.36-9), newtool");
    assert!(explanation.contains("newtool 1 breaks libc6 (<< 2.36-9+deb12u1)"), "{explanation}");
    assert!(explanation.contains("libc6 2.36-9 is needed"), "{explanation}");
}

#[test]
fn a_package_never_conflicts_with_itself_through_provides() {
    let mta = "Provides: mail-transport-agent\nConflicts: mail-transport-agent";
    let index = index(&[
        stanza("postfix", "3.7", &format!("{mta}\nPriority: optional")),
        stanza("exim4-daemon-light", "4.96", &format!("{mta}\nPriority: optional")),
        stanza("mailer", "1", "Depends: mail-transport-agent"),
        stanza("wants-postfix", "1", "Depends: postfix"),
    ]);
    assert_eq!(solve(&index, "postfix"), ["postfix=3.7"]);
    assert_eq!(solve(&index, "mailer"), ["exim4-daemon-light=4.96", "mailer=1"]);
    // The choice among providers bends to what else is installed.
    assert_eq!(solve(&index, "mailer, wants-postfix"), ["mailer=1", "postfix=3.7", "wants-postfix=1"]);
    let explanation = unsat(&index, "postfix, exim4-daemon-light");
    assert!(explanation.contains("conflicts with mail-transport-agent"), "{explanation}");
}

#[test]
fn essential_packages_are_not_pulled_in() {
    let index = index(&[
        stanza("base-files", "12.4", "Essential: yes\nPriority: required"),
        stanza("dpkg", "1.21.22", "Essential: yes\nPriority: required"),
        stanza("hello", "2.10-3", "Depends: libc6"),
        stanza("libc6", "2.36-9", "Priority: required"),
        stanza("needs-dpkg", "1", "Pre-Depends: dpkg (>= 1.15)"),
    ]);
    assert_eq!(solve(&index, "hello"), ["hello=2.10-3", "libc6=2.36-9"]);
    // ... unless something depends on them (Pre-Depends counts).
    assert_eq!(solve(&index, "needs-dpkg"), ["dpkg=1.21.22", "needs-dpkg=1"]);
}

#[test]
fn locked_versions_are_kept_while_allowed() {
    let index = index(&[
        stanza("app", "1", "Depends: lib"),
        stanza("lib", "1.0", ""),
        stanza("lib", "1.1", ""),
        stanza("lib", "2.0", ""),
        stanza("app2", "1", "Depends: lib (>= 2)"),
    ]);
    assert_eq!(solve(&index, "app"), ["app=1", "lib=2.0"]);
    assert_eq!(solve_locked(&index, "app", &[("lib", "1.1")]), ["app=1", "lib=1.1"]);
    // A lock that no longer fits gives way.
    assert_eq!(solve_locked(&index, "app2", &[("lib", "1.1")]), ["app2=1", "lib=2.0"]);
    // A lock on a package nobody needs installs nothing.
    assert_eq!(solve_locked(&index, "lib (= 1.0)", &[("app", "1")]), ["lib=1.0"]);
}

#[test]
fn unsatisfiable_requests_explain_the_chain() {
    let index = index(&[
        stanza("python3", "3.11.2-1+b1", "Depends: python3.11 (>= 3.11.2-1~)"),
        stanza("python3.11", "3.11.2-6", "Depends: libfoo (>= 2)"),
        stanza("libfoo", "1.0", ""),
    ]);
    let explanation = unsat(&index, "python3");
    assert_eq!(
        explanation,
        "- python3 3.11.2-1+b1 requires python3.11 (>= 3.11.2-1~) which, as python3.11 3.11.2-6, \
         requires libfoo (>= 2), but no candidate: the index has libfoo 1.0 only"
    );
    let error = resolve(&request(&index, "python3", &[])).unwrap_err().to_string();
    assert!(error.starts_with("no set of packages satisfies the request:\n- python3 "), "{error}");
}

#[test]
fn unsatisfiable_root_constraint_and_missing_names() {
    let index = index(&[
        stanza("tool", "1.0", "Depends: helper"),
        stanza("arm-only", "1.0", "Architecture: arm64"),
        stanza("uses-arm", "1.0", "Depends: arm-only"),
    ]);
    let explanation = unsat(&index, "tool (>= 2)");
    assert_eq!(explanation, "- requested tool (>= 2), but no candidate: the index has tool 1.0 only");
    let explanation = unsat(&index, "tool");
    assert!(explanation.contains("tool 1.0 requires helper, but no candidate"), "{explanation}");
    assert!(explanation.contains("nothing in the index is called helper"), "{explanation}");
    let explanation = unsat(&index, "uses-arm");
    assert!(explanation.contains("arm-only is built only for arm64, not amd64"), "{explanation}");
}

#[test]
fn one_version_per_package_is_explained() {
    let index = index(&[
        stanza("lib", "1", ""),
        stanza("lib", "2", ""),
        stanza("old", "1", "Depends: lib (<< 2)"),
        stanza("new", "1", "Depends: lib (>= 2)"),
    ]);
    let explanation = unsat(&index, "old, new");
    assert!(explanation.contains("only one version of lib"), "{explanation}");
    assert!(explanation.contains("lib 1") && explanation.contains("lib 2"), "{explanation}");
}

#[test]
fn unknown_roots_are_named() {
    let index = index(&[stanza("hello", "1", "")]);
    match resolve(&request(&index, "hello, no-such-thing", &[])) {
        Err(ResolveError::UnknownRoot { name }) => assert_eq!(name, "no-such-thing"),
        other => panic!("{other:?}"),
    }
    let error = resolve(&request(&index, "no-such-thing", &[])).unwrap_err().to_string();
    assert!(error.contains("no-such-thing"), "{error}");
}

#[test]
fn architecture_all_and_qualifiers() {
    let index = index(&[
        stanza("app", "1", "Depends: python3:any (>= 3.11), libc6:amd64, data"),
        stanza("python3", "3.11.2-1", "Multi-Arch: allowed"),
        stanza("libc6", "2.36", "Multi-Arch: same"),
        stanza("data", "1", "Architecture: all\nMulti-Arch: foreign"),
        stanza("data", "2", "Architecture: arm64"),
        stanza("cross", "1", "Depends: libc6:i386"),
    ]);
    assert_eq!(solve(&index, "app"), ["app=1", "data=1", "libc6=2.36", "python3=3.11.2-1"]);
    let explanation = unsat(&index, "cross");
    assert!(explanation.contains("libc6:i386 names another architecture than amd64"), "{explanation}");
}

#[test]
fn dependency_cycles_resolve() {
    let index = index(&[
        stanza("a", "1", "Depends: b"),
        stanza("b", "1", "Pre-Depends: c\nDepends: a"),
        stanza("c", "1", "Depends: a"),
    ]);
    assert_eq!(solve(&index, "a"), ["a=1", "b=1", "c=1"]);
}

#[test]
fn results_are_deterministic() {
    let stanzas = vec![
        stanza("app", "1", "Depends: mail-transport-agent, awk, lib-a | lib-b, helper"),
        stanza("postfix", "3.7", "Provides: mail-transport-agent\nConflicts: mail-transport-agent"),
        stanza("exim4", "4.96", "Provides: mail-transport-agent\nConflicts: mail-transport-agent"),
        stanza("mawk", "1.3", "Provides: awk"),
        stanza("gawk", "5.2", "Provides: awk"),
        stanza("lib-a", "1", "Conflicts: helper (>= 2)"),
        stanza("lib-b", "1", ""),
        stanza("helper", "1", ""),
        stanza("helper", "2", ""),
        stanza("helper", "3", ""),
    ];
    let forward = index(&stanzas);
    let reversed = index(&stanzas.iter().rev().cloned().collect::<Vec<_>>());
    let locks = [("helper", "2"), ("postfix", "3.7"), ("gawk", "5.2"), ("lib-b", "1")];
    let expected = solve_locked(&forward, "app", &locks);
    for round in 0..20 {
        // Rebuild the lock map each time: a fresh HashMap has a fresh seed.
        let mut rotated = locks.to_vec();
        rotated.rotate_left(round % locks.len());
        assert_eq!(solve_locked(&forward, "app", &rotated), expected);
        assert_eq!(solve_locked(&reversed, "app", &rotated), expected);
    }
    // The locks decide among alternatives and providers too.
    assert_eq!(expected, ["app=1", "gawk=5.2", "helper=2", "lib-b=1", "postfix=3.7"]);
    assert_eq!(solve(&forward, "app"), ["app=1", "exim4=4.96", "gawk=5.2", "helper=1", "lib-a=1"]);
    // Unsatisfiable explanations do not vary either.
    let first = unsat(&forward, "postfix, exim4");
    for _ in 0..5 {
        assert_eq!(unsat(&forward, "postfix, exim4"), first);
    }
}

#[test]
fn resolves_a_realistic_python_chain() {
    let index = index(&[
        stanza("base-files", "12.4+deb12u10", "Essential: yes\nPriority: required"),
        stanza("dpkg", "1.21.22", "Essential: yes\nPriority: required\nPre-Depends: libc6 (>= 2.34)"),
        stanza("bash", "5.2.15-2+b7", "Essential: yes\nPriority: required\nPre-Depends: libc6 (>= 2.36)"),
        stanza(
            "python3",
            "3.11.2-1+b1",
            "Multi-Arch: allowed\nPre-Depends: python3-minimal (= 3.11.2-1+b1)\n\
             Depends: python3.11 (>= 3.11.2-1~), libpython3-stdlib (= 3.11.2-1+b1)\n\
             Breaks: python3-pil (<< 5.4.1-2)",
        ),
        stanza(
            "python3-minimal",
            "3.11.2-1+b1",
            "Pre-Depends: python3.11-minimal (>= 3.11.2-1~)\nDepends: dpkg (>= 1.13.20)",
        ),
        stanza("libpython3-stdlib", "3.11.2-1+b1", "Multi-Arch: same\nDepends: libpython3.11-stdlib (>= 3.11.2-1~)"),
        stanza(
            "python3.11",
            "3.11.2-6+deb12u6",
            "Multi-Arch: allowed\nDepends: python3.11-minimal (= 3.11.2-6+deb12u6), \
             libpython3.11-stdlib (= 3.11.2-6+deb12u6), media-types | mime-support, tzdata",
        ),
        stanza(
            "python3.11-minimal",
            "3.11.2-6+deb12u6",
            "Pre-Depends: libc6 (>= 2.36)\nDepends: libpython3.11-minimal (= 3.11.2-6+deb12u6), \
             libexpat1 (>= 2.1~beta3), zlib1g (>= 1:1.2.0)",
        ),
        stanza(
            "libpython3.11-minimal",
            "3.11.2-6+deb12u6",
            "Multi-Arch: same\nDepends: libc6 (>= 2.14), libssl3 (>= 3.0.0)\nBreaks: python3-all (<< 3.6.5~rc1-1)",
        ),
        stanza(
            "libpython3.11-stdlib",
            "3.11.2-6+deb12u6",
            "Multi-Arch: same\nDepends: libpython3.11-minimal (= 3.11.2-6+deb12u6), media-types | mime-support, \
             libbz2-1.0, libc6 (>= 2.36) | libc6-udeb, libcrypt1 (>= 1:4.1.0), libdb5.3, libffi8 (>= 3.4), \
             liblzma5 (>= 5.1.1alpha+20120614), libncursesw6 (>= 6.1), libnsl2 (>= 1.0), libreadline8 (>= 6.0), \
             libsqlite3-0 (>= 3.36.0), libtinfo6 (>= 6), libtirpc3 (>= 1.0.2), libuuid1 (>= 2.20.1)",
        ),
        stanza(
            "libc6",
            "2.36-9+deb12u10",
            "Multi-Arch: same\nPriority: optional\nDepends: libgcc-s1\nBreaks: python3 (<< 3.7), hurd (<< 1:0.9.git20220818-2)",
        ),
        stanza("libc6", "2.36-9+deb12u4", "Multi-Arch: same\nDepends: libgcc-s1"),
        stanza(
            "libgcc-s1",
            "12.2.0-14+deb12u1",
            "Multi-Arch: same\nDepends: gcc-12-base (= 12.2.0-14+deb12u1), libc6 (>= 2.35)\nProvides: libgcc1 (= 1:12.2.0-14+deb12u1)",
        ),
        stanza("gcc-12-base", "12.2.0-14+deb12u1", "Multi-Arch: same"),
        stanza("media-types", "10.0.0", "Architecture: all\nMulti-Arch: foreign"),
        stanza("mime-support", "3.66", "Architecture: all\nDepends: media-types, mailcap"),
        stanza(
            "tzdata",
            "2025b-0+deb12u1",
            "Architecture: all\nMulti-Arch: foreign\nDepends: debconf (>= 0.5) | debconf-2.0",
        ),
        stanza(
            "debconf",
            "1.5.82",
            "Architecture: all\nMulti-Arch: foreign\nPre-Depends: perl-base (>= 5.20.1-3~)\nProvides: debconf-2.0",
        ),
        stanza("cdebconf", "0.270", "Provides: debconf-2.0\nConflicts: debconf (<< 1.5.81)"),
        stanza(
            "perl-base",
            "5.36.0-7+deb12u2",
            "Essential: yes\nPriority: required\nPre-Depends: libc6 (>= 2.35), libcrypt1 (>= 1:4.1.0.1)",
        ),
        stanza("libexpat1", "2.5.0-1+deb12u1", "Depends: libc6 (>= 2.25)"),
        stanza("zlib1g", "1:1.2.13.dfsg-1", "Depends: libc6 (>= 2.14)\nProvides: libz1"),
        stanza("libssl3", "3.0.16-1~deb12u1", "Depends: libc6 (>= 2.34)"),
        stanza("libbz2-1.0", "1.0.8-5+b1", "Depends: libc6 (>= 2.4)"),
        stanza("libcrypt1", "1:4.4.33-2", "Depends: libc6 (>= 2.36)"),
        stanza("libdb5.3", "5.3.28+dfsg2-1", "Depends: libc6 (>= 2.34)"),
        stanza("libffi8", "3.4.4-1", "Depends: libc6 (>= 2.34)"),
        stanza("liblzma5", "5.4.1-1", "Depends: libc6 (>= 2.34)"),
        stanza("libncursesw6", "6.4-4", "Depends: libtinfo6 (= 6.4-4), libc6 (>= 2.34)"),
        stanza("libtinfo6", "6.4-4", "Depends: libc6 (>= 2.34)"),
        stanza("libnsl2", "1.3.0-2", "Depends: libc6 (>= 2.14), libtirpc3 (>= 1.0.2)"),
        stanza("libtirpc3", "1.3.3+ds-1", "Depends: libc6 (>= 2.34), libgssapi-krb5-2 (>= 1.17)"),
        stanza("libgssapi-krb5-2", "1.20.1-2+deb12u2", "Depends: libc6 (>= 2.33)"),
        stanza("libreadline8", "8.2-1.3", "Depends: readline-common, libc6 (>= 2.33), libtinfo6 (>= 6)"),
        stanza(
            "readline-common",
            "8.2-1.3",
            "Architecture: all\nMulti-Arch: foreign\nDepends: dpkg (>= 1.15.4) | install-info",
        ),
        stanza("libsqlite3-0", "3.40.1-2+deb12u1", "Depends: libc6 (>= 2.34)"),
        stanza("libuuid1", "2.38.1-5+deb12u3", "Depends: libc6 (>= 2.25)"),
        stanza("mailcap", "3.70+nmu1", "Architecture: all"),
    ]);
    let chosen = solve(&index, "python3");
    let expected = [
        "debconf=1.5.82",
        "dpkg=1.21.22",
        "gcc-12-base=12.2.0-14+deb12u1",
        "libbz2-1.0=1.0.8-5+b1",
        "libc6=2.36-9+deb12u10",
        "libcrypt1=1:4.4.33-2",
        "libdb5.3=5.3.28+dfsg2-1",
        "libexpat1=2.5.0-1+deb12u1",
        "libffi8=3.4.4-1",
        "libgcc-s1=12.2.0-14+deb12u1",
        "libgssapi-krb5-2=1.20.1-2+deb12u2",
        "liblzma5=5.4.1-1",
        "libncursesw6=6.4-4",
        "libnsl2=1.3.0-2",
        "libpython3-stdlib=3.11.2-1+b1",
        "libpython3.11-minimal=3.11.2-6+deb12u6",
        "libpython3.11-stdlib=3.11.2-6+deb12u6",
        "libreadline8=8.2-1.3",
        "libsqlite3-0=3.40.1-2+deb12u1",
        "libssl3=3.0.16-1~deb12u1",
        "libtinfo6=6.4-4",
        "libtirpc3=1.3.3+ds-1",
        "libuuid1=2.38.1-5+deb12u3",
        "media-types=10.0.0",
        "perl-base=5.36.0-7+deb12u2",
        "python3=3.11.2-1+b1",
        "python3-minimal=3.11.2-1+b1",
        "python3.11=3.11.2-6+deb12u6",
        "python3.11-minimal=3.11.2-6+deb12u6",
        "readline-common=8.2-1.3",
        "tzdata=2025b-0+deb12u1",
        "zlib1g=1:1.2.13.dfsg-1",
    ];
    assert_eq!(chosen, expected);
    // Essential packages nobody needs stay out; the second alternative
    // (mime-support) is not taken when the first is possible.
    assert!(!chosen.iter().any(|p| p.starts_with("base-files=") || p.starts_with("bash=")));
    assert!(!chosen.iter().any(|p| p.starts_with("mime-support=") || p.starts_with("cdebconf=")));

    // Holding libc6 back to a version too old for python3.11 gives the
    // chain down to it.
    let mut older = index;
    older.add(stanza("libc6", "2.31-13+deb11u11", ""), "main", "Packages").unwrap();
    let explanation = unsat(&older, "python3, libc6 (<< 2.36)");
    println!("{explanation}");
    assert!(explanation.contains("libc6 2.31-13+deb11u11"), "{explanation}");
    assert!(explanation.contains("python3 3.11.2-1+b1 requires"), "{explanation}");
}

/// Resolves well-known requests against real `Packages` files named by
/// `BALE_RESOLVE_PACKAGES` (paths separated by `:`), e.g. a bookworm main
/// index: `cargo test -p bale-resolve -- --ignored --nocapture`.
#[test]
#[ignore = "needs real Packages files in BALE_RESOLVE_PACKAGES"]
fn real_archive_smoke() {
    let Ok(paths) = std::env::var("BALE_RESOLVE_PACKAGES") else { return };
    let mut index = PackageIndex::default();
    for path in paths.split(':') {
        index.add(std::fs::read_to_string(path).unwrap(), "main", path).unwrap();
    }
    for roots in [
        "python3",
        "python3, python3-pip, python3-venv",
        "build-essential",
        "apache2, libapache2-mod-php",
        "postfix",
        "mailutils",
        "default-jre-headless",
        "systemd, sysvinit-core",
        "exim4-daemon-light, postfix",
        "libc6 (<< 2.36)",
    ] {
        let started = std::time::Instant::now();
        let outcome = resolve(&request(&index, roots, &[]));
        let took = started.elapsed();
        match outcome {
            Ok(resolution) => {
                let chosen: Vec<String> = resolution.packages.iter().map(|&p| index.get(p).name.clone()).collect();
                assert!(chosen.windows(2).all(|w| w[0] < w[1]), "{chosen:?}");
                println!("{roots}: {} packages in {took:?}", chosen.len());
                println!("  {}", chosen.join(" "));
            }
            Err(error) => println!("{roots}: {error} ({took:?})"),
        }
    }
}

#[test]
fn a_requested_name_means_that_package_not_a_provider() {
    let index = index(&[
        stanza("busybox", "1.35", "Conflicts: busybox-static"),
        stanza("busybox-static", "1.35", "Provides: busybox\nConflicts: busybox"),
    ]);
    assert_eq!(solve(&index, "busybox"), ["busybox=1.35"]);
    // Both named: they conflict, and neither may stand in for the other.
    let explanation = unsat(&index, "busybox, busybox-static");
    assert!(explanation.contains("busybox"), "{explanation}");
    // A dependency (not a request) may still be met by the provider.
    let index = self::index(&[
        stanza("busybox", "1.35", "Conflicts: busybox-static"),
        stanza("busybox-static", "1.35", "Provides: busybox\nConflicts: busybox"),
        stanza("app", "1", "Depends: busybox"),
    ]);
    assert_eq!(solve(&index, "app, busybox-static"), ["app=1", "busybox-static=1.35"]);
}

#[test]
fn a_broken_stanza_the_solver_needs_is_an_error_naming_it() {
    let broken = index(&[
        stanza("app", "1.0", "Depends: lib"),
        stanza("lib", "1.0", "Depends: x (>> )"),
        stanza("unrelated", "1.0", "Depends: (("),
    ]);
    match resolve(&request(&broken, "app", &[])) {
        Err(ResolveError::Index(error)) => {
            let text = error.to_string();
            assert!(text.starts_with("Packages, stanza at line 9 (lib): Depends:"), "{text}");
        }
        other => panic!("expected an index error, got {:?}", other.map(|r| r.packages)),
    }
    // A broken stanza nothing needs does not matter, as for apt.
    broken.versions("app").unwrap();
    let fine = index(&[stanza("a", "1.0", ""), stanza("unrelated", "1.0", "Depends: ((")]);
    assert_eq!(solve(&fine, "a"), ["a=1.0"]);
    let needed = index(&[stanza("b", "1.0", "Depends: unrelated"), stanza("unrelated", "1.0", "Depends: ((")]);
    assert!(matches!(resolve(&request(&needed, "b", &[])), Err(ResolveError::Index(_))));
}

/// resolvo's own rendering (the fallback of the explanation) must work
/// with Debian's names and sets too, through the generic solver.
#[test]
fn explanations_name_packages_and_versions() {
    let idx = index(&[
        stanza("app", "1.0", "Depends: lib (>= 2), mail-transport-agent"),
        stanza("lib", "1.0", ""),
        stanza("postfix", "1.0", "Provides: mail-transport-agent\nConflicts: mail-transport-agent"),
        stanza("exim4", "1.0", "Provides: mail-transport-agent\nConflicts: mail-transport-agent"),
    ]);
    let explanation = unsat(&idx, "app");
    assert!(explanation.starts_with("- ") && explanation.contains("lib (>= 2)"), "{explanation}");
    let both = unsat(&idx, "postfix, exim4");
    assert!(both.contains("postfix") && both.contains("exim4"), "{both}");
}
