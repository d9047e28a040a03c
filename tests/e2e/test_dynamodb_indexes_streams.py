"""DynamoDB secondary indexes, Streams and TTL against the real binary, with boto3."""

import os
import re
import subprocess
import tempfile
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import BIN, Server


def err(e):
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


class TtlServer(Server):
    """A server with NIMBUS_DYNAMODB_TTL_INTERVAL_SECONDS set (the shared fixture strips NIMBUS_*)."""

    def __init__(self, data_dir, extra_env):
        super().__init__(data_dir)
        self.extra_env = extra_env

    def start(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("NIMBUS_")}
        env.update(self.extra_env)
        env["NIMBUS_LOG"] = "warn"
        self.proc = subprocess.Popen(
            [BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir", self.data_dir],
            stdout=subprocess.PIPE, stderr=None, env=env, text=True,
        )
        line = self.proc.stdout.readline()
        m = re.search(r"listening on (http://\S+)", line)
        if not m:
            self.proc.kill()
            raise RuntimeError(f"nimbus did not start: {line!r}")
        self.endpoint = m.group(1)
        return self


@pytest.fixture
def ttl_server():
    d = tempfile.TemporaryDirectory(prefix="nimbus-e2e-")
    s = TtlServer(d.name, {"NIMBUS_DYNAMODB_TTL_INTERVAL_SECONDS": "1"}).start()
    yield s
    s.stop()
    d.cleanup()


def s(v):
    return {"S": v}


def n(v):
    return {"N": str(v)}


def blog(ddb, projection=None):
    proj = projection or {"ProjectionType": "ALL"}
    ddb.create_table(
        TableName="BlogPosts",
        AttributeDefinitions=[{"AttributeName": "PostId", "AttributeType": "S"}, {"AttributeName": "Author", "AttributeType": "S"},
                              {"AttributeName": "Published", "AttributeType": "N"}],
        KeySchema=[{"AttributeName": "PostId", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[{"IndexName": "AuthorIndex",
                                 "KeySchema": [{"AttributeName": "Author", "KeyType": "HASH"}, {"AttributeName": "Published", "KeyType": "RANGE"}],
                                 "Projection": proj}],
        BillingMode="PAY_PER_REQUEST",
    )
    posts = [("P001", "alice", 3, "Hello"), ("P002", "bob", 1, "Rust"), ("P003", "alice", 1, "Streams"), ("P004", "carol", 2, "TTL")]
    for pid, author, pub, title in posts:
        ddb.put_item(TableName="BlogPosts", Item={"PostId": s(pid), "Author": s(author), "Published": n(pub), "Title": s(title), "Body": s("x" * 10)})


def test_seed_author_index(server):
    ddb = server.client("dynamodb")
    blog(ddb)
    r = ddb.query(TableName="BlogPosts", IndexName="AuthorIndex", KeyConditionExpression="Author = :a", ExpressionAttributeValues={":a": s("alice")})
    assert sorted(i["PostId"]["S"] for i in r["Items"]) == ["P001", "P003"]
    # Sorted by the index range key, both ways.
    assert [i["PostId"]["S"] for i in r["Items"]] == ["P003", "P001"]
    r = ddb.query(TableName="BlogPosts", IndexName="AuthorIndex", KeyConditionExpression="Author = :a AND Published > :p",
                  ExpressionAttributeValues={":a": s("alice"), ":p": n(1)}, ScanIndexForward=False)
    assert [i["PostId"]["S"] for i in r["Items"]] == ["P001"]
    assert r["Items"][0]["Title"] == s("Hello")
    # Writes keep the index in step: update the key attribute, delete an item.
    ddb.update_item(TableName="BlogPosts", Key={"PostId": s("P002")}, UpdateExpression="SET Author = :a", ExpressionAttributeValues={":a": s("alice")})
    ddb.delete_item(TableName="BlogPosts", Key={"PostId": s("P001")})
    r = ddb.query(TableName="BlogPosts", IndexName="AuthorIndex", KeyConditionExpression="Author = :a", ExpressionAttributeValues={":a": s("alice")})
    assert sorted(i["PostId"]["S"] for i in r["Items"]) == ["P002", "P003"]
    r = ddb.query(TableName="BlogPosts", IndexName="AuthorIndex", KeyConditionExpression="Author = :a", ExpressionAttributeValues={":a": s("bob")})
    assert r["Items"] == []
    # Transactions and batches maintain it too.
    ddb.transact_write_items(TransactItems=[{"Put": {"TableName": "BlogPosts", "Item": {"PostId": s("P010"), "Author": s("dave"), "Published": n(5)}}}])
    ddb.batch_write_item(RequestItems={"BlogPosts": [{"PutRequest": {"Item": {"PostId": s("P011"), "Author": s("dave"), "Published": n(6)}}}]})
    r = ddb.query(TableName="BlogPosts", IndexName="AuthorIndex", KeyConditionExpression="Author = :a", ExpressionAttributeValues={":a": s("dave")})
    assert [i["PostId"]["S"] for i in r["Items"]] == ["P010", "P011"]
    d = ddb.describe_table(TableName="BlogPosts")["Table"]
    assert d["GlobalSecondaryIndexes"][0]["IndexStatus"] == "ACTIVE"
    assert d["GlobalSecondaryIndexes"][0]["ItemCount"] == 5


def test_projections_and_sparse_index(server):
    ddb = server.client("dynamodb")
    ddb.create_table(
        TableName="tblP",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}, {"AttributeName": "g", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            {"IndexName": "keys", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}], "Projection": {"ProjectionType": "KEYS_ONLY"}},
            {"IndexName": "inc", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
             "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["a"]}},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.put_item(TableName="tblP", Item={"id": s("1"), "g": s("x"), "a": n(1), "b": n(2)})
    ddb.put_item(TableName="tblP", Item={"id": s("2"), "a": n(1)})  # no g: not in the indexes
    q = dict(TableName="tblP", KeyConditionExpression="g = :g", ExpressionAttributeValues={":g": s("x")})
    assert ddb.query(IndexName="keys", **q)["Items"] == [{"id": s("1"), "g": s("x")}]
    assert ddb.query(IndexName="inc", **q)["Items"] == [{"id": s("1"), "g": s("x"), "a": n(1)}]
    assert ddb.scan(TableName="tblP", IndexName="keys")["Count"] == 1
    assert ddb.scan(TableName="tblP")["Count"] == 2
    # Removing the index key drops the item from the index.
    ddb.update_item(TableName="tblP", Key={"id": s("1")}, UpdateExpression="REMOVE g")
    assert ddb.query(IndexName="keys", **q)["Items"] == []
    # A wrong-typed index key is refused as AWS does.
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName="tblP", Item={"id": s("3"), "g": n(5)})
    assert err(e)[0] == "ValidationException" and "Index" in err(e)[1]
    # Filters and projections on an index query.
    ddb.put_item(TableName="tblP", Item={"id": s("4"), "g": s("y"), "a": n(7)})
    ddb.put_item(TableName="tblP", Item={"id": s("5"), "g": s("y"), "a": n(8)})
    r = ddb.query(TableName="tblP", IndexName="inc", KeyConditionExpression="g = :g", FilterExpression="a > :a",
                  ProjectionExpression="id", ExpressionAttributeValues={":g": s("y"), ":a": n(7)})
    assert r["Items"] == [{"id": s("5")}] and r["ScannedCount"] == 2


def test_index_pagination(server):
    ddb = server.client("dynamodb")
    ddb.create_table(
        TableName="Pg",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "N"}, {"AttributeName": "g", "AttributeType": "S"},
                              {"AttributeName": "r", "AttributeType": "N"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[{"IndexName": "gidx", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}, {"AttributeName": "r", "KeyType": "RANGE"}],
                                 "Projection": {"ProjectionType": "ALL"}}],
        BillingMode="PAY_PER_REQUEST",
    )
    # Duplicate index keys (r repeats) coexist.
    for i in range(20):
        ddb.put_item(TableName="Pg", Item={"id": n(i), "g": s("a"), "r": n(i // 2)})
    got, start, pages = [], None, 0
    while True:
        kw = {"ExclusiveStartKey": start} if start else {}
        r = ddb.query(TableName="Pg", IndexName="gidx", KeyConditionExpression="g = :g", ExpressionAttributeValues={":g": s("a")}, Limit=3, **kw)
        got += [int(i["id"]["N"]) for i in r["Items"]]
        pages += 1
        start = r.get("LastEvaluatedKey")
        if start:
            assert set(start) == {"id", "g", "r"}
        if not start:
            break
    assert sorted(got) == list(range(20)) and len(got) == 20 and pages == 7
    assert [g // 2 for g in got] == sorted(g // 2 for g in got)
    back = []
    for page in ddb.get_paginator("query").paginate(TableName="Pg", IndexName="gidx", KeyConditionExpression="g = :g AND r BETWEEN :a AND :b",
                                                    ExpressionAttributeValues={":g": s("a"), ":a": n(2), ":b": n(4)}, ScanIndexForward=False,
                                                    PaginationConfig={"PageSize": 2}):
        back += [int(i["r"]["N"]) for i in page["Items"]]
    assert back == [4, 4, 3, 3, 2, 2]
    scanned = []
    for page in ddb.get_paginator("scan").paginate(TableName="Pg", IndexName="gidx", PaginationConfig={"PageSize": 4}):
        scanned += [int(i["id"]["N"]) for i in page["Items"]]
    assert sorted(scanned) == list(range(20))


def test_local_secondary_index(server):
    ddb = server.client("dynamodb")
    ddb.create_table(
        TableName="tblL",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"},
                              {"AttributeName": "ts", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        LocalSecondaryIndexes=[{"IndexName": "byts", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "ts", "KeyType": "RANGE"}],
                                "Projection": {"ProjectionType": "KEYS_ONLY"}}],
        BillingMode="PAY_PER_REQUEST",
    )
    for i, ts in enumerate(["c", "a", "b"]):
        ddb.put_item(TableName="tblL", Item={"pk": s("u"), "sk": n(i), "ts": s(ts), "v": n(i * 10)})
    r = ddb.query(TableName="tblL", IndexName="byts", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": s("u")}, ConsistentRead=True)
    assert [i["ts"]["S"] for i in r["Items"]] == ["a", "b", "c"]
    assert "v" not in r["Items"][0]
    # Asking for all attributes fetches them from the table (as AWS does for an LSI).
    r = ddb.query(TableName="tblL", IndexName="byts", KeyConditionExpression="pk = :p AND ts >= :t", ExpressionAttributeValues={":p": s("u"), ":t": s("b")},
                  Select="ALL_ATTRIBUTES")
    assert [(i["ts"]["S"], i["v"]["N"]) for i in r["Items"]] == [("b", "20"), ("c", "0")]


def test_malformed_requests(server):
    ddb = server.client("dynamodb")
    blog(ddb)
    with pytest.raises(ClientError) as e:
        ddb.query(TableName="BlogPosts", IndexName="AuthorIndex", KeyConditionExpression="Author = :a",
                  ExpressionAttributeValues={":a": s("alice")}, ConsistentRead=True)
    assert err(e) == ("ValidationException", "Consistent reads are not supported on global secondary indexes")
    with pytest.raises(ClientError) as e:
        ddb.query(TableName="BlogPosts", IndexName="Nope", KeyConditionExpression="Author = :a", ExpressionAttributeValues={":a": s("alice")})
    assert err(e) == ("ValidationException", "The table does not have the specified index: Nope")
    with pytest.raises(ClientError) as e:
        ddb.scan(TableName="BlogPosts", IndexName="Nope")
    assert err(e)[0] == "ValidationException"
    with pytest.raises(ClientError) as e:
        ddb.create_table(
            TableName="Bad", AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}], BillingMode="PAY_PER_REQUEST",
            GlobalSecondaryIndexes=[{"IndexName": "gundef", "KeySchema": [{"AttributeName": "undef", "KeyType": "HASH"}], "Projection": {"ProjectionType": "ALL"}}])
    assert err(e)[0] == "ValidationException" and "not defined" in err(e)[1]
    streams = server.client("dynamodbstreams")
    with pytest.raises(ClientError) as e:
        streams.get_records(ShardIterator="not-an-iterator")
    assert err(e)[0] == "ValidationException"
    with pytest.raises(ClientError) as e:
        streams.describe_stream(StreamArn="arn:aws:dynamodb:us-east-1:000000000000:table/None/stream/2024-01-01T00:00:00.000")
    assert err(e)[0] == "ResourceNotFoundException"
    ddb.update_time_to_live(TableName="BlogPosts", TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"})
    with pytest.raises(ClientError) as e:
        ddb.update_time_to_live(TableName="BlogPosts", TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"})
    assert err(e) == ("ValidationException", "TimeToLive is already enabled")


def test_update_table_adds_gsi_with_backfill(server):
    ddb = server.client("dynamodb")
    ddb.create_table(TableName="Big", AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "N"}],
                     KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}], BillingMode="PAY_PER_REQUEST")
    for start in range(0, 10000, 25):
        ddb.batch_write_item(RequestItems={"Big": [{"PutRequest": {"Item": {"id": n(i), "grp": s(f"g{i % 10}"), "v": n(i)}}}
                                                   for i in range(start, start + 25)]})
    r = ddb.update_table(TableName="Big", AttributeDefinitions=[{"AttributeName": "grp", "AttributeType": "S"}, {"AttributeName": "id", "AttributeType": "N"}],
                         GlobalSecondaryIndexUpdates=[{"Create": {"IndexName": "byGrp", "KeySchema": [{"AttributeName": "grp", "KeyType": "HASH"}],
                                                                  "Projection": {"ProjectionType": "KEYS_ONLY"}}}])
    gsi = r["TableDescription"]["GlobalSecondaryIndexes"][0]
    assert gsi["IndexStatus"] == "CREATING" and gsi["Backfilling"] is True
    # The table stays usable during the backfill; these writes land in the index exactly once.
    ddb.put_item(TableName="Big", Item={"id": n(10000), "grp": s("g3"), "v": n(0)})
    ddb.delete_item(TableName="Big", Key={"id": n(3)})
    deadline = time.time() + 120
    while time.time() < deadline:
        g = ddb.describe_table(TableName="Big")["Table"]["GlobalSecondaryIndexes"][0]
        if g["IndexStatus"] == "ACTIVE":
            break
        time.sleep(0.2)
    assert g["IndexStatus"] == "ACTIVE" and "Backfilling" not in g
    ids = []
    for page in ddb.get_paginator("query").paginate(TableName="Big", IndexName="byGrp", KeyConditionExpression="grp = :g",
                                                    ExpressionAttributeValues={":g": s("g3")}):
        ids += [int(i["id"]["N"]) for i in page["Items"]]
    assert len(ids) == len(set(ids)) == 1000
    assert 10000 in ids and 3 not in ids
    assert g["ItemCount"] == 10000
    # Deleting the index.
    ddb.update_table(TableName="Big", GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "byGrp"}}])
    with pytest.raises(ClientError) as e:
        ddb.query(TableName="Big", IndexName="byGrp", KeyConditionExpression="grp = :g", ExpressionAttributeValues={":g": s("g3")})
    assert err(e)[0] == "ValidationException"


