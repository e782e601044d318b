//! bale's HTTP client: every source (Debian mirrors, OCI registries) uses
//! the agent made here, so a peer that stops sending fails after the stall
//! timeout instead of hanging, and every download is cut off at the size
//! its source declared (a manifest's descriptor, a Packages entry), so a
//! peer that streams forever cannot fill the disk.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

/// Seconds without a byte sent or received before a transfer fails.
pub const DEFAULT_STALL_SECONDS: u64 = 60;
/// The largest blob bale downloads unless `BALE_MAX_BLOB_SIZE` says otherwise.
pub const DEFAULT_MAX_BLOB_SIZE: u64 = 16 << 30;

/// The limits every transfer runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetLimits {
    /// No progress for this long fails the transfer (`BALE_STALL_TIMEOUT`, seconds).
    pub stall: Duration,
    /// No single download may be larger (`BALE_MAX_BLOB_SIZE`, bytes).
    pub max_blob: u64,
}

impl Default for NetLimits {
    fn default() -> Self {
        Self { stall: Duration::from_secs(DEFAULT_STALL_SECONDS), max_blob: DEFAULT_MAX_BLOB_SIZE }
    }
}

impl NetLimits {
    /// The defaults, overridden by `BALE_STALL_TIMEOUT` and `BALE_MAX_BLOB_SIZE`.
    /// A value that is not a positive whole number is ignored.
    pub fn from_env() -> Self {
        let number = |key| std::env::var(key).ok().and_then(|v| v.trim().parse::<u64>().ok()).filter(|&n| n > 0);
        let mut limits = Self::default();
        if let Some(seconds) = number("BALE_STALL_TIMEOUT") {
            limits.stall = Duration::from_secs(seconds);
        }
        if let Some(bytes) = number("BALE_MAX_BLOB_SIZE") {
            limits.max_blob = bytes;
        }
        limits
    }
}

/// How long one name lookup may take before it is tried again. Some
/// resolvers drop a query when several arrive at once and the C library
/// then waits 5 s for an answer; a fresh query is answered at once.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);
/// Lookups of one name before giving up.
const LOOKUP_ATTEMPTS: usize = 3;

/// An agent with bale's user agent, no error for HTTP statuses (callers
/// look at them), and `limits.stall` on connecting and on every read and
/// write, so a stalled peer is noticed within that time. Every agent of
/// the process shares one resolver, which looks each host up once.
/// Connections are kept alive and reused, a few per host.
pub fn agent(limits: &NetLimits) -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .tls_config(ureq::tls::TlsConfig::builder().root_certs(ROOT_CERTS.clone()).build())
        .http_status_as_error(false)
        .timeout_resolve(Some(LOOKUP_TIMEOUT))
        .timeout_connect(Some(limits.stall.min(Duration::from_secs(20))))
        .timeout_per_read(Some(limits.stall))
        .timeout_per_write(Some(limits.stall))
        .max_idle_connections_per_host(8)
        .user_agent(concat!("bale/", env!("CARGO_PKG_VERSION")))
        .build();
    ureq::Agent::with_parts(
        config,
        ureq::unversioned::transport::DefaultConnector::new(),
        SharedResolver(Arc::clone(&SHARED_RESOLVER)),
    )
}

