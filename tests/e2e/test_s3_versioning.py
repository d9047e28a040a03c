"""S3 versioning against the real binary with boto3: versions, delete markers, null
versions, ListObjectVersions, and versions surviving a restart."""

import pytest
import requests
from botocore.exceptions import ClientError

from test_s3 import code, s3


def versioned(c, name):
    c.create_bucket(Bucket=name)
    c.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})


def test_versioning_configuration(server):
    c = s3(server)
    c.create_bucket(Bucket="cfg")
    r = c.get_bucket_versioning(Bucket="cfg")
    assert "Status" not in r and "MFADelete" not in r
    c.put_bucket_versioning(Bucket="cfg", VersioningConfiguration={"Status": "Enabled"})
    assert c.get_bucket_versioning(Bucket="cfg")["Status"] == "Enabled"
    c.put_bucket_versioning(Bucket="cfg", VersioningConfiguration={"Status": "Suspended"})
    assert c.get_bucket_versioning(Bucket="cfg")["Status"] == "Suspended"
    with pytest.raises(ClientError) as e:
        c.put_bucket_versioning(Bucket="cfg", VersioningConfiguration={"Status": "Enabled", "MFADelete": "Enabled"},
                                MFA="123456 000000")
    assert code(e) == "InvalidRequest"
    assert c.get_bucket_versioning(Bucket="cfg")["Status"] == "Suspended"
    with pytest.raises(ClientError) as e:
        c.put_bucket_versioning(Bucket="nope", VersioningConfiguration={"Status": "Enabled"})
    assert code(e) == "NoSuchBucket"
    # An unknown status is not a valid document.
    r = requests.put(f"{server.endpoint}/cfg?versioning",
                     data=b"<VersioningConfiguration><Status>On</Status></VersioningConfiguration>")
    assert r.status_code == 400 and b"MalformedXML" in r.content


def test_versions_and_delete_markers(server):
    c = s3(server)
    versioned(c, "ver")
    v1 = c.put_object(Bucket="ver", Key="k", Body=b"one")["VersionId"]
    v2 = c.put_object(Bucket="ver", Key="k", Body=b"two")["VersionId"]
    assert v1 != v2 and v1 != "null"
    got = c.get_object(Bucket="ver", Key="k")
    assert got["Body"].read() == b"two" and got["VersionId"] == v2
    old = c.get_object(Bucket="ver", Key="k", VersionId=v1)
    assert old["Body"].read() == b"one" and old["VersionId"] == v1
    assert c.head_object(Bucket="ver", Key="k", VersionId=v1)["ContentLength"] == 3

    d = c.delete_object(Bucket="ver", Key="k")
    assert d["DeleteMarker"] is True
    marker = d["VersionId"]
    assert marker not in (v1, v2)
    # GET of the key: 404 NoSuchKey with the marker's headers.
    with pytest.raises(ClientError) as e:
        c.get_object(Bucket="ver", Key="k")
    assert code(e) == "NoSuchKey"
    h = e.value.response["ResponseMetadata"]["HTTPHeaders"]
    assert h["x-amz-delete-marker"] == "true" and h["x-amz-version-id"] == marker
    # GET of the marker's version: 405 MethodNotAllowed.
    r = requests.get(f"{server.endpoint}/ver/k", params={"versionId": marker})
    assert r.status_code == 405 and b"MethodNotAllowed" in r.content
    assert r.headers["x-amz-delete-marker"] == "true"
    # Older versions stay readable; listings skip the key.
    assert c.get_object(Bucket="ver", Key="k", VersionId=v2)["Body"].read() == b"two"
    assert c.list_objects_v2(Bucket="ver").get("KeyCount") == 0

    lv = c.list_object_versions(Bucket="ver")
    assert [(v["VersionId"], v["IsLatest"]) for v in lv["Versions"]] == [(v2, False), (v1, False)]
    assert [(m["VersionId"], m["IsLatest"]) for m in lv["DeleteMarkers"]] == [(marker, True)]

    # Deleting the marker brings the object back.
    d = c.delete_object(Bucket="ver", Key="k", VersionId=marker)
    assert d["DeleteMarker"] is True and d["VersionId"] == marker
    assert c.get_object(Bucket="ver", Key="k")["Body"].read() == b"two"
    # Deleting the newest version for good makes the previous one current.
    d = c.delete_object(Bucket="ver", Key="k", VersionId=v2)
    assert d["VersionId"] == v2 and "DeleteMarker" not in d
    assert c.get_object(Bucket="ver", Key="k")["Body"].read() == b"one"
    with pytest.raises(ClientError) as e:
        c.get_object(Bucket="ver", Key="k", VersionId=v2)
    assert code(e) == "NoSuchVersion"
    with pytest.raises(ClientError) as e:
        c.get_object(Bucket="ver", Key="k", VersionId="not-a-version")
    assert code(e) == "InvalidArgument"

    # A versioned bucket with only old versions or markers is not empty.
    c.delete_object(Bucket="ver", Key="k")
    with pytest.raises(ClientError) as e:
        c.delete_bucket(Bucket="ver")
    assert code(e) == "BucketNotEmpty"


