use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// bale builds container images as unordered sets of plain,
/// content-addressed packages. A package is an OCI layer plus metadata.
#[derive(Debug, Parser)]
#[command(name = "bale", version, max_term_width = 100)]
#[command(after_help = "The store lives in $BALE_HOME (default: $XDG_DATA_HOME/bale, or ~/.local/share/bale).\n\
With --json, results are one JSON document on stdout and errors one on stderr; see docs/cli-json.md.")]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// Print results as JSON for scripts (no progress bars).
    #[arg(long, global = true)]
    pub json: bool,
    /// The store to use instead of $BALE_HOME.
    #[arg(long, global = true, value_name = "DIR")]
    pub store: Option<PathBuf>,
    /// No progress bars (even on a terminal) and no notices.
    #[arg(long, short, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Pack a directory or a tar file into a package in the store.
    #[command(after_help = "Examples:\n  bale pack ./rootfs --name example.com/tools/app --version 1.2.0\n  \
        bale pack app.tar.gz --name app --version 1.0 --license MIT --json")]
    Pack(PackArgs),
    /// Show a package: id, digests, metadata, and with --files every path.
    #[command(after_help = "REF is an id (name:arch@version), any part of one that names one package\n\
        (hello, hello@1.0, libc6:arm64), or a content or manifest digest (sha256:… or at least 6 hex digits).\n\
        It may also name an image: an OCI layout DIR[:TAG] (bale inspect out/busybox) or a pulled reference\n\
        (bale inspect 127.0.0.1:5000/hello:v1), shown with its platform, layers and the package each is,\n\
        config and referrers (SBOMs).")]
    Inspect {
        /// The package: id, name, or digest (prefix).
        reference: String,
        /// List every entry with type, mode, owner, size and target.
        #[arg(long)]
        files: bool,
    },
    /// List the packages in the store.
    List,
    /// Unpack a package's files, or an image's root filesystem, into a new
    /// (or empty) directory.
    #[command(after_help = "REF is a package (id, name, or digest prefix) or an image: an OCI layout DIR[:TAG] or a\n\
        pulled reference, whose layers are stacked as a runtime stacks them.\n\
        Example:\n  bale unpack out/busybox rootfs")]
    Unpack {
        /// The package or image.
        reference: String,
        /// Destination; must not exist or be empty.
        dest: PathBuf,
        /// Which image of a multi-architecture index (`arm64`).
        #[arg(long = "arch")]
        architecture: Option<String>,
    },
    /// Remove a package from the store's index (its blobs go at the next gc).
    Remove {
        /// The package: id, name, or digest (prefix).
        reference: String,
    },
    /// Build an image from a spec (bale.toml): import and pack its packages,
    /// compose them, and write an OCI image layout.
    #[command(
        after_help = "A spec with `architectures = [\"amd64\", \"arm64\"]` gets an OCI image index of one image\n\
        per architecture, one bale.lock for all, and SBOMs per image (OUTPUT.ARCH.spdx.json).\n\n\
        Example:\n  bale build examples/busybox/bale.toml --output out/busybox\n  \
        sudo umoci unpack --image out/busybox:latest bundle\n  \
        jq '.process.terminal = false' bundle/config.json > config.json && mv config.json bundle/\n  \
        sudo runc run --bundle bundle demo"
    )]
    Build(BuildArgs),
    /// Build a package from a recipe (*.recipe.toml) in bale's sandbox: no
    /// network, a read-only root of the locked build packages, uid 1000.
    #[command(after_help = "Every input is pinned in the lock beside the recipe (hello.recipe.toml -> \
        hello.recipe.lock);\n\
        the package's provenance records them all. Recipes are documented in docs/recipes.md.\n\n\
        Example:\n  bale make examples/recipes/hello/hello.recipe.toml\n  \
        bale make examples/recipes/hello/hello.recipe.toml --locked --json")]
    Make(MakeArgs),
    /// Build a package `bale make` made again, from the recipe, lock and
    /// sources it carries, in a fresh sandbox; exit 0 only if identical.
    #[command(after_help = "Every input is taken by the digest the lock pins; the build root is unpacked afresh.\n\
        On a difference it lists the paths only one side has and, for each differing file, the first differing\n\
        byte, the ELF sections or text lines that differ, and the likely cause (the build's time, the CPU count).\n\
        Exit status: 0 identical, 1 different or failed.\n\n\
        With --attest KEY, an identical rebuild is attested: a signed SLSA provenance statement about the\n\
        package's digests, kept beside it (bale verify counts it; see docs/trust.md).\n\n\
        Example:\n  bale make examples/recipes/hello/hello.recipe.toml\n  bale rebuild example.com/hello\n  \
        bale rebuild example.com/hello --attest rebuilder.key")]
    Rebuild {
        /// The package: id, name, or digest (prefix).
        reference: String,
        /// Sign an attestation of an identical rebuild with this private key.
        #[arg(long, value_name = "KEY")]
        attest: Option<PathBuf>,
    },
    /// Resolve a spec's packages and pin them all in bale.lock (beside the spec).
    #[command(after_help = "With --check, nothing is written: it lists what `bale lock` would change and exits 1\n\
        when the lock is behind what the archive resolves to today (or missing).")]
    Lock {
        /// The spec file.
        #[arg(default_value = "bale.toml")]
        spec: PathBuf,
        /// Only say whether bale.lock is current with the archive.
        #[arg(long)]
        check: bool,
    },
    /// Re-resolve one package of bale.lock (and what its new version needs),
    /// keeping every other package as locked.
    Update {
        /// The package to update, by name.
        package: String,
        /// The spec file.
        #[arg(default_value = "bale.toml")]
        spec: PathBuf,
    },
    /// Push an image (an OCI layout `bale build` wrote) with its SBOMs to
    /// any OCI registry; only blobs the registry lacks are sent.
    #[command(after_help = "IMAGE is a layout directory, optionally `DIR:TAG`. REF is host[:port]/repository[:tag].\n\
        Registries on 127.0.0.1/localhost are spoken to over http, others over https.\n\
        Credentials come from $REGISTRY_AUTH_FILE, containers' auth.json or ~/.docker/config.json.")]
    Push {
        /// The OCI layout directory, optionally `DIR:TAG`.
        image: String,
        /// Where to: host[:port]/repository[:tag].
        reference: String,
    },
    /// Pull an image from a registry into the store (every blob checked by
    /// digest), optionally writing it out as an OCI layout.
    Pull {
        /// host[:port]/repository[:tag|@sha256:…]
        reference: String,
        /// Also write the image here as an OCI layout (tagged as in REF).
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// Refuse an image that does not meet this trust policy, before
        /// anything is stored [default: ~/.config/bale/policy.toml when it
        /// exists].
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
    },
    /// Serve the store as an OCI registry (distribution-spec v1.1: pull,
    /// push, tags, catalog, referrers), until SIGINT or SIGTERM.
    #[command(after_help = "Blobs are the store's: a package's layer is stored once however many images and\n\
        repositories hold it. Each request is logged on stderr.\n\
        Example:\n  bale serve --listen 127.0.0.1:5000 &\n  bale push out/busybox 127.0.0.1:5000/busybox:latest\n\
        Several nodes sharing S3-compatible storage and PostgreSQL (docs/serve.md#many-machines):\n  \
        AWS_ENDPOINT=http://127.0.0.1:8333 AWS_ALLOW_HTTP=true bale serve --blobs s3://bale \\\n    \
        --index postgres://bale@127.0.0.1:5432/bale --listen 127.0.0.1:5001")]
    Serve {
        /// The address to listen on (port 0 picks a free one).
        #[arg(long, default_value = "127.0.0.1:5000")]
        listen: std::net::SocketAddr,
        /// Who may pull and push (docs/serve.md#auth); without it, anyone
        /// on this machine may, and only loopback addresses are served.
        #[arg(long, value_name = "FILE")]
        auth: Option<PathBuf>,
        /// Make the registry's index afresh from its journal first (a lost
        /// or damaged registry/index.sqlite).
        #[arg(long)]
        reindex: bool,
        /// Keep blobs in S3-compatible object storage, s3://BUCKET[/PREFIX],
        /// instead of the store (endpoint, region and keys from AWS_*).
        #[arg(long, value_name = "URL", requires = "index")]
        blobs: Option<String>,
        /// Keep the index and upload state in PostgreSQL,
        /// postgres://USER@HOST:PORT/DATABASE (password from PGPASSWORD).
        #[arg(long, value_name = "URL", requires = "blobs")]
        index: Option<String>,
        /// Serve HTTPS with this certificate chain (PEM, the server's
        /// certificate first).
        #[arg(long, value_name = "FILE", requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The certificate's private key (PEM).
        #[arg(long, value_name = "FILE", requires = "tls_cert")]
        tls_key: Option<PathBuf>,
    },
    /// Ask a registry that `bale serve` runs which images hold a package,
    /// what one image holds, or which images a key signed (from the SBOMs
    /// and signatures indexed at push time).
    #[command(
        after_help = "Examples:\n  bale query --registry 127.0.0.1:5000 --package libssl3 --version '<< 3.0.13-1'\n  \
        bale query --registry 127.0.0.1:5000 --source openssl\n  \
        bale query --registry 127.0.0.1:5000 --image app/web:v1\n  \
        bale query --registry 127.0.0.1:5000 --signed-by KEY_ID\n\
        Versions are compared in Debian order; with --source, the source package's version."
    )]
    Query {
        /// host[:port] of the registry.
        #[arg(long)]
        registry: String,
        /// Images holding a package of this name.
        #[arg(long, group = "what")]
        package: Option<String>,
        /// Images holding a package built from this source package.
        #[arg(long, group = "what")]
        source: Option<String>,
        /// Images holding exactly this package id.
        #[arg(long, group = "what")]
        id: Option<String>,
        /// Images holding a package with this content digest (sha256:…).
        #[arg(long, group = "what")]
        content: Option<String>,
        /// What the image REPOSITORY[:TAG|@DIGEST] holds.
        #[arg(long, group = "what")]
        image: Option<String>,
        /// Only versions meeting this bound: `<< 3.0.13-1`, `>= 2`.
        #[arg(long)]
        version: Option<String>,
        /// Images carrying a signature or attestation naming this key (the
        /// key id `bale key` prints). What a bundle claims, not checked:
        /// `bale pull --policy` verifies.
        #[arg(long, group = "what", value_name = "KEY_ID")]
        signed_by: Option<String>,
    },
    /// Match security advisories (OSV JSON, or the Debian security
    /// tracker's JSON) against every image a `bale serve` registry holds;
    /// exits 1 when an image is affected.
    #[command(after_help = "Advisories are matched on source package names, versions in Debian order, and the\n\
        Debian release each package came from. Example:\n  \
        bale audit --registry 127.0.0.1:5000 --advisories debian-security.json")]
    Audit {
        /// host[:port] of the registry.
        #[arg(long)]
        registry: String,
        /// The advisory file.
        #[arg(long, value_name = "FILE")]
        advisories: PathBuf,
    },
    /// Print the SBOM of an image that `bale build` wrote (an OCI layout).
    #[command(after_help = "IMAGE is a layout directory, optionally with `:TAG` (default: latest).\n\
        Example:\n  bale sbom out/busybox --format cyclonedx > busybox.cdx.json")]
    Sbom {
        /// The OCI layout directory, optionally `DIR:TAG`.
        image: String,
        #[arg(long, value_enum, default_value_t = SbomFormatArg::Spdx)]
        format: SbomFormatArg,
        /// Which image of a multi-architecture index (`arm64`).
        #[arg(long = "arch")]
        architecture: Option<String>,
    },
    /// Import packages from a source, verified, with their dependencies.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Look things up in a Debian archive without importing.
    #[command(subcommand)]
    Debian(DebianCommand),
    /// Check and clean the store.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Make signing keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Sign a package in the store (its id and artifact digest) or the
    /// images of an OCI layout; the signature is kept beside them (in the
    /// store, in the layout), outside their content.
    #[command(
        after_help = "REF is an OCI layout DIR[:TAG] or a package in the store. Images can also be signed as they are\n\
        built: bale build SPEC --output DIR --sign KEY.\n\n\
        Example:\n  bale sign example.com/hello --key release.key\n  \
        bale verify example.com/hello --key release.key.pub\n  \
        bale sign out/busybox --key release.key"
    )]
    Sign {
        /// The package (id, name, or digest prefix) or the OCI layout.
        reference: String,
        /// The private key (`bale key generate`).
        #[arg(long, value_name = "KEY")]
        key: PathBuf,
        /// The name to sign an image as that does not name itself (one
        /// bale did not build), e.g. example.com/app.
        #[arg(long)]
        name: Option<String>,
    },
    /// Check an image's or a package's signatures against public keys;
    /// exit 0 only when every image of the reference (or the package) is
    /// signed by one of them.
    #[command(
        after_help = "REF is an OCI layout DIR[:TAG], a pulled reference, or a package in the store. Each signature must verify with a\n\
        given key over a statement that names the image (as its manifest names itself) and its digest.\n\n\
        Example:\n  bale build examples/busybox/bale.toml --output out/busybox --sign release.key\n  \
        bale verify out/busybox --key release.key.pub"
    )]
    Verify {
        /// The image.
        reference: String,
        /// A trusted public key (FILE.pub of `bale key generate`); give it
        /// more than once to trust several.
        #[arg(long = "key", value_name = "FILE", conflicts_with = "policy")]
        keys: Vec<PathBuf>,
        /// Decide by a trust policy instead [default with neither:
        /// ~/.config/bale/policy.toml].
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Make a user for `bale serve --auth`: prints a new token (the user's
    /// password) and the lines to add to the auth file, which keeps only
    /// the token's sha256.
    #[command(
        after_help = "Example:\n  bale key token --name ci   # then add the printed [[user]] lines to auth.toml\n  \
        podman login 127.0.0.1:5000 -u ci   # the token is the password"
    )]
    Token {
        /// The user name.
        #[arg(long)]
        name: String,
    },
    /// Make a signing key: the private key in FILE (mode 0600) and its
    /// public key in FILE.pub, both PEM; prints the key id (the sha256 of
    /// the public key).
    #[command(after_help = "Neither file may exist: bale never replaces a key.\n\n\
        Example:\n  bale key generate --out keys/release.key\n  \
        bale key generate --out keys/rebuilder.key --algorithm ed25519 --json")]
    Generate {
        /// Where the private key goes; the public key goes to FILE.pub.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// ECDSA P-256 with SHA-256 (what cosign verifies), or Ed25519.
        #[arg(long, value_enum, default_value_t = KeyAlgorithm::EcdsaP256)]
        algorithm: KeyAlgorithm,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KeyAlgorithm {
    EcdsaP256,
    Ed25519,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The spec file.
    #[arg(default_value = "bale.toml")]
    pub spec: PathBuf,
    /// Where to write the image: a directory for `oci` (replaced if it is
    /// an OCI layout), a file for `oci-archive`.
    #[arg(long, short)]
    pub output: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ImageFormat::Oci)]
    pub format: ImageFormat,
    /// Build exactly what bale.lock pins; fail if the spec changed since.
    #[arg(long)]
    pub locked: bool,
    /// Compression of layers bale creates.
    #[arg(long, value_enum, default_value_t = CompressionArg::Gzip)]
    pub compression: CompressionArg,
    /// Sign each image with this private key (`bale key generate`); the
    /// signature is attached as an OCI referrer, beside the SBOMs.
    #[arg(long, value_name = "KEY")]
    pub sign: Option<PathBuf>,
    /// Refuse to build unless every package of the image meets this trust
    /// policy [default: the spec's [trust] policy, else
    /// ~/.config/bale/policy.toml when it exists].
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Import Debian packages and everything they depend on, verified from
    /// the archive's signed InRelease down to each .deb's sha256.
    #[command(after_help = "The mirror, suite and components default to the host's apt sources\n\
        (/etc/apt/sources.list and /etc/apt/sources.list.d), the keyring to the source's\n\
        Signed-By or the Debian archive keyring.\n\n\
        Examples:\n  bale import debian python3-minimal\n  \
        bale import debian busybox-static 'libc6 (>= 2.36)' --suite bookworm --json")]
    Debian(DebianImportArgs),
}

