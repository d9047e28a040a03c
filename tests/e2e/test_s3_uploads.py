"""UploadPartCopy and POST Object (browser form uploads) against the real binary."""

import hashlib
import os

import pytest
import requests
from botocore.exceptions import ClientError

from test_s3 import code, s3

MB = 1024 * 1024


def test_upload_part_copy(server):
    c = s3(server)
    c.create_bucket(Bucket="parts")
    src = os.urandom(11 * MB) + b"tail-bytes"
    c.put_object(Bucket="parts", Key="src", Body=src)
    up = c.create_multipart_upload(Bucket="parts", Key="dst")["UploadId"]
    # Part 1: the first 5 MiB of src; part 2: the rest, by range too; part 3: a whole object.
    p1 = c.upload_part_copy(Bucket="parts", Key="dst", UploadId=up, PartNumber=1,
                            CopySource={"Bucket": "parts", "Key": "src"}, CopySourceRange=f"bytes=0-{5 * MB - 1}")
    assert p1["CopyPartResult"]["ETag"] == '"%s"' % hashlib.md5(src[:5 * MB]).hexdigest()
    p2 = c.upload_part_copy(Bucket="parts", Key="dst", UploadId=up, PartNumber=2,
                            CopySource={"Bucket": "parts", "Key": "src"}, CopySourceRange=f"bytes={5 * MB}-{len(src) - 1}")
    c.put_object(Bucket="parts", Key="small", Body=b"small object")
    p3 = c.upload_part_copy(Bucket="parts", Key="dst", UploadId=up, PartNumber=3,
                            CopySource="parts/small")
    listed = c.list_parts(Bucket="parts", Key="dst", UploadId=up)["Parts"]
    assert [(p["PartNumber"], p["Size"]) for p in listed] == [(1, 5 * MB), (2, len(src) - 5 * MB), (3, 12)]

    # Copy-source errors.
    for kw, want in [
        ({"CopySourceRange": f"bytes=0-{len(src)}"}, "InvalidArgument"),
        ({"CopySourceRange": "bytes=10-"}, "InvalidArgument"),
        ({"CopySourceIfMatch": '"0000"'}, "PreconditionFailed"),
        ({"CopySourceIfNoneMatch": '"0000"'}, None),
    ]:
        call = lambda: c.upload_part_copy(Bucket="parts", Key="dst", UploadId=up, PartNumber=4,
                                          CopySource={"Bucket": "parts", "Key": "src"}, **kw)
        if want is None:
            call()
        else:
            with pytest.raises(ClientError) as e:
                call()
            assert code(e) == want, kw
    with pytest.raises(ClientError) as e:
        c.upload_part_copy(Bucket="parts", Key="dst", UploadId=up, PartNumber=4,
                           CopySource={"Bucket": "parts", "Key": "missing"})
    assert code(e) == "NoSuchKey"
    with pytest.raises(ClientError) as e:
        c.upload_part_copy(Bucket="parts", Key="dst", UploadId="nope", PartNumber=1,
                           CopySource={"Bucket": "parts", "Key": "src"})
    assert code(e) == "NoSuchUpload"

    done = c.complete_multipart_upload(Bucket="parts", Key="dst", UploadId=up, MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": p1["CopyPartResult"]["ETag"]},
        {"PartNumber": 2, "ETag": p2["CopyPartResult"]["ETag"]},
        {"PartNumber": 3, "ETag": p3["CopyPartResult"]["ETag"]},
    ]})
    assert done["ETag"].endswith('-3"')
    assert c.get_object(Bucket="parts", Key="dst")["Body"].read() == src + b"small object"