def read_stream(server, table):
    ddb = server.client("dynamodb")
    streams = server.client("dynamodbstreams")
    arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    desc = streams.describe_stream(StreamArn=arn)["StreamDescription"]
    assert desc["StreamStatus"] == "ENABLED"
    shard = desc["Shards"][0]
    assert shard["ShardId"].startswith("shardId-00000001")
    it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    records = []
    while True:
        r = streams.get_records(ShardIterator=it, Limit=2)
        records += r["Records"]
        if not r["Records"]:
            break
        it = r["NextShardIterator"]
    return arn, shard, records


WORKLOAD_VIEWS = ["KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES"]


def workload(ddb, table):
    k = {"pk": s("a")}
    ddb.put_item(TableName=table, Item={"pk": s("a"), "v": n(1)})                         # INSERT
    ddb.put_item(TableName=table, Item={"pk": s("a"), "v": n(1)})                         # no change: no record
    ddb.update_item(TableName=table, Key=k, UpdateExpression="SET v = :v", ExpressionAttributeValues={":v": n(2)})  # MODIFY
    ddb.update_item(TableName=table, Key=k, UpdateExpression="SET v = :v", ExpressionAttributeValues={":v": n(2)})  # no change
    ddb.delete_item(TableName=table, Key={"pk": s("missing")})                            # nothing deleted: no record
    ddb.transact_write_items(TransactItems=[{"Put": {"TableName": table, "Item": {"pk": s("b"), "v": n(9)}}}])  # INSERT
    ddb.delete_item(TableName=table, Key=k)                                                # REMOVE


