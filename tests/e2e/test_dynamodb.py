"""DynamoDB through boto3 (client and resource) and the aws CLI against the real binary."""

import json
import os
import subprocess
import threading
from decimal import Decimal

import boto3
import pytest
from boto3.dynamodb.conditions import Attr, Key
from botocore.config import Config
from botocore.exceptions import ClientError


def resource(server):
    return boto3.resource(
        "dynamodb", endpoint_url=server.endpoint, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )


def make_table(ddb, name="T", hash_key=("pk", "S"), range_key=None, **kw):
    schema = [{"AttributeName": hash_key[0], "KeyType": "HASH"}]
    defs = [{"AttributeName": hash_key[0], "AttributeType": hash_key[1]}]
    if range_key:
        schema.append({"AttributeName": range_key[0], "KeyType": "RANGE"})
        defs.append({"AttributeName": range_key[0], "AttributeType": range_key[1]})
    kw.setdefault("BillingMode", "PAY_PER_REQUEST")
    return ddb.create_table(TableName=name, KeySchema=schema, AttributeDefinitions=defs, **kw)


def err(excinfo):
    e = excinfo.value.response["Error"]
    return e["Code"], e["Message"]


@pytest.fixture
def ddb(server):
    return server.client("dynamodb")


@pytest.fixture
def pkt(ddb):
    """A table with pk (S) and sk (N)."""
    make_table(ddb, "PK", ("pk", "S"), ("sk", "N"))
    return "PK"


# --- seed scenario -------------------------------------------------------------------