def test_upload_part_copy_from_version(server):
    c = s3(server)
    c.create_bucket(Bucket="vparts")
    c.put_bucket_versioning(Bucket="vparts", VersioningConfiguration={"Status": "Enabled"})
    v1 = c.put_object(Bucket="vparts", Key="src", Body=b"first version")["VersionId"]
    c.put_object(Bucket="vparts", Key="src", Body=b"second")
    up = c.create_multipart_upload(Bucket="vparts", Key="dst")["UploadId"]
    p = c.upload_part_copy(Bucket="vparts", Key="dst", UploadId=up, PartNumber=1,
                           CopySource={"Bucket": "vparts", "Key": "src", "VersionId": v1})
    assert p["CopySourceVersionId"] == v1
    c.complete_multipart_upload(Bucket="vparts", Key="dst", UploadId=up,
                                MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": p["CopyPartResult"]["ETag"]}]})
    assert c.get_object(Bucket="vparts", Key="dst")["Body"].read() == b"first version"


def test_post_object_form_upload(server):
    c = s3(server)
    c.create_bucket(Bucket="forms")
    post = c.generate_presigned_post(
        "forms", "uploads/photo.jpg",
        Fields={"success_action_status": "201", "Content-Type": "image/jpeg"},
        Conditions=[{"success_action_status": "201"}, {"Content-Type": "image/jpeg"},
                    ["content-length-range", 1, 1024]],
        ExpiresIn=300,
    )
    r = requests.post(post["url"], data=post["fields"], files={"file": ("photo.jpg", b"\xff\xd8jpeg-bytes")})
    assert r.status_code == 201, r.text
    assert b"<Key>uploads/photo.jpg</Key>" in r.content and b"<Bucket>forms</Bucket>" in r.content
    got = c.get_object(Bucket="forms", Key="uploads/photo.jpg")
    assert got["Body"].read() == b"\xff\xd8jpeg-bytes" and got["ContentType"] == "image/jpeg"

    # Default status is 204; a redirect answers 303 with bucket, key and etag.
    plain = c.generate_presigned_post("forms", "plain.txt", ExpiresIn=300)
    r = requests.post(plain["url"], data=plain["fields"], files={"file": ("a.txt", b"plain")})
    assert r.status_code == 204
    redirect = c.generate_presigned_post("forms", "r.txt", Fields={"success_action_redirect": "http://example.com/done"},
                                         Conditions=[{"success_action_redirect": "http://example.com/done"}], ExpiresIn=300)
    r = requests.post(redirect["url"], data=redirect["fields"], files={"file": ("r.txt", b"r")}, allow_redirects=False)
    assert r.status_code == 303
    assert r.headers["Location"].startswith("http://example.com/done?bucket=forms&key=r.txt&etag=")

    # The policy is enforced: too large for content-length-range, a field not allowed.
    r = requests.post(post["url"], data=post["fields"], files={"file": ("big.jpg", b"x" * 2048)})
    assert r.status_code == 400, r.text
    fields = dict(post["fields"], **{"Content-Type": "text/html"})
    r = requests.post(post["url"], data=fields, files={"file": ("photo.jpg", b"x")})
    assert r.status_code == 403 and b"<Code>AccessDenied</Code>" in r.content, r.text
    assert b"Invalid according to Policy" in r.content
    with pytest.raises(ClientError):
        c.head_object(Bucket="forms", Key="big.jpg")


def test_post_object_sigv4_mode(server_factory):
    srv = server_factory("--auth", "sigv4", "--access-keys", "AKID:secret")
    good = s3(srv, key="AKID", secret="secret")
    good.create_bucket(Bucket="signed")
    post = good.generate_presigned_post("signed", "a.txt", ExpiresIn=300)
    r = requests.post(post["url"], data=post["fields"], files={"file": ("a.txt", b"signed form")})
    assert r.status_code == 204, r.text
    assert good.get_object(Bucket="signed", Key="a.txt")["Body"].read() == b"signed form"
    forged = s3(srv, key="AKID", secret="wrong").generate_presigned_post("signed", "b.txt", ExpiresIn=300)
    r = requests.post(forged["url"], data=forged["fields"], files={"file": ("b.txt", b"forged")})
    assert r.status_code == 403 and b"SignatureDoesNotMatch" in r.content, r.text
    unknown = s3(srv, key="NOPE", secret="x").generate_presigned_post("signed", "c.txt", ExpiresIn=300)
    r = requests.post(unknown["url"], data=unknown["fields"], files={"file": ("c.txt", b"x")})
    assert r.status_code == 403 and b"InvalidAccessKeyId" in r.content, r.text


def test_post_object_event(server):
    from test_s3_notifications import config_for, create_function, read_json, wait_object

    c = server.client("s3")
    c.create_bucket(Bucket="postev")
    arn = create_function(server.client("lambda"))
    c.put_bucket_notification_configuration(Bucket="postev", NotificationConfiguration=config_for(arn))
    post = c.generate_presigned_post("postev", "input/form.jpg", ExpiresIn=300)
    r = requests.post(post["url"], data=post["fields"], files={"file": ("form.jpg", b"\xff\xd8form")})
    assert r.status_code == 204, r.text
    assert wait_object(c, "postev", "output/event-form.jpg.json"), "no event"
    rec = read_json(c, "postev", "output/event-form.jpg.json")["event"]["Records"][0]
    assert rec["eventName"] == "ObjectCreated:Post"
    assert rec["s3"]["object"]["size"] == 6


def test_post_object_unsigned_refused_in_sigv4_mode(server_factory):
    srv = server_factory("--auth", "sigv4", "--access-keys", "AKID:secret")
    s3(srv, key="AKID", secret="secret").create_bucket(Bucket="locked")
    r = requests.post(f"{srv.endpoint}/locked", data={"key": "x.txt"}, files={"file": ("x.txt", b"x")})
    assert r.status_code == 403 and b"AccessDenied" in r.content, r.text


def test_early_errors_leave_the_connection_usable(server):
    # boto3 sends PutObject with `Expect: 100-continue`; an error answered before the
    # body is read means the body never comes, and the next request on the same
    # connection must still be read as a request.
    c = s3(server)
    c.create_bucket(Bucket="early")
    for i in range(60):
        with pytest.raises(ClientError) as e:
            c.put_object(Bucket="early", Key="k", Body=b"x", Tagging="a=1&a=2")
        assert code(e) == "InvalidTag"
        with pytest.raises(ClientError) as e:
            c.put_object(Bucket="no-such-bucket-here", Key="k", Body=b"x" * 100)
        assert code(e) == "NoSuchBucket"
        assert c.list_objects_v2(Bucket="early")["KeyCount"] == 0
