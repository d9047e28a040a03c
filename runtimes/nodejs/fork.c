/*
 * nimbus_fork.node: the native half of Nimbus' Node.js snapshot (fork) starts.
 *
 * Node exposes no fork(); this N-API addon gives runtimes/nodejs/template.js the few
 * system calls a template and the environments forked from it need (see the module docs
 * of crates/nimbus-lambda/src/template.rs for the whole design):
 *
 *   serve(ctlFd)        template: block on the control socket, fork one child per `fork`
 *                       request; returns only in a child, with its channel descriptor.
 *   recv(fd) / send(fd, string) / exit(code) / pid() / ppid()
 *   enter(chan, isolate, tmpBytes, seccompHex, hostPid)
 *                       child: its own user/mount/PID/IPC namespaces, a supervisor that
 *                       reports how the environment ended, PID 1 that mounts a private
 *                       /tmp and /proc and reaps, and the function process, locked down
 *                       (no capabilities, the full seccomp filter) with libuv's loop
 *                       re-initialised (uv_loop_fork). Returns, in the function process
 *                       only, a descriptor of the template's /tmp (or -1) to copy from.
 *
 * The N-API and libuv functions are declared here rather than taken from headers: they are
 * exported by the node executable and resolved when Node dlopen()s the addon, and N-API is
 * ABI-stable, so building needs nothing but a C compiler. The supervisor and PID 1 never
 * return to JavaScript: they run the loops below and _exit().
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- the N-API and libuv subset used (ABI-stable, from js_native_api.h / uv.h) ---- */
typedef struct napi_env__ *napi_env;
typedef struct napi_value__ *napi_value;
typedef struct napi_callback_info__ *napi_callback_info;
typedef int napi_status; /* napi_ok == 0 */
typedef napi_value (*napi_callback)(napi_env env, napi_callback_info info);
struct uv_loop_s;

extern napi_status napi_create_function(napi_env, const char *, size_t, napi_callback, void *, napi_value *);
extern napi_status napi_set_named_property(napi_env, napi_value, const char *, napi_value);
extern napi_status napi_get_cb_info(napi_env, napi_callback_info, size_t *, napi_value *, napi_value *, void **);
extern napi_status napi_get_value_int32(napi_env, napi_value, int32_t *);
extern napi_status napi_get_value_double(napi_env, napi_value, double *);
extern napi_status napi_get_value_bool(napi_env, napi_value, bool *);
extern napi_status napi_get_value_string_utf8(napi_env, napi_value, char *, size_t, size_t *);
extern napi_status napi_create_int32(napi_env, int32_t, napi_value *);
extern napi_status napi_create_string_utf8(napi_env, const char *, size_t, napi_value *);
extern napi_status napi_throw_error(napi_env, const char *, const char *);
extern napi_status napi_get_uv_event_loop(napi_env, struct uv_loop_s **);
extern int uv_loop_fork(struct uv_loop_s *);

#define NAPI_AUTO_LENGTH SIZE_MAX

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#endif
#define CAP_AMBIENT_CLEAR_ALL 4
#define CAPABILITY_VERSION_3 0x20080522
#define SECCOMP_MODE_FILTER_ 2

struct bpf_insn_ {
    uint16_t code;
    uint8_t jt;
    uint8_t jf;
    uint32_t k;
};
struct bpf_prog_ {
    unsigned short len;
    struct bpf_insn_ *filter;
};

/* ---- helpers ---- */

static napi_value throw_errno(napi_env env, const char *what) {
    char msg[256];
    snprintf(msg, sizeof msg, "%s: %s", what, strerror(errno));
    napi_throw_error(env, NULL, msg);
    return NULL;
}

static napi_value int_value(napi_env env, int32_t v) {
    napi_value r = NULL;
    napi_create_int32(env, v, &r);
    return r;
}

/* Reads argument i as an int32 (0 when missing or not a number). */
static int32_t arg_int(napi_env env, napi_value *argv, size_t argc, size_t i) {
    int32_t v = 0;
    if (i < argc && napi_get_value_int32(env, argv[i], &v) != 0) v = 0;
    return v;
}

/* Sends one record; -1 with errno on failure. */
static int send_msg(int fd, const char *msg, size_t len) {
    for (;;) {
        ssize_t n = send(fd, msg, len, MSG_NOSIGNAL);
        if (n >= 0) return 0;
        if (errno != EINTR) return -1;
    }
}

/* Reports a failed setup to the server (on the environment's channel) and ends. */
static void fail(int chan, const char *what) {
    char msg[512];
    int n = snprintf(msg, sizeof msg, "fail %s: %s", what, strerror(errno));
    if (n > 0) send_msg(chan, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
    _exit(1);
}

static int write_file(const char *path, const char *data) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    size_t len = strlen(data);
    ssize_t n = write(fd, data, len);
    int saved = errno;
    close(fd);
    errno = saved;
    return n == (ssize_t)len ? 0 : -1;
}

