"""S3 event notifications to Lambda against the real binary: the image-resize flow."""

import io
import json
import os
import re
import subprocess
import time
import zipfile

import pytest
from botocore.exceptions import ClientError

ROLE = "arn:aws:iam::000000000000:role/lambda-role"
ACCOUNT = "000000000000"

# The function reads the uploaded object and writes a "thumbnail" (a marker plus the
# first 8 bytes) to output/, and the event it received to output/event-<name>.json.
# It uses boto3 when the runtime has it, else plain HTTP (auth is off on loopback).
THUMBNAILER = r'''
import json, os, urllib.parse, urllib.request

ENDPOINT = os.environ.get("AWS_ENDPOINT_URL", "")

try:
    import boto3
    _s3 = boto3.client("s3", endpoint_url=ENDPOINT or None)
    CLIENT = "boto3"

    def get(bucket, key):
        return _s3.get_object(Bucket=bucket, Key=key)["Body"].read()

    def put(bucket, key, data):
        _s3.put_object(Bucket=bucket, Key=key, Body=data)
except ImportError:
    CLIENT = "urllib"

    def _url(bucket, key):
        return ENDPOINT.rstrip("/") + "/" + bucket + "/" + urllib.parse.quote(key)

    def get(bucket, key):
        with urllib.request.urlopen(_url(bucket, key)) as r:
            return r.read()

    def put(bucket, key, data):
        req = urllib.request.Request(_url(bucket, key), data=data, method="PUT")
        urllib.request.urlopen(req).read()


def handler(event, context):
    rec = event["Records"][0]
    bucket = rec["s3"]["bucket"]["name"]
    key = urllib.parse.unquote_plus(rec["s3"]["object"]["key"])
    name = key.split("/", 1)[1]
    if rec["eventName"].startswith("ObjectCreated"):
        data = get(bucket, key)
        put(bucket, "output/" + name, b"THUMB:" + data[:8])
        put(bucket, "output/event-" + name + ".json", json.dumps({"event": event, "client": CLIENT}).encode())
    else:
        put(bucket, "output/event-deleted-" + name + ".json", json.dumps({"event": event, "client": CLIENT}).encode())
    return {"ok": True}
'''


def make_zip(files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, content in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o644 | 0o100000) << 16
            z.writestr(info, content)
    return buf.getvalue()


def create_function(lam, name="thumbnailer"):
    return lam.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=ROLE,
        Handler="index.handler",
        Timeout=30,
        Code={"ZipFile": make_zip({"index.py": THUMBNAILER})},
    )["FunctionArn"]


def config_for(arn):
    rules = [{"Name": "prefix", "Value": "input/"}, {"Name": "suffix", "Value": ".jpg"}]
    return {
        "LambdaFunctionConfigurations": [
            {
                "Id": "thumbs",
                "LambdaFunctionArn": arn,
                "Events": ["s3:ObjectCreated:*"],
                "Filter": {"Key": {"FilterRules": rules}},
            },
            {
                "Id": "removed",
                "LambdaFunctionArn": arn,
                "Events": ["s3:ObjectRemoved:*"],
                "Filter": {"Key": {"FilterRules": rules}},
            },
        ]
    }


