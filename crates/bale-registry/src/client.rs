//! The OCI distribution API calls bale needs.

use std::fs::File;
use std::path::{Path, PathBuf};

use bale_fileset::{Digest, sha256_bytes};
use bale_progress::Progress;
use bale_store::oci::{Index, Manifest};
use bale_store::{Descriptor, REF_NAME_ANNOTATION, Store, StoreError};

use crate::reference::Reference;

const MANIFEST_TYPES: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, \
                              application/vnd.docker.distribution.manifest.v2+json";

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{url}: {reason}")]
    Network { url: String, reason: String },
    #[error("{url}: {source}; nothing was stored")]
    Download { url: String, source: bale_http::DownloadError },
    #[error("{method} {url}: the registry answered {status}: {body}")]
    Status { method: &'static str, url: String, status: u16, body: String },
    #[error("{url}: the registry sent content hashing to {actual}, not {expected}; nothing was stored")]
    Mismatch { url: String, expected: Digest, actual: Digest },
    #[error("{}: {reason}", path.display())]
    Layout { path: PathBuf, reason: String },
    #[error("{0} is not an image manifest bale can pull (only OCI image manifests are supported)")]
    Unsupported(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{reference}: {reason}; nothing was pulled")]
    Refused { reference: String, reason: String },
}

impl RegistryError {
    /// What to do about it, for people.
    pub fn help(&self) -> Option<&'static str> {
        match self {
            Self::Refused { .. } => Some(
                "`bale verify REF --policy FILE` after an unguarded pull shows every signature; the publisher \
                 signs with `bale build --sign`",
            ),
            Self::Download { source, .. } => Some(source.help()),
            Self::Store(e) => e.help(),
            _ => None,
        }
    }
}

/// A client for one repository of one registry.
#[derive(Debug)]
pub struct Registry {
    agent: ureq::Agent,
    limits: bale_http::NetLimits,
    reference: Reference,
    authorization: Option<String>,
}

type Response = ureq::http::Response<ureq::Body>;
/// Makes one request, given the agent and the Authorization header to use.
type MakeRequest<'a> = &'a dyn Fn(&ureq::Agent, Option<&str>) -> Result<Response, ureq::Error>;

impl Registry {
    pub fn new(reference: &Reference) -> Self {
        let limits = bale_http::NetLimits::from_env();
        let authorization = crate::auth::basic_auth(&reference.registry).map(|a| format!("Basic {a}"));
        Self { agent: bale_http::agent(&limits), limits, reference: reference.clone(), authorization }
    }

    fn url(&self, tail: &str) -> String {
        format!("{}/v2/{}/{tail}", self.reference.base_url(), self.reference.repository)
    }

    fn network(url: &str, e: impl std::fmt::Display) -> RegistryError {
        RegistryError::Network { url: url.to_string(), reason: e.to_string() }
    }

    fn request_failed(&self, url: &str, e: &ureq::Error) -> RegistryError {
        Self::network(url, bale_http::describe(e, &self.limits))
    }

    fn status(method: &'static str, url: &str, mut response: Response) -> RegistryError {
        let body = response.body_mut().read_to_string().unwrap_or_default();
        RegistryError::Status {
            method,
            url: url.to_string(),
            status: response.status().as_u16(),
            body: body.trim().chars().take(300).collect(),
        }
    }

    /// Sends a request, answering a Bearer challenge once if the registry
    /// asks for a token.
    fn send(&mut self, make: MakeRequest<'_>, url: &str) -> Result<Response, RegistryError> {
        let response = make(&self.agent, self.authorization.as_deref()).map_err(|e| self.request_failed(url, &e))?;
        if response.status().as_u16() != 401 {
            return Ok(response);
        }
        let challenge =
            response.headers().get("www-authenticate").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let Some(token) = self.token(&challenge)? else { return Ok(response) };
        self.authorization = Some(format!("Bearer {token}"));
        make(&self.agent, self.authorization.as_deref()).map_err(|e| self.request_failed(url, &e))
    }

