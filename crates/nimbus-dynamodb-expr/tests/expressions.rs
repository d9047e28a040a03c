use nimbus_dynamodb_expr::*;
use serde_json::{json, Value};

fn ctx(names: Value, values: Value) -> ExprContext {
    let n = if names.is_null() { None } else { Some(&names) };
    let v = if values.is_null() { None } else { Some(&values) };
    ExprContext::new(n, v).unwrap()
}

fn item(v: Value) -> Item {
    item_from_json(&v).unwrap()
}

fn sample() -> Item {
    item(json!({
        "pk": {"S": "user#1"},
        "age": {"N": "30"},
        "nm": {"S": "alice"},
        "bin": {"B": "AQID"},
        "flag": {"BOOL": true},
        "nul": {"NULL": true},
        "tags": {"SS": ["a", "b"]},
        "nums": {"NS": ["1", "2"]},
        "lst": {"L": [{"S": "x"}, {"N": "5"}, {"M": {"deep": {"S": "d"}}}]},
        "mp": {"M": {"inr": {"N": "7"}, "s": {"S": "hello"}, "sb": {"M": {"k": {"S": "v"}}}}},
        "a.b": {"S": "dotted"}
    }))
}

fn cond(expr: &str, names: Value, values: Value) -> Result<bool, String> {
    let mut c = ctx(names, values);
    let parsed = Condition::parse(expr, &mut c).map_err(|e| e.message)?;
    parsed.eval(&sample()).map_err(|e| e.message)
}

fn ok(expr: &str, values: Value) -> bool {
    cond(expr, Value::Null, values).unwrap()
}

fn err(expr: &str, names: Value, values: Value) -> String {
    cond(expr, names, values).unwrap_err()
}

#[test]
fn comparisons() {
    let v = json!({":30": {"N": "30"}, ":31": {"N": "31"}, ":s": {"S": "30"}, ":alice": {"S": "alice"}});
    assert!(ok("age = :30", v.clone()));
    assert!(ok("age = :30 AND nm = :alice", v.clone()));
    assert!(!ok("age = :s", v.clone())); // different types
    assert!(ok("age <> :s", v.clone()));
    assert!(ok("age <> :31", v.clone()));
    assert!(ok("age < :31", v.clone()));
    assert!(ok("age <= :30", v.clone()));
    assert!(!ok("age > :30", v.clone()));
    assert!(ok("age >= :30", v.clone()));
    assert!(ok(":31 > age", v.clone()));
    assert!(!ok("age < :s", v.clone())); // cross type comparison is false
    assert!(!ok("absent = :30", v.clone()));
    assert!(ok("absent <> :30", v.clone()));
    assert!(!ok("absent < :30", v.clone()));
    assert!(ok("nm > :s", v.clone())); // string comparison by bytes
    assert!(ok("mp.inr < :31", v.clone()));
    assert!(ok("lst[1] < :31", v.clone()));
}

#[test]
fn string_and_binary_order() {
    let v = json!({":a": {"S": "B"}, ":b": {"B": "AQIE"}, ":c": {"B": "AQID"}});
    assert!(ok("nm > :a", v.clone())); // 'a' (0x61) > 'B' (0x42)
    assert!(ok("bin < :b", v.clone()));
    assert!(ok("bin = :c", v));
}

#[test]
fn between_and_in() {
    let v = json!({":lo": {"N": "10"}, ":hi": {"N": "30"}, ":x": {"N": "31"}, ":a": {"S": "alice"}, ":b": {"S": "bob"}});
    assert!(ok("age BETWEEN :lo AND :hi", v.clone()));
    assert!(ok("age between :lo and :hi", v.clone()));
    assert!(!ok("age BETWEEN :lo AND :lo", v.clone()));
    assert!(ok("age IN (:x, :hi)", v.clone()));
    assert!(!ok("age IN (:x, :lo)", v.clone()));
    assert!(ok("nm IN (:a, :b)", v.clone()));
    assert!(ok("nm BETWEEN :a AND :b", v.clone()));
    assert!(!ok("absent BETWEEN :lo AND :hi", v));
}

#[test]
fn logical_precedence() {
    let v = json!({":t": {"N": "30"}, ":f": {"N": "0"}});
    // NOT > AND > OR
    assert!(ok("age = :t OR age = :f AND age = :f", v.clone()));
    assert!(!ok("(age = :t OR age = :f) AND age = :f", v.clone()));
    assert!(ok("NOT age = :f", v.clone()));
    assert!(!ok("NOT age = :t AND age = :t", v.clone()));
    assert!(ok("NOT (age = :t AND age = :f)", v.clone()));
    assert!(ok("not not age = :t", v.clone()));
    assert!(ok("age = :f or age = :t", v));
}