def test_seed_users_scenario(server):
    dynamodb = resource(server)
    table = dynamodb.create_table(
        TableName="Users",
        KeySchema=[{"AttributeName": "UserId", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "UserId", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    table.wait_until_exists()
    table.put_item(Item={"UserId": "u1", "Name": "Alice", "Age": 30})
    table.put_item(Item={"UserId": "u2", "Name": "Bob", "Age": 25})
    assert table.get_item(Key={"UserId": "u1"})["Item"] == {"UserId": "u1", "Name": "Alice", "Age": Decimal(30)}
    table.update_item(Key={"UserId": "u1"}, UpdateExpression="SET Age = :age", ExpressionAttributeValues={":age": 31})
    assert table.get_item(Key={"UserId": "u1"})["Item"]["Age"] == 31
    q = table.query(KeyConditionExpression=Key("UserId").eq("u1"))
    assert q["Count"] == 1 and q["Items"][0]["Name"] == "Alice"
    s = table.scan(FilterExpression="Age > :age", ExpressionAttributeValues={":age": 26})
    assert [i["UserId"] for i in s["Items"]] == ["u1"]
    assert s["ScannedCount"] == 2
    s2 = table.scan(FilterExpression=Attr("Age").lt(26))
    assert [i["Name"] for i in s2["Items"]] == ["Bob"]
    table.delete_item(Key={"UserId": "u1"})
    assert "Item" not in table.get_item(Key={"UserId": "u1"})
    assert table.item_count == 1


# --- tables --------------------------------------------------------------------------

def test_create_describe_table(ddb):
    resp = make_table(ddb, "Orders", ("id", "S"), ("ts", "N"))["TableDescription"]
    assert resp["TableStatus"] == "ACTIVE"
    assert resp["TableArn"] == "arn:aws:dynamodb:us-east-1:000000000000:table/Orders"
    assert resp["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    d = ddb.describe_table(TableName="Orders")["Table"]
    assert d["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}, {"AttributeName": "ts", "KeyType": "RANGE"}]
    assert d["ItemCount"] == 0 and d["TableSizeBytes"] == 0
    assert d["ProvisionedThroughput"]["NumberOfDecreasesToday"] == 0
    assert len(d["TableId"]) == 36
    assert d["CreationDateTime"].year >= 2024


def test_create_table_provisioned(ddb):
    d = make_table(ddb, "Prov", BillingMode="PROVISIONED",
                   ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 7})["TableDescription"]
    assert d["ProvisionedThroughput"]["ReadCapacityUnits"] == 5
    assert d["ProvisionedThroughput"]["WriteCapacityUnits"] == 7
    assert d["BillingModeSummary"]["BillingMode"] == "PROVISIONED"


def test_create_table_provisioned_needs_throughput(ddb):
    with pytest.raises(ClientError) as e:
        make_table(ddb, "X", BillingMode="PROVISIONED")
    assert err(e) == ("ValidationException", "One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED")


def test_create_table_pay_per_request_rejects_throughput(ddb):
    with pytest.raises(ClientError) as e:
        make_table(ddb, "X", ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1})
    assert "Neither ReadCapacityUnits nor WriteCapacityUnits" in err(e)[1]


def test_create_table_already_exists(ddb):
    make_table(ddb, "Dup")
    with pytest.raises(ClientError) as e:
        make_table(ddb, "Dup")
    assert err(e) == ("ResourceInUseException", "Table already exists: Dup")


def test_create_table_attribute_definitions_must_match(ddb):
    with pytest.raises(ClientError) as e:
        ddb.create_table(TableName="X", KeySchema=[{"AttributeName": "a", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "a", "AttributeType": "S"},
                                               {"AttributeName": "b", "AttributeType": "S"}],
                         BillingMode="PAY_PER_REQUEST")
    assert err(e) == ("ValidationException", "One or more parameter values were invalid: Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions")
    with pytest.raises(ClientError) as e:
        ddb.create_table(TableName="X", KeySchema=[{"AttributeName": "a", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "b", "AttributeType": "S"}],
                         BillingMode="PAY_PER_REQUEST")
    assert err(e)[1].startswith("One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions")


def test_create_table_key_schema_order(ddb):
    with pytest.raises(ClientError) as e:
        ddb.create_table(TableName="X", KeySchema=[{"AttributeName": "a", "KeyType": "RANGE"}],
                         AttributeDefinitions=[{"AttributeName": "a", "AttributeType": "S"}],
                         BillingMode="PAY_PER_REQUEST")
    assert err(e) == ("ValidationException", "Invalid KeySchema: The first KeySchemaElement is not a HASH key type")


def test_create_table_with_gsi_echoes_index(ddb):
    d = ddb.create_table(
        TableName="G", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "a", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "a", "AttributeType": "S"}, {"AttributeName": "b", "AttributeType": "S"}],
        GlobalSecondaryIndexes=[{"IndexName": "byB", "KeySchema": [{"AttributeName": "b", "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "ALL"}}],
    )["TableDescription"]
    assert d["GlobalSecondaryIndexes"][0]["IndexName"] == "byB"
    assert d["GlobalSecondaryIndexes"][0]["IndexStatus"] == "ACTIVE"


def test_describe_missing_table(ddb):
    with pytest.raises(ClientError) as e:
        ddb.describe_table(TableName="Nope")
    assert err(e) == ("ResourceNotFoundException", "Requested resource not found: Table: Nope not found")


def test_list_tables_pagination(ddb):
    for n in ["c", "a", "e", "b", "d"]:
        make_table(ddb, "tbl-" + n)
    assert ddb.list_tables()["TableNames"] == ["tbl-a", "tbl-b", "tbl-c", "tbl-d", "tbl-e"]
    p1 = ddb.list_tables(Limit=2)
    assert p1["TableNames"] == ["tbl-a", "tbl-b"] and p1["LastEvaluatedTableName"] == "tbl-b"
    p2 = ddb.list_tables(Limit=2, ExclusiveStartTableName="tbl-b")
    assert p2["TableNames"] == ["tbl-c", "tbl-d"]
    p3 = ddb.list_tables(Limit=2, ExclusiveStartTableName="tbl-d")
    assert p3["TableNames"] == ["tbl-e"] and "LastEvaluatedTableName" not in p3
    names = []
    for page in ddb.get_paginator("list_tables").paginate(PaginationConfig={"PageSize": 2}):
        names += page["TableNames"]
    assert names == ["tbl-a", "tbl-b", "tbl-c", "tbl-d", "tbl-e"]


def test_tables_are_per_account_and_region(server):
    make_table(server.client("dynamodb"), "Shared")
    assert server.client("dynamodb", key="123456789012").list_tables()["TableNames"] == []
    assert server.client("dynamodb", region="eu-west-1").list_tables()["TableNames"] == []


def test_delete_table(ddb):
    make_table(ddb, "Gone")
    ddb.put_item(TableName="Gone", Item={"pk": {"S": "x"}})
    d = ddb.delete_table(TableName="Gone")["TableDescription"]
    assert d["TableStatus"] == "DELETING"
    assert ddb.list_tables()["TableNames"] == []
    with pytest.raises(ClientError) as e:
        ddb.delete_table(TableName="Gone")
    assert err(e)[0] == "ResourceNotFoundException"
    make_table(ddb, "Gone")
    assert ddb.scan(TableName="Gone")["Count"] == 0


def test_update_table_billing(ddb):
    make_table(ddb, "U")
    d = ddb.update_table(TableName="U", BillingMode="PROVISIONED",
                         ProvisionedThroughput={"ReadCapacityUnits": 3, "WriteCapacityUnits": 4})["TableDescription"]
    assert d["BillingModeSummary"]["BillingMode"] == "PROVISIONED"
    assert d["ProvisionedThroughput"]["ReadCapacityUnits"] == 3
    d = ddb.update_table(TableName="U", ProvisionedThroughput={"ReadCapacityUnits": 9, "WriteCapacityUnits": 4})["TableDescription"]
    assert d["ProvisionedThroughput"]["ReadCapacityUnits"] == 9


def test_tags(ddb):
    arn = make_table(ddb, "Tagged", Tags=[{"Key": "a", "Value": "1"}])["TableDescription"]["TableArn"]
    ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": "b", "Value": "2"}, {"Key": "a", "Value": "3"}])
    tags = {t["Key"]: t["Value"] for t in ddb.list_tags_of_resource(ResourceArn=arn)["Tags"]}
    assert tags == {"a": "3", "b": "2"}
    ddb.untag_resource(ResourceArn=arn, TagKeys=["a"])
    assert ddb.list_tags_of_resource(ResourceArn=arn)["Tags"] == [{"Key": "b", "Value": "2"}]


def test_describe_limits_and_endpoints(ddb):
    assert ddb.describe_limits()["TableMaxReadCapacityUnits"] == 40000
    assert ddb.describe_endpoints()["Endpoints"][0]["Address"] == "dynamodb.us-east-1.amazonaws.com"


def aws_cli(server, *args):
    env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1")
    env.pop("AWS_PROFILE", None)
    return subprocess.run(["aws", "--endpoint-url", server.endpoint, "--output", "json", *args],
                          capture_output=True, text=True, env=env, timeout=120)


def test_aws_cli_create_and_wait(server):
    out = aws_cli(server, "dynamodb", "create-table", "--table-name", "Cli",
                  "--attribute-definitions", "AttributeName=id,AttributeType=S",
                  "--key-schema", "AttributeName=id,KeyType=HASH", "--billing-mode", "PAY_PER_REQUEST")
    assert out.returncode == 0, out.stderr
    out = aws_cli(server, "dynamodb", "wait", "table-exists", "--table-name", "Cli")
    assert out.returncode == 0, out.stderr
    out = aws_cli(server, "dynamodb", "put-item", "--table-name", "Cli", "--item", '{"id": {"S": "1"}, "n": {"N": "1.50"}}')
    assert out.returncode == 0, out.stderr
    out = aws_cli(server, "dynamodb", "get-item", "--table-name", "Cli", "--key", '{"id": {"S": "1"}}')
    assert json.loads(out.stdout)["Item"]["n"] == {"N": "1.5"}


# --- items ---------------------------------------------------------------------------

def test_all_attribute_types_round_trip(ddb):
    make_table(ddb, "Types")
    item = {"pk": {"S": "k"}, "s": {"S": ""}, "n": {"N": "-12.50"}, "b": {"B": b"\x00\xff"}, "t": {"BOOL": True},
            "z": {"NULL": True}, "m": {"M": {"x": {"N": "1"}}}, "l": {"L": [{"S": "a"}, {"N": "2"}]},
            "ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2"]}, "bs": {"BS": [b"a"]}}
    ddb.put_item(TableName="Types", Item=item)
    got = ddb.get_item(TableName="Types", Key={"pk": {"S": "k"}}, ConsistentRead=True)["Item"]
    assert got["n"] == {"N": "-12.5"}
    assert got["b"] == {"B": b"\x00\xff"}
    assert got["m"] == item["m"] and got["l"] == item["l"] and got["z"] == item["z"]
    assert sorted(got["ss"]["SS"]) == ["a", "b"]


def test_item_count_and_size_tracked(ddb):
    make_table(ddb, "Cnt")
    ddb.put_item(TableName="Cnt", Item={"pk": {"S": "a"}, "v": {"S": "xxxx"}})
    ddb.put_item(TableName="Cnt", Item={"pk": {"S": "b"}})
    ddb.put_item(TableName="Cnt", Item={"pk": {"S": "a"}, "v": {"S": "x"}})
    d = ddb.describe_table(TableName="Cnt")["Table"]
    assert d["ItemCount"] == 2
    assert d["TableSizeBytes"] == (2 + 1 + 1 + 1) + (2 + 1)
    ddb.delete_item(TableName="Cnt", Key={"pk": {"S": "a"}})
    assert ddb.describe_table(TableName="Cnt")["Table"]["ItemCount"] == 1


def test_get_item_projection(ddb):
    make_table(ddb, "P")
    ddb.put_item(TableName="P", Item={"pk": {"S": "a"}, "x": {"N": "1"}, "y": {"M": {"z": {"S": "q"}, "w": {"S": "r"}}}})
    got = ddb.get_item(TableName="P", Key={"pk": {"S": "a"}}, ProjectionExpression="x, #y.z",
                       ExpressionAttributeNames={"#y": "y"})["Item"]
    assert got == {"x": {"N": "1"}, "y": {"M": {"z": {"S": "q"}}}}


def test_missing_key_in_item(ddb, pkt):
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName=pkt, Item={"pk": {"S": "a"}})
    assert err(e) == ("ValidationException", "One or more parameter values were invalid: Missing the key sk in the item")


def test_key_type_mismatch(ddb, pkt):
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName=pkt, Item={"pk": {"N": "1"}, "sk": {"N": "1"}})
    assert err(e) == ("ValidationException", "One or more parameter values were invalid: Type mismatch for key pk expected: S actual: N")


def test_key_does_not_match_schema(ddb, pkt):
    with pytest.raises(ClientError) as e:
        ddb.get_item(TableName=pkt, Key={"pk": {"S": "a"}})
    assert err(e) == ("ValidationException", "The provided key element does not match the schema")
    with pytest.raises(ClientError) as e:
        ddb.get_item(TableName=pkt, Key={"pk": {"S": "a"}, "sk": {"N": "1"}, "x": {"S": "y"}})
    assert err(e) == ("ValidationException", "The provided key element does not match the schema")


def test_empty_string_key(ddb):
    make_table(ddb, "E")
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName="E", Item={"pk": {"S": ""}})
    assert err(e) == ("ValidationException", "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: pk")