def test_null_versions_and_suspended(server):
    c = s3(server)
    c.create_bucket(Bucket="nul")
    r = c.put_object(Bucket="nul", Key="k", Body=b"before")
    assert "VersionId" not in r
    assert "VersionId" not in c.get_object(Bucket="nul", Key="k")
    c.put_bucket_versioning(Bucket="nul", VersioningConfiguration={"Status": "Enabled"})
    # The object written before versioning is the null version.
    assert c.get_object(Bucket="nul", Key="k")["VersionId"] == "null"
    v1 = c.put_object(Bucket="nul", Key="k", Body=b"v1")["VersionId"]
    assert c.get_object(Bucket="nul", Key="k", VersionId="null")["Body"].read() == b"before"

    c.put_bucket_versioning(Bucket="nul", VersioningConfiguration={"Status": "Suspended"})
    assert c.put_object(Bucket="nul", Key="k", Body=b"s1")["VersionId"] == "null"
    # A second write while suspended replaces the null version.
    c.put_object(Bucket="nul", Key="k", Body=b"s2")
    vs = c.list_object_versions(Bucket="nul")["Versions"]
    assert [(v["VersionId"], v["IsLatest"], v["Size"]) for v in vs] == [("null", True, 2), (v1, False, 2)]
    assert c.get_object(Bucket="nul", Key="k", VersionId="null")["Body"].read() == b"s2"
    # DeleteObject while suspended: a null delete marker replaces the null version.
    d = c.delete_object(Bucket="nul", Key="k")
    assert d["DeleteMarker"] is True and d["VersionId"] == "null"
    lv = c.list_object_versions(Bucket="nul")
    assert [v["VersionId"] for v in lv["Versions"]] == [v1]
    assert [(m["VersionId"], m["IsLatest"]) for m in lv["DeleteMarkers"]] == [("null", True)]


def test_list_object_versions_pagination_prefix_delimiter(server):
    c = s3(server)
    versioned(c, "pages")
    ids = {}
    for key in ["a", "b", "dir/x", "dir/y"]:
        ids[key] = [c.put_object(Bucket="pages", Key=key, Body=key.encode() * n)["VersionId"] for n in (1, 2)]
    c.delete_object(Bucket="pages", Key="b")

    seen = []
    kw = {}
    while True:
        r = c.list_object_versions(Bucket="pages", MaxKeys=2, **kw)
        entries = [(v["Key"], v["VersionId"], v["IsLatest"]) for v in r.get("Versions", []) + r.get("DeleteMarkers", [])]
        assert len(entries) <= 2
        seen += entries
        if not r["IsTruncated"]:
            break
        kw = {"KeyMarker": r["NextKeyMarker"], "VersionIdMarker": r["NextVersionIdMarker"]}
    assert len(seen) == 9
    latest = {(k, v) for k, v, is_latest in seen if is_latest}
    assert ("a", ids["a"][1]) in latest and ("dir/y", ids["dir/y"][1]) in latest
    assert ("b", ids["b"][1]) not in latest  # the delete marker is b's latest
    assert sum(1 for k, _, is_latest in seen if is_latest) == 4

    r = c.list_object_versions(Bucket="pages", Delimiter="/")
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["dir/"]
    assert {v["Key"] for v in r["Versions"]} == {"a", "b"}
    r = c.list_object_versions(Bucket="pages", Prefix="dir/", KeyMarker="dir/x")
    assert [(v["Key"], v["VersionId"]) for v in r["Versions"]] == [("dir/y", ids["dir/y"][1]), ("dir/y", ids["dir/y"][0])]
    with pytest.raises(ClientError) as e:
        c.list_object_versions(Bucket="pages", VersionIdMarker=ids["a"][0])
    assert code(e) == "InvalidArgument"


def test_delete_objects_copy_and_tagging_with_versions(server):
    c = s3(server)
    versioned(c, "multi")
    v1 = c.put_object(Bucket="multi", Key="a", Body=b"a1")["VersionId"]
    v2 = c.put_object(Bucket="multi", Key="a", Body=b"a2")["VersionId"]
    c.put_object(Bucket="multi", Key="b", Body=b"b1")
    r = c.delete_objects(Bucket="multi", Delete={"Objects": [{"Key": "a", "VersionId": v1}, {"Key": "b"}]})
    by_key = {d["Key"]: d for d in r["Deleted"]}
    assert by_key["a"]["VersionId"] == v1
    assert by_key["b"]["DeleteMarker"] is True and by_key["b"]["DeleteMarkerVersionId"]
    assert [v["VersionId"] for v in c.list_object_versions(Bucket="multi", Prefix="a")["Versions"]] == [v2]

    # Copy from an older version.
    v3 = c.put_object(Bucket="multi", Key="a", Body=b"a3")["VersionId"]
    cp = c.copy_object(Bucket="multi", Key="copy", CopySource={"Bucket": "multi", "Key": "a", "VersionId": v2})
    assert cp["CopySourceVersionId"] == v2 and cp["VersionId"] not in (v2, v3)
    assert c.get_object(Bucket="multi", Key="copy")["Body"].read() == b"a2"
    marker = by_key["b"]["DeleteMarkerVersionId"]
    with pytest.raises(ClientError) as e:
        c.copy_object(Bucket="multi", Key="x", CopySource={"Bucket": "multi", "Key": "b", "VersionId": marker})
    assert code(e) == "InvalidRequest"
    with pytest.raises(ClientError) as e:
        c.copy_object(Bucket="multi", Key="x", CopySource={"Bucket": "multi", "Key": "b"})
    assert code(e) == "NoSuchKey"

    # Tags of one version.
    t = c.put_object_tagging(Bucket="multi", Key="a", VersionId=v2, Tagging={"TagSet": [{"Key": "old", "Value": "yes"}]})
    assert t["VersionId"] == v2
    assert c.get_object_tagging(Bucket="multi", Key="a", VersionId=v2)["TagSet"] == [{"Key": "old", "Value": "yes"}]
    assert c.get_object_tagging(Bucket="multi", Key="a")["TagSet"] == []
    assert c.get_object_tagging(Bucket="multi", Key="a")["VersionId"] == v3


