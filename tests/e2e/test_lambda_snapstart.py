"""Snapshot (fork) starts against the real binary: Python and Node.js environments are forked
from an initialised template process (crates/nimbus-lambda/src/template.rs)."""

import base64
import io
import json
import os
import threading
import time
import zipfile

import pytest
from botocore.exceptions import ClientError

from conftest import wait_until

ROLE = "arn:aws:iam::000000000000:role/lambda-role"

APP = """
import os, random, time
from snapshot_restore_py import register_before_snapshot, register_after_restore

INIT_TOKEN = random.random()
INIT_PID = os.getpid()
HOOKS = []

@register_before_snapshot
def before():
    HOOKS.append('before')

def after(tag):
    HOOKS.append(tag + ':' + str(os.getpid()))

register_after_restore(after, 'after')

def handler(event, context):
    if event.get('file'):
        with open('/tmp/' + event['file'], 'w') as f:
            f.write(event['file'])
    if event.get('sleep'):
        time.sleep(event['sleep'])
    status = {l.split(':')[0]: l.split(':', 1)[1].strip() for l in open('/proc/self/status') if ':' in l}
    import ctypes, errno
    libc = ctypes.CDLL(None, use_errno=True)
    # The calls the template's filter lets through for the fork are refused in an environment.
    r = libc.unshare(0x10000000 | 0x20000 | 0x20000000 | 0x08000000)
    unshare = [r, errno.errorcode.get(ctypes.get_errno())]
    r = libc.mount(b'tmpfs', b'/tmp', b'tmpfs', 6, None)
    mount = [r, errno.errorcode.get(ctypes.get_errno())]
    return {
        'unshare': unshare,
        'mount': mount,
        'version': VERSION,
        'init_token': INIT_TOKEN,
        'random': random.random(),
        'hooks': HOOKS,
        'pid': os.getpid(),
        'stream': context.log_stream_name,
        'stream_env': os.environ.get('AWS_LAMBDA_LOG_STREAM_NAME'),
        'init_type': os.environ.get('AWS_LAMBDA_INITIALIZATION_TYPE'),
        'api': os.environ.get('AWS_LAMBDA_RUNTIME_API'),
        'tmp': sorted(os.listdir('/tmp')),
        'uid': os.getuid(),
        'cap_eff': status.get('CapEff'),
        'no_new_privs': status.get('NoNewPrivs'),
        'seccomp': status.get('Seccomp'),
        'cgroup': open('/proc/self/cgroup').read(),
        'processes': sorted(int(p) for p in os.listdir('/proc') if p.isdigit()),
    }
"""


