//! The distribution-spec endpoints, routed by hand: repository names
//! hold slashes, so the path is read from its end (`…/manifests/REF`,
//! `…/blobs/uploads/ID`, `…/blobs/DIGEST`, `…/tags/list`,
//! `…/referrers/DIGEST`).

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use bale_fileset::Digest;
use http_body_util::BodyExt;

use crate::auth::{Action, Denied};
use crate::index::ManifestRow;
use crate::{MAX_MANIFEST, Registry};

const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// The most entries one tags or catalog page holds.
const PAGE_LIMIT: u64 = 10_000;

/// A distribution-spec error: its code, status and message.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    pub(crate) message: String,
    /// A 401: the response asks for credentials.
    challenge: bool,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), challenge: false }
    }
    pub(crate) fn internal(message: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "UNKNOWN", message.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"errors": [{"code": self.code, "message": self.message}]});
        let mut response =
            (self.status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response();
        if self.challenge {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"bale serve\""));
        }
        response
    }
}

pub(crate) type Result<T> = std::result::Result<T, ApiError>;

/// Every request: routed, answered, logged (one line on stderr).
pub(crate) async fn handle(
    State(registry): State<Arc<Registry>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let response = match route(&registry, &method, &uri, &headers, body).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    };
    eprintln!(
        "{method} {} {} {:.1} ms",
        uri.path(),
        response.status().as_u16(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    response
}

/// Refuses the request unless its credentials may do `action` on
/// `repository` (none: the registry as a whole).
fn authorize(registry: &Registry, headers: &HeaderMap, repository: Option<&str>, action: Action) -> Result<()> {
    let Some(auth) = &registry.auth else { return Ok(()) };
    let given = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    auth.check(given, repository, action).map_err(|denied| match denied {
        Denied::Unauthenticated(why) => {
            let mut e = ApiError::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", why);
            e.challenge = true;
            e
        }
        Denied::Forbidden(why) => ApiError::new(StatusCode::FORBIDDEN, "DENIED", why),
    })
}

fn action_of(method: &Method) -> Action {
    if *method == Method::GET || *method == Method::HEAD { Action::Pull } else { Action::Push }
}

async fn route(
    registry: &Arc<Registry>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response> {
    let path = uri.path();
    let query = Query::parse(uri.query().unwrap_or(""));
    let Some(rest) = path.strip_prefix("/v2/").or_else(|| (path == "/v2").then_some("")) else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", "not a registry path"));
    };
    if rest.is_empty() {
        // The ping: clients learn here whether to send credentials.
        if let Some(auth) = &registry.auth
            && (headers.contains_key(header::AUTHORIZATION) || !auth.anonymous_pull)
        {
            authorize(registry, headers, None, Action::Pull)
                .or_else(|e| if e.status == StatusCode::FORBIDDEN { Ok(()) } else { Err(e) })?;
        }
        return Ok((StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], "{}").into_response());
    }
    if rest == "_catalog" {
        authorize(registry, headers, None, Action::Pull)?;
        return catalog(registry, &query).await;
    }
    if let Some(what) = rest.strip_prefix("_bale/") {
        authorize(registry, headers, None, Action::Pull)?;
        return bale_query(registry, what, &query).await;
    }
    if let Some((name, id)) = split_last(rest, "/blobs/uploads/").or_else(|| {
        rest.strip_suffix("/blobs/uploads")
            .map(|name| (name, ""))
            .or_else(|| rest.strip_suffix("/blobs/uploads/").map(|n| (n, "")))
    }) {
        let name = repository(name)?;
        authorize(registry, headers, Some(name), Action::Push)?;
        // A mount reads the other repository.
        if let Some(from) = query.get("from") {
            authorize(registry, headers, Some(repository(from)?), Action::Pull)?;
        }
        return crate::uploads::uploads(registry, method, name, id, &query, headers, body).await;
    }
    if let Some((name, digest)) = split_last(rest, "/blobs/") {
        let name = repository(name)?;
        authorize(registry, headers, Some(name), action_of(method))?;
        let digest = digest_of(digest)?;
        return blob(registry, method, name, &digest, headers).await;
    }
    if let Some((name, reference)) = split_last(rest, "/manifests/") {
        let name = repository(name)?;
        authorize(registry, headers, Some(name), action_of(method))?;
        return manifest(registry, method, name, reference, headers, body).await;
    }
    if let Some(name) = rest.strip_suffix("/tags/list") {
        let name = repository(name)?;
        authorize(registry, headers, Some(name), Action::Pull)?;
        return tags(registry, name, &query).await;
    }
    if let Some((name, digest)) = split_last(rest, "/referrers/") {
        let name = repository(name)?;
        authorize(registry, headers, Some(name), Action::Pull)?;
        let digest = digest_of(digest)?;
        return referrers(registry, name, &digest, &query).await;
    }
    Err(ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", "not a registry path"))
}

fn split_last<'a>(text: &'a str, marker: &str) -> Option<(&'a str, &'a str)> {
    let at = text.rfind(marker)?;
    Some((&text[..at], &text[at + marker.len()..]))
}

