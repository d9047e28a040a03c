"""The aws CLI's high-level S3 commands against the real binary: a 200 MB multipart
cp both ways, sync both ways, ls, presign; and boto3's checksum validation on
ranged and whole GETs."""

import hashlib
import os
import shutil
import subprocess
import sys

import requests

from test_s3 import s3

MB = 1024 * 1024
_VENV_AWS = os.path.join(os.path.dirname(sys.executable), "aws")
AWS = _VENV_AWS if os.path.exists(_VENV_AWS) else "aws"


def aws(server, *args, check=True):
    env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1")
    r = subprocess.run([AWS, "--endpoint-url", server.endpoint, *args], env=env, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise AssertionError(f"aws {' '.join(args)} failed ({r.returncode}): {r.stderr}")
    return r


def md5_file(path):
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(4 * MB), b""):
            h.update(chunk)
    return h.hexdigest()


def test_cp_200mb_multipart_up_and_down(server, tmp_path):
    c = s3(server)
    c.create_bucket(Bucket="big")
    src = tmp_path / "big.bin"
    with open(src, "wb") as f:
        block = os.urandom(MB)
        for i in range(200):
            # Distinct blocks, cheaply: a counter prefix on one random MiB.
            f.write(i.to_bytes(4, "big") + block[4:])
    try:
        aws(server, "s3", "cp", str(src), "s3://big/data/big.bin")
        head = c.head_object(Bucket="big", Key="data/big.bin")
        assert head["ContentLength"] == 200 * MB
        # The CLI uploads in 8 MiB parts: a multipart ETag "<md5>-25".
        assert head["ETag"].strip('"').endswith("-25")
        dst = tmp_path / "back.bin"
        aws(server, "s3", "cp", "s3://big/data/big.bin", str(dst))
        assert os.path.getsize(dst) == 200 * MB
        assert md5_file(dst) == md5_file(src)
    finally:
        for p in (src, tmp_path / "back.bin"):
            if p.exists():
                p.unlink()


def test_sync_both_directions(server, tmp_path):
    s3(server).create_bucket(Bucket="sync")
    up = tmp_path / "up"
    files = {"a.txt": b"alpha", "dir/b.txt": b"bravo" * 1000, "dir/deeper/c.bin": os.urandom(70000)}
    for name, data in files.items():
        (up / name).parent.mkdir(parents=True, exist_ok=True)
        (up / name).write_bytes(data)
    out = aws(server, "s3", "sync", str(up), "s3://sync/site").stdout
    assert out.count("upload:") == 3
    # Nothing changed: nothing to do.
    assert "upload:" not in aws(server, "s3", "sync", str(up), "s3://sync/site").stdout
    (up / "a.txt").write_bytes(b"alpha, changed")
    out = aws(server, "s3", "sync", str(up), "s3://sync/site").stdout
    assert out.count("upload:") == 1 and "a.txt" in out

    down = tmp_path / "down"
    out = aws(server, "s3", "sync", "s3://sync/site", str(down)).stdout
    assert out.count("download:") == 3
    files["a.txt"] = b"alpha, changed"
    for name, data in files.items():
        assert (down / name).read_bytes() == data
    # --delete removes what the source no longer has.
    (up / "dir" / "b.txt").unlink()
    out = aws(server, "s3", "sync", "--delete", str(up), "s3://sync/site").stdout
    assert "delete: s3://sync/site/dir/b.txt" in out
    out = aws(server, "s3", "sync", "--delete", "s3://sync/site", str(down)).stdout
    assert not (down / "dir" / "b.txt").exists()
    shutil.rmtree(up)
    shutil.rmtree(down)