#[test]
fn functions() {
    let v = json!({
        ":S": {"S": "S"}, ":N": {"S": "N"}, ":SS": {"S": "SS"}, ":L": {"S": "L"}, ":M": {"S": "M"},
        ":BOOL": {"S": "BOOL"}, ":NULL": {"S": "NULL"}, ":B": {"S": "B"}, ":NS": {"S": "NS"},
        ":al": {"S": "al"}, ":lic": {"S": "lic"}, ":a": {"S": "a"}, ":z": {"S": "z"}, ":one": {"N": "1"},
        ":x": {"S": "x"}, ":five": {"N": "5"}, ":binp": {"B": "AQ=="}, ":three": {"N": "3"}, ":five_s": {"N": "5"},
        ":bin2": {"B": "Ag=="}
    });
    assert!(ok("attribute_exists(age)", v.clone()));
    assert!(ok("attribute_exists(mp.sb.k)", v.clone()));
    assert!(ok("attribute_exists(lst[2].deep)", v.clone()));
    assert!(!ok("attribute_exists(lst[3])", v.clone()));
    assert!(!ok("attribute_exists(mp.nope)", v.clone()));
    assert!(ok("attribute_not_exists(nope)", v.clone()));
    assert!(ok("attribute_not_exists(age.x)", v.clone()));
    assert!(ok("attribute_type(nm, :S)", v.clone()));
    assert!(ok("attribute_type(age, :N)", v.clone()));
    assert!(ok("attribute_type(tags, :SS)", v.clone()));
    assert!(ok("attribute_type(nums, :NS)", v.clone()));
    assert!(ok("attribute_type(lst, :L)", v.clone()));
    assert!(ok("attribute_type(mp, :M)", v.clone()));
    assert!(ok("attribute_type(flag, :BOOL)", v.clone()));
    assert!(ok("attribute_type(nul, :NULL)", v.clone()));
    assert!(ok("attribute_type(bin, :B)", v.clone()));
    assert!(!ok("attribute_type(nm, :N)", v.clone()));
    assert!(!ok("attribute_type(absent, :N)", v.clone()));
    assert!(ok("begins_with(nm, :al)", v.clone()));
    assert!(!ok("begins_with(nm, :lic)", v.clone()));
    assert!(ok("begins_with(bin, :binp)", v.clone()));
    assert!(!ok("begins_with(age, :al)", v.clone()));
    assert!(ok("contains(nm, :lic)", v.clone()));
    assert!(ok("contains(tags, :a)", v.clone()));
    assert!(!ok("contains(tags, :z)", v.clone()));
    assert!(ok("contains(nums, :one)", v.clone()));
    assert!(ok("contains(lst, :x)", v.clone()));
    assert!(ok("contains(lst, :five)", v.clone()));
    assert!(ok("contains(bin, :bin2)", v.clone()));
    assert!(!ok("contains(age, :one)", v.clone()));
    assert!(!ok("contains(absent, :a)", v.clone()));
    assert!(ok("size(nm) = :five_s", v.clone()));
    assert!(ok("size(tags) < :three", v.clone()));
    assert!(ok("size(lst) = :three", v.clone()));
    assert!(ok("size(mp) = :three", v.clone()));
    assert!(ok("size(bin) = :three", v.clone()));
    assert!(!ok("size(age) = :one", v.clone()));
    assert!(!ok("size(absent) = :one", v.clone()));
    assert!(ok("size(nm) BETWEEN :one AND :five", v.clone()));
    assert!(ok(":three < size(nm)", v));
}

#[test]
fn names_and_paths() {
    let names = json!({"#n": "nm", "#ab": "a.b", "#m": "mp", "#i": "inr", "#s": "size"});
    let values = json!({":v": {"S": "alice"}, ":d": {"S": "dotted"}, ":7": {"N": "7"}});
    assert!(cond("#n = :v", names.clone(), values.clone()).unwrap());
    assert!(cond("#ab = :d AND #m.#i = :7 AND attribute_not_exists(#s)", names, values).unwrap());
}

