//! Runs a real sandbox when the host allows it (root with namespaces); skipped otherwise.

use nimbus_sandbox::{Host, Mode, Sandbox};

#[test]
fn shell_in_sandbox() {
    let host = Host::detect(Mode::BestEffort);
    if !host.root || !host.namespaces {
        eprintln!("skipped: needs root and namespaces ({:?})", host.missing());
        return;
    }
    let code = tempdir("shell");
    std::fs::write(code.join("hello.txt"), "hi").unwrap();
    nimbus_sandbox::prepare_code_dir(&code, 993, 990).unwrap();
    let script = "id -u; id -g; cat /var/task/hello.txt; echo; ls /; cat /etc/shadow 2>&1; touch /x 2>&1; echo ok > /tmp/t && cat /tmp/t; echo procs=$(ls /proc | grep -c '^[0-9]'); cat /proc/self/cgroup | head -3; ulimit -n";
    let mut sb = Sandbox::new(code.clone(), "/bin/sh".into(), vec!["-c".into(), script.into()]);
    sb.env.insert("PATH".into(), "/usr/bin:/bin".into());
    let cg = sb.cgroup(&host, &format!("test-{}", std::process::id())).unwrap();
    let t = std::time::Instant::now();
    let out = sb.command(&host, cg.as_ref()).unwrap().output().unwrap();
    eprintln!("took {:?}", t.elapsed());
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}\n--stderr--\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{:?}", out.status);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "993");
    assert_eq!(lines[1], "990");
    assert_eq!(lines[2], "hi");
    assert!(stdout.contains("No such file"), "shadow hidden");
    assert!(stdout.contains("Read-only file system"));
    assert!(stdout.contains("\nok\n"));
    // A fresh PID namespace: init, sh and the pipeline, not the host's processes.
    let procs: usize = stdout.split("procs=").nth(1).and_then(|r| r.lines().next()).and_then(|n| n.trim().parse().ok()).unwrap();
    assert!(procs < 8, "{procs} processes visible");
    assert!(stdout.contains("\n1024\n"));
    if let Some(cg) = cg {
        cg.remove();
    }
    let _ = std::fs::remove_dir_all(&code);
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("nimbus-sandbox-test-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Not an assertion: prints what the sandbox adds to spawning a program
/// (`SPAWN_COST_PROGRAM`, `SPAWN_COST_ARGS`; default `/bin/true`).
#[test]
fn spawn_cost() {
    let host = Host::detect(Mode::BestEffort);
    if !host.root || !host.namespaces {
        return;
    }
    let code = tempdir("cost");
    std::fs::create_dir_all(&code).unwrap();
    for (label, h) in [("off", Host::detect(Mode::Off)), ("sandbox", host.clone())] {
        let mut times = Vec::new();
        for i in 0..10 {
            let prog = std::env::var("SPAWN_COST_PROGRAM").unwrap_or_else(|_| "/bin/true".into());
            let mut sb = Sandbox::new(code.clone(), prog.clone().into(), std::env::var("SPAWN_COST_ARGS").map(|a| a.split(' ').map(String::from).collect()).unwrap_or_default());
            if let Some(p) = std::path::Path::new(&prog).parent().and_then(|b| b.parent()) {
                sb.host_ro.push(p.to_path_buf());
            }
            let cg = sb.cgroup(&h, &format!("cost-{}-{i}", std::process::id())).unwrap();
            let t = std::time::Instant::now();
            let st = sb.command(&h, cg.as_ref()).unwrap().status().unwrap();
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            assert!(st.success());
            if let Some(cg) = cg {
                cg.remove();
            }
        }
        times.sort_by(|a, b| a.partial_cmp(b).unwrap());
        eprintln!("{label}: spawn+exit median {:.2} ms", times[5]);
    }
    let _ = std::fs::remove_dir_all(&code);
}

/// A template (the template filter) can fork a child that makes its own user, mount, PID
/// and IPC namespaces, mounts a private /tmp and /proc, drops its capabilities and stacks
/// the full filter, after which mount and unshare are refused again.
#[test]
fn template_child_gets_private_namespaces() {
    let host = Host::detect(Mode::BestEffort);
    let python = std::path::Path::new("/usr/bin/python3");
    if !host.root || !host.namespaces || !host.seccomp || !python.exists() {
        eprintln!("skipped: needs root, namespaces, seccomp and /usr/bin/python3");
        return;
    }
    let code = tempdir("template");
    let script = r#"
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
def chk(r, what):
    if r != 0:
        e = ctypes.get_errno(); print(what, "failed", os.strerror(e)); sys.stdout.flush(); os._exit(3)
open("/tmp/template-file", "w").write("t")
print("template unshare NS only:", libc.unshare(0x20000) != 0)
pid = os.fork()
if pid == 0:
    chk(libc.unshare(0x10000000 | 0x20000 | 0x20000000 | 0x08000000), "unshare")
    for name, m in (("uid_map", "993 993 1"), ("setgroups", "deny"), ("gid_map", "990 990 1")):
        with open("/proc/self/" + name, "w") as f:
            f.write(m)
    g = os.fork()
    if g == 0:
        chk(libc.mount(b"tmpfs", b"/tmp", b"tmpfs", 6, b"size=1048576,mode=1777"), "mount tmp")
        chk(libc.mount(b"proc", b"/proc", b"proc", 14, None), "mount proc")
        for c in range(64):
            libc.prctl(24, c, 0, 0, 0)
        prog = bytes.fromhex(sys.argv[1])
        buf = ctypes.create_string_buffer(prog, len(prog))
        class F(ctypes.Structure):
            _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
        chk(libc.prctl(22, 2, ctypes.byref(F(len(prog) // 8, ctypes.cast(buf, ctypes.c_void_p))), 0, 0), "seccomp")
        print("child tmp:", sorted(os.listdir("/tmp")), "pid:", os.getpid(), "uid:", os.getuid())
        print("child mount after filter refused:", libc.mount(b"tmpfs", b"/tmp", b"tmpfs", 6, None) != 0)
        print("child unshare after filter refused:", libc.unshare(0x10000000 | 0x20000 | 0x20000000 | 0x08000000) != 0)
        sys.stdout.flush()
        os._exit(0)
    _, st = os.waitpid(g, 0)
    os._exit(os.waitstatus_to_exitcode(st))
_, st = os.waitpid(pid, 0)
print("template tmp:", sorted(os.listdir("/tmp")), "child status:", os.waitstatus_to_exitcode(st))
"#;
    std::fs::write(code.join("t.py"), script).unwrap();
    nimbus_sandbox::prepare_code_dir(&code, 993, 990).unwrap();
    let filter = nimbus_sandbox::seccomp::to_bytes(&nimbus_sandbox::seccomp::filter());
    let hex: String = filter.iter().map(|b| format!("{b:02x}")).collect();
    let mut sb = Sandbox::new(code.clone(), python.into(), vec!["/var/task/t.py".into(), hex]);
    sb.template = true;
    let out = sb.command(&host, None).unwrap().output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}\n--stderr--\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("template unshare NS only: True"), "other unshare flags stay denied");
    assert!(stdout.contains("child tmp: [] pid: 1 uid: 993"), "private /tmp, own PID namespace");
    assert!(stdout.contains("child mount after filter refused: True"));
    assert!(stdout.contains("child unshare after filter refused: True"));
    assert!(stdout.contains("template tmp: ['template-file'] child status: 0"));
    let _ = std::fs::remove_dir_all(&code);
}
