"""S3 bucket configuration against the real binary: tagging, CORS (stored and applied to
browser requests), bucket policies, ACLs as BucketOwnerEnforced buckets have them."""

import json

import pytest
import requests
from botocore.exceptions import ClientError

from test_s3 import code, s3


def test_bucket_tagging(server):
    c = s3(server)
    c.create_bucket(Bucket="tags")
    with pytest.raises(ClientError) as e:
        c.get_bucket_tagging(Bucket="tags")
    assert code(e) == "NoSuchTagSet"
    c.put_bucket_tagging(Bucket="tags", Tagging={"TagSet": [{"Key": "team", "Value": "a"}, {"Key": "env", "Value": "dev"}]})
    assert c.get_bucket_tagging(Bucket="tags")["TagSet"] == [{"Key": "team", "Value": "a"}, {"Key": "env", "Value": "dev"}]
    with pytest.raises(ClientError) as e:
        c.put_bucket_tagging(Bucket="tags", Tagging={"TagSet": [{"Key": "x", "Value": "1"}, {"Key": "x", "Value": "2"}]})
    assert code(e) == "InvalidTag"
    with pytest.raises(ClientError) as e:
        c.put_bucket_tagging(Bucket="tags", Tagging={"TagSet": [{"Key": "aws:x", "Value": "1"}]})
    assert code(e) == "InvalidTag"
    c.delete_bucket_tagging(Bucket="tags")
    with pytest.raises(ClientError) as e:
        c.get_bucket_tagging(Bucket="tags")
    assert code(e) == "NoSuchTagSet"
    with pytest.raises(ClientError) as e:
        c.get_bucket_tagging(Bucket="missing")
    assert code(e) == "NoSuchBucket"


CORS = {
    "CORSRules": [
        {
            "ID": "web",
            "AllowedOrigins": ["https://*.example.com"],
            "AllowedMethods": ["GET", "PUT"],
            "AllowedHeaders": ["content-type", "x-amz-*"],
            "ExposeHeaders": ["ETag"],
            "MaxAgeSeconds": 600,
        }
    ]
}


