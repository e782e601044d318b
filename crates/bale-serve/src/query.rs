//! What each image holds, indexed when its CycloneDX SBOM is pushed (the
//! referrer bale attaches to every image), and the JSON query API over it
//! (docs/serve.md#queries): which images hold a package, what one image
//! holds, which images share a package's content.

use bale_debian::Version;
use bale_debian::relation::Relation;

use crate::index::{ClaimRow, PackageKey, PackageRow};
use crate::records::Records;

/// The artifact type of the SBOM the index is read from.
pub const CYCLONEDX: &str = "application/vnd.cyclonedx+json";
/// The largest SBOM read for the index.
pub const MAX_SBOM: u64 = 64 << 20;

/// The packages a CycloneDX document lists, with bale's properties (id,
/// source package); components without a bale id are not bale packages
/// and are left out.
pub fn packages_of_sbom(document: &serde_json::Value) -> Vec<PackageRow> {
    let components = document["components"].as_array().map(Vec::as_slice).unwrap_or_default();
    components
        .iter()
        .filter_map(|c| {
            let property = |name: &str| {
                c["properties"].as_array()?.iter().find(|p| p["name"] == name)?["value"].as_str().map(String::from)
            };
            let content = c["hashes"]
                .as_array()
                .and_then(|h| h.iter().find(|h| h["alg"] == "SHA-256"))
                .and_then(|h| h["content"].as_str())
                .map(|hex| format!("sha256:{hex}"));
            Some(PackageRow {
                id: property("bale:id")?,
                name: c["name"].as_str()?.to_string(),
                version: c["version"].as_str().unwrap_or_default().to_string(),
                purl: c["purl"].as_str().map(String::from),
                source: property("bale:source"),
                source_version: property("bale:source-version"),
                content,
            })
        })
        .collect()
}

/// The packages the SBOM that `referrer` (a manifest) carries lists;
/// none when its layer is missing, too large or not CycloneDX JSON.
pub fn sbom_packages(store: &bale_store::Store, referrer: &serde_json::Value) -> Option<Vec<PackageRow>> {
    packages_of_sbom_bytes(&read_small(store, &referrer_layer(referrer, MAX_SBOM)?, MAX_SBOM)?)
}

/// The one layer a referrer (an SBOM's, a bundle's manifest) carries, if
/// it says it is at most `max` bytes.
pub(crate) fn referrer_layer(referrer: &serde_json::Value, max: u64) -> Option<bale_fileset::Digest> {
    let layer = &referrer["layers"][0];
    if layer["size"].as_u64()? > max {
        return None;
    }
    layer["digest"].as_str()?.parse().ok()
}

/// The packages an SBOM's bytes list; none: not CycloneDX JSON.
pub(crate) fn packages_of_sbom_bytes(bytes: &[u8]) -> Option<Vec<PackageRow>> {
    Some(packages_of_sbom(&serde_json::from_slice(bytes).ok()?))
}

/// The packages the SBOM referrer `referrer` in `store` lists (for replay).
pub(crate) fn stored_sbom_packages(store: &bale_store::Store, referrer: &str) -> Option<Vec<PackageRow>> {
    let manifest = read_small(store, &referrer.parse().ok()?, crate::MAX_MANIFEST as u64)?;
    sbom_packages(store, &serde_json::from_slice(&manifest).ok()?)
}

/// A blob of at most `max` bytes (its real size, not a manifest's claim).
fn read_small(store: &bale_store::Store, digest: &bale_fileset::Digest, max: u64) -> Option<Vec<u8>> {
    if std::fs::metadata(store.blob_path(digest)).ok()?.len() > max {
        return None;
    }
    store.read_blob(digest).ok()
}

/// What a Sigstore bundle (the layer of the referrer `referrer`) claims:
/// its statement's predicate and the key it names. None: not a bundle
/// bale reads.
pub fn claim_of_bundle(bytes: &[u8], referrer: &str) -> Option<ClaimRow> {
    let bundle = bale_trust::Bundle::from_json(bytes).ok()?;
    let payload = bundle.dsse_envelope.payload_bytes().ok()?;
    let statement: bale_trust::Statement = serde_json::from_slice(&payload).ok()?;
    let kind = if statement.predicate_type == bale_trust::statement::SIGNATURE_PREDICATE {
        "signature"
    } else {
        "attestation"
    };
    Some(ClaimRow {
        referrer: referrer.to_string(),
        kind: kind.into(),
        predicate_type: statement.predicate_type,
        key: bundle.verification_material.public_key.hint,
    })
}

/// The claim of the bundle referrer `referrer` in `store` (for replay).
pub(crate) fn stored_claim(store: &bale_store::Store, referrer: &str) -> Option<ClaimRow> {
    let manifest = read_small(store, &referrer.parse().ok()?, crate::MAX_MANIFEST as u64)?;
    let manifest: serde_json::Value = serde_json::from_slice(&manifest).ok()?;
    let max = bale_trust::bundle::MAX_BUNDLE as u64;
    claim_of_bundle(&read_small(store, &referrer_layer(&manifest, max)?, max)?, referrer)
}