EXPECTED = [
    ("INSERT", {"pk": s("a")}, None, {"pk": s("a"), "v": n(1)}),
    ("MODIFY", {"pk": s("a")}, {"pk": s("a"), "v": n(1)}, {"pk": s("a"), "v": n(2)}),
    ("INSERT", {"pk": s("b")}, None, {"pk": s("b"), "v": n(9)}),
    ("REMOVE", {"pk": s("a")}, {"pk": s("a"), "v": n(2)}, None),
]


def check_records(records, view):
    assert [r["eventName"] for r in records] == [e[0] for e in EXPECTED]
    seqs = [r["dynamodb"]["SequenceNumber"] for r in records]
    assert all(len(x) >= 21 for x in seqs) and seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert len({r["eventID"] for r in records}) == len(records)
    for r, (_, keys, old, new) in zip(records, EXPECTED):
        d = r["dynamodb"]
        assert r["eventVersion"] == "1.1" and r["eventSource"] == "aws:dynamodb" and r["awsRegion"] == "us-east-1"
        assert d["Keys"] == keys and d["StreamViewType"] == view and d["SizeBytes"] > 0
        assert d["ApproximateCreationDateTime"].year >= 2024
        want_new = new if view in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES") else None
        want_old = old if view in ("OLD_IMAGE", "NEW_AND_OLD_IMAGES") else None
        assert d.get("NewImage") == want_new
        assert d.get("OldImage") == want_old
        assert "userIdentity" not in r


