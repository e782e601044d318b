//! A wheel as a bale package's files: its members checked against its
//! RECORD as they are copied, laid out where Debian's python3 looks
//! (`/usr/local/lib/python3.X/dist-packages`, scripts in `/usr/local/bin`),
//! with RECORD rewritten for that layout, `INSTALLER` = `bale`, entry
//! points as scripts for `/usr/bin/python3`, and no bytecode (Python
//! compiles what it imports; docs/pypi.md says why).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use bale_fileset::{Entry, EntryKind, Limits, Normalize, Plan, SpoolingPlan};
use base64::Engine;

use crate::metadata::normalize;
use crate::tags::{Environment, WheelName};

/// The largest RECORD, WHEEL, METADATA or entry_points.txt read, and the
/// largest script rewritten in memory.
const MAX_TEXT: u64 = 16 << 20;

/// The most members a wheel may have.
const MAX_MEMBERS: usize = 500_000;

#[derive(Debug, thiserror::Error)]
#[error("the wheel {file}: {problem}")]
pub struct WheelError {
    pub file: String,
    pub problem: String,
}

/// What a wheel installs.
#[derive(Debug)]
pub struct WheelFiles {
    pub plan: Plan,
    /// The `.dist-info` directory's path in the image.
    pub dist_info: String,
    /// Its METADATA, as the wheel has it.
    pub metadata: String,
    /// Scripts made from entry points, by name.
    pub scripts: Vec<String>,
    /// Libraries its shared objects need (`DT_NEEDED`) that it does not
    /// hold itself: the image must have them.
    pub needs: Vec<String>,
}

/// The directory wheels install into, in an image of `env`'s Python.
pub fn site_dir(env: &Environment) -> String {
    format!("usr/local/lib/python{}/dist-packages", env.python_version())
}

