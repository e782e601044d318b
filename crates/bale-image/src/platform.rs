//! Debian architecture names and the OCI platforms they run on.

pub use bale_store::oci::Platform;

/// Debian's architecture names for OCI platforms.
pub trait DebianPlatform: Sized {
    fn of_debian(architecture: &str) -> Option<Self>;
}

impl DebianPlatform for Platform {
    /// The platform of a Debian architecture. The OCI spec names
    /// architectures as Go does (`GOARCH`), and asks for a variant where
    /// one architecture has several (`arm/v7` for armhf, `arm/v5` for
    /// armel; arm64's is `v8`, which the spec lists as the usual value).
    fn of_debian(architecture: &str) -> Option<Self> {
        let (arch, variant) = match architecture {
            "amd64" => ("amd64", None),
            "arm64" => ("arm64", Some("v8")),
            "armhf" => ("arm", Some("v7")),
            "armel" => ("arm", Some("v5")),
            "i386" => ("386", None),
            "ppc64el" => ("ppc64le", None),
            "s390x" => ("s390x", None),
            "mips64el" => ("mips64le", None),
            "riscv64" => ("riscv64", None),
            "loong64" => ("loong64", None),
            _ => return None,
        };
        Some(Self { architecture: arch.into(), os: "linux".into(), variant: variant.map(str::to_string) })
    }
}

/// Debian's multiarch directory name for an architecture
/// (`lib/x86_64-linux-gnu`), as glibc's built-in library paths use it.
pub fn multiarch_triplet(architecture: &str) -> Option<&'static str> {
    Some(match architecture {
        "amd64" => "x86_64-linux-gnu",
        "arm64" => "aarch64-linux-gnu",
        "armhf" => "arm-linux-gnueabihf",
        "armel" => "arm-linux-gnueabi",
        "i386" => "i386-linux-gnu",
        "ppc64el" => "powerpc64le-linux-gnu",
        "s390x" => "s390x-linux-gnu",
        "mips64el" => "mips64el-linux-gnuabi64",
        "riscv64" => "riscv64-linux-gnu",
        "loong64" => "loongarch64-linux-gnu",
        _ => return None,
    })
}

/// The architectures an image can be built for, for error messages.
pub const KNOWN_ARCHITECTURES: &str = "amd64, arm64, armhf, armel, i386, ppc64el, s390x, mips64el, riscv64, loong64";

#[cfg(test)]
mod tests {
    use super::{DebianPlatform, Platform};

    #[test]
    fn debian_names_map_to_go_names() {
        assert_eq!(Platform::of_debian("amd64").unwrap().architecture, "amd64");
        let arm = Platform::of_debian("armhf").unwrap();
        assert_eq!((arm.architecture.as_str(), arm.variant.as_deref()), ("arm", Some("v7")));
        assert_eq!(Platform::of_debian("i386").unwrap().architecture, "386");
        assert!(Platform::of_debian("all").is_none());
    }
}
