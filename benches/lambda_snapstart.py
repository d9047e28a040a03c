"""Cold starts with and without snapshot (fork) starts, and the memory of many forked
environments. A measurement, not a test: prints a table.

    NIMBUS_BIN=target/release/nimbus .venv/bin/python benches/lambda_snapstart.py [--envs 500]

A cold start here is "new execution environment to first response": each measured
invocation runs in a brand-new environment (the previous one is ended by an invocation
that exits the process). Reported per start: the client's Invoke latency minus a warm
Invoke's, and the server's own `Init Duration` (environment start to the runtime's first
`/next`) from the REPORT line.
"""

import argparse
import base64
import io
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile

import boto3
from botocore.config import Config

ROLE = "arn:aws:iam::000000000000:role/bench"
BIN = os.environ.get("NIMBUS_BIN", os.path.join(os.path.dirname(__file__), "..", "target", "release", "nimbus"))

PY = """
import json, os, time
import boto3
S3 = boto3.client('s3')

def handler(event, context):
    if event.get('exit'):
        os._exit(0)
    if event.get('sleep'):
        time.sleep(event['sleep'])
    return {'ok': True}
"""

NODE = """
exports.handler = async (event) => {
  if (event.exit) process.exit(0);
  if (event.sleep) await new Promise((r) => setTimeout(r, event.sleep * 1000));
  return { ok: true };
};
"""


def zip_of(name, text):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(name, text)
    return buf.getvalue()


def start_server(data_dir, extra_env=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("NIMBUS_")}
    env["NIMBUS_LOG"] = "warn"
    # BENCH_ISOLATION=off measures the fork path without namespaces and cgroups.
    if os.environ.get("BENCH_ISOLATION"):
        env["NIMBUS_LAMBDA_ISOLATION"] = os.environ["BENCH_ISOLATION"]
    env.update(extra_env or {})
    p = subprocess.Popen([BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir], stdout=subprocess.PIPE, text=True, env=env)
    m = re.search(r"listening on (http://\S+)", p.stdout.readline())
    return p, m.group(1)


def client(endpoint):
    return boto3.client("lambda", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
                        aws_secret_access_key="test", config=Config(retries={"max_attempts": 1}, read_timeout=120,
                                                                    max_pool_connections=600))


def invoke(lam, name, event, tail=False):
    t = time.perf_counter()
    r = lam.invoke(FunctionName=name, Payload=json.dumps(event).encode(), LogType="Tail" if tail else "None")
    body = r["Payload"].read()
    if r.get("FunctionError"):
        return (time.perf_counter() - t) * 1000, None, body.decode(errors="replace")[:300]
    ms = (time.perf_counter() - t) * 1000
    init = None
    if tail:
        log = base64.b64decode(r.get("LogResult", "")).decode(errors="replace")
        m = re.search(r"Init Duration: ([0-9.]+) ms", log)
        init = float(m.group(1)) if m else None
    return ms, init, r.get("FunctionError")


def cold_starts(lam, name, n):
    invoke(lam, name, {})  # the template (if any) and one warm environment
    warm = [invoke(lam, name, {})[0] for _ in range(20)]
    client_ms, init_ms = [], []
    for _ in range(n):
        invoke(lam, name, {"exit": True})  # ends the warm environment
        ms, init, err = invoke(lam, name, {}, tail=True)
        assert err is None, err
        client_ms.append(ms)
        if init is not None:
            init_ms.append(init)
    return statistics.median(warm), client_ms, init_ms


def process_start(cmd, n=10):
    out = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run(cmd, check=True)
        out.append((time.perf_counter() - t) * 1000)
    return statistics.median(out)


