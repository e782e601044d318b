//! The first link of the chain: an `InRelease` file is believed only if a
//! key in the keyring signed it. Pure Rust OpenPGP (rPGP); no gpg.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use pgp::composed::{CleartextSignedMessage, Deserializable, SignedPublicKey};
use pgp::types::KeyDetails;

#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("cannot read the keyring {}: {source}", path.display())]
    KeyringIo { path: PathBuf, source: std::io::Error },
    #[error("the keyring {} holds no usable OpenPGP public key ({reason})", path.display())]
    EmptyKeyring { path: PathBuf, reason: String },
    #[error("{what} is not signed (no `-----BEGIN PGP SIGNED MESSAGE-----`); bale only trusts signed Release files")]
    NotSigned { what: String },
    #[error("{what} is not a well-formed OpenPGP signed message: {reason}")]
    Malformed { what: String, reason: String },
    #[error("{what} is signed only by keys that are not in the keyring (issuers: {})", issuers.join(", "))]
    UnknownSigner { what: String, issuers: Vec<String> },
    #[error("{what} carries a BAD signature by key {key}: the file was altered after signing")]
    BadSignature { what: String, key: String },
}

impl TrustError {
    /// What to do about it, for people.
    pub fn help(&self) -> &'static str {
        match self {
            Self::BadSignature { .. } => {
                "nothing was imported: the mirror served data altered after signing; try again later or another mirror"
            }
            Self::UnknownSigner { .. } => {
                "nothing was imported: pass --keyring with the archive's signing key (for Debian, debian-archive-keyring)"
            }
            Self::NotSigned { .. } => "nothing was imported: use a mirror that publishes a signed InRelease",
            _ => "check the keyring given with --keyring (or the Signed-By of the apt source)",
        }
    }
}

/// The keys an archive may be signed with.
#[derive(Debug)]
pub struct Keyring {
    keys: Vec<SignedPublicKey>,
    pub path: PathBuf,
}

impl Keyring {
    /// Reads a keyring in binary (`.gpg`) or ASCII-armored (`.asc`) form,
    /// holding any number of keys.
    pub fn load(path: &Path) -> Result<Self, TrustError> {
        // A keyring a spec names may be anything: a regular file, bounded.
        let bytes = bale_fileset::safe_fs::read_regular(path, 64 << 20)
            .map_err(|source| TrustError::KeyringIo { path: path.to_path_buf(), source })?;
        Self::from_bytes(&bytes, path)
    }

    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self, TrustError> {
        let empty = |reason: String| TrustError::EmptyKeyring { path: path.to_path_buf(), reason };
        let (keys, _) =
            SignedPublicKey::from_reader_many(Cursor::new(bytes.to_vec())).map_err(|e| empty(e.to_string()))?;
        let mut out = Vec::new();
        // A keyring may hold keys this library cannot use; skip those.
        out.extend(keys.flatten());
        if out.is_empty() {
            return Err(empty("nothing parsed".into()));
        }
        Ok(Self { keys: out, path: path.to_path_buf() })
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Fingerprints of the primary keys, upper-case hex.
    pub fn fingerprints(&self) -> Vec<String> {
        self.keys.iter().map(|k| hex_upper(k.primary_key.fingerprint().as_bytes())).collect()
    }
}

/// A verified `InRelease`: the signed text and who signed it.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The signed content with `\n` line endings.
    pub text: String,
    /// Fingerprint of the primary key of each good signature.
    pub signers: Vec<String>,
}

/// Verifies a clearsigned document (`InRelease`). At least one signature
/// must be good and made by a key of `keyring`; a signature by a keyring
/// key that does not verify fails the whole document (as apt does).
/// Signatures by unknown keys are ignored.
pub fn verify_clearsigned(document: &str, keyring: &Keyring, what: &str) -> Result<Verified, TrustError> {
    if !document.trim_start().starts_with("-----BEGIN PGP SIGNED MESSAGE-----") {
        return Err(TrustError::NotSigned { what: what.to_string() });
    }
    let (message, _) = CleartextSignedMessage::from_string(document)
        .map_err(|e| TrustError::Malformed { what: what.to_string(), reason: e.to_string() })?;
    let signed = message.signed_text();
    let mut signers = Vec::new();
    let mut issuers = Vec::new();
    for signature in message.signatures() {
        let ids: Vec<Vec<u8>> = signature
            .issuer_key_id()
            .iter()
            .map(|id| id.as_ref().to_vec())
            .chain(signature.issuer_fingerprint().iter().map(|fp| fp.as_bytes().to_vec()))
            .collect();
        issuers.extend(ids.iter().map(|id| hex_upper(id)));
        let mut matched = false;
        for key in &keyring.keys {
            let primary = hex_upper(key.primary_key.fingerprint().as_bytes());
            if names_key(&ids, key.primary_key.legacy_key_id().as_ref(), key.primary_key.fingerprint().as_bytes()) {
                matched = true;
                if signature.verify(&key.primary_key, signed.as_bytes()).is_ok() {
                    signers.push(primary.clone());
                    continue;
                }
                return Err(TrustError::BadSignature { what: what.to_string(), key: primary });
            }
            for sub in &key.public_subkeys {
                if names_key(&ids, sub.key.legacy_key_id().as_ref(), sub.key.fingerprint().as_bytes()) {
                    matched = true;
                    if signature.verify(&sub.key, signed.as_bytes()).is_ok() {
                        signers.push(primary.clone());
                    } else {
                        return Err(TrustError::BadSignature { what: what.to_string(), key: primary });
                    }
                }
            }
        }
        let _ = matched;
    }
    if signers.is_empty() {
        issuers.sort();
        issuers.dedup();
        return Err(TrustError::UnknownSigner { what: what.to_string(), issuers });
    }
    signers.sort();
    signers.dedup();
    Ok(Verified { text: signed.replace("\r\n", "\n"), signers })
}

fn names_key(ids: &[Vec<u8>], key_id: &[u8], fingerprint: &[u8]) -> bool {
    ids.iter().any(|id| id.as_slice() == key_id || id.as_slice() == fingerprint)
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}