/* V8 marks its heap and code pages MADV_DONTFORK (Node builds V8 with the private-mapping
 * fork optimisation), so a forked child would fault on its first heap access. Before each
 * fork every mapping is made inheritable again (madvise per line of /proc/self/maps;
 * errors, e.g. on [vvar], are ignored: those mappings keep their default). */
static void inherit_all_mappings(void) {
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    char buf[65536];
    size_t have = 0;
    bool at_line_start = true;
    for (;;) {
        ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        have += (size_t)n;
        buf[have] = 0;
        size_t pos = 0;
        for (;;) {
            char *nl = memchr(buf + pos, '\n', have - pos);
            if (nl == NULL) break;
            *nl = 0;
            if (at_line_start) {
                char *end = NULL;
                unsigned long lo = strtoul(buf + pos, &end, 16);
                if (end != NULL && *end == '-') {
                    unsigned long hi = strtoul(end + 1, NULL, 16);
                    if (hi > lo) madvise((void *)lo, hi - lo, MADV_DOFORK);
                }
            }
            at_line_start = true;
            pos = (size_t)(nl - buf) + 1;
        }
        if (pos == 0 && have == sizeof buf - 1) {
            /* A line longer than the buffer (a very long path): its start was handled. */
            at_line_start = false;
            have = 0;
            continue;
        }
        memmove(buf, buf + pos, have - pos);
        have -= pos;
    }
    close(fd);
}

/* ---- the template ---- */

static struct sigaction saved_sigchld;
static bool have_saved_sigchld = false;

/* serve(ctlFd): forks one child per `fork` request (three descriptors: the environment's
 * channel, its stdout and its stderr). Never returns in the template; in a child it
 * returns the channel, after saying `hello` on it (the kernel stamps the child's pid). */
static napi_value serve(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1];
    if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != 0) return NULL;
    int ctl = arg_int(env, argv, argc, 0);
    /* Forked children are reaped by the kernel; each environment's supervisor reports
     * how it ended. The runtime's own handler (libuv's, if init spawned processes) comes
     * back in the function process. */
    struct sigaction ign;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    if (sigaction(SIGCHLD, &ign, &saved_sigchld) == 0) have_saved_sigchld = true;
    for (;;) {
        char buf[64];
        union {
            struct cmsghdr h;
            char space[CMSG_SPACE(sizeof(int) * 8)];
        } cbuf;
        struct iovec iov = {buf, sizeof buf};
        struct msghdr mh;
        memset(&mh, 0, sizeof mh);
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        mh.msg_control = cbuf.space;
        mh.msg_controllen = sizeof cbuf.space;
        ssize_t n = recvmsg(ctl, &mh, MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) _exit(0); /* the server closed the control socket: retired */
        int fds[8];
        int nfds = 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                for (size_t i = 0; i < k && nfds < 8; i++) memcpy(&fds[nfds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            }
        }
        if (n != 4 || memcmp(buf, "fork", 4) != 0 || nfds != 3) {
            for (int i = 0; i < nfds; i++) close(fds[i]);
            continue;
        }
        inherit_all_mappings();
        pid_t pid = fork();
        if (pid == 0) {
            int chan = fds[0];
            close(ctl);
            struct sigaction dfl;
            memset(&dfl, 0, sizeof dfl);
            dfl.sa_handler = SIG_DFL;
            sigaction(SIGCHLD, &dfl, NULL);
            setpgid(0, 0);
            if (dup2(fds[1], 1) < 0 || dup2(fds[2], 2) < 0) _exit(1);
            close(fds[1]);
            close(fds[2]);
            if (send_msg(chan, "hello", 5) != 0) _exit(1);
            return int_value(env, chan);
        }
        for (int i = 0; i < nfds; i++) close(fds[i]);
    }
}

/* recv(fd): one record (up to 1 MiB) as a string; "" when the peer closed. */
static napi_value recv_record(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1];
    if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != 0) return NULL;
    int fd = arg_int(env, argv, argc, 0);
    size_t cap = 1 << 20;
    char *buf = malloc(cap);
    if (buf == NULL) return throw_errno(env, "recv");
    ssize_t n;
    do {
        n = recv(fd, buf, cap, 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        free(buf);
        return throw_errno(env, "recv");
    }
    napi_value r = NULL;
    napi_create_string_utf8(env, buf, (size_t)n, &r);
    free(buf);
    return r;
}