/// A repository name as the distribution spec allows it.
pub(crate) fn repository(name: &str) -> Result<&str> {
    let component_ok = |c: &str| {
        let bytes = c.as_bytes();
        !c.is_empty()
            && bytes[0].is_ascii_alphanumeric()
            && bytes[bytes.len() - 1].is_ascii_alphanumeric()
            && c.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'))
    };
    if name.len() > 255 || !name.split('/').all(component_ok) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "NAME_INVALID",
            format!("invalid repository name {name:?}"),
        ));
    }
    Ok(name)
}

pub(crate) fn digest_of(text: &str) -> Result<Digest> {
    if !text.starts_with("sha256:") {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "UNSUPPORTED",
            format!("{text}: only sha256 digests are served"),
        ));
    }
    text.parse()
        .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "DIGEST_INVALID", format!("invalid digest {text:?}")))
}

fn valid_tag(tag: &str) -> bool {
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && (bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_')
        && tag.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The query string, percent-decoded.
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    fn parse(text: &str) -> Self {
        Self(
            text.split('&')
                .filter(|p| !p.is_empty())
                .map(|pair| {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    (decode(k), decode(v))
                })
                .collect(),
        )
    }
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok());
        match (escaped, bytes[i]) {
            (Some(b), _) => {
                out.push(b);
                i += 3;
            }
            (None, b'+') => {
                out.push(b' ');
                i += 1;
            }
            (None, b) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn page_size(query: &Query) -> Result<u64> {
    match query.get("n") {
        None => Ok(PAGE_LIMIT),
        Some(n) => n
            .parse::<u64>()
            .map(|n| n.min(PAGE_LIMIT))
            .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "PAGINATION_NUMBER_INVALID", format!("n={n}"))),
    }
}

async fn catalog(registry: &Registry, query: &Query) -> Result<Response> {
    let n = page_size(query)?;
    let repositories = registry.records.repositories(query.get("last"), n).await.map_err(ApiError::internal)?;
    let mut response =
        json_response(StatusCode::OK, &serde_json::json!({"repositories": repositories}), "application/json");
    if n > 0
        && repositories.len() as u64 == n
        && let Some(last) = repositories.last()
    {
        link_next(&mut response, &format!("/v2/_catalog?n={n}&last={last}"));
    }
    Ok(response)
}

async fn tags(registry: &Registry, name: &str, query: &Query) -> Result<Response> {
    let n = page_size(query)?;
    let records = &registry.records;
    if !records.has_repository(name).await.map_err(ApiError::internal)? {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "NAME_UNKNOWN", format!("no repository {name}")));
    }
    let tags = records.tags(name, query.get("last"), n).await.map_err(ApiError::internal)?;
    let mut response =
        json_response(StatusCode::OK, &serde_json::json!({"name": name, "tags": tags}), "application/json");
    if n > 0
        && tags.len() as u64 == n
        && let Some(last) = tags.last()
    {
        link_next(&mut response, &format!("/v2/{name}/tags/list?n={n}&last={last}"));
    }
    Ok(response)
}

fn link_next(response: &mut Response, target: &str) {
    if let Ok(value) = HeaderValue::from_str(&format!("<{target}>; rel=\"next\"")) {
        response.headers_mut().insert(header::LINK, value);
    }
}

