//! The image spec, `bale.toml`: what goes in (packages as an unordered
//! set, local directories) and the frozen runtime config. Documented in
//! `docs/spec.md`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::accounts::{AccountError, Accounts, IdRef, SpecGroup, SpecUser, UserRef};

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// The image's name, such as `example.com/hello`; the layout's tag is
    /// its last part unless `tag` says otherwise.
    pub name: String,
    #[serde(default = "default_tag")]
    pub tag: String,
    /// The one architecture the image is for [default: the host's].
    pub architecture: Option<String>,
    /// Several architectures: the build writes an OCI image index with one
    /// image per architecture.
    #[serde(default)]
    pub architectures: Vec<String>,
    #[serde(default)]
    pub debian: Option<DebianSource>,
    /// Wheels from a Python package index (docs/pypi.md).
    pub pypi: Option<PypiSource>,
    /// Packages from an npm registry (docs/npm.md).
    pub npm: Option<NpmSource>,
    /// bale packages in the store (made by `bale make` or `bale pack`, or
    /// pulled), by any reference `bale inspect` takes; pinned by id and
    /// content in the lock.
    #[serde(default)]
    pub packages: Vec<String>,
    /// Directories of this project that become packages.
    #[serde(default, rename = "local")]
    pub locals: Vec<LocalPackage>,
    #[serde(default)]
    pub config: RuntimeConfig,
    /// Files bale writes into the generated layer, by absolute path.
    #[serde(default)]
    pub files: BTreeMap<String, SpecFile>,
    /// Directories bale makes in the generated layer, by absolute path.
    #[serde(default)]
    pub dirs: BTreeMap<String, SpecDir>,
    /// Accounts besides root (0) and daemon (1).
    #[serde(default)]
    pub users: BTreeMap<String, SpecUser>,
    #[serde(default)]
    pub groups: BTreeMap<String, SpecGroup>,
    /// Whether the image gets a `/tmp` anyone may write to (1777).
    #[serde(default = "yes")]
    pub tmp: bool,
    /// Maximum number of layers, the generated one included; above it the
    /// lowest packages of the stack share one layer.
    #[serde(default = "default_layer_cap")]
    pub layer_cap: usize,
    /// Commands run last, in order, in bale's sandbox over the composed
    /// image (without network); what they write becomes one more layer.
    #[serde(default, rename = "run")]
    pub runs: Vec<RunStep>,
    /// `[trust]`: the policy the image's packages must meet.
    pub trust: Option<TrustSpec>,
    /// A registry prefix (`host[:port]/path`) where `bale push PACKAGE`
    /// put this image's packages: a build fetches from it, held to the
    /// lock's content digests, what the store lacks (docs/registry.md#packages).
    pub package_registry: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustSpec {
    /// A trust policy file (docs/trust.md), relative to the spec.
    pub policy: PathBuf,
}

/// One `[[run]]` entry: a shell command line or a program with arguments.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunStep {
    /// Run by the image's own `/bin/sh -e -c`.
    pub run: Option<String>,
    /// Run as is, without a shell; the program by absolute path.
    pub command: Option<Vec<String>>,
}

impl RunStep {
    /// What the sandbox runs.
    pub fn argv(&self) -> Vec<String> {
        match (&self.run, &self.command) {
            (Some(line), _) => vec!["/bin/sh".into(), "-e".into(), "-c".into(), line.clone()],
            (None, Some(command)) => command.clone(),
            (None, None) => Vec::new(),
        }
    }

    /// The command as people read it (and provenance records it).
    pub fn text(&self) -> String {
        match (&self.run, &self.command) {
            (Some(line), _) => line.clone(),
            (None, Some(command)) => command.join(" "),
            (None, None) => String::new(),
        }
    }
}

fn default_tag() -> String {
    "latest".into()
}

