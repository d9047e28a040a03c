//! Fuzz-style robustness: 100k random and mutated expressions, attribute values and legacy
//! parameter maps fed to every parser, translator and evaluator; nothing may panic.

use nimbus_dynamodb_expr::*;
use serde_json::{json, Map, Value};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

const SEEDS: &[&str] = &[
    "a = :v",
    "attribute_exists(#n) AND size(lst) > :v OR NOT contains(ss, :w)",
    "nm BETWEEN :v AND :w",
    "mp.x[0].y IN (:v, :w, :v)",
    "begins_with(nm, :w) AND attribute_type(age, :t)",
    "SET a = :v, b = if_not_exists(b, :v) + :v REMOVE c[1] ADD n :v DELETE ss :w",
    "SET lst = list_append(lst, :l), #n = :v",
    "pk = :v AND sk BETWEEN :v AND :w",
    "pk = :v AND begins_with(sk, :w)",
    "a, b.c, lst[3], #n",
];

const NUMBERS: &[&str] = &["0", "1", "-1.5", "1e125", "1e-130", "99999999999999999999999999999999999999", "1e126", "abc", "", "-0", "0.000"];
const TYPES: &[&str] = &["S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS", "X"];
const OPS: &[&str] = &[
    "EQ", "NE", "LE", "LT", "GE", "GT", "NOT_NULL", "NULL", "CONTAINS", "NOT_CONTAINS", "BEGINS_WITH", "IN", "BETWEEN", "LIKE",
];

fn random_value(r: &mut Rng, depth: usize) -> Value {
    let t = *r.pick(TYPES);
    let mut m = Map::new();
    let v = match t {
        "S" => json!(["", "a", "abc", "é", "zz"][r.below(5)]),
        "N" => json!(r.pick(NUMBERS)),
        "B" => json!(["", "AQID", "!!notbase64", "AA=="][r.below(4)]),
        "BOOL" => json!(r.below(2) == 0),
        "NULL" => json!([true, false][r.below(2)]),
        "M" if depth < 4 => {
            let mut inner = Map::new();
            for i in 0..r.below(3) {
                inner.insert(format!("k{i}"), random_value(r, depth + 1));
            }
            Value::Object(inner)
        }
        "L" if depth < 4 => Value::Array((0..r.below(3)).map(|_| random_value(r, depth + 1)).collect()),
        "SS" => json!((0..r.below(3)).map(|i| ["a", "b", "a"][i]).collect::<Vec<_>>()),
        "NS" => json!((0..r.below(3)).map(|_| *r.pick(NUMBERS)).collect::<Vec<_>>()),
        "BS" => json!((0..r.below(3)).map(|_| ["AQID", "AA==", "??"][r.below(3)]).collect::<Vec<_>>()),
        _ => json!(r.below(10)),
    };
    m.insert(t.to_string(), v);
    if r.below(20) == 0 {
        m.insert("S".into(), json!("extra"));
    }
    Value::Object(m)
}

fn mutate(r: &mut Rng, s: &str) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    let pieces = ['(', ')', ',', '.', '[', ']', ':', '#', '=', '<', '>', ' ', 'a', '0', '9', '\u{e9}', '-', '+'];
    for _ in 0..=r.below(4) {
        let i = r.below(chars.len() + 1);
        match r.below(3) {
            0 => chars.insert(i.min(chars.len()), *r.pick(&pieces)),
            1 if i < chars.len() => {
                chars.remove(i);
            }
            _ if i < chars.len() => chars[i] = *r.pick(&pieces),
            _ => {}
        }
    }
    chars.into_iter().collect()
}

fn legacy_map(r: &mut Rng, expected: bool) -> Value {
    let mut m = Map::new();
    for i in 0..r.below(4) {
        let mut c = Map::new();
        if r.below(4) != 0 {
            c.insert("ComparisonOperator".into(), json!(r.pick(OPS)));
        }
        if r.below(3) != 0 {
            c.insert("AttributeValueList".into(), Value::Array((0..r.below(4)).map(|_| random_value(r, 0)).collect()));
        }
        if expected {
            if r.below(3) == 0 {
                c.insert("Value".into(), random_value(r, 0));
            }
            if r.below(3) == 0 {
                c.insert("Exists".into(), [json!(true), json!(false), json!("yes")][r.below(3)].clone());
            }
        }
        m.insert(["a", "n", "pk", "sk", "ss", "nm"][i % 6].to_string(), Value::Object(c));
    }
    if r.below(30) == 0 {
        return json!([1, 2]);
    }
    Value::Object(m)
}

