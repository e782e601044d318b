//! DSSE v1 envelopes (secure-systems-lab/dsse): a payload and its type,
//! signed through the pre-authentication encoding so a signature over one
//! type can never be taken for another. The `keyid` of a signature is a
//! hint only; verification tries the trusted keys themselves.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::TrustError;
use crate::key::{KeyId, PublicKey, SigningKey};

/// The payload type of an in-toto statement.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// The largest payload bale decodes (a statement is a few kilobytes).
pub const MAX_PAYLOAD: usize = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// Base64 of the payload bytes.
    pub payload: String,
    pub payload_type: String,
    pub signatures: Vec<Signature>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// Base64 of the signature bytes.
    pub sig: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub keyid: String,
}

/// `"DSSEv1" SP len(type) SP type SP len(body) SP body`, lengths in ASCII
/// decimal: the bytes actually signed.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!("DSSEv1 {} {payload_type} {} ", payload_type.len(), payload.len()).into_bytes();
    out.extend_from_slice(payload);
    out
}

impl Envelope {
    /// `payload` of `payload_type`, signed by `key`.
    pub fn sign(payload_type: &str, payload: &[u8], key: &SigningKey) -> Result<Self, TrustError> {
        let sig = key.sign(&pae(payload_type, payload))?;
        Ok(Self {
            payload: STANDARD.encode(payload),
            payload_type: payload_type.into(),
            signatures: vec![Signature { sig: STANDARD.encode(sig), keyid: key.public().id().0 }],
        })
    }

    /// The payload's bytes, bounded.
    pub fn payload_bytes(&self) -> Result<Vec<u8>, TrustError> {
        if self.payload.len() > MAX_PAYLOAD / 3 * 4 + 4 {
            return Err(TrustError::Envelope { reason: "the payload is larger than bale reads".into() });
        }
        STANDARD.decode(&self.payload).map_err(|_| TrustError::Envelope { reason: "the payload is not base64".into() })
    }

    /// The ids of the keys among `keys` that signed this envelope, each
    /// once however many of its signatures the envelope holds.
    pub fn signed_by(&self, keys: &[PublicKey]) -> Result<Vec<KeyId>, TrustError> {
        let message = pae(&self.payload_type, &self.payload_bytes()?);
        let mut out: Vec<KeyId> = Vec::new();
        for signature in &self.signatures {
            let Ok(sig) = STANDARD.decode(&signature.sig) else { continue };
            for key in keys {
                let id = key.id();
                if !out.contains(&id) && key.verify(&message, &sig) {
                    out.push(id);
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::Algorithm;

    #[test]
    fn the_encoding_is_the_specs() {
        // The example of the DSSE protocol document.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
    }

    #[test]
    fn a_signature_holds_only_for_its_payload_type_and_bytes() {
        let (key, _) = SigningKey::generate(Algorithm::EcdsaP256).unwrap();
        let (other, _) = SigningKey::generate(Algorithm::Ed25519).unwrap();
        let keys = [key.public().clone(), other.public().clone()];
        let envelope = Envelope::sign(IN_TOTO_PAYLOAD_TYPE, b"{\"a\":1}", &key).unwrap();
        assert_eq!(envelope.signed_by(&keys).unwrap(), [key.public().id()]);

        let mut retyped = envelope.clone();
        retyped.payload_type = "text/plain".into();
        assert!(retyped.signed_by(&keys).unwrap().is_empty());
        let mut changed = envelope.clone();
        changed.payload = STANDARD.encode(b"{\"a\":2}");
        assert!(changed.signed_by(&keys).unwrap().is_empty());
        // The same signature twice counts once.
        let mut doubled = envelope.clone();
        doubled.signatures.push(doubled.signatures[0].clone());
        assert_eq!(doubled.signed_by(&keys).unwrap().len(), 1);
    }
}