fn default_layer_cap() -> usize {
    100
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DebianSource {
    /// Suite or codename [default: the host's apt sources].
    pub suite: Option<String>,
    /// Mirror URL [default: the host's apt sources].
    pub mirror: Option<String>,
    #[serde(default)]
    pub components: Vec<String>,
    pub architecture: Option<String>,
    pub keyring: Option<PathBuf>,
    /// Package names, optionally with a version constraint; an unordered set.
    pub packages: Vec<String>,
    /// Keep documentation, man pages and locales.
    #[serde(default)]
    pub keep_docs: bool,
    /// Layer the SUITE-updates and SUITE-security suites of the host's apt
    /// sources over the main suite (when the mirror comes from the host).
    #[serde(default = "yes")]
    pub updates: bool,
    /// Take the packages' Recommends too, as apt does by default (those
    /// that can be met); without it they are left out and listed.
    #[serde(default)]
    pub recommends: bool,
}

fn yes() -> bool {
    true
}

/// A spec's `[npm]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NpmSource {
    /// Requests as npm takes them: `express@4`, `@types/node@^20`; an
    /// unordered set.
    pub packages: Vec<String>,
    /// The app's directory, whose `node_modules` bale makes [default
    /// `/srv/app`].
    #[serde(default = "default_app")]
    pub app: String,
    /// The registry URL [default: npm_config_registry, else `npm config
    /// get registry`].
    pub registry: Option<String>,
    /// Packages with install scripts taken without running them.
    #[serde(default)]
    pub allow_without_scripts: Vec<String>,
}

fn default_app() -> String {
    "/srv/app".into()
}

/// A spec's `[pypi]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PypiSource {
    /// Requirements as pip takes them (PEP 508): `flask==3.0.*`,
    /// `psycopg[binary]`; an unordered set.
    pub packages: Vec<String>,
    /// The index's simple API URL [default: PIP_INDEX_URL, else pip's
    /// configuration].
    pub index: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalPackage {
    /// Directory, relative to the spec file.
    pub path: PathBuf,
    pub name: String,
    pub version: String,
    #[serde(default = "no_assertion")]
    pub license: String,
    /// What the content runs on [default: `all`]. A package for one
    /// architecture goes only into that architecture's image.
    #[serde(default = "arch_all")]
    pub architecture: String,
}

fn arch_all() -> String {
    bale_store::ARCH_ALL.into()
}

fn no_assertion() -> String {
    "NOASSERTION".into()
}

/// One file of the spec: given inline or read from a file next to the spec.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecFile {
    pub content: Option<String>,
    /// Path relative to the spec file.
    pub source: Option<PathBuf>,
    /// Octal permission bits such as `"0755"` [default: 0644].
    pub mode: Option<String>,
}

impl SpecFile {
    /// The permission bits (validated when the spec is parsed).
    pub fn mode_bits(&self) -> u32 {
        self.mode.as_deref().and_then(|m| u32::from_str_radix(m, 8).ok()).unwrap_or(0o644)
    }
}

/// A directory of the spec: made in the generated layer with this mode
/// and owner.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecDir {
    /// Octal permission bits such as `"0750"` or `"1777"` [default: 0755].
    pub mode: Option<String>,
    /// Owner, by uid or user name [default: 0].
    pub uid: Option<IdRef>,
    /// Group, by gid or group name [default: the named user's group, else 0].
    pub gid: Option<IdRef>,
}

/// A spec directory with its owner resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedDir {
    /// Relative to the root (`var/lib/app`).
    pub path: String,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// The frozen runtime config (OCI image config fields).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    #[serde(default)]
    pub entrypoint: Vec<String>,
    #[serde(default)]
    pub cmd: Vec<String>,
    /// Environment; a `PATH` is added when missing.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// The user the process runs as: a uid, `"uid:gid"`, or a user name
    /// (root, daemon or one of `[users]`), optionally `"name:group"`.
    /// The image config always gets `uid:gid`.
    pub user: Option<UserRef>,
    pub workdir: Option<String>,
    /// Exposed ports such as `8080/tcp`.
    #[serde(default)]
    pub ports: Vec<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Annotations on the image manifest.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// Run the entrypoint under Debian's `tini`, so that signals reach the
    /// app and zombies are reaped (an app as PID 1 gets no default signal
    /// actions). Adds `tini` to `[debian] packages`.
    #[serde(default)]
    pub init: bool,
}