/// Reads the wheel at `path` (named `filename`) into a plan of the files
/// it installs for `env`; content is spooled under `spool_dir`.
pub fn wheel_files(path: &Path, filename: &str, env: &Environment, spool_dir: &Path) -> Result<WheelFiles, WheelError> {
    let fail = |problem: String| WheelError { file: filename.to_string(), problem };
    let name = WheelName::parse(filename).ok_or_else(|| fail("its name is not a wheel's".into()))?;
    let file = File::open(path).map_err(|e| fail(format!("cannot be opened: {e}")))?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| fail(format!("is not a zip file: {e}")))?;
    if zip.len() > MAX_MEMBERS {
        return Err(fail(format!("has {} members, more than bale reads", zip.len())));
    }
    // Every member, by its normalised path.
    let mut members: BTreeMap<String, usize> = BTreeMap::new();
    for index in 0..zip.len() {
        let member = zip.by_index_raw(index).map_err(|e| fail(format!("member {index}: {e}")))?;
        let raw = member.name().map_err(|e| fail(format!("member {index}: {e}")))?.to_string();
        if member.is_dir() {
            continue;
        }
        if member.is_symlink() {
            return Err(fail(format!("{raw:?} is a symbolic link, which a wheel cannot install")));
        }
        let normal = bale_fileset::normalize_path(raw.as_bytes())
            .map_err(|p| fail(format!("{raw:?}: {p}")))?
            .ok_or_else(|| fail(format!("{raw:?} is not a file's path")))?;
        if members.insert(normal.clone(), index).is_some() {
            return Err(fail(format!("{normal:?} is in it twice")));
        }
    }
    // The one .dist-info directory of this distribution and version.
    let wanted = normalize(&name.name);
    let dist_info = members
        .keys()
        .filter_map(|p| p.split_once('/').map(|(top, _)| top))
        .filter(|top| top.ends_with(".dist-info"))
        .collect::<BTreeSet<_>>();
    let dist_info = match dist_info.into_iter().collect::<Vec<_>>().as_slice() {
        [one] => one.to_string(),
        [] => return Err(fail("it has no .dist-info directory".into())),
        many => return Err(fail(format!("it has {} .dist-info directories", many.len()))),
    };
    let (info_name, _) = dist_info.trim_end_matches(".dist-info").rsplit_once('-').unwrap_or((&dist_info, ""));
    if normalize(info_name) != wanted {
        return Err(fail(format!("its {dist_info} is not of the distribution {}", name.name)));
    }
    let mut read_text = |path: &str| -> Result<String, WheelError> {
        let index = *members.get(path).ok_or_else(|| fail(format!("it has no {path}")))?;
        let mut member = zip.by_index(index).map_err(|e| fail(format!("{path}: {e}")))?;
        if member.size() > MAX_TEXT {
            return Err(fail(format!("its {path} is {} bytes, more than bale reads", member.size())));
        }
        let mut text = String::new();
        (&mut member).take(MAX_TEXT).read_to_string(&mut text).map_err(|e| fail(format!("{path}: {e}")))?;
        Ok(text)
    };
    let wheel_info = read_text(&format!("{dist_info}/WHEEL"))?;
    let wheel_version = wheel_info
        .lines()
        .find_map(|l| l.strip_prefix("Wheel-Version:"))
        .map(str::trim)
        .ok_or_else(|| fail("its WHEEL has no Wheel-Version".into()))?;
    if !wheel_version.starts_with("1.") {
        return Err(fail(format!("it is wheel format {wheel_version}; bale reads 1.x")));
    }
    let record_path = format!("{dist_info}/RECORD");
    let record = parse_record(&read_text(&record_path)?).map_err(|p| fail(format!("its RECORD: {p}")))?;
    let metadata = read_text(&format!("{dist_info}/METADATA"))?;
    let entry_points = match members.contains_key(&format!("{dist_info}/entry_points.txt")) {
        true => read_text(&format!("{dist_info}/entry_points.txt"))?,
        false => String::new(),
    };

    let site = site_dir(env);
    let data_dir = format!("{}.data", dist_info.trim_end_matches(".dist-info"));
    let mut plan = SpoolingPlan::new(Normalize::default(), Limits::default(), spool_dir)
        .map_err(|e| fail(format!("spooling: {e}")))?;
    // What the new RECORD lists: image path, sha256 (RECORD's encoding), size.
    let mut installed: Vec<(String, String, u64)> = Vec::new();
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    let skipped = |path: &str| {
        let base = path.strip_prefix(&format!("{dist_info}/")).unwrap_or("");
        matches!(base, "RECORD" | "RECORD.jws" | "RECORD.p7s" | "INSTALLER" | "REQUESTED" | "direct_url.json")
    };
    for (path, &index) in &members {
        if skipped(path) {
            seen.insert(path);
            continue;
        }
        let Some((hash, size)) = record.get(path) else {
            return Err(fail(format!("{path} is not listed in its RECORD")));
        };
        seen.insert(path);
        let (target, script) = destination(path, &data_dir, &site, env).map_err(fail)?;
        let mut member = zip.by_index(index).map_err(|e| fail(format!("{path}: {e}")))?;
        let length = member.size();
        if size.is_some_and(|s| s != length) {
            return Err(fail(format!("{path} is {length} bytes; its RECORD says {}", size.unwrap_or_default())));
        }
        let executable = script || member.unix_mode().is_some_and(|m| m & 0o111 != 0);
        let mut hashing =
            HashingReader { inner: &mut member, digest: ring::digest::Context::new(&ring::digest::SHA256) };
        let mode = if executable { 0o755 } else { 0o644 };
        let (written_hash, written_size) = if script {
            // Scripts name the interpreter as `#!python`; in the image it
            // is Debian's.
            let mut bytes = Vec::new();
            (&mut hashing).take(MAX_TEXT + 1).read_to_end(&mut bytes).map_err(|e| fail(format!("{path}: {e}")))?;
            if bytes.len() as u64 > MAX_TEXT {
                return Err(fail(format!("the script {path} is larger than bale rewrites")));
            }
            check_hash(path, hash, hashing.digest.finish().as_ref()).map_err(fail)?;
            let bytes = rewrite_shebang(bytes);
            let entry = file_entry(&target, bytes.len() as u64, mode);
            let hash = record_hash(&bytes);
            let size = bytes.len() as u64;
            plan.insert_file(entry, &mut bytes.as_slice()).map_err(|e| fail(e.to_string()))?;
            (hash, size)
        } else {
            let entry = file_entry(&target, length, mode);
            plan.insert_file(entry, &mut hashing).map_err(|e| fail(format!("{path}: {e}")))?;
            let digest = hashing.digest.finish();
            check_hash(path, hash, digest.as_ref()).map_err(fail)?;
            (encode(digest.as_ref()), length)
        };
        installed.push((target, written_hash, written_size));
    }
    if let Some(missing) = record.keys().find(|p| !seen.contains(p.as_str())) {
        return Err(fail(format!("its RECORD lists {missing}, which it does not hold")));
    }
    // What its shared objects need that it does not vendor (auditwheel
    // puts those in `NAME.libs/` beside them), read again from the zip so
    // that nothing is held in memory.
    let mut needed = BTreeSet::new();
    let mut provided = BTreeSet::new();
    for (path, &index) in &members {
        let base = path.rsplit('/').next().unwrap_or_default();
        if !is_shared_object(base) {
            continue;
        }
        provided.insert(base.to_string());
        let mut member = zip.by_index(index).map_err(|e| fail(format!("{path}: {e}")))?;
        let size = member.size();
        match bale_elf::read_dynamic(&mut member, size) {
            Ok(Some(object)) => {
                if let Some(soname) = object.soname {
                    provided.insert(soname);
                }
                needed.extend(object.needed);
            }
            Ok(None) => {}
            Err(e) => return Err(fail(format!("{path}: {e}"))),
        }
    }
    let needs: Vec<String> = needed.difference(&provided).cloned().collect();
    let mut scripts = Vec::new();
    for (script, target) in console_scripts(&entry_points).map_err(|p| fail(format!("its entry_points.txt: {p}")))? {
        let path = format!("usr/local/bin/{script}");
        if plan.contains(&path) {
            return Err(fail(format!("the entry point {script} and a script of the wheel are both {path}")));
        }
        let bytes = script_text(&target).into_bytes();
        installed.push((path.clone(), record_hash(&bytes), bytes.len() as u64));
        plan.insert_file(file_entry(&path, bytes.len() as u64, 0o755), &mut bytes.as_slice())
            .map_err(|e| fail(e.to_string()))?;
        scripts.push(script);
    }
    let installer = b"bale\n";
    let installer_path = format!("{site}/{dist_info}/INSTALLER");
    installed.push((installer_path.clone(), record_hash(installer), installer.len() as u64));
    plan.insert_file(file_entry(&installer_path, installer.len() as u64, 0o644), &mut installer.as_slice())
        .map_err(|e| fail(e.to_string()))?;
    let record_target = format!("{site}/{record_path}");
    let new_record = render_record(&site, &record_target, &installed);
    plan.insert_file(file_entry(&record_target, new_record.len() as u64, 0o644), &mut new_record.as_slice())
        .map_err(|e| fail(e.to_string()))?;
    let plan = plan.finish().map_err(|e| fail(e.to_string()))?;
    Ok(WheelFiles { plan, dist_info: format!("{site}/{dist_info}"), metadata, scripts, needs })
}

