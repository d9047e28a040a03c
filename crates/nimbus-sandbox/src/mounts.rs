//! The private filesystem of an environment, as a list of operations on a fresh tmpfs
//! root (paths are inside the sandbox; the child prefixes them with the root's mount
//! point before `pivot_root`).
//!
//! ```text
//! /            tmpfs, read-only once built
//! /usr /bin /sbin /lib /lib64 ...     host, read-only (symlinks copied as symlinks)
//! /etc/{ssl,hosts,resolv.conf,...}    host, read-only (a short allow-list, never shadow)
//! /etc/passwd /etc/group              generated (root and the sandbox user)
//! <interpreter prefix>                host, read-only, at the same path
//! /var/task    the function code, read-only
//! /var/runtime Nimbus' runtime (bootstrap programs), read-only
//! /opt         the function's merged layers (or empty), read-only
//! /tmp         private tmpfs, size = EphemeralStorage
//! /proc        fresh, for the environment's PID namespace
//! /dev/{null,zero,full,random,urandom}  host devices; /dev/fd, /dev/std* symlinks
//! ```

use std::path::{Path, PathBuf};

/// What a host path is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Missing,
    Dir,
    File,
    Symlink(PathBuf),
}

pub fn probe_host(p: &Path) -> Kind {
    match std::fs::symlink_metadata(p) {
        Err(_) => Kind::Missing,
        Ok(m) if m.file_type().is_symlink() => Kind::Symlink(std::fs::read_link(p).unwrap_or_default()),
        Ok(m) if m.is_dir() => Kind::Dir,
        Ok(_) => Kind::File,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// mkdir (mode 0755) in the new root.
    Dir(PathBuf),
    /// Bind-mount host `src` at `dst` (a directory or, with `file`, an empty file is made first).
    Bind { src: PathBuf, dst: PathBuf, readonly: bool, file: bool },
    Symlink { target: PathBuf, dst: PathBuf },
    Tmpfs { dst: PathBuf, size_bytes: u64, mode: u32 },
    Proc(PathBuf),
    /// A generated file.
    File { dst: PathBuf, contents: Vec<u8> },
}

/// Top-level system directories bound read-only (or re-created as symlinks).
pub const SYSTEM_DIRS: &[&str] = &["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];
/// The only parts of the host's /etc a function sees.
pub const ETC_ALLOW: &[&str] = &[
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/pki",
    "/etc/alternatives",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/etc/nsswitch.conf",
    "/etc/host.conf",
    "/etc/gai.conf",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/mime.types",
    "/etc/protocols",
    "/etc/services",
    "/etc/os-release",
];
pub const DEVICES: &[&str] = &["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"];

/// Inputs of the plan.
#[derive(Debug, Clone)]
pub struct PlanInput<'a> {
    pub code_dir: &'a Path,
    pub runtime_dir: Option<&'a Path>,
    /// The function's merged layers, bound read-only at `/opt` (an empty `/opt` without).
    pub opt_dir: Option<&'a Path>,
    /// Host directories bound read-only at the same path (interpreters).
    pub host_ro: &'a [PathBuf],
    pub tmp_bytes: u64,
    pub uid: u32,
    pub gid: u32,
}

struct Builder {
    ops: Vec<Op>,
    dirs: Vec<PathBuf>,
}

impl Builder {
    fn dir_all(&mut self, p: &Path) {
        let mut acc = PathBuf::from("/");
        for c in p.components().skip(1) {
            acc.push(c);
            if !self.dirs.contains(&acc) {
                self.dirs.push(acc.clone());
                self.ops.push(Op::Dir(acc.clone()));
            }
        }
    }
    fn parent_of(&mut self, p: &Path) {
        if let Some(parent) = p.parent() {
            self.dir_all(parent);
        }
    }
}

/// Builds the mount plan; `probe` tells what a host path is (follows nothing).
pub fn plan(input: &PlanInput<'_>, probe: &dyn Fn(&Path) -> Kind) -> Vec<Op> {
    let mut b = Builder { ops: Vec::new(), dirs: Vec::new() };
    let mut bound: Vec<PathBuf> = Vec::new();
    for d in SYSTEM_DIRS {
        let p = Path::new(d);
        match probe(p) {
            Kind::Missing => {}
            Kind::Symlink(target) => b.ops.push(Op::Symlink { target, dst: p.to_path_buf() }),
            Kind::Dir => {
                b.dir_all(p);
                b.ops.push(Op::Bind { src: p.to_path_buf(), dst: p.to_path_buf(), readonly: true, file: false });
                bound.push(p.to_path_buf());
            }
            Kind::File => {}
        }
    }
    b.dir_all(Path::new("/etc"));
    for e in ETC_ALLOW {
        let p = Path::new(e);
        // Follow a symlinked entry (e.g. resolv.conf -> /run/...) to what it names.
        let kind = match probe(p) {
            Kind::Symlink(_) => match std::fs::metadata(p) {
                Ok(m) if m.is_dir() => Kind::Dir,
                Ok(_) => Kind::File,
                Err(_) => Kind::Missing,
            },
            k => k,
        };
        match kind {
            Kind::Dir => {
                b.dir_all(p);
                b.ops.push(Op::Bind { src: p.to_path_buf(), dst: p.to_path_buf(), readonly: true, file: false });
            }
            Kind::File => b.ops.push(Op::Bind { src: p.to_path_buf(), dst: p.to_path_buf(), readonly: true, file: true }),
            _ => {}
        }
    }
    b.ops.push(Op::File {
        dst: "/etc/passwd".into(),
        contents: format!("root:x:0:0:root:/root:/sbin/nologin\nsbx_user1051:x:{}:{}::/tmp:/sbin/nologin\n", input.uid, input.gid).into_bytes(),
    });
    b.ops.push(Op::File { dst: "/etc/group".into(), contents: format!("root:x:0:\nsbx_user1051:x:{}:\n", input.gid).into_bytes() });
    for p in input.host_ro {
        // Never the host's root, nor a directory that holds the code (and so the data dir).
        let too_broad = p.components().count() < 2
            || input.code_dir.starts_with(p)
            || input.runtime_dir.is_some_and(|r| r.starts_with(p))
            || input.opt_dir.is_some_and(|o| o.starts_with(p));
        if too_broad || !p.is_absolute() || bound.iter().any(|b| p.starts_with(b)) || !matches!(probe(p), Kind::Dir) {
            continue;
        }
        b.dir_all(p);
        b.ops.push(Op::Bind { src: p.clone(), dst: p.clone(), readonly: true, file: false });
        bound.push(p.clone());
    }
    b.dir_all(Path::new("/var/task"));
    b.ops.push(Op::Bind { src: input.code_dir.to_path_buf(), dst: "/var/task".into(), readonly: true, file: false });
    if let Some(r) = input.runtime_dir {
        b.dir_all(Path::new("/var/runtime"));
        b.ops.push(Op::Bind { src: r.to_path_buf(), dst: "/var/runtime".into(), readonly: true, file: false });
    }
    b.dir_all(Path::new("/opt"));
    if let Some(o) = input.opt_dir {
        b.ops.push(Op::Bind { src: o.to_path_buf(), dst: "/opt".into(), readonly: true, file: false });
    }
    b.dir_all(Path::new("/tmp"));
    b.ops.push(Op::Tmpfs { dst: "/tmp".into(), size_bytes: input.tmp_bytes, mode: 0o1777 });
    b.dir_all(Path::new("/proc"));
    b.ops.push(Op::Proc("/proc".into()));
    b.dir_all(Path::new("/dev"));
    for d in DEVICES {
        let p = Path::new(d);
        if probe(p) != Kind::Missing {
            b.parent_of(p);
            b.ops.push(Op::Bind { src: p.to_path_buf(), dst: p.to_path_buf(), readonly: false, file: true });
        }
    }
    for (name, target) in [("/dev/fd", "/proc/self/fd"), ("/dev/stdin", "/proc/self/fd/0"), ("/dev/stdout", "/proc/self/fd/1"), ("/dev/stderr", "/proc/self/fd/2")] {
        b.ops.push(Op::Symlink { target: target.into(), dst: name.into() });
    }
    b.ops
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake(p: &Path) -> Kind {
        match p.to_str().unwrap() {
            "/usr" | "/etc/ssl" | "/root/.pyenv/versions/3.11.7" | "/usr/local/node" => Kind::Dir,
            "/bin" => Kind::Symlink("usr/bin".into()),
            "/lib64" => Kind::Symlink("usr/lib64".into()),
            "/etc/hosts" | "/dev/null" | "/dev/urandom" | "/etc/shadow" => Kind::File,
            _ => Kind::Missing,
        }
    }

    fn sample() -> Vec<Op> {
        let ro = vec![PathBuf::from("/root/.pyenv/versions/3.11.7"), PathBuf::from("/usr/local/node")];
        plan(
            &PlanInput {
                code_dir: Path::new("/data/lambda/code/abc"),
                runtime_dir: Some(Path::new("/data/lambda/runtimes")),
                opt_dir: Some(Path::new("/data/lambda/opt/def")),
                host_ro: &ro,
                tmp_bytes: 512 << 20,
                uid: 993,
                gid: 990,
            },
            &fake,
        )
    }

    fn binds(ops: &[Op]) -> Vec<(String, String, bool)> {
        ops.iter()
            .filter_map(|o| match o {
                Op::Bind { src, dst, readonly, .. } => Some((src.display().to_string(), dst.display().to_string(), *readonly)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn code_runtime_and_interpreters_are_read_only() {
        let ops = sample();
        let b = binds(&ops);
        assert!(b.contains(&("/data/lambda/code/abc".into(), "/var/task".into(), true)));
        assert!(b.contains(&("/data/lambda/runtimes".into(), "/var/runtime".into(), true)));
        assert!(b.contains(&("/data/lambda/opt/def".into(), "/opt".into(), true)));
        assert!(b.contains(&("/usr".into(), "/usr".into(), true)));
        assert!(b.contains(&("/root/.pyenv/versions/3.11.7".into(), "/root/.pyenv/versions/3.11.7".into(), true)));
        assert!(b.contains(&("/etc/hosts".into(), "/etc/hosts".into(), true)));
        // Under /usr, already visible: not bound twice.
        assert!(!b.iter().any(|(s, _, _)| s == "/usr/local/node"));
        assert!(ops.contains(&Op::Symlink { target: "usr/bin".into(), dst: "/bin".into() }));
    }

    #[test]
    fn nothing_else_of_the_host_is_visible() {
        let b = binds(&sample());
        for (src, _, _) in &b {
            assert!(!src.starts_with("/data/lambda/code/") || src == "/data/lambda/code/abc", "{src}");
            assert_ne!(src, "/etc/shadow");
            assert_ne!(src, "/root");
            assert_ne!(src, "/data");
            assert_ne!(src, "/tmp");
        }
        // Every bind source is on an allow-list or an input.
        for (src, _, _) in &b {
            let ok = SYSTEM_DIRS.contains(&src.as_str())
                || ETC_ALLOW.contains(&src.as_str())
                || DEVICES.contains(&src.as_str())
                || src.starts_with("/data/lambda/")
                || src.starts_with("/root/.pyenv/versions/3.11.7");
            assert!(ok, "unexpected host path {src}");
        }
    }

    #[test]
    fn broad_interpreter_dirs_are_refused() {
        let ro = vec![PathBuf::from("/"), PathBuf::from("/data"), PathBuf::from("relative")];
        let ops = plan(
            &PlanInput { code_dir: Path::new("/data/lambda/code/abc"), runtime_dir: None, opt_dir: None, host_ro: &ro, tmp_bytes: 1, uid: 1, gid: 1 },
            &|p: &Path| if p == Path::new("/") || p == Path::new("/data") || p == Path::new("relative") { Kind::Dir } else { fake(p) },
        );
        for (src, _, _) in binds(&ops) {
            assert!(src != "/" && src != "/data" && src != "relative", "{src}");
        }
    }

    #[test]
    fn tmp_proc_and_parents_come_in_order() {
        let ops = sample();
        assert!(ops.contains(&Op::Tmpfs { dst: "/tmp".into(), size_bytes: 512 << 20, mode: 0o1777 }));
        assert!(ops.contains(&Op::Proc("/proc".into())));
        assert!(ops.contains(&Op::Dir("/opt".into())));
        let pos = |o: &Op| ops.iter().position(|x| x == o).unwrap();
        assert!(pos(&Op::Dir("/var".into())) < pos(&Op::Dir("/var/task".into())));
        let task_bind = ops.iter().position(|o| matches!(o, Op::Bind { dst, .. } if dst == Path::new("/var/task"))).unwrap();
        assert!(pos(&Op::Dir("/var/task".into())) < task_bind);
        for d in ["/root", "/root/.pyenv", "/root/.pyenv/versions"] {
            assert_eq!(ops.iter().filter(|o| **o == Op::Dir(d.into())).count(), 1);
        }
        let passwd = ops.iter().find_map(|o| match o { Op::File { dst, contents } if dst == Path::new("/etc/passwd") => Some(contents.clone()), _ => None }).unwrap();
        assert!(String::from_utf8(passwd).unwrap().contains(":993:990:"));
    }
}