    /// The token-server dance of `WWW-Authenticate: Bearer realm=…`.
    fn token(&self, challenge: &str) -> Result<Option<String>, RegistryError> {
        let Some(params) = challenge.strip_prefix("Bearer ") else { return Ok(None) };
        let mut realm = None;
        let mut query = Vec::new();
        for (key, value) in challenge_params(params) {
            match key.as_str() {
                "realm" => realm = Some(value),
                "service" | "scope" => query.push(format!("{key}={}", percent_encode(&value))),
                _ => {}
            }
        }
        let Some(realm) = realm else { return Ok(None) };
        let url = if query.is_empty() { realm } else { format!("{realm}?{}", query.join("&")) };
        let mut request = self.agent.get(&url);
        if let Some(basic) = crate::auth::basic_auth(&self.reference.registry) {
            request = request.header("Authorization", format!("Basic {basic}"));
        }
        let mut response = request.call().map_err(|e| Self::network(&url, e))?;
        if response.status().as_u16() != 200 {
            return Err(Self::status("GET", &url, response));
        }
        let body = response.body_mut().read_to_vec().map_err(|e| Self::network(&url, e))?;
        let doc: serde_json::Value = serde_json::from_slice(&body).map_err(|e| Self::network(&url, e))?;
        Ok(doc["token"].as_str().or(doc["access_token"].as_str()).map(str::to_string))
    }

    pub fn has_blob(&mut self, digest: &Digest) -> Result<bool, RegistryError> {
        let url = self.url(&format!("blobs/{digest}"));
        let response = self.send(&|agent, auth| with_auth(agent.head(&url), auth).call(), &url)?;
        match response.status().as_u16() {
            200 => Ok(true),
            404 => Ok(false),
            _ => Err(Self::status("HEAD", &url, response)),
        }
    }

    /// Uploads one blob in a single request; `open` gives its bytes (it is
    /// called again if the registry asks for credentials first).
    /// Uploads a blob, or, when `mount_from` names another repository of
    /// this registry that holds it, asks the registry to mount it from
    /// there instead (nothing is sent); returns whether it was mounted. A
    /// registry that cannot mount starts an ordinary upload, which goes on.
    pub fn put_blob(
        &mut self,
        digest: &Digest,
        open: &dyn Fn() -> Result<File, StoreError>,
        size: u64,
        mount_from: Option<&str>,
    ) -> Result<bool, RegistryError> {
        let start = match mount_from {
            Some(from) => self.url(&format!("blobs/uploads/?mount={digest}&from={}", percent_encode(from))),
            None => self.url("blobs/uploads/"),
        };
        let response = self.send(&|agent, auth| with_auth(agent.post(&start), auth).send_empty(), &start)?;
        match response.status().as_u16() {
            201 if mount_from.is_some() => return Ok(true),
            202 => {}
            _ => return Err(Self::status("POST", &start, response)),
        }
        let location = response.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let location =
            if location.starts_with("http") { location } else { format!("{}{location}", self.reference.base_url()) };
        let separator = if location.contains('?') { '&' } else { '?' };
        let url = format!("{location}{separator}digest={digest}");
        let response = self.send(
            &|agent, auth| {
                let file = open().map_err(|e| ureq::Error::Io(std::io::Error::other(e)))?;
                with_auth(agent.put(&url), auth)
                    .header("Content-Type", "application/octet-stream")
                    .header("Content-Length", size.to_string())
                    .send(ureq::SendBody::from_owned_reader(file))
            },
            &url,
        )?;
        match response.status().as_u16() {
            201 | 204 => Ok(false),
            _ => Err(Self::status("PUT", &url, response)),
        }
    }