def test_key_size_limits(ddb, pkt):
    ddb.put_item(TableName=pkt, Item={"pk": {"S": "a" * 2048}, "sk": {"N": "1"}})
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName=pkt, Item={"pk": {"S": "a" * 2049}, "sk": {"N": "1"}})
    assert "Size of hashkey has exceeded the maximum size limit of2048 bytes" in err(e)[1]
    make_table(ddb, "R", ("pk", "S"), ("sk", "S"))
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName="R", Item={"pk": {"S": "a"}, "sk": {"S": "b" * 1025}})
    assert "Aggregated size of all range keys has exceeded the size limit of 1024 bytes" in err(e)[1]


def test_item_size_limit(ddb):
    make_table(ddb, "Big")
    ddb.put_item(TableName="Big", Item={"pk": {"S": "a"}, "v": {"S": "x" * (400 * 1024 - 4)}})
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName="Big", Item={"pk": {"S": "a"}, "v": {"S": "x" * (400 * 1024)}})
    assert err(e) == ("ValidationException", "Item size has exceeded the maximum allowed size")


def test_unknown_table_item_ops(ddb):
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName="Nope", Item={"pk": {"S": "a"}})
    assert err(e) == ("ResourceNotFoundException", "Requested resource not found")
    with pytest.raises(ClientError) as e:
        ddb.query(TableName="Nope", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "a"}})
    assert err(e)[0] == "ResourceNotFoundException"


