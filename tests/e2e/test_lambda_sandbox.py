"""Lambda execution environments are isolated and limited (nimbus-sandbox), against the
real binary: hidden host files, read-only filesystem outside /tmp, /tmp sized to
EphemeralStorage, memory limit -> Runtime.OutOfMemory, pids limit against fork bombs,
frozen while idle, unprivileged uid. Each test first checks that this host offers the
primitives it needs and skips with the reason otherwise."""

import base64
import io
import json
import os
import re
import subprocess
import tempfile
import threading
import time
import zipfile

import pytest

from conftest import Server

ROLE = "arn:aws:iam::000000000000:role/lambda-role"

PROBE = r"""
import errno, json, os, sys, threading, time

SPIN = []

def _spin():
    while True:
        pass

def handler(event, context):
    a = event.get('action')
    if a == 'whoami':
        return {'uid': os.getuid(), 'gid': os.getgid(), 'euid': os.geteuid(), 'cwd': os.getcwd(),
                'task': sorted(os.listdir(os.environ['LAMBDA_TASK_ROOT'])), 'root': sorted(os.listdir('/')),
                'task_root': os.environ.get('LAMBDA_TASK_ROOT'), 'pid': os.getpid(),
                'cgroup': open('/proc/self/cgroup').read(), 'nofile': __import__('resource').getrlimit(__import__('resource').RLIMIT_NOFILE)[0]}
    if a == 'read':
        out = {}
        for p in event['paths']:
            try:
                if os.path.isdir(p):
                    out[p] = 'listed:' + ','.join(os.listdir(p))
                else:
                    with open(p, 'rb') as f:
                        out[p] = 'read:%d' % len(f.read())
            except OSError as e:
                out[p] = type(e).__name__ + ':' + errno.errorcode.get(e.errno, '?')
        return out
    if a == 'write':
        out = {}
        for p in event['paths']:
            try:
                with open(p, 'w') as f:
                    f.write('x')
                out[p] = 'ok'
            except OSError as e:
                out[p] = errno.errorcode.get(e.errno, '?')
        return out
    if a == 'fill_tmp':
        chunk = b'\0' * (1 << 20)
        n = 0
        try:
            with open('/tmp/fill', 'wb') as f:
                while n < event['max_mb']:
                    f.write(chunk)
                    f.flush()
                    n += 1
        except OSError as e:
            os.unlink('/tmp/fill')
            return {'mb': n, 'error': errno.errorcode.get(e.errno, '?')}
        os.unlink('/tmp/fill')
        return {'mb': n, 'error': None}
    if a == 'alloc':
        hold = []
        for _ in range(event['mb'] // 16):
            hold.append(b'\1' * (16 << 20))
        return {'held_mb': len(hold) * 16}
    if a == 'forkbomb':
        n = 0
        err = None
        while n < 5000:
            try:
                pid = os.fork()
            except OSError as e:
                err = errno.errorcode.get(e.errno, '?')
                break
            if pid == 0:
                time.sleep(120)
                os._exit(0)
            n += 1
        return {'forked': n, 'error': err}
    if a == 'spin':
        if not SPIN:
            t = threading.Thread(target=_spin, daemon=True)
            t.start()
            SPIN.append(t)
        time.sleep(event.get('seconds', 0))
        return {'cgroup': open('/proc/self/cgroup').read()}
    if a == 'syscalls':
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        r = libc.mount(b'tmpfs', b'/tmp', b'tmpfs', 0, None)
        e1 = ctypes.get_errno()
        r2 = libc.unshare(0x00020000)
        e2 = ctypes.get_errno()
        # clone(CLONE_NEWUSER | SIGCHLD): namespaces through clone are refused as well.
        nr = {'x86_64': 56, 'aarch64': 220}[os.uname().machine]
        r3 = libc.syscall(nr, 0x10000000 | 17, None, None, None, None)
        if r3 == 0:
            os._exit(0)
        e3 = ctypes.get_errno()
        # Threads still start (libc falls back from clone3 to clone).
        box = []
        t = threading.Thread(target=lambda: box.append(1))
        t.start()
        t.join()
        return {'mount': [r, errno.errorcode.get(e1)], 'unshare': [r2, errno.errorcode.get(e2)],
                'clone_newuser': [r3, errno.errorcode.get(e3)], 'thread': box == [1]}
    return {'ok': True}
"""


def make_zip(files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, content in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o600 | 0o100000) << 16  # owner-only, as some zips are
            z.writestr(info, content)
    return buf.getvalue()


def create(lam, name, **kw):
    return lam.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="index.handler",
                               Code={"ZipFile": make_zip({"index.py": PROBE})}, **kw)