#[derive(Debug, Subcommand)]
pub enum DebianCommand {
    /// Print what the archive's index says about a package.
    Show {
        /// Package name.
        name: String,
        #[command(flatten)]
        archive: ArchiveArgs,
    },
}

#[derive(Debug, Args)]
pub struct DebianImportArgs {
    /// Packages to import: names, optionally with a version constraint
    /// such as `libc6 (>= 2.36)`.
    #[arg(required = true)]
    pub packages: Vec<String>,
    #[command(flatten)]
    pub archive: ArchiveArgs,
    /// Keep documentation, man pages, info pages and locales.
    #[arg(long)]
    pub keep_docs: bool,
    /// Compression of the layer blobs.
    #[arg(long, value_enum, default_value_t = CompressionArg::Gzip)]
    pub compression: CompressionArg,
}

#[derive(Debug, Args)]
pub struct ArchiveArgs {
    /// Suite or codename, such as `bookworm` [default: the first suite of the host's apt sources].
    #[arg(long)]
    pub suite: Option<String>,
    /// Mirror URL [default: from the host's apt sources].
    #[arg(long)]
    pub mirror: Option<String>,
    /// Component to read (repeatable) [default: from the host's apt sources, else main].
    #[arg(long = "component", value_name = "COMPONENT")]
    pub components: Vec<String>,
    /// Architecture [default: this machine's].
    #[arg(long = "arch")]
    pub architecture: Option<String>,
    /// OpenPGP keyring the InRelease must be signed with.
    #[arg(long, value_name = "FILE")]
    pub keyring: Option<PathBuf>,
    /// Accept a Release past its Valid-Until date (snapshot archives).
    #[arg(long)]
    pub allow_expired: bool,
    /// Read only the main suite, not the SUITE-updates and SUITE-security suites the host's apt sources list.
    #[arg(long)]
    pub no_updates: bool,
}