fn json_response(status: StatusCode, value: &serde_json::Value, content_type: &str) -> Response {
    let mut response = (status, value.to_string()).into_response();
    if let Ok(value) = HeaderValue::from_str(content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}

async fn referrers(registry: &Registry, name: &str, digest: &Digest, query: &Query) -> Result<Response> {
    let rows = registry.records.referrers(name, &digest.to_string()).await.map_err(ApiError::internal)?;
    let wanted = query.get("artifactType");
    let manifests: Vec<serde_json::Value> = rows
        .into_iter()
        .filter(|row| wanted.is_none_or(|w| row.artifact_type.as_deref() == Some(w)))
        .map(|row| {
            let mut descriptor =
                serde_json::json!({"mediaType": row.media_type, "digest": row.digest, "size": row.size});
            if let Some(artifact_type) = row.artifact_type {
                descriptor["artifactType"] = artifact_type.into();
            }
            if let Some(annotations) = row.annotations.and_then(|a| serde_json::from_str::<serde_json::Value>(&a).ok())
            {
                descriptor["annotations"] = annotations;
            }
            descriptor
        })
        .collect();
    let body = serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests});
    let mut response = json_response(StatusCode::OK, &body, OCI_INDEX);
    if wanted.is_some() {
        response.headers_mut().insert("OCI-Filters-Applied", HeaderValue::from_static("artifactType"));
    }
    Ok(response)
}

async fn blob(
    registry: &Registry,
    method: &Method,
    name: &str,
    digest: &Digest,
    headers: &HeaderMap,
) -> Result<Response> {
    if *method == Method::DELETE {
        if registry.records.unlink_blob(name, &digest.to_string()).await.map_err(ApiError::internal)? {
            return Ok(StatusCode::ACCEPTED.into_response());
        }
        return Err(ApiError::new(StatusCode::NOT_FOUND, "BLOB_UNKNOWN", format!("{name} has no blob {digest}")));
    }
    if *method != Method::GET && *method != Method::HEAD {
        return Err(ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED", "blobs are read with GET or HEAD"));
    }
    let unknown = || ApiError::new(StatusCode::NOT_FOUND, "BLOB_UNKNOWN", format!("{name} has no blob {digest}"));
    if !registry.records.has_blob(name, &digest.to_string()).await.map_err(ApiError::internal)? {
        return Err(unknown());
    }
    let size = registry.blobs.size(digest).await?.ok_or_else(unknown)?;
    let (start, end, partial) = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        None => (0, size, false),
        Some(range) => match parse_range(range, size) {
            RangeAnswer::Part(start, end) => (start, end, true),
            RangeAnswer::Whole => (0, size, false),
            RangeAnswer::Unsatisfiable => {
                let mut response =
                    ApiError::new(StatusCode::RANGE_NOT_SATISFIABLE, "RANGE_INVALID", range).into_response();
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                    response.headers_mut().insert(header::CONTENT_RANGE, v);
                }
                return Ok(response);
            }
        },
    };
    let mut builder = Response::builder()
        .status(if partial { StatusCode::PARTIAL_CONTENT } else { StatusCode::OK })
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::CONTENT_LENGTH, end - start)
        .header(header::ACCEPT_RANGES, "bytes")
        .header("Docker-Content-Digest", digest.to_string());
    if partial {
        builder = builder.header(header::CONTENT_RANGE, format!("bytes {start}-{}/{size}", end - 1));
    }
    let body = if *method == Method::HEAD || start == end {
        Body::empty()
    } else {
        Body::from_stream(registry.blobs.read(digest, start, end).await?)
    };
    builder.body(body).map_err(ApiError::internal)
}

#[derive(Debug, PartialEq, Eq)]
enum RangeAnswer {
    /// [start, end) of the blob.
    Part(u64, u64),
    /// A range header that is not one range bale reads (several ranges, a
    /// reversed one, not bytes): ignored, the whole blob is sent (RFC 9110).
    Whole,
    /// A range starting at or past the end: 416.
    Unsatisfiable,
}

