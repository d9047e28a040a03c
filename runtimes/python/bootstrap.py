"""Nimbus' Python runtime: a Lambda Runtime API client.

Started once per execution environment with `_HANDLER=module.function`, it imports the
handler module from LAMBDA_TASK_ROOT once (the init phase), then loops on
`GET /2018-06-01/runtime/invocation/next`, calls the handler with the event and a context
object, and posts the result (or the error as {"errorMessage", "errorType",
"stackTrace"}). Standard library only, so it works on every interpreter 3.9+.

Snapshot template mode (`NIMBUS_TEMPLATE_FD` set; see nimbus-lambda's `template` module):
the process runs the init phase once (imports, module-level code, `before_snapshot`
hooks), reports `ready` on the control socket and then forks one execution environment
per `fork` request. Each environment is born in its own user, mount, PID and IPC
namespaces (one `clone`, so its first process is PID 1 of the environment), receives its
per-environment values (Runtime API endpoint, log stream, credentials, private /tmp
size, the full seccomp filter) only after that, mounts a private /tmp (a copy of the
template's) and its own /proc, forks the function process, drops every capability,
stacks the full seccomp filter, and then reaps orphans and reports how the function
ended; the function process reseeds `random`, runs the `after_restore` hooks and serves
invocations like any environment.

`snapshot_restore_py` (AWS's SnapStart hook module for Python) is provided:
`register_before_snapshot` / `register_after_restore`, as functions or decorators.
"""

import importlib
import json
import os
import socket
import sys
import time
import traceback
import types

API = os.environ.get("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001")
HOST, _, PORT = API.partition(":")
PREFIX = "/2018-06-01/runtime"

_conn = None

_before_snapshot = []
_after_restore = []


def _registrar(hooks):
    def register(func, *args, **kwargs):
        hooks.append((func, args, kwargs))
        return func
    return register


def _install_snapshot_module():
    """AWS's `snapshot_restore_py`: hooks run before the snapshot and after each restore."""
    mod = types.ModuleType("snapshot_restore_py")
    mod.register_before_snapshot = _registrar(_before_snapshot)
    mod.register_after_restore = _registrar(_after_restore)
    mod.get_before_snapshot = lambda: list(_before_snapshot)
    mod.get_after_restore = lambda: list(_after_restore)
    sys.modules.setdefault("snapshot_restore_py", mod)


_install_snapshot_module()


class _Headers(dict):
    """Response headers, looked up case-insensitively (keys stored lower-case)."""

    def get(self, key, default=None):
        return dict.get(self, key.lower(), default)

    def __getitem__(self, key):
        return dict.__getitem__(self, key.lower())

    def __contains__(self, key):
        return dict.__contains__(self, key.lower())


