//! `*.recipe.toml`: what a package is built from and how. Every key is
//! data; the only code is the shell of `[[step]] run`, and nothing runs
//! while a recipe is read. Documented in `docs/recipes.md`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bale_fileset::Digest;
use serde::Deserialize;

use crate::RecipeError;

/// The largest recipe bale reads.
pub const MAX_RECIPE_SIZE: u64 = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    pub package: PackageInfo,
    #[serde(default, rename = "source")]
    pub sources: Vec<SourceSpec>,
    #[serde(default)]
    pub build: BuildSpec,
    #[serde(rename = "step")]
    pub steps: Vec<Step>,
    #[serde(default)]
    pub runtime: RuntimeSpec,
    /// Checks run after the steps, in a second sandbox whose root is the
    /// built package alone.
    /// As an image spec's `[[run]]` entries: `run` or `command`.
    #[serde(default, rename = "test")]
    pub tests: Vec<bale_image::RunStep>,
    /// Parts of `$OUT` that become packages of their own.
    #[serde(default, rename = "split")]
    pub splits: Vec<SplitSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitSpec {
    pub name: String,
    /// Patterns relative to `$OUT`: `*` and `?` within one component, `**`
    /// across any number; a pattern naming a directory takes all below it.
    pub paths: Vec<String>,
    pub summary: Option<String>,
    /// [default: the package's]
    pub license: Option<String>,
    #[serde(default)]
    pub dependencies: Vec<String>,
}

impl SplitSpec {
    /// Whether this split takes `path`.
    pub fn takes(&self, path: &str) -> bool {
        self.paths.iter().any(|pattern| {
            let mut candidate = path;
            loop {
                if glob_match(pattern, candidate) {
                    return true;
                }
                match candidate.rsplit_once('/') {
                    Some((parent, _)) => candidate = parent,
                    None => return false,
                }
            }
        })
    }
}

/// `pattern` against `path`, both `/`-separated.
fn glob_match(pattern: &str, path: &str) -> bool {
    let pattern: Vec<&str> = pattern.trim_matches('/').split('/').collect();
    let path: Vec<&str> = path.split('/').collect();
    wildcard(
        &pattern,
        &path,
        |p| *p == "**",
        |p, name| wildcard(p.as_bytes(), name.as_bytes(), |b| *b == b'*', |b, c| *b == b'?' || b == c),
    )
}

/// Whether `pattern` matches all of `text`, where a `star` item matches any
/// run of items and every other item matches one as `one` says. Row by row
/// over the pattern, so time is the product of the lengths whatever the
/// stars: a pattern cannot make a split take exponential time.
fn wildcard<P, T>(pattern: &[P], text: &[T], star: impl Fn(&P) -> bool, one: impl Fn(&P, &T) -> bool) -> bool {
    // reach[j]: the pattern so far matches text[..j].
    let mut reach = vec![false; text.len() + 1];
    reach[0] = true;
    for item in pattern {
        let mut next = vec![false; text.len() + 1];
        if star(item) {
            let mut any = false;
            for (j, slot) in next.iter_mut().enumerate() {
                any |= reach[j];
                *slot = any;
            }
        } else {
            for (j, c) in text.iter().enumerate() {
                next[j + 1] = reach[j] && one(item, c);
            }
        }
        reach = next;
    }
    reach[text.len()]
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageInfo {
    /// Plain (`hello`) or rooted in DNS (`example.com/tools/hello`).
    pub name: String,
    pub version: String,
    /// An SPDX licence expression.
    #[serde(default = "no_assertion")]
    pub license: String,
    pub summary: Option<String>,
    /// What the output runs on [default: the build root's architecture];
    /// `all` for content without machine code.
    pub architecture: Option<String>,
}

fn no_assertion() -> String {
    "NOASSERTION".into()
}

/// One input of the build, checked by digest before any step runs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// A file next to the recipe (relative to its directory).
    pub path: Option<PathBuf>,
    /// A file fetched from this URL (http or https).
    pub url: Option<String>,
    /// The sha256 the file must have, as 64 hex digits (`sha256:` optional).
    pub sha256: Option<String>,
    /// A Debian source package, by name, with `version`.
    pub debian: Option<String>,
    pub version: Option<String>,
    /// The name it has in `/build` [default: the file's own name].
    pub dest: Option<String>,
}