fn base_item() -> Item {
    item_from_json(&json!({
        "pk": {"S": "p"}, "sk": {"N": "3"}, "age": {"N": "30"}, "nm": {"S": "alice"},
        "ss": {"SS": ["a", "b"]}, "lst": {"L": [{"N": "1"}, {"S": "x"}]}, "mp": {"M": {"x": {"L": [{"M": {"y": {"N": "1"}}}]}}},
        "n": {"N": "5"}, "b": {"B": "AQID"}
    }))
    .expect("sample item")
}

#[test]
fn hundred_thousand_random_inputs_never_panic() {
    let mut r = Rng(0x1234_5678_9abc_def1);
    let item = base_item();
    for round in 0..100_000 {
        // attribute values and items
        let v = random_value(&mut r, 0);
        let av = AttrValue::from_json(&v);
        if let Ok(a) = &av {
            let _ = sort_key_bytes(a);
            let _ = a.compare(&AttrValue::N(Number::from(1)));
        }
        let mut it_json = Map::new();
        it_json.insert("pk".into(), v.clone());
        it_json.insert("x".into(), random_value(&mut r, 0));
        if let Ok(it) = item_from_json(&Value::Object(it_json)) {
            let _ = item_size(&it);
            let _ = item_to_json(&it);
        }

        // expressions: mutated seeds with random placeholder values
        let seed = *r.pick(SEEDS);
        let src = mutate(&mut r, seed);
        let src = if round % 997 == 0 { src.repeat(400) } else { src };
        let values = json!({":v": random_value(&mut r, 0), ":w": random_value(&mut r, 0), ":t": {"S": "N"}, ":l": {"L": []}});
        let names = json!({"#n": "nm"});
        let Ok(mut c) = ExprContext::new(Some(&names), Some(&values)) else { continue };
        if let Ok(p) = Condition::parse(&src, &mut c) {
            let _ = p.eval(&item);
            let _ = p.referenced_attributes();
        }
        if let Ok(p) = Condition::parse_filter(&src, &mut c) {
            let _ = p.eval(&item);
        }
        if let Ok(u) = Update::parse(&src, &mut c) {
            let mut i2 = item.clone();
            let _ = u.apply(&mut i2);
        }
        if let Ok(p) = Projection::parse(&src, &mut c) {
            let _ = p.apply(&item);
        }
        if let Ok(k) = KeyCondition::parse(&src, &mut c, "pk", Some("sk")) {
            if let Some(rc) = &k.range {
                let _ = rc.matches(&AttrValue::N(Number::from(3)));
            }
        }
        let _ = c.check_all_used();

        // legacy parameters
        let ops = [None, Some("AND"), Some("OR"), Some("XOR")];
        let kind = if r.below(2) == 0 { LegacyKind::Expected } else { LegacyKind::Filter };
        let m = legacy_map(&mut r, kind == LegacyKind::Expected);
        if let Ok(Some(cond)) = legacy_condition(Some(&m), *r.pick(&ops), kind) {
            let _ = cond.eval(&item);
            let _ = cond.referenced_attributes();
        }
        let _ = legacy_key_condition(&legacy_map(&mut r, false), "pk", [None, Some("sk")][r.below(2)]);
        let mut upd = Map::new();
        for i in 0..r.below(4) {
            let mut a = Map::new();
            if r.below(4) != 0 {
                a.insert("Action".into(), json!(["PUT", "ADD", "DELETE", "BOGUS"][r.below(4)]));
            }
            if r.below(4) != 0 {
                a.insert("Value".into(), random_value(&mut r, 0));
            }
            upd.insert(["a", "n", "ss", "lst", "pk"][i % 5].to_string(), Value::Object(a));
        }
        if let Ok(u) = legacy_update(&Value::Object(upd), &["pk"]) {
            let mut i2 = item.clone();
            let _ = u.apply(&mut i2);
        }
        let names_list = json!((0..r.below(4)).map(|i| ["a", "nm", "a", ""][i]).collect::<Vec<_>>());
        if let Ok(p) = legacy_projection(&names_list) {
            let _ = p.apply(&item);
        }
    }
}