/// The host's trust store as the system keeps it (Debian's
/// ca-certificates bundle, which holds the CAs an administrator added),
/// or the file `SSL_CERT_FILE` names; Mozilla's roots, built in, only
/// when neither is readable. A mirror or index behind a company's TLS
/// proxy is then trusted exactly as the host's other clients trust it.
static ROOT_CERTS: LazyLock<ureq::tls::RootCerts> = LazyLock::new(|| {
    let file = std::env::var_os("SSL_CERT_FILE")
        .filter(|f| !f.is_empty())
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(SYSTEM_BUNDLE));
    let certificates: Vec<ureq::tls::Certificate<'static>> = std::fs::read(&file)
        .ok()
        .filter(|pem| pem.len() <= MAX_BUNDLE)
        .map(|pem| {
            ureq::tls::parse_pem(&pem)
                .filter_map(|item| match item {
                    Ok(ureq::tls::PemItem::Certificate(c)) => Some(c.to_owned()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    if certificates.is_empty() {
        ureq::tls::RootCerts::WebPki
    } else {
        ureq::tls::RootCerts::Specific(Arc::new(certificates))
    }
});

/// Where Debian keeps the system's CA bundle.
const SYSTEM_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
/// The largest CA bundle read.
const MAX_BUNDLE: usize = 16 << 20;

static SHARED_RESOLVER: LazyLock<Arc<OnceResolver<DefaultResolver>>> =
    LazyLock::new(|| Arc::new(OnceResolver::new(DefaultResolver::default())));

/// The process's one resolver, shared by every agent.
#[derive(Debug)]
struct SharedResolver(Arc<OnceResolver<DefaultResolver>>);

impl Resolver for SharedResolver {
    fn resolve(&self, uri: &Uri, config: &Config, timeout: NextTimeout) -> Result<ResolvedSocketAddrs, ureq::Error> {
        self.0.resolve(uri, config, timeout)
    }
}

/// Looks each host up once: the first request for a host resolves it
/// while others for the same host wait for that answer (no burst of
/// identical queries), and the answer is kept for the process. A lookup
/// that times out is tried again, up to [`LOOKUP_ATTEMPTS`] times.
#[derive(Debug)]
pub struct OnceResolver<R> {
    inner: R,
    answers: Mutex<HashMap<String, Arc<Mutex<Option<ResolvedSocketAddrs>>>>>,
}

impl<R: Resolver> OnceResolver<R> {
    pub fn new(inner: R) -> Self {
        Self { inner, answers: Mutex::new(HashMap::new()) }
    }
}

impl<R: Resolver> Resolver for OnceResolver<R> {
    fn resolve(&self, uri: &Uri, config: &Config, timeout: NextTimeout) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let key = format!("{}://{}", uri.scheme_str().unwrap_or(""), uri.authority().map_or("", |a| a.as_str()));
        let slot = {
            let mut answers = self.answers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            Arc::clone(answers.entry(key).or_default())
        };
        // Held while looking up, so concurrent requests for this host wait.
        let mut answer = slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(addresses) = answer.as_ref() {
            return Ok(addresses.clone());
        }
        let mut last = None;
        for _ in 0..LOOKUP_ATTEMPTS {
            match self.inner.resolve(uri, config, timeout) {
                Ok(addresses) => {
                    *answer = Some(addresses.clone());
                    return Ok(addresses);
                }
                Err(error @ ureq::Error::Timeout(_)) => last = Some(error),
                Err(error) => return Err(error),
            }
        }
        Err(last.unwrap_or(ureq::Error::HostNotFound))
    }
}

/// Why a download stopped.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("it declares {declared} bytes, more than the {limit} bale downloads (raise BALE_MAX_BLOB_SIZE)")]
    TooLarge { declared: u64, limit: u64 },
    #[error("the server sent more than the {declared} bytes it was supposed to; the download was stopped")]
    Overlong { declared: u64 },
    #[error("no data arrived for {seconds} s (BALE_STALL_TIMEOUT); the download was stopped after {received} bytes")]
    Stalled { seconds: u64, received: u64 },
    #[error("{0}")]
    Network(io::Error),
    #[error("writing the download: {0}")]
    Write(io::Error),
}

impl DownloadError {
    /// What to do about it.
    pub fn help(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "check the source; if the blob is genuine, set BALE_MAX_BLOB_SIZE higher",
            Self::Overlong { .. } => "the server is broken or hostile; nothing it sent was kept",
            Self::Stalled { .. } => "retry, or set BALE_STALL_TIMEOUT (seconds) higher for a slow link",
            Self::Network(_) | Self::Write(_) => "retry; check the network and the disk",
        }
    }
}

/// Copies exactly the `declared` bytes of `body` into `out`, never more:
/// a body that goes on is cut off at `declared + 1` bytes and refused.
/// A shorter body is returned as is (the caller's digest check refuses it).
pub fn copy_declared(
    body: impl Read,
    declared: u64,
    out: &mut impl Write,
    limits: &NetLimits,
) -> Result<u64, DownloadError> {
    if declared > limits.max_blob {
        return Err(DownloadError::TooLarge { declared, limit: limits.max_blob });
    }
    let mut body = body.take(declared.saturating_add(1));
    let mut buf = vec![0u8; 64 * 1024];
    let mut received = 0u64;
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => return Ok(received),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if is_timeout(&e) => {
                return Err(DownloadError::Stalled { seconds: limits.stall.as_secs(), received });
            }
            Err(e) => return Err(DownloadError::Network(e)),
        };
        received += n as u64;
        if received > declared {
            return Err(DownloadError::Overlong { declared });
        }
        out.write_all(&buf[..n]).map_err(DownloadError::Write)?;
    }
}

/// Is this ureq's (or the socket's) timeout?
pub fn is_timeout(error: &io::Error) -> bool {
    if matches!(error.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock) {
        return true;
    }
    error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<ureq::Error>())
        .is_some_and(|e| matches!(e, ureq::Error::Timeout(_)))
}

