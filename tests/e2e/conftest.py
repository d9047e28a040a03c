"""Fixtures that start the real `nimbus` binary on a free port with a fresh data dir."""

import os
import re
import signal
import subprocess
import tempfile
import time

import boto3
import pytest
from botocore.config import Config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("NIMBUS_BIN", os.path.join(ROOT, "target", "debug", "nimbus"))


class Server:
    """A running nimbus process."""

    def __init__(self, data_dir, *args):
        self.data_dir = data_dir
        self.args = list(args)
        self.proc = None
        self.endpoint = None

    def start(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("NIMBUS_")}
        env["NIMBUS_LOG"] = "warn"
        self.proc = subprocess.Popen(
            [BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir", self.data_dir, *self.args],
            stdout=subprocess.PIPE,
            stderr=None,
            env=env,
            text=True,
        )
        line = self.proc.stdout.readline()
        match = re.search(r"listening on (http://\S+)", line)
        if not match:
            self.proc.kill()
            raise RuntimeError(f"nimbus did not start: {line!r}")
        self.endpoint = match.group(1)
        return self

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                raise
        return self.proc.returncode if self.proc else None

    def client(self, service, key="test", secret="test", token=None, validate=True, region="us-east-1"):
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=region,
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            aws_session_token=token,
            config=Config(parameter_validation=validate, retries={"max_attempts": 1, "mode": "standard"}),
        )


@pytest.fixture
def server_factory():
    servers = []
    dirs = []

    def make(*args, data_dir=None):
        if data_dir is None:
            d = tempfile.TemporaryDirectory(prefix="nimbus-e2e-")
            dirs.append(d)
            data_dir = d.name
        s = Server(data_dir, *args).start()
        servers.append(s)
        return s

    yield make
    for s in servers:
        try:
            s.stop()
        except Exception:
            pass
    for d in dirs:
        d.cleanup()


@pytest.fixture
def server(server_factory):
    return server_factory()


def wait_until(predicate, timeout=5.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False