/// `bytes=A-B`, `bytes=A-`, `bytes=-N` within `size`.
fn parse_range(text: &str, size: u64) -> RangeAnswer {
    let parsed = (|| {
        let spec = text.strip_prefix("bytes=")?;
        let (a, b) = spec.split_once('-')?;
        match (a.trim(), b.trim()) {
            ("", n) => {
                let n: u64 = n.parse().ok()?;
                Some((size.saturating_sub(n), size, n == 0))
            }
            (a, "") => Some((a.parse().ok()?, size, false)),
            (a, b) => {
                let (a, b): (u64, u64) = (a.parse().ok()?, b.parse().ok()?);
                (a <= b).then_some((a, b.saturating_add(1).min(size), false))
            }
        }
    })();
    match parsed {
        None => RangeAnswer::Whole,
        Some((start, end, empty_suffix)) if start >= size || empty_suffix || start >= end => RangeAnswer::Unsatisfiable,
        Some((start, end, _)) => RangeAnswer::Part(start, end),
    }
}

async fn manifest(
    registry: &Arc<Registry>,
    method: &Method,
    name: &str,
    reference: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response> {
    let by_digest = reference.starts_with("sha256:");
    if !by_digest && !valid_tag(reference) {
        let code = if reference.contains(':') { "DIGEST_INVALID" } else { "TAG_INVALID" };
        return Err(ApiError::new(StatusCode::BAD_REQUEST, code, format!("invalid reference {reference:?}")));
    }
    match method.clone() {
        Method::GET | Method::HEAD => {
            let records = &registry.records;
            let digest = if by_digest {
                Some(digest_of(reference)?.to_string())
            } else {
                records.tag(name, reference).await.map_err(ApiError::internal)?
            };
            let row = match digest {
                Some(digest) => records.manifest(name, &digest).await.map_err(ApiError::internal)?,
                None => None,
            };
            let Some(row) = row else {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "MANIFEST_UNKNOWN",
                    format!("{name} has no manifest {reference}"),
                ));
            };
            let digest = digest_of(&row.digest)?;
            let bytes = if *method == Method::HEAD {
                Vec::new()
            } else {
                registry.blobs.read_all(&digest, MAX_MANIFEST as u64).await?
            };
            Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, &row.media_type)
                .header(header::CONTENT_LENGTH, row.size)
                .header("Docker-Content-Digest", &row.digest)
                .body(if *method == Method::HEAD { Body::empty() } else { Body::from(bytes) })
                .map_err(ApiError::internal)
        }
        Method::PUT => {
            let mut bytes = Vec::new();
            let mut body = body;
            while let Some(frame) = body.frame().await {
                let frame =
                    frame.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "MANIFEST_INVALID", e.to_string()))?;
                if let Ok(data) = frame.into_data() {
                    if bytes.len() + data.len() > MAX_MANIFEST {
                        return Err(ApiError::new(
                            StatusCode::PAYLOAD_TOO_LARGE,
                            "SIZE_INVALID",
                            format!("a manifest may be at most {MAX_MANIFEST} bytes"),
                        ));
                    }
                    bytes.extend_from_slice(&data);
                }
            }
            put_manifest(registry, name, reference, by_digest, headers, bytes).await
        }
        Method::DELETE => {
            let records = &registry.records;
            if by_digest {
                let digest = digest_of(reference)?;
                if records.delete_manifest(name, &digest.to_string()).await.map_err(ApiError::internal)? {
                    return Ok(StatusCode::ACCEPTED.into_response());
                }
            } else if records.delete_tag(name, reference).await.map_err(ApiError::internal)? {
                return Ok(StatusCode::ACCEPTED.into_response());
            }
            Err(ApiError::new(StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN", format!("{name} has no manifest {reference}")))
        }
        _ => Err(ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED", format!("{method} on a manifest"))),
    }
}

async fn put_manifest(
    registry: &Registry,
    name: &str,
    reference: &str,
    by_digest: bool,
    headers: &HeaderMap,
    bytes: Vec<u8>,
) -> Result<Response> {
    let invalid = |why: String| ApiError::new(StatusCode::BAD_REQUEST, "MANIFEST_INVALID", why);
    let document: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| invalid(format!("not JSON: {e}")))?;
    let declared = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or(v).trim());
    let media_type = document["mediaType"].as_str().or(declared).unwrap_or_default().to_string();
    if ![OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST].contains(&media_type.as_str()) {
        return Err(invalid(format!("unsupported manifest media type {media_type:?}")));
    }
    if let (Some(inside), Some(declared)) = (document["mediaType"].as_str(), declared)
        && inside != declared
    {
        return Err(invalid(format!("the body says {inside}, Content-Type says {declared}")));
    }
    let digest = bale_fileset::sha256_bytes(&bytes);
    if by_digest && digest_of(reference)? != digest {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "DIGEST_INVALID",
            format!("the manifest's digest is {digest}, not {reference}"),
        ));
    }
    let records = &registry.records;
    // Everything a manifest names must be here first, so a pull of what
    // was accepted always completes.
    let blob_unknown = |what: &str| {
        ApiError::new(StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN", format!("{name} has no {what}; push it first"))
    };
    let mut artifact_type = document["artifactType"].as_str().map(String::from);
    if media_type == OCI_INDEX || media_type == DOCKER_LIST {
        for child in document["manifests"].as_array().into_iter().flatten() {
            let child = child["digest"].as_str().unwrap_or_default();
            if records.manifest(name, child).await.map_err(ApiError::internal)?.is_none() {
                return Err(blob_unknown(&format!("manifest {child}")));
            }
        }
    } else {
        let config = document["config"]["digest"].as_str().ok_or_else(|| invalid("no config".into()))?;
        let mut blobs = vec![config];
        blobs.extend(document["layers"].as_array().into_iter().flatten().filter_map(|l| l["digest"].as_str()));
        for blob in blobs {
            if !records.has_blob(name, blob).await.map_err(ApiError::internal)? {
                return Err(blob_unknown(&format!("blob {blob}")));
            }
        }
        if artifact_type.is_none() && media_type == OCI_MANIFEST {
            artifact_type = document["config"]["mediaType"].as_str().map(String::from);
        }
    }
    let _hold = registry.blobs.hold()?;
    // On shared storage, gc keeps the manifest's blob until it is recorded.
    let commit = match &registry.uploads {
        crate::uploads::Uploads::Shared { index, .. } => Some(crate::uploads::Commit::begin(index, &digest).await?),
        crate::uploads::Uploads::Files(_) => None,
    };
    let recorded = record_manifest(
        registry,
        name,
        reference,
        by_digest,
        &document,
        bytes,
        digest,
        media_type,
        artifact_type,
        commit.as_ref(),
    )
    .await;
    if let Some(commit) = commit {
        commit.end().await;
    }
    let subject = recorded?;
    let mut builder = Response::builder()
        .status(StatusCode::CREATED)
        .header(header::LOCATION, format!("/v2/{name}/manifests/{digest}"))
        .header("Docker-Content-Digest", digest.to_string())
        .header(header::CONTENT_LENGTH, 0);
    if let Some(subject) = subject {
        builder = builder.header("OCI-Subject", subject);
    }
    builder.body(Body::empty()).map_err(ApiError::internal)
}