def wait_object(s3, bucket, key, timeout=15.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            s3.head_object(Bucket=bucket, Key=key)
            return True
        except ClientError:
            time.sleep(0.1)
    return False


def read_json(s3, bucket, key):
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def output_keys(s3, bucket):
    r = s3.list_objects_v2(Bucket=bucket, Prefix="output/")
    return sorted(o["Key"] for o in r.get("Contents", []))


def check_record(rec, *, event_name, key, bucket, config_id, size=None, etag=None, request_id=None):
    assert set(rec) == {
        "eventVersion", "eventSource", "awsRegion", "eventTime", "eventName", "userIdentity",
        "requestParameters", "responseElements", "s3",
    }
    assert rec["eventVersion"] == "2.1"
    assert rec["eventSource"] == "aws:s3"
    assert rec["awsRegion"] == "us-east-1"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", rec["eventTime"]), rec["eventTime"]
    assert rec["eventName"] == event_name
    assert set(rec["userIdentity"]) == {"principalId"} and rec["userIdentity"]["principalId"]
    assert set(rec["requestParameters"]) == {"sourceIPAddress"}
    assert set(rec["responseElements"]) == {"x-amz-request-id", "x-amz-id-2"}
    if request_id is not None:
        assert rec["responseElements"]["x-amz-request-id"] == request_id
    s3 = rec["s3"]
    assert set(s3) == {"s3SchemaVersion", "configurationId", "bucket", "object"}
    assert s3["s3SchemaVersion"] == "1.0"
    assert s3["configurationId"] == config_id
    assert set(s3["bucket"]) == {"name", "ownerIdentity", "arn"}
    assert s3["bucket"]["name"] == bucket
    assert s3["bucket"]["arn"] == f"arn:aws:s3:::{bucket}"
    assert s3["bucket"]["ownerIdentity"]["principalId"]
    obj = s3["object"]
    assert obj["key"] == key
    assert re.fullmatch(r"[0-9A-F]+", obj["sequencer"])
    if size is None:
        assert set(obj) == {"key", "sequencer"}
    else:
        assert set(obj) == {"key", "size", "eTag", "sequencer"}
        assert obj["size"] == size
        assert obj["eTag"] == etag


def test_image_resize_flow(server):
    s3 = server.client("s3")
    lam = server.client("lambda")
    s3.create_bucket(Bucket="photos")
    arn = create_function(lam)
    s3.put_bucket_notification_configuration(Bucket="photos", NotificationConfiguration=config_for(arn))

    image = b"\xff\xd8\xff\xe0JFIF-cat-pixels" * 10
    r = s3.put_object(Bucket="photos", Key="input/cat.jpg", Body=image)
    assert wait_object(s3, "photos", "output/cat.jpg"), "no thumbnail"
    assert s3.get_object(Bucket="photos", Key="output/cat.jpg")["Body"].read() == b"THUMB:" + image[:8]
    assert wait_object(s3, "photos", "output/event-cat.jpg.json")
    got = read_json(s3, "photos", "output/event-cat.jpg.json")
    assert len(got["event"]["Records"]) == 1
    check_record(
        got["event"]["Records"][0], event_name="ObjectCreated:Put", key="input/cat.jpg", bucket="photos",
        config_id="thumbs", size=len(image), etag=r["ETag"].strip('"'),
        request_id=r["ResponseMetadata"]["RequestId"],
    )
    first_seq = got["event"]["Records"][0]["s3"]["object"]["sequencer"]

    # Not matching the filters: nothing happens.
    s3.put_object(Bucket="photos", Key="input/notes.txt", Body=b"notes")
    s3.put_object(Bucket="photos", Key="other/dog.jpg", Body=b"dog")
    # A key with a space: AWS form-encodes it in the record (space as '+').
    s3.put_object(Bucket="photos", Key="input/my dog.jpg", Body=b"dog pixels")
    assert wait_object(s3, "photos", "output/my dog.jpg")
    assert wait_object(s3, "photos", "output/event-my dog.jpg.json")
    rec = read_json(s3, "photos", "output/event-my dog.jpg.json")["event"]["Records"][0]
    assert rec["s3"]["object"]["key"] == "input/my+dog.jpg"
    assert rec["s3"]["object"]["sequencer"] > first_seq

    # CopyObject and CompleteMultipartUpload.
    s3.copy_object(Bucket="photos", Key="input/copy.jpg", CopySource={"Bucket": "photos", "Key": "input/cat.jpg"})
    up = s3.create_multipart_upload(Bucket="photos", Key="input/multi.jpg")
    part = s3.upload_part(Bucket="photos", Key="input/multi.jpg", UploadId=up["UploadId"], PartNumber=1, Body=b"multipart!")
    done = s3.complete_multipart_upload(
        Bucket="photos", Key="input/multi.jpg", UploadId=up["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    assert wait_object(s3, "photos", "output/event-copy.jpg.json")
    assert wait_object(s3, "photos", "output/event-multi.jpg.json")
    rec = read_json(s3, "photos", "output/event-copy.jpg.json")["event"]["Records"][0]
    check_record(rec, event_name="ObjectCreated:Copy", key="input/copy.jpg", bucket="photos", config_id="thumbs",
                 size=len(image), etag=r["ETag"].strip('"'))
    rec = read_json(s3, "photos", "output/event-multi.jpg.json")["event"]["Records"][0]
    check_record(rec, event_name="ObjectCreated:CompleteMultipartUpload", key="input/multi.jpg", bucket="photos",
                 config_id="thumbs", size=10, etag=done["ETag"].strip('"'))
    assert s3.get_object(Bucket="photos", Key="output/multi.jpg")["Body"].read() == b"THUMB:multipar"

    # DeleteObject triggers ObjectRemoved:Delete (no size or eTag in the record).
    d = s3.delete_object(Bucket="photos", Key="input/cat.jpg")
    assert wait_object(s3, "photos", "output/event-deleted-cat.jpg.json")
    rec = read_json(s3, "photos", "output/event-deleted-cat.jpg.json")["event"]["Records"][0]
    check_record(rec, event_name="ObjectRemoved:Delete", key="input/cat.jpg", bucket="photos", config_id="removed",
                 request_id=d["ResponseMetadata"]["RequestId"])
    # DeleteObjects: one invocation per record.
    s3.delete_objects(Bucket="photos", Delete={"Objects": [{"Key": "input/copy.jpg"}, {"Key": "input/notes.txt"}]})
    assert wait_object(s3, "photos", "output/event-deleted-copy.jpg.json")

    # Deleting the non-matching keys triggered nothing; nothing for notes.txt / other/.
    time.sleep(1.0)
    assert output_keys(s3, "photos") == sorted([
        "output/cat.jpg", "output/event-cat.jpg.json",
        "output/my dog.jpg", "output/event-my dog.jpg.json",
        "output/copy.jpg", "output/event-copy.jpg.json",
        "output/multi.jpg", "output/event-multi.jpg.json",
        "output/event-deleted-cat.jpg.json", "output/event-deleted-copy.jpg.json",
    ])


def test_configuration_round_trips(server):
    s3 = server.client("s3")
    lam = server.client("lambda")
    s3.create_bucket(Bucket="cfg")
    assert "LambdaFunctionConfigurations" not in s3.get_bucket_notification_configuration(Bucket="cfg")
    arn = create_function(lam)
    s3.put_bucket_notification_configuration(Bucket="cfg", NotificationConfiguration=config_for(arn))
    got = s3.get_bucket_notification_configuration(Bucket="cfg")
    configs = got["LambdaFunctionConfigurations"]
    assert [c["Id"] for c in configs] == ["thumbs", "removed"]
    assert configs[0]["LambdaFunctionArn"] == arn
    assert configs[0]["Events"] == ["s3:ObjectCreated:*"]
    assert configs[1]["Events"] == ["s3:ObjectRemoved:*"]
    rules = configs[0]["Filter"]["Key"]["FilterRules"]
    assert [(r["Name"], r["Value"]) for r in rules] == [("Prefix", "input/"), ("Suffix", ".jpg")]
    assert "QueueConfigurations" not in got and "TopicConfigurations" not in got

    # No Id: one is generated. Durable across a restart.
    s3.put_bucket_notification_configuration(Bucket="cfg", NotificationConfiguration={
        "LambdaFunctionConfigurations": [{"LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:Put"]}],
    })
    got = s3.get_bucket_notification_configuration(Bucket="cfg")["LambdaFunctionConfigurations"]
    assert len(got) == 1 and got[0]["Id"] and "Filter" not in got[0]

    # SkipDestinationValidation stores a queue it cannot validate, and it round-trips.
    queue = "arn:aws:sqs:us-east-1:000000000000:q"
    s3.put_bucket_notification_configuration(Bucket="cfg", SkipDestinationValidation=True, NotificationConfiguration={
        "QueueConfigurations": [{"Id": "q", "QueueArn": queue, "Events": ["s3:ObjectCreated:*"]}],
    })
    got = s3.get_bucket_notification_configuration(Bucket="cfg")
    assert got["QueueConfigurations"] == [{"Id": "q", "QueueArn": queue, "Events": ["s3:ObjectCreated:*"]}]

    # An empty configuration turns notifications off.
    s3.put_bucket_notification_configuration(Bucket="cfg", NotificationConfiguration={})
    got = s3.get_bucket_notification_configuration(Bucket="cfg")
    assert not any(k in got for k in ("LambdaFunctionConfigurations", "QueueConfigurations", "TopicConfigurations"))

    with pytest.raises(ClientError) as e:
        s3.get_bucket_notification_configuration(Bucket="nope")
    assert e.value.response["Error"]["Code"] == "NoSuchBucket"


def test_configuration_survives_restart(server_factory, tmp_path):
    server = server_factory(data_dir=str(tmp_path))
    s3 = server.client("s3")
    arn = create_function(server.client("lambda"))
    s3.create_bucket(Bucket="durable")
    s3.put_bucket_notification_configuration(Bucket="durable", NotificationConfiguration=config_for(arn))
    server.stop()
    server = server_factory(data_dir=str(tmp_path))
    s3 = server.client("s3")
    got = s3.get_bucket_notification_configuration(Bucket="durable")
    assert [c["Id"] for c in got["LambdaFunctionConfigurations"]] == ["thumbs", "removed"]
    s3.put_object(Bucket="durable", Key="input/after.jpg", Body=b"restarted")
    assert wait_object(s3, "durable", "output/after.jpg")


def invalid(s3, config, bucket="bad", **kw):
    with pytest.raises(ClientError) as e:
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=config, **kw)
    return e.value.response["Error"]


def test_invalid_configurations(server):
    s3 = server.client("s3")
    lam = server.client("lambda")
    s3.create_bucket(Bucket="bad")
    arn = create_function(lam)

    err = invalid(s3, {"LambdaFunctionConfigurations": [{"LambdaFunctionArn": arn, "Events": ["s3:ObjectMade:*"]}]})
    assert err["Code"] == "InvalidArgument"

    err = invalid(s3, {"LambdaFunctionConfigurations": [
        {"Id": "a", "LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"],
         "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "input/"}]}}},
        {"Id": "b", "LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:Put"],
         "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "input/images/"}]}}},
    ]})
    assert err["Code"] == "InvalidArgument"
    assert err["Message"] == "Configurations overlap. Configurations on the same bucket cannot share a common event type."

    missing = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:does-not-exist"
    err = invalid(s3, {"LambdaFunctionConfigurations": [{"LambdaFunctionArn": missing, "Events": ["s3:ObjectCreated:*"]}]})
    assert err["Code"] == "InvalidArgument"
    assert err["Message"] == "Unable to validate the following destination configurations"

    for cfg in (
        {"QueueConfigurations": [{"QueueArn": "arn:aws:sqs:us-east-1:000000000000:q", "Events": ["s3:ObjectCreated:*"]}]},
        {"TopicConfigurations": [{"TopicArn": "arn:aws:sns:us-east-1:000000000000:t", "Events": ["s3:ObjectCreated:*"]}]},
    ):
        err = invalid(s3, cfg)
        assert err["Code"] == "InvalidArgument"
        assert err["Message"] == "Unable to validate the following destination configurations"

    err = invalid(s3, {"LambdaFunctionConfigurations": [{"LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"],
        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "a"}, {"Name": "prefix", "Value": "b"}]}}}]})
    assert err["Code"] == "InvalidArgument"

    # A rejected configuration leaves the stored one unchanged (none here).
    assert "LambdaFunctionConfigurations" not in s3.get_bucket_notification_configuration(Bucket="bad")

    err = invalid(s3, {"LambdaFunctionConfigurations": [{"LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"]}]}, bucket="nope")
    assert err["Code"] == "NoSuchBucket"


