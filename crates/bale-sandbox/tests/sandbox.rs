//! The sandbox, for real: a root of the host's static BusyBox (Debian's
//! busybox-static), and each promise checked from inside.

use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use bale_sandbox::{Bind, Outcome, Output, SandboxSpec};

type Test = (&'static str, fn(&Path));

fn main() {
    bale_sandbox::helper_main();
    let args = libtest_mimic::Arguments::from_args();
    let busybox = find_busybox();
    let tests: &[Test] = &[
        ("runs_as_uid_1000_with_a_fixed_environment", runs_as_uid_1000_with_a_fixed_environment),
        ("the_network_is_loopback_only", the_network_is_loopback_only),
        ("host_paths_are_out_of_sight", host_paths_are_out_of_sight),
        ("only_the_writable_binds_and_tmp_take_writes", only_the_writable_binds_and_tmp_take_writes),
        ("the_exit_status_comes_back", the_exit_status_comes_back),
        ("a_missing_command_is_a_setup_error", a_missing_command_is_a_setup_error),
        ("nothing_outlives_the_command", nothing_outlives_the_command),
        (
            "an_overlay_root_takes_writes_and_keeps_the_root_unchanged",
            an_overlay_root_takes_writes_and_keeps_the_root_unchanged,
        ),
    ];
    let required = std::env::var_os("BALE_REQUIRE_TOOLS").is_some();
    let mut trials: Vec<libtest_mimic::Trial> = tests
        .iter()
        .map(|&(name, test)| {
            let missing = busybox.is_none();
            let busybox = busybox.clone();
            libtest_mimic::Trial::test(name, move || match busybox {
                Some(busybox) => {
                    test(&busybox);
                    Ok(())
                }
                None if required => {
                    Err("busybox-static is required (BALE_REQUIRE_TOOLS is set): apt-get install busybox-static".into())
                }
                None => Ok(()),
            })
            .with_ignored_flag(missing && !required)
        })
        .collect();
    if std::env::var_os("BALE_SANDBOX_TEST_UNPRIVILEGED").is_none() {
        trials.push(
            libtest_mimic::Trial::test("the_same_as_an_unprivileged_user", again_unprivileged)
                .with_ignored_flag(!is_root() || (busybox.is_none() && !required)),
        );
    }
    libtest_mimic::run(&args, trials).exit();
}

fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .map(|s| s.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0")))
        .unwrap_or(false)
}

/// Every test again as uid 65534: the sandbox must not need root.
fn again_unprivileged() -> Result<(), libtest_mimic::Failed> {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
    let exe = dir.path().join("sandbox-test");
    fs::copy(std::env::current_exe().expect("exe"), &exe).expect("copy");
    fs::set_permissions(&exe, fs::Permissions::from_mode(0o755)).expect("chmod");
    let output = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&exe)
        .env("BALE_SANDBOX_TEST_UNPRIVILEGED", "1")
        .env("TMPDIR", "/tmp")
        .current_dir("/")
        .output()
        .map_err(|e| format!("setpriv (util-linux): {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "the sandbox tests failed as uid 65534 ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    Ok(())
}

fn find_busybox() -> Option<PathBuf> {
    ["/usr/bin/busybox", "/bin/busybox"].iter().map(PathBuf::from).find(|p| p.exists())
}

struct Setup {
    _dir: tempfile::TempDir,
    root: PathBuf,
    build: PathBuf,
    out: PathBuf,
    work: PathBuf,
}

fn setup(busybox: &Path) -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("root");
    fs::create_dir_all(root.join("bin")).expect("mkdir");
    fs::copy(busybox, root.join("bin/busybox")).expect("copy busybox");
    for applet in
        ["sh", "id", "cat", "ls", "touch", "hostname", "nc", "wget", "sleep", "ps", "env", "echo", "ip", "umask"]
    {
        symlink("busybox", root.join("bin").join(applet)).expect("symlink");
    }
    fs::create_dir_all(root.join("etc")).expect("mkdir");
    fs::write(root.join("etc/hello"), "hello\n").expect("write");
    let build = dir.path().join("build");
    let out = dir.path().join("out");
    fs::create_dir(&build).expect("mkdir");
    fs::create_dir(&out).expect("mkdir");
    let work = dir.path().join("work");
    Setup { root, build, out, work, _dir: dir }
}

fn run(s: &Setup, script: &str) -> (Outcome, String) {
    let mut spec = SandboxSpec::new(&s.root, vec!["/bin/sh".into(), "-c".into(), script.into()]);
    spec.binds.push(Bind { source: s.build.clone(), target: "build".into(), writable: true });
    spec.binds.push(Bind { source: s.out.clone(), target: "out".into(), writable: true });
    spec.cwd = "/build".into();
    let log = s.build.join("../log");
    let file = fs::File::create(&log).expect("log");
    let helper = std::env::current_exe().expect("exe");
    let _ = fs::remove_dir_all(&s.work);
    let outcome = bale_sandbox::run(&spec, &helper, &s.work, Output::File(file)).expect("sandbox");
    (outcome, fs::read_to_string(&log).expect("read log"))
}

fn runs_as_uid_1000_with_a_fixed_environment(busybox: &Path) {
    let s = setup(busybox);
    let (outcome, log) = run(&s, "id -u; id -g; hostname; env | sort; umask; cat /etc/hello");
    assert!(outcome.success(), "{outcome}: {log}");
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(&lines[..3], ["1000", "1000", "bale"], "{log}");
    for want in
        ["HOME=/build", "LC_ALL=C", "TZ=UTC", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    {
        assert!(lines.contains(&want), "{want} missing: {log}");
    }
    assert!(!log.contains("CARGO"), "the caller's environment leaked: {log}");
    assert!(lines.contains(&"0022"), "{log}");
    assert!(lines.contains(&"hello"), "{log}");
}

fn the_network_is_loopback_only(busybox: &Path) {
    let s = setup(busybox);
    // A server on the host's loopback: the sandbox has its own, and no route out.
    let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = listener.local_addr().expect("addr").port();
    let script = format!(
        "if echo x | nc -w 2 127.0.0.1 {port}; then echo CONNECTED; else echo refused; fi; \
         if wget -q -T 2 -O /dev/null http://10.0.0.1/ 2>/dev/null; then echo OUT; else echo no-route; fi; \
         ip -o link 2>/dev/null | cut -d: -f2 | sed 's/^/DEV /'; tail -n +3 /proc/net/dev | cut -d: -f1 | sed 's/^ */DEV /'"
    );
    let (outcome, log) = run(&s, &script);
    assert!(outcome.success(), "{outcome}: {log}");
    assert!(log.contains("refused") && !log.contains("CONNECTED"), "{log}");
    assert!(log.contains("no-route") && !log.contains("OUT"), "{log}");
    let devices: Vec<&str> = log.lines().filter_map(|l| l.strip_prefix("DEV ")).map(str::trim).collect();
    assert!(!devices.is_empty() && devices.iter().all(|d| *d == "lo"), "only lo may exist: {log}");
    listener.set_nonblocking(true).expect("nonblocking");
    assert!(listener.accept().is_err(), "nothing may have reached the host's listener");
}

fn host_paths_are_out_of_sight(busybox: &Path) {
    let s = setup(busybox);
    let secret = s.root.parent().expect("parent").join("secret");
    fs::write(&secret, "secret").expect("write");
    let (outcome, log) = run(
        &s,
        &format!("ls / | sort | tr '\\n' ' '; echo; cat {} 2>&1; ls /usr /home /root 2>&1; true", secret.display()),
    );
    assert!(outcome.success(), "{outcome}: {log}");
    let top = log.lines().next().unwrap_or_default();
    assert_eq!(top.trim(), "bin build dev etc out proc tmp", "{log}");
    assert!(!log.contains("secret\n") && !log.lines().any(|l| l == "secret"), "{log}");
}

fn only_the_writable_binds_and_tmp_take_writes(busybox: &Path) {
    let s = setup(busybox);
    let script = "for p in /build/a /out/b /tmp/c /dev/shm/d /etc/x /bin/x /x /dev/x /proc/x; do \
                  if touch $p 2>/dev/null; then echo \"wrote $p\"; else echo \"refused $p\"; fi; done";
    let (outcome, log) = run(&s, script);
    assert!(outcome.success(), "{outcome}: {log}");
    for ok in ["/build/a", "/out/b", "/tmp/c", "/dev/shm/d"] {
        assert!(log.contains(&format!("wrote {ok}")), "{ok}: {log}");
    }
    for refused in ["/etc/x", "/bin/x", "/x", "/dev/x", "/proc/x"] {
        assert!(log.contains(&format!("refused {refused}")), "{refused}: {log}");
    }
    assert!(s.build.join("a").exists() && s.out.join("b").exists());
    assert!(!s.root.join("etc/x").exists() && !s.root.join("x").exists());
}

fn the_exit_status_comes_back(busybox: &Path) {
    let s = setup(busybox);
    assert_eq!(run(&s, "exit 3").0, Outcome::Exited(3));
    assert_eq!(run(&s, "kill -9 $$").0, Outcome::Exited(128 + 9));
}

fn a_missing_command_is_a_setup_error(busybox: &Path) {
    let s = setup(busybox);
    let spec = SandboxSpec::new(&s.root, vec!["/bin/no-such-tool".into()]);
    let helper = std::env::current_exe().expect("exe");
    let error = bale_sandbox::run(&spec, &helper, &s.work, Output::Inherit).expect_err("must fail");
    let text = error.to_string();
    assert!(text.contains("/bin/no-such-tool"), "{text}");
}

fn nothing_outlives_the_command(busybox: &Path) {
    let s = setup(busybox);
    let marker = s.out.join("late");
    // A background process that would write after the command ended.
    let (outcome, log) = run(&s, "(sleep 2; touch /out/late) & echo started");
    assert!(outcome.success(), "{outcome}: {log}");
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert!(!marker.exists(), "a process of the sandbox outlived it");
}

fn an_overlay_root_takes_writes_and_keeps_the_root_unchanged(busybox: &Path) {
    let s = setup(busybox);
    let changes = s.build.join("changes");
    fs::create_dir(&changes).expect("mkdir");
    let helper = std::env::current_exe().expect("exe");
    let run_over = |script: &str, work: &str| {
        let mut spec = SandboxSpec::new(&s.root, vec!["/bin/sh".into(), "-c".into(), script.into()]);
        spec.overlay = Some(changes.clone());
        spec.uid = 0;
        spec.gid = 0;
        let log = s.out.join(format!("{work}.log"));
        let file = fs::File::create(&log).expect("log");
        let outcome = bale_sandbox::run(&spec, &helper, &s.out.join(work), Output::File(file)).expect("sandbox");
        (outcome, fs::read_to_string(&log).expect("read log"))
    };
    let (outcome, log) = run_over("id -u; echo changed > /etc/hello; touch /etc/new /tmp/scratch", "one");
    assert!(outcome.success(), "{outcome}: {log}");
    assert_eq!(log, "0\n");
    // A second run over the same changes sees what the first wrote.
    let (outcome, log) = run_over("cat /etc/hello; ls /etc", "two");
    assert!(outcome.success(), "{outcome}: {log}");
    assert_eq!(log, "changed\nhello\nnew\n");
    assert_eq!(fs::read_to_string(s.root.join("etc/hello")).expect("read"), "hello\n", "the root is never written");
    assert!(!s.root.join("etc/new").exists());
    let upper = changes.join("upper");
    assert_eq!(fs::read_to_string(upper.join("etc/hello")).expect("read"), "changed\n");
    assert!(upper.join("etc/new").exists() && !upper.join("tmp/scratch").exists(), "/tmp stays a tmpfs");
    // Still no network, and the host out of sight.
    let (outcome, log) = run_over("ls /build 2>&1; wget -q -T 2 http://127.0.0.1:1/ 2>&1; exit 0", "three");
    assert!(outcome.success() && log.contains("No such file"), "{outcome}: {log}");
}
