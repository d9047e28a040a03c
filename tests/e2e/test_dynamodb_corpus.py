"""DynamoDB corpus: table-driven cases (request → result or error code + message) through
boto3 against the real binary. Legacy parameters, transaction conflicts, item collection
metrics, limits and malformed requests."""

import json
import tempfile
import threading
import urllib.request
import urllib.error

import pytest
from botocore.exceptions import ClientError

from conftest import Server

INVALID = "One or more parameter values were invalid: "
MIX = "Can not use both expression and non-expression parameters in the same request: "
CCF = ("ConditionalCheckFailedException", "The conditional request failed")


@pytest.fixture(scope="module")
def srv():
    d = tempfile.TemporaryDirectory(prefix="nimbus-corpus-")
    s = Server(d.name).start()
    c = s.client("dynamodb")
    mk = lambda name, keys, defs, **kw: c.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": k, "KeyType": t} for k, t in keys],
        AttributeDefinitions=[{"AttributeName": k, "AttributeType": t} for k, t in defs], **kw)
    mk("H", [("pk", "HASH")], [("pk", "S")])
    mk("D", [("pk", "HASH")], [("pk", "S")])
    mk("Q", [("pk", "HASH"), ("sk", "RANGE")], [("pk", "S"), ("sk", "N")])
    mk("QS", [("pk", "HASH"), ("sk", "RANGE")], [("pk", "S"), ("sk", "S")])
    mk("LSI", [("pk", "HASH"), ("sk", "RANGE")], [("pk", "S"), ("sk", "S"), ("alt", "S")],
       LocalSecondaryIndexes=[{"IndexName": "ByAlt", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                                                  {"AttributeName": "alt", "KeyType": "RANGE"}],
                               "Projection": {"ProjectionType": "ALL"}}])
    for it in DATA:
        c.put_item(TableName="D", Item=it)
    for i in range(10):
        c.put_item(TableName="Q", Item={"pk": {"S": "a"}, "sk": {"N": str(i)}, "v": {"N": str(i * 10)}})
        c.put_item(TableName="QS", Item={"pk": {"S": "a"}, "sk": {"S": "item%02d" % i}, "v": {"S": "x" if i % 2 else "y"}})
    c.put_item(TableName="Q", Item={"pk": {"S": "b"}, "sk": {"N": "1"}})
    s.c = c
    yield s
    s.stop()
    d.cleanup()


DATA = [
    {"pk": {"S": "p0"}, "n": {"N": "1"}, "s": {"S": "apple"}, "ss": {"SS": ["a", "b"]}, "b": {"B": b"\x01\x02"}},
    {"pk": {"S": "p1"}, "n": {"N": "5"}, "s": {"S": "banana"}, "ns": {"NS": ["1", "2"]}},
    {"pk": {"S": "p2"}, "n": {"N": "10"}, "s": {"S": "cherry"}, "l": {"L": [{"N": "1"}, {"S": "x"}]}},
    {"pk": {"S": "p3"}, "s": {"S": "apricot"}, "ss": {"SS": ["c"]}},
    {"pk": {"S": "p4"}, "n": {"N": "-3.5"}, "nul": {"NULL": True}, "bo": {"BOOL": True}},
]


def call(c, op, req):
    return getattr(c, op)(**req)


def err_of(c, op, req):
    with pytest.raises(ClientError) as e:
        call(c, op, req)
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


def pks(items):
    return sorted(i["pk"]["S"] for i in items)


# --- 1. legacy ScanFilter ≡ FilterExpression ----------------------------------------------

N = lambda x: {"N": str(x)}
S = lambda x: {"S": x}

# (attribute, operator, values, equivalent FilterExpression, expected pks)
FILTERS = [
    ("n", "EQ", [N(5)], "n = :v0", ["p1"]),
    ("n", "NE", [N(5)], "n <> :v0", ["p0", "p2", "p3", "p4"]),
    ("n", "LT", [N(5)], "n < :v0", ["p0", "p4"]),
    ("n", "LE", [N(5)], "n <= :v0", ["p0", "p1", "p4"]),
    ("n", "GT", [N(5)], "n > :v0", ["p2"]),
    ("n", "GE", [N(5)], "n >= :v0", ["p1", "p2"]),
    ("n", "GT", [N(-4)], "n > :v0", ["p0", "p1", "p2", "p4"]),
    ("n", "BETWEEN", [N(1), N(5)], "n BETWEEN :v0 AND :v1", ["p0", "p1"]),
    ("n", "BETWEEN", [N(-10), N(100)], "n BETWEEN :v0 AND :v1", ["p0", "p1", "p2", "p4"]),
    ("n", "IN", [N(1), N(10)], "n IN (:v0, :v1)", ["p0", "p2"]),
    ("n", "IN", [N(7)], "n IN (:v0)", []),
    ("n", "NULL", [], "attribute_not_exists(n)", ["p3"]),
    ("n", "NOT_NULL", [], "attribute_exists(n)", ["p0", "p1", "p2", "p4"]),
    ("nul", "NOT_NULL", [], "attribute_exists(nul)", ["p4"]),
    ("s", "BEGINS_WITH", [S("ap")], "begins_with(s, :v0)", ["p0", "p3"]),
    ("s", "BEGINS_WITH", [S("zz")], "begins_with(s, :v0)", []),
    ("s", "CONTAINS", [S("an")], "contains(s, :v0)", ["p1"]),
    ("s", "CONTAINS", [S("r")], "contains(s, :v0)", ["p2", "p3"]),
    ("s", "EQ", [S("apple")], "s = :v0", ["p0"]),
    ("s", "GT", [S("b")], "s > :v0", ["p1", "p2"]),
    ("s", "LT", [S("b")], "s < :v0", ["p0", "p3"]),
    ("s", "GE", [S("banana")], "s >= :v0", ["p1", "p2"]),
    ("s", "LE", [S("apricot")], "s <= :v0", ["p0", "p3"]),
    ("s", "BETWEEN", [S("a"), S("b")], "s BETWEEN :v0 AND :v1", ["p0", "p3"]),
    ("s", "IN", [S("apple"), S("cherry")], "s IN (:v0, :v1)", ["p0", "p2"]),
    ("ss", "CONTAINS", [S("a")], "contains(ss, :v0)", ["p0"]),
    ("ss", "CONTAINS", [S("c")], "contains(ss, :v0)", ["p3"]),
    ("ns", "CONTAINS", [N(2)], "contains(ns, :v0)", ["p1"]),
    ("l", "CONTAINS", [S("x")], "contains(l, :v0)", ["p2"]),
    ("b", "BEGINS_WITH", [{"B": b"\x01"}], "begins_with(b, :v0)", ["p0"]),
    ("b", "CONTAINS", [{"B": b"\x02"}], "contains(b, :v0)", ["p0"]),
    ("ss", "EQ", [{"SS": ["b", "a"]}], "ss = :v0", ["p0"]),
]