def make_stream_table(ddb, name, view):
    r = ddb.create_table(TableName=name, AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}], BillingMode="PAY_PER_REQUEST",
                         StreamSpecification={"StreamEnabled": True, "StreamViewType": view})
    d = r["TableDescription"]
    assert re.fullmatch(rf"arn:aws:dynamodb:us-east-1:000000000000:table/{name}/stream/\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{{3}}", d["LatestStreamArn"])
    assert d["LatestStreamArn"].endswith(d["LatestStreamLabel"])


@pytest.mark.parametrize("view", WORKLOAD_VIEWS)
def test_stream_workload(server, view):
    ddb = server.client("dynamodb")
    make_stream_table(ddb, "tblS", view)
    workload(ddb, "tblS")
    arn, shard, records = read_stream(server, "tblS")
    check_records(records, view)
    streams = server.client("dynamodbstreams")
    listed = streams.list_streams(TableName="tblS")["Streams"]
    assert [x["StreamArn"] for x in listed] == [arn]
    # AT / AFTER sequence number and LATEST.
    second = records[1]["dynamodb"]["SequenceNumber"]
    it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="AT_SEQUENCE_NUMBER", SequenceNumber=second)["ShardIterator"]
    assert [r["eventName"] for r in streams.get_records(ShardIterator=it)["Records"]] == ["MODIFY", "INSERT", "REMOVE"]
    it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=second)["ShardIterator"]
    assert [r["eventName"] for r in streams.get_records(ShardIterator=it)["Records"]] == ["INSERT", "REMOVE"]
    it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="LATEST")["ShardIterator"]
    r = streams.get_records(ShardIterator=it)
    assert r["Records"] == []
    ddb.put_item(TableName="tblS", Item={"pk": s("c")})
    r = streams.get_records(ShardIterator=r["NextShardIterator"])
    assert [x["eventName"] for x in r["Records"]] == ["INSERT"]
    assert shard["SequenceNumberRange"]["StartingSequenceNumber"] == records[0]["dynamodb"]["SequenceNumber"]