/* send(fd, string): one record. */
static napi_value send_record(napi_env env, napi_callback_info info) {
    size_t argc = 2;
    napi_value argv[2];
    if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != 0) return NULL;
    int fd = arg_int(env, argv, argc, 0);
    size_t len = 0;
    if (argc < 2 || napi_get_value_string_utf8(env, argv[1], NULL, 0, &len) != 0) {
        napi_throw_error(env, NULL, "send: expected a string");
        return NULL;
    }
    char *buf = malloc(len + 1);
    if (buf == NULL) return throw_errno(env, "send");
    napi_get_value_string_utf8(env, argv[1], buf, len + 1, &len);
    int r = send_msg(fd, buf, len);
    free(buf);
    if (r != 0) return throw_errno(env, "send");
    return int_value(env, 0);
}

/* exit(code): ends the process at once (no JavaScript `exit` handlers of the function). */
static napi_value exit_now(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1];
    if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != 0) _exit(1);
    _exit(arg_int(env, argv, argc, 0));
}

/* ---- an environment forked from the template ---- */

/* The environment's supervisor (host PID namespace): waits for PID 1 (or the function
 * process), ends the whole environment when the server's end of the channel closes, and
 * reports how it ended ("exit N" / "signal N") before it exits. */
static void supervise(pid_t child, int chan, bool isolate) {
    int pidfd = (int)syscall(SYS_pidfd_open, child, 0);
    while (pidfd >= 0) {
        struct pollfd p[2] = {{chan, POLLIN, 0}, {pidfd, POLLIN, 0}};
        int n = poll(p, 2, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (p[1].revents) break;
        if (p[0].revents) {
            char b[16];
            ssize_t r = recv(chan, b, sizeof b, MSG_DONTWAIT);
            if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) kill(-getpgid(0), SIGKILL);
        }
    }
    int status = 0;
    pid_t w;
    do {
        w = waitpid(child, &status, 0);
    } while (w < 0 && errno == EINTR);
    char report[32];
    if (w < 0) {
        snprintf(report, sizeof report, "exit 1");
    } else if (WIFSIGNALED(status)) {
        snprintf(report, sizeof report, "signal %d", WTERMSIG(status));
    } else {
        int code = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
        /* PID 1 exits with 128+n when the function died of signal n. */
        if (isolate && code > 128 && code <= 128 + 64) snprintf(report, sizeof report, "signal %d", code - 128);
        else snprintf(report, sizeof report, "exit %d", code);
    }
    send_msg(chan, report, strlen(report));
    _exit(0);
}

/* PID 1 of the environment: reaps orphans; exits as the function did. */
static void reap(pid_t function) {
    for (;;) {
        int status = 0;
        pid_t p = waitpid(-1, &status, 0);
        if (p < 0) {
            if (errno == EINTR) continue;
            _exit(1);
        }
        if (p == function) _exit(WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status));
    }
}

/* No capabilities (not even in the environment's own user namespace); the full filter. */
static int lock_down(const struct bpf_insn_ *prog, size_t len, const char **what) {
    for (int cap = 0; cap < 64; cap++) prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
    prctl(PR_CAP_AMBIENT, CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    struct {
        uint32_t version;
        int pid;
    } hdr = {CAPABILITY_VERSION_3, 0};
    uint32_t data[6] = {0, 0, 0, 0, 0, 0};
    if (syscall(SYS_capset, &hdr, data) != 0) {
        *what = "capset";
        return -1;
    }
    if (len > 0) {
        struct bpf_prog_ fp = {(unsigned short)len, (struct bpf_insn_ *)prog};
        if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER_, &fp, 0, 0) != 0) {
            *what = "seccomp";
            return -1;
        }
    }
    return 0;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* enter(chan, isolate, tmpBytes, seccompHex, hostPid) -> template /tmp descriptor or -1 */