def test_aws_cli_seed_configuration(server, tmp_path):
    s3 = server.client("s3")
    arn = create_function(server.client("lambda"), name="resize")
    s3.create_bucket(Bucket="seed-images")
    (tmp_path / "notification.json").write_text(json.dumps({
        "LambdaFunctionConfigurations": [{
            "Id": "resize-on-upload",
            "LambdaFunctionArn": arn,
            "Events": ["s3:ObjectCreated:*"],
            "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "input/"}, {"Name": "suffix", "Value": ".jpg"}]}},
        }]
    }))
    env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1")
    env.pop("AWS_PROFILE", None)

    def aws(*args):
        return subprocess.run(["aws", "--endpoint-url", server.endpoint, *args], env=env, capture_output=True, text=True)

    r = aws("s3api", "put-bucket-notification-configuration", "--bucket", "seed-images",
            "--notification-configuration", f"file://{tmp_path / 'notification.json'}")
    assert r.returncode == 0, r.stderr
    r = aws("s3api", "get-bucket-notification-configuration", "--bucket", "seed-images")
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)["LambdaFunctionConfigurations"][0]
    assert got["Id"] == "resize-on-upload" and got["LambdaFunctionArn"] == arn
    (tmp_path / "cat.jpg").write_bytes(b"\xff\xd8cli-cat")
    r = aws("s3", "cp", str(tmp_path / "cat.jpg"), "s3://seed-images/input/cat.jpg")
    assert r.returncode == 0, r.stderr
    assert wait_object(s3, "seed-images", "output/cat.jpg")
    assert s3.get_object(Bucket="seed-images", Key="output/cat.jpg")["Body"].read() == b"THUMB:\xff\xd8cli-ca"