    pub fn put_manifest(&mut self, reference: &str, media_type: &str, bytes: &[u8]) -> Result<(), RegistryError> {
        let url = self.url(&format!("manifests/{reference}"));
        let response = self.send(
            &|agent, auth| with_auth(agent.put(&url), auth).header("Content-Type", media_type).send(bytes),
            &url,
        )?;
        match response.status().as_u16() {
            201 | 204 => Ok(()),
            _ => Err(Self::status("PUT", &url, response)),
        }
    }

    /// The manifest bytes and their digest (checked when the reference is
    /// a digest, and against the registry's Docker-Content-Digest).
    pub fn get_manifest(&mut self, reference: &str) -> Result<(Vec<u8>, Digest, String), RegistryError> {
        let url = self.url(&format!("manifests/{reference}"));
        self.try_get_manifest(reference)?.ok_or_else(|| RegistryError::Status {
            method: "GET",
            url,
            status: 404,
            body: "no such manifest".into(),
        })
    }

    /// [`Registry::get_manifest`], or `None` when the registry has none.
    pub fn try_get_manifest(&mut self, reference: &str) -> Result<Option<(Vec<u8>, Digest, String)>, RegistryError> {
        let url = self.url(&format!("manifests/{reference}"));
        let mut response =
            self.send(&|agent, auth| with_auth(agent.get(&url), auth).header("Accept", MANIFEST_TYPES).call(), &url)?;
        if response.status().as_u16() == 404 {
            return Ok(None);
        }
        if response.status().as_u16() != 200 {
            return Err(Self::status("GET", &url, response));
        }
        let media_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let claimed = response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<Digest>().ok());
        let bytes =
            response.body_mut().with_config().limit(16 << 20).read_to_vec().map_err(|e| Self::network(&url, e))?;
        let actual = sha256_bytes(&bytes);
        for expected in claimed.into_iter().chain(reference.parse::<Digest>().ok()) {
            if expected != actual {
                return Err(RegistryError::Mismatch { url, expected, actual });
            }
        }
        Ok(Some((bytes, actual, media_type)))
    }

    /// The referrers of `subject` through the OCI 1.1 referrers API, or
    /// `None` when the registry does not have the API.
    fn referrers_api(&mut self, subject: &Digest) -> Result<Option<Vec<Descriptor>>, RegistryError> {
        let url = self.url(&format!("referrers/{subject}"));
        let mut response = self.send(
            &|agent, auth| with_auth(agent.get(&url), auth).header("Accept", bale_store::INDEX_MEDIA_TYPE).call(),
            &url,
        )?;
        match response.status().as_u16() {
            200 => {
                let bytes = response
                    .body_mut()
                    .with_config()
                    .limit(16 << 20)
                    .read_to_vec()
                    .map_err(|e| Self::network(&url, e))?;
                let index: Index = serde_json::from_slice(&bytes).map_err(|e| Self::network(&url, e))?;
                Ok(Some(index.manifests))
            }
            // distribution 2.8 answers 404 for the unknown route.
            404 | 405 | 400 => Ok(None),
            _ => Err(Self::status("GET", &url, response)),
        }
    }

    /// The referrers of `subject`: the API's answer where the registry has
    /// it, else the index under the fallback tag `sha256-<hex>` (OCI 1.1's
    /// referrers tag scheme), else none.
    pub fn referrers(&mut self, subject: &Digest) -> Result<Vec<Descriptor>, RegistryError> {
        if let Some(found) = self.referrers_api(subject)? {
            return Ok(found);
        }
        match self.try_get_manifest(&fallback_tag(subject))? {
            Some((bytes, _, _)) => {
                let index: Index = serde_json::from_slice(&bytes)
                    .map_err(|e| Self::network(&self.url(&format!("manifests/{}", fallback_tag(subject))), e))?;
                Ok(index.manifests)
            }
            None => Ok(Vec::new()),
        }
    }

    /// Makes `referrers` findable from `subject` on a registry without
    /// the referrers API: adds them to the index under the fallback tag,
    /// keeping what is there. Returns whether the tag was written.
    pub fn tag_referrers(&mut self, subject: &Digest, referrers: &[Descriptor]) -> Result<bool, RegistryError> {
        if self.referrers_api(subject)?.is_some() {
            return Ok(false);
        }
        let tag = fallback_tag(subject);
        let mut index = match self.try_get_manifest(&tag)? {
            Some((bytes, _, _)) => serde_json::from_slice(&bytes).unwrap_or_default(),
            None => Index::default(),
        };
        for referrer in referrers {
            if !index.manifests.iter().any(|d| d.digest == referrer.digest) {
                let mut entry = referrer.clone();
                entry.annotations.remove(REF_NAME_ANNOTATION);
                index.manifests.push(entry);
            }
        }
        index.manifests.sort_by_key(|d| d.digest);
        let bytes = bale_store::oci::to_json(&index);
        self.put_manifest(&tag, bale_store::INDEX_MEDIA_TYPE, &bytes)?;
        Ok(true)
    }

    /// A small blob (a signature bundle) into memory, at the `size` its
    /// descriptor declares (at most `max`), checked by digest.
    pub fn get_small_blob(&mut self, digest: &Digest, size: u64, max: u64) -> Result<Vec<u8>, RegistryError> {
        let url = self.url(&format!("blobs/{digest}"));
        if size > max {
            return Err(RegistryError::Unsupported(format!("{url} (a {size}-byte signature)")));
        }
        let response = self.send(&|agent, auth| with_auth(agent.get(&url), auth).call(), &url)?;
        if response.status().as_u16() != 200 {
            return Err(Self::status("GET", &url, response));
        }
        let mut bytes = Vec::new();
        bale_http::copy_declared(response.into_body().into_reader(), size, &mut bytes, &self.limits)
            .map_err(|source| RegistryError::Download { url: url.clone(), source })?;
        let actual = bale_fileset::sha256_bytes(&bytes);
        if actual != *digest {
            return Err(RegistryError::Mismatch { url, expected: *digest, actual });
        }
        Ok(bytes)
    }

    /// Streams a blob of the `size` its descriptor declares into the store;
    /// it lands only if it hashes right. A registry that sends more, or
    /// stalls, is cut off and the partial file removed.
    pub fn get_blob(&mut self, digest: &Digest, size: u64, store: &Store) -> Result<u64, RegistryError> {
        if store.has_blob(digest) {
            return Ok(0);
        }
        let url = self.url(&format!("blobs/{digest}"));
        let response = self.send(&|agent, auth| with_auth(agent.get(&url), auth).call(), &url)?;
        if response.status().as_u16() != 200 {
            return Err(Self::status("GET", &url, response));
        }
        let mut writer = store.blob_writer()?;
        let copied = bale_http::copy_declared(response.into_body().into_reader(), size, &mut writer, &self.limits)
            .map_err(|source| RegistryError::Download { url: url.clone(), source })?;
        match writer.commit(Some(*digest)) {
            Ok(_) => Ok(copied),
            Err(StoreError::DigestMismatch { actual, .. }) => {
                Err(RegistryError::Mismatch { url, expected: *digest, actual })
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// The tag OCI 1.1's fallback scheme keeps an image's referrers under.
fn fallback_tag(subject: &Digest) -> String {
    format!("sha256-{}", subject.hex())
}

/// The `key="value"` pairs of a challenge; values may hold commas
/// (`scope="repository:x:pull,push"`).
fn challenge_params(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else { break };
        let key = key.trim().trim_start_matches(',').trim().to_string();
        let after = after.trim_start();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.find('"') {
                Some(end) => (quoted[..end].to_string(), &quoted[end + 1..]),
                None => (quoted.to_string(), ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (after[..end].trim().to_string(), &after[end..]),
                None => (after.trim().to_string(), ""),
            }
        };
        out.push((key, value));
        rest = remaining.trim_start().trim_start_matches(',').trim_start();
    }
    out
}

/// `GET /v2/_bale/ENDPOINT?PARAMS` of a registry `bale serve` runs: its
/// JSON query API over what each image holds (docs/serve.md#queries).
pub fn query(registry: &str, endpoint: &str, params: &[(&str, &str)]) -> Result<serde_json::Value, RegistryError> {
    let reference = Reference { registry: registry.to_string(), repository: String::new(), reference: String::new() };
    let mut client = Registry::new(&reference);
    let query: Vec<String> = params.iter().map(|(k, v)| format!("{k}={}", percent_encode(v))).collect();
    let url = format!("{}/v2/_bale/{endpoint}?{}", reference.base_url(), query.join("&"));
    let mut response = client.send(&|agent, auth| with_auth(agent.get(&url), auth).call(), &url)?;
    if response.status().as_u16() != 200 {
        return Err(Registry::status("GET", &url, response));
    }
    let bytes =
        response.body_mut().with_config().limit(64 << 20).read_to_vec().map_err(|e| Registry::network(&url, e))?;
    serde_json::from_slice(&bytes).map_err(|e| Registry::network(&url, format!("not the query API's JSON: {e}")))
}

fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn challenges_keep_commas_inside_quotes() {
        let params = super::challenge_params(
            r#"realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(params[2], ("scope".to_string(), "repository:a/b:pull,push".to_string()));
        assert_eq!(params[0].1, "https://auth.example/token");
        assert_eq!(super::percent_encode("repository:a/b:pull,push"), "repository:a/b:pull%2Cpush");
    }
}

fn with_auth<B>(request: ureq::RequestBuilder<B>, auth: Option<&str>) -> ureq::RequestBuilder<B> {
    match auth {
        Some(value) => request.header("Authorization", value),
        None => request,
    }
}

/// What a push did.
#[derive(Debug, Default, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PushReport {
    pub reference: String,
    pub manifest: String,
    pub blobs_sent: u64,
    pub blobs_present: u64,
    /// Blobs the registry mounted from another of its repositories.
    pub blobs_mounted: u64,
    pub bytes_sent: u64,
    pub referrers: u64,
    /// Fallback tags (`sha256-<hex>`) written for a registry without the
    /// referrers API.
    pub referrer_tags: u64,
    /// Every blob the repository now holds for the image.
    #[serde(skip)]
    pub blobs: Vec<Digest>,
}

fn layout_err(path: &Path, reason: impl std::fmt::Display) -> RegistryError {
    RegistryError::Layout { path: path.to_path_buf(), reason: reason.to_string() }
}

/// Pushes the image or image index tagged `tag` in the OCI layout `dir`,
/// with the artifacts that refer to its images (their SBOMs), to `target`.
/// Blobs the registry already has are not sent. An index's images go up
/// by digest before the index itself takes the tag, so the tag never names
/// anything the registry lacks.
pub fn push_layout(
    dir: &Path,
    tag: &str,
    target: &Reference,
    mount_from: &dyn Fn(&Digest) -> Option<String>,
    progress: &dyn Progress,
) -> Result<PushReport, RegistryError> {
    let layout = bale_store::LayoutReader::open(dir)?;
    let index: Index = layout.index()?;
    let top = index
        .manifests
        .iter()
        .find(|d| d.annotations.get(REF_NAME_ANNOTATION).map(String::as_str) == Some(tag))
        .ok_or_else(|| layout_err(dir, format!("no image tagged {tag:?}")))?;
    let (top_bytes, images): (Vec<u8>, Vec<Descriptor>) = if top.media_type == bale_store::INDEX_MEDIA_TYPE {
        let (images, bytes): (Index, _) = layout.read_json(&top.digest)?;
        if images.manifests.iter().any(|d| d.media_type != bale_store::MANIFEST_MEDIA_TYPE) {
            return Err(layout_err(
                dir,
                format!("the index tagged {tag:?} lists something other than image manifests"),
            ));
        }
        (bytes, images.manifests)
    } else {
        (layout.read_json::<Manifest>(&top.digest)?.1, vec![top.clone()])
    };
    let mut manifests = Vec::new();
    for image in &images {
        let (manifest, bytes): (Manifest, _) = layout.read_json(&image.digest)?;
        manifests.push((image.clone(), manifest, bytes));
    }
    let referrers: Vec<_> = index
        .manifests
        .iter()
        .filter(|d| d.artifact_type.is_some())
        .filter_map(|d| layout.read_json::<Manifest>(&d.digest).ok().map(|(m, bytes)| (d.clone(), m, bytes)))
        .filter(|(_, m, _)| m.subject.as_ref().is_some_and(|s| images.iter().any(|i| i.digest == s.digest)))
        .collect();
    let mut blobs = Vec::new();
    for (_, m, _) in manifests.iter().chain(&referrers) {
        blobs.push(m.config.clone());
        blobs.extend(m.layers.iter().cloned());
    }
    blobs.sort_by_key(|d| d.digest);
    blobs.dedup_by_key(|d| d.digest);
    let mut registry = Registry::new(target);
    let mut report =
        PushReport { reference: target.to_string(), manifest: top.digest.to_string(), ..Default::default() };
    progress.phase("pushing", Some(blobs.iter().map(|d| d.size).sum()));
    for blob in &blobs {
        if registry.has_blob(&blob.digest)? {
            report.blobs_present += 1;
        } else {
            let from = mount_from(&blob.digest).filter(|repo| *repo != target.repository);
            let open = || layout.open_blob(&blob.digest, blob.size);
            if registry.put_blob(&blob.digest, &open, blob.size, from.as_deref())? {
                report.blobs_mounted += 1;
            } else {
                report.blobs_sent += 1;
                report.bytes_sent += blob.size;
            }
        }
        report.blobs.push(blob.digest);
        progress.advance(blob.size);
    }
    progress.finish_phase();
    if top.media_type == bale_store::INDEX_MEDIA_TYPE {
        for (descriptor, _, bytes) in &manifests {
            registry.put_manifest(&descriptor.digest.to_string(), &descriptor.media_type, bytes)?;
            report.bytes_sent += bytes.len() as u64;
        }
    }
    registry.put_manifest(&target.reference, &top.media_type, &top_bytes)?;
    report.bytes_sent += top_bytes.len() as u64;
    for (descriptor, _, bytes) in &referrers {
        registry.put_manifest(&descriptor.digest.to_string(), &descriptor.media_type, bytes)?;
        report.bytes_sent += bytes.len() as u64;
        report.referrers += 1;
    }
    // Where the registry cannot list referrers itself, the fallback tag
    // does, so a pull finds the SBOMs.
    for image in &images {
        let own: Vec<Descriptor> = referrers
            .iter()
            .filter(|(_, m, _)| m.subject.as_ref().is_some_and(|s| s.digest == image.digest))
            .map(|(d, _, _)| d.clone())
            .collect();
        if !own.is_empty() && registry.tag_referrers(&image.digest, &own)? {
            report.referrer_tags += 1;
        }
    }
    Ok(report)
}

/// What a pull did.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PullReport {
    pub reference: String,
    /// The image manifest or image index the reference names.
    pub manifest: Digest,
    pub manifest_size: u64,
    pub media_type: String,
    /// The config of a single image (an index has one per image).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<Digest>,
    /// Every layer, of every image.
    pub layers: Vec<Digest>,
    /// The images of an index, with their platforms.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<Descriptor>,
    /// The artifacts that refer to the images (SBOMs), pulled with them.
    pub referrers: Vec<Descriptor>,
    pub bytes_received: u64,
}