def test_stream_survives_kill9(server_factory):
    srv = server_factory()
    ddb = srv.client("dynamodb")
    make_stream_table(ddb, "tblK", "NEW_AND_OLD_IMAGES")
    workload(ddb, "tblK")
    srv.kill9()
    srv2 = server_factory(data_dir=srv.data_dir)
    _, _, records = read_stream(srv2, "tblK")
    check_records(records, "NEW_AND_OLD_IMAGES")
    # Sequence numbers keep increasing after the restart.
    srv2.client("dynamodb").put_item(TableName="tblK", Item={"pk": s("z")})
    _, _, more = read_stream(srv2, "tblK")
    assert len(more) == 5 and more[-1]["dynamodb"]["SequenceNumber"] > records[-1]["dynamodb"]["SequenceNumber"]


def test_stream_enabled_by_update_table(server):
    ddb = server.client("dynamodb")
    ddb.create_table(TableName="tblU", AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}], BillingMode="PAY_PER_REQUEST")
    ddb.put_item(TableName="tblU", Item={"pk": s("before")})
    assert "LatestStreamArn" not in ddb.describe_table(TableName="tblU")["Table"]
    ddb.update_table(TableName="tblU", StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})
    ddb.put_item(TableName="tblU", Item={"pk": s("after")})
    _, _, records = read_stream(server, "tblU")
    assert [(r["eventName"], r["dynamodb"]["Keys"]) for r in records] == [("INSERT", {"pk": s("after")})]
    with pytest.raises(ClientError) as e:
        ddb.update_table(TableName="tblU", StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})
    assert err(e)[0] == "ValidationException"