def _connect(host, port):
    """A TCP connection; a numeric address is connected directly: the first getaddrinfo
    of a process loads the NSS modules and reads their files, which costs milliseconds
    on every cold start."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except OSError:
            continue
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.connect((host, port))
        except OSError:
            sock.close()
            raise
        return sock
    return socket.create_connection((host, port))


class _Conn:
    """One kept-alive HTTP/1.1 connection to the Runtime API. A minimal client on a raw
    socket: http.client parses headers with the email package, which costs more CPU
    per invocation than everything else a no-op function does."""

    def __init__(self):
        self.sock = _connect(HOST, int(PORT or 80))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def close(self):
        self.sock.close()

    def _fill(self):
        chunk = self.sock.recv(262144)
        if not chunk:
            raise ConnectionError("the Runtime API closed the connection")
        self.buf += chunk

    def _take(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                out, self.buf = self.buf[:i], self.buf[i + 2:]
                return out
            self._fill()

    def request(self, method, target, body, headers):
        head = [f"{method} {target} HTTP/1.1", f"Host: {API}"]
        for k, v in headers.items():
            head.append(f"{k}: {v}")
        if body is not None or method != "GET":
            head.append(f"Content-Length: {len(body or b'')}")
        data = ("\r\n".join(head) + "\r\n\r\n").encode("utf-8")
        self.sock.sendall(data + body if body else data)
        while True:
            i = self.buf.find(b"\r\n\r\n")
            if i >= 0:
                break
            self._fill()
        lines = self.buf[:i].decode("latin-1").split("\r\n")
        self.buf = self.buf[i + 4:]
        status = int(lines[0].split(" ", 2)[1])
        hdrs = _Headers()
        for line in lines[1:]:
            k, _, v = line.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        if "content-length" in hdrs:
            data = self._take(int(hdrs["content-length"]))
        elif hdrs.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int(self._line().split(b";", 1)[0], 16)
                if size == 0:
                    while self._line():
                        pass
                    break
                parts.append(self._take(size))
                self._take(2)
            data = b"".join(parts)
        else:
            data = b""
        return status, hdrs, data


def _request(method, path, body=None, headers=None):
    global _conn
    for attempt in range(2):
        try:
            if _conn is None:
                _conn = _Conn()
            return _conn.request(method, PREFIX + path, body, headers or {})
        except (OSError, ValueError, IndexError):
            try:
                _conn.close()
            except Exception:
                pass
            _conn = None
            if attempt == 1:
                raise


def _error_payload(exc, error_type=None):
    tb = traceback.extract_tb(exc.__traceback__)
    return {
        "errorMessage": str(exc),
        "errorType": error_type or type(exc).__name__,
        "requestId": "",
        "stackTrace": traceback.format_list(tb),
    }


def _post_error(path, payload):
    body = json.dumps(payload).encode()
    _request(
        "POST",
        path,
        body=body,
        headers={
            "Content-Type": "application/vnd.aws.lambda.error+json",
            "Lambda-Runtime-Function-Error-Type": payload.get("errorType", "Unhandled"),
        },
    )


class CognitoIdentity:
    def __init__(self, data):
        self.cognito_identity_id = data.get("cognitoIdentityId")
        self.cognito_identity_pool_id = data.get("cognitoIdentityPoolId")


class Client:
    def __init__(self, data):
        self.installation_id = data.get("installation_id")
        self.app_title = data.get("app_title")
        self.app_version_name = data.get("app_version_name")
        self.app_version_code = data.get("app_version_code")
        self.app_package_name = data.get("app_package_name")


class ClientContext:
    def __init__(self, data):
        self.client = Client(data.get("client") or {}) if data.get("client") else None
        self.custom = data.get("custom")
        self.env = data.get("env")


class LambdaContext:
    def __init__(self, request_id, deadline_ms, arn, client_context, identity):
        self.aws_request_id = request_id
        self._deadline_ms = deadline_ms
        self.invoked_function_arn = arn
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.client_context = ClientContext(client_context) if client_context else None
        self.identity = CognitoIdentity(identity or {})

    def get_remaining_time_in_millis(self):
        return max(0, int(self._deadline_ms - time.time() * 1000))

    def __repr__(self):
        return (
            f"LambdaContext([aws_request_id={self.aws_request_id},log_group_name={self.log_group_name},"
            f"log_stream_name={self.log_stream_name},function_name={self.function_name},"
            f"memory_limit_in_mb={self.memory_limit_in_mb},function_version={self.function_version},"
            f"invoked_function_arn={self.invoked_function_arn}])"
        )


def _add_layer_paths():
    """Layers, as AWS's runtime orders them: LAMBDA_TASK_ROOT, then
    /opt/python/lib/pythonX.Y/site-packages, then /opt/python (with their .pth files),
    unless the function sets PYTHONPATH. Without a private filesystem the layers are not
    at /opt but where NIMBUS_LAMBDA_OPT_DIR says (empty: the function has none)."""
    opt = os.environ.get("NIMBUS_LAMBDA_OPT_DIR", "/opt")
    if "PYTHONPATH" in os.environ or not opt:
        return
    import site
    site_packages = f"{opt}/python/lib/python{sys.version_info.major}.{sys.version_info.minor}/site-packages"
    for d in (f"{opt}/python", site_packages):
        if d not in sys.path:
            sys.path.insert(0, d)
    for d in (site_packages, f"{opt}/python"):
        if os.path.isdir(d):
            site.addsitedir(d)


def _load_handler():
    spec = os.environ.get("_HANDLER", "")
    task_root = os.environ.get("LAMBDA_TASK_ROOT", os.getcwd())
    _add_layer_paths()
    if task_root not in sys.path:
        sys.path.insert(0, task_root)
    modname, _, funcname = spec.rpartition(".")
    if not modname or not funcname:
        return None, {
            "errorMessage": f"Bad handler '{spec}': not enough values to unpack (expected 2, got 1)",
            "errorType": "Runtime.MalformedHandlerName",
            "requestId": "",
            "stackTrace": [],
        }
    modname = modname.replace("/", ".")
    try:
        module = importlib.import_module(modname)
    except ImportError as e:
        return None, {
            "errorMessage": f"Unable to import module '{modname}': {e}",
            "errorType": "Runtime.ImportModuleError",
            "requestId": "",
            "stackTrace": [],
        }
    except SyntaxError as e:
        return None, {
            "errorMessage": f"Syntax error in module '{modname}': {e}",
            "errorType": "Runtime.UserCodeSyntaxError",
            "requestId": "",
            "stackTrace": [],
        }
    except Exception as e:
        return None, _error_payload(e)
    fn = getattr(module, funcname, None)
    if fn is None:
        return None, {
            "errorMessage": f"Handler '{funcname}' missing on module '{modname}'",
            "errorType": "Runtime.HandlerNotFound",
            "requestId": "",
            "stackTrace": [],
        }
    return fn, None


def main():
    template_fd = os.environ.pop("NIMBUS_TEMPLATE_FD", None)
    if template_fd:
        return _template(int(template_fd))
    handler, init_error = _load_handler()
    if init_error is not None:
        print(f"[ERROR] {init_error['errorType']}: {init_error['errorMessage']}", file=sys.stderr, flush=True)
        try:
            _post_error("/init/error", init_error)
        finally:
            sys.exit(1)
    _serve(handler)


def _serve(handler):
    while True:
        status, headers, body = _request("GET", "/invocation/next")
        if status != 200:
            sys.exit(0)
        request_id = headers.get("Lambda-Runtime-Aws-Request-Id", "")
        deadline = int(headers.get("Lambda-Runtime-Deadline-Ms", "0") or 0)
        arn = headers.get("Lambda-Runtime-Invoked-Function-Arn", "")
        trace = headers.get("Lambda-Runtime-Trace-Id")
        if trace:
            os.environ["_X_AMZN_TRACE_ID"] = trace
        cc = headers.get("Lambda-Runtime-Client-Context")
        ci = headers.get("Lambda-Runtime-Cognito-Identity")
        try:
            client_context = json.loads(cc) if cc else None
        except ValueError:
            client_context = None
        try:
            identity = json.loads(ci) if ci else None
        except ValueError:
            identity = None
        ctx = LambdaContext(request_id, deadline, arn, client_context, identity)
        try:
            event = json.loads(body) if body else {}
        except ValueError as e:
            _post_error(f"/invocation/{request_id}/error", {
                "errorMessage": f"Unable to unmarshal input: {e}",
                "errorType": "Runtime.UnmarshalError",
                "requestId": request_id,
                "stackTrace": [],
            })
            continue
        try:
            result = handler(event, ctx)
            try:
                out = json.dumps(result).encode()
            except (TypeError, ValueError) as e:
                _post_error(f"/invocation/{request_id}/error", {
                    "errorMessage": f"Unable to marshal response: {e}",
                    "errorType": "Runtime.MarshalError",
                    "requestId": request_id,
                    "stackTrace": [],
                })
                continue
            sys.stdout.flush()
            sys.stderr.flush()
            _request("POST", f"/invocation/{request_id}/response", body=out,
                     headers={"Content-Type": "application/json"})
        except Exception as e:
            payload = _error_payload(e)
            payload["requestId"] = request_id
            print(f"[ERROR] {payload['errorType']}: {payload['errorMessage']}", file=sys.stderr)
            for line in traceback.format_exception(type(e), e, e.__traceback__):
                sys.stderr.write(line)
            sys.stdout.flush()
            sys.stderr.flush()
            _post_error(f"/invocation/{request_id}/error", payload)


# ---- snapshot template ----

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWIPC = 0x20000, 0x10000000, 0x20000000, 0x08000000
MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_SECCOMP, PR_CAP_AMBIENT = 1, 24, 22, 47
SYS_CAPSET = {"x86_64": 126, "aarch64": 91}
SYS_CLONE = {"x86_64": 56, "aarch64": 220}


def _template(fd):
    """Runs init once, then forks an environment per `fork` request on the control socket."""
    import signal
    import socket

    ctl = socket.socket(fileno=fd)
    handler, init_error = _load_handler()
    if init_error is None:
        try:
            # As AWS: before-snapshot hooks in reverse order of registration, after-restore
            # hooks in order.
            for func, args, kwargs in reversed(_before_snapshot):
                func(*args, **kwargs)
        except Exception as e:
            init_error = _error_payload(e, "Runtime.BeforeSnapshotError")
    if init_error is not None:
        # The server falls back to a normal start, which reports the init error as usual.
        ctl.send(b"init-error " + json.dumps(init_error).encode()[:60000])
        os._exit(1)
    # What every forked environment needs is loaded once, here, not after each fork.
    global _LIBC, _PYAPI
    try:
        _LIBC = _libc()
        _PYAPI = _LIBC[0].PyDLL(None, use_errno=True)
    except (ImportError, OSError) as e:
        print(f"nimbus template: ctypes unavailable ({e}); environments load it after the fork", file=sys.stderr, flush=True)
        _LIBC = None
    import random  # noqa: F401
    import select  # noqa: F401
    import gc

    try:
        # Loads the resolver's NSS modules once, here: a function's first connection to
        # Nimbus (AWS_ENDPOINT_URL) then resolves without loading them in every environment.
        socket.getaddrinfo("127.0.0.1", 0, type=socket.SOCK_STREAM)
        socket.getaddrinfo("localhost", 0, type=socket.SOCK_STREAM)
    except OSError:
        pass

    # Objects made at init go to the permanent generation: the collector never walks
    # (and so never copies) the template's pages in the environments.
    gc.collect()
    gc.freeze()
    sys.stdout.flush()
    sys.stderr.flush()
    # Environments are reaped by the kernel; each one's PID 1 reports how it ended.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    isolate = os.environ.pop("NIMBUS_TEMPLATE_ISOLATE", None) == "1"
    # Read before any clone: inside a new user namespace they are unmapped until written.
    ids = (os.geteuid(), os.getegid())
    ctl.send(b"ready")
    while True:
        msg, fds, _flags, _addr = socket.recv_fds(ctl, 64, 3)
        if not msg:
            os._exit(0)
        if msg != b"fork" or len(fds) != 3:
            for f in fds:
                os.close(f)
            continue
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            pid = _clone_environment() if isolate else os.fork()
        except OSError as e:
            # The server hears nothing on the environment's channel and starts it normally.
            print(f"nimbus template: cannot start an environment: {e}", file=sys.stderr, flush=True)
            pid = -1
        if pid == 0:
            try:
                _environment(ctl, fds, handler, ids if isolate else None)
            except BaseException:
                traceback.print_exc()
                sys.stderr.flush()
            os._exit(1)
        for f in fds:
            os.close(f)


def _clone_environment():
    """`os.fork()` into new user, mount, PID and IPC namespaces: the child is PID 1 of its
    environment. One process fewer per environment than fork-then-unshare (which needs a
    second fork to enter the PID namespace), so one copy of the template's page tables
    fewer on every cold start. The interpreter's own fork bookkeeping runs around the
    raw `clone` exactly as `os.fork()` runs it around `fork()`; the call goes through
    `PyDLL`, which keeps the GIL held, so no other thread can hold it at the clone."""
    ctypes, _ = _libc()
    py = _PYAPI or ctypes.PyDLL(None, use_errno=True)
    nr = SYS_CLONE.get(os.uname().machine)
    if nr is None:
        raise OSError(0, f"clone: unknown architecture {os.uname().machine}")
    import signal

    flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | int(signal.SIGCHLD)
    py.PyOS_BeforeFork()
    pid = py.syscall(ctypes.c_long(nr), ctypes.c_ulong(flags), None, None, None, None)
    if pid == 0:
        py.PyOS_AfterFork_Child()
        return 0
    err = ctypes.get_errno()
    py.PyOS_AfterFork_Parent()
    if pid < 0:
        raise OSError(err, f"clone: {os.strerror(err)}")
    return pid


_LIBC = None
_PYAPI = None


def _libc():
    if _LIBC is not None:
        return _LIBC
    import ctypes

    return ctypes, ctypes.CDLL(None, use_errno=True)


def _check(ctypes, r, what):
    if r != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")


def _environment(ctl, fds, handler, ids):
    """In the new process: become an execution environment of its own.

    `ids` (the template's uid and gid) is set when the process was cloned into its own
    namespaces: it is then PID 1 of the environment, maps its ids and mounts its private
    /tmp and /proc. Either way it forks the function process and stays as the
    environment's init (`_init`), locked down like the function when isolated. It does
    not die with the template: a retired template must not end running environments.
    """
    import signal
    import socket

    ctl.close()
    chan_fd, out_fd, err_fd = fds
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.setpgid(0, 0)
    os.dup2(out_fd, 1)
    os.dup2(err_fd, 2)
    os.close(out_fd)
    os.close(err_fd)
    chan = socket.socket(fileno=chan_fd)
    # The kernel attaches this process' pid (as the server sees it) to the message; the
    # server moves it into the environment's cgroup before it answers.
    chan.send(b"hello")
    cfg = json.loads(chan.recv(1 << 20))
    isolate = cfg.get("isolate", False)
    if isolate != (ids is not None):
        chan.send(b"fail the template and the server disagree about isolation")
        os._exit(1)
    try:
        ctypes, libc = _libc() if isolate else (None, None)
        if isolate:
            uid, gid = ids
            with open("/proc/self/uid_map", "w") as f:
                f.write(f"{uid} {uid} 1")
            with open("/proc/self/setgroups", "w") as f:
                f.write("deny")
            with open("/proc/self/gid_map", "w") as f:
                f.write(f"{gid} {gid} 1")
            _private_fs(ctypes, libc, cfg)
            try:
                # Pids start after this process' host pid, so live environments differ.
                with open("/proc/sys/kernel/ns_last_pid", "w") as f:
                    f.write(str(int(cfg.get("host_pid") or 1)))
            except (OSError, ValueError):
                pass
        function = os.fork()
        if function:
            if isolate:
                try:
                    _lock_down(ctypes, libc, cfg)
                except Exception as e:
                    chan.send(f"fail {type(e).__name__}: {e}".encode()[:4000])
                    os.killpg(0, 9)
            _init(chan, function)
        # The function process: it ends with its init.
        if isolate:
            libc.prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0)
            _lock_down(ctypes, libc, cfg)
    except Exception as e:
        chan.send(f"fail {type(e).__name__}: {e}".encode()[:4000])
        os._exit(1)
    chan.send(b"up")
    chan.close()
    os.environ.update(cfg.get("env") or {})
    global API, HOST, PORT, _conn
    API = os.environ.get("AWS_LAMBDA_RUNTIME_API", API)
    HOST, _, PORT = API.partition(":")
    _conn = None
    import random

    random.seed()
    try:
        for func, args, kwargs in list(_after_restore):
            func(*args, **kwargs)
    except Exception as e:
        payload = _error_payload(e, "Runtime.AfterRestoreError")
        print(f"[ERROR] {payload['errorType']}: {payload['errorMessage']}", file=sys.stderr, flush=True)
        try:
            _post_error("/init/error", payload)
        finally:
            os._exit(1)
    _serve(handler)


def _init(chan, function):
    """The environment's init (PID 1 of its namespace when isolated): reaps orphans; when
    the function process ends, reports how ("exit N" or "signal N") and exits, which
    ends whatever is left in the PID namespace. The server closing its end of the
    channel (it stopped) ends the whole environment (its process group)."""
    import select
    import signal
    import socket

    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    while True:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                os._exit(1)
            if pid == 0:
                break
            if pid == function:
                if os.WIFSIGNALED(status):
                    report = f"signal {os.WTERMSIG(status)}"
                else:
                    report = f"exit {os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1}"
                try:
                    chan.send(report.encode())
                except OSError:
                    pass
                os._exit(0)
        try:
            ready, _, _ = select.select([chan, wake_r], [], [])
        except InterruptedError:
            continue
        if wake_r in ready:
            os.read(wake_r, 512)
        if chan in ready:
            try:
                gone = not chan.recv(16, socket.MSG_PEEK | socket.MSG_DONTWAIT)
            except BlockingIOError:
                gone = False
            except OSError:
                gone = True
            if gone:
                os.killpg(0, 9)


def _private_fs(ctypes, libc, cfg):
    """A private /tmp (a copy of the template's) and a /proc of the environment's PID namespace."""
    old = os.open("/tmp", os.O_RDONLY | os.O_DIRECTORY)
    opts = f"size={int(cfg['tmp_bytes'])},mode=1777".encode()
    _check(ctypes, libc.mount(b"tmpfs", b"/tmp", b"tmpfs", MS_NOSUID | MS_NODEV, opts), "mount /tmp")
    _check(ctypes, libc.mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None), "mount /proc")
    if os.listdir(old):
        import shutil

        shutil.copytree(f"/proc/self/fd/{old}", "/tmp", symlinks=True, dirs_exist_ok=True)
    os.close(old)


def _lock_down(ctypes, libc, cfg):
    """No capabilities (not even in the environment's own user namespace); the full filter."""
    for cap in range(64):
        libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
    libc.prctl(PR_CAP_AMBIENT, 4, 0, 0, 0)

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    data = (ctypes.c_uint32 * 6)()
    hdr = Header(0x20080522, 0)
    machine = os.uname().machine
    nr = SYS_CAPSET.get(machine)
    if nr is None:
        raise OSError(0, f"capset: unknown architecture {machine}")
    _check(ctypes, libc.syscall(nr, ctypes.byref(hdr), data), "capset")
    prog = bytes.fromhex(cfg.get("seccomp") or "")
    if prog:
        buf = ctypes.create_string_buffer(prog, len(prog))

        class Fprog(ctypes.Structure):
            _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

        fp = Fprog(len(prog) // 8, ctypes.cast(buf, ctypes.c_void_p))
        _check(ctypes, libc.prctl(PR_SET_SECCOMP, 2, ctypes.byref(fp), 0, 0), "seccomp")


if __name__ == "__main__":
    main()