/// The most referrers pulled for one image.
const MAX_REFERRERS: usize = 64;

/// The most images one index may list.
const MAX_INDEX_ENTRIES: usize = 64;

/// Pulls an image or an image index (every image of it) into the store:
/// manifests, configs and layers, each checked against its digest before
/// it lands.
/// What a guarded pull shows its guard before anything is stored: each
/// image's manifest and its digest, and the bytes of each of its
/// referrers of the guard's artifact types (signature bundles), by type.
#[derive(Debug, Clone)]
pub struct PullCandidate {
    pub digest: Digest,
    pub manifest: Manifest,
    pub referrers: Vec<(String, Vec<u8>)>,
}

impl PullCandidate {
    /// The referrers' bytes of `artifact_type`.
    pub fn of_type(&self, artifact_type: &str) -> Vec<Vec<u8>> {
        self.referrers.iter().filter(|(t, _)| t == artifact_type).map(|(_, b)| b.clone()).collect()
    }
}

/// A guard over a pull: the referrers' artifact types it wants to see, the
/// most it reads of one, and the check, which refuses with a reason.
pub struct PullGuard<'a> {
    pub artifact_types: &'a [&'a str],
    pub max_blob: u64,
    pub check: &'a dyn Fn(&[PullCandidate]) -> Result<(), String>,
}