#[test]
fn condition_errors() {
    let v = json!({":v": {"S": "x"}});
    assert_eq!(
        err("a = :nope", Value::Null, v.clone()),
        "Invalid ConditionExpression: An expression attribute value used in expression is not defined; attribute value: :nope"
    );
    assert_eq!(
        err("#n = :v", Value::Null, v.clone()),
        "Invalid ConditionExpression: An expression attribute name used in the document path is not defined; attribute name: #n"
    );
    assert_eq!(
        err("size = :v", Value::Null, v.clone()),
        "Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: size"
    );
    assert_eq!(
        err("Name = :v", Value::Null, v.clone()),
        "Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: Name"
    );
    assert_eq!(
        err("a = ", Value::Null, v.clone()),
        "Invalid ConditionExpression: Syntax error; token: \"<EOF>\", near: \"=\""
    );
    assert!(err("a = = :v", Value::Null, v.clone())
        .starts_with("Invalid ConditionExpression: Syntax error; token: \"=\", near: \""));
    assert!(err("a $ :v", Value::Null, v.clone()).starts_with("Invalid ConditionExpression: Syntax error; token: \"$\""));
    assert_eq!(err("", Value::Null, Value::Null), "Invalid ConditionExpression: The expression can not be empty;");
    assert_eq!(
        err("foo(a)", Value::Null, Value::Null),
        "Invalid ConditionExpression: Invalid function name; function: foo"
    );
    assert_eq!(
        err("begins_with(a)", Value::Null, Value::Null),
        "Invalid ConditionExpression: Incorrect number of operands for operator or function; operator or function: begins_with, number of operands: 1"
    );
    assert_eq!(
        err("attribute_exists(a) = :v", Value::Null, v.clone()),
        "Invalid ConditionExpression: Syntax error; token: \"=\", near: \") = :v\""
    );
    assert_eq!(
        err("a = attribute_exists(b)", Value::Null, Value::Null),
        "Invalid ConditionExpression: The function is not allowed to be used this way in an expression; function: attribute_exists"
    );
    assert_eq!(
        err("size(a)", Value::Null, Value::Null),
        "Invalid ConditionExpression: The function is not allowed to be used this way in an expression; function: size"
    );
    assert_eq!(
        err("attribute_exists(:v)", Value::Null, v.clone()),
        "Invalid ConditionExpression: Operator or function requires a document path; operator or function: attribute_exists"
    );
    assert_eq!(
        err("begins_with(a, :n)", Value::Null, json!({":n": {"N": "1"}})),
        "Invalid ConditionExpression: Incorrect operand type for operator or function; operator or function: begins_with, operand type: N"
    );
    assert_eq!(
        err("attribute_type(a, :t)", Value::Null, json!({":t": {"S": "X"}})),
        "Invalid ConditionExpression: Invalid attribute type name found; type: X, valid types: {B,NULL,SS,BOOL,L,BS,N,NS,S,M}"
    );
    assert_eq!(
        err("attribute_type(a, :t)", Value::Null, json!({":t": {"N": "1"}})),
        "Invalid ConditionExpression: Incorrect operand type for operator or function; operator or function: attribute_type, operand type: N"
    );
    assert_eq!(
        err("a BETWEEN :b AND :a", Value::Null, json!({":a": {"S": "a"}, ":b": {"S": "b"}})),
        "Invalid ConditionExpression: The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: {S:b}, upper bound operand: AttributeValue: {S:a}"
    );
    assert_eq!(
        err("a BETWEEN :b AND :a", Value::Null, json!({":a": {"S": "a"}, ":b": {"N": "1"}})),
        "Invalid ConditionExpression: The BETWEEN operator requires same data type for lower and upper bounds; lower bound operand: AttributeValue: {N:1}, upper bound operand: AttributeValue: {S:a}"
    );
    assert_eq!(
        err("a = a", Value::Null, Value::Null),
        "Invalid ConditionExpression: The first operand must be distinct from the remaining operands for this operator or function; operator: =, first operand: [a]"
    );
    assert_eq!(
        err("((a = :v))", Value::Null, v.clone()),
        "Invalid ConditionExpression: The expression has redundant parentheses;"
    );
    assert_eq!(
        err("a < :t", Value::Null, json!({":t": {"BOOL": true}})),
        "Invalid ConditionExpression: Incorrect operand type for operator or function; operator or function: <, operand type: BOOL"
    );
    // error priority: unknown function beats reserved word beats undefined value
    assert_eq!(
        err("name = :nope AND foo(a)", Value::Null, Value::Null),
        "Invalid ConditionExpression: Invalid function name; function: foo"
    );
    assert_eq!(
        err("a = :nope AND name = :v", Value::Null, v.clone()),
        "Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: name"
    );
    // syntax errors beat semantic ones
    assert!(err("name = :nope AND", Value::Null, Value::Null).contains("Syntax error"));
}

#[test]
fn in_operand_limit() {
    let mut values = serde_json::Map::new();
    let mut members = Vec::new();
    for i in 0..101 {
        values.insert(format!(":v{i}"), json!({"N": i.to_string()}));
        members.push(format!(":v{i}"));
    }
    let values = Value::Object(values);
    let e = err(&format!("age IN ({})", members.join(", ")), Value::Null, values.clone());
    assert!(e.contains("number of operands: 101"), "{e}");
    let mut c = ctx(Value::Null, values);
    let parsed = Condition::parse(&format!("age IN ({})", members[..100].join(", ")), &mut c).unwrap();
    assert!(parsed.eval(&sample()).unwrap());
}