def test_versions_survive_restart(server_factory, tmp_path):
    d = str(tmp_path / "data")
    srv = server_factory(data_dir=d)
    c = s3(srv)
    versioned(c, "keep")
    v1 = c.put_object(Bucket="keep", Key="k", Body=b"1")["VersionId"]
    c.put_object(Bucket="keep", Key="k", Body=b"2")
    srv.kill9()
    c = s3(server_factory(data_dir=d))
    assert c.get_object(Bucket="keep", Key="k", VersionId=v1)["Body"].read() == b"1"
    assert c.get_object(Bucket="keep", Key="k")["Body"].read() == b"2"
    assert len(c.list_object_versions(Bucket="keep")["Versions"]) == 2


def test_versioned_events(server):
    from test_s3_notifications import config_for, create_function, read_json, wait_object

    c = server.client("s3")
    lam = server.client("lambda")
    versioned(c, "vphotos")
    arn = create_function(lam)
    c.put_bucket_notification_configuration(Bucket="vphotos", NotificationConfiguration=config_for(arn))
    put = c.put_object(Bucket="vphotos", Key="input/cat.jpg", Body=b"\xff\xd8cat")
    assert wait_object(c, "vphotos", "output/event-cat.jpg.json"), "no ObjectCreated event"
    rec = read_json(c, "vphotos", "output/event-cat.jpg.json")["event"]["Records"][0]
    assert rec["eventName"] == "ObjectCreated:Put"
    assert rec["s3"]["object"]["versionId"] == put["VersionId"]
    d = c.delete_object(Bucket="vphotos", Key="input/cat.jpg")
    assert wait_object(c, "vphotos", "output/event-deleted-cat.jpg.json"), "no DeleteMarkerCreated event"
    rec = read_json(c, "vphotos", "output/event-deleted-cat.jpg.json")["event"]["Records"][0]
    assert rec["eventName"] == "ObjectRemoved:DeleteMarkerCreated"
    assert rec["s3"]["object"]["versionId"] == d["VersionId"]
    assert set(rec["s3"]["object"]) == {"key", "versionId", "sequencer"}
    # Removing a version for good is ObjectRemoved:Delete, with that version's id.
    c.delete_object(Bucket="vphotos", Key="input/cat.jpg", VersionId=put["VersionId"])

    def deleted_for_good():
        try:
            rec = read_json(c, "vphotos", "output/event-deleted-cat.jpg.json")["event"]["Records"][0]
        except Exception:
            return False
        return rec["eventName"] == "ObjectRemoved:Delete" and rec["s3"]["object"]["versionId"] == put["VersionId"]

    from conftest import wait_until
    assert wait_until(deleted_for_good, timeout=15.0)


def test_tagging_events(server):
    from test_s3_notifications import create_function, read_json, wait_object

    c = server.client("s3")
    c.create_bucket(Bucket="tagev")
    arn = create_function(server.client("lambda"))
    rules = {"Key": {"FilterRules": [{"Name": "prefix", "Value": "input/"}]}}
    c.put_bucket_notification_configuration(Bucket="tagev", NotificationConfiguration={"LambdaFunctionConfigurations": [
        {"Id": "tags", "LambdaFunctionArn": arn, "Events": ["s3:ObjectTagging:*"], "Filter": rules},
    ]})
    c.put_object(Bucket="tagev", Key="input/t.jpg", Body=b"x")
    c.put_object_tagging(Bucket="tagev", Key="input/t.jpg", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]})
    # The test function records non-ObjectCreated events as output/event-deleted-<name>.json.
    assert wait_object(c, "tagev", "output/event-deleted-t.jpg.json"), "no ObjectTagging event"
    rec = read_json(c, "tagev", "output/event-deleted-t.jpg.json")["event"]["Records"][0]
    assert rec["eventName"] == "ObjectTagging:Put"
    assert rec["eventVersion"] == "2.3"
    assert rec["s3"]["configurationId"] == "tags"