#[derive(Debug, Args)]
pub struct MakeArgs {
    /// The recipe file.
    pub recipe: PathBuf,
    /// Refuse a recipe that drifted from its lock instead of re-pinning.
    #[arg(long)]
    pub locked: bool,
    /// Compression of the package's layer blob.
    #[arg(long, value_enum, default_value_t = CompressionArg::Gzip)]
    pub compression: CompressionArg,
    /// Sign the package (and each split) with this private key.
    #[arg(long, value_name = "KEY")]
    pub sign: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PackArgs {
    /// A directory (its contents become the package) or a tar file (plain, gzip or zstd).
    pub path: PathBuf,
    /// Package name: `hello`, or rooted in DNS like `example.com/tools/app`.
    #[arg(long)]
    pub name: String,
    /// Package version, such as `1.2.0` or `2:1.0-3`.
    #[arg(long)]
    pub version: String,
    /// SPDX licence expression of the content.
    #[arg(long, default_value = "NOASSERTION")]
    pub license: String,
    /// What the content runs on (`amd64`, `arm64`, …): set it when the
    /// package holds binaries, so that no image for another architecture
    /// takes it; `all` is content that runs anywhere.
    #[arg(long = "arch", default_value = "all")]
    pub architecture: String,
    /// Compression of the layer blob.
    #[arg(long, value_enum, default_value_t = CompressionArg::Gzip)]
    pub compression: CompressionArg,
    /// Keep the permission bits the source has instead of normalising them
    /// (0755 for directories and executables, 0644 for other files).
    #[arg(long)]
    pub preserve_modes: bool,
    /// With --preserve-modes, also keep setuid, setgid and sticky bits.
    #[arg(long, requires = "preserve_modes")]
    pub preserve_special_bits: bool,
    /// Keep the numeric owners the source has instead of 0:0.
    #[arg(long)]
    pub preserve_owners: bool,
    /// Keep extended attributes a source tar declares (file capabilities,
    /// say); by default they are dropped. Directories are read without xattrs.
    #[arg(long)]
    pub keep_xattrs: bool,
    /// Store this content even if the id already names different content.
    #[arg(long)]
    pub replace: bool,
    /// Refuse a package whose files add up to more than this many bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 8 << 30)]
    pub max_size: u64,
    /// Refuse a package with more entries than this.
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    pub max_entries: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SbomFormatArg {
    /// SPDX 2.3 JSON.
    Spdx,
    /// CycloneDX 1.5 JSON.
    Cyclonedx,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImageFormat {
    /// An OCI image layout directory.
    Oci,
    /// The same layout as one tar file.
    OciArchive,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CompressionArg {
    Gzip,
    Zstd,
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Re-hash every blob and check every reference; exits 1 if anything is wrong.
    Verify {
        /// Also decompress every package's layer and check it against the
        /// package's content digest (reads everything; slower).
        #[arg(long)]
        deep: bool,
    },
    /// Remove blobs no package references, and leftovers of interrupted writes.
    #[command(after_help = "A store that bale serve serves keeps what its repositories link, and may be collected \
        beside the running server.\nThe shared storage of several bale serve nodes (docs/serve.md#many-machines) is \
        collected with --blobs and --index, beside running nodes:\n  \
        bale store gc --blobs s3://bale --index postgres://bale@127.0.0.1:5432/bale")]
    Gc {
        /// Report what would be removed without removing it.
        #[arg(long)]
        dry_run: bool,
        /// Collect a shared deployment's object storage instead
        /// (s3://BUCKET[/PREFIX]; endpoint and keys from AWS_*).
        #[arg(long, value_name = "URL", requires = "index")]
        blobs: Option<String>,
        /// The shared deployment's PostgreSQL, which says what is named.
        #[arg(long, value_name = "URL", requires = "blobs")]
        index: Option<String>,
    },
    /// Print where the store is.
    Path,
    /// Rewrite a store of an older bale, whose package ids name no
    /// architecture, for this one (only the index changes).
    Migrate,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
