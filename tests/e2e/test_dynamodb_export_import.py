"""DynamoDB ExportTableToPointInTime / ImportTable through Nimbus' S3, against the real binary, with boto3."""

import base64
import csv
import datetime
import gzip
import hashlib
import io
import json
import re
import time

import pytest
from botocore.exceptions import ClientError


def err(e):
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


ITEMS = [
    {"pk": {"S": "a"}, "sk": {"N": "1"}, "g": {"S": "x"}, "n": {"N": "3.5"}, "b": {"B": b"\x00\x01bin"}},
    {"pk": {"S": "a"}, "sk": {"N": "2"}, "ss": {"SS": ["p", "q"]}, "m": {"M": {"k": {"L": [{"S": "v"}, {"BOOL": True}, {"NULL": True}]}}}},
    {"pk": {"S": "b"}, "sk": {"N": "1"}, "g": {"S": "y"}, "ns": {"NS": ["1", "2"]}},
    {"pk": {"S": "c"}, "sk": {"N": "7"}, "s": {"S": "é ünïcode"}},
]


def make_table(ddb, name, pitr=True):
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
            {"AttributeName": "g", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[{
            "IndexName": "byG",
            "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "ALL"},
        }],
        BillingMode="PAY_PER_REQUEST",
    )
    if pitr:
        ddb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    return ddb.describe_table(TableName=name)["Table"]["TableArn"]


def scan_all(ddb, name):
    items, start = [], None
    while True:
        args = {"TableName": name}
        if start:
            args["ExclusiveStartKey"] = start
        page = ddb.scan(**args)
        items.extend(page["Items"])
        start = page.get("LastEvaluatedKey")
        if not start:
            return items


def key_of(item):
    return (item["pk"]["S"], item["sk"]["N"])


def normalise(item):
    """Sets compare as sets; binary as bytes."""
    out = {}
    for k, v in item.items():
        (t, x), = v.items()
        if t in ("SS", "NS"):
            x = sorted(x)
        if t == "BS":
            x = sorted(bytes(b) for b in x)
        if t == "B":
            x = bytes(x)
        out[k] = {t: x}
    return out


def from_export_json(item):
    """An item of an export data file (binary as base64) as boto3 returns items."""
    out = {}
    for k, v in item.items():
        (t, x), = v.items()
        if t == "B":
            x = base64.b64decode(x)
        out[k] = {t: x}
    return out


def s3_keys(s3, bucket, prefix=""):
    keys, token = [], None
    while True:
        args = {"Bucket": bucket, "Prefix": prefix}
        if token:
            args["ContinuationToken"] = token
        page = s3.list_objects_v2(**args)
        keys += [o["Key"] for o in page.get("Contents", [])]
        token = page.get("NextContinuationToken")
        if not token:
            return keys


def body(s3, bucket, key):
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def exported(server, name="src", bucket="exports", prefix="nightly"):
    """A table with ITEMS, changed after `t1`, and its export at `t1`."""
    ddb, s3 = server.client("dynamodb"), server.client("s3")
    s3.create_bucket(Bucket=bucket)
    arn = make_table(ddb, name)
    for it in ITEMS:
        ddb.put_item(TableName=name, Item=it)
    # botocore sends whole seconds: keep a second between the writes and t1 on each side.
    time.sleep(1.1)
    t1 = datetime.datetime.now(datetime.timezone.utc)
    time.sleep(1.1)
    # Changes after the export time must not be in the export.
    ddb.delete_item(TableName=name, Key={"pk": {"S": "a"}, "sk": {"N": "1"}})
    ddb.put_item(TableName=name, Item={"pk": {"S": "z"}, "sk": {"N": "9"}})
    resp = ddb.export_table_to_point_in_time(TableArn=arn, ExportTime=t1, S3Bucket=bucket, S3Prefix=prefix)
    return ddb, s3, arn, resp["ExportDescription"]


