"""S3 against the real binary with boto3 and the aws CLI."""

import hashlib
import os
import subprocess
import time
import urllib.request
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

PATH_STYLE = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1, "mode": "standard"})


def s3(server, key="test", secret="test", **cfg):
    return boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=PATH_STYLE.merge(Config(**cfg)) if cfg else PATH_STYLE,
    )


def code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def aws(server, *args, check=True):
    env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1")
    return subprocess.run(["aws", "--endpoint-url", server.endpoint, *args], env=env, capture_output=True, text=True, check=check)


def test_bucket_lifecycle(server):
    c = s3(server)
    c.create_bucket(Bucket="alpha")
    c.create_bucket(Bucket="beta", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert [b["Name"] for b in c.list_buckets()["Buckets"]] == ["alpha", "beta"]
    c.head_bucket(Bucket="alpha")
    assert c.get_bucket_location(Bucket="alpha")["LocationConstraint"] is None
    assert c.get_bucket_location(Bucket="beta")["LocationConstraint"] == "eu-west-1"
    with pytest.raises(ClientError) as e:
        c.create_bucket(Bucket="alpha")
    assert code(e) == "BucketAlreadyOwnedByYou"
    with pytest.raises(ClientError) as e:
        s3(server, key="111111111111").create_bucket(Bucket="alpha")
    assert code(e) == "BucketAlreadyExists"
    # Another account sees only its own buckets.
    assert s3(server, key="111111111111").list_buckets()["Buckets"] == []
    for bad in ["ab", "Upper", "a..b", "-abc", "192.168.1.1"]:
        with pytest.raises(ClientError) as e:
            c.create_bucket(Bucket=bad)
        assert code(e) == "InvalidBucketName", bad
    c.put_object(Bucket="alpha", Key="k", Body=b"x")
    with pytest.raises(ClientError) as e:
        c.delete_bucket(Bucket="alpha")
    assert code(e) == "BucketNotEmpty"
    c.delete_object(Bucket="alpha", Key="k")
    c.delete_bucket(Bucket="alpha")
    with pytest.raises(ClientError) as e:
        c.head_bucket(Bucket="alpha")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as e:
        c.list_objects_v2(Bucket="alpha")
    assert code(e) == "NoSuchBucket"
    assert e.value.response["Error"]["Message"] == "The specified bucket does not exist"


def test_put_get_head_delete_with_metadata(server):
    c = s3(server)
    c.create_bucket(Bucket="bkt")
    body = b"hello nimbus"
    r = c.put_object(
        Bucket="bkt", Key="dir/file.txt", Body=body, Metadata={"color": "blue"}, ContentType="text/plain",
        ContentEncoding="identity", ContentDisposition="attachment", CacheControl="max-age=60",
    )
    assert r["ETag"] == '"%s"' % hashlib.md5(body).hexdigest()
    g = c.get_object(Bucket="bkt", Key="dir/file.txt")
    assert g["Body"].read() == body
    assert g["Metadata"] == {"color": "blue"}
    assert g["ContentType"] == "text/plain"
    assert g["ContentDisposition"] == "attachment"
    assert g["CacheControl"] == "max-age=60"
    assert g["ContentEncoding"] == "identity"
    h = c.head_object(Bucket="bkt", Key="dir/file.txt")
    assert h["ContentLength"] == len(body) and h["ETag"] == r["ETag"]
    # response-* overrides
    g = c.get_object(Bucket="bkt", Key="dir/file.txt", ResponseContentType="application/x-test", ResponseContentDisposition="inline")
    assert g["ContentType"] == "application/x-test" and g["ContentDisposition"] == "inline"
    c.delete_object(Bucket="bkt", Key="dir/file.txt")
    with pytest.raises(ClientError) as e:
        c.get_object(Bucket="bkt", Key="dir/file.txt")
    assert code(e) == "NoSuchKey"
    assert e.value.response["Error"]["Message"] == "The specified key does not exist."
    with pytest.raises(ClientError) as e:
        c.head_object(Bucket="bkt", Key="dir/file.txt")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    # Deleting a missing key succeeds, as on AWS.
    c.delete_object(Bucket="bkt", Key="never")
    # Empty object
    c.put_object(Bucket="bkt", Key="empty", Body=b"")
    assert c.get_object(Bucket="bkt", Key="empty")["Body"].read() == b""


def test_ranges_and_conditionals(server):
    c = s3(server)
    c.create_bucket(Bucket="bkt")
    data = bytes(range(256)) * 4
    etag = c.put_object(Bucket="bkt", Key="k", Body=data)["ETag"]
    r = c.get_object(Bucket="bkt", Key="k", Range="bytes=10-19")
    assert r["Body"].read() == data[10:20]
    assert r["ContentRange"] == "bytes 10-19/1024"
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert c.get_object(Bucket="bkt", Key="k", Range="bytes=-5")["Body"].read() == data[-5:]
    assert c.get_object(Bucket="bkt", Key="k", Range="bytes=1000-")["Body"].read() == data[1000:]
    with pytest.raises(ClientError) as e:
        c.get_object(Bucket="bkt", Key="k", Range="bytes=5000-6000")
    assert code(e) == "InvalidRange"
    assert c.get_object(Bucket="bkt", Key="k", IfMatch=etag)["Body"].read() == data
    with pytest.raises(ClientError) as e:
        c.get_object(Bucket="bkt", Key="k", IfMatch='"0000"')
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    with pytest.raises(ClientError) as e:
        c.get_object(Bucket="bkt", Key="k", IfNoneMatch=etag)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    future = datetime.now(timezone.utc) + timedelta(hours=1)
    past = datetime.now(timezone.utc) - timedelta(hours=1)
    with pytest.raises(ClientError) as e:
        c.get_object(Bucket="bkt", Key="k", IfModifiedSince=future)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    assert c.get_object(Bucket="bkt", Key="k", IfModifiedSince=past)["Body"].read() == data
    with pytest.raises(ClientError) as e:
        c.get_object(Bucket="bkt", Key="k", IfUnmodifiedSince=past)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    with pytest.raises(ClientError) as e:
        c.head_object(Bucket="bkt", Key="k", IfMatch='"0000"')
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412


def test_listing_prefix_delimiter_pagination(server):
    c = s3(server)
    c.create_bucket(Bucket="bkt")
    keys = ["a/1", "a/2", "a/b/3", "b/1", "c", "d e+f"]
    for k in keys:
        c.put_object(Bucket="bkt", Key=k, Body=b"x")
    r = c.list_objects_v2(Bucket="bkt")
    assert [o["Key"] for o in r["Contents"]] == sorted(keys)
    r = c.list_objects_v2(Bucket="bkt", Delimiter="/")
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["a/", "b/"]
    assert [o["Key"] for o in r["Contents"]] == ["c", "d e+f"]
    r = c.list_objects_v2(Bucket="bkt", Prefix="a/", Delimiter="/")
    assert [o["Key"] for o in r["Contents"]] == ["a/1", "a/2"]
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["a/b/"]
    r = c.list_objects_v2(Bucket="bkt", StartAfter="b/1")
    assert [o["Key"] for o in r["Contents"]] == ["c", "d e+f"]
    # Paging with delimiter: common prefixes count towards MaxKeys.
    seen, token = [], None
    while True:
        kw = {"ContinuationToken": token} if token else {}
        r = c.list_objects_v2(Bucket="bkt", Delimiter="/", MaxKeys=1, **kw)
        seen += [p["Prefix"] for p in r.get("CommonPrefixes", [])] + [o["Key"] for o in r.get("Contents", [])]
        if not r["IsTruncated"]:
            break
        token = r["NextContinuationToken"]
    assert seen == ["a/", "b/", "c", "d e+f"]
    # v1
    r = c.list_objects(Bucket="bkt", Delimiter="/")
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["a/", "b/"]
    r = c.list_objects(Bucket="bkt", MaxKeys=2)
    assert r["IsTruncated"] and [o["Key"] for o in r["Contents"]] == ["a/1", "a/2"]
    r = c.list_objects(Bucket="bkt", Marker="a/2")
    assert [o["Key"] for o in r["Contents"]] == ["a/b/3", "b/1", "c", "d e+f"]


def test_listing_1100_keys(server):
    c = s3(server)
    c.create_bucket(Bucket="many")
    keys = ["k%05d" % i for i in range(1100)]
    c.delete_objects  # noqa: B018
    for k in keys:
        c.put_object(Bucket="many", Key=k, Body=b"")
    r = c.list_objects_v2(Bucket="many")
    assert r["KeyCount"] == 1000 and r["IsTruncated"]
    r2 = c.list_objects_v2(Bucket="many", ContinuationToken=r["NextContinuationToken"])
    assert r2["KeyCount"] == 100 and not r2["IsTruncated"]
    listed = [o["Key"] for page in c.get_paginator("list_objects_v2").paginate(Bucket="many") for o in page["Contents"]]
    assert listed == keys
    listed = [o["Key"] for page in c.get_paginator("list_objects").paginate(Bucket="many") for o in page["Contents"]]
    assert listed == keys
    # DeleteObjects in batches of 1000
    for i in range(0, 1100, 1000):
        r = c.delete_objects(Bucket="many", Delete={"Objects": [{"Key": k} for k in keys[i:i + 1000]]})
        assert len(r["Deleted"]) == len(keys[i:i + 1000])
    assert c.list_objects_v2(Bucket="many")["KeyCount"] == 0
    c.delete_bucket(Bucket="many")


def test_copy_object(server):
    c = s3(server)
    c.create_bucket(Bucket="src")
    c.create_bucket(Bucket="dst")
    c.put_object(Bucket="src", Key="k", Body=b"payload", Metadata={"a": "1"}, ContentType="text/x")
    r = c.copy_object(Bucket="dst", Key="copy", CopySource={"Bucket": "src", "Key": "k"})
    assert r["CopyObjectResult"]["ETag"] == '"%s"' % hashlib.md5(b"payload").hexdigest()
    g = c.get_object(Bucket="dst", Key="copy")
    assert g["Body"].read() == b"payload" and g["Metadata"] == {"a": "1"} and g["ContentType"] == "text/x"
    c.copy_object(Bucket="dst", Key="copy", CopySource="src/k", MetadataDirective="REPLACE", Metadata={"b": "2"}, ContentType="text/y")
    g = c.head_object(Bucket="dst", Key="copy")
    assert g["Metadata"] == {"b": "2"} and g["ContentType"] == "text/y"
    with pytest.raises(ClientError) as e:
        c.copy_object(Bucket="src", Key="k", CopySource="src/k")
    assert code(e) == "InvalidRequest"
    with pytest.raises(ClientError) as e:
        c.copy_object(Bucket="dst", Key="x", CopySource="src/missing")
    assert code(e) == "NoSuchKey"
    # The copy is independent of its source.
    c.delete_object(Bucket="src", Key="k")
    assert c.get_object(Bucket="dst", Key="copy")["Body"].read() == b"payload"


def test_object_tagging(server):
    c = s3(server)
    c.create_bucket(Bucket="bkt")
    c.put_object(Bucket="bkt", Key="k", Body=b"x", Tagging="a=1&b=2")
    assert {t["Key"]: t["Value"] for t in c.get_object_tagging(Bucket="bkt", Key="k")["TagSet"]} == {"a": "1", "b": "2"}
    c.put_object_tagging(Bucket="bkt", Key="k", Tagging={"TagSet": [{"Key": "z", "Value": "9"}]})
    assert c.get_object_tagging(Bucket="bkt", Key="k")["TagSet"] == [{"Key": "z", "Value": "9"}]
    c.delete_object_tagging(Bucket="bkt", Key="k")
    assert c.get_object_tagging(Bucket="bkt", Key="k")["TagSet"] == []


def test_multipart(server):
    c = s3(server)
    c.create_bucket(Bucket="bkt")
    mp = c.create_multipart_upload(Bucket="bkt", Key="big", ContentType="application/x-big", Metadata={"m": "v"})
    uid = mp["UploadId"]
    p1 = os.urandom(5 * 1024 * 1024)
    p2 = os.urandom(5 * 1024 * 1024)
    p3 = b"tail"
    parts = []
    for n, data in enumerate([p1, p2, p3], start=1):
        r = c.upload_part(Bucket="bkt", Key="big", UploadId=uid, PartNumber=n, Body=data)
        assert r["ETag"] == '"%s"' % hashlib.md5(data).hexdigest()
        parts.append({"PartNumber": n, "ETag": r["ETag"]})
    listed = c.list_parts(Bucket="bkt", Key="big", UploadId=uid)["Parts"]
    assert [p["PartNumber"] for p in listed] == [1, 2, 3] and listed[2]["Size"] == 4
    assert [u["UploadId"] for u in c.list_multipart_uploads(Bucket="bkt")["Uploads"]] == [uid]
    with pytest.raises(ClientError) as e:
        c.complete_multipart_upload(Bucket="bkt", Key="big", UploadId=uid, MultipartUpload={"Parts": [parts[1], parts[0]]})
    assert code(e) == "InvalidPartOrder"
    with pytest.raises(ClientError) as e:
        c.complete_multipart_upload(Bucket="bkt", Key="big", UploadId=uid,
                                    MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"deadbeef"'}]})
    assert code(e) == "InvalidPart"
    r = c.complete_multipart_upload(Bucket="bkt", Key="big", UploadId=uid, MultipartUpload={"Parts": parts})
    md5s = b"".join(hashlib.md5(p).digest() for p in [p1, p2, p3])
    assert r["ETag"] == '"%s-3"' % hashlib.md5(md5s).hexdigest()
    g = c.get_object(Bucket="bkt", Key="big")
    assert g["ETag"].endswith('-3"')
    assert hashlib.md5(g["Body"].read()).digest() == hashlib.md5(p1 + p2 + p3).digest()
    assert g["ContentType"] == "application/x-big" and g["Metadata"] == {"m": "v"}
    assert c.list_multipart_uploads(Bucket="bkt").get("Uploads", []) == []
    with pytest.raises(ClientError) as e:
        c.list_parts(Bucket="bkt", Key="big", UploadId=uid)
    assert code(e) == "NoSuchUpload"

    # Too-small parts, and abort
    mp = c.create_multipart_upload(Bucket="bkt", Key="small")
    uid = mp["UploadId"]
    e1 = c.upload_part(Bucket="bkt", Key="small", UploadId=uid, PartNumber=1, Body=b"a")["ETag"]
    e2 = c.upload_part(Bucket="bkt", Key="small", UploadId=uid, PartNumber=2, Body=b"b")["ETag"]
    with pytest.raises(ClientError) as e:
        c.complete_multipart_upload(Bucket="bkt", Key="small", UploadId=uid,
                                    MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
    assert code(e) == "EntityTooSmall"
    c.abort_multipart_upload(Bucket="bkt", Key="small", UploadId=uid)
    with pytest.raises(ClientError) as e:
        c.upload_part(Bucket="bkt", Key="small", UploadId=uid, PartNumber=3, Body=b"c")
    assert code(e) == "NoSuchUpload"


def test_checksums(server):
    c = s3(server)
    c.create_bucket(Bucket="bkt")
    for algo in ["CRC32", "SHA1", "SHA256"]:  # CRC32C needs botocore[crt] on the client
        r = c.put_object(Bucket="bkt", Key=algo, Body=b"checksum me", ChecksumAlgorithm=algo)
        assert r["Checksum" + algo]
        g = c.get_object(Bucket="bkt", Key=algo, ChecksumMode="ENABLED")
        assert g["Checksum" + algo] == r["Checksum" + algo]
        assert g["Body"].read() == b"checksum me"
    # A wrong checksum is refused and leaves nothing behind.
    with pytest.raises(ClientError) as e:
        c.put_object(Bucket="bkt", Key="bad", Body=b"data", ChecksumCRC32="AAAAAA==")
    assert code(e) == "BadDigest"
    with pytest.raises(ClientError) as e:
        c.head_object(Bucket="bkt", Key="bad")
    with pytest.raises(ClientError) as e:
        c.put_object(Bucket="bkt", Key="bad", Body=b"data", ContentMD5="AAAAAAAAAAAAAAAAAAAAAA==")
    assert code(e) == "BadDigest"


def test_aws_cli_50mb_and_ls(server, tmp_path):
    c = s3(server)
    c.create_bucket(Bucket="cli")
    src = tmp_path / "big.bin"
    with open(src, "wb") as f:
        for _ in range(50):
            f.write(os.urandom(1024 * 1024))
    aws(server, "s3", "cp", str(src), "s3://cli/data/big.bin")
    out = aws(server, "s3", "ls", "s3://cli/data/").stdout
    assert "big.bin" in out and str(50 * 1024 * 1024) in out
    dst = tmp_path / "back.bin"
    aws(server, "s3", "cp", "s3://cli/data/big.bin", str(dst))
    assert hashlib.md5(dst.read_bytes()).hexdigest() == hashlib.md5(src.read_bytes()).hexdigest()
    out = aws(server, "s3api", "head-object", "--bucket", "cli", "--key", "data/big.bin").stdout
    assert '"ContentLength": 52428800' in out
    assert "cli" in aws(server, "s3", "ls").stdout
    r = aws(server, "s3api", "get-object", "--bucket", "cli", "--key", "nope", str(tmp_path / "x"), check=False)
    assert r.returncode != 0 and "NoSuchKey" in r.stderr


def test_persistence_across_restart_and_kill9(server_factory, tmp_path):
    d = str(tmp_path / "data")
    srv = server_factory(data_dir=d)
    c = s3(srv)
    c.create_bucket(Bucket="keep")
    c.put_object(Bucket="keep", Key="a", Body=b"first")
    srv.stop()
    srv = server_factory(data_dir=d)
    c = s3(srv)
    assert c.get_object(Bucket="keep", Key="a")["Body"].read() == b"first"
    c.put_object(Bucket="keep", Key="b", Body=b"acknowledged")
    srv.kill9()
    srv = server_factory(data_dir=d)
    c = s3(srv)
    assert c.get_object(Bucket="keep", Key="b")["Body"].read() == b"acknowledged"
    assert [o["Key"] for o in c.list_objects_v2(Bucket="keep")["Contents"]] == ["a", "b"]


def test_presigned_urls(server):
    c = s3(server, signature_version="s3v4")
    c.create_bucket(Bucket="pre")
    put_url = c.generate_presigned_url("put_object", Params={"Bucket": "pre", "Key": "up"}, ExpiresIn=60)
    req = urllib.request.Request(put_url, data=b"via presigned put", method="PUT",
                                 headers={"Content-Type": "application/octet-stream"})
    with urllib.request.urlopen(req) as r:
        assert r.status == 200
    get_url = c.generate_presigned_url("get_object", Params={"Bucket": "pre", "Key": "up"}, ExpiresIn=60)
    with urllib.request.urlopen(get_url) as r:
        assert r.read() == b"via presigned put"


def test_sigv4_mode(server_factory):
    srv = server_factory("--auth", "sigv4", "--access-keys", "AKID:secret")
    good = s3(srv, key="AKID", secret="secret")
    good.create_bucket(Bucket="sig")
    good.put_object(Bucket="sig", Key="k", Body=b"signed body" * 1000)
    assert good.get_object(Bucket="sig", Key="k")["Body"].read() == b"signed body" * 1000
    with pytest.raises(ClientError) as e:
        s3(srv, key="AKID", secret="wrong").list_buckets()
    assert code(e) == "SignatureDoesNotMatch"
    with pytest.raises(ClientError) as e:
        s3(srv, key="NOPE", secret="secret").list_buckets()
    assert code(e) == "InvalidAccessKeyId"
    # Presigned URLs are verified and expire.
    c = s3(srv, key="AKID", secret="secret", signature_version="s3v4")
    url = c.generate_presigned_url("get_object", Params={"Bucket": "sig", "Key": "k"}, ExpiresIn=1)
    with urllib.request.urlopen(url) as r:
        assert r.read() == b"signed body" * 1000
    time.sleep(2.5)
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(url)
    assert e.value.code == 403
    bad = s3(srv, key="AKID", secret="wrong", signature_version="s3v4")
    url = bad.generate_presigned_url("get_object", Params={"Bucket": "sig", "Key": "k"}, ExpiresIn=60)
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(url)
    assert e.value.code == 403