def test_ls_recursive_and_prefixes(server):
    c = s3(server)
    c.create_bucket(Bucket="listing")
    for key in ["top.txt", "logs/2024/a.log", "logs/2024/b.log", "logs/2025/c.log", "media/x.png"]:
        c.put_object(Bucket="listing", Key=key, Body=key.encode())
    out = aws(server, "s3", "ls", "s3://listing").stdout
    lines = [line.split() for line in out.splitlines()]
    assert ["PRE", "logs/"] in lines and ["PRE", "media/"] in lines
    assert any(line[-1] == "top.txt" for line in lines if line[0] != "PRE")
    out = aws(server, "s3", "ls", "s3://listing/logs/").stdout
    assert [line.split() for line in out.splitlines()] == [["PRE", "2024/"], ["PRE", "2025/"]]
    out = aws(server, "s3", "ls", "--recursive", "s3://listing").stdout
    keys = [line.split()[-1] for line in out.splitlines()]
    assert keys == ["logs/2024/a.log", "logs/2024/b.log", "logs/2025/c.log", "media/x.png", "top.txt"]
    out = aws(server, "s3", "ls", "--recursive", "--summarize", "s3://listing/logs/").stdout
    assert "Total Objects: 3" in out
    assert "listing" in aws(server, "s3", "ls").stdout
    r = aws(server, "s3", "ls", "s3://no-such-bucket", check=False)
    assert r.returncode != 0 and "NoSuchBucket" in r.stderr


def test_presign_then_get(server):
    c = s3(server)
    c.create_bucket(Bucket="share")
    c.put_object(Bucket="share", Key="docs/report.pdf", Body=b"%PDF-1.7 report")
    url = aws(server, "s3", "presign", "s3://share/docs/report.pdf", "--expires-in", "300").stdout.strip()
    assert "X-Amz-Signature=" in url or "Signature=" in url
    r = requests.get(url)
    assert r.status_code == 200 and r.content == b"%PDF-1.7 report"
    missing = aws(server, "s3", "presign", "s3://share/nope").stdout.strip()
    r = requests.get(missing)
    assert r.status_code == 404 and b"NoSuchKey" in r.content


def test_checksum_mode_on_ranged_and_whole_gets(server):
    c = s3(server)
    c.create_bucket(Bucket="sums")
    data = os.urandom(3 * MB)
    algos = ["CRC32", "SHA1", "SHA256"]
    try:
        import awscrt  # noqa: F401  (botocore needs it for CRC32C and CRC64NVME)
        algos += ["CRC32C", "CRC64NVME"]
    except ImportError:
        pass
    for algo in algos:
        key = f"obj-{algo}"
        c.put_object(Bucket="sums", Key=key, Body=data, ChecksumAlgorithm=algo)
        whole = c.get_object(Bucket="sums", Key=key, ChecksumMode="ENABLED")
        assert whole["Body"].read() == data
        assert f"Checksum{algo}" in whole
        # A range has no whole-object checksum to check: S3 sends none and the SDK
        # reads the range without complaint.
        part = c.get_object(Bucket="sums", Key=key, Range="bytes=1000-1999999", ChecksumMode="ENABLED")
        assert part["Body"].read() == data[1000:2000000]
        assert part["ContentRange"] == f"bytes 1000-1999999/{len(data)}"
        assert f"Checksum{algo}" not in part


def test_presign_sigv4_mode(server_factory):
    srv = server_factory("--auth", "sigv4", "--access-keys", "AKID:secret")
    c = s3(srv, key="AKID", secret="secret")
    c.create_bucket(Bucket="locked")
    c.put_object(Bucket="locked", Key="k.txt", Body=b"for key holders")
    env = dict(os.environ, AWS_ACCESS_KEY_ID="AKID", AWS_SECRET_ACCESS_KEY="secret", AWS_DEFAULT_REGION="us-east-1")

    def presign(*extra, secret="secret"):
        e = dict(env, AWS_SECRET_ACCESS_KEY=secret)
        r = subprocess.run([AWS, "--endpoint-url", srv.endpoint, "s3", "presign", "s3://locked/k.txt", *extra],
                           env=e, capture_output=True, text=True, check=True)
        return r.stdout.strip()

    r = requests.get(presign())
    assert r.status_code == 200 and r.content == b"for key holders"
    r = requests.get(presign(secret="wrong"))
    assert r.status_code == 403 and b"SignatureDoesNotMatch" in r.content, r.text
    r = requests.get(f"{srv.endpoint}/locked/k.txt")
    assert r.status_code == 403