static napi_value enter(napi_env env, napi_callback_info info) {
    size_t argc = 5;
    napi_value argv[5];
    if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != 0) return NULL;
    if (argc < 5) {
        napi_throw_error(env, NULL, "enter: expected 5 arguments");
        return NULL;
    }
    int chan = arg_int(env, argv, argc, 0);
    bool isolate = false;
    napi_get_value_bool(env, argv[1], &isolate);
    double tmp_bytes = 0;
    napi_get_value_double(env, argv[2], &tmp_bytes);
    int host_pid = arg_int(env, argv, argc, 4);
    size_t hex_len = 0;
    if (napi_get_value_string_utf8(env, argv[3], NULL, 0, &hex_len) != 0 || hex_len % 16 != 0 || hex_len / 16 > 4096) {
        napi_throw_error(env, NULL, "enter: bad seccomp program");
        return NULL;
    }
    char *hex = malloc(hex_len + 1);
    size_t prog_len = hex_len / 16;
    struct bpf_insn_ *prog = calloc(prog_len ? prog_len : 1, sizeof *prog);
    if (hex == NULL || prog == NULL) {
        free(hex);
        free(prog);
        return throw_errno(env, "enter");
    }
    napi_get_value_string_utf8(env, argv[3], hex, hex_len + 1, &hex_len);
    unsigned char *bytes = (unsigned char *)prog;
    for (size_t i = 0; i < hex_len / 2; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free(hex);
            free(prog);
            napi_throw_error(env, NULL, "enter: bad seccomp program");
            return NULL;
        }
        bytes[i] = (unsigned char)(hi << 4 | lo);
    }
    free(hex);
    struct uv_loop_s *loop = NULL;
    if (napi_get_uv_event_loop(env, &loop) != 0 || loop == NULL) {
        free(prog);
        napi_throw_error(env, NULL, "enter: no event loop");
        return NULL;
    }
    if (isolate) {
        /* Read before unsharing: inside the new namespace they are unmapped until written. */
        uid_t uid = geteuid();
        gid_t gid = getegid();
        if (unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC) != 0) {
            free(prog);
            return throw_errno(env, "unshare");
        }
        char map[64];
        snprintf(map, sizeof map, "%u %u 1", (unsigned)uid, (unsigned)uid);
        if (write_file("/proc/self/uid_map", map) != 0) {
            free(prog);
            return throw_errno(env, "uid_map");
        }
        if (write_file("/proc/self/setgroups", "deny") != 0) {
            free(prog);
            return throw_errno(env, "setgroups");
        }
        snprintf(map, sizeof map, "%u %u 1", (unsigned)gid, (unsigned)gid);
        if (write_file("/proc/self/gid_map", map) != 0) {
            free(prog);
            return throw_errno(env, "gid_map");
        }
    }
    inherit_all_mappings();
    pid_t child = fork();
    if (child < 0) {
        free(prog);
        return throw_errno(env, "fork");
    }
    if (child > 0) supervise(child, chan, isolate);
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    int old_tmp = -1;
    const char *what = NULL;
    if (isolate) {
        /* PID 1: a private /tmp (the template's is copied in by the function process, from
         * this descriptor) and a /proc of the new PID namespace. */
        old_tmp = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (old_tmp < 0) fail(chan, "open /tmp");
        char opts[64];
        snprintf(opts, sizeof opts, "size=%llu,mode=1777", (unsigned long long)tmp_bytes);
        if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, opts) != 0) fail(chan, "mount /tmp");
        if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0) fail(chan, "mount /proc");
        /* Pids start after the supervisor's host pid, so live environments differ. */
        if (host_pid > 0) {
            char last[16];
            snprintf(last, sizeof last, "%d", host_pid);
            write_file("/proc/sys/kernel/ns_last_pid", last);
        }
        inherit_all_mappings();
        pid_t function = fork();
        if (function < 0) fail(chan, "fork");
        if (function > 0) {
            close(chan);
            close(old_tmp);
            if (lock_down(prog, prog_len, &what) != 0) _exit(1);
            reap(function);
        }
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        if (lock_down(prog, prog_len, &what) != 0) fail(chan, what);
    }
    free(prog);
    if (have_saved_sigchld) sigaction(SIGCHLD, &saved_sigchld, NULL);
    /* The loop's epoll descriptor (and its wakeup and signal pipes) are the template's:
     * give this process its own, with every watcher re-registered. */
    if (uv_loop_fork(loop) != 0) fail(chan, "uv_loop_fork");
    return int_value(env, old_tmp);
}

/* pid() / ppid(): Node caches process.pid (and ppid) at start, i.e. the template's. */
static napi_value get_pid(napi_env env, napi_callback_info info) {
    (void)info;
    return int_value(env, (int32_t)getpid());
}

static napi_value get_ppid(napi_env env, napi_callback_info info) {
    (void)info;
    return int_value(env, (int32_t)getppid());
}

static int export_fn(napi_env env, napi_value exports, const char *name, napi_callback cb) {
    napi_value fn;
    if (napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, NULL, &fn) != 0) return -1;
    return napi_set_named_property(env, exports, name, fn) == 0 ? 0 : -1;
}

__attribute__((visibility("default"))) napi_value napi_register_module_v1(napi_env env, napi_value exports) {
    if (export_fn(env, exports, "serve", serve) || export_fn(env, exports, "recv", recv_record) ||
        export_fn(env, exports, "send", send_record) || export_fn(env, exports, "exit", exit_now) ||
        export_fn(env, exports, "enter", enter) || export_fn(env, exports, "pid", get_pid) ||
        export_fn(env, exports, "ppid", get_ppid))
        return NULL;
    return exports;
}