/// A version bound as Debian writes one: `<< 3.0.13-1`, `>=1.2`.
#[derive(Debug, Clone)]
pub struct Bound {
    relation: Relation,
    version: Version,
}

impl Bound {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (relation, rest) = [
            ("<<", Relation::Earlier),
            ("<=", Relation::EarlierOrEqual),
            (">>", Relation::Later),
            (">=", Relation::LaterOrEqual),
            ("=", Relation::Exactly),
        ]
        .iter()
        .find_map(|(symbol, relation)| text.strip_prefix(symbol).map(|rest| (*relation, rest)))
        .ok_or_else(|| format!("{text:?}: a bound starts with <<, <=, =, >= or >>"))?;
        let version = rest.trim().parse().map_err(|e| format!("{text:?}: {e}"))?;
        Ok(Self { relation, version })
    }

    fn holds(&self, version: &str) -> bool {
        version.parse::<Version>().is_ok_and(|v| self.relation.holds(&v, &self.version))
    }
}

/// `GET /v2/_bale/packages?…`: each image holding a package that `key`
/// names (and whose version, or source version when asked by source,
/// meets `bound`), with its tags.
pub(crate) async fn images_with(
    records: &Records,
    key: PackageKey<'_>,
    bound: Option<&Bound>,
) -> Result<serde_json::Value, String> {
    let by_source = matches!(key, PackageKey::Source(_));
    let rows = records.images_with(key).await.map_err(|e| e.to_string())?;
    let mut matches = Vec::new();
    for row in rows {
        let package = &row.package;
        let version = if by_source { package.source_version.as_deref() } else { Some(package.version.as_str()) };
        if let Some(bound) = bound
            && !version.is_some_and(|v| bound.holds(v))
        {
            continue;
        }
        matches.push(serde_json::json!({
            "repository": row.repository, "digest": row.image, "tags": row.tags, "package": row.package,
        }));
    }
    Ok(serde_json::json!({ "images": matches }))
}

/// `GET /v2/_bale/images?repository=R&reference=TAG|DIGEST`: what one
/// image holds.
pub(crate) async fn image_contents(
    records: &Records,
    repository: &str,
    reference: &str,
) -> Result<Option<serde_json::Value>, String> {
    let digest = if reference.starts_with("sha256:") {
        Some(reference.to_string())
    } else {
        records.tag(repository, reference).await.map_err(|e| e.to_string())?
    };
    let Some(digest) = digest else { return Ok(None) };
    let packages = records.packages_of(repository, &digest).await.map_err(|e| e.to_string())?;
    let tags = records.tags_of(repository, &digest).await.map_err(|e| e.to_string())?;
    let (signatures, attestations): (Vec<ClaimRow>, Vec<ClaimRow>) = records
        .claims_of(repository, &digest)
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .partition(|c| c.kind == "signature");
    Ok(Some(serde_json::json!({
        "repository": repository, "digest": digest, "tags": tags, "packages": packages,
        "signatures": signatures, "attestations": attestations,
    })))
}

/// `GET /v2/_bale/signed?key=KEY`: every image carrying a signature or
/// attestation that names `key`.
pub(crate) async fn images_claimed_by(records: &Records, key: &str) -> Result<serde_json::Value, String> {
    let rows = records.images_claimed_by(key).await.map_err(|e| e.to_string())?;
    let images: Vec<serde_json::Value> = rows
        .into_iter()
        .map(|m| serde_json::json!({"repository": m.repository, "digest": m.image, "tags": m.tags, "claim": m.claim}))
        .collect();
    Ok(serde_json::json!({ "images": images }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_in_debian_order_and_sboms_read() {
        let bound = Bound::parse("<< 3.0.13-1").unwrap();
        assert!(bound.holds("3.0.11-1~deb12u2"));
        assert!(!bound.holds("3.0.13-1"));
        assert!(!Bound::parse(">=1:2.0").unwrap().holds("1:2.0~rc1"));
        assert!(Bound::parse("3.0").is_err());

        let sbom = serde_json::json!({"components": [
            {"name": "libssl3", "version": "3.0.11-1", "purl": "pkg:deb/debian/libssl3@3.0.11-1?arch=amd64",
             "hashes": [{"alg": "SHA-256", "content": "ab"}],
             "properties": [{"name": "bale:id", "value": "debian:bookworm/libssl3:amd64@3.0.11-1"},
                            {"name": "bale:source", "value": "openssl"},
                            {"name": "bale:source-version", "value": "3.0.11-1"}]},
            {"name": "not-bale", "version": "1"}
        ]});
        let packages = packages_of_sbom(&sbom);
        assert_eq!(packages.len(), 1);
        assert_eq!(packages[0].source.as_deref(), Some("openssl"));
        assert_eq!(packages[0].content.as_deref(), Some("sha256:ab"));
    }
}
