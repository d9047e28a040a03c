//! A hand-built seccomp BPF filter: the syscalls a Lambda function has no business making
//! answer `EPERM`; everything else is allowed. A syscall of another ABI (e.g. x32 or a
//! foreign architecture) kills the process. `clone` with any namespace flag
//! ([`CLONE_NAMESPACES`]) answers `EPERM` like `unshare`; `clone3`, whose flags the filter
//! cannot read, answers `ENOSYS` so libc falls back to `clone`.
//!
//! [`template_filter`] is the variant a snapshot template runs under (see the
//! `nimbus-lambda` template module): identical, except that `clone` with exactly
//! [`TEMPLATE_CLONE`], `unshare` with exactly [`TEMPLATE_UNSHARE`] and `mount` with exactly
//! [`TMPFS_FLAGS`] or [`PROC_FLAGS`] are let through, because each environment made from
//! the template gets its own user, mount, PID and IPC namespaces and mounts its private
//! `/tmp` and `/proc`. Every environment stacks the full [`filter`] on top before it runs
//! a single invocation.

use libc::{sock_filter, SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO, SECCOMP_RET_KILL_PROCESS};

#[cfg(target_arch = "x86_64")]
pub const AUDIT_ARCH: u32 = 0xC000_003E;
#[cfg(target_arch = "aarch64")]
pub const AUDIT_ARCH: u32 = 0xC000_00B7;

/// The denied syscalls, by name (for docs/tests) and number.
pub fn denied() -> Vec<(&'static str, libc::c_long)> {
    let mut v = vec![
        ("mount", libc::SYS_mount),
        ("umount2", libc::SYS_umount2),
        ("pivot_root", libc::SYS_pivot_root),
        ("chroot", libc::SYS_chroot),
        ("open_tree", libc::SYS_open_tree),
        ("move_mount", libc::SYS_move_mount),
        ("fsopen", libc::SYS_fsopen),
        ("fsconfig", libc::SYS_fsconfig),
        ("fsmount", libc::SYS_fsmount),
        ("fspick", libc::SYS_fspick),
        ("ptrace", libc::SYS_ptrace),
        ("process_vm_readv", libc::SYS_process_vm_readv),
        ("process_vm_writev", libc::SYS_process_vm_writev),
        ("kexec_load", libc::SYS_kexec_load),
        ("kexec_file_load", libc::SYS_kexec_file_load),
        ("init_module", libc::SYS_init_module),
        ("finit_module", libc::SYS_finit_module),
        ("delete_module", libc::SYS_delete_module),
        ("reboot", libc::SYS_reboot),
        ("keyctl", libc::SYS_keyctl),
        ("add_key", libc::SYS_add_key),
        ("request_key", libc::SYS_request_key),
        ("swapon", libc::SYS_swapon),
        ("swapoff", libc::SYS_swapoff),
        ("unshare", libc::SYS_unshare),
        ("setns", libc::SYS_setns),
        ("bpf", libc::SYS_bpf),
        ("perf_event_open", libc::SYS_perf_event_open),
        ("acct", libc::SYS_acct),
        ("open_by_handle_at", libc::SYS_open_by_handle_at),
        ("quotactl", libc::SYS_quotactl),
        ("settimeofday", libc::SYS_settimeofday),
        ("clock_settime", libc::SYS_clock_settime),
        ("userfaultfd", libc::SYS_userfaultfd),
    ];
    #[cfg(target_arch = "x86_64")]
    v.extend([("iopl", libc::SYS_iopl), ("ioperm", libc::SYS_ioperm)]);
    v
}

/// The only `unshare` flags the template filter lets through.
pub const TEMPLATE_UNSHARE: u32 = (libc::CLONE_NEWUSER | libc::CLONE_NEWNS | libc::CLONE_NEWPID | libc::CLONE_NEWIPC) as u32;
/// Every `CLONE_NEW*` flag `clone` takes: a function cannot make namespaces with `clone`
/// any more than with `unshare` (`CLONE_NEWTIME` is `unshare`/`clone3`-only).
pub const CLONE_NAMESPACES: u32 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWCGROUP
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET) as u32;
/// The only namespace-making `clone` flags the template filter lets through: a new
/// environment cloned straight into its namespaces, exit signal SIGCHLD.
pub const TEMPLATE_CLONE: u32 = TEMPLATE_UNSHARE | libc::SIGCHLD as u32;
/// `mount` flags of an environment's private `/tmp` (tmpfs).
pub const TMPFS_FLAGS: u32 = (libc::MS_NOSUID | libc::MS_NODEV) as u32;
/// `mount` flags of an environment's own `/proc`.
pub const PROC_FLAGS: u32 = (libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC) as u32;