def test_export_writes_aws_layout_and_every_item(server):
    ddb, s3, table_arn, d = exported(server)
    assert d["ExportStatus"] == "COMPLETED"
    assert re.fullmatch(re.escape(table_arn) + r"/export/\d{14}-[0-9a-f]{8}", d["ExportArn"]), d["ExportArn"]
    export_id = d["ExportArn"].rsplit("/", 1)[1]
    assert d["TableArn"] == table_arn and d["TableId"]
    assert d["S3Bucket"] == "exports" and d["S3Prefix"] == "nightly"
    assert d["ExportFormat"] == "DYNAMODB_JSON" and d["ExportType"] == "FULL_EXPORT"
    assert d["ItemCount"] == len(ITEMS) and d["BilledSizeBytes"] > 0
    assert d["StartTime"] <= d["EndTime"]
    assert d["ExportTime"] < d["StartTime"] - datetime.timedelta(seconds=1)
    assert d["ClientToken"]
    base = f"nightly/AWSDynamoDB/{export_id}"
    assert d["ExportManifest"] == f"{base}/manifest-summary.json"

    keys = s3_keys(s3, "exports")
    data_keys = [k for k in keys if k.startswith(f"{base}/data/")]
    assert sorted(set(keys) - set(data_keys)) == sorted(
        f"{base}/{f}" for f in ["_started", "manifest-files.json", "manifest-files.md5", "manifest-summary.json", "manifest-summary.md5"]
    )
    assert body(s3, "exports", f"{base}/_started") == b""
    assert len(data_keys) == 1 and re.fullmatch(re.escape(base) + r"/data/[a-z2-7]{26}\.json\.gz", data_keys[0])

    summary_raw = body(s3, "exports", d["ExportManifest"])
    summary = json.loads(summary_raw)
    assert summary["version"] == "2020-06-30"
    assert summary["exportArn"] == d["ExportArn"] and summary["tableArn"] == table_arn and summary["tableId"] == d["TableId"]
    assert summary["s3Bucket"] == "exports" and summary["s3Prefix"] == "nightly"
    assert summary["manifestFilesS3Key"] == f"{base}/manifest-files.json"
    assert summary["itemCount"] == len(ITEMS) and summary["billedSizeBytes"] == d["BilledSizeBytes"]
    assert summary["outputFormat"] == "DYNAMODB_JSON" and summary["exportType"] == "FULL_EXPORT"
    for f in ("startTime", "endTime", "exportTime"):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", summary[f]), summary[f]
    md5 = lambda b: base64.b64encode(hashlib.md5(b).digest()).decode()
    assert body(s3, "exports", f"{base}/manifest-summary.md5").decode() == md5(summary_raw)

    files_raw = body(s3, "exports", f"{base}/manifest-files.json")
    assert body(s3, "exports", f"{base}/manifest-files.md5").decode() == md5(files_raw)
    lines = [json.loads(l) for l in files_raw.decode().splitlines()]
    assert len(lines) == 1
    entry = lines[0]
    assert entry["dataFileS3Key"] == data_keys[0] and entry["itemCount"] == len(ITEMS)
    data = body(s3, "exports", data_keys[0])
    assert entry["md5Checksum"] == md5(data)
    assert entry["etag"] == hashlib.md5(data).hexdigest()

    rows = [json.loads(l) for l in gzip.decompress(data).decode("utf-8").splitlines()]
    assert all(list(r) == ["Item"] for r in rows)
    got = sorted((normalise(from_export_json(r["Item"])) for r in rows), key=key_of)
    assert got == sorted((normalise(i) for i in ITEMS), key=key_of)


def test_export_objects_are_versioned_like_puts(server):
    ddb, s3 = server.client("dynamodb"), server.client("s3")
    s3.create_bucket(Bucket="versioned")
    s3.put_bucket_versioning(Bucket="versioned", VersioningConfiguration={"Status": "Enabled"})
    arn = make_table(ddb, "v")
    ddb.put_item(TableName="v", Item=ITEMS[0])
    d = ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket="versioned")["ExportDescription"]
    assert d["ExportStatus"] == "COMPLETED" and "S3Prefix" not in d
    assert d["ExportManifest"].startswith("AWSDynamoDB/")
    versions = s3.list_object_versions(Bucket="versioned")["Versions"]
    assert len(versions) == 6
    assert all(v["VersionId"] not in (None, "null") and v["IsLatest"] for v in versions)


