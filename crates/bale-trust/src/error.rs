use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("{}: {reason}", path.display())]
    KeyFile { path: PathBuf, reason: String },
    #[error("reading {}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("writing {}", path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error("{} exists; bale never replaces a key", path.display())]
    KeyExists { path: PathBuf },
    #[error("the system's random number generator failed")]
    Random,
    #[error("{reason}")]
    Envelope { reason: String },
    #[error("the trust policy {}: {reason}", path.display())]
    Policy { path: PathBuf, reason: String },
}

impl TrustError {
    /// What to do about it, for people.
    pub fn help(&self) -> Option<&'static str> {
        match self {
            Self::KeyFile { .. } => Some(
                "`bale key generate --out FILE` writes a private key FILE and its public key FILE.pub (PEM); pass \
                 the private one to sign and the .pub to verify",
            ),
            Self::KeyExists { .. } => {
                Some("choose another --out, or remove the old key yourself if it is no longer used")
            }
            Self::Envelope { .. } => Some("the signature was not made by bale or was changed on the way; sign again"),
            Self::Policy { .. } => Some("docs/trust.md describes the policy file: [keys.NAME] and [[rule]] tables"),
            Self::Read { .. } | Self::Write { .. } | Self::Random => None,
        }
    }
}