def test_put_condition_and_return_values(ddb):
    make_table(ddb, "C")
    r = ddb.put_item(TableName="C", Item={"pk": {"S": "a"}, "v": {"N": "1"}}, ConditionExpression="attribute_not_exists(pk)",
                     ReturnValues="ALL_OLD")
    assert "Attributes" not in r
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName="C", Item={"pk": {"S": "a"}, "v": {"N": "2"}}, ConditionExpression="attribute_not_exists(pk)")
    assert err(e) == ("ConditionalCheckFailedException", "The conditional request failed")
    r = ddb.put_item(TableName="C", Item={"pk": {"S": "a"}, "v": {"N": "3"}}, ReturnValues="ALL_OLD",
                     ConditionExpression="v = :one", ExpressionAttributeValues={":one": {"N": "1"}})
    assert r["Attributes"] == {"pk": {"S": "a"}, "v": {"N": "1"}}
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName="C", Item={"pk": {"S": "a"}}, ReturnValues="ALL_NEW")
    assert err(e) == ("ValidationException", "Return values set to invalid value")


def test_update_item_return_values(ddb):
    make_table(ddb, "UV")
    r = ddb.update_item(TableName="UV", Key={"pk": {"S": "a"}}, UpdateExpression="SET a = :x, b = :y",
                        ExpressionAttributeValues={":x": {"N": "1"}, ":y": {"S": "b"}}, ReturnValues="ALL_NEW")
    assert r["Attributes"] == {"pk": {"S": "a"}, "a": {"N": "1"}, "b": {"S": "b"}}
    r = ddb.update_item(TableName="UV", Key={"pk": {"S": "a"}}, UpdateExpression="SET a = a + :x",
                        ExpressionAttributeValues={":x": {"N": "2"}}, ReturnValues="UPDATED_OLD")
    assert r["Attributes"] == {"a": {"N": "1"}}
    r = ddb.update_item(TableName="UV", Key={"pk": {"S": "a"}}, UpdateExpression="ADD a :x REMOVE b",
                        ExpressionAttributeValues={":x": {"N": "10"}}, ReturnValues="UPDATED_NEW")
    assert r["Attributes"] == {"a": {"N": "13"}}
    r = ddb.update_item(TableName="UV", Key={"pk": {"S": "a"}}, UpdateExpression="SET c = :x",
                        ExpressionAttributeValues={":x": {"BOOL": False}}, ReturnValues="ALL_OLD")
    assert r["Attributes"] == {"pk": {"S": "a"}, "a": {"N": "13"}}
    r = ddb.update_item(TableName="UV", Key={"pk": {"S": "a"}}, UpdateExpression="SET c = :x",
                        ExpressionAttributeValues={":x": {"BOOL": True}})
    assert "Attributes" not in r


def test_update_item_condition_failure_and_key_update(ddb):
    make_table(ddb, "UC")
    with pytest.raises(ClientError) as e:
        ddb.update_item(TableName="UC", Key={"pk": {"S": "a"}}, UpdateExpression="SET v = :x",
                        ConditionExpression="attribute_exists(pk)", ExpressionAttributeValues={":x": {"N": "1"}})
    assert err(e) == ("ConditionalCheckFailedException", "The conditional request failed")
    assert "Item" not in ddb.get_item(TableName="UC", Key={"pk": {"S": "a"}})
    with pytest.raises(ClientError) as e:
        ddb.update_item(TableName="UC", Key={"pk": {"S": "a"}}, UpdateExpression="SET pk = :x",
                        ExpressionAttributeValues={":x": {"S": "b"}})
    assert err(e) == ("ValidationException", "One or more parameter values were invalid: Cannot update attribute pk. This attribute is part of the key")


def test_update_without_expression_creates_item(ddb):
    make_table(ddb, "UN")
    ddb.update_item(TableName="UN", Key={"pk": {"S": "a"}})
    assert ddb.get_item(TableName="UN", Key={"pk": {"S": "a"}})["Item"] == {"pk": {"S": "a"}}


def test_delete_item_condition_and_return(ddb):
    make_table(ddb, "D")
    ddb.put_item(TableName="D", Item={"pk": {"S": "a"}, "v": {"N": "5"}})
    with pytest.raises(ClientError) as e:
        ddb.delete_item(TableName="D", Key={"pk": {"S": "a"}}, ConditionExpression="v > :n", ExpressionAttributeValues={":n": {"N": "9"}})
    assert err(e)[0] == "ConditionalCheckFailedException"
    r = ddb.delete_item(TableName="D", Key={"pk": {"S": "a"}}, ReturnValues="ALL_OLD")
    assert r["Attributes"]["v"] == {"N": "5"}
    r = ddb.delete_item(TableName="D", Key={"pk": {"S": "a"}}, ReturnValues="ALL_OLD")
    assert "Attributes" not in r


