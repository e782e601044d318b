//! Against the real Debian archive, mirror and keyring taken from this
//! host's apt configuration. Runs when BALE_LIVE=1 (scripts/test sets it);
//! everything else in the suite works offline.
#![allow(clippy::unwrap_used)]

mod common;

use common::Env;

fn live() -> bool {
    bale_testkit::require_live()
}

#[test]
fn imports_busybox_and_python_from_bookworm_reproducibly() {
    if !live() {
        return;
    }
    let import = |env: &Env| {
        env.json(&["import", "debian", "busybox-static", "python3-minimal", "--suite", "bookworm", "--arch", "amd64"])
    };
    let (one, two) = (Env::new(), Env::new());
    let first = import(&one);
    let second = import(&two);
    let names: Vec<&str> = first["packages"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    for wanted in ["busybox-static", "python3-minimal", "python3.11-minimal", "libc6"] {
        assert!(names.contains(&wanted), "{wanted} missing from {names:?}");
    }
    assert_eq!(first["packages"], second["packages"], "two cold imports differ");
    assert_eq!(first["base"], second["base"]);
    one.ok(&["store", "verify", "--deep"]);

    // The converted python runs: its interpreter is where merged /usr puts it.
    let inspect = one.json(&["inspect", "debian:bookworm/python3.11-minimal", "--files"]);
    let files: Vec<&str> = inspect["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert!(files.contains(&"usr/bin/python3.11"), "{files:?}");
    assert!(!files.iter().any(|f| f.starts_with("usr/share/man/")));
    let libc = one.json(&["inspect", "debian:bookworm/libc6", "--files"]);
    let libc_files: Vec<&str> = libc["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert!(libc_files.iter().any(|f| f.starts_with("usr/lib/x86_64-linux-gnu/libc.so")), "{libc_files:?}");
    assert!(!libc_files.iter().any(|f| f.starts_with("lib/") || f.starts_with("lib64/")));
    assert!(libc_files.contains(&"usr/lib64/ld-linux-x86-64.so.2"), "{libc_files:?}");
}

/// The examples, built from the real archive and run with runc.
#[test]
fn the_examples_build_and_run() {
    if !live() {
        return;
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for (example, expected) in [
        ("busybox", "hello from a bale image\n".to_string()),
        (
            "python",
            "{\"greeting\": \"hello from a bale image\", \"python\": \"3.11.2\", \"sqlite\": \"libsqlite3.so.0\"}\n"
                .to_string(),
        ),
    ] {
        let env = Env::new();
        let spec = root.join("examples").join(example).join("bale.toml");
        let out = env.path().join("image");
        env.ok(&["build", spec.to_str().unwrap(), "--output", out.to_str().unwrap()]);
        let Some(umoci) = bale_testkit::require_tool("umoci") else { return };
        let Some(runc) = bale_testkit::require_tool("runc") else { return };
        if !bale_testkit::require_root("running the examples with runc") {
            return;
        }
        let bundle = env.path().join("bundle");
        let status = std::process::Command::new(umoci)
            .args(["unpack", "--image"])
            .arg(format!("{}:latest", out.display()))
            .arg(&bundle)
            .output()
            .unwrap();
        assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
        let config_path = bundle.join("config.json");
        let mut config: serde_json::Value = serde_json::from_slice(&std::fs::read(&config_path).unwrap()).unwrap();
        config["process"]["terminal"] = false.into();
        std::fs::write(&config_path, serde_json::to_vec(&config).unwrap()).unwrap();
        let run = std::process::Command::new(runc)
            .args(["run", "--bundle"])
            .arg(&bundle)
            .arg(format!("bale-live-{example}-{}", std::process::id()))
            .output()
            .unwrap();
        assert!(run.status.success(), "{example}: {}", String::from_utf8_lossy(&run.stderr));
        assert_eq!(String::from_utf8_lossy(&run.stdout), expected, "{example}");
    }
}

/// A two-architecture busybox from the real archive: one image index whose
/// arm64 busybox greets under qemu-aarch64-static and whose amd64 one
/// greets under runc, copied whole by skopeo, the same from two empty
/// stores.
#[test]
fn a_two_architecture_busybox_index_runs_on_both() {
    if !live() {
        return;
    }
    let Some(skopeo) = bale_testkit::require_tool("skopeo") else { return };
    let Some(umoci) = bale_testkit::require_tool("umoci") else { return };
    let Some(qemu) = bale_testkit::require_tool("qemu-aarch64-static") else { return };
    let build = |env: &Env| {
        let spec = env.path().join("bale.toml");
        std::fs::write(
            &spec,
            "name = \"example.com/busybox-hello\"\narchitectures = [\"amd64\", \"arm64\"]\n\n[debian]\nsuite = \"bookworm\"\npackages = [\"busybox-static\"]\n\n[config]\nentrypoint = [\"/usr/bin/busybox\", \"echo\"]\ncmd = [\"hello from a bale image\"]\nuser = 1\n",
        )
        .unwrap();
        let out = env.path().join("image");
        (env.json(&["build", spec.to_str().unwrap(), "--output", out.to_str().unwrap()]), out)
    };
    let (one, two) = (Env::new(), Env::new());
    let (built, out) = build(&one);
    let (again, _) = build(&two);
    assert_eq!(built["index"], again["index"], "two empty stores, one index");

    common::oci::skopeo_copy_all(&skopeo, &out, &one.path().join("copy"));

    for arch in ["amd64", "arm64"] {
        let single = one.path().join(format!("only-{arch}"));
        common::oci::skopeo_copy_platform(&skopeo, &out, arch, &single);
        let bundle = one.path().join(format!("bundle-{arch}"));
        common::oci::umoci_unpack(&umoci, &single, &bundle, true);
        let busybox = bundle.join("rootfs/usr/bin/busybox");
        let elf = std::fs::read(&busybox).unwrap();
        // e_machine: 62 is x86-64, 183 is AArch64.
        let machine = u16::from_le_bytes([elf[18], elf[19]]);
        assert_eq!(machine, if arch == "arm64" { 183 } else { 62 }, "{arch} busybox is for machine {machine}");
        if arch == "arm64" {
            let run = std::process::Command::new(&qemu)
                .arg(&busybox)
                .args(["echo", "hello from a bale image"])
                .output()
                .unwrap();
            assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
            assert_eq!(String::from_utf8_lossy(&run.stdout), "hello from a bale image\n");
            continue;
        }
        let Some(runc) = bale_testkit::require_tool("runc") else { return };
        if !bale_testkit::require_root("running the amd64 busybox with runc") {
            return;
        }
        let rootful = one.path().join("bundle-amd64-root");
        common::oci::umoci_unpack(&umoci, &single, &rootful, false);
        let config_path = rootful.join("config.json");
        let mut config: serde_json::Value = serde_json::from_slice(&std::fs::read(&config_path).unwrap()).unwrap();
        config["process"]["terminal"] = false.into();
        std::fs::write(&config_path, serde_json::to_vec(&config).unwrap()).unwrap();
        let run = std::process::Command::new(runc)
            .args(["run", "--bundle"])
            .arg(&rootful)
            .arg(format!("bale-live-multi-{}", std::process::id()))
            .output()
            .unwrap();
        assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
        assert_eq!(String::from_utf8_lossy(&run.stdout), "hello from a bale image\n");
    }
}

/// `init = true`: Debian's tini runs the app, so `runc kill … TERM` stops a
/// process that ignores the signal as PID 1 (busybox sleep does, as
/// Python does). The same image without init shows the problem.
#[test]
fn an_init_lets_sigterm_stop_the_app() {
    if !live() {
        return;
    }
    let Some(umoci) = bale_testkit::require_tool("umoci") else { return };
    let Some(runc) = bale_testkit::require_tool("runc") else { return };
    if !bale_testkit::require_root("running images with runc") {
        return;
    }
    let env = Env::new();
    let stops_on_term = |init: bool| -> bool {
        let name = if init { "with-init" } else { "without-init" };
        let spec = env.path().join(format!("{name}.toml"));
        std::fs::write(
            &spec,
            format!(
                "name = \"example.com/{name}\"\narchitecture = \"amd64\"\n\n[debian]\nsuite = \"bookworm\"\npackages = [\"busybox-static\"]\n\n[config]\nentrypoint = [\"/usr/bin/busybox\", \"sleep\", \"60\"]\ninit = {init}\n"
            ),
        )
        .unwrap();
        let out = env.path().join(name);
        let built = env.json(&["build", spec.to_str().unwrap(), "--output", out.to_str().unwrap()]);
        let config = env.json(&["inspect", out.to_str().unwrap()]);
        let entrypoint = &config["images"][0]["config"]["Entrypoint"];
        if init {
            assert_eq!(entrypoint, &serde_json::json!(["/usr/bin/tini", "--", "/usr/bin/busybox", "sleep", "60"]));
            assert!(built.to_string().contains("debian:bookworm/tini:amd64@"), "{built}");
        }
        let bundle = env.path().join(format!("{name}-bundle"));
        common::oci::umoci_unpack(&umoci, &out, &bundle, false);
        let config_path = bundle.join("config.json");
        let mut config: serde_json::Value = serde_json::from_slice(&std::fs::read(&config_path).unwrap()).unwrap();
        config["process"]["terminal"] = false.into();
        std::fs::write(&config_path, serde_json::to_vec(&config).unwrap()).unwrap();
        let id = format!("bale-live-{name}-{}", std::process::id());
        let runc_cmd = || {
            let mut c = std::process::Command::new(&runc);
            c.stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
            c
        };
        assert!(runc_cmd().args(["run", "-d", "--bundle"]).arg(&bundle).arg(&id).status().unwrap().success());
        let state = || {
            let out = std::process::Command::new(&runc).args(["state", &id]).output().unwrap();
            serde_json::from_slice::<serde_json::Value>(&out.stdout)
                .map(|s| s["status"].as_str().unwrap_or("").to_string())
                .unwrap_or_default()
        };
        // Let the app start before signalling it.
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert!(runc_cmd().args(["kill", &id, "TERM"]).status().unwrap().success());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let mut stopped = false;
        while std::time::Instant::now() < deadline {
            if state() == "stopped" {
                stopped = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = runc_cmd().args(["kill", &id, "KILL"]).status();
        std::thread::sleep(std::time::Duration::from_millis(200));
        let _ = runc_cmd().args(["delete", "--force", &id]).status();
        stopped
    };
    assert!(!stops_on_term(false), "without init, PID 1 was expected to ignore SIGTERM");
    assert!(stops_on_term(true), "under tini, SIGTERM did not stop the app within 5 s");
}

/// The production image of issue 11's acceptance: Flask from the real
/// archive, an app user owning /var/lib/app, /tmp, tini as init, and
/// Flask's modules compiled by a `[[run]]` last step. Under runc
/// and podman `id` shows the app user and group, `tempfile.mkstemp()` and a
/// write to /var/lib/app succeed, and Flask answers a request.
#[test]
fn a_flask_app_runs_as_its_user_under_runc_and_podman() {
    if !live() {
        return;
    }
    let Some(umoci) = bale_testkit::require_tool("umoci") else { return };
    let env = Env::new();
    let app = env.path().join("app/srv/app");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(
        app.join("main.py"),
        r#"import os, subprocess, tempfile
import flask

subprocess.run(["id"], check=True)
fd, path = tempfile.mkstemp()
os.write(fd, b"scratch")
os.close(fd)
with open("/var/lib/app/state", "w") as state:
    state.write("kept")
app = flask.Flask(__name__)

@app.route("/")
def hello():
    return "hello from flask"

print(app.test_client().get("/").get_data(as_text=True), path.startswith("/tmp/"), os.path.exists(flask.__spec__.cached))
"#,
    )
    .unwrap();
    std::fs::write(
        env.path().join("bale.toml"),
        r#"name = "example.com/flask"
architecture = "amd64"

[debian]
suite = "bookworm"
packages = ["python3-flask", "coreutils"]

[[local]]
path = "app"
name = "example.com/flask/app"
version = "1"

[users.app]
uid = 1000

[dirs."/var/lib/app"]
uid = "app"
mode = "0750"

[config]
entrypoint = ["/usr/bin/python3", "/srv/app/main.py"]
env = { PYTHONDONTWRITEBYTECODE = "1" }
user = "app"
init = true

# Debian compiles Python modules in maintainer scripts, which bale never
# runs; a last step does it here, in the sandbox.
[[run]]
command = ["/usr/bin/python3", "-m", "compileall", "-q", "/usr/lib/python3/dist-packages/flask"]
"#,
    )
    .unwrap();
    env.ok(&["build", "bale.toml", "--output", "flask"]);
    let layout = env.path().join("flask");
    let files = env.ok(&["inspect", "example.com/flask/run", "--files"]);
    assert!(files.contains("flask/__pycache__/__init__.cpython-311.pyc"), "{files}");
    let expected = "uid=1000(app) gid=1000(app) groups=1000(app)\nhello from flask True True\n";

    let bundle = env.path().join("bundle");
    common::oci::umoci_unpack(&umoci, &layout, &bundle, false);
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
    let Some(out) = common::oci::runc_run(&bundle, config, "flask") else { return };
    assert!(out.status.success(), "runc: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);

    let Some(out) = common::oci::podman_run(env.path(), &layout, "flask") else { return };
    assert!(out.status.success(), "podman: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
}

#[test]
fn the_hello_recipe_builds_from_debian_gcc_and_rebuilds_identically() {
    if !live() {
        return;
    }
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/recipes/hello");
    let env = Env::new();
    let dir = env.path().join("hello");
    std::fs::create_dir(&dir).unwrap();
    for file in ["hello.c", "hello.recipe.toml"] {
        std::fs::copy(example.join(file), dir.join(file)).unwrap();
    }
    let recipe = dir.join("hello.recipe.toml");
    let made = env.json(&["make", recipe.to_str().unwrap()]);
    let content = made["content"]["digest"].as_str().unwrap().to_string();
    let names: Vec<&str> = made["provenance"]["buildDefinition"]["resolvedDependencies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert!(names.iter().any(|n| n.starts_with("debian:") && n.contains("/gcc-12:")), "{names:?}");
    assert!(names.iter().any(|n| n.contains("InRelease")), "{names:?}");

    let unpacked = env.path().join("unpacked");
    env.ok(&["unpack", "example.com/hello", unpacked.to_str().unwrap()]);
    let out = std::process::Command::new(unpacked.join("usr/bin/hello")).arg("CI").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello, CI, from a package bale built from source\n");

    let rebuilt = env.json(&["rebuild", "example.com/hello"]);
    assert_eq!(rebuilt["reproducible"], true, "{rebuilt}");

    // Another empty store, from the lock alone: the same package.
    let other = Env::new();
    let other_dir = other.path().join("hello");
    std::fs::create_dir(&other_dir).unwrap();
    for file in ["hello.c", "hello.recipe.toml", "hello.recipe.lock"] {
        std::fs::copy(dir.join(file), other_dir.join(file)).unwrap();
    }
    let again = other.json(&["make", other_dir.join("hello.recipe.toml").to_str().unwrap(), "--locked"]);
    assert_eq!(again["content"]["digest"], content.as_str());
}

/// BusyBox from Debian's source package, through the archive's signature
/// chain, built statically against musl in the sandbox, rebuilt
/// identically, and an image of it alone under 2 MB that runs under runc.
#[test]
fn busybox_from_debian_source_builds_reproducibly_into_a_tiny_image() {
    if !live() {
        return;
    }
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/recipes/busybox-musl");
    let env = Env::new();
    let dir = env.path().join("busybox-musl");
    std::fs::create_dir(&dir).unwrap();
    for file in ["busybox-musl.recipe.toml", "bale.toml"] {
        std::fs::copy(example.join(file), dir.join(file)).unwrap();
    }
    let made = env.json(&["make", dir.join("busybox-musl.recipe.toml").to_str().unwrap()]);
    let definition = &made["provenance"]["buildDefinition"];
    let epoch = definition["internalParameters"]["sourceDateEpoch"].as_i64().unwrap();
    assert!(epoch > 1_600_000_000, "SOURCE_DATE_EPOCH came from debian/changelog: {epoch}");
    let inputs: Vec<&str> =
        definition["resolvedDependencies"].as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert!(inputs.iter().any(|n| n.ends_with(".dsc")), "{inputs:?}");
    assert!(inputs.iter().any(|n| n.contains("/source/Sources")), "{inputs:?}");

    let rebuilt = env.json(&["rebuild", "example.com/busybox-musl"]);
    assert_eq!(rebuilt["reproducible"], true, "{rebuilt}");

    let layout = env.path().join("image");
    env.ok(&["build", dir.join("bale.toml").to_str().unwrap(), "--output", layout.to_str().unwrap()]);
    let size: u64 = std::fs::read_dir(layout.join("blobs/sha256"))
        .unwrap()
        .map(|e| std::fs::metadata(e.unwrap().path()).unwrap().len())
        .sum();
    assert!(size < 2 << 20, "the image is {size} bytes");
    let Some(umoci) = bale_testkit::require_tool("umoci") else { return };
    let bundle = env.path().join("bundle");
    common::oci::umoci_unpack(&umoci, &layout, &bundle, false);
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
    let Some(run) = common::oci::runc_run(&bundle, config, "busybox-musl") else { return };
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(stdout.starts_with("hello from BusyBox built from source\nBusyBox v1.35.0"), "{stdout}");
}

/// The index the host's pip uses when nothing configures one (its
/// built-in default), asked of pip itself: bale reads only the spec,
/// PIP_INDEX_URL and pip's configuration files.
fn host_pip_index() -> Option<String> {
    let out = std::process::Command::new("python3")
        .args(["-c", "from pip._internal.models.index import PyPI; print(PyPI.simple_url)"])
        .output()
        .ok()?;
    let url = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if out.status.success() && !url.is_empty() {
        Some(url)
    } else {
        bale_testkit::missing("pip for python3 (its default index)");
        None
    }
}

/// Issue 14's acceptance: Flask 3, requests and psycopg's binary build as
/// wheels from the real index, over Debian's python3. Under runc the app
/// serves a page on the container's loopback and fetches it with
/// requests; two empty stores give the same image.
#[test]
fn a_flask_3_app_from_wheels_serves_a_page_under_runc() {
    if !live() {
        return;
    }
    let Some(umoci) = bale_testkit::require_tool("umoci") else { return };
    let Some(index) = host_pip_index() else { return };
    let build = |env: &Env| -> serde_json::Value {
        let app = env.path().join("app/srv/app");
        std::fs::create_dir_all(&app).unwrap();
        std::fs::write(
            app.join("main.py"),
            r#"import importlib.metadata, threading
import flask, psycopg, requests
from werkzeug.serving import make_server

app = flask.Flask(__name__)

@app.route("/")
def hello():
    return "hello from flask " + importlib.metadata.version("flask")

server = make_server("127.0.0.1", 0, app)
threading.Thread(target=server.serve_forever, daemon=True).start()
page = requests.get(f"http://127.0.0.1:{server.server_port}/", timeout=10).text
print(page.split(".")[0], psycopg.pq.__impl__)
server.shutdown()
"#,
        )
        .unwrap();
        std::fs::write(
            env.path().join("bale.toml"),
            r#"name = "example.com/flask3"
architecture = "amd64"

[debian]
suite = "bookworm"
packages = ["python3"]

[pypi]
packages = ["flask==3.0.*", "requests", "psycopg[binary]"]

[[local]]
path = "app"
name = "example.com/flask3/app"
version = "1"

[config]
entrypoint = ["/usr/bin/python3", "/srv/app/main.py"]
env = { PYTHONDONTWRITEBYTECODE = "1" }
"#,
        )
        .unwrap();
        let out = env
            .bale()
            .current_dir(env.path())
            .env("PIP_INDEX_URL", &index)
            .args(["--json", "build", "bale.toml", "--output", "flask3"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let env = Env::new();
    let built = build(&env);
    let lock = std::fs::read_to_string(env.path().join("bale.lock")).unwrap();
    for wheel in ["flask-3.0.", "requests-", "psycopg-3", "psycopg_binary-", "werkzeug-"] {
        assert!(lock.to_lowercase().contains(wheel), "{wheel} not in {lock}");
    }
    assert!(!lock.contains(index.as_str()), "the index's address stays out of the lock");
    let other = Env::new();
    assert_eq!(build(&other)["manifest"], built["manifest"], "two empty stores, two images");

    let layout = env.path().join("flask3");
    let bundle = env.path().join("bundle");
    common::oci::umoci_unpack(&umoci, &layout, &bundle, false);
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
    let Some(out) = common::oci::runc_run(&bundle, config, "flask3") else { return };
    assert!(out.status.success(), "runc: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello from flask 3 binary\n");
}

/// Issue 14's acceptance for npm: express 4 from the registry the host's
/// npm uses, over Debian's nodejs. Under runc the app serves a page on the
/// container's loopback and fetches it; two empty stores give the same
/// image.
#[test]
fn an_express_app_from_the_npm_registry_serves_a_page_under_runc() {
    if !live() {
        return;
    }
    let Some(umoci) = bale_testkit::require_tool("umoci") else { return };
    // bale asks the host's npm for its registry, as it would for a user.
    if bale_testkit::require_tool("npm").is_none() {
        return;
    }
    let build = |env: &Env| -> serde_json::Value {
        let app = env.path().join("app/srv/app");
        std::fs::create_dir_all(&app).unwrap();
        std::fs::write(
            app.join("main.js"),
            r#"const express = require("express");
const http = require("http");
const app = express();
app.get("/", (req, res) => res.send("hello from express " + require("express/package.json").version.split(".")[0]));
const server = app.listen(0, "127.0.0.1", () => {
  http.get({ host: "127.0.0.1", port: server.address().port, path: "/" }, (res) => {
    let body = "";
    res.on("data", (chunk) => (body += chunk));
    res.on("end", () => { console.log(body); server.close(); });
  });
});
"#,
        )
        .unwrap();
        std::fs::write(
            env.path().join("bale.toml"),
            r#"name = "example.com/express"
architecture = "amd64"

[debian]
suite = "bookworm"
packages = ["nodejs"]

[npm]
packages = ["express@4"]

[[local]]
path = "app"
name = "example.com/express/app"
version = "1"

[config]
entrypoint = ["/usr/bin/node", "/srv/app/main.js"]
"#,
        )
        .unwrap();
        let out = env
            .bale()
            .current_dir(env.path())
            .args(["--json", "build", "bale.toml", "--output", "express"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let env = Env::new();
    let built = build(&env);
    let lock = std::fs::read_to_string(env.path().join("bale.lock")).unwrap();
    assert!(lock.contains("tarball = \"express-4."), "{lock}");
    assert!(lock.contains("ms = \"2.0.0\"") && lock.contains("ms = \"2.1.3\""), "two versions of ms: {lock}");
    assert!(!lock.contains("://"), "the registry's address stays out of the lock");
    let other = Env::new();
    assert_eq!(build(&other)["manifest"], built["manifest"], "two empty stores, two images");

    let layout = env.path().join("express");
    let bundle = env.path().join("bundle");
    common::oci::umoci_unpack(&umoci, &layout, &bundle, false);
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
    let Some(out) = common::oci::runc_run(&bundle, config, "express") else { return };
    assert!(out.status.success(), "runc: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello from express 4\n");
}
