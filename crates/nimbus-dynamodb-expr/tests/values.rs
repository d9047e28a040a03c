use nimbus_dynamodb_expr::*;
use serde_json::json;

fn n(s: &str) -> Number {
    Number::parse(s).unwrap()
}

fn nerr(s: &str) -> String {
    Number::parse(s).unwrap_err().message
}

#[test]
fn number_normalisation() {
    assert_eq!(n("001.500").to_string(), "1.5");
    assert_eq!(n("-0").to_string(), "0");
    assert_eq!(n("0.000").to_string(), "0");
    assert_eq!(n("100").to_string(), "100");
    assert_eq!(n("1E2").to_string(), "100");
    assert_eq!(n("1.5e+3").to_string(), "1500");
    assert_eq!(n("-1.25").to_string(), "-1.25");
    assert_eq!(n(".5").to_string(), "0.5");
    assert_eq!(n("5.").to_string(), "5");
    assert_eq!(n("+7").to_string(), "7");
    assert_eq!(n("0.0012").to_string(), "0.0012");
    assert_eq!(n("12.034").to_string(), "12.034");
    assert_eq!(n("1E-3").to_string(), "0.001");
    assert_eq!(n("-00012300.00").to_string(), "-12300");
}

#[test]
fn number_errors() {
    assert_eq!(nerr("abc"), "The parameter cannot be converted to a numeric value: abc");
    assert_eq!(nerr("1.2.3"), "The parameter cannot be converted to a numeric value: 1.2.3");
    assert_eq!(nerr("1e"), "The parameter cannot be converted to a numeric value: 1e");
    assert_eq!(nerr(" 1"), "The parameter cannot be converted to a numeric value:  1");
    assert_eq!(nerr("NaN"), "The parameter cannot be converted to a numeric value: NaN");
    assert_eq!(nerr(""), "The parameter cannot be converted to a numeric value");
    assert_eq!(nerr("-"), "The parameter cannot be converted to a numeric value: -");
}

#[test]
fn number_digit_limits() {
    let d38 = "1".repeat(38);
    assert_eq!(n(&d38).to_string(), d38);
    let d39 = "1".repeat(39);
    assert_eq!(nerr(&d39), "Attempting to store more than 38 significant digits in a Number");
    // trailing zeros are not significant
    let z = format!("1{}", "0".repeat(60));
    assert_eq!(n(&z).to_string(), z);
    // leading zeros are not significant
    assert!(Number::parse(&format!("0.000{}", "9".repeat(38))).is_ok());
}

#[test]
fn number_exponent_limits() {
    assert_eq!(n("1E-130").to_string(), format!("0.{}1", "0".repeat(129)));
    assert_eq!(
        nerr("1E-131"),
        "Number underflow. Attempting to store a number with magnitude smaller than supported range"
    );
    assert!(Number::parse("9.9999999999999999999999999999999999999E+125").is_ok());
    assert!(Number::parse("-9.9999999999999999999999999999999999999E+125").is_ok());
    assert_eq!(
        nerr("1E+126"),
        "Number overflow. Attempting to store a number with magnitude larger than supported range"
    );
    assert_eq!(
        nerr("-1E+126"),
        "Number overflow. Attempting to store a number with magnitude larger than supported range"
    );
    assert_eq!(n("1E+125").to_string(), format!("1{}", "0".repeat(125)));
    // huge exponents do not overflow the parser
    assert!(Number::parse("1E999999999999999999999999").is_err());
    assert!(Number::parse("1E-999999999999999999999999").is_err());
    assert_eq!(n("0E999999999").to_string(), "0");
}

#[test]
fn number_arithmetic_exact() {
    assert_eq!(n("0.1").add(&n("0.2")).unwrap(), n("0.3"));
    assert_eq!(n("0.1").add(&n("0.2")).unwrap().to_string(), "0.3");
    assert_eq!(n("1").sub(&n("1")).unwrap().to_string(), "0");
    assert_eq!(n("5").sub(&n("7.5")).unwrap().to_string(), "-2.5");
    assert_eq!(n("-5").add(&n("-7.5")).unwrap().to_string(), "-12.5");
    assert_eq!(n("999").add(&n("1")).unwrap().to_string(), "1000");
    assert_eq!(n("1000").sub(&n("0.001")).unwrap().to_string(), "999.999");
    assert_eq!(n("-0.001").add(&n("1000")).unwrap().to_string(), "999.999");
    assert_eq!(n("1E+100").sub(&n("1E+100")).unwrap().to_string(), "0");
    // 38 digits + carry
    let big = "9".repeat(38);
    assert_eq!(n(&big).add(&n("1")).unwrap().to_string(), format!("1{}", "0".repeat(38)));
    // more than 38 significant digits in the result
    assert!(n("1E+50").add(&n("1")).is_err());
    // overflow
    let max = "9.9999999999999999999999999999999999999E+125";
    assert!(n(max).add(&n(max)).is_err());
}