def test_expression_errors_are_validation(ddb):
    make_table(ddb, "X")
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName="X", Item={"pk": {"S": "a"}}, ConditionExpression="attribute_exists(pk",)
    assert err(e)[0] == "ValidationException"
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName="X", Item={"pk": {"S": "a"}}, ConditionExpression="attribute_exists(pk)",
                     ExpressionAttributeValues={":unused": {"S": "x"}})
    code, msg = err(e)
    assert code == "ValidationException" and ":unused" in msg
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName="X", Item={"pk": {"S": "a"}}, ExpressionAttributeValues={":v": {"S": "x"}})
    assert err(e) == ("ValidationException", "ExpressionAttributeValues can only be specified when using expressions")


def test_legacy_attributes_to_get(ddb):
    make_table(ddb, "L")
    ddb.put_item(TableName="L", Item={"pk": {"S": "a"}, "x": {"N": "1"}, "y": {"S": "z"}})
    r = ddb.get_item(TableName="L", Key={"pk": {"S": "a"}}, AttributesToGet=["pk", "y"])
    assert r["Item"] == {"pk": {"S": "a"}, "y": {"S": "z"}}
    with pytest.raises(ClientError) as e:
        ddb.get_item(TableName="L", Key={"pk": {"S": "a"}}, AttributesToGet=["pk"], ProjectionExpression="pk")
    assert err(e) == ("ValidationException", "Can not use both expression and non-expression parameters in the same request: "
                      "Non-expression parameters: {AttributesToGet} Expression parameters: {ProjectionExpression}")


def test_consumed_capacity(ddb):
    make_table(ddb, "Cap")
    r = ddb.put_item(TableName="Cap", Item={"pk": {"S": "a"}, "v": {"S": "x" * 3000}}, ReturnConsumedCapacity="TOTAL")
    assert r["ConsumedCapacity"]["CapacityUnits"] == 3.0 and r["ConsumedCapacity"]["TableName"] == "Cap"
    r = ddb.get_item(TableName="Cap", Key={"pk": {"S": "a"}}, ReturnConsumedCapacity="TOTAL")
    assert r["ConsumedCapacity"]["CapacityUnits"] == 0.5
    r = ddb.get_item(TableName="Cap", Key={"pk": {"S": "a"}}, ConsistentRead=True, ReturnConsumedCapacity="INDEXES")
    assert r["ConsumedCapacity"]["CapacityUnits"] == 1.0 and r["ConsumedCapacity"]["Table"]["CapacityUnits"] == 1.0
    r = ddb.put_item(TableName="Cap", Item={"pk": {"S": "a"}}, ReturnConsumedCapacity="TOTAL")
    assert r["ConsumedCapacity"]["CapacityUnits"] == 3.0  # the larger of old and new


def test_concurrent_counter_increments(server, ddb):
    make_table(ddb, "Ctr")

    def worker():
        c = server.client("dynamodb")
        for _ in range(40):
            c.update_item(TableName="Ctr", Key={"pk": {"S": "c"}}, UpdateExpression="ADD n :one",
                          ExpressionAttributeValues={":one": {"N": "1"}})

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ddb.get_item(TableName="Ctr", Key={"pk": {"S": "c"}})["Item"]["n"] == {"N": "320"}


# --- query / scan --------------------------------------------------------------------

def fill(ddb, table, n=10, parts=("a",)):
    for p in parts:
        for i in range(n):
            ddb.put_item(TableName=table, Item={"pk": {"S": p}, "sk": {"N": str(i)}, "even": {"BOOL": i % 2 == 0}})


def sks(resp):
    return [int(i["sk"]["N"]) for i in resp["Items"]]


def test_query_range_conditions(ddb, pkt):
    fill(ddb, pkt, 10, ("a", "b"))
    q = lambda expr, **vals: sks(ddb.query(TableName=pkt, KeyConditionExpression=expr,
                                          ExpressionAttributeValues={":p": {"S": "a"}, **{k: {"N": str(v)} for k, v in vals.items()}}))
    assert q("pk = :p") == list(range(10))
    assert q("pk = :p AND sk = :x", **{":x": 3}) == [3]
    assert q("pk = :p AND sk < :x", **{":x": 3}) == [0, 1, 2]
    assert q("pk = :p AND sk <= :x", **{":x": 3}) == [0, 1, 2, 3]
    assert q("pk = :p AND sk > :x", **{":x": 7}) == [8, 9]
    assert q("pk = :p AND sk >= :x", **{":x": 7}) == [7, 8, 9]
    assert q("pk = :p AND sk BETWEEN :x AND :y", **{":x": 2, ":y": 4}) == [2, 3, 4]
    r = ddb.query(TableName=pkt, KeyConditionExpression="pk = :p", ScanIndexForward=False,
                  ExpressionAttributeValues={":p": {"S": "b"}})
    assert sks(r) == list(range(9, -1, -1))