def test_import_of_an_export_recreates_the_table(server):
    ddb, s3, _, d = exported(server)
    export_id = d["ExportArn"].rsplit("/", 1)[1]
    resp = ddb.import_table(
        S3BucketSource={"S3Bucket": "exports", "S3KeyPrefix": f"nightly/AWSDynamoDB/{export_id}/data/"},
        InputFormat="DYNAMODB_JSON",
        InputCompressionType="GZIP",
        TableCreationParameters={
            "TableName": "copy",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            "AttributeDefinitions": [
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "N"},
                {"AttributeName": "g", "AttributeType": "S"},
            ],
            "BillingMode": "PAY_PER_REQUEST",
            "GlobalSecondaryIndexes": [{
                "IndexName": "byG",
                "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }],
        },
    )
    imp = resp["ImportTableDescription"]
    table = ddb.describe_table(TableName="copy")["Table"]
    assert re.fullmatch(re.escape(table["TableArn"]) + r"/import/\d{14}-[0-9a-f]{8}", imp["ImportArn"]), imp["ImportArn"]
    assert imp["ImportStatus"] == "COMPLETED"
    assert imp["TableArn"] == table["TableArn"] and imp["TableId"] == table["TableId"]
    assert imp["ProcessedItemCount"] == len(ITEMS) and imp["ImportedItemCount"] == len(ITEMS) and imp["ErrorCount"] == 0
    assert imp["ProcessedSizeBytes"] > 0
    assert imp["InputFormat"] == "DYNAMODB_JSON" and imp["InputCompressionType"] == "GZIP"
    assert imp["TableCreationParameters"]["TableName"] == "copy"
    assert imp["S3BucketSource"]["S3Bucket"] == "exports"
    assert table["ItemCount"] == len(ITEMS)
    got = sorted((normalise(i) for i in scan_all(ddb, "copy")), key=key_of)
    assert got == sorted((normalise(i) for i in ITEMS), key=key_of)
    # The index was filled through the normal write path.
    by_g = ddb.query(TableName="copy", IndexName="byG", KeyConditionExpression="g = :g", ExpressionAttributeValues={":g": {"S": "y"}})
    assert [key_of(i) for i in by_g["Items"]] == [("b", "1")]

    same = ddb.describe_import(ImportArn=imp["ImportArn"])["ImportTableDescription"]
    assert same["ImportStatus"] == "COMPLETED" and same["ImportedItemCount"] == len(ITEMS) and same["EndTime"]
    listed = ddb.list_imports(TableArn=table["TableArn"])["ImportSummaryList"]
    assert [i["ImportArn"] for i in listed] == [imp["ImportArn"]]
    assert listed[0]["ImportStatus"] == "COMPLETED" and listed[0]["InputFormat"] == "DYNAMODB_JSON"


def test_import_json_counts_bad_lines(server):
    ddb, s3 = server.client("dynamodb"), server.client("s3")
    s3.create_bucket(Bucket="src")
    lines = [
        json.dumps({"Item": {"id": {"S": "1"}, "v": {"N": "10"}}}),
        "this is not json",
        json.dumps({"Item": {"v": {"N": "1"}}}),  # no key attribute
        json.dumps({"Item": {"id": {"N": "2"}}}),  # key of the wrong type
        "",
        json.dumps({"Item": {"id": {"S": "3"}}}),
    ]
    s3.put_object(Bucket="src", Key="in/part-1.json", Body="\n".join(lines).encode())
    imp = ddb.import_table(
        S3BucketSource={"S3Bucket": "src", "S3KeyPrefix": "in/"},
        InputFormat="DYNAMODB_JSON",
        TableCreationParameters={
            "TableName": "plain",
            "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
        },
    )["ImportTableDescription"]
    assert imp["InputCompressionType"] == "NONE"
    assert (imp["ProcessedItemCount"], imp["ImportedItemCount"], imp["ErrorCount"]) == (5, 2, 3)
    assert sorted(i["id"]["S"] for i in scan_all(ddb, "plain")) == ["1", "3"]


def test_import_consumes_no_write_capacity(server):
    ddb, s3 = server.client("dynamodb"), server.client("s3")
    s3.create_bucket(Bucket="bulk")
    rows = "\n".join(json.dumps({"Item": {"id": {"S": f"k{i:03}"}, "pad": {"S": "x" * 2000}}}) for i in range(200))
    s3.put_object(Bucket="bulk", Key="rows.json.gz", Body=gzip.compress(rows.encode()))
    imp = ddb.import_table(
        S3BucketSource={"S3Bucket": "bulk"},
        InputFormat="DYNAMODB_JSON",
        InputCompressionType="GZIP",
        TableCreationParameters={
            "TableName": "tiny",
            "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
            "BillingMode": "PROVISIONED",
            "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
        },
    )["ImportTableDescription"]
    # 200 writes of 2 KB at 1 WCU would throttle through PutItem; an import is not throttled.
    assert (imp["ImportedItemCount"], imp["ErrorCount"]) == (200, 0)
    table = ddb.describe_table(TableName="tiny")["Table"]
    assert table["ItemCount"] == 200 and table["ProvisionedThroughput"]["WriteCapacityUnits"] == 1


def test_csv_import_types_keys_from_attribute_definitions(server):
    ddb, s3 = server.client("dynamodb"), server.client("s3")
    s3.create_bucket(Bucket="csv")
    text = 'user,ts,name,note\nann,1,Ann,"hello, ""world"""\nbob,2,Bob,\nbad,notanumber,X,y\nshort,3\n'
    s3.put_object(Bucket="csv", Key="users/a.csv", Body=text.encode())
    s3.put_object(Bucket="csv", Key="users/b.csv.gz", Body=gzip.compress(b"user,ts,name,note\ncat,3,Cat,multi\n"))
    params = {
        "KeySchema": [{"AttributeName": "user", "KeyType": "HASH"}, {"AttributeName": "ts", "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": "user", "AttributeType": "S"}, {"AttributeName": "ts", "AttributeType": "N"}],
        "BillingMode": "PAY_PER_REQUEST",
    }
    imp = ddb.import_table(
        S3BucketSource={"S3Bucket": "csv", "S3KeyPrefix": "users/a"},
        InputFormat="CSV",
        TableCreationParameters={"TableName": "users", **params},
    )["ImportTableDescription"]
    assert (imp["ProcessedItemCount"], imp["ImportedItemCount"], imp["ErrorCount"]) == (4, 2, 2)
    items = {i["user"]["S"]: i for i in scan_all(ddb, "users")}
    assert items["ann"] == {"user": {"S": "ann"}, "ts": {"N": "1"}, "name": {"S": "Ann"}, "note": {"S": 'hello, "world"'}}
    assert items["bob"] == {"user": {"S": "bob"}, "ts": {"N": "2"}, "name": {"S": "Bob"}}

    # HeaderList, another delimiter, and gzip: every line is data.
    s3.put_object(Bucket="csv", Key="piped/p.csv.gz", Body=gzip.compress(b"dan|4|Dan\neve|5|Eve\n"))
    imp = ddb.import_table(
        S3BucketSource={"S3Bucket": "csv", "S3KeyPrefix": "piped/"},
        InputFormat="CSV",
        InputCompressionType="GZIP",
        InputFormatOptions={"Csv": {"Delimiter": "|", "HeaderList": ["user", "ts", "name"]}},
        TableCreationParameters={"TableName": "piped", **params},
    )["ImportTableDescription"]
    assert imp["InputFormatOptions"] == {"Csv": {"Delimiter": "|", "HeaderList": ["user", "ts", "name"]}}
    assert (imp["ImportedItemCount"], imp["ErrorCount"]) == (2, 0)
    got = ddb.get_item(TableName="piped", Key={"user": {"S": "eve"}, "ts": {"N": "5"}})["Item"]
    assert got == {"user": {"S": "eve"}, "ts": {"N": "5"}, "name": {"S": "Eve"}}


def test_export_errors(server):
    ddb, s3 = server.client("dynamodb"), server.client("s3")
    s3.create_bucket(Bucket="bkt")
    no_pitr = make_table(ddb, "nopitr", pitr=False)
    with pytest.raises(ClientError) as e:
        ddb.export_table_to_point_in_time(TableArn=no_pitr, S3Bucket="bkt")
    assert err(e)[0] == "PointInTimeRecoveryUnavailableException"

    arn = make_table(ddb, "t")
    missing = arn.replace("table/t", "table/missing")
    with pytest.raises(ClientError) as e:
        ddb.export_table_to_point_in_time(TableArn=missing, S3Bucket="bkt")
    assert err(e)[0] == "TableNotFoundException"
    future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)
    for at in (future, past):
        with pytest.raises(ClientError) as e:
            ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket="bkt", ExportTime=at)
        assert err(e)[0] == "InvalidExportTimeException"
    with pytest.raises(ClientError) as e:
        ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket="bkt", ExportFormat="ION")
    assert err(e)[0] == "ValidationException" and "ION" in err(e)[1] and "Nimbus" in err(e)[1]
    with pytest.raises(ClientError) as e:
        ddb.export_table_to_point_in_time(
            TableArn=arn, S3Bucket="bkt", ExportType="INCREMENTAL_EXPORT",
            IncrementalExportSpecification={"ExportFromTime": past, "ExportToTime": future},
        )
    assert err(e)[0] == "ValidationException" and "INCREMENTAL_EXPORT" in err(e)[1]

    # Idempotency: the same token and parameters name the same export.
    first = ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket="bkt", ClientToken="tok-1")["ExportDescription"]
    again = ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket="bkt", ClientToken="tok-1")["ExportDescription"]
    assert again["ExportArn"] == first["ExportArn"] and again["ClientToken"] == "tok-1"
    assert len([k for k in s3_keys(s3, "bkt") if k.endswith("manifest-summary.json")]) == 1
    with pytest.raises(ClientError) as e:
        ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket="bkt", S3Prefix="other", ClientToken="tok-1")
    assert err(e)[0] == "ExportConflictException"

    # S3 failures end the export FAILED.
    failed = ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket="no-such-bucket")["ExportDescription"]
    assert failed["ExportStatus"] == "FAILED" and failed["FailureCode"] == "NoSuchBucket" and failed["FailureMessage"]
    assert "ExportManifest" not in failed and "ItemCount" not in failed
    assert ddb.describe_export(ExportArn=failed["ExportArn"])["ExportDescription"]["ExportStatus"] == "FAILED"
    denied = ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket="bkt", S3BucketOwner="999999999999")["ExportDescription"]
    assert denied["ExportStatus"] == "FAILED" and denied["FailureCode"] == "AccessDenied"

    with pytest.raises(ClientError) as e:
        ddb.describe_export(ExportArn=arn + "/export/01234567890123-abcdef01")
    assert err(e)[0] == "ExportNotFoundException"

    # ListExports: all of them, filtered by table, and paged.
    all_arns = [x["ExportArn"] for x in ddb.list_exports()["ExportSummaries"]]
    assert all_arns == [first["ExportArn"], failed["ExportArn"], denied["ExportArn"]]
    assert ddb.list_exports(TableArn=no_pitr)["ExportSummaries"] == []
    seen, token = [], None
    while True:
        page = ddb.list_exports(TableArn=arn, MaxResults=1, **({"NextToken": token} if token else {}))
        assert len(page["ExportSummaries"]) <= 1
        seen += [(x["ExportArn"], x["ExportStatus"], x["ExportType"]) for x in page["ExportSummaries"]]
        token = page.get("NextToken")
        if not token:
            break
    assert [s[0] for s in seen] == all_arns
    assert [s[1] for s in seen] == ["COMPLETED", "FAILED", "FAILED"] and {s[2] for s in seen} == {"FULL_EXPORT"}