#[test]
fn number_order_eq_hash() {
    use std::collections::HashSet;
    assert_eq!(n("1.0"), n("1"));
    assert!(n("-1") < n("0"));
    assert!(n("-2") < n("-1"));
    assert!(n("0.5") < n("1"));
    assert!(n("1E-130") > n("0"));
    assert!(n("-1E-130") < n("0"));
    assert!(n("10") > n("9.99"));
    assert!(n("-10") < n("-9.99"));
    let s: HashSet<Number> = [n("1"), n("1.00"), n("01")].into_iter().collect();
    assert_eq!(s.len(), 1);
}

#[test]
fn sort_key_bytes_numbers() {
    let vals = [
        "-1E+125", "-1000", "-100", "-99.9", "-10", "-1.5", "-1.25", "-1.2", "-1", "-0.5", "-0.05", "-1E-130", "0",
        "1E-130", "0.05", "0.5", "1", "1.2", "1.25", "1.5", "10", "99.9", "100", "1000", "9.99E+125",
    ];
    let nums: Vec<Number> = vals.iter().map(|v| n(v)).collect();
    for w in nums.windows(2) {
        assert!(w[0] < w[1], "{} < {}", w[0], w[1]);
        let a = sort_key_bytes(&AttrValue::N(w[0].clone())).unwrap();
        let b = sort_key_bytes(&AttrValue::N(w[1].clone())).unwrap();
        assert!(a < b, "bytes {} < {}", w[0], w[1]);
    }
    assert_eq!(
        sort_key_bytes(&AttrValue::N(n("1.0"))),
        sort_key_bytes(&AttrValue::N(n("1")))
    );
}

#[test]
fn sort_key_bytes_random_numbers() {
    // deterministic pseudo-random check against Ord
    let mut seed: u64 = 0x1234_5678;
    let mut rnd = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut nums = Vec::new();
    for _ in 0..400 {
        let r = rnd();
        let digits = 1 + (r % 12) as usize;
        let mut s = String::new();
        if r & 1 == 1 {
            s.push('-');
        }
        for k in 0..digits {
            s.push((b'0' + ((rnd() % 10) as u8)) as char);
            if k == 0 && r & 2 == 2 {
                s.push('.');
            }
        }
        s.push_str(&format!("E{}", (rnd() % 40) as i64 - 20));
        nums.push(n(&s));
    }
    for a in &nums {
        for b in nums.iter().take(50) {
            let ka = sort_key_bytes(&AttrValue::N(a.clone())).unwrap();
            let kb = sort_key_bytes(&AttrValue::N(b.clone())).unwrap();
            assert_eq!(a.cmp(b), ka.cmp(&kb), "{a} vs {b}");
        }
    }
}

#[test]
fn sort_key_bytes_other_types() {
    assert_eq!(sort_key_bytes(&AttrValue::S("ab".into())), Some(b"ab".to_vec()));
    assert_eq!(sort_key_bytes(&AttrValue::B(vec![0xff, 0])), Some(vec![0xff, 0]));
    assert!(sort_key_bytes(&AttrValue::S("a".into())) < sort_key_bytes(&AttrValue::S("b".into())));
    assert!(sort_key_bytes(&AttrValue::B(vec![0x7f])) < sort_key_bytes(&AttrValue::B(vec![0x80])));
    assert_eq!(sort_key_bytes(&AttrValue::Bool(true)), None);
    assert_eq!(sort_key_bytes(&AttrValue::Null), None);
    assert_eq!(sort_key_bytes(&AttrValue::L(vec![])), None);
}

fn av(v: serde_json::Value) -> Result<AttrValue, String> {
    AttrValue::from_json(&v).map_err(|e| e.message)
}