def invoke(lam, name, event, **kw):
    r = lam.invoke(FunctionName=name, Payload=json.dumps(event).encode(), **kw)
    body = r["Payload"].read()
    return r, json.loads(body) if body else None


class IsoServer(Server):
    """A server with an explicit NIMBUS_LAMBDA_ISOLATION (the shared fixture strips NIMBUS_*)."""

    def __init__(self, data_dir, isolation):
        super().__init__(data_dir)
        self.isolation = isolation

    def start(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("NIMBUS_")}
        env["NIMBUS_LOG"] = "warn"
        env["NIMBUS_LAMBDA_ISOLATION"] = self.isolation
        from conftest import BIN
        self.proc = subprocess.Popen([BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir", self.data_dir],
                                     stdout=subprocess.PIPE, stderr=None, env=env, text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"listening on (http://\S+)", line)
        if not m:
            self.proc.kill()
            raise RuntimeError(f"nimbus did not start: {line!r}")
        self.endpoint = m.group(1)
        return self


@pytest.fixture
def iso_factory():
    made = []

    def make(isolation="best-effort"):
        d = tempfile.TemporaryDirectory(prefix="nimbus-e2e-")
        s = IsoServer(d.name, isolation).start()
        made.append((s, d))
        return s

    yield make
    for s, d in made:
        try:
            s.stop()
        except Exception:
            pass
        d.cleanup()


@pytest.fixture
def iso(iso_factory):
    return iso_factory()


# ---------------------------------------------------------------- what the host offers

def _namespaces():
    if os.geteuid() != 0:
        return "not running as root"
    try:
        r = subprocess.run(["unshare", "--mount", "--pid", "--ipc", "--uts", "--fork", "true"],
                           capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"cannot run unshare: {e}"
    return None if r.returncode == 0 else "mount/PID/IPC/UTS namespaces are not available"


def _cgroup(controller):
    """None when `controller` can be limited here, else why not."""
    if os.geteuid() != 0:
        return "not running as root"
    try:
        mounts = open("/proc/self/mounts").read().splitlines()
    except OSError:
        return "/proc/self/mounts unreadable"
    for line in mounts:
        f = line.split()
        if f[2] == "cgroup2" and os.access(f[1], os.W_OK):
            ctrls = open(os.path.join(f[1], "cgroup.controllers")).read().split()
            if "memory" in ctrls and (controller in ctrls or controller in ("freezer", "cpuacct")):
                return None
    for line in mounts:
        f = line.split()
        if f[2] == "cgroup" and controller in f[3].split(",") and os.access(f[1], os.W_OK):
            return None
    return f"no writable {controller} cgroup (/sys/fs/cgroup)"


def need(*reasons):
    missing = [r for r in reasons if r]
    if missing:
        pytest.skip("; ".join(missing))


def assert_serving(srv):
    lam = srv.client("lambda")
    name = f"alive{int(time.time() * 1000) % 100000}"
    create(lam, name)
    r, out = invoke(lam, name, {})
    assert "FunctionError" not in r and out == {"ok": True}


# ---------------------------------------------------------------- tests

def test_function_sees_var_task_unprivileged(iso):
    need(_namespaces())
    lam = iso.client("lambda")
    create(lam, "who")
    r, out = invoke(lam, "who", {"action": "whoami"})
    assert "FunctionError" not in r, out
    assert out["uid"] != 0 and out["euid"] != 0 and out["gid"] != 0
    assert out["cwd"] == "/var/task" == out["task_root"]
    assert out["task"] == ["index.py"]
    assert "work" not in out["root"] and "home" not in out["root"]
    assert out["nofile"] == 1024
    # Seccomp: mount, unshare and clone into new namespaces answer EPERM.
    r, out = invoke(lam, "who", {"action": "syscalls"})
    assert out["mount"] == [-1, "EPERM"] and out["unshare"] == [-1, "EPERM"], out
    assert out["clone_newuser"] == [-1, "EPERM"] and out["thread"] is True, out


def test_host_files_and_other_functions_are_hidden(iso):
    need(_namespaces())
    lam = iso.client("lambda")
    other = create(lam, "other")
    create(lam, "snoop")
    invoke(lam, "other", {})
    other_hex = base64.b64decode(other["CodeSha256"]).hex()
    data = os.path.realpath(iso.data_dir)
    paths = [data, os.path.join(data, "lambda", "code", other_hex, "index.py"), "/etc/shadow", "/root/.bash_history",
             "/work", os.path.join(data, "lambda", "code")]
    r, out = invoke(lam, "snoop", {"action": "read", "paths": paths})
    assert "FunctionError" not in r, out
    for p in paths:
        assert out[p].startswith(("FileNotFoundError", "PermissionError")), (p, out[p])
    # /root holds at most the path to the interpreter (bound read-only), nothing else.
    r, out = invoke(lam, "snoop", {"action": "read", "paths": ["/root"]})
    assert out["/root"] in ("listed:.pyenv", "listed:") or out["/root"].startswith("FileNotFoundError"), out
    # The server and the other function keep working.
    r, out = invoke(lam, "other", {})
    assert out == {"ok": True}
    assert_serving(iso)


def test_writes_outside_tmp_fail(iso):
    need(_namespaces())
    lam = iso.client("lambda")
    create(lam, "writer")
    paths = ["/var/task/index.py", "/var/task/new.py", "/x", "/etc/hosts2", "/opt/x", "/usr/x", "/tmp/ok"]
    r, out = invoke(lam, "writer", {"action": "write", "paths": paths})
    assert "FunctionError" not in r, out
    for p in paths[:-1]:
        assert out[p] in ("EROFS", "EACCES", "EPERM"), (p, out[p])
    assert out["/tmp/ok"] == "ok"


def test_tmp_is_private_and_sized(iso):
    need(_namespaces())
    lam = iso.client("lambda")
    # /tmp is a tmpfs: its pages count against the memory cgroup, so leave room.
    create(lam, "filler", EphemeralStorage={"Size": 512}, MemorySize=1024, Timeout=60)
    r, out = invoke(lam, "filler", {"action": "fill_tmp", "max_mb": 2000})
    assert "FunctionError" not in r, out
    assert out["error"] == "ENOSPC"
    assert 500 <= out["mb"] <= 512
    # Another environment of another function has its own, empty /tmp.
    create(lam, "peer")
    r, out = invoke(lam, "peer", {"action": "read", "paths": ["/tmp/fill", "/tmp"]})
    assert out["/tmp/fill"].startswith("FileNotFoundError")
    assert out["/tmp"] == "listed:"


def test_memory_limit_is_out_of_memory(iso):
    need(_namespaces(), _cgroup("memory"))
    lam = iso.client("lambda")
    create(lam, "hog", MemorySize=128, Timeout=60)
    r, out = invoke(lam, "hog", {"action": "alloc", "mb": 512}, LogType="Tail")
    assert r["FunctionError"] == "Unhandled", out
    assert out["errorType"] == "Runtime.OutOfMemory", out
    assert re.fullmatch(r"RequestId: [0-9a-f-]+ Error: Runtime exited with error: signal: killed", out["errorMessage"]), out
    log = base64.b64decode(r["LogResult"]).decode()
    m = re.search(r"Memory Size: 128 MB\tMax Memory Used: (\d+) MB", log)
    assert m, log
    assert 100 <= int(m.group(1)) <= 129, log
    # A small allocation then works in a fresh environment; the server keeps serving.
    r, out = invoke(lam, "hog", {"action": "alloc", "mb": 32})
    assert out == {"held_mb": 32}, out
    assert_serving(iso)


def test_fork_bomb_is_contained(iso):
    need(_namespaces(), _cgroup("pids"))
    lam = iso.client("lambda")
    create(lam, "bomb", MemorySize=1769, Timeout=120)
    result = {}

    def run():
        result["r"] = invoke(iso.client("lambda"), "bomb", {"action": "forkbomb"})

    t = threading.Thread(target=run)
    t.start()
    time.sleep(0.5)
    assert_serving(iso)  # while the bomb goes off
    t.join(timeout=150)
    r, out = result["r"]
    assert "FunctionError" not in r, out
    assert out["error"] == "EAGAIN", out
    assert 900 <= out["forked"] < 1024, out
    assert_serving(iso)


def _cpu_usage_ns(cgroup_text):
    lines = [l.split(":", 2) for l in cgroup_text.strip().splitlines()]
    for _, ctrls, path in lines:
        if "cpuacct" in ctrls.split(","):
            for mnt in ("/sys/fs/cgroup/cpuacct", "/sys/fs/cgroup/cpu,cpuacct"):
                f = os.path.join(mnt, path.lstrip("/"), "cpuacct.usage")
                if os.path.exists(f):
                    return int(open(f).read())
    for _, ctrls, path in lines:
        if ctrls == "" and path != "/":
            for mnt in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
                f = os.path.join(mnt, path.lstrip("/"), "cpu.stat")
                if os.path.exists(f):
                    usage = dict(l.split() for l in open(f).read().splitlines())
                    return int(usage["usage_usec"]) * 1000
    raise AssertionError(f"no cpu accounting for {cgroup_text!r}")


def test_idle_environment_is_frozen(iso):
    need(_namespaces(), _cgroup("freezer"), _cgroup("cpuacct") and _cgroup("cpu"))
    lam = iso.client("lambda")
    create(lam, "spinner", MemorySize=1769, Timeout=30)
    # The thread spins while an invocation runs: it does use CPU then ...
    r, out = invoke(lam, "spinner", {"action": "spin", "seconds": 0})
    before = _cpu_usage_ns(out["cgroup"])
    r, out = invoke(lam, "spinner", {"action": "spin", "seconds": 1.0})
    during = _cpu_usage_ns(out["cgroup"]) - before
    assert during > 300_000_000, f"spinning thread used only {during / 1e6:.1f} ms in 1 s"
    # ... and not at all while the environment is idle.
    time.sleep(0.2)
    a = _cpu_usage_ns(out["cgroup"])
    time.sleep(1.0)
    idle = _cpu_usage_ns(out["cgroup"]) - a
    assert idle < 20_000_000, f"idle environment used {idle / 1e6:.1f} ms of CPU in 1 s"
    # It thaws for the next invocation.
    r, out = invoke(lam, "spinner", {"action": "whoami"})
    assert "FunctionError" not in r and out["cwd"] == "/var/task"


def test_isolation_off_is_a_plain_subprocess(iso_factory):
    srv = iso_factory("off")
    lam = srv.client("lambda")
    create(lam, "plain")
    r, out = invoke(lam, "plain", {"action": "whoami"})
    assert "FunctionError" not in r, out
    assert out["uid"] == os.geteuid()
    assert out["cwd"].startswith(os.path.realpath(srv.data_dir)) or out["cwd"].startswith(srv.data_dir)
    assert out["cwd"] == out["task_root"]


def test_strict_runs_when_the_host_has_everything(iso_factory):
    need(_namespaces(), _cgroup("memory"), _cgroup("pids"), _cgroup("freezer"), _cgroup("cpu"))
    srv = iso_factory("strict")
    lam = srv.client("lambda")
    create(lam, "strict")
    r, out = invoke(lam, "strict", {"action": "whoami"})
    assert "FunctionError" not in r, out
    assert out["uid"] != 0


# ---------------------------------------------------------------- degrading honestly

class UnprivilegedServer(IsoServer):
    """The server run as `nobody` (no root: no namespaces, no cgroups), stderr captured."""

    def start(self):
        from conftest import BIN
        env = {k: v for k, v in os.environ.items() if not k.startswith("NIMBUS_")}
        env.update(NIMBUS_LOG="warn", NIMBUS_LAMBDA_ISOLATION=self.isolation, HOME="/tmp")
        self.err = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", BIN, "serve", "--listen", "127.0.0.1:0",
             "--data-dir", self.data_dir],
            stdout=subprocess.PIPE, stderr=self.err, env=env, text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"listening on (http://\S+)", line)
        if not m:
            self.proc.kill()
            self.err.seek(0)
            raise RuntimeError(f"nimbus did not start: {line!r} {self.err.read()}")
        self.endpoint = m.group(1)
        return self

    def stderr(self):
        self.err.seek(0)
        return self.err.read()