/// Stores a checked manifest's bytes and records it (with what it says
/// about its subject, if it is a referrer); returns its subject.
#[allow(clippy::too_many_arguments)]
async fn record_manifest(
    registry: &Registry,
    name: &str,
    reference: &str,
    by_digest: bool,
    document: &serde_json::Value,
    bytes: Vec<u8>,
    digest: Digest,
    media_type: String,
    artifact_type: Option<String>,
    commit: Option<&crate::uploads::Commit<'_>>,
) -> Result<Option<String>> {
    let records = &registry.records;
    let size = bytes.len() as u64;
    let stored = registry.blobs.put_bytes(bytes).await?;
    if stored != digest {
        return Err(ApiError::internal("the store disagrees on the manifest's digest"));
    }
    if let Some(commit) = commit {
        commit.stored(size).await?;
    }
    let subject = document["subject"]["digest"].as_str().map(String::from);
    let annotations = document.get("annotations").filter(|a| a.is_object()).map(|a| a.to_string());
    // An image's CycloneDX SBOM says what it holds: indexed now, so
    // queries never scan.
    let packages = match (&artifact_type, &subject) {
        (Some(t), Some(_)) if t == crate::query::CYCLONEDX => sbom_packages(registry, document).await,
        _ => None,
    };
    // A signature or attestation: who claims what about the image.
    let claim = match (&artifact_type, &subject) {
        (Some(t), Some(_)) if t == bale_trust::BUNDLE_MEDIA_TYPE => {
            bundle_claim(registry, document, &digest.to_string()).await
        }
        _ => None,
    };
    let findings = crate::index::Findings { packages, claim };
    let row = ManifestRow { digest: digest.to_string(), media_type, size, artifact_type, annotations };
    records
        .put_manifest(name, &row, subject.as_deref(), (!by_digest).then_some(reference), &findings)
        .await
        .map_err(ApiError::internal)?;
    Ok(subject)
}