def test_import_errors(server):
    ddb, s3 = server.client("dynamodb"), server.client("s3")
    s3.create_bucket(Bucket="bkt")
    s3.put_object(Bucket="bkt", Key="d/x.json", Body=json.dumps({"Item": {"id": {"S": "1"}}}).encode())
    params = {
        "TableName": "imp",
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
    }
    src = {"S3Bucket": "bkt", "S3KeyPrefix": "d/"}
    for kw, needle in (
        ({"InputFormat": "ION"}, "ION"),
        ({"InputFormat": "DYNAMODB_JSON", "InputCompressionType": "ZSTD"}, "ZSTD"),
        ({"InputFormat": "DYNAMODB_JSON", "InputFormatOptions": {"Csv": {"Delimiter": ","}}}, "CSV"),
    ):
        with pytest.raises(ClientError) as e:
            ddb.import_table(S3BucketSource=src, TableCreationParameters=params, **kw)
        assert err(e)[0] == "ValidationException" and needle in err(e)[1]
    with pytest.raises(ClientError) as e:
        ddb.import_table(S3BucketSource=src, InputFormat="CSV", InputFormatOptions={"Csv": {"Delimiter": "ab"}}, TableCreationParameters=params)
    assert err(e)[0] == "ValidationException"
    assert ddb.list_tables()["TableNames"] == []

    # A bucket that does not exist: FAILED, and no table is left behind.
    failed = ddb.import_table(S3BucketSource={"S3Bucket": "nope"}, InputFormat="DYNAMODB_JSON", TableCreationParameters=params)
    failed = failed["ImportTableDescription"]
    assert failed["ImportStatus"] == "FAILED" and failed["FailureCode"] == "NoSuchBucket" and failed["FailureMessage"]
    assert ddb.list_tables()["TableNames"] == []
    assert ddb.describe_import(ImportArn=failed["ImportArn"])["ImportTableDescription"]["ImportStatus"] == "FAILED"

    ok = ddb.import_table(S3BucketSource=src, InputFormat="DYNAMODB_JSON", TableCreationParameters=params, ClientToken="imp-1")
    ok = ok["ImportTableDescription"]
    assert ok["ImportStatus"] == "COMPLETED" and ok["ImportedItemCount"] == 1
    # A retry with the same token names the same import; other parameters conflict.
    again = ddb.import_table(S3BucketSource=src, InputFormat="DYNAMODB_JSON", TableCreationParameters=params, ClientToken="imp-1")
    assert again["ImportTableDescription"]["ImportArn"] == ok["ImportArn"]
    with pytest.raises(ClientError) as e:
        ddb.import_table(S3BucketSource=src, InputFormat="CSV", TableCreationParameters=params, ClientToken="imp-1")
    assert err(e)[0] == "ImportConflictException"
    # The table now exists.
    with pytest.raises(ClientError) as e:
        ddb.import_table(S3BucketSource=src, InputFormat="DYNAMODB_JSON", TableCreationParameters=params)
    assert err(e) == ("ResourceInUseException", "Table already exists: imp")

    with pytest.raises(ClientError) as e:
        ddb.describe_import(ImportArn=ok["ImportArn"].rsplit("/", 1)[0] + "/01234567890123-abcdef01")
    assert err(e)[0] == "ImportNotFoundException"
    arns = [i["ImportArn"] for i in ddb.list_imports()["ImportSummaryList"]]
    assert arns == [failed["ImportArn"], ok["ImportArn"]]
    page = ddb.list_imports(PageSize=1)
    assert [i["ImportArn"] for i in page["ImportSummaryList"]] == [failed["ImportArn"]]
    rest = ddb.list_imports(PageSize=1, NextToken=page["NextToken"])
    assert [i["ImportArn"] for i in rest["ImportSummaryList"]] == [ok["ImportArn"]] and "NextToken" not in rest


def test_records_survive_restart(server_factory):
    srv = server_factory()
    ddb, s3, _, d = exported(srv)
    export_id = d["ExportArn"].rsplit("/", 1)[1]
    imp = ddb.import_table(
        S3BucketSource={"S3Bucket": "exports", "S3KeyPrefix": f"nightly/AWSDynamoDB/{export_id}/data/"},
        InputFormat="DYNAMODB_JSON",
        InputCompressionType="GZIP",
        TableCreationParameters={
            "TableName": "copy",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"}],
            "BillingMode": "PAY_PER_REQUEST",
        },
    )["ImportTableDescription"]
    srv.kill9()
    srv2 = server_factory(data_dir=srv.data_dir)
    ddb2 = srv2.client("dynamodb")
    d2 = ddb2.describe_export(ExportArn=d["ExportArn"])["ExportDescription"]
    assert d2 == d
    assert [x["ExportArn"] for x in ddb2.list_exports()["ExportSummaries"]] == [d["ExportArn"]]
    i2 = ddb2.describe_import(ImportArn=imp["ImportArn"])["ImportTableDescription"]
    assert i2 == imp
    assert len(scan_all(ddb2, "copy")) == len(ITEMS)