/// A source, checked and classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    File { origin: FileOrigin, sha256: Digest, dest: String },
    Debian { name: String, version: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileOrigin {
    Path(PathBuf),
    Url(String),
}

impl std::fmt::Display for FileOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Path(path) => write!(f, "{}", path.display()),
            Self::Url(url) => f.write_str(url),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildSpec {
    /// bale packages in the store, by reference (`name@version` or id).
    #[serde(default)]
    pub packages: Vec<String>,
    /// Debian binary packages, solved and locked as an image's are.
    pub debian: Option<bale_image::DebianSource>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default, alias = "source-date-epoch")]
    pub source_date_epoch: Option<SourceDateEpoch>,
    /// The job count the steps see as `JOBS` (and make as `-j`).
    #[serde(default = "default_jobs")]
    pub jobs: u32,
}

pub const DEFAULT_JOBS: u32 = 2;

fn default_jobs() -> u32 {
    DEFAULT_JOBS
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum SourceDateEpoch {
    Seconds(i64),
    /// `"debian-changelog"`: the date of the newest entry of the Debian
    /// source's `debian/changelog`.
    From(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Run by `/bin/sh -e -c` in `/build`, with the output directory in
    /// `$OUT`.
    pub run: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeSpec {
    /// What the package needs beside it, as Debian-style relations
    /// (`libc6 (>= 2.36)`, `a | b`).
    #[serde(default)]
    pub dependencies: Vec<String>,
    /// `[[runtime.user]]`: system accounts the package needs; an image
    /// holding it lists them in /etc/passwd and /etc/group.
    #[serde(default, rename = "user")]
    pub users: Vec<RuntimeUser>,
    /// `[[runtime.alternative]]`: symlinks the package offers to stand at
    /// a generic path, as Debian's update-alternatives registers them.
    #[serde(default, rename = "alternative")]
    pub alternatives: Vec<RuntimeAlternative>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeUser {
    pub name: String,
    pub uid: u32,
    /// The primary group's id [default: the uid]; the group is named
    /// after the user.
    pub gid: Option<u32>,
    #[serde(default = "no_home")]
    pub home: String,
    #[serde(default = "no_login")]
    pub shell: String,
}

fn no_home() -> String {
    "/nonexistent".into()
}

fn no_login() -> String {
    "/usr/sbin/nologin".into()
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeAlternative {
    /// The alternative's name (`sh`, `awk`).
    pub name: String,
    /// The generic path, such as `/usr/bin/awk`.
    pub link: String,
    /// What of this package's it points to, such as `/usr/bin/mawk`.
    pub path: String,
    /// Among packages of an image offering the same name, the highest wins.
    pub priority: i64,
}

/// Variables a recipe may not set: the sandbox fixes them.
const FIXED_ENV: [&str; 9] = ["PATH", "HOME", "TZ", "LC_ALL", "OUT", "SOURCE_DATE_EPOCH", "JOBS", "MAKEFLAGS", "PWD"];

impl Recipe {
    /// Reads and checks a recipe, without following a link at its name.
    pub fn load(path: &Path) -> Result<(Self, Vec<u8>), RecipeError> {
        let bytes = bale_fileset::safe_fs::read_regular(path, MAX_RECIPE_SIZE)
            .map_err(|source| RecipeError::Read { path: path.to_path_buf(), source })?;
        let text = std::str::from_utf8(&bytes).map_err(|_| RecipeError::Read {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, "it is not UTF-8 text"),
        })?;
        let recipe = Self::parse(text, path)?;
        Ok((recipe, bytes))
    }

    /// Parses and checks a recipe; parse errors cite the line and column.
    pub fn parse(text: &str, path: &Path) -> Result<Self, RecipeError> {
        let recipe: Recipe = toml::from_str(text).map_err(|e| RecipeError::Parse {
            path: path.to_path_buf(),
            message: bale_image::bounded_message(&e.to_string()),
        })?;
        let invalid = |field: &str, reason: String| RecipeError::Invalid {
            path: path.to_path_buf(),
            field: field.into(),
            reason,
        };
        let package = &recipe.package;
        bale_store::validate_name(&package.name).map_err(|e| invalid("package.name", e.to_string()))?;
        bale_store::validate_version(&package.version).map_err(|e| invalid("package.version", e.to_string()))?;
        bale_store::validate_license(&package.license).map_err(|e| invalid("package.license", e.to_string()))?;
        if let Some(architecture) = &package.architecture {
            bale_store::validate_architecture(architecture)
                .map_err(|e| invalid("package.architecture", e.to_string()))?;
        }
        if package.summary.as_ref().is_some_and(|s| s.contains('\n') || s.len() > 200) {
            return Err(invalid("package.summary", "a summary is one line of at most 200 bytes".into()));
        }
        if recipe.steps.is_empty() {
            return Err(invalid("step", "a recipe needs at least one [[step]] with `run`".into()));
        }
        if recipe.build.jobs == 0 || recipe.build.jobs > 256 {
            return Err(invalid("build.jobs", "give a job count from 1 to 256".into()));
        }
        for name in recipe.build.env.keys() {
            if FIXED_ENV.contains(&name.as_str()) {
                return Err(invalid(
                    &format!("build.env.{name}"),
                    "the sandbox sets it; the recipe cannot (source_date_epoch and jobs are keys of [build])".into(),
                ));
            }
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(invalid(&format!("build.env.{name}"), "a variable name is letters, digits and `_`".into()));
            }
        }
        if recipe.build.env.values().any(|v| v.contains('\0')) {
            return Err(invalid("build.env", "a value cannot hold a NUL byte".into()));
        }
        if let Some(keyring) = recipe.build.debian.as_ref().and_then(|d| d.keyring.as_ref())
            && !keyring.is_absolute()
            && plain_relative(keyring).is_none()
        {
            return Err(invalid(
                "build.debian.keyring",
                format!(
                    "{:?} must be absolute (a keyring of this host) or relative to the recipe's directory, \
                     without `.` or `..`",
                    keyring.display()
                ),
            ));
        }
        for (i, user) in recipe.runtime.users.iter().enumerate() {
            let field = format!("runtime.user[{i}]");
            if !bale_image::valid_account_name(&user.name) {
                return Err(invalid(
                    &field,
                    format!(
                        "{:?}: a user name is a lowercase letter or `_`, then letters, digits, `_`, `-`",
                        user.name
                    ),
                ));
            }
            if user.uid < 2 || user.gid.is_some_and(|g| g < 2) || user.name == "root" || user.name == "daemon" {
                return Err(invalid(&field, "root (0) and daemon (1) are in every image already".into()));
            }
            // 65534 is nobody's, and above 65533 ids stop fitting some tools.
            if user.uid > 65533 || user.gid.is_some_and(|g| g > 65533) {
                return Err(invalid(&field, "ids are 2 to 65533".into()));
            }
            if recipe.runtime.users[..i].iter().any(|u| u.name == user.name || u.uid == user.uid) {
                return Err(invalid(
                    &field,
                    format!("another [[runtime.user]] has the name {:?} or uid {}", user.name, user.uid),
                ));
            }
            if !bale_image::valid_account_path(&user.home) || !bale_image::valid_account_path(&user.shell) {
                return Err(invalid(&field, "home and shell are absolute paths without `:`".into()));
            }
        }
        for (i, alternative) in recipe.runtime.alternatives.iter().enumerate() {
            let field = format!("runtime.alternative[{i}]");
            let absolute = |p: &str| {
                p.strip_prefix('/')
                    .is_some_and(|rel| bale_fileset::normalize_path(rel.as_bytes()).is_ok_and(|n| n.is_some()))
            };
            if alternative.name.is_empty() || alternative.name.contains(['/', '\n', '\0']) {
                return Err(invalid(&field, format!("{:?} is not an alternative's name", alternative.name)));
            }
            if !absolute(&alternative.link) || !absolute(&alternative.path) {
                return Err(invalid(
                    &field,
                    "link and path are absolute, normalised paths such as \"/usr/bin/awk\"".into(),
                ));
            }
        }
        if recipe.build.packages.is_empty() && recipe.build.debian.is_none() {
            return Err(invalid(
                "build",
                "the build root is empty: list `packages` (bale packages) or a [build.debian] table".into(),
            ));
        }
        if let Some(SourceDateEpoch::From(from)) = &recipe.build.source_date_epoch
            && from != "debian-changelog"
        {
            return Err(invalid(
                "build.source_date_epoch",
                format!("{from:?} is neither seconds since the epoch nor \"debian-changelog\""),
            ));
        }
        for (i, test) in recipe.tests.iter().enumerate() {
            let ok = match (&test.run, &test.command) {
                (Some(_), None) => true,
                (None, Some(command)) => command.first().is_some_and(|c| c.starts_with('/')),
                _ => false,
            };
            if !ok {
                return Err(invalid(
                    &format!("test[{i}]"),
                    "give either `run` (shell) or `command` (a list starting with an absolute path)".into(),
                ));
            }
        }
        let mut names = std::collections::BTreeSet::from([recipe.package.name.clone()]);
        for (i, split) in recipe.splits.iter().enumerate() {
            let field = |key: &str| format!("split[{i}].{key}");
            bale_store::validate_name(&split.name).map_err(|e| invalid(&field("name"), e.to_string()))?;
            if !names.insert(split.name.clone()) {
                return Err(invalid(&field("name"), format!("{:?} is already the name of another output", split.name)));
            }
            if split.paths.is_empty() || split.paths.iter().any(|p| p.is_empty() || p.split('/').any(|c| c == "..")) {
                return Err(invalid(&field("paths"), "give patterns relative to $OUT, without `..`".into()));
            }
            if let Some(license) = &split.license {
                bale_store::validate_license(license).map_err(|e| invalid(&field("license"), e.to_string()))?;
            }
        }
        let sources = recipe.checked_sources(path)?;
        if matches!(&recipe.build.source_date_epoch, Some(SourceDateEpoch::From(_)))
            && !sources.iter().any(|s| matches!(s, Source::Debian { .. }))
        {
            return Err(invalid(
                "build.source_date_epoch",
                "\"debian-changelog\" needs a Debian source ([[source]] debian = NAME)".into(),
            ));
        }
        let mut dests = std::collections::BTreeSet::new();
        for (i, source) in sources.iter().enumerate() {
            if let Source::File { dest, .. } = source
                && !dests.insert(dest.clone())
            {
                return Err(invalid(&format!("source[{i}].dest"), format!("two sources are both named {dest:?}")));
            }
        }
        Ok(recipe)
    }

    /// The sources, each checked to be exactly one kind with what it needs.
    pub fn checked_sources(&self, path: &Path) -> Result<Vec<Source>, RecipeError> {
        let mut out = Vec::new();
        for (i, source) in self.sources.iter().enumerate() {
            let invalid = |reason: String| RecipeError::Invalid {
                path: path.to_path_buf(),
                field: format!("source[{i}]"),
                reason,
            };
            let checked = match (&source.path, &source.url, &source.debian) {
                (Some(file), None, None) => {
                    if plain_relative(file).is_none() {
                        return Err(invalid(format!(
                            "path {:?} must be relative to the recipe's directory, without `.` or `..`",
                            file.display()
                        )));
                    }
                    let name = file.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
                    self.file_source(source, FileOrigin::Path(file.clone()), name, &invalid)?
                }
                (None, Some(url), None) => {
                    if !(url.starts_with("http://") || url.starts_with("https://")) {
                        return Err(invalid(format!("url {url:?} is not http or https")));
                    }
                    let name =
                        url.split(['?', '#']).next().and_then(|u| u.rsplit('/').next()).unwrap_or_default().to_string();
                    self.file_source(source, FileOrigin::Url(url.clone()), name, &invalid)?
                }
                (None, None, Some(name)) => {
                    let Some(version) = &source.version else {
                        return Err(invalid(format!("the Debian source {name:?} needs its `version`")));
                    };
                    // Debian policy's forms; both become file and directory names.
                    let source_name = name.len() >= 2
                        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c));
                    if !source_name {
                        return Err(invalid(format!(
                            "{name:?} is not a Debian source package name (lower-case letters, digits, `+`, `-`, `.`)"
                        )));
                    }
                    if !version.starts_with(|c: char| c.is_ascii_digit())
                        || !version.chars().all(|c| c.is_ascii_alphanumeric() || ".+~:-".contains(c))
                    {
                        return Err(invalid(format!("{version:?} is not a Debian version")));
                    }
                    if source.sha256.is_some() || source.dest.is_some() {
                        return Err(invalid(
                            "a Debian source is verified through the archive's signature chain; it takes no \
                             `sha256` or `dest`"
                                .into(),
                        ));
                    }
                    Source::Debian { name: name.clone(), version: version.clone() }
                }
                _ => return Err(invalid("give exactly one of `path`, `url` or `debian`".into())),
            };
            out.push(checked);
        }
        Ok(out)
    }

    fn file_source(
        &self,
        source: &SourceSpec,
        origin: FileOrigin,
        name: String,
        invalid: &dyn Fn(String) -> RecipeError,
    ) -> Result<Source, RecipeError> {
        if source.version.is_some() {
            return Err(invalid("`version` belongs to a Debian source; a file is pinned by `sha256`".into()));
        }
        let Some(text) = &source.sha256 else {
            return Err(invalid(format!("{origin} needs its `sha256` (`sha256sum FILE` prints it)")));
        };
        let hex = text.strip_prefix("sha256:").unwrap_or(text);
        let sha256 = format!("sha256:{}", hex.to_ascii_lowercase())
            .parse::<Digest>()
            .map_err(|_| invalid(format!("sha256 {text:?} is not 64 hex digits")))?;
        let dest = source.dest.clone().unwrap_or(name);
        if dest.is_empty() || dest == "." || dest == ".." || dest.contains('/') || dest.contains('\0') {
            return Err(invalid(format!("{dest:?} cannot be a file name in /build (set `dest`)")));
        }
        Ok(Source::File { origin, sha256, dest })
    }
}

/// `path` as text when it names a file below the recipe's directory
/// without `.`, `..` or an empty component: what travels with a package.
pub(crate) fn plain_relative(path: &Path) -> Option<&str> {
    path.to_str().filter(|p| {
        !p.is_empty() && !p.starts_with('/') && p.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "91193433e324b0a1e525cfecac51f43ca0f6bd882e1c34292510c9740115bf5c";

    fn parse(text: &str) -> Result<Recipe, RecipeError> {
        Recipe::parse(text, Path::new("t.recipe.toml"))
    }

    fn minimal(extra: &str) -> String {
        format!(
            "[package]\nname = \"hello\"\nversion = \"1\"\n{extra}\n[build]\npackages = [\"root@1\"]\n\n[[step]]\nrun = \"true\"\n"
        )
    }

    #[test]
    fn a_minimal_recipe_takes_the_defaults() {
        let recipe = parse(&minimal("")).unwrap();
        assert_eq!(recipe.package.license, "NOASSERTION");
        assert_eq!(recipe.build.jobs, DEFAULT_JOBS);
        assert_eq!(recipe.build.source_date_epoch, None);
        assert!(recipe.sources.is_empty());
    }

    #[test]
    fn sources_are_one_kind_each_with_a_digest() {
        let text = format!(
            "[package]\nname = \"hello\"\nversion = \"1\"\n[[source]]\npath = \"src/a.c\"\nsha256 = \"sha256:{}\"\n\
             [[source]]\nurl = \"http://127.0.0.1:1/x/b.tar.gz?raw=1\"\nsha256 = \"{HEX}\"\n\
             [build]\npackages = [\"root@1\"]\n[[step]]\nrun = \"true\"\n",
            HEX.to_uppercase()
        );
        let recipe = parse(&text).unwrap();
        let sources = recipe.checked_sources(Path::new("t")).unwrap();
        let digest: Digest = format!("sha256:{HEX}").parse().unwrap();
        assert_eq!(
            sources,
            [
                Source::File { origin: FileOrigin::Path("src/a.c".into()), sha256: digest, dest: "a.c".into() },
                Source::File {
                    origin: FileOrigin::Url("http://127.0.0.1:1/x/b.tar.gz?raw=1".into()),
                    sha256: digest,
                    dest: "b.tar.gz".into()
                },
            ]
        );
    }

    #[test]
    fn mistakes_name_their_key() {
        let cases = [
            (minimal("[[source]]\npath = \"a\"\nurl = \"http://x/a\"\nsha256 = \"x\"\n"), "source[0]"),
            (minimal("[[source]]\npath = \"a\"\n"), "needs its `sha256`"),
            (minimal("[[source]]\ndebian = \"busybox\"\n"), "needs its `version`"),
            (minimal("[[source]]\nurl = \"file:///etc/passwd\"\nsha256 = \"x\"\n"), "not http or https"),
            (minimal("summary = \"two\\nlines\"\n"), "package.summary"),
            (minimal("").replace("packages = [\"root@1\"]", "packages = []"), "the build root is empty"),
            (minimal("").replace("[build]\n", "[build]\nenv = { PATH = \"/x\" }\n"), "build.env.PATH"),
            (minimal("").replace("[build]\n", "[build]\njobs = 0\n"), "build.jobs"),
            (minimal("").replace("[build]\n", "[build]\nsource_date_epoch = \"now\"\n"), "neither seconds"),
            (
                minimal("").replace("[build]\n", "[build]\nsource-date-epoch = \"debian-changelog\"\n"),
                "needs a Debian source",
            ),
            (minimal("").replace("name = \"hello\"", "name = \"Hello World\""), "package.name"),
            (minimal("[build.debian]\nkeyring = \"../k.gpg\"\npackages = []\n"), "build.debian.keyring"),
        ];
        for (text, needle) in cases {
            let error = parse(&text).unwrap_err().to_string();
            assert!(error.contains(needle), "{needle:?} not in {error:?} for:\n{text}");
        }
    }

    #[test]
    fn debian_sources_are_named_as_debian_names_them() {
        for (source, needle) in [
            ("debian = \"-x\"\nversion = \"1\"", "not a Debian source package name"),
            ("debian = \"../a\"\nversion = \"1\"", "not a Debian source package name"),
            ("debian = \"busybox\"\nversion = \"1 2\"", "not a Debian version"),
            ("debian = \"busybox\"\nversion = \"1:1.35.0-4\"", ""),
        ] {
            match parse(&minimal(&format!("[[source]]\n{source}\n"))) {
                Ok(_) => assert!(needle.is_empty(), "{source} was taken"),
                Err(e) => assert!(!needle.is_empty() && e.to_string().contains(needle), "{source}: {e}"),
            }
        }
    }

    #[test]
    fn many_stars_take_linear_time() {
        let name = "a".repeat(4000);
        assert!(!glob_match(&format!("{}b", "*a".repeat(100)), &name));
        assert!(glob_match(&"*/".repeat(50).trim_end_matches('/').replace('*', "**"), "a/b"));
        assert!(glob_match("**/*", "a/b/c"));
        assert!(!glob_match("*", "a/b"));
    }

    #[test]
    fn split_patterns_take_files_and_trees() {
        let split = SplitSpec {
            name: "doc".into(),
            paths: vec!["usr/share/doc".into(), "usr/include/**/*.h".into(), "usr/lib/lib?.a".into()],
            summary: None,
            license: None,
            dependencies: Vec::new(),
        };
        for (path, taken) in [
            ("usr/share/doc/a/README", true),
            ("usr/share/doc", true),
            ("usr/share/docs", false),
            ("usr/include/x.h", true),
            ("usr/include/sys/y.h", true),
            ("usr/include/sys/y.c", false),
            ("usr/lib/libc.a", true),
            ("usr/lib/libcc.a", false),
            ("usr/lib/libc.a/x", true),
            ("usr/lib/libcc.a/x", false),
        ] {
            assert_eq!(split.takes(path), taken, "{path}");
        }
    }

    #[test]
    fn unknown_keys_cite_the_line() {
        let error = parse(&minimal("").replace("[[step]]\nrun", "[[step]]\nrum")).unwrap_err().to_string();
        assert!(error.contains("line 9") && error.contains("rum"), "{error}");
    }
}