/// The packages the SBOM that `referrer` (a manifest) carries lists;
/// none when its layer is missing, too large or not CycloneDX JSON.
async fn sbom_packages(registry: &Registry, referrer: &serde_json::Value) -> Option<Vec<crate::index::PackageRow>> {
    let max = crate::query::MAX_SBOM;
    let bytes = registry.blobs.read_all(&crate::query::referrer_layer(referrer, max)?, max).await.ok()?;
    crate::query::packages_of_sbom_bytes(&bytes)
}

/// What the bundle that `referrer` (a manifest) carries claims.
async fn bundle_claim(
    registry: &Registry,
    referrer: &serde_json::Value,
    digest: &str,
) -> Option<crate::index::ClaimRow> {
    let max = bale_trust::bundle::MAX_BUNDLE as u64;
    let bytes = registry.blobs.read_all(&crate::query::referrer_layer(referrer, max)?, max).await.ok()?;
    crate::query::claim_of_bundle(&bytes, digest)
}

/// The JSON query API under `/v2/_bale/` (docs/serve.md#queries).
async fn bale_query(registry: &Registry, what: &str, query: &Query) -> Result<Response> {
    use crate::index::PackageKey;
    let bad = |message: String| ApiError::new(StatusCode::BAD_REQUEST, "QUERY_INVALID", message);
    let records = &registry.records;
    let answer = match what {
        "packages" => {
            let keys = [
                query.get("name").map(PackageKey::Name),
                query.get("source").map(PackageKey::Source),
                query.get("id").map(PackageKey::Id),
                query.get("content").map(PackageKey::Content),
            ];
            let mut given = keys.into_iter().flatten();
            let (Some(key), None) = (given.next(), given.next()) else {
                return Err(bad("ask by exactly one of name, source, id or content".into()));
            };
            let bound = query.get("version").map(crate::query::Bound::parse).transpose().map_err(bad)?;
            crate::query::images_with(records, key, bound.as_ref()).await.map_err(ApiError::internal)?
        }
        "images" => {
            let (Some(name), Some(reference)) = (query.get("repository"), query.get("reference")) else {
                return Err(bad("give repository and reference".into()));
            };
            let name = repository(name)?;
            crate::query::image_contents(records, name, reference).await.map_err(ApiError::internal)?.ok_or_else(
                || ApiError::new(StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN", format!("{name} has no image {reference}")),
            )?
        }
        "sources" => serde_json::json!({"sources": records.sources().await.map_err(ApiError::internal)?}),
        "signed" => {
            let key = query.get("key").ok_or_else(|| bad("give key (a signing key's id)".into()))?;
            crate::query::images_claimed_by(records, key).await.map_err(ApiError::internal)?
        }
        _ => return Err(ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", format!("no query {what:?}"))),
    };
    Ok(json_response(StatusCode::OK, &answer, "application/json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_names() {
        assert_eq!(parse_range("bytes=0-9", 100), RangeAnswer::Part(0, 10));
        assert_eq!(parse_range("bytes=90-", 100), RangeAnswer::Part(90, 100));
        assert_eq!(parse_range("bytes=-10", 100), RangeAnswer::Part(90, 100));
        assert_eq!(parse_range("bytes=100-", 100), RangeAnswer::Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), RangeAnswer::Unsatisfiable);
        assert_eq!(parse_range("bytes=5-2", 100), RangeAnswer::Whole);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), RangeAnswer::Whole);
        assert_eq!(parse_range("items=0-1", 100), RangeAnswer::Whole);
        assert!(repository("example/app").is_ok());
        assert!(repository("Example/app").is_err());
        assert!(repository("a//b").is_err());
        assert!(repository("-a").is_err());
        assert_eq!(decode("a%2Fb+c"), "a/b c");
        assert!(valid_tag("v1.0_rc-1") && !valid_tag(".x") && !valid_tag(""));
    }
}