NODE_FN = "exports.handler = async () => ({uid: process.getuid(), cwd: process.cwd()});"


@pytest.mark.parametrize("isolation", ["best-effort", "strict"])
def test_unprivileged_host_degrades_with_one_line(isolation):
    if os.geteuid() != 0:
        pytest.skip("needs root to start the server as another user")
    if subprocess.run(["which", "setpriv"], capture_output=True).returncode != 0 or not os.path.exists("/usr/bin/node"):
        pytest.skip("needs setpriv and /usr/bin/node (readable by nobody)")
    d = tempfile.mkdtemp(prefix="nimbus-e2e-nobody-")
    os.chown(d, 65534, 65534)
    srv = UnprivilegedServer(d, isolation).start()
    try:
        lam = srv.client("lambda")
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("index.js", NODE_FN)
        lam.create_function(FunctionName="n", Runtime="nodejs20.x", Role=ROLE, Handler="index.handler",
                            Code={"ZipFile": buf.getvalue()})
        if isolation == "best-effort":
            r, out = invoke(lam, "n", {})
            assert "FunctionError" not in r, out
            assert out["uid"] == 65534
        else:
            from botocore.exceptions import ClientError
            with pytest.raises(ClientError) as e:
                invoke(lam, "n", {})
            assert "NIMBUS_LAMBDA_ISOLATION=strict" in str(e.value)
            assert "memory limit" in str(e.value)
    finally:
        srv.stop()
        subprocess.run(["rm", "-rf", d])
    log = srv.stderr()
    lines = [l for l in log.splitlines() if "cannot enforce" in l]
    assert len(lines) == 1, log
    for what in ("unprivileged sandbox uid", "namespaces", "memory limit", "CPU share", "process limit", "freezing"):
        assert what in lines[0], lines[0]
