//! Sigstore bundle v0.3 (protobuf-specs' JSON form) carrying a DSSE
//! envelope, verified by a public key named by its hint: no certificate,
//! no transparency log entry (and bale never claims to have checked one).

use serde::{Deserialize, Serialize};

use crate::TrustError;
use crate::dsse::Envelope;

pub const BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// The largest bundle bale parses.
pub const MAX_BUNDLE: usize = 2 << 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bundle {
    pub media_type: String,
    pub verification_material: VerificationMaterial,
    pub dsse_envelope: Envelope,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerificationMaterial {
    pub public_key: PublicKeyHint,
    #[serde(default)]
    pub tlog_entries: Vec<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicKeyHint {
    pub hint: String,
}

impl Bundle {
    pub fn new(envelope: Envelope, key_hint: String) -> Self {
        Self {
            media_type: BUNDLE_MEDIA_TYPE.into(),
            verification_material: VerificationMaterial {
                public_key: PublicKeyHint { hint: key_hint },
                tlog_entries: Vec::new(),
            },
            dsse_envelope: envelope,
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn from_json(bytes: &[u8]) -> Result<Self, TrustError> {
        if bytes.len() > MAX_BUNDLE {
            return Err(TrustError::Envelope { reason: format!("the bundle is over {MAX_BUNDLE} bytes") });
        }
        let bundle: Self = serde_json::from_slice(bytes)
            .map_err(|e| TrustError::Envelope { reason: format!("not a Sigstore bundle: {e}") })?;
        if bundle.media_type != BUNDLE_MEDIA_TYPE {
            return Err(TrustError::Envelope {
                reason: format!("bundle media type {:?}, bale reads {BUNDLE_MEDIA_TYPE}", bundle.media_type),
            });
        }
        Ok(bundle)
    }
}
