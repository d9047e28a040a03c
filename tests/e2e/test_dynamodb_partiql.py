"""DynamoDB PartiQL (ExecuteStatement, BatchExecuteStatement, ExecuteTransaction) against the real binary, with boto3."""

import pytest
from botocore.exceptions import ClientError


def err(e):
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


def s(v):
    return {"S": v}


def n(v):
    return {"N": str(v)}


@pytest.fixture
def ddb(server):
    c = server.client("dynamodb")
    c.create_table(
        TableName="Music",
        KeySchema=[{"AttributeName": "Artist", "KeyType": "HASH"}, {"AttributeName": "Song", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "Artist", "AttributeType": "S"},
            {"AttributeName": "Song", "AttributeType": "S"},
            {"AttributeName": "Genre", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[{
            "IndexName": "ByGenre",
            "KeySchema": [{"AttributeName": "Genre", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "ALL"},
        }],
        BillingMode="PAY_PER_REQUEST",
    )
    for a, song, genre, year in [("Acme", "One", "rock", 2001), ("Acme", "Two", "pop", 2005), ("Acme", "Three", "rock", 2010),
                                 ("Zed", "Alpha", "jazz", 1999), ("Zed", "Beta", "rock", 2020)]:
        c.put_item(TableName="Music", Item={"Artist": s(a), "Song": s(song), "Genre": s(genre), "Year": n(year),
                                             "Info": {"M": {"tags": {"L": [s("a"), s("b")]}, "plays": n(year % 7)}}})
    return c


def run(ddb, stmt, *params, **kw):
    if params:
        kw["Parameters"] = list(params)
    return ddb.execute_statement(Statement=stmt, **kw)


def songs(items):
    return sorted(i["Song"]["S"] for i in items)


def test_select_query_scan_projection_and_conditions(ddb):
    r = run(ddb, "SELECT * FROM Music WHERE Artist = 'Acme'")
    assert songs(r["Items"]) == ["One", "Three", "Two"]
    r = run(ddb, 'SELECT Song, Info.tags[1] FROM "Music" WHERE Artist = ? AND Song = ?', s("Acme"), s("Two"))
    assert r["Items"] == [{"Song": s("Two"), "Info": {"M": {"tags": {"L": [s("b")]}}}}]
    r = run(ddb, "SELECT * FROM Music WHERE Artist = 'Acme' AND Song BETWEEN 'O' AND 'Tk'")
    assert songs(r["Items"]) == ["One", "Three"]
    r = run(ddb, "SELECT * FROM Music WHERE Artist = 'Acme' AND begins_with(Song, 'T') AND \"Year\" > 2006")
    assert songs(r["Items"]) == ["Three"]
    # No partition key: a scan with the whole WHERE as a filter.
    r = run(ddb, "SELECT * FROM Music WHERE Genre = 'rock' AND (\"Year\" < 2005 OR \"Year\" >= 2020)")
    assert songs(r["Items"]) == ["Beta", "One"]
    r = run(ddb, "SELECT * FROM Music WHERE Genre IN ['jazz', 'pop']")
    assert songs(r["Items"]) == ["Alpha", "Two"]
    r = run(ddb, "SELECT * FROM Music WHERE NOT Genre = 'rock' AND contains(Info.tags, 'a')")
    assert songs(r["Items"]) == ["Alpha", "Two"]
    r = run(ddb, "SELECT * FROM Music WHERE Nothere IS MISSING AND Genre <> 'rock'")
    assert songs(r["Items"]) == ["Alpha", "Two"]
    r = run(ddb, "SELECT * FROM Music WHERE attribute_exists(Info.plays) AND Info.plays = 4")
    assert songs(r["Items"]) == ["Alpha", "Beta"]
    r = run(ddb, "SELECT * FROM Music")
    assert len(r["Items"]) == 5
    # An index.
    r = run(ddb, 'SELECT Song FROM "Music"."ByGenre" WHERE Genre = \'rock\'')
    assert songs(r["Items"]) == ["Beta", "One", "Three"]
    with pytest.raises(ClientError) as e:
        run(ddb, 'SELECT Song FROM "Music"."ByGenre" WHERE Genre = \'rock\'', ConsistentRead=True)
    assert err(e) == ("ValidationException", "Strongly consistent read is not supported on Global Secondary Indexes")
    # ORDER BY the sort key of a query.
    r = run(ddb, "SELECT Song FROM Music WHERE Artist = 'Acme' ORDER BY Song DESC")
    assert [i["Song"]["S"] for i in r["Items"]] == ["Two", "Three", "One"]


def test_select_pages_with_limit_and_next_token(ddb):
    got, token, pages = [], None, 0
    while True:
        kw = {"Limit": 2}
        if token:
            kw["NextToken"] = token
        r = run(ddb, "SELECT * FROM Music", **kw)
        got += r["Items"]
        pages += 1
        token = r.get("NextToken")
        if not token:
            break
    assert pages >= 3
    assert len(got) == 5
    r = run(ddb, "SELECT * FROM Music WHERE Artist = 'Acme'", ConsistentRead=True, ReturnConsumedCapacity="TOTAL")
    assert r["ConsumedCapacity"]["TableName"] == "Music"
    assert r["ConsumedCapacity"]["CapacityUnits"] > 0
    with pytest.raises(ClientError) as e:
        run(ddb, "SELECT * FROM Music", NextToken="zz")
    assert err(e)[0] == "ValidationException"


def test_insert_update_delete(ddb):
    assert run(ddb, "INSERT INTO Music VALUE {'Artist': 'New', 'Song': 'S1', 'n': 1, 'flag': TRUE, 'nothing': NULL, "
                    "'set': <<'x', 'y'>>, 'nums': <<1, 2>>, 'list': [1, 'two', {'three': 3}]}")["Items"] == []
    item = ddb.get_item(TableName="Music", Key={"Artist": s("New"), "Song": s("S1")})["Item"]
    assert item["flag"] == {"BOOL": True}
    assert item["nothing"] == {"NULL": True}
    assert sorted(item["set"]["SS"]) == ["x", "y"]
    assert sorted(item["nums"]["NS"]) == ["1", "2"]
    assert item["list"] == {"L": [n(1), s("two"), {"M": {"three": n(3)}}]}
    with pytest.raises(ClientError) as e:
        run(ddb, "INSERT INTO Music VALUE {'Artist': 'New', 'Song': 'S1'}")
    assert err(e) == ("DuplicateItemException", "Duplicate primary key exists in table")

    r = run(ddb, "UPDATE Music SET n = n + 5 SET extra = 'e' REMOVE flag WHERE Artist = 'New' AND Song = 'S1' RETURNING ALL NEW *")
    new = r["Items"][0]
    assert new["n"] == n(6) and new["extra"] == s("e") and "flag" not in new
    r = run(ddb, "UPDATE Music SET n = ? WHERE Artist = 'New' AND Song = 'S1' RETURNING MODIFIED OLD *", n(10))
    assert r["Items"] == [{"n": n(6)}]
    run(ddb, "UPDATE Music SET \"set\" = set_add(\"set\", <<'z'>>), list = list_append(list, [4]) WHERE Artist = 'New' AND Song = 'S1'")
    item = ddb.get_item(TableName="Music", Key={"Artist": s("New"), "Song": s("S1")})["Item"]
    assert sorted(item["set"]["SS"]) == ["x", "y", "z"]
    assert len(item["list"]["L"]) == 4
    with pytest.raises(ClientError) as e:
        run(ddb, "UPDATE Music SET n = set_add(other, <<'z'>>) WHERE Artist = 'New' AND Song = 'S1'")
    assert err(e) == ("ValidationException", "The first argument to SET_ADD must equal the assignment value")
    # A condition on another attribute.
    with pytest.raises(ClientError) as e:
        run(ddb, "UPDATE Music SET n = 1 WHERE Artist = 'New' AND Song = 'S1' AND n = 999", ReturnValuesOnConditionCheckFailure="ALL_OLD")
    assert err(e)[0] == "ConditionalCheckFailedException"
    assert e.value.response["Item"]["n"] == n(10)
    # UPDATE changes existing items only.
    with pytest.raises(ClientError) as e:
        run(ddb, "UPDATE Music SET n = 1 WHERE Artist = 'Nobody' AND Song = 'x'")
    assert err(e)[0] == "ConditionalCheckFailedException"
    assert "Item" not in ddb.get_item(TableName="Music", Key={"Artist": s("Nobody"), "Song": s("x")})
    # The key cannot change.
    with pytest.raises(ClientError) as e:
        run(ddb, "UPDATE Music SET Song = 'x' WHERE Artist = 'New' AND Song = 'S1'")
    assert err(e)[0] == "ValidationException"

    with pytest.raises(ClientError) as e:
        run(ddb, "DELETE FROM Music WHERE Artist = 'New' AND Song = 'S1' AND n = 1")
    assert err(e)[0] == "ConditionalCheckFailedException"
    r = run(ddb, "DELETE FROM Music WHERE Artist = 'New' AND Song = 'S1' RETURNING ALL OLD *")
    assert r["Items"][0]["n"] == n(10)
    assert "Item" not in ddb.get_item(TableName="Music", Key={"Artist": s("New"), "Song": s("S1")})


def test_statement_errors(ddb):
    cases = [
        ("SELECT * FROM", "ValidationException", "Statement wasn't well formed, can't be processed: "),
        ("SELEC * FROM Music", "ValidationException", "Statement wasn't well formed, can't be processed: "),
        ("SELECT * FROM Music WHERE Artist = 'x", "ValidationException", "Statement wasn't well formed, can't be processed: "),
        ("UPDATE Music SET n = 1 WHERE Artist = 'Acme'", "ValidationException", "Where clause does not contain a mandatory equality on all key attributes"),
        ("DELETE FROM Music WHERE Artist = 'Acme' OR Song = 'One'", "ValidationException", "Where clause does not contain a mandatory equality on all key attributes"),
        ("DELETE FROM Music WHERE Artist = 'Acme' AND Song = 'One' RETURNING ALL NEW *", "ValidationException",
         "Invalid returning clause: RETURNING ALL NEW *. Only RETURNING ALL OLD * is allowed in DELETE statements."),
        ("INSERT INTO Music VALUE {'Artist': 'a', 'Song': 'b'} RETURNING ALL OLD *", "ValidationException", "RETURNING is not supported in INSERT"),
        ("INSERT INTO Music VALUE ['a']", "ValidationException", "Unsupported format in item expression."),
        ("EXISTS(SELECT * FROM Music WHERE Artist = 'Acme' AND Song = 'One')", "ValidationException",
         "EXISTS can only be used in ExecuteTransaction write requests."),
        ("SELECT * FROM Music ORDER BY Song", "ValidationException", "Must have WHERE clause in the statement when using ORDER BY clause."),
        ("SELECT * FROM Music WHERE Artist = 'Acme' ORDER BY Genre", "ValidationException",
         "Variable reference Genre in ORDER BY clause must be part of the primary key"),
        ("CREATE TABLE x", "ValidationException", "Unsupported operation"),
        ("SELECT * FROM Nope", "ResourceNotFoundException", ""),
        ('SELECT * FROM "Music"."NoIndex"', "ValidationException", "The table does not have the specified index: NoIndex"),
    ]
    for stmt, code, msg in cases:
        with pytest.raises(ClientError) as e:
            run(ddb, stmt)
        c, m = err(e)
        assert c == code, stmt
        assert m.startswith(msg), (stmt, m)
    with pytest.raises(ClientError) as e:
        run(ddb, "SELECT * FROM Music WHERE Artist = ?")
    assert err(e) == ("ValidationException", "Number of parameters in request and statement don't match.")
    with pytest.raises(ClientError) as e:
        run(ddb, "SELECT * FROM Music", s("extra"))
    assert err(e) == ("ValidationException", "Number of parameters in request and statement don't match.")


def test_batch_execute_statement(ddb, server):
    r = ddb.batch_execute_statement(Statements=[
        {"Statement": "INSERT INTO Music VALUE {'Artist': 'B', 'Song': '1'}"},
        {"Statement": "INSERT INTO Music VALUE {'Artist': 'Acme', 'Song': 'One'}"},
        {"Statement": "UPDATE Music SET x = 1 WHERE Artist = 'Zed' AND Song = 'Alpha'"},
        {"Statement": "DELETE FROM Music WHERE Artist = 'Zed' AND Song = 'Beta' AND Genre = 'pop'"},
        {"Statement": "SELEC nonsense"},
    ])["Responses"]
    assert "Error" not in r[0] and r[0]["TableName"] == "Music"
    assert r[1]["Error"]["Code"] == "DuplicateItem"
    assert "Error" not in r[2]
    assert r[3]["Error"]["Code"] == "ConditionalCheckFailed"
    assert r[4]["Error"]["Code"] == "ValidationError"
    r = ddb.batch_execute_statement(Statements=[
        {"Statement": "SELECT * FROM Music WHERE Artist = ? AND Song = ?", "Parameters": [s("Zed"), s("Alpha")]},
        {"Statement": "SELECT * FROM Music WHERE Artist = 'Nobody' AND Song = 'x'"},
        {"Statement": "SELECT * FROM Music WHERE Artist = 'Acme'"},
    ])["Responses"]
    assert r[0]["Item"]["x"] == n(1)
    assert "Item" not in r[1] and "Error" not in r[1]
    assert r[2]["Error"]["Code"] == "ValidationError"
    raw = server.client("dynamodb", validate=False)
    with pytest.raises(ClientError) as e:
        raw.batch_execute_statement(Statements=[{"Statement": "SELECT * FROM Music"}] * 26)
    assert err(e)[0] == "ValidationException"


def test_execute_transaction(ddb):
    ddb.execute_transaction(TransactStatements=[
        {"Statement": "INSERT INTO Music VALUE {'Artist': 'T', 'Song': '1', 'n': 1}"},
        {"Statement": "UPDATE Music SET n = 5 WHERE Artist = 'Acme' AND Song = 'One'"},
        {"Statement": "DELETE FROM Music WHERE Artist = 'Zed' AND Song = 'Alpha'"},
        {"Statement": "EXISTS(SELECT * FROM Music WHERE Artist = 'Zed' AND Song = 'Beta' AND Genre = 'rock')"},
    ])
    assert ddb.get_item(TableName="Music", Key={"Artist": s("T"), "Song": s("1")})["Item"]["n"] == n(1)
    assert ddb.get_item(TableName="Music", Key={"Artist": s("Acme"), "Song": s("One")})["Item"]["n"] == n(5)
    assert "Item" not in ddb.get_item(TableName="Music", Key={"Artist": s("Zed"), "Song": s("Alpha")})
    # All or nothing: a duplicate insert cancels the whole transaction.
    with pytest.raises(ClientError) as e:
        ddb.execute_transaction(TransactStatements=[
            {"Statement": "UPDATE Music SET n = 6 WHERE Artist = 'Acme' AND Song = 'One'"},
            {"Statement": "INSERT INTO Music VALUE {'Artist': 'T', 'Song': '1'}"},
        ])
    code, msg = err(e)
    assert code == "TransactionCanceledException"
    assert msg == "Transaction cancelled, please refer cancellation reasons for specific reasons [None, DuplicateItem]"
    reasons = e.value.response["CancellationReasons"]
    assert [r["Code"] for r in reasons] == ["None", "DuplicateItem"]
    assert ddb.get_item(TableName="Music", Key={"Artist": s("Acme"), "Song": s("One")})["Item"]["n"] == n(5)
    with pytest.raises(ClientError) as e:
        ddb.execute_transaction(TransactStatements=[
            {"Statement": "UPDATE Music SET n = 7 WHERE Artist = 'Acme' AND Song = 'One' AND n = 0"},
        ])
    assert [r["Code"] for r in e.value.response["CancellationReasons"]] == ["ConditionalCheckFailed"]
    # Reads.
    r = ddb.execute_transaction(TransactStatements=[
        {"Statement": "SELECT * FROM Music WHERE Artist = 'Acme' AND Song = 'One'"},
        {"Statement": "SELECT Song FROM Music WHERE Artist = ? AND Song = ?", "Parameters": [s("T"), s("1")]},
    ])["Responses"]
    assert r[0]["Item"]["n"] == n(5)
    assert r[1]["Item"] == {"Song": s("1")}
    # Idempotency with ClientRequestToken.
    stmts = [{"Statement": "UPDATE Music SET n = n + 1 WHERE Artist = 'T' AND Song = '1'"}]
    ddb.execute_transaction(TransactStatements=stmts, ClientRequestToken="tok-1")
    ddb.execute_transaction(TransactStatements=stmts, ClientRequestToken="tok-1")
    assert ddb.get_item(TableName="Music", Key={"Artist": s("T"), "Song": s("1")})["Item"]["n"] == n(2)
    with pytest.raises(ClientError) as e:
        ddb.execute_transaction(TransactStatements=[{"Statement": "DELETE FROM Music WHERE Artist = 'T' AND Song = '1'"}], ClientRequestToken="tok-1")
    assert err(e)[0] == "IdempotentParameterMismatchException"
    with pytest.raises(ClientError) as e:
        ddb.execute_transaction(TransactStatements=[
            {"Statement": "SELECT * FROM Music WHERE Artist = 'T' AND Song = '1'"},
            {"Statement": "DELETE FROM Music WHERE Artist = 'T' AND Song = '1'"},
        ])
    assert err(e)[0] == "ValidationException"