fn stmt(code: u32, k: u32) -> sock_filter {
    sock_filter { code: code as u16, jt: 0, jf: 0, k }
}

fn jump(code: u32, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter { code: code as u16, jt, jf, k }
}

/// The BPF program.
pub fn filter() -> Vec<sock_filter> {
    build(false)
}

/// The template's program: [`filter`], except `unshare(TEMPLATE_UNSHARE)` and
/// `mount(.., TMPFS_FLAGS | PROC_FLAGS, ..)` are allowed (flags compared exactly).
pub fn template_filter() -> Vec<sock_filter> {
    build(true)
}

/// The program as bytes (`struct sock_filter` in native order), for a runtime that installs
/// it itself with `prctl(PR_SET_SECCOMP)`.
pub fn to_bytes(prog: &[sock_filter]) -> Vec<u8> {
    let mut out = Vec::with_capacity(prog.len() * 8);
    for f in prog {
        out.extend_from_slice(&f.code.to_ne_bytes());
        out.push(f.jt);
        out.push(f.jf);
        out.extend_from_slice(&f.k.to_ne_bytes());
    }
    out
}

fn build(template: bool) -> Vec<sock_filter> {
    const LD_W_ABS: u32 = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
    const JEQ_K: u32 = libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K;
    const JGE_K: u32 = libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K;
    const JSET_K: u32 = libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K;
    const RET_K: u32 = libc::BPF_RET | libc::BPF_K;
    let eperm = SECCOMP_RET_ERRNO | (libc::EPERM as u32 & libc::SECCOMP_RET_DATA);
    let enosys = SECCOMP_RET_ERRNO | (libc::ENOSYS as u32 & libc::SECCOMP_RET_DATA);
    // Offsets in struct seccomp_data: nr 0, arch 4, ip 8, args[i] at 16 + 8 i (low word first).
    let arg_lo = |i: u32| 16 + 8 * i;
    let deny: Vec<(&str, libc::c_long)> =
        denied().into_iter().filter(|(name, _)| !template || (*name != "unshare" && *name != "mount")).collect();
    let n = deny.len();
    assert!(n < 240);
    let mut p = vec![
        // seccomp_data.arch
        stmt(LD_W_ABS, 4),
        jump(JEQ_K, AUDIT_ARCH, 1, 0),
        stmt(RET_K, SECCOMP_RET_KILL_PROCESS),
        // seccomp_data.nr
        stmt(LD_W_ABS, 0),
    ];
    // Jumps to blocks after the allow / EPERM returns; targets patched once they are known.
    // x32 ABI syscalls (nr | 0x40000000) go to EPERM too.
    let x32 = p.len();
    p.push(jump(JGE_K, 0x4000_0000, 0, 0));
    let clone = p.len();
    p.push(jump(JEQ_K, libc::SYS_clone as u32, 0, 0));
    let clone3 = p.len();
    p.push(jump(JEQ_K, libc::SYS_clone3 as u32, 0, 0));
    let (unshare, mount) = (p.len(), p.len() + 1);
    if template {
        p.push(jump(JEQ_K, libc::SYS_unshare as u32, 0, 0));
        p.push(jump(JEQ_K, libc::SYS_mount as u32, 0, 0));
    }
    for (i, (_, nr)) in deny.iter().enumerate() {
        p.push(jump(JEQ_K, *nr as u32, (n - i) as u8, 0));
    }
    p.push(stmt(RET_K, SECCOMP_RET_ALLOW));
    let no = p.len();
    p.push(stmt(RET_K, eperm));
    // BPF only jumps forward: each block ends in a jump to those returns or its own.
    let to = |from: usize, target: usize| u8::try_from(target - from - 1).expect("seccomp program jump fits in u8");
    // clone: no namespace flag in flags (args[0]; all CLONE_NEW* bits are in its low
    // word), or in the template exactly TEMPLATE_CLONE.
    let c = p.len();
    p.push(stmt(LD_W_ABS, arg_lo(0)));
    p.push(jump(JSET_K, CLONE_NAMESPACES, 0, 0));
    p.push(jump(JEQ_K, TEMPLATE_CLONE, 0, 0));
    let c_ok = p.len();
    p.push(stmt(RET_K, SECCOMP_RET_ALLOW));
    let c_no = p.len();
    p.push(stmt(RET_K, eperm));
    p[c + 1].jf = to(c + 1, c_ok);
    p[c + 2].jt = if template { to(c + 2, c_ok) } else { to(c + 2, c_no) };
    p[c + 2].jf = to(c + 2, c_no);
    // clone3 passes its flags in memory, out of the filter's reach: ENOSYS, so libc falls
    // back to clone (as container runtimes do).
    let c3 = p.len();
    p.push(stmt(RET_K, enosys));
    p[x32].jt = to(x32, no);
    p[clone].jt = to(clone, c);
    p[clone3].jt = to(clone3, c3);
    if template {
        // unshare: flags (args[0], an int: the kernel reads the low word only) ==
        // TEMPLATE_UNSHARE.
        let b = p.len();
        p.push(stmt(LD_W_ABS, arg_lo(0)));
        p.push(jump(JEQ_K, TEMPLATE_UNSHARE, 0, 0));
        // mount: flags (args[3]) == TMPFS_FLAGS or PROC_FLAGS, high word 0.
        let m = p.len();
        p.push(stmt(LD_W_ABS, arg_lo(3) + 4));
        p.push(jump(JEQ_K, 0, 0, 0));
        p.push(stmt(LD_W_ABS, arg_lo(3)));
        p.push(jump(JEQ_K, TMPFS_FLAGS, 0, 0));
        p.push(jump(JEQ_K, PROC_FLAGS, 0, 0));
        let ok = p.len();
        p.push(stmt(RET_K, SECCOMP_RET_ALLOW));
        let t_no = p.len();
        p.push(stmt(RET_K, eperm));
        p[b + 1].jt = to(b + 1, ok);
        p[b + 1].jf = to(b + 1, t_no);
        p[m + 1].jf = to(m + 1, t_no);
        p[m + 3].jt = to(m + 3, ok);
        p[m + 4].jt = to(m + 4, ok);
        p[m + 4].jf = to(m + 4, t_no);
        p[unshare].jt = to(unshare, b);
        p[mount].jt = to(mount, m);
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny BPF interpreter for the subset the filter uses.
    fn run(prog: &[sock_filter], arch: u32, nr: u32) -> u32 {
        run_args(prog, arch, nr, [0; 6])
    }

    fn run_args(prog: &[sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
        let mut acc = 0u32;
        let mut pc = 0usize;
        loop {
            let i = prog[pc];
            let code = u32::from(i.code);
            match code & 0x07 {
                0x00 => {
                    acc = match i.k {
                        0 => nr,
                        4 => arch,
                        k if k >= 16 => {
                            let a = args[((k - 16) / 8) as usize];
                            if (k - 16) % 8 == 0 { a as u32 } else { (a >> 32) as u32 }
                        }
                        k => panic!("load {k}"),
                    }
                }
                0x05 => {
                    let op = code & 0xf0;
                    let taken = match op {
                        0x10 => acc == i.k,
                        0x30 => acc >= i.k,
                        0x40 => acc & i.k != 0,
                        _ => panic!("op {op:x}"),
                    };
                    pc += 1 + usize::from(if taken { i.jt } else { i.jf });
                    continue;
                }
                0x06 => return i.k,
                c => panic!("class {c:x}"),
            }
            pc += 1;
        }
    }

    #[test]
    fn denies_the_list_allows_the_rest() {
        let p = filter();
        let eperm = SECCOMP_RET_ERRNO | libc::EPERM as u32;
        for (name, nr) in denied() {
            assert_eq!(run(&p, AUDIT_ARCH, nr as u32), eperm, "{name}");
        }
        for nr in [libc::SYS_read, libc::SYS_write, libc::SYS_openat, libc::SYS_clone, libc::SYS_execve, libc::SYS_futex] {
            assert_eq!(run(&p, AUDIT_ARCH, nr as u32), SECCOMP_RET_ALLOW, "{nr}");
        }
        assert_eq!(run(&p, AUDIT_ARCH, 0x4000_0000 | libc::SYS_mount as u32), eperm);
        assert_eq!(run(&p, 0x4000_0003, 1), SECCOMP_RET_KILL_PROCESS);
    }

    #[test]
    fn clone_cannot_make_namespaces_and_clone3_is_not_there() {
        let eperm = SECCOMP_RET_ERRNO | libc::EPERM as u32;
        let enosys = SECCOMP_RET_ERRNO | libc::ENOSYS as u32;
        let clone = libc::SYS_clone as u32;
        let fork = libc::SIGCHLD as u64;
        let thread = (libc::CLONE_VM | libc::CLONE_FS | libc::CLONE_FILES | libc::CLONE_SIGHAND | libc::CLONE_THREAD | libc::CLONE_SYSVSEM) as u64;
        for (p, template) in [(filter(), false), (template_filter(), true)] {
            assert_eq!(run_args(&p, AUDIT_ARCH, clone, [fork, 0, 0, 0, 0, 0]), SECCOMP_RET_ALLOW, "fork");
            assert_eq!(run_args(&p, AUDIT_ARCH, clone, [thread, 0, 0, 0, 0, 0]), SECCOMP_RET_ALLOW, "thread");
            for ns in [libc::CLONE_NEWUSER, libc::CLONE_NEWNET, libc::CLONE_NEWNS, libc::CLONE_NEWPID, libc::CLONE_NEWCGROUP, libc::CLONE_NEWUTS, libc::CLONE_NEWIPC] {
                assert_eq!(run_args(&p, AUDIT_ARCH, clone, [fork | ns as u64, 0, 0, 0, 0, 0]), eperm, "{ns:x}");
            }
            let exact = run_args(&p, AUDIT_ARCH, clone, [TEMPLATE_CLONE as u64, 0, 0, 0, 0, 0]);
            assert_eq!(exact, if template { SECCOMP_RET_ALLOW } else { eperm });
            assert_eq!(run_args(&p, AUDIT_ARCH, clone, [(TEMPLATE_CLONE | libc::CLONE_NEWNET as u32) as u64, 0, 0, 0, 0, 0]), eperm);
            assert_eq!(run(&p, AUDIT_ARCH, libc::SYS_clone3 as u32), enosys);
            assert_eq!(run(&p, AUDIT_ARCH, libc::SYS_read as u32), SECCOMP_RET_ALLOW);
        }
    }

    #[test]
    fn template_filter_allows_only_the_exact_namespace_and_mount_calls() {
        let p = template_filter();
        let eperm = SECCOMP_RET_ERRNO | libc::EPERM as u32;
        let unshare = libc::SYS_unshare as u32;
        let mount = libc::SYS_mount as u32;
        assert_eq!(run_args(&p, AUDIT_ARCH, unshare, [TEMPLATE_UNSHARE as u64, 0, 0, 0, 0, 0]), SECCOMP_RET_ALLOW);
        assert_eq!(run_args(&p, AUDIT_ARCH, unshare, [libc::CLONE_NEWNS as u64, 0, 0, 0, 0, 0]), eperm);
        assert_eq!(run_args(&p, AUDIT_ARCH, unshare, [TEMPLATE_UNSHARE as u64 | 1 << 32, 0, 0, 0, 0, 0]), SECCOMP_RET_ALLOW, "int argument");
        assert_eq!(run_args(&p, AUDIT_ARCH, mount, [0, 0, 0, TMPFS_FLAGS as u64 | 1 << 32, 0, 0]), eperm);
        assert_eq!(run_args(&p, AUDIT_ARCH, mount, [0, 0, 0, TMPFS_FLAGS as u64, 0, 0]), SECCOMP_RET_ALLOW);
        assert_eq!(run_args(&p, AUDIT_ARCH, mount, [0, 0, 0, PROC_FLAGS as u64, 0, 0]), SECCOMP_RET_ALLOW);
        assert_eq!(run_args(&p, AUDIT_ARCH, mount, [0, 0, 0, libc::MS_BIND as u64, 0, 0]), eperm);
        assert_eq!(run_args(&p, AUDIT_ARCH, mount, [0, 0, 0, (libc::MS_REMOUNT | libc::MS_BIND) as u64, 0, 0]), eperm);
        for (name, nr) in denied() {
            if name != "unshare" && name != "mount" {
                assert_eq!(run(&p, AUDIT_ARCH, nr as u32), eperm, "{name}");
            }
        }
        assert_eq!(run(&p, AUDIT_ARCH, libc::SYS_read as u32), SECCOMP_RET_ALLOW);
        assert_eq!(run(&p, AUDIT_ARCH, 0x4000_0000 | unshare), eperm);
        assert_eq!(run(&p, 0x4000_0003, 1), SECCOMP_RET_KILL_PROCESS);
        assert_eq!(to_bytes(&p).len(), p.len() * 8);
    }
}
