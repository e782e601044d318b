//! Signing keys: ECDSA P-256 with SHA-256 (what cosign and Sigstore
//! verify) or Ed25519, made and used by `ring`. A private key is PKCS#8 in
//! PEM (`PRIVATE KEY`), a public key SubjectPublicKeyInfo in PEM (`PUBLIC
//! KEY`), and a key's id is the sha256 of its public key's DER bytes.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};

use crate::TrustError;

/// The DER prefix of a P-256 public key's SubjectPublicKeyInfo, before
/// the 65-byte uncompressed point: the algorithm id-ecPublicKey with the
/// curve prime256v1, and the BIT STRING header.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce,
    0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];
/// The same for Ed25519 (id-Ed25519), before the 32-byte key.
const ED25519_SPKI_PREFIX: [u8; 12] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

/// PKCS#8 v1 of an Ed25519 key, before its 32-byte seed (RFC 8410).
const ED25519_PKCS8_V1_PREFIX: [u8; 16] =
    [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
/// Where the seed is in ring's PKCS#8 v2 document.
const ED25519_V2_SEED: std::ops::Range<usize> = 16..48;

/// The largest key file read.
const MAX_KEY_FILE: u64 = 64 << 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Algorithm {
    EcdsaP256,
    Ed25519,
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Self::EcdsaP256 => "ecdsa-p256",
            Self::Ed25519 => "ed25519",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// sha256 of a public key's DER, in lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct KeyId(pub String);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A public key that verifies signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub algorithm: Algorithm,
    /// The SubjectPublicKeyInfo DER.
    der: Vec<u8>,
}

impl PublicKey {
    fn from_raw(algorithm: Algorithm, raw: &[u8]) -> Self {
        let prefix: &[u8] = match algorithm {
            Algorithm::EcdsaP256 => &P256_SPKI_PREFIX,
            Algorithm::Ed25519 => &ED25519_SPKI_PREFIX,
        };
        Self { algorithm, der: [prefix, raw].concat() }
    }

    /// A key from its SubjectPublicKeyInfo DER; only the two algorithms
    /// bale signs with are taken.
    pub fn from_der(der: &[u8]) -> Option<Self> {
        if der.len() == P256_SPKI_PREFIX.len() + 65 && der.starts_with(&P256_SPKI_PREFIX) && der[26] == 0x04 {
            Some(Self { algorithm: Algorithm::EcdsaP256, der: der.to_vec() })
        } else if der.len() == ED25519_SPKI_PREFIX.len() + 32 && der.starts_with(&ED25519_SPKI_PREFIX) {
            Some(Self { algorithm: Algorithm::Ed25519, der: der.to_vec() })
        } else {
            None
        }
    }

    /// A key from PEM text (`-----BEGIN PUBLIC KEY-----`).
    pub fn from_pem(text: &str, path: &Path) -> Result<Self, TrustError> {
        let der = pem_body(text, "PUBLIC KEY").ok_or_else(|| TrustError::KeyFile {
            path: path.to_path_buf(),
            reason: "it holds no PEM block `PUBLIC KEY`".into(),
        })?;
        Self::from_der(&der).ok_or_else(|| TrustError::KeyFile {
            path: path.to_path_buf(),
            reason: "it is not an ECDSA P-256 or Ed25519 public key".into(),
        })
    }

    /// Reads a public key file (a regular file, bounded, no link followed
    /// at its name).
    pub fn load(path: &Path) -> Result<Self, TrustError> {
        Self::from_pem(&read_key_file(path)?, path)
    }

    pub fn der(&self) -> &[u8] {
        &self.der
    }

    pub fn to_pem(&self) -> String {
        pem("PUBLIC KEY", &self.der)
    }

    pub fn id(&self) -> KeyId {
        KeyId(bale_fileset::sha256_bytes(&self.der).hex())
    }

    /// Whether `signature` is this key's over `message`. ECDSA signatures
    /// are ASN.1 DER, as cosign writes them.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let raw = match self.algorithm {
            Algorithm::EcdsaP256 => &self.der[P256_SPKI_PREFIX.len()..],
            Algorithm::Ed25519 => &self.der[ED25519_SPKI_PREFIX.len()..],
        };
        let algorithm: &dyn signature::VerificationAlgorithm = match self.algorithm {
            Algorithm::EcdsaP256 => &signature::ECDSA_P256_SHA256_ASN1,
            Algorithm::Ed25519 => &signature::ED25519,
        };
        UnparsedPublicKey::new(algorithm, raw).verify(message, signature).is_ok()
    }
}