def test_query_numeric_and_string_order(ddb):
    make_table(ddb, "Ord", ("pk", "S"), ("sk", "N"))
    for n in ["10", "-5", "2.5", "100", "-0.1", "0"]:
        ddb.put_item(TableName="Ord", Item={"pk": {"S": "x"}, "sk": {"N": n}})
    r = ddb.query(TableName="Ord", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "x"}})
    assert [i["sk"]["N"] for i in r["Items"]] == ["-5", "-0.1", "0", "2.5", "10", "100"]
    make_table(ddb, "Str", ("pk", "S"), ("sk", "S"))
    for s in ["b", "a", "ab", "B", "aa"]:
        ddb.put_item(TableName="Str", Item={"pk": {"S": "x"}, "sk": {"S": s}})
    r = ddb.query(TableName="Str", KeyConditionExpression="pk = :p AND begins_with(sk, :a)",
                  ExpressionAttributeValues={":p": {"S": "x"}, ":a": {"S": "a"}})
    assert [i["sk"]["S"] for i in r["Items"]] == ["a", "aa", "ab"]


def test_query_filter_limit_and_counts(ddb, pkt):
    fill(ddb, pkt, 10)
    r = ddb.query(TableName=pkt, KeyConditionExpression="pk = :p", FilterExpression="even = :t",
                  ExpressionAttributeValues={":p": {"S": "a"}, ":t": {"BOOL": True}}, Limit=4)
    assert sks(r) == [0, 2] and r["Count"] == 2 and r["ScannedCount"] == 4
    assert r["LastEvaluatedKey"] == {"pk": {"S": "a"}, "sk": {"N": "3"}}
    r = ddb.query(TableName=pkt, KeyConditionExpression="pk = :p", Select="COUNT",
                  ExpressionAttributeValues={":p": {"S": "a"}})
    assert r["Count"] == 10 and "Items" not in r


def test_query_pagination(ddb, pkt):
    fill(ddb, pkt, 25, ("a", "b"))
    got, start, pages = [], None, 0
    while True:
        kw = {"ExclusiveStartKey": start} if start else {}
        r = ddb.query(TableName=pkt, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "a"}}, Limit=7, **kw)
        got += sks(r)
        pages += 1
        start = r.get("LastEvaluatedKey")
        if not start:
            break
    assert got == list(range(25)) and pages == 4
    items = []
    for page in ddb.get_paginator("query").paginate(TableName=pkt, KeyConditionExpression="pk = :p", ScanIndexForward=False,
                                                    ExpressionAttributeValues={":p": {"S": "b"}}, PaginationConfig={"PageSize": 6}):
        items += sks(page)
    assert items == list(range(24, -1, -1))


def test_query_projection(ddb, pkt):
    fill(ddb, pkt, 2)
    r = ddb.query(TableName=pkt, KeyConditionExpression="pk = :p", ProjectionExpression="sk",
                  ExpressionAttributeValues={":p": {"S": "a"}})
    assert r["Items"] == [{"sk": {"N": "0"}}, {"sk": {"N": "1"}}]


def test_query_errors(ddb, pkt):
    with pytest.raises(ClientError) as e:
        ddb.query(TableName=pkt, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"N": "1"}})
    assert err(e)[0] == "ValidationException"
    with pytest.raises(ClientError) as e:
        ddb.query(TableName=pkt, IndexName="idx", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "a"}})
    assert err(e) == ("ValidationException", "The table does not have the specified index: idx")
    with pytest.raises(ClientError) as e:
        ddb.query(TableName=pkt, KeyConditionExpression="sk = :p", ExpressionAttributeValues={":p": {"N": "1"}})
    assert err(e)[0] == "ValidationException"


def test_scan_pagination_and_segments(ddb, pkt):
    fill(ddb, pkt, 10, ("a", "b", "c", "d", "e"))
    seen = []
    for page in ddb.get_paginator("scan").paginate(TableName=pkt, PaginationConfig={"PageSize": 7}):
        seen += [(i["pk"]["S"], int(i["sk"]["N"])) for i in page["Items"]]
    assert len(seen) == 50 and len(set(seen)) == 50
    seg = []
    for s in range(3):
        for page in ddb.get_paginator("scan").paginate(TableName=pkt, Segment=s, TotalSegments=3, PaginationConfig={"PageSize": 4}):
            seg += [(i["pk"]["S"], int(i["sk"]["N"])) for i in page["Items"]]
    assert sorted(seg) == sorted(seen)
    with pytest.raises(ClientError) as e:
        ddb.scan(TableName=pkt, Segment=3, TotalSegments=3)
    assert err(e)[0] == "ValidationException"


def test_scan_filter_counts(ddb, pkt):
    fill(ddb, pkt, 10)
    r = ddb.scan(TableName=pkt, FilterExpression="sk >= :n", ExpressionAttributeValues={":n": {"N": "8"}})
    assert r["Count"] == 2 and r["ScannedCount"] == 10 and "LastEvaluatedKey" not in r
    r = ddb.scan(TableName=pkt, Select="COUNT")
    assert r["Count"] == 10


def test_scan_one_megabyte_pages(ddb):
    make_table(ddb, "Mb")
    for i in range(30):
        ddb.put_item(TableName="Mb", Item={"pk": {"S": "k%02d" % i}, "v": {"S": "x" * 100_000}})
    r = ddb.scan(TableName="Mb")
    assert 0 < r["Count"] < 30 and "LastEvaluatedKey" in r
    total = r["Count"]
    while "LastEvaluatedKey" in r:
        r = ddb.scan(TableName="Mb", ExclusiveStartKey=r["LastEvaluatedKey"])
        total += r["Count"]
    assert total == 30