#[test]
fn filter_kind_prefix() {
    let mut c = ctx(Value::Null, Value::Null);
    let e = Condition::parse_filter("a = :x", &mut c).unwrap_err();
    assert_eq!(
        e.message,
        "Invalid FilterExpression: An expression attribute value used in expression is not defined; attribute value: :x"
    );
}

#[test]
fn context_usage_and_validation() {
    let names = json!({"#a": "a", "#b": "b"});
    let values = json!({":a": {"S": "x"}, ":b": {"S": "y"}});
    let mut c = ctx(names.clone(), values.clone());
    Condition::parse("#a = :a", &mut c).unwrap();
    assert_eq!(
        c.check_all_used().unwrap_err().message,
        "Value provided in ExpressionAttributeNames unused in expressions: keys: {#b}"
    );
    let mut c = ctx(json!({"#a": "a"}), values.clone());
    Condition::parse("#a = :a", &mut c).unwrap();
    assert_eq!(
        c.check_all_used().unwrap_err().message,
        "Value provided in ExpressionAttributeValues unused in expressions: keys: {:b}"
    );
    let mut c = ctx(Value::Null, json!({":a": {"S": "x"}, ":b": {"S": "y"}, ":c": {"S": "z"}}));
    Condition::parse("a = :b", &mut c).unwrap();
    assert_eq!(
        c.check_all_used().unwrap_err().message,
        "Value provided in ExpressionAttributeValues unused in expressions: keys: {:a, :c}"
    );
    // shared across expressions
    let mut c = ctx(names, values);
    Condition::parse("#a = :a", &mut c).unwrap();
    Update::parse("SET #b = :b", &mut c).unwrap();
    c.check_all_used().unwrap();

    let e = |n: Value, v: Value| {
        ExprContext::new(if n.is_null() { None } else { Some(&n) }, if v.is_null() { None } else { Some(&v) })
            .unwrap_err()
            .message
    };
    assert_eq!(e(json!({}), Value::Null), "ExpressionAttributeNames must not be empty");
    assert_eq!(e(Value::Null, json!({})), "ExpressionAttributeValues must not be empty");
    assert_eq!(
        e(json!({"a": "a"}), Value::Null),
        "ExpressionAttributeNames contains invalid key: Syntax error; key: \"a\""
    );
    assert_eq!(
        e(Value::Null, json!({"a": {"S": "b"}})),
        "ExpressionAttributeValues contains invalid key: Syntax error; key: \"a\""
    );
    assert_eq!(
        e(Value::Null, json!({":a": {"SS": []}})),
        "ExpressionAttributeValues contains invalid value: One or more parameter values were invalid: An string set  may not be empty for key :a"
    );
}

#[test]
fn reserved_words() {
    assert!(is_reserved_word("name"));
    assert!(is_reserved_word("STATUS"));
    assert!(is_reserved_word("Data"));
    assert!(is_reserved_word("zone"));
    assert!(is_reserved_word("abort"));
    assert!(!is_reserved_word("username"));
    assert!(!is_reserved_word("pk"));
}

// ----------------------------------------------------------------- update

fn upd(expr: &str, names: Value, values: Value, it: &mut Item) -> Result<Vec<String>, String> {
    let mut c = ctx(names, values);
    let u = Update::parse(expr, &mut c).map_err(|e| e.message)?;
    u.apply(it).map_err(|e| e.message)
}

fn upd_err(expr: &str, values: Value) -> String {
    let mut it = sample();
    upd(expr, Value::Null, values, &mut it).unwrap_err()
}

#[test]
fn update_set() {
    let mut it = sample();
    let v = json!({":v": {"S": "new"}, ":one": {"N": "1"}, ":l": {"L": [{"S": "y"}]}, ":d": {"N": "100"}});
    let changed = upd(
        "SET x = :v, age = age + :one, mp.inr = mp.inr - :one, lst[0] = :v, lst[10] = :v, #c = if_not_exists(#c, :d), ll = list_append(:l, :l)",
        json!({"#c": "cnt2"}),
        v,
        &mut it,
    )
    .unwrap();
    assert_eq!(changed, vec!["x", "age", "mp", "lst", "cnt2", "ll"]);
    assert_eq!(it["x"], AttrValue::S("new".into()));
    assert_eq!(it["age"].to_json(), json!({"N": "31"}));
    assert_eq!(it["mp"].to_json()["M"]["inr"], json!({"N": "6"}));
    let l = it["lst"].to_json();
    assert_eq!(l["L"][0], json!({"S": "new"}));
    assert_eq!(l["L"][3], json!({"S": "new"}));
    assert_eq!(l["L"].as_array().unwrap().len(), 4);
    assert_eq!(it["cnt2"].to_json(), json!({"N": "100"}));
    assert_eq!(it["ll"].to_json(), json!({"L": [{"S": "y"}, {"S": "y"}]}));
}