impl std::fmt::Debug for PullGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PullGuard({})", self.artifact_types.join(", "))
    }
}

/// The most a guarded pull reads of its referrers in all.
const MAX_GUARDED_TOTAL: u64 = 32 << 20;

pub fn pull(source: &Reference, store: &Store, progress: &dyn Progress) -> Result<PullReport, RegistryError> {
    pull_guarded(source, store, None, progress)
}

/// [`pull`], asking `guard` first: with the manifests and the guarded
/// referrers read into memory, before any blob enters the store.
pub fn pull_guarded(
    source: &Reference,
    store: &Store,
    guard: Option<&PullGuard<'_>>,
    progress: &dyn Progress,
) -> Result<PullReport, RegistryError> {
    let _session = store.lock_shared()?;
    let mut registry = Registry::new(source);
    let (bytes, digest, media_type) = registry.get_manifest(&source.reference)?;
    let unsupported = || RegistryError::Unsupported(source.to_string());
    let is_index = media_type.contains("image.index") || media_type.contains("manifest.list");
    let mut images = Vec::new();
    let mut manifests = Vec::new();
    let top_media_type = if is_index {
        let index: Index = serde_json::from_slice(&bytes).map_err(|_| unsupported())?;
        if index.manifests.len() > MAX_INDEX_ENTRIES {
            return Err(unsupported());
        }
        for entry in index.manifests {
            if entry.media_type != bale_store::MANIFEST_MEDIA_TYPE {
                return Err(unsupported());
            }
            let (bytes, actual, _) = registry.get_manifest(&entry.digest.to_string())?;
            let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|_| unsupported())?;
            manifests.push((actual, bytes, manifest));
            images.push(entry);
        }
        bale_store::INDEX_MEDIA_TYPE
    } else {
        let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|_| unsupported())?;
        if manifest.media_type != bale_store::MANIFEST_MEDIA_TYPE && !media_type.contains("manifest") {
            return Err(unsupported());
        }
        manifests.push((digest, bytes.clone(), manifest));
        bale_store::MANIFEST_MEDIA_TYPE
    };
    if let Some(guard) = guard {
        let mut candidates = Vec::new();
        let mut read: u64 = 0;
        for (image, _, manifest) in &manifests {
            let mut found = Vec::new();
            // Filtered before the cap, so other artifacts cannot crowd the
            // signatures out; one that cannot be read is skipped (it
            // vouches for nothing), and the total read is bounded.
            let wanted = registry.referrers(image)?.into_iter().filter(|d| {
                d.media_type == bale_store::MANIFEST_MEDIA_TYPE
                    && d.artifact_type.as_deref().is_none_or(|t| guard.artifact_types.contains(&t))
            });
            for descriptor in wanted.take(MAX_REFERRERS) {
                let Ok((bytes, _, _)) = registry.get_manifest(&descriptor.digest.to_string()) else { continue };
                let Ok(artifact) = serde_json::from_slice::<Manifest>(&bytes) else { continue };
                let Some(artifact_type) =
                    artifact.artifact_type.as_deref().filter(|t| guard.artifact_types.contains(t))
                else {
                    continue;
                };
                if artifact.subject.as_ref().is_none_or(|s| s.digest != *image) {
                    continue;
                }
                for layer in artifact.layers.iter().take(1) {
                    if read.saturating_add(layer.size) > MAX_GUARDED_TOTAL {
                        continue;
                    }
                    if let Ok(blob) = registry.get_small_blob(&layer.digest, layer.size, guard.max_blob) {
                        read += blob.len() as u64;
                        found.push((artifact_type.to_string(), blob));
                    }
                }
            }
            candidates.push(PullCandidate { digest: *image, manifest: manifest.clone(), referrers: found });
        }
        (guard.check)(&candidates)
            .map_err(|reason| RegistryError::Refused { reference: source.to_string(), reason })?;
    }
    let mut received = 0;
    let total: u64 =
        manifests.iter().map(|(_, _, m)| m.layers.iter().map(|l| l.size).sum::<u64>() + m.config.size).sum();
    progress.phase("pulling", Some(total));
    for (_, _, manifest) in &manifests {
        for blob in std::iter::once(&manifest.config).chain(&manifest.layers) {
            received += registry.get_blob(&blob.digest, blob.size, store)?;
            progress.advance(blob.size);
        }
    }
    progress.finish_phase();
    // The images' referrers (their SBOMs): through the referrers API or the
    // fallback tag, each manifest checked by digest, its blobs by theirs.
    let mut referrers = Vec::new();
    for (image, _, _) in &manifests {
        for descriptor in registry.referrers(image)?.into_iter().take(MAX_REFERRERS) {
            if descriptor.media_type != bale_store::MANIFEST_MEDIA_TYPE {
                continue;
            }
            let (bytes, _, _) = registry.get_manifest(&descriptor.digest.to_string())?;
            let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|_| unsupported())?;
            if manifest.subject.as_ref().is_none_or(|s| s.digest != *image) {
                continue;
            }
            for blob in std::iter::once(&manifest.config).chain(&manifest.layers) {
                received += registry.get_blob(&blob.digest, blob.size, store)?;
            }
            store.put_bytes(&bytes)?;
            received += bytes.len() as u64;
            referrers.push(descriptor);
        }
    }
    // Manifests land after their blobs, the index after its manifests.
    for (_, bytes, _) in &manifests {
        store.put_bytes(bytes)?;
        if is_index {
            received += bytes.len() as u64;
        }
    }
    store.put_bytes(&bytes)?;
    let mut descriptor = bale_store::Descriptor::new(top_media_type, digest, bytes.len() as u64);
    if !is_index {
        descriptor.artifact_type = manifests[0].2.artifact_type.clone();
    }
    store.add_image(&source.to_string(), descriptor, &referrers)?;
    let blobs: Vec<Digest> = manifests
        .iter()
        .flat_map(|(_, _, m)| std::iter::once(m.config.digest).chain(m.layers.iter().map(|l| l.digest)))
        .collect();
    crate::mounts::record(store, &source.registry, &source.repository, &blobs);
    Ok(PullReport {
        reference: source.to_string(),
        manifest: digest,
        manifest_size: bytes.len() as u64,
        media_type: if is_index { top_media_type.to_string() } else { manifests[0].2.media_type.clone() },
        config: if is_index { None } else { Some(manifests[0].2.config.digest) },
        layers: manifests.iter().flat_map(|(_, _, m)| m.layers.iter().map(|l| l.digest)).collect(),
        images,
        referrers,
        bytes_received: received + bytes.len() as u64,
    })
}