/// The Debian package `init = true` adds, and the entrypoint prefix it runs.
pub const INIT_PACKAGE: &str = "tini";
pub const INIT_ENTRYPOINT: [&str; 2] = ["/usr/bin/tini", "--"];

impl RuntimeConfig {
    /// The image config's entrypoint: the spec's, under the init when asked.
    pub fn image_entrypoint(&self) -> Vec<String> {
        let mut entrypoint: Vec<String> =
            if self.init { INIT_ENTRYPOINT.iter().map(|s| s.to_string()).collect() } else { Vec::new() };
        entrypoint.extend(self.entrypoint.iter().cloned());
        entrypoint
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("cannot read the spec {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("{}: {field}: {reason}", path.display())]
    Invalid { path: PathBuf, field: String, reason: String },
}

/// The largest spec bale reads; a typical one is under a kilobyte.
pub const MAX_SPEC_SIZE: u64 = 4 << 20;
/// The largest file a spec's `[files]` may read from `source`.
pub const MAX_SPEC_FILE_SIZE: u64 = 64 << 20;

impl Spec {
    pub fn load(path: &Path) -> Result<Self, SpecError> {
        let io = |source| SpecError::Io { path: path.to_path_buf(), source };
        let bytes = bale_fileset::safe_fs::read_regular(path, MAX_SPEC_SIZE).map_err(io)?;
        let text = String::from_utf8(bytes)
            .map_err(|_| io(std::io::Error::new(std::io::ErrorKind::InvalidData, "it is not UTF-8 text")))?;
        Self::parse(&text, path)
    }

    /// Parses and checks a spec; errors point at the line (toml's messages
    /// quote it).
    pub fn parse(text: &str, path: &Path) -> Result<Self, SpecError> {
        let mut spec: Spec = toml::from_str(text)
            .map_err(|e| SpecError::Parse { path: path.to_path_buf(), message: bounded_message(&e.to_string()) })?;
        let invalid =
            |field: &str, reason: String| SpecError::Invalid { path: path.to_path_buf(), field: field.into(), reason };
        if spec.name.is_empty() || spec.name.contains(char::is_whitespace) {
            return Err(invalid("name", "give the image a name such as `example.com/hello`".into()));
        }
        if spec.tag.is_empty() || !spec.tag.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')) {
            return Err(invalid("tag", "a tag is letters, digits, `.`, `_` and `-`".into()));
        }
        if spec.layer_cap < 2 {
            return Err(invalid("layer_cap", "it must be at least 2 (one package layer and the generated one)".into()));
        }
        let declared: Vec<(&str, &String)> = spec
            .architecture
            .iter()
            .map(|a| ("architecture", a))
            .chain(spec.debian.as_ref().and_then(|d| d.architecture.as_ref()).map(|a| ("debian.architecture", a)))
            .chain(spec.architectures.iter().map(|a| ("architectures", a)))
            .collect();
        for (field, architecture) in &declared {
            if <crate::Platform as crate::DebianPlatform>::of_debian(architecture).is_none() {
                return Err(invalid(
                    field,
                    format!("{architecture:?} is not an architecture bale builds for ({})", crate::KNOWN_ARCHITECTURES),
                ));
            }
        }
        if !spec.architectures.is_empty() && declared.iter().any(|(field, _)| *field != "architectures") {
            return Err(invalid(
                "architectures",
                "give either `architectures` or one `architecture` (top level or in [debian]), not both".into(),
            ));
        }
        if let (Some(top), Some(debian)) =
            (&spec.architecture, spec.debian.as_ref().and_then(|d| d.architecture.as_ref()))
            && top != debian
        {
            return Err(invalid("debian.architecture", format!("it says {debian:?}, the top-level one {top:?}")));
        }
        let mut seen = std::collections::BTreeSet::new();
        for architecture in &spec.architectures {
            if !seen.insert(architecture) {
                return Err(invalid("architectures", format!("{architecture:?} is listed twice")));
            }
        }
        for (i, local) in spec.locals.iter().enumerate() {
            bale_store::validate_architecture(&local.architecture)
                .map_err(|e| invalid(&format!("local[{i}].architecture"), e.to_string()))?;
            bale_store::validate_name(&local.name).map_err(|e| invalid(&format!("local[{i}].name"), e.to_string()))?;
            bale_store::validate_version(&local.version)
                .map_err(|e| invalid(&format!("local[{i}].version"), e.to_string()))?;
            bale_store::validate_license(&local.license)
                .map_err(|e| invalid(&format!("local[{i}].license"), e.to_string()))?;
        }
        for (path, file) in &spec.files {
            let field = format!("files.{}", bale_fileset::display_path(path.as_bytes()));
            let relative = path.strip_prefix('/').unwrap_or("");
            if relative.is_empty()
                || relative.split('/').any(|c| c.is_empty() || c == "." || c == "..")
                || relative.ends_with('/')
            {
                return Err(invalid(&field, "give an absolute, normalised file path such as \"/etc/app.conf\"".into()));
            }
            // The same rules as every path of a package: no NUL (which
            // would let one key name another file), components and paths
            // within Linux's limits.
            if let Err(problem) = bale_fileset::normalize_path(relative.as_bytes()) {
                return Err(invalid(&field, problem.to_string()));
            }
            if file.content.is_some() == file.source.is_some() {
                return Err(invalid(&field, "give exactly one of `content` or `source`".into()));
            }
            if let Some(source) = &file.source {
                let plain = source.to_str().and_then(|s| bale_fileset::normalize_path(s.as_bytes()).ok().flatten());
                if plain.is_none() || source.is_absolute() {
                    return Err(invalid(
                        &field,
                        "`source` is a path below the spec's directory, such as \"files/app.conf\"".into(),
                    ));
                }
            }
            if let Some(mode) = &file.mode
                && u32::from_str_radix(mode, 8).map_or(true, |m| m > 0o7777)
            {
                return Err(invalid(&field, format!("mode {mode:?} is not octal permission bits such as \"0644\"")));
            }
        }
        let accounts = Accounts::new(&spec.users, &spec.groups)
            .map_err(|AccountError { field, reason }| invalid(&field, reason))?;
        accounts.image_user(spec.config.user.as_ref()).map_err(|reason| invalid("config.user", reason))?;
        for (path, dir) in &spec.dirs {
            let field = format!("dirs.{}", bale_fileset::display_path(path.as_bytes()));
            let relative = path.strip_prefix('/').unwrap_or("");
            if relative.is_empty()
                || relative.split('/').any(|c| c.is_empty() || c == "." || c == "..")
                || bale_fileset::normalize_path(relative.as_bytes()).is_err()
            {
                return Err(invalid(
                    &field,
                    "give an absolute, normalised directory path such as \"/var/lib/app\"".into(),
                ));
            }
            if spec.files.contains_key(path) {
                return Err(invalid(&field, "it is also a [files] entry".into()));
            }
            if let Some(mode) = &dir.mode
                && u32::from_str_radix(mode, 8).map_or(true, |m| m > 0o7777)
            {
                return Err(invalid(&field, format!("mode {mode:?} is not octal permission bits such as \"0755\"")));
            }
            if let Some(uid) = &dir.uid
                && accounts.uid(uid).is_none()
            {
                return Err(invalid(&format!("{field}.uid"), format!("no user is called {uid:?}")));
            }
            if let Some(gid) = &dir.gid
                && accounts.gid(gid).is_none()
            {
                return Err(invalid(&format!("{field}.gid"), format!("no group is called {gid:?}")));
            }
        }
        for (name, user) in &spec.users {
            if user.create_home && spec.files.contains_key(user.home.as_deref().unwrap_or_default()) {
                return Err(invalid(&format!("users.{name}.home"), "it is also a [files] entry".into()));
            }
        }
        for port in &spec.config.ports {
            let (number, proto) = port.split_once('/').unwrap_or((port, "tcp"));
            if number.parse::<u16>().is_err() || !matches!(proto, "tcp" | "udp" | "sctp") {
                return Err(invalid("config.ports", format!("{port:?} is not a port such as `8080/tcp`")));
            }
        }
        if spec.config.init {
            let Some(debian) = spec.debian.as_mut() else {
                return Err(invalid(
                    "config.init",
                    "the init is Debian's tini: add a [debian] section (a suite to take it from)".into(),
                ));
            };
            let named = |request: &String| {
                request.split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '-'))).next()
                    == Some(INIT_PACKAGE)
            };
            if !debian.packages.iter().any(named) {
                debian.packages.push(INIT_PACKAGE.into());
            }
            if spec.config.entrypoint.is_empty() && spec.config.cmd.is_empty() {
                return Err(invalid("config.init", "give an entrypoint or cmd for tini to run".into()));
            }
        }
        for (i, step) in spec.runs.iter().enumerate() {
            let field = format!("run[{i}]");
            let ok = match (&step.run, &step.command) {
                (Some(line), None) => !line.trim().is_empty(),
                (None, Some(command)) => command.first().is_some_and(|c| c.starts_with('/')),
                _ => false,
            };
            if !ok {
                return Err(invalid(
                    &field,
                    "give exactly one of `run` (a shell command line) or `command` (a program by absolute path, \
                     then its arguments)"
                        .into(),
                ));
            }
            if step.argv().iter().any(|a| a.contains('\0')) {
                return Err(invalid(&field, "a command cannot hold a NUL byte".into()));
            }
        }
        Ok(spec)
    }
}