#[test]
fn update_rhs_uses_old_values_and_functions() {
    let mut it = item(json!({"a": {"N": "1"}, "b": {"N": "2"}, "l": {"L": [{"N": "1"}]}}));
    upd(
        "SET a = b, b = a, l = list_append(l, :x), c = if_not_exists(a, :x)",
        Value::Null,
        json!({":x": {"L": [{"N": "9"}]}}),
        &mut it,
    )
    .unwrap();
    assert_eq!(it["a"].to_json(), json!({"N": "2"}));
    assert_eq!(it["b"].to_json(), json!({"N": "1"}));
    assert_eq!(it["l"].to_json(), json!({"L": [{"N": "1"}, {"N": "9"}]}));
    assert_eq!(it["c"].to_json(), json!({"N": "1"}));
}

#[test]
fn update_remove() {
    let mut it = sample();
    let changed = upd("REMOVE age, mp.inr, lst[0], lst[2], nope", Value::Null, Value::Null, &mut it).unwrap();
    assert_eq!(changed, vec!["age", "mp", "lst", "nope"]);
    assert!(!it.contains_key("age"));
    assert!(it["mp"].to_json()["M"].get("inr").is_none());
    assert_eq!(it["lst"].to_json(), json!({"L": [{"N": "5"}]}));
    // out of range index is a no-op
    upd("REMOVE lst[100]", Value::Null, Value::Null, &mut it).unwrap();
    assert_eq!(it["lst"].to_json(), json!({"L": [{"N": "5"}]}));
}

#[test]
fn update_add_delete() {
    let mut it = sample();
    let v = json!({":n": {"N": "-0.5"}, ":ss": {"SS": ["b", "c"]}, ":ns": {"NS": ["3"]}, ":del": {"SS": ["a", "b", "c"]}, ":dn": {"NS": ["1"]}});
    upd("ADD age :n, tags :ss, newnum :n, newset :ns DELETE nums :dn", Value::Null, v.clone(), &mut it).unwrap();
    assert_eq!(it["age"].to_json(), json!({"N": "29.5"}));
    assert_eq!(it["tags"].to_json(), json!({"SS": ["a", "b", "c"]}));
    assert_eq!(it["newnum"].to_json(), json!({"N": "-0.5"}));
    assert_eq!(it["newset"].to_json(), json!({"NS": ["3"]}));
    assert_eq!(it["nums"].to_json(), json!({"NS": ["2"]}));
    upd("DELETE tags :del, absent :del", Value::Null, v, &mut it).unwrap();
    assert!(!it.contains_key("tags"));
    assert!(!it.contains_key("absent"));
}

#[test]
fn update_type_errors() {
    let v = json!({":one": {"N": "1"}, ":s": {"S": "x"}, ":ss": {"SS": ["x"]}, ":ns": {"NS": ["1"]}, ":l": {"L": []}});
    assert_eq!(upd_err("SET nm = nm + :one", v.clone()), "An operand in the update expression has an incorrect data type");
    assert_eq!(upd_err("ADD nm :one", v.clone()), "An operand in the update expression has an incorrect data type");
    assert_eq!(upd_err("ADD tags :ns", v.clone()), "An operand in the update expression has an incorrect data type");
    assert_eq!(upd_err("DELETE tags :ns", v.clone()), "An operand in the update expression has an incorrect data type");
    assert_eq!(upd_err("SET x = list_append(nm, :l)", v.clone()), "An operand in the update expression has an incorrect data type");
    assert_eq!(
        upd_err("SET x = absent + :one", v.clone()),
        "The provided expression refers to an attribute that does not exist in the item"
    );
    assert_eq!(
        upd_err("SET nope.x = :one", v.clone()),
        "The document path provided in the update expression is invalid for update"
    );
    assert_eq!(
        upd_err("SET age.x = :one", v.clone()),
        "The document path provided in the update expression is invalid for update"
    );
    assert_eq!(
        upd_err("SET age[0] = :one", v.clone()),
        "The document path provided in the update expression is invalid for update"
    );
    assert_eq!(
        upd_err("ADD age :s", v.clone()),
        "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: ADD, operand type: STRING, typeSet: ALLOWED_FOR_ADD_OPERAND"
    );
    assert_eq!(
        upd_err("DELETE tags :one", v.clone()),
        "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: DELETE, operand type: NUMBER, typeSet: ALLOWED_FOR_DELETE_OPERAND"
    );
    assert_eq!(
        upd_err("SET a = :s + :one", v.clone()),
        "Invalid UpdateExpression: Incorrect operand type for operator or function; operator or function: +, operand type: S"
    );
    assert_eq!(
        upd_err("SET a = list_append(:s, :l)", v.clone()),
        "Invalid UpdateExpression: Incorrect operand type for operator or function; operator or function: list_append, operand type: S"
    );
    // failed apply leaves the item untouched
    let mut it = sample();
    let before = it.clone();
    assert!(upd("SET x = :one, y = nm + :one", Value::Null, v, &mut it).is_err());
    assert_eq!(it, before);
}

