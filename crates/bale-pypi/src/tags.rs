//! Wheel file names and the tags an image runs: which wheels of a release
//! install into an image of one Python, C library and architecture, and
//! which of them is the most specific (PEP 425, PEP 427, PEP 600, PEP 656).

use std::fmt;

/// What an image offers a wheel.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Environment {
    /// CPython `major.minor` (Debian's python3).
    pub python: (u32, u32),
    /// Its full version (`3.11.2`), for `python_full_version` markers.
    pub python_full: String,
    /// glibc `major.minor`, when the image has it (Debian's libc6).
    pub glibc: Option<(u32, u32)>,
    /// The machine as wheels name it: `x86_64`, `aarch64`, …
    pub machine: String,
}

impl Environment {
    /// The machine name wheels use for a Debian architecture.
    pub fn machine_of(debian_architecture: &str) -> Option<&'static str> {
        Some(match debian_architecture {
            "amd64" => "x86_64",
            "arm64" => "aarch64",
            "i386" => "i686",
            "armhf" => "armv7l",
            "ppc64el" => "ppc64le",
            "s390x" => "s390x",
            "riscv64" => "riscv64",
            _ => return None,
        })
    }

    /// The marker environment of CPython on Linux for this image.
    pub fn markers(&self) -> Option<pep508_rs::MarkerEnvironment> {
        let python_version = self.python_version();
        pep508_rs::MarkerEnvironment::try_from(pep508_rs::MarkerEnvironmentBuilder {
            implementation_name: "cpython",
            implementation_version: &self.python_full,
            os_name: "posix",
            platform_machine: &self.machine,
            platform_python_implementation: "CPython",
            platform_release: "",
            platform_system: "Linux",
            platform_version: "",
            python_full_version: &self.python_full,
            python_version: &python_version,
            sys_platform: "linux",
        })
        .ok()
    }

    /// `3.11` for paths (`/usr/local/lib/python3.11`).
    pub fn python_version(&self) -> String {
        format!("{}.{}", self.python.0, self.python.1)
    }

    /// Every (python, abi, platform) tag the image runs, most specific
    /// first: the interpreter's own ABI, then the stable ABI of this and
    /// older minors, then pure Python; per platform, the newest manylinux
    /// first, down to manylinux_2_5 (with the legacy aliases), then `any`.
    /// musllinux wheels never run on glibc and are not listed.
    pub fn supported(&self) -> Vec<Tag> {
        let (major, minor) = self.python;
        let cp = format!("cp{major}{minor}");
        let mut platforms: Vec<String> = Vec::new();
        if let Some((glibc_major, glibc_minor)) = self.glibc {
            // manylinux_2_X for every X this glibc offers, newest first;
            // the legacy names are aliases of 2_17, 2_12 and 2_5.
            for m in (0..=glibc_minor).rev() {
                if glibc_major != 2 || m < 5 {
                    continue;
                }
                platforms.push(format!("manylinux_2_{m}_{}", self.machine));
                let alias = match m {
                    17 => Some("manylinux2014"),
                    12 => Some("manylinux2010"),
                    5 => Some("manylinux1"),
                    _ => None,
                };
                if let Some(alias) = alias {
                    platforms.push(format!("{alias}_{}", self.machine));
                }
            }
            platforms.push(format!("linux_{}", self.machine));
        }
        let mut tags = Vec::new();
        for platform in &platforms {
            tags.push(Tag::new(&cp, &cp, platform));
        }
        for platform in &platforms {
            for m in (2..=minor).rev() {
                tags.push(Tag::new(&format!("cp{major}{m}"), "abi3", platform));
            }
        }
        for platform in &platforms {
            tags.push(Tag::new(&cp, "none", platform));
        }
        for platform in &platforms {
            tags.push(Tag::new(&format!("py{major}{minor}"), "none", platform));
            tags.push(Tag::new(&format!("py{major}"), "none", platform));
        }
        tags.push(Tag::new(&cp, "none", "any"));
        tags.push(Tag::new(&format!("py{major}{minor}"), "none", "any"));
        tags.push(Tag::new(&format!("py{major}"), "none", "any"));
        for m in (0..minor).rev() {
            tags.push(Tag::new(&format!("py{major}{m}"), "none", "any"));
        }
        tags
    }
}

/// One compatibility tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tag {
    pub python: String,
    pub abi: String,
    pub platform: String,
}