/// `libfoo.so`, `libfoo.so.1.2`, `_speedups.cpython-311-x86_64-linux-gnu.so`.
fn is_shared_object(name: &str) -> bool {
    name.ends_with(".so")
        || name.split_once(".so.").is_some_and(|(_, v)| v.split('.').all(|p| p.parse::<u32>().is_ok()))
}

/// The METADATA of the wheel at `path` (named `filename`).
pub fn read_metadata(path: &Path, filename: &str) -> Result<String, WheelError> {
    let fail = |problem: String| WheelError { file: filename.to_string(), problem };
    let name = WheelName::parse(filename).ok_or_else(|| fail("its name is not a wheel's".into()))?;
    let file = File::open(path).map_err(|e| fail(format!("cannot be opened: {e}")))?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| fail(format!("is not a zip file: {e}")))?;
    let wanted = normalize(&name.name);
    let mut found = None;
    for index in 0..zip.len().min(MAX_MEMBERS) {
        let member = zip.by_index_raw(index).map_err(|e| fail(format!("member {index}: {e}")))?;
        let raw = member.name().map_err(|e| fail(format!("member {index}: {e}")))?.to_string();
        if let Some(info) = raw.strip_suffix(".dist-info/METADATA")
            && !info.contains('/')
            && info.rsplit_once('-').is_some_and(|(n, _)| normalize(n) == wanted)
        {
            found = Some(index);
        }
    }
    let index = found.ok_or_else(|| fail("it has no .dist-info/METADATA".into()))?;
    let mut member = zip.by_index(index).map_err(|e| fail(format!("its METADATA: {e}")))?;
    if member.size() > MAX_TEXT {
        return Err(fail("its METADATA is larger than bale reads".into()));
    }
    let mut text = String::new();
    (&mut member).take(MAX_TEXT).read_to_string(&mut text).map_err(|e| fail(format!("its METADATA: {e}")))?;
    Ok(text)
}