impl Spec {
    /// The accounts of the image (checked when the spec was parsed).
    pub fn accounts(&self) -> Accounts {
        Accounts::new(&self.users, &self.groups).unwrap_or_default()
    }

    /// The image config's `uid:gid` (checked when the spec was parsed).
    pub fn image_user(&self) -> String {
        self.accounts().image_user(self.config.user.as_ref()).unwrap_or_else(|_| "0:0".into())
    }

    /// The directories the generated layer makes: the spec's `[dirs]`,
    /// each user's home, and `/tmp` (1777) unless `tmp = false` or
    /// `[dirs]` says otherwise; by path.
    pub fn directories(&self) -> Vec<ResolvedDir> {
        let accounts = self.accounts();
        let mut out: BTreeMap<String, ResolvedDir> = BTreeMap::new();
        if self.tmp {
            out.insert("tmp".into(), ResolvedDir { path: "tmp".into(), mode: 0o1777, uid: 0, gid: 0 });
        }
        for user in accounts.users.iter().filter(|u| u.create_home && u.home != "/") {
            let path = user.home.trim_start_matches('/').to_string();
            out.insert(path.clone(), ResolvedDir { path, mode: 0o750, uid: user.uid, gid: user.gid });
        }
        for (path, dir) in &self.dirs {
            let uid = dir.uid.as_ref().and_then(|u| accounts.uid(u)).unwrap_or(0);
            let gid = match &dir.gid {
                Some(gid) => accounts.gid(gid).unwrap_or(0),
                None => match &dir.uid {
                    Some(IdRef::Name(name)) => accounts.users.iter().find(|u| u.name == *name).map_or(0, |u| u.gid),
                    _ => 0,
                },
            };
            let mode = dir.mode.as_deref().and_then(|m| u32::from_str_radix(m, 8).ok()).unwrap_or(0o755);
            let path = path.trim_start_matches('/').to_string();
            out.insert(path.clone(), ResolvedDir { path, mode, uid, gid });
        }
        out.into_values().collect()
    }

