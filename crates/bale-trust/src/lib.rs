//! Trust in bale: keys ([`key`]), signatures outside the content as DSSE
//! envelopes ([`dsse`]) over in-toto statements ([`statement`]) carried
//! in Sigstore bundles ([`bundle`]), and checking a bundle against a
//! subject and trusted keys ([`check_bundle`]). Nothing here touches a
//! store or the network; callers attach and fetch the bundles.

pub mod bundle;
pub mod dsse;
mod error;
pub mod key;
pub mod policy;
pub mod statement;

pub use bundle::{BUNDLE_MEDIA_TYPE, Bundle};
pub use dsse::Envelope;
pub use error::TrustError;
pub use key::{Algorithm, KeyId, PublicKey, SigningKey, public_key_path, write_key_pair};
pub use policy::{Decision, Policy, Vouch};
pub use statement::{Statement, Subject};

/// A signature of `name` with the sha256 `hex` (an image's manifest or
/// index digest, a package's artifact digest) by `key`; `kind` says what
/// the subject is (`image`, `package`).
pub fn sign_subject(name: &str, hex: &str, kind: &str, key: &SigningKey) -> Result<Bundle, TrustError> {
    let statement = Statement::signature(Subject::sha256(name, hex), serde_json::json!({ "kind": kind }));
    let envelope = Envelope::sign(dsse::IN_TOTO_PAYLOAD_TYPE, &statement.to_json(), key)?;
    Ok(Bundle::new(envelope, key.public().id().0))
}

/// An attestation that the package `id` (artifact digest `hex`, content
/// digest `content_hex`) was rebuilt with identical content: an SLSA
/// provenance v1 statement whose predicate is `provenance`, signed by
/// `key`.
pub fn attest_rebuild(
    id: &str,
    hex: &str,
    content_hex: &str,
    provenance: serde_json::Value,
    key: &SigningKey,
) -> Result<Bundle, TrustError> {
    let statement = Statement {
        kind: statement::STATEMENT_TYPE.into(),
        subject: vec![Subject::sha256(id, hex), Subject::sha256(format!("{id} content"), content_hex)],
        predicate_type: statement::SLSA_PROVENANCE_PREDICATE.into(),
        predicate: provenance,
    };
    let envelope = Envelope::sign(dsse::IN_TOTO_PAYLOAD_TYPE, &statement.to_json(), key)?;
    Ok(Bundle::new(envelope, key.public().id().0))
}

/// The statement a bundle carries, unchecked: for reports, never for trust.
pub fn decode_statement(bundle: &Bundle) -> Option<Statement> {
    serde_json::from_slice(&bundle.dsse_envelope.payload_bytes().ok()?).ok()
}

/// Why a bundle does not count for a subject.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{0}")]
    Malformed(String),
    #[error("it was made for {name} {digest}, not this one")]
    OtherSubject { name: String, digest: String },
    #[error("its signature does not verify with any trusted key (it names key {hint})")]
    Untrusted { hint: String },
}

/// What a bundle vouches for `name` with sha256 `hex`, checked against
/// `keys`: the statement it signs and the trusted keys whose signature
/// over it verifies (each once), or why it counts for nothing.
pub fn check_bundle(
    bundle: &Bundle,
    name: &str,
    hex: &str,
    keys: &[PublicKey],
) -> Result<(Statement, Vec<KeyId>), Refusal> {
    let envelope = &bundle.dsse_envelope;
    if envelope.payload_type != dsse::IN_TOTO_PAYLOAD_TYPE {
        return Err(Refusal::Malformed(format!(
            "its payload is {:?}, not an in-toto statement",
            envelope.payload_type
        )));
    }
    let payload = envelope.payload_bytes().map_err(|e| Refusal::Malformed(e.to_string()))?;
    let statement: Statement = serde_json::from_slice(&payload)
        .map_err(|e| Refusal::Malformed(format!("its statement does not parse: {e}")))?;
    if !statement.names(name, hex) {
        let subject = statement.subject.first();
        return Err(Refusal::OtherSubject {
            name: subject.map_or_else(|| "nothing".into(), |s| s.name.clone()),
            digest: subject
                .and_then(|s| s.digest.get("sha256"))
                .map_or_else(|| "(no sha256)".into(), |d| format!("sha256:{d}")),
        });
    }
    let signers = envelope.signed_by(keys).map_err(|e| Refusal::Malformed(e.to_string()))?;
    if signers.is_empty() {
        return Err(Refusal::Untrusted { hint: bundle.verification_material.public_key.hint.clone() });
    }
    Ok((statement, signers))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_counts_only_for_its_subject_and_its_keys() {
        let (key, _) = SigningKey::generate(Algorithm::EcdsaP256).unwrap();
        let (stranger, _) = SigningKey::generate(Algorithm::EcdsaP256).unwrap();
        let hex = "ab".repeat(32);
        let bundle = sign_subject("example.com/a:latest", &hex, "image", &key).unwrap();
        let keys = [key.public().clone()];
        let (statement, signers) = check_bundle(&bundle, "example.com/a:latest", &hex, &keys).unwrap();
        assert_eq!(signers, [key.public().id()]);
        assert_eq!(statement.predicate["kind"], "image");

        let round = Bundle::from_json(&bundle.to_json()).unwrap();
        assert_eq!(round, bundle);
        assert!(matches!(
            check_bundle(&bundle, "example.com/b:latest", &hex, &keys),
            Err(Refusal::OtherSubject { .. })
        ));
        assert!(matches!(
            check_bundle(&bundle, "example.com/a:latest", &"cd".repeat(32), &keys),
            Err(Refusal::OtherSubject { .. })
        ));
        assert!(matches!(
            check_bundle(&bundle, "example.com/a:latest", &hex, &[stranger.public().clone()]),
            Err(Refusal::Untrusted { .. })
        ));
        // One byte of the payload changed.
        let mut changed = bundle.clone();
        let mut payload = changed.dsse_envelope.payload_bytes().unwrap();
        let at = payload.iter().position(|b| *b == b'a').unwrap();
        payload[at] = b'b';
        use base64::Engine;
        changed.dsse_envelope.payload = base64::engine::general_purpose::STANDARD.encode(&payload);
        assert!(check_bundle(&changed, "example.com/a:latest", &hex, &keys).is_err());
    }
}
