"""examples/users-api deployed three ways (REST API, HTTP API, OpenAPI import) with its
own bash scripts and the aws CLI against the real binary, then driven with `requests`:
Lambda → DynamoDB CRUD through API Gateway."""

import os
import subprocess

import pytest
import requests

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(ROOT, "examples", "users-api")
VENV_BIN = os.path.join(ROOT, ".venv", "bin")


def deploy(server, script):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(ENDPOINT=server.endpoint, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
               AWS_DEFAULT_REGION="us-east-1", PATH=VENV_BIN + os.pathsep + env.get("PATH", ""))
    r = subprocess.run(["bash", os.path.join(EXAMPLE, script)], capture_output=True, text=True, env=env,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip().splitlines()[-1]


def crud(base):
    r = requests.get(f"{base}/users")
    assert r.status_code == 200, r.text
    assert r.json() == {"users": []}

    r = requests.post(f"{base}/users", json={"id": "u1", "name": "Ann", "age": 41})
    assert r.status_code == 201, r.text
    assert r.json() == {"id": "u1", "name": "Ann", "age": 41}
    r = requests.post(f"{base}/users", json={"name": "Bob"})
    assert r.status_code == 201
    bob = r.json()["id"]
    assert bob and r.json()["name"] == "Bob"
    assert requests.post(f"{base}/users", json={"age": 3}).status_code == 400

    r = requests.get(f"{base}/users/u1")
    assert r.status_code == 200 and r.json() == {"id": "u1", "name": "Ann", "age": 41}
    r = requests.get(f"{base}/users/nobody")
    assert r.status_code == 404 and r.json() == {"message": "User not found"}
    users = requests.get(f"{base}/users").json()["users"]
    assert sorted(u["name"] for u in users) == ["Ann", "Bob"]

    r = requests.put(f"{base}/users/u1", json={"age": 42, "city": "Oslo"})
    assert r.status_code == 200, r.text
    assert r.json() == {"id": "u1", "name": "Ann", "age": 42, "city": "Oslo"}
    assert requests.get(f"{base}/users/u1").json()["age"] == 42
    assert requests.put(f"{base}/users/nobody", json={"age": 1}).status_code == 404

    r = requests.delete(f"{base}/users/{bob}")
    assert r.status_code == 204 and r.content == b""
    assert requests.get(f"{base}/users/{bob}").status_code == 404
    assert requests.delete(f"{base}/users/{bob}").status_code == 404
    assert [u["id"] for u in requests.get(f"{base}/users").json()["users"]] == ["u1"]


@pytest.mark.parametrize("script", ["deploy-rest.sh", "deploy-http.sh", "deploy-openapi.sh"])
def test_users_api(server, script):
    base = deploy(server, script)
    assert base.startswith(server.endpoint + "/restapis/")
    crud(base)


def test_all_three_share_the_table(server):
    rest, http_api, imported = (deploy(server, s) for s in ("deploy-rest.sh", "deploy-http.sh", "deploy-openapi.sh"))
    assert requests.post(f"{rest}/users", json={"id": "x", "name": "Xu"}).status_code == 201
    assert requests.get(f"{http_api}/users/x").json()["name"] == "Xu"
    assert requests.delete(f"{imported}/users/x").status_code == 204
    assert requests.get(f"{rest}/users/x").status_code == 404
