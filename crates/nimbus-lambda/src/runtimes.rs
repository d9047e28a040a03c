//! Which host program serves which Lambda runtime.
//!
//! - `python3.9` … `python3.13`: the newest matching interpreter found at startup under
//!   `$PYENV_ROOT/versions` (or `~/.pyenv/versions`), then `/usr/local/bin`, `/usr/bin`,
//!   called by its real path (never the pyenv shim), running Nimbus' own
//!   `runtimes/python/bootstrap.py`.
//! - `nodejs18.x`, `nodejs20.x`, `nodejs22.x`: the `node` found on `PATH` at startup,
//!   whatever its version, running `runtimes/nodejs/bootstrap.js`. Snapshot templates
//!   also get `runtimes/nodejs/template.js` and `nimbus_fork.node` (the fork addon built
//!   from `runtimes/nodejs/fork.c` by build.rs) and start with [`NODE_TEMPLATE_FLAGS`].
//! - `provided`, `provided.al2`, `provided.al2023`: the zip's own executable `bootstrap`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub const PYTHON_BOOTSTRAP: &str = include_str!("../../../runtimes/python/bootstrap.py");
pub const NODE_BOOTSTRAP: &str = include_str!("../../../runtimes/nodejs/bootstrap.js");
pub const NODE_TEMPLATE: &str = include_str!("../../../runtimes/nodejs/template.js");
/// The N-API fork addon (empty when build.rs found no C compiler).
pub const NODE_FORK_ADDON: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/nimbus_fork.node"));
/// Flags of a Node.js snapshot template: only the calling thread survives `fork`, so V8
/// must not rely on background threads (compilers, GC helpers) in the environments, and
/// one platform worker is enough (it stays idle).
pub const NODE_TEMPLATE_FLAGS: &[&str] = &["--single-threaded", "--v8-pool-size=1"];

pub const PYTHON_RUNTIMES: &[&str] = &["python3.9", "python3.10", "python3.11", "python3.12", "python3.13"];
pub const NODE_RUNTIMES: &[&str] = &["nodejs18.x", "nodejs20.x", "nodejs22.x"];
pub const PROVIDED_RUNTIMES: &[&str] = &["provided", "provided.al2", "provided.al2023"];

#[derive(Debug, Clone)]
pub struct Runtimes {
    python: HashMap<String, PathBuf>,
    node: Option<PathBuf>,
    /// Where the bootstrap programs were written.
    pub dir: PathBuf,
}

pub enum Launch {
    Program { program: PathBuf, args: Vec<String> },
}

impl Runtimes {
    /// Scans the host and writes the embedded bootstrap programs into `dir`.
    pub fn discover(dir: PathBuf) -> std::io::Result<Runtimes> {
        std::fs::create_dir_all(dir.join("python"))?;
        std::fs::create_dir_all(dir.join("nodejs"))?;
        std::fs::write(dir.join("python/bootstrap.py"), PYTHON_BOOTSTRAP)?;
        std::fs::write(dir.join("nodejs/bootstrap.js"), NODE_BOOTSTRAP)?;
        std::fs::write(dir.join("nodejs/template.js"), NODE_TEMPLATE)?;
        if !NODE_FORK_ADDON.is_empty() {
            std::fs::write(dir.join("nodejs/nimbus_fork.node"), NODE_FORK_ADDON)?;
        }
        let mut python = HashMap::new();
        for rt in PYTHON_RUNTIMES {
            let minor = &rt["python".len()..]; // "3.11"
            if let Some(p) = find_python(minor) {
                python.insert(rt.to_string(), p);
            }
        }
        let node = find_on_path("node");
        Ok(Runtimes { python, node, dir })
    }

    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = PYTHON_RUNTIMES
            .iter()
            .map(|rt| match self.python.get(*rt) {
                Some(p) => format!("{rt}={}", p.display()),
                None => format!("{rt}=(not installed)"),
            })
            .collect();
        parts.push(match &self.node {
            Some(p) => format!("nodejs*={}", p.display()),
            None => "nodejs*=(not installed)".into(),
        });
        parts.join(" ")
    }

    /// The host interpreter that runs `runtime` (Python, Node.js), if installed.
    pub fn interpreter(&self, runtime: &str) -> Option<PathBuf> {
        if NODE_RUNTIMES.contains(&runtime) {
            return self.node.clone();
        }
        self.python.get(runtime).cloned()
    }

    pub fn is_known(runtime: &str) -> bool {
        PYTHON_RUNTIMES.contains(&runtime) || NODE_RUNTIMES.contains(&runtime) || PROVIDED_RUNTIMES.contains(&runtime)
    }

    /// The command that starts an environment of `runtime` with code in `code_dir`.
    pub fn launch(&self, runtime: &str, code_dir: &Path) -> Result<Launch, String> {
        if PYTHON_RUNTIMES.contains(&runtime) {
            let Some(p) = self.python.get(runtime) else {
                return Err(format!(
                    "Runtime {runtime} is not available on this Nimbus host: no python{} interpreter was found (looked in ~/.pyenv/versions, /usr/local/bin, /usr/bin)",
                    &runtime["python".len()..]
                ));
            };
            return Ok(Launch::Program {
                program: p.clone(),
                args: vec!["-u".into(), self.dir.join("python/bootstrap.py").to_string_lossy().into_owned()],
            });
        }
        if NODE_RUNTIMES.contains(&runtime) {
            let Some(p) = &self.node else {
                return Err(format!("Runtime {runtime} is not available on this Nimbus host: no node was found on PATH"));
            };
            return Ok(Launch::Program {
                program: p.clone(),
                args: vec![self.dir.join("nodejs/bootstrap.js").to_string_lossy().into_owned()],
            });
        }
        if PROVIDED_RUNTIMES.contains(&runtime) {
            let b = code_dir.join("bootstrap");
            if !b.is_file() {
                return Err("Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]".into());
            }
            return Ok(Launch::Program { program: b, args: vec![] });
        }
        Err(format!("Runtime {runtime} is not supported by Nimbus"))
    }
}

fn version_key(name: &str) -> Vec<u64> {
    name.split(|c: char| !c.is_ascii_digit()).filter_map(|s| s.parse().ok()).collect()
}

fn find_python(minor: &str) -> Option<PathBuf> {
    let root = std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pyenv")));
    if let Some(root) = root {
        let mut found: Vec<(Vec<u64>, PathBuf)> = Vec::new();
        if let Ok(rd) = std::fs::read_dir(root.join("versions")) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name == minor || name.starts_with(&format!("{minor}.")) {
                    let bin = e.path().join("bin").join(format!("python{minor}"));
                    if bin.is_file() {
                        found.push((version_key(&name), bin));
                    }
                }
            }
        }
        found.sort();
        if let Some((_, p)) = found.pop() {
            return Some(std::fs::canonicalize(&p).unwrap_or(p));
        }
    }
    for d in ["/usr/local/bin", "/usr/bin"] {
        let p = Path::new(d).join(format!("python{minor}"));
        if p.is_file() {
            return Some(p);
        }
    }
    None
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    for d in std::env::split_paths(&path) {
        if d.to_string_lossy().contains("shims") {
            continue;
        }
        let p = d.join(program);
        if p.is_file() {
            return Some(p);
        }
    }
    None
}