# --- batches and transactions --------------------------------------------------------

def test_batch_write_and_get(ddb):
    make_table(ddb, "B1")
    make_table(ddb, "B2")
    r = ddb.batch_write_item(RequestItems={
        "B1": [{"PutRequest": {"Item": {"pk": {"S": str(i)}}}} for i in range(20)],
        "B2": [{"PutRequest": {"Item": {"pk": {"S": "x"}, "v": {"N": "1"}}}}],
    })
    assert r["UnprocessedItems"] == {}
    ddb.batch_write_item(RequestItems={"B1": [{"DeleteRequest": {"Key": {"pk": {"S": "0"}}}}]})
    r = ddb.batch_get_item(RequestItems={
        "B1": {"Keys": [{"pk": {"S": "0"}}, {"pk": {"S": "1"}}], "ProjectionExpression": "pk"},
        "B2": {"Keys": [{"pk": {"S": "x"}}]},
    })
    assert r["Responses"]["B1"] == [{"pk": {"S": "1"}}]
    assert r["Responses"]["B2"] == [{"pk": {"S": "x"}, "v": {"N": "1"}}]
    assert r["UnprocessedKeys"] == {}
    assert ddb.describe_table(TableName="B1")["Table"]["ItemCount"] == 19


def test_batch_write_duplicates_and_limits(ddb):
    make_table(ddb, "BD")
    with pytest.raises(ClientError) as e:
        ddb.batch_write_item(RequestItems={"BD": [{"PutRequest": {"Item": {"pk": {"S": "a"}}}},
                                                  {"DeleteRequest": {"Key": {"pk": {"S": "a"}}}}]})
    assert err(e) == ("ValidationException", "Provided list of item keys contains duplicates")
    with pytest.raises(ClientError) as e:
        ddb.batch_write_item(RequestItems={"BD": [{"PutRequest": {"Item": {"pk": {"S": str(i)}}}} for i in range(26)]})
    assert err(e)[0] == "ValidationException"
    with pytest.raises(ClientError) as e:
        ddb.batch_get_item(RequestItems={"BD": {"Keys": [{"pk": {"S": str(i)}} for i in range(101)]}})
    assert err(e)[0] == "ValidationException"
    assert ddb.scan(TableName="BD")["Count"] == 0


def test_transact_write_all_or_nothing(ddb):
    make_table(ddb, "TA")
    make_table(ddb, "TB")
    ddb.put_item(TableName="TA", Item={"pk": {"S": "acct"}, "bal": {"N": "100"}})
    ddb.transact_write_items(TransactItems=[
        {"Update": {"TableName": "TA", "Key": {"pk": {"S": "acct"}}, "UpdateExpression": "SET bal = bal - :a",
                    "ConditionExpression": "bal >= :a", "ExpressionAttributeValues": {":a": {"N": "30"}}}},
        {"Put": {"TableName": "TB", "Item": {"pk": {"S": "log1"}, "amt": {"N": "30"}}}},
    ])
    assert ddb.get_item(TableName="TA", Key={"pk": {"S": "acct"}})["Item"]["bal"] == {"N": "70"}
    with pytest.raises(ClientError) as e:
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": "TB", "Item": {"pk": {"S": "log2"}}}},
            {"Update": {"TableName": "TA", "Key": {"pk": {"S": "acct"}}, "UpdateExpression": "SET bal = bal - :a",
                        "ConditionExpression": "bal >= :a", "ExpressionAttributeValues": {":a": {"N": "500"}}}},
        ])
    code, msg = err(e)
    assert code == "TransactionCanceledException"
    assert msg == "Transaction cancelled, please refer cancellation reasons for specific reasons [None, ConditionalCheckFailed]"
    assert "Item" not in ddb.get_item(TableName="TB", Key={"pk": {"S": "log2"}})
    assert ddb.get_item(TableName="TA", Key={"pk": {"S": "acct"}})["Item"]["bal"] == {"N": "70"}


def test_transact_write_check_delete_and_duplicates(ddb):
    make_table(ddb, "TC")
    ddb.put_item(TableName="TC", Item={"pk": {"S": "a"}, "ok": {"BOOL": True}})
    ddb.put_item(TableName="TC", Item={"pk": {"S": "b"}})
    ddb.transact_write_items(TransactItems=[
        {"ConditionCheck": {"TableName": "TC", "Key": {"pk": {"S": "a"}}, "ConditionExpression": "ok = :t",
                            "ExpressionAttributeValues": {":t": {"BOOL": True}}}},
        {"Delete": {"TableName": "TC", "Key": {"pk": {"S": "b"}}}},
    ])
    assert "Item" not in ddb.get_item(TableName="TC", Key={"pk": {"S": "b"}})
    with pytest.raises(ClientError) as e:
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": "TC", "Item": {"pk": {"S": "a"}}}},
            {"Delete": {"TableName": "TC", "Key": {"pk": {"S": "a"}}}},
        ])
    assert err(e) == ("ValidationException", "Transaction request cannot include multiple operations on one item")