@pytest.mark.parametrize("attr,op,vals,expr,want", FILTERS, ids=[f"scanfilter-{f[0]}-{f[1]}-{i}" for i, f in enumerate(FILTERS)])
def test_scan_filter_matches_expression(srv, attr, op, vals, expr, want):
    c = srv.c
    legacy = c.scan(TableName="D", ScanFilter={attr: {"ComparisonOperator": op, "AttributeValueList": vals}})
    assert pks(legacy["Items"]) == want
    assert legacy["Count"] == len(want) and legacy["ScannedCount"] == len(DATA)
    kw = {"ExpressionAttributeValues": {f":v{i}": v for i, v in enumerate(vals)}} if vals else {}
    modern = c.scan(TableName="D", FilterExpression=expr, **kw)
    assert pks(modern["Items"]) == want


def test_not_contains_semantics(srv):
    r = srv.c.scan(TableName="D", ScanFilter={"s": {"ComparisonOperator": "NOT_CONTAINS", "AttributeValueList": [S("an")]}})
    assert pks(r["Items"]) == ["p0", "p2", "p3"]


@pytest.mark.parametrize("conds,op,want", [
    ({"n": {"ComparisonOperator": "GT", "AttributeValueList": [N(0)]}, "s": {"ComparisonOperator": "BEGINS_WITH", "AttributeValueList": [S("b")]}}, "AND", ["p1"]),
    ({"n": {"ComparisonOperator": "GT", "AttributeValueList": [N(0)]}, "s": {"ComparisonOperator": "BEGINS_WITH", "AttributeValueList": [S("b")]}}, None, ["p1"]),
    ({"n": {"ComparisonOperator": "GT", "AttributeValueList": [N(6)]}, "s": {"ComparisonOperator": "BEGINS_WITH", "AttributeValueList": [S("ap")]}}, "OR", ["p0", "p2", "p3"]),
    ({"n": {"ComparisonOperator": "NULL"}, "bo": {"ComparisonOperator": "NOT_NULL"}}, "OR", ["p3", "p4"]),
    ({"n": {"ComparisonOperator": "NULL"}, "bo": {"ComparisonOperator": "NOT_NULL"}}, "AND", []),
], ids=["and", "default-and", "or", "or-null", "and-null"])
def test_conditional_operator(srv, conds, op, want):
    kw = {"ConditionalOperator": op} if op else {}
    r = srv.c.scan(TableName="D", ScanFilter=conds, **kw)
    assert pks(r["Items"]) == want


# --- 2. legacy KeyConditions ≡ KeyConditionExpression --------------------------------------

KEYCONDS = [
    ("Q", None, None, "pk = :h", list(range(10))),
    ("Q", "EQ", [N(3)], "pk = :h AND sk = :v0", [3]),
    ("Q", "LT", [N(3)], "pk = :h AND sk < :v0", [0, 1, 2]),
    ("Q", "LE", [N(3)], "pk = :h AND sk <= :v0", [0, 1, 2, 3]),
    ("Q", "GT", [N(7)], "pk = :h AND sk > :v0", [8, 9]),
    ("Q", "GE", [N(7)], "pk = :h AND sk >= :v0", [7, 8, 9]),
    ("Q", "BETWEEN", [N(2), N(4)], "pk = :h AND sk BETWEEN :v0 AND :v1", [2, 3, 4]),
    ("QS", "BEGINS_WITH", [S("item0")], "pk = :h AND begins_with(sk, :v0)", list(range(10))),
    ("QS", "EQ", [S("item05")], "pk = :h AND sk = :v0", [5]),
    ("QS", "GT", [S("item07")], "pk = :h AND sk > :v0", [8, 9]),
    ("QS", "BETWEEN", [S("item01"), S("item03")], "pk = :h AND sk BETWEEN :v0 AND :v1", [1, 2, 3]),
]


def sk_ids(table, items):
    if table == "Q":
        return [int(i["sk"]["N"]) for i in items]
    return [int(i["sk"]["S"][4:]) for i in items]


