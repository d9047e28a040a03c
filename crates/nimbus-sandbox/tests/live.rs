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