#[test]
fn update_parse_errors() {
    let v = json!({":v": {"N": "1"}});
    assert_eq!(
        upd_err("SET a = :v, a.b = :v", v.clone()),
        "Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a], path two: [a, b]"
    );
    assert_eq!(
        upd_err("SET a = :v REMOVE a", v.clone()),
        "Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a], path two: [a]"
    );
    assert_eq!(
        upd_err("SET a.b = :v REMOVE a[1]", v.clone()),
        "Invalid UpdateExpression: Two document paths conflict with each other; must remove or rewrite one of these paths; path one: [a, b], path two: [a, [1]]"
    );
    // different list elements do not overlap
    let mut it = item(json!({"a": {"L": [{"N": "0"}, {"N": "1"}, {"N": "2"}]}}));
    upd("SET a[1] = :v REMOVE a[2]", Value::Null, v.clone(), &mut it).unwrap();
    assert_eq!(it["a"].to_json(), json!({"L": [{"N": "0"}, {"N": "1"}]}));
    // syntax error context as AWS reports it
    assert_eq!(
        upd_err("ADD hits : incr", v.clone()),
        "Invalid UpdateExpression: Syntax error; token: \":\", near: \"hits : incr\""
    );
    assert_eq!(
        upd_err("INVALID SYNTAX HERE", v.clone()),
        "Invalid UpdateExpression: Syntax error; token: \"INVALID\", near: \"INVALID SYNTAX\""
    );
    assert_eq!(
        upd_err("SET a = :v SET b = :v", v.clone()),
        "Invalid UpdateExpression: The \"SET\" section can only be used once in an update expression;"
    );
    assert_eq!(
        upd_err("SET a = :nope", v.clone()),
        "Invalid UpdateExpression: An expression attribute value used in expression is not defined; attribute value: :nope"
    );
    assert_eq!(
        upd_err("SET #a = :v", v.clone()),
        "Invalid UpdateExpression: An expression attribute name used in the document path is not defined; attribute name: #a"
    );
    assert_eq!(
        upd_err("SET name = :v", v.clone()),
        "Invalid UpdateExpression: Attribute name is a reserved keyword; reserved keyword: name"
    );
    assert_eq!(
        upd_err("SET a = foo(b)", v.clone()),
        "Invalid UpdateExpression: Invalid function name; function: foo"
    );
    assert_eq!(
        upd_err("SET a = if_not_exists(:v, :v)", v.clone()),
        "Invalid UpdateExpression: Operator or function requires a document path; operator or function: if_not_exists"
    );
    assert_eq!(
        upd_err("SET a = if_not_exists(a)", v.clone()),
        "Invalid UpdateExpression: Incorrect number of operands for operator or function; operator or function: if_not_exists, number of operands: 1"
    );
    assert_eq!(upd_err("SET a = :v,", v.clone()), "Invalid UpdateExpression: Syntax error; token: \"<EOF>\", near: \",\"");
    assert!(upd_err("UPSERT a = :v", v.clone()).starts_with("Invalid UpdateExpression: Syntax error; token: \"UPSERT\""));
    assert!(upd_err("ADD a b", v.clone()).starts_with("Invalid UpdateExpression: Syntax error"));
    assert_eq!(upd_err("", v), "Invalid UpdateExpression: The expression can not be empty;");
}

#[test]
fn update_clause_keywords_case_insensitive() {
    let mut it = sample();
    upd("set x = :v remove age add cnt :one", Value::Null, json!({":v": {"S": "s"}, ":one": {"N": "1"}}), &mut it).unwrap();
    assert_eq!(it["cnt"].to_json(), json!({"N": "1"}));
    assert!(!it.contains_key("age"));
}

// ------------------------------------------------------------- projection

#[test]
fn projection() {
    let mut c = ctx(json!({"#n": "nm", "#ab": "a.b"}), Value::Null);
    let p = Projection::parse("#n, age, mp.sb.k, lst[2].deep, lst[0], #ab, absent, mp.nope", &mut c).unwrap();
    c.check_all_used().unwrap();
    let out = item_to_json(&p.apply(&sample()));
    assert_eq!(
        out,
        json!({
            "nm": {"S": "alice"},
            "age": {"N": "30"},
            "mp": {"M": {"sb": {"M": {"k": {"S": "v"}}}}},
            "lst": {"L": [{"S": "x"}, {"M": {"deep": {"S": "d"}}}]},
            "a.b": {"S": "dotted"}
        })
    );
}