/// Where a member goes in the image, and whether it is a script whose
/// interpreter line is rewritten.
fn destination(path: &str, data_dir: &str, site: &str, env: &Environment) -> Result<(String, bool), String> {
    let Some(rest) = path.strip_prefix(&format!("{data_dir}/")) else {
        return Ok((format!("{site}/{path}"), false));
    };
    let (scheme, inner) = rest.split_once('/').ok_or_else(|| format!("{path} is not in a scheme of {data_dir}"))?;
    Ok(match scheme {
        "purelib" | "platlib" => (format!("{site}/{inner}"), false),
        "scripts" if !inner.contains('/') => (format!("usr/local/bin/{inner}"), true),
        "headers" => {
            let dist = data_dir.trim_end_matches(".data").rsplit_once('-').map_or(data_dir, |(n, _)| n);
            (format!("usr/local/include/python{}/{dist}/{inner}", env.python_version()), false)
        }
        "data" => (format!("usr/local/{inner}"), false),
        other => return Err(format!("{path} is in the scheme {other:?}, which wheels do not have")),
    })
}

fn file_entry(path: &str, size: u64, mode: u32) -> Entry {
    Entry { path: path.to_string(), kind: EntryKind::File { size }, mode, uid: 0, gid: 0, xattrs: BTreeMap::new() }
}

struct HashingReader<'a, R> {
    inner: &'a mut R,
    digest: ring::digest::Context,
}

impl<R: Read> Read for HashingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.digest.update(&buf[..n]);
        Ok(n)
    }
}

/// RECORD's hash encoding: `sha256=` and URL-safe base64 without padding.
fn encode(digest: &[u8]) -> String {
    format!("sha256={}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest))
}

fn record_hash(bytes: &[u8]) -> String {
    encode(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

fn check_hash(path: &str, recorded: &str, actual: &[u8]) -> Result<(), String> {
    let Some(value) = recorded.strip_prefix("sha256=") else {
        return Err(format!("its RECORD gives {path} a {recorded:?} hash; bale checks sha256"));
    };
    let expected = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(value.trim_end_matches('='))
        .map_err(|_| format!("its RECORD's hash of {path} is not base64"))?;
    if expected != actual {
        return Err(format!("{path} does not match the sha256 its RECORD gives (the wheel is damaged or altered)"));
    }
    Ok(())
}

/// RECORD: `path,hash,size` per line, CSV. Entries without a hash are
/// only allowed for RECORD and its signatures.
fn parse_record(text: &str) -> Result<BTreeMap<String, (String, Option<u64>)>, String> {
    let mut out = BTreeMap::new();
    for (number, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let fields = split_csv(line).ok_or_else(|| format!("line {} is not CSV", number + 1))?;
        let [path, hash, size] = fields.as_slice() else {
            return Err(format!("line {} has {} fields, not 3", number + 1, fields.len()));
        };
        let normal = bale_fileset::normalize_path(path.as_bytes())
            .ok()
            .flatten()
            .ok_or_else(|| format!("line {}: {path:?} is not a path inside the wheel", number + 1))?;
        if normal.ends_with(".dist-info/RECORD") || normal.ends_with(".jws") || normal.ends_with(".p7s") {
            continue;
        }
        if hash.is_empty() {
            return Err(format!("line {}: {path} has no hash", number + 1));
        }
        let size = if size.is_empty() {
            None
        } else {
            Some(size.parse::<u64>().map_err(|_| format!("line {}: the size {size:?} is not a number", number + 1))?)
        };
        if out.insert(normal.clone(), (hash.clone(), size)).is_some() {
            return Err(format!("line {}: {normal} is listed twice", number + 1));
        }
    }
    Ok(out)
}

fn split_csv(line: &str) -> Option<Vec<String>> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next()? {
                    '"' if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    '"' => break,
                    c => field.push(c),
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Some(fields);
                }
                Some(',') => {}
                Some(_) => return None,
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Some(fields);
                    }
                    Some(',') => break,
                    Some(c) => field.push(c),
                }
            }
        }
        fields.push(field);
    }
}