    /// The architectures the spec asks for, in its order; empty when it
    /// names none and the host's is meant.
    pub fn declared_architectures(&self) -> Vec<String> {
        if !self.architectures.is_empty() {
            return self.architectures.clone();
        }
        self.architecture
            .clone()
            .or_else(|| self.debian.as_ref().and_then(|d| d.architecture.clone()))
            .into_iter()
            .collect()
    }

    /// Whether the build writes an image index (several architectures)
    /// rather than one image.
    pub fn is_multi_architecture(&self) -> bool {
        !self.architectures.is_empty()
    }
}

/// A parser's message with each line cut to a few hundred bytes: toml
/// quotes the offending line, which may be megabytes of hostile input.
pub fn bounded_message(message: &str) -> String {
    const LINE_LIMIT: usize = 200;
    let mut out = String::new();
    for line in message.trim_end().lines().take(20) {
        if !out.is_empty() {
            out.push('\n');
        }
        if line.len() > LINE_LIMIT {
            let mut end = LINE_LIMIT;
            while !line.is_char_boundary(end) {
                end -= 1;
            }
            out.push_str(&line[..end]);
            out.push_str(&format!("… ({} bytes)", line.len()));
        } else {
            out.push_str(line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_adds_tini_and_runs_the_entrypoint_under_it() {
        let parse = |text: &str| Spec::parse(text, Path::new("bale.toml"));
        let spec = parse(
            "name = \"x\"\n[debian]\nsuite = \"bookworm\"\npackages = [\"python3\"]\n[config]\nentrypoint = [\"/usr/bin/python3\"]\ninit = true\n",
        )
        .unwrap();
        assert_eq!(spec.debian.as_ref().unwrap().packages, ["python3", "tini"]);
        assert_eq!(spec.config.image_entrypoint(), ["/usr/bin/tini", "--", "/usr/bin/python3"]);
        let pinned = parse(
            "name = \"x\"\n[debian]\nsuite = \"bookworm\"\npackages = [\"tini=0.19.0-1\"]\n[config]\ncmd = [\"/bin/app\"]\ninit = true\n",
        )
        .unwrap();
        assert_eq!(pinned.debian.as_ref().unwrap().packages, ["tini=0.19.0-1"]);
        assert_eq!(pinned.config.image_entrypoint(), ["/usr/bin/tini", "--"]);
        let without_debian = parse("name = \"x\"\n[config]\nentrypoint = [\"/a\"]\ninit = true\n").unwrap_err();
        assert!(without_debian.to_string().contains("config.init: the init is Debian's tini"), "{without_debian}");
        let nothing_to_run =
            parse("name = \"x\"\n[debian]\nsuite = \"bookworm\"\npackages = []\n[config]\ninit = true\n").unwrap_err();
        assert!(nothing_to_run.to_string().contains("entrypoint or cmd"), "{nothing_to_run}");
        let plain = parse("name = \"x\"\n[config]\nentrypoint = [\"/a\"]\n").unwrap();
        assert_eq!(plain.config.image_entrypoint(), ["/a"]);
    }

    #[test]
    fn parses_a_typical_spec() {
        let text = r#"
name = "example.com/hello"

[debian]
suite = "bookworm"
packages = ["busybox-static", "ca-certificates"]

[[local]]
path = "app"
name = "example.com/hello/app"
version = "1.0"

[config]
entrypoint = ["/usr/bin/busybox", "echo"]
cmd = ["hello"]
env = { GREETING = "hi" }
user = 1
ports = ["8080/tcp"]
"#;
        let spec = Spec::parse(text, Path::new("bale.toml")).unwrap();
        assert_eq!(spec.tag, "latest");
        assert_eq!(spec.debian.as_ref().unwrap().packages.len(), 2);
        assert_eq!(spec.locals[0].license, "NOASSERTION");
        assert_eq!(spec.config.user, Some(UserRef::Uid(1)));
        assert_eq!(spec.image_user(), "1:1");
        assert_eq!(spec.directories(), [ResolvedDir { path: "tmp".into(), mode: 0o1777, uid: 0, gid: 0 }]);
    }

    #[test]
    fn users_dirs_and_the_config_user_are_checked() {
        let ok = "name = \"x\"\n[users.app]\nuid = 1000\n[dirs.\"/var/lib/app\"]\nuid = \"app\"\nmode = \"0750\"\n[config]\nuser = \"app\"\n";
        let spec = Spec::parse(ok, Path::new("bale.toml")).unwrap();
        assert_eq!(spec.image_user(), "1000:1000");
        let dirs = spec.directories();
        let paths: Vec<&str> = dirs.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(paths, ["home/app", "tmp", "var/lib/app"]);
        assert_eq!((dirs[2].mode, dirs[2].uid, dirs[2].gid), (0o750, 1000, 1000));
        let no_tmp = Spec::parse("name = \"x\"\ntmp = false\n", Path::new("bale.toml")).unwrap();
        assert!(no_tmp.directories().is_empty());
        for (text, wanted) in [
            ("name = \"x\"\n[config]\nuser = \"ghost\"\n", "config.user: no user is called \"ghost\""),
            ("name = \"x\"\n[users.app]\nuid = 0\n", "users.app: the user root already has uid 0"),
            ("name = \"x\"\n[dirs.\"/a/../b\"]\n", "dirs.\"/a/../b\": give an absolute"),
            ("name = \"x\"\n[dirs.\"/a\"]\nuid = \"ghost\"\n", "dirs.\"/a\".uid: no user"),
            ("name = \"x\"\n[dirs.\"/a\"]\nmode = \"999\"\n", "is not octal"),
            ("name = \"x\"\n[dirs.\"/a\"]\n[files.\"/a\"]\ncontent = \"\"\n", "also a [files] entry"),
        ] {
            let err = Spec::parse(text, Path::new("bale.toml")).unwrap_err().to_string();
            assert!(err.contains(wanted), "{text}: {err}");
        }
    }

    #[test]
    fn unknown_keys_are_errors_that_point_at_the_line() {
        let text = "name = \"x\"\n\n[config]\nentrypoint = [\"/a\"]\nentrypiont = [\"/b\"]\n";
        let err = Spec::parse(text, Path::new("bale.toml")).unwrap_err().to_string();
        assert!(err.contains("bale.toml") && err.contains("line 5") && err.contains("entrypiont"), "{err}");
        let err =
            Spec::parse("name = \"x\"\n[config]\nports = [\"http\"]\n", Path::new("b.toml")).unwrap_err().to_string();
        assert!(err.contains("config.ports"), "{err}");
    }

    #[test]
    fn file_keys_follow_the_path_rules() {
        let parse =
            |key: &str| Spec::parse(&format!("name = \"x\"\n[files.{key}]\ncontent = \"\"\n"), Path::new("s.toml"));
        assert!(parse("\"/etc/app.conf\"").is_ok());
        for (key, why) in [
            ("\"/etc/passwd\\u0000x\"", "NUL"),
            (&format!("\"/etc/{}\"", "n".repeat(256)), "component is 256 bytes"),
            (&format!("\"/{}\"", vec!["d".repeat(200); 21].join("/")), "4220 bytes long"),
        ] {
            let err = parse(key).unwrap_err().to_string();
            assert!(err.contains(why) && err.len() < 600, "{key}: {err}");
        }
        let err = Spec::parse("name = \"x\"\n[files.\"/a\"]\nsource = \"../secret\"\n", Path::new("s.toml"));
        assert!(err.unwrap_err().to_string().contains("below the spec's directory"));
    }

    #[test]
    fn a_huge_wrong_value_gives_a_short_error() {
        let text = format!("name = \"x\"\ntag = [\"{}\"]\n", "v".repeat(10 << 20));
        let err = Spec::parse(&text, Path::new("s.toml")).unwrap_err().to_string();
        assert!(err.len() < 2000 && err.contains("line 2"), "{} bytes: {}", err.len(), &err[..err.len().min(500)]);
    }
}