enum Pair {
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// A private key that signs.
pub struct SigningKey {
    pair: Pair,
    public: PublicKey,
    rng: SystemRandom,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({} {})", self.public.algorithm, self.public.id())
    }
}

impl SigningKey {
    /// A new key, and its PKCS#8 DER (to be written once, to a private file).
    pub fn generate(algorithm: Algorithm) -> Result<(Self, Vec<u8>), TrustError> {
        let rng = SystemRandom::new();
        let pkcs8 = match algorithm {
            Algorithm::EcdsaP256 => EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
                .map_err(|_| TrustError::Random)?,
            Algorithm::Ed25519 => Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| TrustError::Random)?,
        };
        let der = match algorithm {
            Algorithm::EcdsaP256 => pkcs8.as_ref().to_vec(),
            // ring writes PKCS#8 v2 (the public key too), which OpenSSL 3.0
            // does not read; v1 holds the seed alone and every tool reads it.
            Algorithm::Ed25519 => {
                let v2 = pkcs8.as_ref();
                let seed = v2.get(ED25519_V2_SEED).ok_or(TrustError::Random)?;
                [&ED25519_PKCS8_V1_PREFIX[..], seed].concat()
            }
        };
        let key = Self::from_pkcs8(&der).ok_or(TrustError::Random)?;
        Ok((key, der))
    }

    /// A key from PKCS#8 DER of either algorithm.
    pub fn from_pkcs8(der: &[u8]) -> Option<Self> {
        let rng = SystemRandom::new();
        if let Ok(pair) = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, der, &rng) {
            let public = PublicKey::from_raw(Algorithm::EcdsaP256, pair.public_key().as_ref());
            return Some(Self { pair: Pair::Ecdsa(pair), public, rng });
        }
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).ok()?;
        let public = PublicKey::from_raw(Algorithm::Ed25519, pair.public_key().as_ref());
        Some(Self { pair: Pair::Ed25519(pair), public, rng })
    }

    /// Reads a private key file written by [`write_key_pair`] (or any
    /// unencrypted PKCS#8 PEM of the two algorithms).
    pub fn load(path: &Path) -> Result<Self, TrustError> {
        let text = read_key_file(path)?;
        let der = pem_body(&text, "PRIVATE KEY").ok_or_else(|| TrustError::KeyFile {
            path: path.to_path_buf(),
            reason: "it holds no PEM block `PRIVATE KEY` (an unencrypted PKCS#8 key)".into(),
        })?;
        Self::from_pkcs8(&der).ok_or_else(|| TrustError::KeyFile {
            path: path.to_path_buf(),
            reason: "it is not an ECDSA P-256 or Ed25519 private key".into(),
        })
    }

    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, TrustError> {
        match &self.pair {
            Pair::Ecdsa(pair) => Ok(pair.sign(&self.rng, message).map_err(|_| TrustError::Random)?.as_ref().to_vec()),
            Pair::Ed25519(pair) => Ok(pair.sign(message).as_ref().to_vec()),
        }
    }
}

/// Where `bale key generate --out FILE` puts the public key: `FILE.pub`.
pub fn public_key_path(private: &Path) -> PathBuf {
    let mut name = private.as_os_str().to_os_string();
    name.push(".pub");
    PathBuf::from(name)
}