#[test]
fn projection_errors() {
    let e = |s: &str| {
        let mut c = ctx(Value::Null, Value::Null);
        Projection::parse(s, &mut c).unwrap_err().message
    };
    assert_eq!(
        e("a, a.b"),
        "Invalid ProjectionExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a], path two: [a, b]"
    );
    assert_eq!(
        e("a, name"),
        "Invalid ProjectionExpression: Attribute name is a reserved keyword; reserved keyword: name"
    );
    assert_eq!(e(""), "Invalid ProjectionExpression: The expression can not be empty;");
    assert!(e("a,").starts_with("Invalid ProjectionExpression: Syntax error; token: \"<EOF>\""));
    assert!(e("a b").starts_with("Invalid ProjectionExpression: Syntax error; token: \"b\""));
    assert!(e("a[x]").starts_with("Invalid ProjectionExpression: Syntax error"));
}

// ---------------------------------------------------------- key condition

fn kc(expr: &str, values: Value, range: Option<&str>) -> Result<KeyCondition, String> {
    let mut c = ctx(json!({"#p": "pk"}), values);
    KeyCondition::parse(expr, &mut c, "pk", range).map_err(|e| e.message)
}

#[test]
fn key_conditions() {
    let v = json!({":h": {"S": "h"}, ":a": {"N": "1"}, ":b": {"N": "5"}, ":p": {"S": "pre"}});
    let k = kc("pk = :h", v.clone(), Some("sk")).unwrap();
    assert_eq!(k.hash_value, AttrValue::S("h".into()));
    assert_eq!(k.range, None);
    let k = kc("#p = :h AND sk > :a", v.clone(), Some("sk")).unwrap();
    assert!(matches!(k.range, Some(RangeCondition::Gt(_))));
    let k = kc("sk <= :a AND pk = :h", v.clone(), Some("sk")).unwrap();
    assert!(matches!(k.range, Some(RangeCondition::Le(_))));
    let k = kc(":a < sk and :h = pk", v.clone(), Some("sk")).unwrap();
    assert_eq!(k.range, Some(RangeCondition::Gt(AttrValue::N(Number::parse("1").unwrap()))));
    let k = kc("pk = :h AND sk BETWEEN :a AND :b", v.clone(), Some("sk")).unwrap();
    let r = k.range.unwrap();
    assert!(r.matches(&AttrValue::N(Number::parse("1").unwrap())));
    assert!(r.matches(&AttrValue::N(Number::parse("5").unwrap())));
    assert!(!r.matches(&AttrValue::N(Number::parse("5.1").unwrap())));
    assert!(!r.matches(&AttrValue::S("3".into())));
    let k = kc("pk = :h AND begins_with(sk, :p)", v.clone(), Some("sk")).unwrap();
    let r = k.range.unwrap();
    assert!(r.matches(&AttrValue::S("prefix".into())));
    assert!(!r.matches(&AttrValue::S("pr".into())));
    let k = kc("(pk = :h) AND (sk = :a)", v.clone(), Some("sk")).unwrap();
    assert!(k.range.unwrap().matches(&AttrValue::N(Number::parse("1.0").unwrap())));
    assert!(RangeCondition::Lt(AttrValue::S("b".into())).matches(&AttrValue::S("a".into())));
    assert!(RangeCondition::Ge(AttrValue::B(vec![1])).matches(&AttrValue::B(vec![1])));
}