fn render_record(site: &str, record: &str, installed: &[(String, String, u64)]) -> Vec<u8> {
    let mut lines: Vec<String> = installed
        .iter()
        .map(|(path, hash, size)| format!("{},{hash},{size}", csv_field(&relative(site, path))))
        .collect();
    lines.push(format!("{},,", csv_field(&relative(site, record))));
    lines.sort();
    let mut out = lines.join("\n").into_bytes();
    out.push(b'\n');
    out
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.to_string() }
}

/// `path` relative to the directory `from` (both relative to the root).
fn relative(from: &str, path: &str) -> String {
    let from: Vec<&str> = from.split('/').collect();
    let to: Vec<&str> = path.split('/').collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<&str> = vec![".."; from.len() - common];
    parts.extend(&to[common..]);
    parts.join("/")
}

fn rewrite_shebang(bytes: Vec<u8>) -> Vec<u8> {
    for old in [&b"#!pythonw"[..], b"#!python"] {
        if let Some(rest) = bytes.strip_prefix(old)
            && rest.first().is_none_or(|c| matches!(c, b'\n' | b'\r' | b' '))
        {
            let mut out = b"#!/usr/bin/python3".to_vec();
            out.extend_from_slice(rest);
            return out;
        }
    }
    bytes
}

/// The `[console_scripts]` and `[gui_scripts]` of entry_points.txt: script
/// name and `module:object.attr`, each checked so that it can only name
/// Python identifiers.
fn console_scripts(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut section = "";
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with(['#', ';'])) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.trim();
            continue;
        }
        if section != "console_scripts" && section != "gui_scripts" {
            continue;
        }
        let (name, target) = line.split_once('=').ok_or_else(|| format!("{line:?} is not NAME = TARGET"))?;
        let (name, target) = (name.trim(), target.trim());
        // Extras after the target (`[extra]`) do not change the script.
        let target = target.split_once('[').map_or(target, |(t, _)| t).trim();
        let valid_name = !name.is_empty()
            && name.len() <= 128
            && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && !name.starts_with('.');
        if !valid_name {
            return Err(format!("the script name {name:?} is not a file name bale writes"));
        }
        let (module, object) = target.split_once(':').ok_or_else(|| format!("{target:?} is not MODULE:OBJECT"))?;
        let dotted = |s: &str| {
            !s.is_empty()
                && s.split('.').all(|part| {
                    part.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
                        && part.chars().all(|c| c.is_alphanumeric() || c == '_')
                })
        };
        if !dotted(module.trim()) || !dotted(object.trim()) {
            return Err(format!("{target:?} does not name a Python module and object"));
        }
        out.push((name.to_string(), format!("{}:{}", module.trim(), object.trim())));
    }
    out.sort();
    out.dedup_by(|a, b| a.0 == b.0);
    Ok(out)
}

