//! A hand-built seccomp BPF filter: the syscalls a Lambda function has no business making
//! answer `EPERM`; everything else is allowed. A syscall of another ABI (e.g. x32 or a
//! foreign architecture) kills the process.

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

fn stmt(code: u32, k: u32) -> sock_filter {
    sock_filter { code: code as u16, jt: 0, jf: 0, k }
}

fn jump(code: u32, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter { code: code as u16, jt, jf, k }
}

/// The BPF program.
pub fn filter() -> Vec<sock_filter> {
    const LD_W_ABS: u32 = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
    const JEQ_K: u32 = libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K;
    const JGE_K: u32 = libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K;
    const RET_K: u32 = libc::BPF_RET | libc::BPF_K;
    let deny = denied();
    let n = deny.len();
    assert!(n < 250);
    let mut p = vec![
        // seccomp_data.arch
        stmt(LD_W_ABS, 4),
        jump(JEQ_K, AUDIT_ARCH, 1, 0),
        stmt(RET_K, SECCOMP_RET_KILL_PROCESS),
        // seccomp_data.nr
        stmt(LD_W_ABS, 0),
    ];
    // x32 ABI syscalls (nr | 0x40000000) go to EPERM too.
    p.push(jump(JGE_K, 0x4000_0000, (n + 1) as u8, 0));
    for (i, (_, nr)) in deny.iter().enumerate() {
        p.push(jump(JEQ_K, *nr as u32, (n - i) as u8, 0));
    }
    p.push(stmt(RET_K, SECCOMP_RET_ALLOW));
    p.push(stmt(RET_K, SECCOMP_RET_ERRNO | (libc::EPERM as u32 & libc::SECCOMP_RET_DATA)));
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny BPF interpreter for the subset the filter uses.
    fn run(prog: &[sock_filter], arch: u32, nr: u32) -> u32 {
        let mut acc = 0u32;
        let mut pc = 0usize;
        loop {
            let i = prog[pc];
            let code = u32::from(i.code);
            match code & 0x07 {
                0x00 => acc = if i.k == 4 { arch } else { nr },
                0x05 => {
                    let op = code & 0xf0;
                    let taken = match op {
                        0x10 => acc == i.k,
                        0x30 => acc >= i.k,
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
}