#[test]
fn key_condition_errors() {
    let v = json!({":h": {"S": "h"}, ":a": {"N": "1"}, ":b": {"N": "5"}, ":s": {"S": "a"}});
    let e = |s: &str, r: Option<&str>| kc(s, v.clone(), r).unwrap_err();
    assert_eq!(e("pk = :h OR sk = :a", Some("sk")), "Invalid operator used in KeyConditionExpression: OR");
    assert_eq!(e("NOT pk = :h", Some("sk")), "Invalid operator used in KeyConditionExpression: NOT");
    assert_eq!(e("pk IN (:h)", Some("sk")), "Invalid operator used in KeyConditionExpression: IN");
    assert_eq!(e("pk <> :h", Some("sk")), "Invalid operator used in KeyConditionExpression: <>");
    assert_eq!(
        e("attribute_exists(pk)", Some("sk")),
        "Invalid operator used in KeyConditionExpression: attribute_exists"
    );
    assert_eq!(e("contains(pk, :h)", Some("sk")), "Invalid operator used in KeyConditionExpression: contains");
    assert_eq!(e("size(pk) = :a", Some("sk")), "KeyConditionExpressions cannot contain nested operations");
    assert_eq!(e("pk.x = :h", Some("sk")), "KeyConditionExpressions cannot have conditions on nested attributes");
    assert_eq!(
        e("pk = sk", Some("sk")),
        "Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition"
    );
    assert_eq!(
        e(":h = :s", Some("sk")),
        "Invalid condition in KeyConditionExpression: No key attribute specified"
    );
    assert_eq!(
        e("pk = :h AND pk = :h", Some("sk")),
        "KeyConditionExpressions must only contain one condition per key"
    );
    assert_eq!(
        e(":a BETWEEN sk AND :b", Some("sk")),
        "Invalid condition in KeyConditionExpression: BETWEEN operator must have the key attribute as its first operand"
    );
    assert_eq!(e("sk = :a", Some("sk")), "Query condition missed key schema element: pk");
    assert_eq!(e("pk = :h AND oth = :a", Some("sk")), "Query condition missed key schema element: sk");
    assert_eq!(e("pk = :h AND sk = :a", None), "Query key condition not supported");
    assert_eq!(e("pk > :h", Some("sk")), "Query key condition not supported");
    assert_eq!(
        e("pk = :h AND sk BETWEEN :b AND :a", Some("sk")),
        "Invalid KeyConditionExpression: The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: {N:5}, upper bound operand: AttributeValue: {N:1}"
    );
    assert_eq!(
        e("pk = :h AND begins_with(sk, :a)", Some("sk")),
        "Invalid KeyConditionExpression: Incorrect operand type for operator or function; operator or function: begins_with, operand type: N"
    );
    assert_eq!(
        e("pk = :nope", Some("sk")),
        "Invalid KeyConditionExpression: An expression attribute value used in expression is not defined; attribute value: :nope"
    );
    assert!(e("pk = ", Some("sk")).starts_with("Invalid KeyConditionExpression: Syntax error"));
}

// -------------------------------------------------------------- robustness

#[test]
fn parsers_never_panic_on_random_input() {
    let alphabet: Vec<&str> = vec![
        "a", "b", "#n", ":v", ":w", "(", ")", "[", "]", "0", "99999999999999999999999", ".", ",", "=", "<>", "<", "<=",
        ">", ">=", "+", "-", " AND ", " OR ", " NOT ", " BETWEEN ", " IN ", "size", "contains", "begins_with",
        "attribute_exists", "attribute_type", "if_not_exists", "list_append", "SET ", "REMOVE ", "ADD ", "DELETE ",
        " ", "$", "é", "#", ":", "nm", "lst", "mp",
    ];
    let mut seed: u64 = 0xdead_beef_cafe;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let values = json!({":v": {"N": "1"}, ":w": {"SS": ["a"]}});
    let names = json!({"#n": "nm"});
    let it = sample();
    for _ in 0..20000 {
        let len = (rnd() % 14) as usize;
        let mut s = String::new();
        for _ in 0..len {
            s.push_str(alphabet[(rnd() % alphabet.len() as u64) as usize]);
        }
        let mut c = ctx(names.clone(), values.clone());
        if let Ok(p) = Condition::parse(&s, &mut c) {
            let _ = p.eval(&it);
        }
        if let Ok(u) = Update::parse(&s, &mut c) {
            let mut i2 = it.clone();
            let _ = u.apply(&mut i2);
        }
        if let Ok(p) = Projection::parse(&s, &mut c) {
            let _ = p.apply(&it);
        }
        let _ = KeyCondition::parse(&s, &mut c, "pk", Some("sk"));
        let _ = c.check_all_used();
    }
}

#[test]
fn deep_nesting_is_rejected_not_overflowing() {
    let deep = format!("{}a = :v{}", "(".repeat(5000), ")".repeat(5000));
    let mut c = ctx(Value::Null, json!({":v": {"N": "1"}}));
    assert!(Condition::parse(&deep, &mut c).is_err());
    let nots = format!("{}a = :v", "NOT ".repeat(5000));
    assert!(Condition::parse(&nots, &mut c).is_err());
    let fns = format!("{}a{}", "size(".repeat(5000), ")".repeat(5000));
    assert!(Condition::parse(&fns, &mut c).is_err());
    let ifn = format!("SET a = {}:v{}", "if_not_exists(a, ".repeat(5000), ")".repeat(5000));
    assert!(Update::parse(&ifn, &mut c).is_err());
    let long_path = format!("a{}", ".b".repeat(10000));
    let mut c = ctx(Value::Null, Value::Null);
    assert_eq!(
        Projection::parse(&long_path, &mut c).unwrap_err().message,
        "Invalid ProjectionExpression: Expression size has exceeded the maximum allowed size; expression size: 20001"
    );
    let long_path = format!("a{}", ".b".repeat(2000));
    let p = Projection::parse(&long_path, &mut c).unwrap();
    assert!(p.apply(&sample()).is_empty());
    let idx = "lst[4294967295], lst[99999999999999999999999]";
    assert!(Projection::parse(idx, &mut c).is_err());
    let p = Projection::parse("lst[4294967295]", &mut c).unwrap();
    assert!(p.apply(&sample()).is_empty());
}