/// Describes a failed request, naming a timeout as a stall.
pub fn describe(error: &ureq::Error, limits: &NetLimits) -> String {
    match error {
        ureq::Error::Timeout(_) => {
            format!("no answer for {} s (BALE_STALL_TIMEOUT)", limits.stall.as_secs())
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_body_longer_than_declared_is_cut_off() {
        let limits = NetLimits::default();
        let endless = io::repeat(7);
        let mut out = Vec::new();
        let err = copy_declared(endless, 1000, &mut out, &limits).unwrap_err();
        assert!(matches!(err, DownloadError::Overlong { declared: 1000 }), "{err}");
        assert!(out.len() <= 1000 + 64 * 1024);
        let mut out = Vec::new();
        assert_eq!(copy_declared(&[1u8; 10][..], 10, &mut out, &limits).unwrap(), 10);
        let limits = NetLimits { max_blob: 5, ..NetLimits::default() };
        assert!(matches!(copy_declared(&[1u8; 10][..], 10, &mut out, &limits), Err(DownloadError::TooLarge { .. })));
    }

    /// Answers every lookup with one address, counting lookups, and times
    /// out the first `stalls` of them.
    #[derive(Debug)]
    struct Counting {
        address: std::net::SocketAddr,
        lookups: std::sync::atomic::AtomicUsize,
        stalls: usize,
    }

    impl Resolver for Counting {
        fn resolve(&self, _: &Uri, _: &Config, _: NextTimeout) -> Result<ResolvedSocketAddrs, ureq::Error> {
            let n = self.lookups.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            // Slow enough that concurrent requests overlap.
            std::thread::sleep(Duration::from_millis(50));
            if n < self.stalls {
                return Err(ureq::Error::Timeout(ureq::Timeout::Resolve));
            }
            let mut out = DefaultResolver::default().empty();
            out.push(self.address);
            Ok(out)
        }
    }

    /// A server on 127.0.0.1 answering every request with an empty 200.
    fn server() -> std::net::SocketAddr {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                std::thread::spawn(move || {
                    let mut reader = io::BufReader::new(stream.try_clone().unwrap());
                    loop {
                        let mut line = String::new();
                        loop {
                            line.clear();
                            if io::BufRead::read_line(&mut reader, &mut line).unwrap_or(0) == 0 {
                                return;
                            }
                            if line == "\r\n" {
                                break;
                            }
                        }
                        if stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").is_err() {
                            return;
                        }
                    }
                });
            }
        });
        address
    }

    fn agent_with(resolver: Arc<OnceResolver<Counting>>) -> ureq::Agent {
        #[derive(Debug)]
        struct Shared(Arc<OnceResolver<Counting>>);
        impl Resolver for Shared {
            fn resolve(&self, u: &Uri, c: &Config, t: NextTimeout) -> Result<ResolvedSocketAddrs, ureq::Error> {
                self.0.resolve(u, c, t)
            }
        }
        let config = ureq::Agent::config_builder().http_status_as_error(false).build();
        ureq::Agent::with_parts(config, ureq::unversioned::transport::DefaultConnector::new(), Shared(resolver))
    }

    #[test]
    fn each_host_is_looked_up_once_however_many_requests_race() {
        let address = server();
        let counting = Counting { address, lookups: Default::default(), stalls: 0 };
        let resolver = Arc::new(OnceResolver::new(counting));
        let url = format!("http://mirror.bale-test.invalid:{}/dists/x/InRelease", address.port());
        let threads: Vec<_> = (0..8)
            .map(|_| {
                // Separate agents, as separate sources make: one resolver.
                let agent = agent_with(Arc::clone(&resolver));
                let url = url.clone();
                std::thread::spawn(move || agent.get(&url).call().map(|r| r.status().as_u16()))
            })
            .collect();
        for thread in threads {
            assert_eq!(thread.join().unwrap().unwrap(), 200);
        }
        assert_eq!(resolver.inner.lookups.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[test]
    fn a_lookup_that_stalls_is_tried_again() {
        let address = server();
        let url = format!("http://stalls.bale-test.invalid:{}/", address.port());
        let twice = Arc::new(OnceResolver::new(Counting { address, lookups: Default::default(), stalls: 2 }));
        assert_eq!(agent_with(Arc::clone(&twice)).get(&url).call().unwrap().status().as_u16(), 200);
        assert_eq!(twice.inner.lookups.load(std::sync::atomic::Ordering::SeqCst), 3);
        let always = Arc::new(OnceResolver::new(Counting { address, lookups: Default::default(), stalls: 99 }));
        assert!(agent_with(Arc::clone(&always)).get(&url).call().is_err());
        assert_eq!(always.inner.lookups.load(std::sync::atomic::Ordering::SeqCst), LOOKUP_ATTEMPTS);
    }
}