fn script_text(target: &str) -> String {
    let (module, object) = target.split_once(':').unwrap_or((target, ""));
    let (first, _) = object.split_once('.').unwrap_or((object, ""));
    format!(
        "#!/usr/bin/python3\nimport sys\nfrom {module} import {first}\nif __name__ == \"__main__\":\n    \
         if sys.argv[0].endswith(\"-script.pyw\"):\n        sys.argv[0] = sys.argv[0][:-11]\n    \
         sys.exit({object}())\n"
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;

    /// A wheel with `files` (path, content), a RECORD of them (or the one
    /// `record` rewrites), WHEEL and METADATA.
    pub(crate) fn make_wheel(
        dir: &Path,
        filename: &str,
        files: &[(&str, &[u8])],
        record: &dyn Fn(String) -> String,
    ) -> std::path::PathBuf {
        let name = WheelName::parse(filename).unwrap();
        let info = format!("{}-{}.dist-info", name.name, name.version);
        let path = dir.join(filename);
        let mut zip = zip::ZipWriter::new(File::create(&path).unwrap());
        let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        let mut all: Vec<(String, Vec<u8>)> = files.iter().map(|(p, c)| (p.to_string(), c.to_vec())).collect();
        all.push((format!("{info}/WHEEL"), b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\n".to_vec()));
        all.push((
            format!("{info}/METADATA"),
            format!("Name: {}\nVersion: {}\n", name.name, name.version).into_bytes(),
        ));
        let mut lines = String::new();
        for (p, c) in &all {
            lines.push_str(&format!("{p},{},{}\n", record_hash(c), c.len()));
        }
        lines.push_str(&format!("{info}/RECORD,,\n"));
        all.push((format!("{info}/RECORD"), record(lines).into_bytes()));
        for (p, c) in &all {
            zip.start_file(p.as_str(), options).unwrap();
            zip.write_all(c).unwrap();
        }
        zip.finish().unwrap();
        path
    }

    fn env() -> Environment {
        Environment { python: (3, 11), python_full: "3.11.2".into(), glibc: Some((2, 36)), machine: "x86_64".into() }
    }

    #[test]
    fn a_wheel_installs_where_debians_python_looks_with_its_record_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let wheel = make_wheel(
            dir.path(),
            "demo-1.0-py3-none-any.whl",
            &[
                ("demo/__init__.py", b"VALUE = 1\n"),
                ("demo-1.0.dist-info/entry_points.txt", b"[console_scripts]\ndemo = demo.cli:main\n"),
                ("demo-1.0.data/scripts/tool", b"#!python\nprint('tool')\n"),
                ("demo-1.0.dist-info/REQUESTED", b""),
            ],
            &|r| r,
        );
        let files = wheel_files(&wheel, "demo-1.0-py3-none-any.whl", &env(), dir.path()).unwrap();
        let site = "usr/local/lib/python3.11/dist-packages";
        let read = |p: &str| String::from_utf8(files.plan.read_file(p, 1 << 20).unwrap().unwrap()).unwrap();
        assert_eq!(read(&format!("{site}/demo/__init__.py")), "VALUE = 1\n");
        assert_eq!(read("usr/local/bin/tool"), "#!/usr/bin/python3\nprint('tool')\n");
        assert!(read("usr/local/bin/demo").contains("from demo.cli import main"));
        assert_eq!(read(&format!("{site}/demo-1.0.dist-info/INSTALLER")), "bale\n");
        assert!(files.plan.get(&format!("{site}/demo-1.0.dist-info/REQUESTED")).is_none());
        let record = read(&format!("{site}/demo-1.0.dist-info/RECORD"));
        assert!(record.contains("../../../bin/demo,sha256="), "{record}");
        assert!(record.contains("demo-1.0.dist-info/RECORD,,"), "{record}");
        assert_eq!(files.plan.get("usr/local/bin/demo").unwrap().mode, 0o755);
        assert_eq!(files.scripts, ["demo"]);
    }

    #[test]
    fn a_member_that_is_not_what_record_says_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let altered = make_wheel(dir.path(), "bad-1.0-py3-none-any.whl", &[("bad/__init__.py", b"x = 1\n")], &|r| {
            r.replace(&record_hash(b"x = 1\n"), &record_hash(b"x = 2\n"))
        });
        let err = wheel_files(&altered, "bad-1.0-py3-none-any.whl", &env(), dir.path()).unwrap_err();
        assert!(err.to_string().contains("bad/__init__.py does not match the sha256"), "{err}");
        let unlisted = make_wheel(dir.path(), "un-1.0-py3-none-any.whl", &[("un/a.py", b"")], &|r| {
            r.lines().filter(|l| !l.starts_with("un/a.py")).map(|l| format!("{l}\n")).collect()
        });
        let err = wheel_files(&unlisted, "un-1.0-py3-none-any.whl", &env(), dir.path()).unwrap_err();
        assert!(err.to_string().contains("un/a.py is not listed in its RECORD"), "{err}");
        let escaping = make_wheel(dir.path(), "esc-1.0-py3-none-any.whl", &[("../evil.py", b"")], &|r| r);
        assert!(wheel_files(&escaping, "esc-1.0-py3-none-any.whl", &env(), dir.path()).is_err());
        let bad_entry = make_wheel(
            dir.path(),
            "ep-1.0-py3-none-any.whl",
            &[("ep-1.0.dist-info/entry_points.txt", b"[console_scripts]\nx = os;import evil:main\n")],
            &|r| r,
        );
        let err = wheel_files(&bad_entry, "ep-1.0-py3-none-any.whl", &env(), dir.path()).unwrap_err();
        assert!(err.to_string().contains("does not name a Python module"), "{err}");
    }

    #[test]
    fn record_fields_follow_csv_quoting() {
        assert_eq!(split_csv("a,b,c").unwrap(), ["a", "b", "c"]);
        assert_eq!(split_csv("\"a,b\",c,").unwrap(), ["a,b", "c", ""]);
        assert_eq!(relative("usr/local/lib/python3.11/dist-packages", "usr/local/bin/x"), "../../../bin/x");
    }
}