def test_transact_write_idempotency_token(ddb):
    make_table(ddb, "TI")
    ddb.put_item(TableName="TI", Item={"pk": {"S": "c"}, "n": {"N": "0"}})
    items = [{"Update": {"TableName": "TI", "Key": {"pk": {"S": "c"}}, "UpdateExpression": "ADD n :one",
                         "ExpressionAttributeValues": {":one": {"N": "1"}}}}]
    ddb.transact_write_items(TransactItems=items, ClientRequestToken="tok-1")
    ddb.transact_write_items(TransactItems=items, ClientRequestToken="tok-1")
    assert ddb.get_item(TableName="TI", Key={"pk": {"S": "c"}})["Item"]["n"] == {"N": "1"}
    items[0]["Update"]["ExpressionAttributeValues"][":one"] = {"N": "2"}
    with pytest.raises(ClientError) as e:
        ddb.transact_write_items(TransactItems=items, ClientRequestToken="tok-1")
    assert err(e)[0] == "IdempotentParameterMismatchException"


def test_transact_get(ddb):
    make_table(ddb, "TG")
    ddb.put_item(TableName="TG", Item={"pk": {"S": "a"}, "v": {"S": "x"}, "w": {"S": "y"}})
    r = ddb.transact_get_items(TransactItems=[
        {"Get": {"TableName": "TG", "Key": {"pk": {"S": "a"}}, "ProjectionExpression": "v"}},
        {"Get": {"TableName": "TG", "Key": {"pk": {"S": "zz"}}}},
    ])
    assert r["Responses"] == [{"Item": {"v": {"S": "x"}}}, {}]


# --- durability ----------------------------------------------------------------------

def test_persistence_across_restart(server_factory, tmp_path):
    data = str(tmp_path / "data")
    s1 = server_factory(data_dir=data)
    c = s1.client("dynamodb")
    make_table(c, "Keep", ("pk", "S"), ("sk", "N"))
    for i in range(5):
        c.put_item(TableName="Keep", Item={"pk": {"S": "a"}, "sk": {"N": str(i)}})
    c.delete_item(TableName="Keep", Key={"pk": {"S": "a"}, "sk": {"N": "0"}})
    s1.kill9()
    s2 = server_factory(data_dir=data)
    c2 = s2.client("dynamodb")
    assert c2.list_tables()["TableNames"] == ["Keep"]
    r = c2.query(TableName="Keep", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "a"}})
    assert sks(r) == [1, 2, 3, 4]
    assert c2.describe_table(TableName="Keep")["Table"]["ItemCount"] == 4


# --- error bodies and malformed input ------------------------------------------------

def test_condition_failure_returns_old_item(ddb):
    make_table(ddb, "RV")
    ddb.put_item(TableName="RV", Item={"pk": {"S": "a"}, "v": {"N": "1"}})
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName="RV", Item={"pk": {"S": "a"}}, ConditionExpression="attribute_not_exists(pk)",
                     ReturnValuesOnConditionCheckFailure="ALL_OLD")
    assert e.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert e.value.response["Item"] == {"pk": {"S": "a"}, "v": {"N": "1"}}
    with pytest.raises(ClientError) as e:
        ddb.delete_item(TableName="RV", Key={"pk": {"S": "a"}}, ConditionExpression="v = :two",
                        ExpressionAttributeValues={":two": {"N": "2"}})
    assert "Item" not in e.value.response


def test_transaction_cancellation_reasons(ddb):
    make_table(ddb, "CR")
    ddb.put_item(TableName="CR", Item={"pk": {"S": "a"}, "v": {"N": "1"}})
    with pytest.raises(ClientError) as e:
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": "CR", "Item": {"pk": {"S": "b"}}}},
            {"ConditionCheck": {"TableName": "CR", "Key": {"pk": {"S": "a"}}, "ConditionExpression": "v = :two",
                                "ExpressionAttributeValues": {":two": {"N": "2"}},
                                "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
        ])
    reasons = e.value.response["CancellationReasons"]
    assert reasons[0] == {"Code": "None"}
    assert reasons[1]["Code"] == "ConditionalCheckFailed"
    assert reasons[1]["Item"] == {"pk": {"S": "a"}, "v": {"N": "1"}}


def test_malformed_values_are_validation_errors(server):
    ddb = server.client("dynamodb", validate=False)
    make_table(ddb, "M")
    bad_items = [
        {"pk": {"S": "a"}, "n": {"N": "not-a-number"}},
        {"pk": {"S": "a"}, "s": {"SS": []}},
        {"pk": {"S": "a"}, "s": {"SS": ["x", "x"]}},
        {"pk": {"S": "a"}, "s": {"S": "x", "N": "1"}},
        {"pk": {"S": "a"}, "s": {}},
    ]
    for item in bad_items:
        with pytest.raises(ClientError) as e:
            ddb.put_item(TableName="M", Item=item)
        assert e.value.response["Error"]["Code"] == "ValidationException", item
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError) as e:
        ddb.transact_write_items(TransactItems=[{"Put": {"TableName": "M", "Item": {"pk": {"S": str(i)}}}} for i in range(101)])
    assert e.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as e:
        ddb.query(TableName="M", KeyConditionExpression="pk = :p AND AND", ExpressionAttributeValues={":p": {"S": "a"}})
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert ddb.scan(TableName="M")["Count"] == 0