def test_cors_configuration_and_preflight(server):
    c = s3(server)
    c.create_bucket(Bucket="web")
    with pytest.raises(ClientError) as e:
        c.get_bucket_cors(Bucket="web")
    assert code(e) == "NoSuchCORSConfiguration"
    url = f"{server.endpoint}/web/page.html"
    # No configuration: preflight refused.
    r = requests.options(url, headers={"Origin": "https://app.example.com", "Access-Control-Request-Method": "GET"})
    assert r.status_code == 403 and b"CORSResponse" in r.content

    c.put_bucket_cors(Bucket="web", CORSConfiguration=CORS)
    assert c.get_bucket_cors(Bucket="web")["CORSRules"] == CORS["CORSRules"]
    with pytest.raises(ClientError) as e:
        c.put_bucket_cors(Bucket="web", CORSConfiguration={"CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}]})
    assert code(e) == "InvalidRequest"

    r = requests.options(url, headers={
        "Origin": "https://app.example.com",
        "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "content-type, x-amz-meta-a",
    })
    assert r.status_code == 200
    assert r.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert r.headers["Access-Control-Allow-Methods"] == "GET, PUT"
    assert r.headers["Access-Control-Allow-Headers"] == "content-type, x-amz-meta-a"
    assert r.headers["Access-Control-Max-Age"] == "600"
    assert r.headers["Access-Control-Expose-Headers"] == "ETag"

    for bad in [
        {"Origin": "https://evil.example.org", "Access-Control-Request-Method": "GET"},
        {"Origin": "https://app.example.com", "Access-Control-Request-Method": "DELETE"},
        {"Origin": "https://app.example.com", "Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "authorization"},
    ]:
        r = requests.options(url, headers=bad)
        assert r.status_code == 403, bad
        assert b"<Code>CORSResponse</Code>" in r.content
        assert b"This CORS request is not allowed." in r.content
    r = requests.options(url, headers={"Access-Control-Request-Method": "GET"})
    assert r.status_code == 400

    # The actual request gets the headers when a rule matches, and none otherwise.
    c.put_object(Bucket="web", Key="page.html", Body=b"<html/>")
    r = requests.get(url, headers={"Origin": "https://app.example.com"})
    assert r.status_code == 200 and r.content == b"<html/>"
    assert r.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert r.headers["Access-Control-Expose-Headers"] == "ETag"
    r = requests.get(url, headers={"Origin": "https://evil.example.org"})
    assert r.status_code == 200 and "Access-Control-Allow-Origin" not in r.headers
    # Virtual-hosted-style addressing finds the bucket's rules too.
    port = server.endpoint.rsplit(":", 1)[1]
    r = requests.options(f"{server.endpoint}/page.html", headers={
        "Host": f"web.s3.localhost:{port}", "Origin": "https://app.example.com", "Access-Control-Request-Method": "GET"})
    assert r.status_code == 200 and r.headers["Access-Control-Allow-Origin"] == "https://app.example.com"

    c.delete_bucket_cors(Bucket="web")
    with pytest.raises(ClientError) as e:
        c.get_bucket_cors(Bucket="web")
    assert code(e) == "NoSuchCORSConfiguration"


def test_bucket_policy(server):
    c = s3(server)
    c.create_bucket(Bucket="pol")
    with pytest.raises(ClientError) as e:
        c.get_bucket_policy(Bucket="pol")
    assert code(e) == "NoSuchBucketPolicy"
    policy = json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Sid": "read", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                       "Resource": "arn:aws:s3:::pol/*"}],
    })
    c.put_bucket_policy(Bucket="pol", Policy=policy)
    assert c.get_bucket_policy(Bucket="pol")["Policy"] == policy
    for bad, message in [
        ("not json", "Policies must be valid JSON and the first byte must be '{'"),
        (json.dumps({"Version": "2012-10-17"}), "Missing required field Statement"),
        (json.dumps({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}), "Missing required field Principal"),
        (json.dumps({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:*",
                                    "Resource": "arn:aws:s3:::other/*"}]}), "Policy has invalid resource"),
    ]:
        with pytest.raises(ClientError) as e:
            c.put_bucket_policy(Bucket="pol", Policy=bad)
        assert code(e) == "MalformedPolicy"
        assert e.value.response["Error"]["Message"] == message
    assert c.get_bucket_policy(Bucket="pol")["Policy"] == policy
    c.delete_bucket_policy(Bucket="pol")
    with pytest.raises(ClientError) as e:
        c.get_bucket_policy(Bucket="pol")
    assert code(e) == "NoSuchBucketPolicy"


def test_acls_are_bucket_owner_enforced(server):
    c = s3(server)
    c.create_bucket(Bucket="acl")
    c.put_object(Bucket="acl", Key="k", Body=b"x")
    acl = c.get_bucket_acl(Bucket="acl")
    owner = acl["Owner"]["ID"]
    assert len(owner) == 64
    assert acl["Grants"] == [{"Grantee": {"DisplayName": "nimbus", "ID": owner, "Type": "CanonicalUser"},
                              "Permission": "FULL_CONTROL"}]
    assert c.list_buckets()["Owner"]["ID"] == owner
    assert c.get_object_acl(Bucket="acl", Key="k")["Grants"] == acl["Grants"]
    c.put_bucket_acl(Bucket="acl", ACL="private")
    c.put_object_acl(Bucket="acl", Key="k", ACL="bucket-owner-full-control")
    for call in [
        lambda: c.put_bucket_acl(Bucket="acl", ACL="public-read"),
        lambda: c.put_object_acl(Bucket="acl", Key="k", ACL="public-read"),
        lambda: c.put_object(Bucket="acl", Key="pub", Body=b"x", ACL="public-read"),
        lambda: c.put_bucket_acl(Bucket="acl", GrantRead='uri="http://acs.amazonaws.com/groups/global/AllUsers"'),
    ]:
        with pytest.raises(ClientError) as e:
            call()
        assert code(e) == "AccessControlListNotSupported"
        assert e.value.response["Error"]["Message"] == "The bucket does not allow ACLs"
    with pytest.raises(ClientError) as e:
        c.head_object(Bucket="acl", Key="pub")
    assert e.value.response["Error"]["Code"] == "404"
    with pytest.raises(ClientError) as e:
        c.create_bucket(Bucket="public", ACL="public-read")
    assert code(e) == "InvalidBucketAclWithObjectOwnership"
    # Re-applying the ACL a Get returned (owner FULL_CONTROL) is accepted.
    c.put_bucket_acl(Bucket="acl", AccessControlPolicy={"Owner": acl["Owner"], "Grants": acl["Grants"]})
    rules = c.get_bucket_ownership_controls(Bucket="acl")["OwnershipControls"]["Rules"]
    assert rules == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    c.put_bucket_ownership_controls(Bucket="acl", OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
    with pytest.raises(ClientError) as e:
        c.put_bucket_ownership_controls(Bucket="acl", OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]})
    assert code(e) == "InvalidArgument"


def test_website_and_lifecycle_not_implemented(server):
    c = s3(server)
    c.create_bucket(Bucket="plain")
    for call in [
        lambda: c.get_bucket_lifecycle_configuration(Bucket="plain"),
        lambda: c.put_bucket_lifecycle_configuration(Bucket="plain", LifecycleConfiguration={"Rules": [
            {"ID": "r", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 1}}]}),
        lambda: c.get_bucket_website(Bucket="plain"),
        lambda: c.put_bucket_website(Bucket="plain", WebsiteConfiguration={"IndexDocument": {"Suffix": "index.html"}}),
    ]:
        with pytest.raises(ClientError) as e:
            call()
        assert code(e) == "NotImplemented"
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501


def test_unsupported_bucket_settings_are_refused(server):
    c = s3(server)
    with pytest.raises(ClientError) as e:
        c.create_bucket(Bucket="locked-bucket", ObjectLockEnabledForBucket=True)
    assert code(e) == "NotImplemented"
    with pytest.raises(ClientError) as e:
        c.head_bucket(Bucket="locked-bucket")
    assert e.value.response["Error"]["Code"] == "404"
    # s3s rejects a short name before the backend sees it: S3's message all the same.
    r = requests.put(f"{server.endpoint}/ab")
    assert r.status_code == 400
    assert b"<Code>InvalidBucketName</Code><Message>The specified bucket is not valid.</Message>" in r.content


def test_object_tag_limits(server):
    c = s3(server)
    c.create_bucket(Bucket="otags")
    eleven = "&".join(f"k{i}=v" for i in range(11))
    with pytest.raises(ClientError) as e:
        c.put_object(Bucket="otags", Key="k", Body=b"x", Tagging=eleven)
    assert code(e) == "BadRequest"
    with pytest.raises(ClientError) as e:
        c.put_object(Bucket="otags", Key="k", Body=b"x", Tagging="a=1&a=2")
    assert code(e) == "InvalidTag"
    assert c.list_objects_v2(Bucket="otags")["KeyCount"] == 0
    c.put_object(Bucket="otags", Key="k", Body=b"x", Tagging="a=1&b=2")
    assert c.get_object_tagging(Bucket="otags", Key="k")["TagSet"] == [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]
    with pytest.raises(ClientError) as e:
        c.put_object_tagging(Bucket="otags", Key="k", Tagging={"TagSet": [{"Key": f"k{i}", "Value": "v"} for i in range(11)]})
    assert code(e) == "BadRequest"