/// Makes a key and writes it: the private key to `private` (mode 0600)
/// and the public one beside it ([`public_key_path`], 0644). Neither file
/// may exist; each is written under a temporary name and renamed into
/// place without replacing anything, so a key is never overwritten and a
/// planted link is never written through.
pub fn write_key_pair(private: &Path, algorithm: Algorithm) -> Result<PublicKey, TrustError> {
    let public_path = public_key_path(private);
    let (key, der) = SigningKey::generate(algorithm)?;
    let public = key.public().clone();
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| TrustError::Write { path, source }
    };
    let (private_dir, private_name) = bale_fileset::safe_fs::open_parent(private).map_err(io(private))?;
    let (public_dir, public_name) = bale_fileset::safe_fs::open_parent(&public_path).map_err(io(&public_path))?;
    for (dir, name, path) in [(&private_dir, &private_name, private), (&public_dir, &public_name, &public_path)] {
        if dir.entry_meta(name).is_ok() {
            return Err(TrustError::KeyExists { path: path.to_path_buf() });
        }
    }
    let place = |dir: &bale_fileset::safe_fs::Dir, name: &str, path: &Path, text: &str, mode: u32| {
        let (temp, mut file) = dir.create_temp(name, mode).map_err(io(path))?;
        let written = (|| {
            std::io::Write::write_all(&mut file, text.as_bytes())?;
            file.sync_all()?;
            dir.rename_noreplace(&temp, name)
        })();
        if let Err(source) = written {
            let _ = dir.remove_file(&temp);
            return Err(if source.kind() == std::io::ErrorKind::AlreadyExists {
                TrustError::KeyExists { path: path.to_path_buf() }
            } else {
                TrustError::Write { path: path.to_path_buf(), source }
            });
        }
        Ok(())
    };
    place(&private_dir, &private_name, private, &pem("PRIVATE KEY", &der), 0o600)?;
    if let Err(e) = place(&public_dir, &public_name, &public_path, &public.to_pem(), 0o644) {
        // A private key without its public half is no use to anyone.
        let _ = private_dir.remove_file(&private_name);
        return Err(e);
    }
    Ok(public)
}

fn read_key_file(path: &Path) -> Result<String, TrustError> {
    let bytes = bale_fileset::safe_fs::read_regular(path, MAX_KEY_FILE)
        .map_err(|source| TrustError::Read { path: path.to_path_buf(), source })?;
    String::from_utf8(bytes)
        .map_err(|_| TrustError::KeyFile { path: path.to_path_buf(), reason: "it is not PEM text".into() })
}

/// PEM with 64-column base64 lines.
pub(crate) fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The DER of the first PEM block labelled `label` in `text`.
pub(crate) fn pem_body(text: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)? + begin.len();
    let stop = start + text[start..].find(&end)?;
    let body: String = text[start..stop].chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD.decode(body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sign_and_verify_and_round_trip_through_pem() {
        for algorithm in [Algorithm::EcdsaP256, Algorithm::Ed25519] {
            let (key, der) = SigningKey::generate(algorithm).unwrap();
            let signature = key.sign(b"message").unwrap();
            assert!(key.public().verify(b"message", &signature), "{algorithm}");
            assert!(!key.public().verify(b"messagf", &signature), "{algorithm}");
            let again = SigningKey::from_pkcs8(&der).unwrap();
            assert_eq!(again.public(), key.public());
            let pem_text = key.public().to_pem();
            let public = PublicKey::from_pem(&pem_text, Path::new("k.pub")).unwrap();
            assert_eq!(&public, key.public());
            assert_eq!(public.id().0.len(), 64);
            let (other, _) = SigningKey::generate(algorithm).unwrap();
            assert!(!other.public().verify(b"message", &signature), "another key's signature");
        }
    }

    #[test]
    fn a_key_pair_is_written_once_private_to_its_owner() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let private = dir.path().join("signing.key");
        let public = write_key_pair(&private, Algorithm::EcdsaP256).unwrap();
        let mode = std::fs::metadata(&private).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(PublicKey::load(&public_key_path(&private)).unwrap(), public);
        assert_eq!(SigningKey::load(&private).unwrap().public(), &public);
        let before = std::fs::read(&private).unwrap();
        assert!(matches!(write_key_pair(&private, Algorithm::Ed25519), Err(TrustError::KeyExists { .. })));
        assert_eq!(std::fs::read(&private).unwrap(), before, "an existing key is never replaced");
        std::fs::write(dir.path().join("bad.pub"), "not a key").unwrap();
        assert!(PublicKey::load(&dir.path().join("bad.pub")).is_err());
    }
}