impl Tag {
    fn new(python: &str, abi: &str, platform: &str) -> Self {
        Self { python: python.into(), abi: abi.into(), platform: platform.into() }
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{}", self.python, self.abi, self.platform)
    }
}

/// A wheel's file name, read: `{name}-{version}(-{build})?-{python}-{abi}-{platform}.whl`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WheelName {
    /// The distribution name as the file writes it (`_` for `-`).
    pub name: String,
    pub version: String,
    pub build: Option<String>,
    /// Every tag the compressed tag sets expand to.
    pub tags: Vec<Tag>,
}

impl WheelName {
    /// `None` when `filename` is not a wheel's name.
    pub fn parse(filename: &str) -> Option<Self> {
        let stem = filename.strip_suffix(".whl")?;
        let parts: Vec<&str> = stem.split('-').collect();
        let (name, version, build, python, abi, platform) = match parts.as_slice() {
            [n, v, p, a, pl] => (*n, *v, None, *p, *a, *pl),
            [n, v, b, p, a, pl] => (*n, *v, Some((*b).to_string()), *p, *a, *pl),
            _ => return None,
        };
        if name.is_empty()
            || version.is_empty()
            || build.as_deref().is_some_and(|b| !b.starts_with(|c: char| c.is_ascii_digit()))
        {
            return None;
        }
        let mut tags = Vec::new();
        for p in python.split('.') {
            for a in abi.split('.') {
                for pl in platform.split('.') {
                    if p.is_empty() || a.is_empty() || pl.is_empty() {
                        return None;
                    }
                    tags.push(Tag::new(p, a, pl));
                }
            }
        }
        Some(Self { name: name.to_string(), version: version.to_string(), build, tags })
    }

    /// Its rank in `supported` (lower is more specific), `None` when the
    /// image cannot run it.
    pub fn rank(&self, supported: &[Tag]) -> Option<usize> {
        self.tags.iter().filter_map(|t| supported.iter().position(|s| s == t)).min()
    }

    /// Whether it holds compiled code for one platform (its package is
    /// per architecture), rather than `any`.
    pub fn is_platform_specific(&self) -> bool {
        self.tags.iter().any(|t| t.platform != "any")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bookworm() -> Environment {
        Environment { python: (3, 11), python_full: "3.11.2".into(), glibc: Some((2, 36)), machine: "x86_64".into() }
    }

    #[test]
    fn wheel_names_expand_their_tag_sets() {
        let name = WheelName::parse("numpy-2.1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl").unwrap();
        assert_eq!(name.name, "numpy");
        assert_eq!(name.version, "2.1.0");
        assert_eq!(name.tags.len(), 2);
        let built = WheelName::parse("x-1.0-1b-py3-none-any.whl").unwrap();
        assert_eq!(built.build.as_deref(), Some("1b"));
        assert!(WheelName::parse("x-1.0.tar.gz").is_none());
        assert!(WheelName::parse("x-1.0-py3-none.whl").is_none());
        assert!(WheelName::parse("x-1.0-b1-py3-none-any.whl").is_none(), "a build tag starts with a digit");
    }

    #[test]
    fn the_most_specific_wheel_ranks_first_and_others_do_not_run() {
        let supported = bookworm().supported();
        let rank = |file: &str| WheelName::parse(file).unwrap().rank(&supported);
        let native = rank("a-1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl").unwrap();
        let newer = rank("a-1-cp311-cp311-manylinux_2_28_x86_64.whl").unwrap();
        let abi3 = rank("a-1-cp38-abi3-manylinux_2_17_x86_64.whl").unwrap();
        let pure = rank("a-1-py3-none-any.whl").unwrap();
        assert!(newer < native && native < abi3 && abi3 < pure);
        assert!(rank("a-1-cp311-cp311-manylinux1_x86_64.whl").is_some(), "legacy alias of 2_5");
        assert_eq!(rank("a-1-cp311-cp311-manylinux_2_38_x86_64.whl"), None, "needs a newer glibc");
        assert_eq!(rank("a-1-cp311-cp311-musllinux_1_2_x86_64.whl"), None, "musl on glibc");
        assert_eq!(rank("a-1-cp312-cp312-manylinux_2_17_x86_64.whl"), None, "another Python");
        assert_eq!(rank("a-1-cp311-cp311-manylinux_2_17_aarch64.whl"), None, "another machine");
        assert_eq!(rank("a-1-cp312-abi3-manylinux_2_17_x86_64.whl"), None, "abi3 of a newer minor");
        assert_eq!(rank("a-1-py2-none-any.whl"), None);
    }
}