def make_zip(files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, content in files.items():
            z.writestr(name, content)
    return buf.getvalue()


def app(version="1"):
    return make_zip({"app.py": f"VERSION = {version!r}\n" + APP})


def create(lam, name, code=None, **kw):
    kw.setdefault("Runtime", "python3.12")
    return lam.create_function(FunctionName=name, Role=ROLE, Handler="app.handler",
                               Code={"ZipFile": code or app()}, Timeout=30, **kw)


def invoke(lam, name, event=None):
    r = lam.invoke(FunctionName=name, Payload=json.dumps(event or {}).encode())
    return r, json.loads(r["Payload"].read())


def templates_of(name):
    """Host pids of the template processes of function `name` (a template's parent is its
    sandbox's init, which has no NIMBUS_TEMPLATE_FD; forked environments' parents do)."""
    def environ(pid):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                return f.read().split(b"\0")
        except OSError:
            return []

    def ppid(pid):
        try:
            with open(f"/proc/{pid}/stat") as f:
                return int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return 0

    found = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        env = environ(p)
        if f"AWS_LAMBDA_FUNCTION_NAME={name}".encode() in env and any(e.startswith(b"NIMBUS_TEMPLATE_FD=") for e in env):
            if not any(e.startswith(b"NIMBUS_TEMPLATE_FD=") for e in environ(ppid(p))):
                found.append(int(p))
    return found


def test_forked_environments_share_init_but_not_tmp_random_or_streams(server):
    lam = server.client("lambda")
    create(lam, "snap1")
    results = {}

    def call(tag):
        c = server.client("lambda")
        results[tag] = invoke(c, "snap1", {"file": tag, "sleep": 1.5})

    a = threading.Thread(target=call, args=("a",))
    a.start()
    # The second call starts while the first environment is busy: a second environment.
    time.sleep(0.3)
    call("b")
    a.join()
    (ra, a_out), (rb, b_out) = results["a"], results["b"]
    assert "FunctionError" not in ra and "FunctionError" not in rb, (a_out, b_out)
    # Module-level state from the template's init is the same in both environments.
    assert a_out["init_token"] == b_out["init_token"]
    assert a_out["init_type"] == b_out["init_type"] == "snap-start"
    # Each environment has its own /tmp, random stream, log stream, endpoint and pid.
    assert a_out["tmp"] == ["a"] and b_out["tmp"] == ["b"]
    assert a_out["random"] != b_out["random"]
    assert a_out["stream"] != b_out["stream"]
    assert a_out["stream"] == a_out["stream_env"] and b_out["stream"] == b_out["stream_env"]
    assert a_out["api"] != b_out["api"]
    assert a_out["pid"] != b_out["pid"]
    # Isolation as for a normal start: sandbox uid, no capabilities, seccomp, no_new_privs,
    # a PID namespace of its own and a cgroup of its own.
    for out in (a_out, b_out):
        assert out["uid"] == 993
        assert out["cap_eff"] == "0000000000000000"
        assert out["no_new_privs"] == "1"
        assert out["seccomp"] == "2"
        assert out["unshare"] == [-1, "EPERM"] and out["mount"] == [-1, "EPERM"]
        assert out["processes"] == sorted([1, out["pid"]]), out["processes"]
    if "nimbus/env-" in a_out["cgroup"]:
        assert a_out["cgroup"] != b_out["cgroup"]
    # The same environment keeps its /tmp across invocations.
    _, again = invoke(lam, "snap1")
    assert again["init_token"] == a_out["init_token"]
    assert again["tmp"] in (["a"], ["b"])


def test_hooks_run_before_snapshot_once_and_after_each_restore(server):
    lam = server.client("lambda")
    create(lam, "snaphooks")
    _, out = invoke(lam, "snaphooks")
    assert out["hooks"][0] == "before"
    assert out["hooks"][1:] == [f"after:{out['pid']}"], out["hooks"]


def test_after_restore_error_fails_the_start(server):
    lam = server.client("lambda")
    code = make_zip({"app.py": (
        "from snapshot_restore_py import register_after_restore\n"
        "@register_after_restore\n"
        "def boom():\n"
        "    raise RuntimeError('cannot reconnect')\n"
        "def handler(event, context):\n"
        "    return 'unreachable'\n")})
    create(lam, "snapafter", code=code)
    r, out = invoke(lam, "snapafter")
    assert r["FunctionError"] == "Unhandled"
    assert out["errorType"] == "Runtime.AfterRestoreError"
    assert out["errorMessage"] == "cannot reconnect"


def test_init_error_is_reported_as_without_snapshots(server):
    lam = server.client("lambda")
    code = make_zip({"app.py": "raise ValueError('bad init')\ndef handler(e, c):\n    return 1\n"})
    create(lam, "snapinit", code=code)
    for _ in range(2):
        r, out = invoke(lam, "snapinit")
        assert r["FunctionError"] == "Unhandled"
        assert out["errorType"] == "ValueError"
        assert out["errorMessage"] == "bad init"
    missing = make_zip({"other.py": "x = 1\n"})
    create(lam, "snapmissing", code=missing)
    r, out = invoke(lam, "snapmissing")
    assert r["FunctionError"] == "Unhandled"
    assert out["errorType"] == "Runtime.ImportModuleError"
    assert out["errorMessage"].startswith("Unable to import module 'app'")


def test_code_update_retires_the_template_and_delete_kills_it(server):
    lam = server.client("lambda")
    create(lam, "snapupd")
    _, first = invoke(lam, "snapupd")
    assert first["version"] == "1"
    assert wait_until(lambda: len(templates_of("snapupd")) == 1), templates_of("snapupd")
    old = templates_of("snapupd")
    lam.update_function_code(FunctionName="snapupd", ZipFile=app("2"))
    assert wait_until(lambda: not any(p in templates_of("snapupd") for p in old)), "the old template is still running"
    _, second = invoke(lam, "snapupd")
    assert second["version"] == "2"
    assert second["init_token"] != first["init_token"]
    assert second["init_type"] == "snap-start"
    assert wait_until(lambda: len(templates_of("snapupd")) == 1)
    lam.update_function_configuration(FunctionName="snapupd", Environment={"Variables": {"MODE": "1"}})
    assert wait_until(lambda: templates_of("snapupd") == [])
    lam.delete_function(FunctionName="snapupd")
    assert wait_until(lambda: templates_of("snapupd") == [])


def test_snapstart_configuration(server):
    lam = server.client("lambda")
    cfg = create(lam, "snapcfg")
    assert cfg["SnapStart"] == {"ApplyOn": "None", "OptimizationStatus": "On"}
    # ApplyOn None switches it off for this function: a normal start.
    cfg = lam.update_function_configuration(FunctionName="snapcfg", SnapStart={"ApplyOn": "None"})
    assert cfg["SnapStart"] == {"ApplyOn": "None", "OptimizationStatus": "Off"}
    _, out = invoke(lam, "snapcfg")
    assert out["init_type"] == "on-demand"
    cfg = lam.update_function_configuration(FunctionName="snapcfg", SnapStart={"ApplyOn": "PublishedVersions"})
    assert cfg["SnapStart"] == {"ApplyOn": "PublishedVersions", "OptimizationStatus": "On"}
    assert lam.get_function_configuration(FunctionName="snapcfg")["SnapStart"]["ApplyOn"] == "PublishedVersions"
    _, out = invoke(lam, "snapcfg")
    assert out["init_type"] == "snap-start"
    # As on AWS, SnapStart cannot be requested for Node.js (its environments are still
    # forked by default, see the Node.js tests below).
    with pytest.raises(ClientError) as e:
        lam.create_function(FunctionName="snapnode", Runtime="nodejs20.x", Role=ROLE, Handler="index.handler",
                            Code={"ZipFile": make_zip({"index.js": "exports.handler = async () => 1;"})},
                            SnapStart={"ApplyOn": "PublishedVersions"})
    assert e.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert e.value.response["Error"]["Message"] == "nodejs20.x is not supported for SnapStart enabled functions."
    node = lam.create_function(FunctionName="snapnode", Runtime="nodejs20.x", Role=ROLE, Handler="index.handler",
                               Code={"ZipFile": make_zip({"index.js": "exports.handler = async () => 1;"})})
    assert node["SnapStart"] == {"ApplyOn": "None", "OptimizationStatus": "On"}


def test_invocation_longer_than_ten_seconds_completes(server):
    """The sandbox's parent-death signal follows the thread that forked the process: the
    server forks from a thread that never exits (tokio's idle blocking threads exit after
    10 s, which used to kill environments, and templates with all their environments)."""
    lam = server.client("lambda")
    create(lam, "snaplong")
    for sleep in (0.1, 11):
        r, out = invoke(lam, "snaplong", {"sleep": sleep})
        assert "FunctionError" not in r, out
        assert out["init_type"] == "snap-start"
    plain = create(lam, "plainlong", SnapStart={"ApplyOn": "None"})
    assert plain["SnapStart"]["OptimizationStatus"] == "Off"
    r, out = invoke(lam, "plainlong", {"sleep": 11})
    assert "FunctionError" not in r, out
    assert out["init_type"] == "on-demand"


# ---- Node.js: environments forked from a template by the nimbus_fork.node addon ----

NODE_APP = r"""
const fs = require('fs');
const os = require('os');
const dns = require('dns');
const { randomUUID } = require('crypto');

const INIT_TOKEN = Math.random();
const INIT_PID = process.pid;
const INIT_UUID = randomUUID();
const rand = Math.random;
let calls = 0;
// Set at init, fires after the fork (the template never runs the loop again).
const initTimer = { fired: false };
setTimeout(() => { initTimer.fired = true; }, 200);

function state(context) {
  return {
    version: VERSION,
    init_token: INIT_TOKEN,
    init_uuid: INIT_UUID,
    random: rand(),
    uuid: randomUUID(),
    web_uuid: globalThis.crypto.randomUUID(),
    pid: process.pid,
    stream: context.logStreamName,
    stream_env: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    init_type: process.env.AWS_LAMBDA_INITIALIZATION_TYPE,
    api: process.env.AWS_LAMBDA_RUNTIME_API,
    tmp: fs.readdirSync('/tmp').sort(),
    calls: ++calls,
    bytes: require('crypto').randomBytes(16).toString('hex'),
    init_timer: initTimer.fired,
    uid: process.getuid(),
    status: fs.readFileSync('/proc/self/status', 'utf8'),
  };
}

exports.handler = async (event, context) => {
  if (event.file) fs.writeFileSync('/tmp/' + event.file, event.file);
  if (event.sleep) await new Promise((r) => setTimeout(r, event.sleep * 1000));
  const out = state(context);
  if (event.io) {
    out.read = await fs.promises.readFile('/var/task/index.js', 'utf8').then((s) => s.length);
    out.lookup = await new Promise((resolve, reject) => dns.lookup('localhost', (e, a) => (e ? reject(e) : resolve(a))));
    out.timer = await new Promise((resolve) => { const t0 = Date.now(); setTimeout(() => resolve(Date.now() - t0 >= 20), 25); });
  }
  return out;
};

console.log('init of the template');

exports.exit = async (event) => {
  process.on('exit', () => console.log('exit listener ran'));
  process.exit(event.code);
};

exports.callback = (event, context, callback) => {
  console.log('callback handler says hi');
  setTimeout(() => callback(null, { style: 'callback', init_type: process.env.AWS_LAMBDA_INITIALIZATION_TYPE }), 5);
};
"""


def node_app(version="1"):
    return make_zip({"index.js": f"const VERSION = {json.dumps(version)};\n" + NODE_APP})


def create_node(lam, name, code=None, handler="index.handler", **kw):
    return lam.create_function(FunctionName=name, Runtime="nodejs20.x", Role=ROLE, Handler=handler,
                               Code={"ZipFile": code or node_app()}, Timeout=30, **kw)


def test_node_forked_environments_share_init_but_not_tmp_random_uuids_or_streams(server):
    lam = server.client("lambda")
    cfg = create_node(lam, "nsnap1")
    assert cfg["SnapStart"] == {"ApplyOn": "None", "OptimizationStatus": "On"}
    results = {}

    def call(tag):
        c = server.client("lambda")
        results[tag] = invoke(c, "nsnap1", {"file": tag, "sleep": 1.5})

    a = threading.Thread(target=call, args=("a",))
    a.start()
    time.sleep(0.3)
    call("b")
    a.join()
    (ra, a_out), (rb, b_out) = results["a"], results["b"]
    assert "FunctionError" not in ra and "FunctionError" not in rb, (a_out, b_out)
    # Module-level state from the template's init is the same in both environments.
    assert a_out["init_token"] == b_out["init_token"]
    assert a_out["init_uuid"] == b_out["init_uuid"]
    assert a_out["init_type"] == b_out["init_type"] == "snap-start"
    # Each environment has its own /tmp, random values, UUIDs, log stream, endpoint and pid.
    assert a_out["tmp"] == ["a"] and b_out["tmp"] == ["b"]
    assert a_out["random"] != b_out["random"]
    assert 0 <= a_out["random"] < 1 and 0 <= b_out["random"] < 1
    assert a_out["uuid"] != b_out["uuid"] and a_out["web_uuid"] != b_out["web_uuid"]
    assert len({a_out["uuid"], b_out["uuid"], a_out["init_uuid"]}) == 3
    assert a_out["stream"] != b_out["stream"]
    assert a_out["stream"] == a_out["stream_env"] and b_out["stream"] == b_out["stream_env"]
    assert a_out["api"] != b_out["api"]
    assert a_out["pid"] != b_out["pid"]
    assert a_out["bytes"] != b_out["bytes"]
    # A timer set at init fires in each environment.
    assert a_out["init_timer"] is True and b_out["init_timer"] is True
    # Isolation as for a normal start: sandbox uid, no capabilities, seccomp, no_new_privs.
    for out in (a_out, b_out):
        status = dict(l.split(":", 1) for l in out["status"].splitlines() if ":" in l)
        assert out["uid"] == 993
        assert status["CapEff"].strip() == "0000000000000000"
        assert status["NoNewPrivs"].strip() == "1"
        assert status["Seccomp"].strip() == "2"
    # The same environment keeps its /tmp and its module state across invocations.
    _, again = invoke(lam, "nsnap1")
    assert again["init_token"] == a_out["init_token"]
    assert again["tmp"] in (["a"], ["b"])
    assert again["calls"] == 2


def test_node_async_io_dns_and_timers_work_in_a_forked_environment(server):
    lam = server.client("lambda")
    create_node(lam, "nsnapio")
    for _ in range(2):
        r, out = invoke(lam, "nsnapio", {"io": True})
        assert "FunctionError" not in r, out
        assert out["init_type"] == "snap-start"
        assert out["read"] > 100
        assert out["lookup"] in ("127.0.0.1", "::1")
        assert out["timer"] is True


def test_node_callback_and_esm_handlers_are_forked(server):
    lam = server.client("lambda")
    create_node(lam, "nsnapcb", handler="index.callback")
    r = lam.invoke(FunctionName="nsnapcb", Payload=b"{}", LogType="Tail")
    out = json.loads(r["Payload"].read())
    assert "FunctionError" not in r, out
    assert out == {"style": "callback", "init_type": "snap-start"}
    # The environment's stdout is its own (the template wrote to it at init).
    log = base64.b64decode(r["LogResult"]).decode()
    assert "callback handler says hi" in log, log
    assert "init of the template" not in log, log
    esm = make_zip({"index.mjs": (
        "import { randomUUID } from 'node:crypto';\n"
        "import { readFile } from 'node:fs/promises';\n"
        "const started = await readFile('/var/task/index.mjs', 'utf8');\n"
        "export const handler = async () => ({ esm: started.length > 0, uuid: randomUUID(),"
        " init_type: process.env.AWS_LAMBDA_INITIALIZATION_TYPE });\n")})
    create_node(lam, "nsnapesm", code=esm)
    r, out = invoke(lam, "nsnapesm")
    assert "FunctionError" not in r, out
    assert out["esm"] is True and out["init_type"] == "snap-start"


def test_node_init_error_is_reported_as_without_snapshots(server):
    lam = server.client("lambda")
    code = make_zip({"index.js": "throw new TypeError('bad init');\nexports.handler = async () => 1;\n"})
    create_node(lam, "nsnapinit", code=code)
    for _ in range(2):
        r, out = invoke(lam, "nsnapinit")
        assert r["FunctionError"] == "Unhandled"
        assert out["errorType"] == "TypeError"
        assert out["errorMessage"] == "bad init"
    create_node(lam, "nsnapmissing", code=make_zip({"other.js": "exports.x = 1;\n"}))
    r, out = invoke(lam, "nsnapmissing")
    assert r["FunctionError"] == "Unhandled"
    assert out["errorType"] == "Runtime.ImportModuleError"
    assert out["errorMessage"].startswith("Error: Cannot find module 'index'")
    # The same function without snapshots answers the same.
    create_node(lam, "nsnapinitoff", code=code, SnapStart={"ApplyOn": "None"})
    r, plain = invoke(lam, "nsnapinitoff")
    assert r["FunctionError"] == "Unhandled"
    assert (plain["errorType"], plain["errorMessage"]) == ("TypeError", "bad init")


def test_node_code_update_retires_the_template(server):
    lam = server.client("lambda")
    create_node(lam, "nsnapupd")
    _, first = invoke(lam, "nsnapupd")
    assert first["version"] == "1" and first["init_type"] == "snap-start"
    assert wait_until(lambda: len(templates_of("nsnapupd")) == 1), templates_of("nsnapupd")
    old = templates_of("nsnapupd")
    lam.update_function_code(FunctionName="nsnapupd", ZipFile=node_app("2"))
    assert wait_until(lambda: not any(p in templates_of("nsnapupd") for p in old)), "the old template is still running"
    _, second = invoke(lam, "nsnapupd")
    assert second["version"] == "2" and second["init_type"] == "snap-start"
    assert second["init_token"] != first["init_token"]
    lam.delete_function(FunctionName="nsnapupd")
    assert wait_until(lambda: templates_of("nsnapupd") == [])


def test_node_snapstart_none_starts_normally(server):
    lam = server.client("lambda")
    cfg = create_node(lam, "nsnapoff", SnapStart={"ApplyOn": "None"})
    assert cfg["SnapStart"] == {"ApplyOn": "None", "OptimizationStatus": "Off"}
    r, out = invoke(lam, "nsnapoff", {"io": True})
    assert "FunctionError" not in r, out
    assert out["init_type"] == "on-demand"
    assert out["timer"] is True


def test_node_process_exit_in_a_forked_environment_ends_it(server):
    """Node's exit path joins the template's worker threads, which a forked process lacks:
    an environment that calls process.exit must end at once (not run into the timeout)."""
    lam = server.client("lambda")
    create_node(lam, "nsnapexit", handler="index.exit")
    lam.update_function_configuration(FunctionName="nsnapexit", Timeout=5)
    for code in (0, 3):
        r = lam.invoke(FunctionName="nsnapexit", Payload=json.dumps({"code": code}).encode(), LogType="Tail")
        out = json.loads(r["Payload"].read())
        assert r["FunctionError"] == "Unhandled", out
        assert out["errorType"] == "Runtime.ExitError", out
        assert out["errorMessage"].endswith(f"Runtime exited with error: exit status {code}"), out
        assert "exit listener ran" in base64.b64decode(r["LogResult"]).decode()