def meminfo_mb(key):
    for line in open("/proc/meminfo"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def mem_available_mb():
    return meminfo_mb("MemAvailable")


def self_rss_mb(pid="self"):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def env_cgroups(server_pid):
    """(live environment cgroups of the server, MB charged to them) from cgroup v1 memory."""
    root = "/sys/fs/cgroup/memory/nimbus"
    n, total = 0, 0
    try:
        names = os.listdir(root)
    except OSError:
        return 0, 0.0
    for d in names:
        if d.startswith(f"env-{server_pid}-") and "-tpl-" not in d:
            try:
                total += int(open(os.path.join(root, d, "memory.usage_in_bytes")).read())
                n += 1
            except (OSError, ValueError):
                pass
    return n, total / 1048576


def many_envs(lam, name, count, hold, server_pid):
    """`count` concurrent environments of one function; returns (seconds, MB used, errors,
    most environments alive at once, MB charged to their cgroups then)."""
    before = mem_available_mb()
    pt_before, rss_before = meminfo_mb("PageTables"), self_rss_mb()
    slab_before, server_before = meminfo_mb("Slab"), self_rss_mb(server_pid)
    errors = []
    started = time.time()
    threads = []
    for _ in range(count):
        th = threading.Thread(target=lambda: errors.append(invoke(lam, name, {"sleep": hold})[2]))
        th.start()
        threads.append(th)
    # The lowest MemAvailable while they run: every environment alive at once (each sleeps
    # `hold` seconds, longer than it takes to start them all).
    low, most, charged, pt, client_mb, slab, server = before, 0, 0.0, 0.0, 0.0, 0.0, 0.0
    while any(th.is_alive() for th in threads):
        avail = mem_available_mb()
        n, mb = env_cgroups(server_pid)
        if n > most:
            most, charged = n, mb
        if avail < low:
            low, pt, client_mb = avail, meminfo_mb("PageTables") - pt_before, self_rss_mb() - rss_before
            slab, server = meminfo_mb("Slab") - slab_before, self_rss_mb(server_pid) - server_before
        time.sleep(0.1)
    return time.time() - started, before - low, [e for e in errors if e], most, charged, pt, client_mb, slab, server


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--starts", type=int, default=20)
    ap.add_argument("--envs", type=int, default=500)
    ap.add_argument("--hold", type=float, default=25.0)
    args = ap.parse_args()
    py = "/root/.pyenv/versions/3.11.7/bin/python3.11"
    print(f"binary: {BIN}")
    print(f"process start, median of 10: `python3 -c pass` {process_start([py, '-c', 'pass']):.1f} ms; "
          f"`python3 -c 'import boto3, json'` {process_start([py, '-c', 'import boto3, json']):.1f} ms; "
          f"`node -e 0` {process_start(['node', '-e', '0']):.1f} ms")
    with tempfile.TemporaryDirectory() as d:
        p, ep = start_server(d)
        try:
            lam = client(ep)
            lam.create_function(FunctionName="snap", Runtime="python3.11", Role=ROLE, Handler="app.handler",
                                Code={"ZipFile": zip_of("app.py", PY)}, MemorySize=256, Timeout=60)
            lam.create_function(FunctionName="plain", Runtime="python3.11", Role=ROLE, Handler="app.handler",
                                Code={"ZipFile": zip_of("app.py", PY)}, MemorySize=256, Timeout=60,
                                SnapStart={"ApplyOn": "None"})
            lam.create_function(FunctionName="node", Runtime="nodejs20.x", Role=ROLE, Handler="index.handler",
                                Code={"ZipFile": zip_of("index.js", NODE)}, MemorySize=256, Timeout=60)
            lam.create_function(FunctionName="nodeplain", Runtime="nodejs20.x", Role=ROLE, Handler="index.handler",
                                Code={"ZipFile": zip_of("index.js", NODE)}, MemorySize=256, Timeout=60,
                                SnapStart={"ApplyOn": "None"})
            for name, label in [("snap", "python3.11 + boto3, snapshot (fork) start"),
                                ("plain", "python3.11 + boto3, normal start"),
                                ("node", "nodejs20.x, snapshot (fork) start"),
                                ("nodeplain", "nodejs20.x, normal start")]:
                warm, cold, init = cold_starts(lam, name, args.starts)
                print(f"{label}: warm invoke {warm:.1f} ms; cold invoke median {statistics.median(cold):.1f} ms "
                      f"(p90 {sorted(cold)[int(len(cold) * 0.9) - 1]:.1f}) = cold start {statistics.median(cold) - warm:.1f} ms "
                      f"over a warm invoke; server Init Duration median {statistics.median(init) if init else float('nan'):.1f} ms")
            if args.envs:
                secs, mb, errs, most, charged, pt, client_mb, slab, server = many_envs(lam, "snap", args.envs, args.hold, p.pid)
                print(f"{args.envs} forked environments (python3.11 + boto3): done in {secs:.1f} s, at most {most} alive at once; "
                      f"host memory used at the peak {mb:.0f} MB ({mb / max(most, 1):.2f} MB per live environment, "
                      f"template included); charged to the environments' cgroups {charged:.0f} MB "
                      f"({charged / max(most, 1):.2f} MB each); of the host figure, page tables {pt:.0f} MB and this "
                      f"client's own threads {client_mb:.0f} MB, kernel slab {slab:.0f} MB, the server process {server:.0f} MB; "
                      f"{len(errs)} errors {errs[:3]}")
        finally:
            p.terminate()
            p.wait()


if __name__ == "__main__":
    sys.exit(main())