@pytest.mark.parametrize("table,op,vals,expr,want", KEYCONDS, ids=[f"keyconditions-{k[0]}-{k[1]}" for k in KEYCONDS])
@pytest.mark.parametrize("forward", [True, False], ids=["fwd", "rev"])
def test_key_conditions_match_expression(srv, table, op, vals, expr, want, forward):
    c = srv.c
    kc = {"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [S("a")]}}
    if op:
        kc["sk"] = {"ComparisonOperator": op, "AttributeValueList": vals}
    legacy = c.query(TableName=table, KeyConditions=kc, ScanIndexForward=forward)
    exp = want if forward else list(reversed(want))
    assert sk_ids(table, legacy["Items"]) == exp
    values = {":h": S("a"), **{f":v{i}": v for i, v in enumerate(vals or [])}}
    modern = c.query(TableName=table, KeyConditionExpression=expr, ExpressionAttributeValues=values, ScanIndexForward=forward)
    assert modern["Items"] == legacy["Items"]


def test_query_filter_and_attributes_to_get(srv):
    r = srv.c.query(TableName="Q", KeyConditions={"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [S("a")]}},
                    QueryFilter={"v": {"ComparisonOperator": "GE", "AttributeValueList": [N(50)]}}, AttributesToGet=["sk"])
    assert r["Items"] == [{"sk": N(i)} for i in range(5, 10)] and r["ScannedCount"] == 10


def test_key_conditions_with_filter_expression_allowed(srv):
    r = srv.c.query(TableName="Q", KeyConditions={"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [S("a")]}},
                    FilterExpression="v > :x", ExpressionAttributeValues={":x": N(80)})
    assert [i["sk"] for i in r["Items"]] == [N(9)]


def test_query_filter_limit_and_select_count(srv):
    r = srv.c.query(TableName="Q", KeyConditions={"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [S("a")]}},
                    QueryFilter={"v": {"ComparisonOperator": "LT", "AttributeValueList": [N(30)]}}, Limit=5, Select="COUNT")
    assert r["Count"] == 3 and r["ScannedCount"] == 5 and "Items" not in r


# --- 3. legacy validation errors -------------------------------------------------------------

def scanf(cond):
    return ("scan", {"TableName": "D", "ScanFilter": {"n": cond}})


ARGCOUNT = [(op, vals) for op, vals in [
    ("EQ", []), ("EQ", [N(1), N(2)]), ("NE", []), ("LT", []), ("LE", [N(1), N(2)]), ("GT", []), ("GE", []),
    ("CONTAINS", []), ("NOT_CONTAINS", [N(1), N(2)]), ("BEGINS_WITH", []), ("NULL", [N(1)]), ("NOT_NULL", [N(1)]),
    ("IN", []), ("BETWEEN", [N(1)]), ("BETWEEN", [N(1), N(2), N(3)]),
]]

ERRORS = [
    *[(f"argcount-{op}-{len(v)}",) + scanf({"ComparisonOperator": op, "AttributeValueList": v})
      + (INVALID + f"Invalid number of argument(s) for the {op} ComparisonOperator",) for op, v in ARGCOUNT],
    *[(f"argtype-{op}-{t}",) + scanf({"ComparisonOperator": op, "AttributeValueList": [val]})
      + (INVALID + f"ComparisonOperator {op} is not valid for {t} AttributeValue type",)
      for op, t, val in [("LT", "SS", {"SS": ["a"]}), ("GT", "BOOL", {"BOOL": True}), ("LE", "NS", {"NS": ["1"]}),
                         ("GE", "L", {"L": []}), ("CONTAINS", "SS", {"SS": ["a"]}), ("BEGINS_WITH", "N", N(1)),
                         ("EQ", "BOOL", {"BOOL": False}), ("NE", "M", {"M": {}}), ("IN", "SS", {"SS": ["x"]}),
                         ("NOT_CONTAINS", "NULL", {"NULL": True})]],
    ("mixed-types",) + scanf({"ComparisonOperator": "IN", "AttributeValueList": [N(1), S("a")]})
    + (INVALID + "AttributeValues inside AttributeValueList must be of same type",),
    ("between-reversed",) + scanf({"ComparisonOperator": "BETWEEN", "AttributeValueList": [N(5), N(1)]})
    + ("The BETWEEN condition was provided a range where the lower bound is greater than the upper bound",),
    ("mix-put", "put_item", {"TableName": "H", "Item": {"pk": S("m")}, "Expected": {"pk": {"Exists": False}}, "ConditionExpression": "attribute_not_exists(pk)"},
     MIX + "Non-expression parameters: {Expected} Expression parameters: {ConditionExpression}"),
    ("mix-delete", "delete_item", {"TableName": "H", "Key": {"pk": S("m")}, "Expected": {"pk": {"Exists": False}}, "ConditionExpression": "attribute_not_exists(pk)"},
     MIX + "Non-expression parameters: {Expected} Expression parameters: {ConditionExpression}"),
    ("mix-update", "update_item", {"TableName": "H", "Key": {"pk": S("m")}, "AttributeUpdates": {"a": {"Value": N(1)}}, "UpdateExpression": "SET a = :a", "ExpressionAttributeValues": {":a": N(1)}},
     MIX + "Non-expression parameters: {AttributeUpdates} Expression parameters: {UpdateExpression}"),
    ("mix-update-2", "update_item", {"TableName": "H", "Key": {"pk": S("m")}, "AttributeUpdates": {"a": {"Value": N(1)}}, "Expected": {"a": {"Exists": False}}, "UpdateExpression": "SET a = :a", "ConditionExpression": "attribute_exists(a)", "ExpressionAttributeValues": {":a": N(1)}},
     MIX + "Non-expression parameters: {AttributeUpdates, Expected} Expression parameters: {UpdateExpression, ConditionExpression}"),
    ("mix-get", "get_item", {"TableName": "H", "Key": {"pk": S("m")}, "AttributesToGet": ["pk"], "ProjectionExpression": "pk"},
     MIX + "Non-expression parameters: {AttributesToGet} Expression parameters: {ProjectionExpression}"),
    ("mix-query", "query", {"TableName": "Q", "KeyConditionExpression": "pk = :h", "ExpressionAttributeValues": {":h": S("a")}, "QueryFilter": {"v": {"ComparisonOperator": "NOT_NULL"}}},
     MIX + "Non-expression parameters: {QueryFilter} Expression parameters: {KeyConditionExpression}"),
    ("mix-query-kc", "query", {"TableName": "Q", "KeyConditionExpression": "pk = :h", "ExpressionAttributeValues": {":h": S("a")}, "KeyConditions": {"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [S("a")]}}},
     MIX + "Non-expression parameters: {KeyConditions} Expression parameters: {KeyConditionExpression}"),
    ("mix-scan", "scan", {"TableName": "D", "FilterExpression": "attribute_exists(n)", "ScanFilter": {"n": {"ComparisonOperator": "NOT_NULL"}}},
     MIX + "Non-expression parameters: {ScanFilter} Expression parameters: {FilterExpression}"),
    ("mix-scan-proj", "scan", {"TableName": "D", "ProjectionExpression": "pk", "AttributesToGet": ["pk"], "ConditionalOperator": "OR"},
     MIX + "Non-expression parameters: {AttributesToGet, ConditionalOperator} Expression parameters: {ProjectionExpression}"),
    ("mix-batchget", "batch_get_item", {"RequestItems": {"H": {"Keys": [{"pk": S("m")}], "AttributesToGet": ["pk"], "ProjectionExpression": "pk"}}},
     MIX + "Non-expression parameters: {AttributesToGet} Expression parameters: {ProjectionExpression}"),
    ("expected-exists-false-value", "put_item", {"TableName": "H", "Item": {"pk": S("e")}, "Expected": {"a": {"Exists": False, "Value": N(1)}}},
     INVALID + "Value cannot be used when Exists is false for Attribute: a"),
    ("expected-exists-true-novalue", "put_item", {"TableName": "H", "Item": {"pk": S("e")}, "Expected": {"a": {"Exists": True}}},
     INVALID + "Value must be provided when Exists is true for Attribute: a"),
    ("expected-empty", "put_item", {"TableName": "H", "Item": {"pk": S("e")}, "Expected": {"a": {}}},
     INVALID + "Value must be provided when Exists is null for Attribute: a"),
    ("expected-avl-noop", "put_item", {"TableName": "H", "Item": {"pk": S("e")}, "Expected": {"a": {"AttributeValueList": [N(1)]}}},
     INVALID + "AttributeValueList can only be used with a ComparisonOperator for Attribute: a"),
    ("expected-exists-and-op", "put_item", {"TableName": "H", "Item": {"pk": S("e")}, "Expected": {"a": {"Exists": True, "ComparisonOperator": "EQ", "Value": N(1)}}},
     INVALID + "Exists and ComparisonOperator cannot be used together for Attribute: a"),
    ("expected-value-and-avl", "put_item", {"TableName": "H", "Item": {"pk": S("e")}, "Expected": {"a": {"ComparisonOperator": "EQ", "Value": N(1), "AttributeValueList": [N(1)]}}},
     INVALID + "Value and AttributeValueList cannot be used together for Attribute: a"),
    ("expected-op-novalue", "delete_item", {"TableName": "H", "Key": {"pk": S("e")}, "Expected": {"a": {"ComparisonOperator": "GT"}}},
     INVALID + "Value or AttributeValueList must be used with ComparisonOperator: GT for Attribute: a"),
    ("expected-argcount", "update_item", {"TableName": "H", "Key": {"pk": S("e")}, "Expected": {"a": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [N(1)]}}},
     INVALID + "Invalid number of argument(s) for the BETWEEN ComparisonOperator"),
    ("update-put-novalue", "update_item", {"TableName": "H", "Key": {"pk": S("e")}, "AttributeUpdates": {"a": {"Action": "PUT"}}},
     INVALID + "Only DELETE action is allowed when no attribute value is specified"),
    ("update-add-novalue", "update_item", {"TableName": "H", "Key": {"pk": S("e")}, "AttributeUpdates": {"a": {"Action": "ADD"}}},
     INVALID + "Only DELETE action is allowed when no attribute value is specified"),
    ("update-add-string", "update_item", {"TableName": "H", "Key": {"pk": S("e")}, "AttributeUpdates": {"a": {"Action": "ADD", "Value": S("x")}}},
     INVALID + "ADD action is not supported for the type S"),
    ("update-add-bool", "update_item", {"TableName": "H", "Key": {"pk": S("e")}, "AttributeUpdates": {"a": {"Action": "ADD", "Value": {"BOOL": True}}}},
     INVALID + "ADD action is not supported for the type BOOL"),
    ("update-delete-number", "update_item", {"TableName": "H", "Key": {"pk": S("e")}, "AttributeUpdates": {"a": {"Action": "DELETE", "Value": N(1)}}},
     INVALID + "DELETE action with value is not supported for the type N"),
    ("update-key", "update_item", {"TableName": "H", "Key": {"pk": S("e")}, "AttributeUpdates": {"pk": {"Value": S("z")}}},
     INVALID + "Cannot update attribute pk. This attribute is part of the key"),
    ("keycond-missing-hash", "query", {"TableName": "Q", "KeyConditions": {"sk": {"ComparisonOperator": "EQ", "AttributeValueList": [N(1)]}}},
     "Query condition missed key schema element: pk"),
    ("keycond-hash-not-eq", "query", {"TableName": "Q", "KeyConditions": {"pk": {"ComparisonOperator": "BEGINS_WITH", "AttributeValueList": [S("a")]}}},
     "Query key condition not supported"),
    ("keycond-not-indexable", "query", {"TableName": "Q", "KeyConditions": {"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [S("a")]}, "sk": {"ComparisonOperator": "NE", "AttributeValueList": [N(1)]}}},
     "Attempted conditional constraint is not an indexable operation"),
    ("keycond-three", "query", {"TableName": "Q", "KeyConditions": {"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [S("a")]}, "sk": {"ComparisonOperator": "EQ", "AttributeValueList": [N(1)]}, "v": {"ComparisonOperator": "EQ", "AttributeValueList": [N(1)]}}},
     "Conditions can be of length 1 or 2 only"),
    ("keycond-argcount", "query", {"TableName": "Q", "KeyConditions": {"pk": {"ComparisonOperator": "EQ", "AttributeValueList": []}}},
     INVALID + "Invalid number of argument(s) for the EQ ComparisonOperator"),
    ("query-no-keycond", "query", {"TableName": "Q"},
     "Either the KeyConditions or KeyConditionExpression parameter must be specified in the request."),
    ("attrs-dup", "get_item", {"TableName": "H", "Key": {"pk": S("e")}, "AttributesToGet": ["a", "a"]},
     INVALID + "Duplicate value in attribute name: a"),
    ("select-count-attrs", "scan", {"TableName": "D", "Select": "COUNT", "AttributesToGet": ["pk"]},
     "Cannot specify the AttributesToGet when choosing to get only the Count"),
    ("select-all-attrs", "scan", {"TableName": "D", "Select": "ALL_ATTRIBUTES", "AttributesToGet": ["pk"]},
     "Cannot specify the AttributesToGet when choosing to get ALL_ATTRIBUTES"),
    ("names-without-expr", "scan", {"TableName": "D", "ScanFilter": {"n": {"ComparisonOperator": "NOT_NULL"}}, "ExpressionAttributeNames": {"#n": "n"}},
     "ExpressionAttributeNames can only be specified when using expressions"),
    ("values-without-expr", "put_item", {"TableName": "H", "Item": {"pk": S("e")}, "Expected": {"a": {"Exists": False}}, "ExpressionAttributeValues": {":a": N(1)}},
     "ExpressionAttributeValues can only be specified when using expressions"),
    # expression-attribute rules and limits
    ("names-empty", "get_item", {"TableName": "H", "Key": {"pk": S("e")}, "ProjectionExpression": "pk", "ExpressionAttributeNames": {}},
     "ExpressionAttributeNames must not be empty"),
    ("values-empty", "put_item", {"TableName": "H", "Item": {"pk": S("e")}, "ConditionExpression": "attribute_exists(pk)", "ExpressionAttributeValues": {}},
     "ExpressionAttributeValues must not be empty"),
    ("names-bad-key", "get_item", {"TableName": "H", "Key": {"pk": S("e")}, "ProjectionExpression": "pk", "ExpressionAttributeNames": {"n": "pk"}},
     'ExpressionAttributeNames contains invalid key: Syntax error; key: "n"'),
    ("values-bad-key", "put_item", {"TableName": "H", "Item": {"pk": S("e")}, "ConditionExpression": "a = :a", "ExpressionAttributeValues": {"a": N(1)}},
     'ExpressionAttributeValues contains invalid key: Syntax error; key: "a"'),
    ("names-unused", "get_item", {"TableName": "H", "Key": {"pk": S("e")}, "ProjectionExpression": "pk", "ExpressionAttributeNames": {"#x": "x"}},
     "Value provided in ExpressionAttributeNames unused in expressions: keys: {#x}"),
    ("values-unused", "put_item", {"TableName": "H", "Item": {"pk": S("e")}, "ConditionExpression": "attribute_not_exists(pk)", "ExpressionAttributeValues": {":x": N(1)}},
     "Value provided in ExpressionAttributeValues unused in expressions: keys: {:x}"),
    ("value-undefined", "put_item", {"TableName": "H", "Item": {"pk": S("e")}, "ConditionExpression": "a = :a", "ExpressionAttributeValues": {":b": N(1)}},
     "Invalid ConditionExpression: An expression attribute value used in expression is not defined; attribute value: :a"),
    ("name-undefined", "get_item", {"TableName": "H", "Key": {"pk": S("e")}, "ProjectionExpression": "#a"},
     "Invalid ProjectionExpression: An expression attribute name used in the document path is not defined; attribute name: #a"),
    ("reserved-word", "get_item", {"TableName": "H", "Key": {"pk": S("e")}, "ProjectionExpression": "name"},
     "Invalid ProjectionExpression: Attribute name is a reserved keyword; reserved keyword: name"),
    ("expr-too-long", "put_item", {"TableName": "H", "Item": {"pk": S("e")}, "ConditionExpression": "attribute_not_exists(" + "a" * 4100 + ")"},
     "Invalid ConditionExpression: Expression size has exceeded the maximum allowed size; expression size: 4122"),
    ("filter-too-long", "scan", {"TableName": "D", "FilterExpression": "attribute_exists(" + "a" * 4090 + ")"},
     "Invalid FilterExpression: Expression size has exceeded the maximum allowed size; expression size: 4108"),
    ("syntax-error", "put_item", {"TableName": "H", "Item": {"pk": S("e")}, "ConditionExpression": "a = = b"},
     'Invalid ConditionExpression: Syntax error; token: "=", near: "= = b"'),
    ("empty-expr", "put_item", {"TableName": "H", "Item": {"pk": S("e")}, "ConditionExpression": ""},
     "Invalid ConditionExpression: The expression can not be empty;"),
    ("unknown-function", "scan", {"TableName": "D", "FilterExpression": "foo(n)"},
     "Invalid FilterExpression: Invalid function name; function: foo"),
    ("update-syntax", "update_item", {"TableName": "H", "Key": {"pk": S("e")}, "UpdateExpression": "SET"},
     'Invalid UpdateExpression: Syntax error; token: "<EOF>", near: "SET"'),
    ("bad-number", "put_item", {"TableName": "H", "Item": {"pk": S("e"), "n": {"N": "abc"}}},
     "The parameter cannot be converted to a numeric value: abc"),
    ("empty-set", "put_item", {"TableName": "H", "Item": {"pk": S("e"), "s": {"SS": []}}},
     INVALID + "An string set  may not be empty"),
    ("empty-key", "put_item", {"TableName": "H", "Item": {"pk": S("")}},
     "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: pk"),
    ("missing-key", "put_item", {"TableName": "H", "Item": {"x": S("a")}},
     INVALID + "Missing the key pk in the item"),
    ("wrong-key-type", "get_item", {"TableName": "H", "Key": {"pk": N(1)}},
     "The provided key element does not match the schema"),
    ("oversize-item", "put_item", {"TableName": "H", "Item": {"pk": S("big"), "v": S("x" * (400 * 1024 + 1))}},
     "Item size has exceeded the maximum allowed size"),
    ("batchget-101", "batch_get_item", {"RequestItems": {"H": {"Keys": [{"pk": S(f"k{i}")} for i in range(60)]}, "D": {"Keys": [{"pk": S(f"k{i}")} for i in range(41)]}}},
     "Too many items requested for the BatchGetItem call"),
    ("batchget-dup", "batch_get_item", {"RequestItems": {"H": {"Keys": [{"pk": S("k")}, {"pk": S("k")}]}}},
     "Provided list of item keys contains duplicates"),
    ("txn-dup", "transact_write_items", {"TransactItems": [{"Put": {"TableName": "H", "Item": {"pk": S("t")}}}, {"Delete": {"TableName": "H", "Key": {"pk": S("t")}}}]},
     "Transaction request cannot include multiple operations on one item"),
]


@pytest.mark.parametrize("name,op,req,msg", ERRORS, ids=[e[0] for e in ERRORS])
def test_validation_errors(srv, name, op, req, msg):
    code, message = err_of(srv.c, op, req)
    assert (code, message) == ("ValidationException", msg)


NOT_FOUND = [
    ("get_item", {"TableName": "Nope", "Key": {"pk": S("a")}}),
    ("put_item", {"TableName": "Nope", "Item": {"pk": S("a")}}),
    ("delete_item", {"TableName": "Nope", "Key": {"pk": S("a")}}),
    ("update_item", {"TableName": "Nope", "Key": {"pk": S("a")}, "AttributeUpdates": {"a": {"Value": N(1)}}}),
    ("query", {"TableName": "Nope", "KeyConditions": {"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [S("a")]}}}),
    ("scan", {"TableName": "Nope", "ScanFilter": {"n": {"ComparisonOperator": "NOT_NULL"}}}),
    ("describe_table", {"TableName": "Nope"}),
    ("delete_table", {"TableName": "Nope"}),
    ("batch_get_item", {"RequestItems": {"Nope": {"Keys": [{"pk": S("a")}]}}}),
    ("batch_write_item", {"RequestItems": {"Nope": [{"PutRequest": {"Item": {"pk": S("a")}}}]}}),
    ("transact_write_items", {"TransactItems": [{"Put": {"TableName": "Nope", "Item": {"pk": S("a")}}}]}),
    ("transact_get_items", {"TransactItems": [{"Get": {"TableName": "Nope", "Key": {"pk": S("a")}}}]}),
]


@pytest.mark.parametrize("op,req", NOT_FOUND, ids=[f"notfound-{o}" for o, _ in NOT_FOUND])
def test_unknown_table(srv, op, req):
    code, message = err_of(srv.c, op, req)
    assert code == "ResourceNotFoundException"
    assert message.startswith("Requested resource not found")


# --- 4. Expected on PutItem / DeleteItem / UpdateItem -------------------------------------

BASE = {"n": N(5), "s": S("banana"), "ss": {"SS": ["x", "y"]}}

# (Expected, whether it holds for BASE)
EXPECTED = [
    ({"n": {"Value": N(5)}}, True), ({"n": {"Value": N(6)}}, False),
    ({"n": {"Exists": True, "Value": N(5)}}, True), ({"zz": {"Exists": False}}, True), ({"n": {"Exists": False}}, False),
    ({"n": {"ComparisonOperator": "EQ", "AttributeValueList": [N(5)]}}, True),
    ({"n": {"ComparisonOperator": "EQ", "Value": N(6)}}, False),
    ({"n": {"ComparisonOperator": "NE", "AttributeValueList": [N(5)]}}, False),
    ({"n": {"ComparisonOperator": "NE", "AttributeValueList": [N(6)]}}, True),
    ({"zz": {"ComparisonOperator": "NE", "AttributeValueList": [N(6)]}}, True),
    ({"n": {"ComparisonOperator": "LT", "AttributeValueList": [N(6)]}}, True),
    ({"n": {"ComparisonOperator": "LT", "AttributeValueList": [N(5)]}}, False),
    ({"n": {"ComparisonOperator": "LE", "AttributeValueList": [N(5)]}}, True),
    ({"n": {"ComparisonOperator": "GT", "AttributeValueList": [N(4)]}}, True),
    ({"n": {"ComparisonOperator": "GT", "AttributeValueList": [N(5)]}}, False),
    ({"n": {"ComparisonOperator": "GE", "AttributeValueList": [N(5)]}}, True),
    ({"n": {"ComparisonOperator": "GE", "AttributeValueList": [S("5")]}}, False),
    ({"n": {"ComparisonOperator": "NULL"}}, False), ({"zz": {"ComparisonOperator": "NULL"}}, True),
    ({"n": {"ComparisonOperator": "NOT_NULL"}}, True), ({"zz": {"ComparisonOperator": "NOT_NULL"}}, False),
    ({"s": {"ComparisonOperator": "CONTAINS", "AttributeValueList": [S("nan")]}}, True),
    ({"ss": {"ComparisonOperator": "CONTAINS", "AttributeValueList": [S("x")]}}, True),
    ({"s": {"ComparisonOperator": "NOT_CONTAINS", "AttributeValueList": [S("nan")]}}, False),
    ({"ss": {"ComparisonOperator": "NOT_CONTAINS", "AttributeValueList": [S("q")]}}, True),
    ({"s": {"ComparisonOperator": "BEGINS_WITH", "AttributeValueList": [S("ban")]}}, True),
    ({"s": {"ComparisonOperator": "BEGINS_WITH", "AttributeValueList": [S("x")]}}, False),
    ({"n": {"ComparisonOperator": "IN", "AttributeValueList": [N(1), N(5)]}}, True),
    ({"n": {"ComparisonOperator": "IN", "AttributeValueList": [N(1), N(2)]}}, False),
    ({"n": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [N(1), N(5)]}}, True),
    ({"n": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [N(6), N(9)]}}, False),
    ({"n": {"Value": N(5)}, "s": {"Value": S("nope")}}, False),
]


def _expected_case(srv, op, expected, holds, conditional_operator=None):
    c = srv.c
    key = {"pk": S(f"exp-{op}-{abs(hash(json.dumps(expected, sort_keys=True, default=str)))}")}
    c.put_item(TableName="H", Item={**key, **BASE})
    kw = {"ConditionalOperator": conditional_operator} if conditional_operator else {}
    if op == "put_item":
        req = {"TableName": "H", "Item": {**key, "new": S("yes")}, "Expected": expected, **kw}
        after = {**key, "new": S("yes")}
    elif op == "delete_item":
        req = {"TableName": "H", "Key": key, "Expected": expected, **kw}
        after = None
    else:
        req = {"TableName": "H", "Key": key, "Expected": expected, "AttributeUpdates": {"n": {"Action": "ADD", "Value": N(1)}}, **kw}
        after = {**key, **BASE, "n": N(6)}
    if holds:
        call(c, op, req)
    else:
        assert err_of(c, op, req) == CCF
        after = {**key, **BASE}
    got = c.get_item(TableName="H", Key=key, ConsistentRead=True).get("Item")
    assert got == after


@pytest.mark.parametrize("op", ["put_item", "delete_item", "update_item"])
@pytest.mark.parametrize("expected,holds", EXPECTED, ids=[f"expected-{i}-{h}" for i, (_, h) in enumerate(EXPECTED)])
def test_expected(srv, op, expected, holds):
    _expected_case(srv, op, expected, holds)


@pytest.mark.parametrize("op", ["put_item", "delete_item", "update_item"])
def test_expected_or(srv, op):
    _expected_case(srv, op, {"n": {"Value": N(9)}, "s": {"Value": S("banana")}}, True, "OR")


def test_expected_return_values_on_failure(srv):
    c = srv.c
    c.put_item(TableName="H", Item={"pk": S("rv"), "n": N(1)})
    with pytest.raises(ClientError) as e:
        c.put_item(TableName="H", Item={"pk": S("rv")}, Expected={"n": {"Value": N(2)}}, ReturnValuesOnConditionCheckFailure="ALL_OLD")
    assert e.value.response["Item"] == {"pk": S("rv"), "n": N(1)}


# --- 5. AttributeUpdates ----------------------------------------------------------------------

UPDATES = [
    ("put-new", {"a": {"Action": "PUT", "Value": S("x")}}, {"a": S("x")}),
    ("put-default-action", {"a": {"Value": N(3)}}, {"a": N(3)}),
    ("put-replace", {"n": {"Value": S("now a string")}}, {"n": S("now a string")}),
    ("add-number", {"n": {"Action": "ADD", "Value": N(2)}}, {"n": N(12)}),
    ("add-negative", {"n": {"Action": "ADD", "Value": N(-10.5)}}, {"n": N(-0.5)}),
    ("add-new-number", {"c": {"Action": "ADD", "Value": N(1)}}, {"c": N(1)}),
    ("add-set", {"ss": {"Action": "ADD", "Value": {"SS": ["c", "a"]}}}, {"ss": {"SS": ["a", "b", "c"]}}),
    ("add-new-set", {"ns": {"Action": "ADD", "Value": {"NS": ["1"]}}}, {"ns": {"NS": ["1"]}}),
    ("add-list", {"l": {"Action": "ADD", "Value": {"L": [S("z")]}}}, {"l": {"L": [N(1), S("z")]}}),
    ("add-new-list", {"l2": {"Action": "ADD", "Value": {"L": [S("z")]}}}, {"l2": {"L": [S("z")]}}),
    ("delete-attr", {"n": {"Action": "DELETE"}}, {"n": None}),
    ("delete-missing-attr", {"zz": {"Action": "DELETE"}}, {}),
    ("delete-from-set", {"ss": {"Action": "DELETE", "Value": {"SS": ["a"]}}}, {"ss": {"SS": ["b"]}}),
    ("delete-whole-set", {"ss": {"Action": "DELETE", "Value": {"SS": ["a", "b"]}}}, {"ss": None}),
    ("several", {"n": {"Action": "ADD", "Value": N(1)}, "m": {"Value": {"M": {"k": S("v")}}}, "l": {"Action": "DELETE"}},
     {"n": N(11), "m": {"M": {"k": S("v")}}, "l": None}),
]


@pytest.mark.parametrize("name,updates,delta", UPDATES, ids=[u[0] for u in UPDATES])
def test_attribute_updates(srv, name, updates, delta):
    c = srv.c
    key = {"pk": S(f"au-{name}")}
    base = {**key, "n": N(10), "ss": {"SS": ["a", "b"]}, "l": {"L": [N(1)]}}
    c.put_item(TableName="H", Item=base)
    r = c.update_item(TableName="H", Key=key, AttributeUpdates=updates, ReturnValues="ALL_NEW")
    want = dict(base)
    for k, v in delta.items():
        if v is None:
            want.pop(k, None)
        else:
            want[k] = v
    norm = lambda it: {k: ({t: sorted(x) for t, x in v.items()} if list(v)[0] in ("SS", "NS") else v) for k, v in it.items()}
    assert norm(r["Attributes"]) == norm(want)
    assert norm(c.get_item(TableName="H", Key=key)["Item"]) == norm(want)


def test_attribute_updates_creates_item_and_return_values(srv):
    c = srv.c
    r = c.update_item(TableName="H", Key={"pk": S("au-create")}, AttributeUpdates={"a": {"Value": N(1)}}, ReturnValues="UPDATED_NEW")
    assert r["Attributes"] == {"a": N(1)}
    r = c.update_item(TableName="H", Key={"pk": S("au-create")}, AttributeUpdates={"a": {"Action": "ADD", "Value": N(1)}}, ReturnValues="UPDATED_OLD")
    assert r["Attributes"] == {"a": N(1)}


def test_attribute_updates_type_mismatch(srv):
    c = srv.c
    c.put_item(TableName="H", Item={"pk": S("au-mm"), "a": S("x")})
    code, _ = err_of(c, "update_item", {"TableName": "H", "Key": {"pk": S("au-mm")}, "AttributeUpdates": {"a": {"Action": "ADD", "Value": N(1)}}})
    assert code == "ValidationException"
    assert c.get_item(TableName="H", Key={"pk": S("au-mm")})["Item"]["a"] == S("x")


# --- 6. AttributesToGet -----------------------------------------------------------------------

def test_attributes_to_get_everywhere(srv):
    c = srv.c
    assert c.get_item(TableName="D", Key={"pk": S("p0")}, AttributesToGet=["s", "n", "missing"])["Item"] == {"s": S("apple"), "n": N(1)}
    r = c.scan(TableName="D", AttributesToGet=["pk"], Select="SPECIFIC_ATTRIBUTES")
    assert sorted(i["pk"]["S"] for i in r["Items"]) == ["p0", "p1", "p2", "p3", "p4"] and all(len(i) == 1 for i in r["Items"])
    r = c.query(TableName="Q", KeyConditions={"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [S("b")]}}, AttributesToGet=["v", "sk"])
    assert r["Items"] == [{"sk": N(1)}]
    r = c.batch_get_item(RequestItems={"D": {"Keys": [{"pk": S("p1")}, {"pk": S("p2")}], "AttributesToGet": ["n"]}})
    assert sorted(r["Responses"]["D"], key=lambda i: i["n"]["N"]) == [{"n": N(10)}, {"n": N(5)}]


# --- 7. transactions: conflicts, limits ------------------------------------------------------

def test_101_action_transaction(srv):
    items = [{"Put": {"TableName": "H", "Item": {"pk": S(f"t101-{i}")}}} for i in range(101)]
    code, msg = err_of(srv.c, "transact_write_items", {"TransactItems": items})
    assert code == "ValidationException" and "transactItems" in msg and "100" in msg


def test_100_action_transaction_ok(srv):
    items = [{"Put": {"TableName": "H", "Item": {"pk": S(f"t100-{i}")}}} for i in range(100)]
    srv.c.transact_write_items(TransactItems=items)
    assert srv.c.get_item(TableName="H", Key={"pk": S("t100-99")})["Item"] == {"pk": S("t100-99")}


def test_concurrent_transactions_conflict_never_interleave(srv):
    """Transactions moving value between two items from many threads: each either commits
    or is cancelled with TransactionConflict; the total never changes."""
    c0 = srv.c
    c0.put_item(TableName="H", Item={"pk": S("acct-a"), "bal": N(1000)})
    c0.put_item(TableName="H", Item={"pk": S("acct-b"), "bal": N(0)})
    done, conflicts, other = [], [], []

    def worker():
        c = srv.client("dynamodb")
        for _ in range(25):
            try:
                c.transact_write_items(TransactItems=[
                    {"Update": {"TableName": "H", "Key": {"pk": S("acct-a")}, "UpdateExpression": "ADD bal :m", "ExpressionAttributeValues": {":m": N(-1)}}},
                    {"Update": {"TableName": "H", "Key": {"pk": S("acct-b")}, "UpdateExpression": "ADD bal :p", "ExpressionAttributeValues": {":p": N(1)}}},
                ])
                done.append(1)
            except ClientError as e:
                er = e.response["Error"]
                if er["Code"] == "TransactionCanceledException":
                    codes = [r["Code"] for r in e.response["CancellationReasons"]]
                    assert "TransactionConflict" in codes and set(codes) <= {"TransactionConflict", "None"}
                    for r in e.response["CancellationReasons"]:
                        if r["Code"] == "TransactionConflict":
                            assert r["Message"] == "Transaction is ongoing for the item"
                    conflicts.append(1)
                elif er["Code"] == "TransactionConflictException":
                    conflicts.append(1)
                else:
                    other.append(er)

    def writer():
        c = srv.client("dynamodb")
        for _ in range(25):
            try:
                c.update_item(TableName="H", Key={"pk": S("acct-a")}, UpdateExpression="ADD w :one", ExpressionAttributeValues={":one": N(1)})
            except ClientError as e:
                assert e.response["Error"] == {"Code": "TransactionConflictException", "Message": "Transaction is ongoing for the item"} or \
                    e.response["Error"]["Code"] == "TransactionConflictException"
                conflicts.append(1)

    ts = [threading.Thread(target=worker) for _ in range(8)] + [threading.Thread(target=writer) for _ in range(2)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    assert not other
    a = c0.get_item(TableName="H", Key={"pk": S("acct-a")}, ConsistentRead=True)["Item"]
    b = c0.get_item(TableName="H", Key={"pk": S("acct-b")}, ConsistentRead=True)["Item"]
    assert int(a["bal"]["N"]) + int(b["bal"]["N"]) == 1000
    assert int(b["bal"]["N"]) == len(done)


def test_1000_concurrent_counter_increments_16_threads(srv):
    c0 = srv.c
    c0.put_item(TableName="H", Item={"pk": S("counter"), "n": N(0)})
    errors = []

    def worker(k):
        c = srv.client("dynamodb")
        for _ in range(k):
            try:
                c.update_item(TableName="H", Key={"pk": S("counter")}, UpdateExpression="ADD n :one", ExpressionAttributeValues={":one": N(1)})
            except Exception as e:  # noqa: BLE001
                errors.append(e)

    counts = [63] * 8 + [62] * 8
    assert sum(counts) == 1000
    ts = [threading.Thread(target=worker, args=(k,)) for k in counts]
    [t.start() for t in ts]
    [t.join() for t in ts]
    assert not errors
    assert c0.get_item(TableName="H", Key={"pk": S("counter")}, ConsistentRead=True)["Item"]["n"] == N(1000)


# --- 8. ItemCollectionMetrics -----------------------------------------------------------------

def test_item_collection_metrics_lsi(srv):
    c = srv.c
    r = c.put_item(TableName="LSI", Item={"pk": S("h"), "sk": S("1"), "alt": S("x")}, ReturnItemCollectionMetrics="SIZE")
    m = r["ItemCollectionMetrics"]
    assert m["ItemCollectionKey"] == {"pk": S("h")}
    lo, hi = m["SizeEstimateRangeGB"]
    assert 0 <= lo <= hi
    r = c.update_item(TableName="LSI", Key={"pk": S("h"), "sk": S("1")}, UpdateExpression="SET v = :v",
                      ExpressionAttributeValues={":v": N(1)}, ReturnItemCollectionMetrics="SIZE")
    assert r["ItemCollectionMetrics"]["ItemCollectionKey"] == {"pk": S("h")}
    r = c.batch_write_item(RequestItems={"LSI": [{"PutRequest": {"Item": {"pk": S("h2"), "sk": S("1")}}}]}, ReturnItemCollectionMetrics="SIZE")
    assert r["ItemCollectionMetrics"]["LSI"][0]["ItemCollectionKey"] == {"pk": S("h2")}
    r = c.transact_write_items(TransactItems=[{"Put": {"TableName": "LSI", "Item": {"pk": S("h3"), "sk": S("1")}}},
                                              {"Put": {"TableName": "H", "Item": {"pk": S("icm-t")}}}], ReturnItemCollectionMetrics="SIZE")
    assert r["ItemCollectionMetrics"] == {"LSI": [{"ItemCollectionKey": {"pk": S("h3")}, "SizeEstimateRangeGB": [0.0, 1.0]}]}
    r = c.delete_item(TableName="LSI", Key={"pk": S("h"), "sk": S("1")}, ReturnItemCollectionMetrics="SIZE")
    assert r["ItemCollectionMetrics"]["ItemCollectionKey"] == {"pk": S("h")}
    r = c.put_item(TableName="LSI", Item={"pk": S("h"), "sk": S("2")}, ReturnItemCollectionMetrics="NONE")
    assert "ItemCollectionMetrics" not in r


def test_item_collection_metrics_absent_without_lsi(srv):
    r = srv.c.put_item(TableName="H", Item={"pk": S("icm")}, ReturnItemCollectionMetrics="SIZE")
    assert "ItemCollectionMetrics" not in r
    r = srv.c.batch_write_item(RequestItems={"H": [{"PutRequest": {"Item": {"pk": S("icm2")}}}]}, ReturnItemCollectionMetrics="SIZE")
    assert not r.get("ItemCollectionMetrics")


# --- 9. BatchGetItem 16 MB --------------------------------------------------------------------

def test_batch_get_16mb_unprocessed_keys(srv):
    c = srv.c
    c.create_table(TableName="Big", BillingMode="PAY_PER_REQUEST", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                   AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    blob = "x" * (390 * 1024)
    for i in range(45):
        c.put_item(TableName="Big", Item={"pk": S(f"b{i:02d}"), "v": S(blob)})
    keys = [{"pk": S(f"b{i:02d}")} for i in range(45)]
    r = c.batch_get_item(RequestItems={"Big": {"Keys": keys, "ProjectionExpression": "pk"}})
    got = len(r["Responses"]["Big"])
    rest = r["UnprocessedKeys"]["Big"]["Keys"]
    assert 0 < got < 45 and got + len(rest) == 45
    assert r["UnprocessedKeys"]["Big"]["ProjectionExpression"] == "pk"
    r2 = c.batch_get_item(RequestItems=r["UnprocessedKeys"])
    assert len(r2["Responses"]["Big"]) == len(rest) and r2["UnprocessedKeys"] == {}


# --- 10. malformed requests on the wire --------------------------------------------------------

def raw(srv, target, body, content_type="application/x-amz-json-1.0"):
    req = urllib.request.Request(srv.endpoint + "/", data=body if isinstance(body, bytes) else body.encode(), method="POST", headers={
        "Content-Type": content_type, "X-Amz-Target": f"DynamoDB_20120810.{target}",
        "Authorization": "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=abc",
        "X-Amz-Date": "20240101T000000Z",
    })
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


MALFORMED = [
    ("bad-json", "PutItem", "{not json"),
    ("truncated-json", "GetItem", '{"TableName": "H", "Key": {"pk": {"S": "a"}'),
    ("array-body", "GetItem", "[1, 2]"),
    ("wrong-type-table", "GetItem", '{"TableName": 5, "Key": {"pk": {"S": "a"}}}'),
    ("wrong-type-key", "GetItem", '{"TableName": "H", "Key": "x"}'),
    ("wrong-type-item", "PutItem", '{"TableName": "H", "Item": [1]}'),
    ("two-types", "PutItem", '{"TableName": "H", "Item": {"pk": {"S": "a", "N": "1"}}}'),
    ("no-type", "PutItem", '{"TableName": "H", "Item": {"pk": {}}}'),
    ("bad-limit", "Scan", '{"TableName": "H", "Limit": "ten"}'),
    ("zero-limit", "Scan", '{"TableName": "H", "Limit": 0}'),
    ("missing-table", "Scan", "{}"),
    ("bad-transact", "TransactWriteItems", '{"TransactItems": [{}]}'),
    ("bad-batch", "BatchWriteItem", '{"RequestItems": {"H": [{}]}}'),
    ("bad-keyconditions", "Query", '{"TableName": "Q", "KeyConditions": {"pk": 5}}'),
    ("bad-expected", "PutItem", '{"TableName": "H", "Item": {"pk": {"S": "a"}}, "Expected": {"a": 1}}'),
    ("bad-attributeupdates", "UpdateItem", '{"TableName": "H", "Key": {"pk": {"S": "a"}}, "AttributeUpdates": {"a": "x"}}'),
    ("bad-attributestoget", "GetItem", '{"TableName": "H", "Key": {"pk": {"S": "a"}}, "AttributesToGet": "pk"}'),
    ("bad-conditionaloperator", "Scan", '{"TableName": "D", "ConditionalOperator": "XOR", "ScanFilter": {"n": {"ComparisonOperator": "NULL"}}}'),
    ("bad-comparison-op", "Scan", '{"TableName": "D", "ScanFilter": {"n": {"ComparisonOperator": "LIKE", "AttributeValueList": [{"S": "a"}]}}}'),
    ("unknown-op", "FrobnicateItem", "{}"),
]


@pytest.mark.parametrize("name,target,body", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_requests_never_500(srv, name, target, body):
    status, payload = raw(srv, target, body)
    assert 400 <= status < 500 or (target == "FrobnicateItem" and status in (400, 501)), (status, payload)
    code = payload.get("__type", "").split("#")[-1]
    assert code in {"SerializationException", "ValidationException", "UnknownOperationException", "ResourceNotFoundException"}, payload
    assert payload.get("message") or payload.get("Message")


def test_bad_json_is_serialization_exception(srv):
    status, payload = raw(srv, "PutItem", "{not json")
    assert status == 400 and payload["__type"].endswith("SerializationException")
