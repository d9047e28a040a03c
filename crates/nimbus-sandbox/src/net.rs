//! Private network namespaces (`CLONE_NEWNET`) for execution environments of functions
//! with a `VpcConfig`.
//!
//! A [`Netns`] is made by the server, not by the environment: a short-lived thread
//! `unshare(CLONE_NEWNET)`s itself (a network namespace is a per-thread attribute, so the
//! rest of the server stays on the host network), brings the namespace's `lo` up with
//! `SIOCSIFFLAGS` while it still holds `CAP_NET_ADMIN` over it, and keeps a descriptor of
//! `/proc/thread-self/ns/net`. Only loopback exists inside: no route leads out, so other
//! host addresses and the internet answer `ENETUNREACH`, and a port on the host's loopback
//! is simply not there.
//!
//! Because the server holds the namespace before the environment exists, it can create
//! the sockets the function must reach *inside* it ([`Netns::bind_tcp`]: a socket belongs
//! to the namespace it was created in, whichever thread later uses it) and serve them in
//! process. The environment's first process joins it with `setns` in the sandbox hook,
//! before it drops its privileges (see [`child`](crate::child)); everything it forks stays
//! in it.

use std::ffi::CStr;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// One network namespace with only `lo`, up.
#[derive(Debug)]
pub struct Netns {
    /// `/proc/thread-self/ns/net` of the thread that made it: keeps it alive and lets
    /// other threads and processes `setns` into it.
    fd: OwnedFd,
}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Sets `IFF_UP` on interface `name` of the calling thread's network namespace.
fn link_up(name: &CStr) -> io::Result<()> {
    // SAFETY: socket(2) with constant arguments; the descriptor is owned right away.
    let sock = unsafe { OwnedFd::from_raw_fd(cvt(libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0))?) };
    // SAFETY: an all-zero ifreq is a valid value (a C struct of integers and arrays).
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    let bytes = name.to_bytes();
    if bytes.len() >= ifr.ifr_name.len() {
        return Err(io::ErrorKind::InvalidInput.into());
    }
    for (d, s) in ifr.ifr_name.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS/SIOCSIFFLAGS read and write the ifreq we own, whose name is
    // NUL-terminated (zeroed above, shorter than the array).
    unsafe {
        cvt(libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut ifr))?;
        ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        cvt(libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &ifr))?;
    }
    Ok(())
}

impl Netns {
    /// Makes a new network namespace whose only interface, `lo` (127.0.0.1, ::1), is up.
    /// Needs `CAP_SYS_ADMIN` and `CAP_NET_ADMIN` (the server runs as root).
    pub fn create() -> io::Result<Netns> {
        on_thread(|| {
            // SAFETY: unshare(2) with a constant flag changes only this thread's namespace
            // (the thread exits right after).
            cvt(unsafe { libc::unshare(libc::CLONE_NEWNET) })?;
            link_up(c"lo")?;
            // SAFETY: open(2) with a static path; the descriptor is owned right away.
            let fd = cvt(unsafe { libc::open(c"/proc/thread-self/ns/net".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) })?;
            // SAFETY: the descriptor was just opened and is owned by nobody else.
            Ok(Netns { fd: unsafe { OwnedFd::from_raw_fd(fd) } })
        })
    }

    /// The namespace descriptor (for `setns(fd, CLONE_NEWNET)`).
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Runs `f` on a short-lived thread that has joined this namespace: sockets it creates
    /// belong to the namespace.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> io::Result<T> + Send) -> io::Result<T> {
        let fd = self.fd();
        on_thread(move || {
            // SAFETY: setns(2) with a namespace descriptor we keep open for the call;
            // it changes only this thread, which exits right after `f`.
            cvt(unsafe { libc::setns(fd, libc::CLONE_NEWNET) })?;
            f()
        })
    }

    /// A listening TCP socket (non-blocking, close-on-exec) bound to `addr` inside the namespace.
    pub fn bind_tcp(&self, addr: SocketAddr) -> io::Result<std::net::TcpListener> {
        self.run(move || {
            let l = std::net::TcpListener::bind(addr)?;
            l.set_nonblocking(true)?;
            Ok(l)
        })
    }
}

/// Runs `f` on a new thread and waits for it (namespace changes die with the thread).
fn on_thread<T: Send>(f: impl FnOnce() -> io::Result<T> + Send) -> io::Result<T> {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("nimbus-netns".into())
            .spawn_scoped(s, f)?
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("network namespace thread panicked")))
    })
}

/// Whether this host lets the server make network namespaces.
pub fn probe() -> bool {
    Netns::create().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_only() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 || !probe() {
            eprintln!("skipped: cannot create network namespaces here");
            return;
        }
        let ns = Netns::create().unwrap();
        let l = ns.bind_tcp("127.0.0.1:0".parse().unwrap()).unwrap();
        let port = l.local_addr().unwrap().port();
        // Inside: the listener is reachable; the host's addresses are not.
        let inside = ns
            .run(move || {
                let ok = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
                let out = std::net::TcpStream::connect_timeout(&"192.0.2.1:80".parse().unwrap(), std::time::Duration::from_secs(1));
                Ok((ok, out.is_err()))
            })
            .unwrap();
        assert_eq!(inside, (true, true));
        // Outside (the host namespace) the same port on loopback is not that listener.
        let host = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let hp = host.local_addr().unwrap().port();
        let reach = ns.run(move || Ok(std::net::TcpStream::connect(("127.0.0.1", hp)).is_ok())).unwrap();
        assert!(!reach, "a host loopback port must not be reachable from the namespace");
    }
}
