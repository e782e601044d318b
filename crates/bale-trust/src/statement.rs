//! in-toto Statement v1: what is attested (each subject by name and
//! digest) and the claim about it. bale's subjects always carry the name
//! as well as the digest, so a signature made for one image cannot be
//! presented for another with other content or another name.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";

/// The claim of a plain signature: the signer vouches for the subject.
pub const SIGNATURE_PREDICATE: &str = "urn:bale:predicate:signature:v1";

/// SLSA provenance v1: how the subject was built (a rebuilder's
/// attestation that its own build gave the same bytes).
pub const SLSA_PROVENANCE_PREDICATE: &str = "https://slsa.dev/provenance/v1";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Statement {
    #[serde(rename = "_type")]
    pub kind: String,
    pub subject: Vec<Subject>,
    pub predicate_type: String,
    #[serde(default)]
    pub predicate: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    pub name: String,
    /// Algorithm to lowercase hex (`sha256`).
    pub digest: BTreeMap<String, String>,
}

impl Subject {
    pub fn sha256(name: impl Into<String>, hex: impl Into<String>) -> Self {
        Self { name: name.into(), digest: [("sha256".to_string(), hex.into())].into() }
    }
}

impl Statement {
    /// A signature's statement: `predicate` says what the subject is
    /// (`{"kind": "image"}` or `{"kind": "package"}`).
    pub fn signature(subject: Subject, predicate: serde_json::Value) -> Self {
        Self {
            kind: STATEMENT_TYPE.into(),
            subject: vec![subject],
            predicate_type: SIGNATURE_PREDICATE.into(),
            predicate,
        }
    }

    /// Whether the statement is about exactly `name` with the sha256 `hex`.
    pub fn names(&self, name: &str, hex: &str) -> bool {
        self.kind == STATEMENT_TYPE
            && self.subject.iter().any(|s| s.name == name && s.digest.get("sha256").is_some_and(|d| d == hex))
    }

    pub fn to_json(&self) -> Vec<u8> {
        // A statement is plain data: serialising it cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}
