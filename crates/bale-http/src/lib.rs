//! bale's HTTP client: every source (Debian mirrors, OCI registries) uses
//! the agent made here, so a peer that stops sending fails after the stall
//! timeout instead of hanging, and every download is cut off at the size
//! its source declared (a manifest's descriptor, a Packages entry), so a
//! peer that streams forever cannot fill the disk.

use std::io::{self, Read, Write};
use std::time::Duration;

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

/// An agent with bale's user agent, no error for HTTP statuses (callers
/// look at them), and `limits.stall` on connecting and on every read and
/// write, so a stalled peer is noticed within that time.
pub fn agent(limits: &NetLimits) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(limits.stall.min(Duration::from_secs(20))))
        .timeout_per_read(Some(limits.stall))
        .timeout_per_write(Some(limits.stall))
        .user_agent(concat!("bale/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
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
}
