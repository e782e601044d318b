//! A CNCF distribution registry (`docker-registry`) on 127.0.0.1, started
//! by the test and stopped by its own process id when dropped.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Registry {
    child: Child,
    pub address: String,
    pub storage: PathBuf,
    _dir: tempfile::TempDir,
}

impl Registry {
    pub fn start() -> Option<Self> {
        let binary = bale_testkit::require_tool("docker-registry")?;
        let dir = tempfile::tempdir().unwrap();
        // A free port: bind, read it, release it.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let storage = dir.path().join("storage");
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
                storage.display()
            ),
        )
        .unwrap();
        let child =
            Command::new(binary).arg("serve").arg(&config).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let address = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(&address).is_err() {
            assert!(Instant::now() < deadline, "the registry did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(Self { child, address, storage, _dir: dir })
    }

    /// Bytes the registry keeps on disk (blobs and metadata).
    pub fn storage_bytes(&self) -> u64 {
        fn walk(dir: &std::path::Path) -> u64 {
            std::fs::read_dir(dir)
                .map(|entries| {
                    entries
                        .filter_map(Result::ok)
                        .map(|e| {
                            let md = e.metadata().unwrap();
                            if md.is_dir() { walk(&e.path()) } else { md.len() }
                        })
                        .sum()
                })
                .unwrap_or(0)
        }
        walk(&self.storage)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