#[test]
fn attr_value_json_roundtrip() {
    let v = json!({"M": {
        "s": {"S": "x"}, "n": {"N": "1.50"}, "b": {"B": "AAEC"}, "t": {"BOOL": true}, "z": {"NULL": true},
        "l": {"L": [{"S": "a"}, {"N": "2"}]}, "ss": {"SS": ["b", "a"]}, "ns": {"NS": ["2", "1.0"]}, "bs": {"BS": ["AQ=="]},
        "e": {"S": ""}, "eb": {"B": ""}
    }});
    let a = av(v).unwrap();
    let out = a.to_json();
    assert_eq!(out["M"]["n"], json!({"N": "1.5"}));
    assert_eq!(out["M"]["ns"], json!({"NS": ["2", "1"]}));
    assert_eq!(out["M"]["b"], json!({"B": "AAEC"}));
    assert_eq!(out["M"]["ss"], json!({"SS": ["b", "a"]}));
    assert_eq!(out["M"]["e"], json!({"S": ""}));
    assert_eq!(AttrValue::from_json(&out).unwrap(), a);
    if let AttrValue::M(m) = &a {
        assert_eq!(m["b"], AttrValue::B(vec![0, 1, 2]));
        assert_eq!(m["t"].type_name(), "BOOL");
        assert_eq!(m["z"].type_name(), "NULL");
        assert_eq!(m["ss"].type_name(), "SS");
    } else {
        panic!()
    }
}

#[test]
fn attr_value_sets_compare_as_sets() {
    assert_eq!(av(json!({"SS": ["a", "b"]})).unwrap(), av(json!({"SS": ["b", "a"]})).unwrap());
    assert_eq!(av(json!({"NS": ["1", "2.0"]})).unwrap(), av(json!({"NS": ["2", "1"]})).unwrap());
    assert_ne!(av(json!({"SS": ["a"]})).unwrap(), av(json!({"SS": ["a", "b"]})).unwrap());
    assert_ne!(av(json!({"S": "1"})).unwrap(), av(json!({"N": "1"})).unwrap());
}

#[test]
fn attr_value_errors() {
    assert_eq!(
        av(json!({})).unwrap_err(),
        "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"
    );
    assert_eq!(
        av(json!({"S": "a", "N": "1"})).unwrap_err(),
        "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes"
    );
    assert_eq!(
        av(json!({"NULL": false})).unwrap_err(),
        "One or more parameter values were invalid: Null attribute value types must have the value of true"
    );
    assert_eq!(
        av(json!({"SS": []})).unwrap_err(),
        "One or more parameter values were invalid: An string set  may not be empty"
    );
    assert_eq!(
        av(json!({"NS": []})).unwrap_err(),
        "One or more parameter values were invalid: An number set  may not be empty"
    );
    assert_eq!(
        av(json!({"BS": []})).unwrap_err(),
        "One or more parameter values were invalid: Binary sets should not be empty"
    );
    assert!(av(json!({"SS": ["a", "a"]})).unwrap_err().ends_with("Input collection [a, a] contains duplicates."));
    assert!(av(json!({"NS": ["1", "1.0"]})).unwrap_err().contains("contains duplicates"));
    assert_eq!(av(json!({"N": "abc"})).unwrap_err(), "The parameter cannot be converted to a numeric value: abc");
    assert!(av(json!({"B": "!!!"})).is_err());
    assert!(av(json!({"S": 1})).is_err());
    assert!(av(json!("x")).is_err());
    assert!(av(json!({"M": {"a": {}}})).is_err());
    // deep nesting is rejected, not a stack overflow
    let mut v = json!({"S": "x"});
    for _ in 0..40 {
        v = json!({"L": [v]});
    }
    assert!(av(v).is_err());
}

#[test]
fn sizes() {
    assert_eq!(AttrValue::S("abc".into()).size(), 3);
    assert_eq!(AttrValue::S("é".into()).size(), 2);
    assert_eq!(AttrValue::B(vec![1, 2]).size(), 2);
    assert_eq!(AttrValue::Bool(true).size(), 1);
    assert_eq!(AttrValue::Null.size(), 1);
    assert_eq!(AttrValue::L(vec![]).size(), 3);
    assert_eq!(AttrValue::L(vec![AttrValue::S("ab".into())]).size(), 3 + 1 + 2);
    let m = av(json!({"M": {"k": {"S": "ab"}}})).unwrap();
    assert_eq!(m.size(), 3 + 1 + 1 + 2);
    assert_eq!(AttrValue::N(n("12345")).size(), 4);
    assert_eq!(AttrValue::Ss(vec!["a".into(), "bc".into()]).size(), 3);
    let item = item_from_json(&json!({"pk": {"S": "abc"}, "n": {"N": "1"}})).unwrap();
    assert_eq!(item_size(&item), 2 + 3 + 1 + 2);
    assert_eq!(item_to_json(&item), json!({"pk": {"S": "abc"}, "n": {"N": "1"}}));
}