def test_ttl_deletes_with_service_records(ttl_server):
    ddb = ttl_server.client("dynamodb")
    make_stream_table(ddb, "tblT", "NEW_AND_OLD_IMAGES")
    assert ddb.describe_time_to_live(TableName="tblT")["TimeToLiveDescription"]["TimeToLiveStatus"] == "DISABLED"
    r = ddb.update_time_to_live(TableName="tblT", TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"})
    assert r["TimeToLiveSpecification"] == {"Enabled": True, "AttributeName": "exp"}
    d = ddb.describe_time_to_live(TableName="tblT")["TimeToLiveDescription"]
    assert d == {"TimeToLiveStatus": "ENABLED", "AttributeName": "exp"}
    now = int(time.time())
    ddb.put_item(TableName="tblT", Item={"pk": s("old"), "exp": n(now - 10)})
    ddb.put_item(TableName="tblT", Item={"pk": s("future"), "exp": n(now + 3600)})
    ddb.put_item(TableName="tblT", Item={"pk": s("text"), "exp": s("not a number")})
    ddb.put_item(TableName="tblT", Item={"pk": s("none")})
    deadline = time.time() + 15
    while time.time() < deadline:
        if "Item" not in ddb.get_item(TableName="tblT", Key={"pk": s("old")}):
            break
        time.sleep(0.3)
    assert "Item" not in ddb.get_item(TableName="tblT", Key={"pk": s("old")})
    assert sorted(i["pk"]["S"] for i in ddb.scan(TableName="tblT")["Items"]) == ["future", "none", "text"]
    _, _, records = read_stream(ttl_server, "tblT")
    removes = [r for r in records if r["eventName"] == "REMOVE"]
    assert len(removes) == 1
    assert removes[0]["userIdentity"] == {"Type": "Service", "PrincipalId": "dynamodb.amazonaws.com"}
    assert removes[0]["dynamodb"]["OldImage"]["pk"] == s("old")


def test_provisioned_throughput_throttles_and_recovers(server):
    # No client-side retries: botocore retries throttling errors otherwise.
    ddb = boto3.client("dynamodb", endpoint_url=server.endpoint, region_name="us-east-1", aws_access_key_id="test",
                       aws_secret_access_key="test", config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))
    ddb.create_table(TableName="Prov5", AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}], BillingMode="PROVISIONED",
                     ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5})
    throttled = 0
    for i in range(40):
        try:
            ddb.put_item(TableName="Prov5", Item={"pk": s(f"k{i}")})
        except ClientError as e:
            assert e.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
            assert "UpdateTable API" in e.response["Error"]["Message"]
            throttled += 1
    assert throttled > 0
    time.sleep(1.5)
    ddb.put_item(TableName="Prov5", Item={"pk": s("after")})
    # Raising the throughput applies at once; on-demand tables are not throttled.
    ddb.update_table(TableName="Prov5", BillingMode="PAY_PER_REQUEST")
    for i in range(40):
        ddb.put_item(TableName="Prov5", Item={"pk": s(f"d{i}")})
