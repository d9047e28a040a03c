//! Tests of the PartiQL parser, including a random-input test that it never panics.

use super::*;

fn p(s: &str) -> Result<Stmt, AwsError> {
    parse(s, &[])
}

#[test]
fn parses_the_statement_kinds() {
    let s = p(r#"SELECT a, b.c[2], "d-e" FROM "Music"."ByArtist" WHERE Artist = 'Acme' AND n BETWEEN 1 AND 5 ORDER BY x DESC"#).unwrap();
    let Stmt::Select { from, projection, filter, order } = s else { panic!() };
    assert_eq!(from.table, "Music");
    assert_eq!(from.index.as_deref(), Some("ByArtist"));
    assert_eq!(projection.unwrap().len(), 3);
    assert!(matches!(filter, Some(Expr::And(..))));
    assert_eq!(order.map(|o| o.1), Some(true));
    let s = p("insert into T value {'pk': 'a', 'n': -1.5e3, 'l': [1, TRUE, NULL], 's': <<'x', 'y'>>, 'm': {'k': {}}}").unwrap();
    let Stmt::Insert { item, .. } = s else { panic!() };
    assert_eq!(item.len(), 5);
    assert!(matches!(item.get("s"), Some(AttrValue::Ss(v)) if v.len() == 2));
    let s = p("UPDATE T SET a = a + 1, b = 'x' SET c = list_append(c, [1]) REMOVE d[0], e.f WHERE pk = 'k' RETURNING ALL NEW *").unwrap();
    let Stmt::Update { sets, removes, returning, .. } = s else { panic!() };
    assert_eq!(sets.len(), 3);
    assert_eq!(removes.len(), 2);
    assert_eq!(returning, Some(Returning::AllNew));
    assert!(matches!(p("DELETE FROM T WHERE pk = 'a' AND x IS NOT MISSING").unwrap(), Stmt::Delete { .. }));
    assert!(matches!(p("EXISTS(SELECT * FROM T WHERE pk = 'a')").unwrap(), Stmt::Exists { .. }));
}

#[test]
fn substitutes_parameters_and_counts_them() {
    let s = parse("SELECT * FROM T WHERE pk = ? AND n > ?", &[AttrValue::S("a".into()), AttrValue::Bool(true)]).unwrap();
    let Stmt::Select { filter: Some(Expr::And(a, _)), .. } = s else { panic!() };
    assert_eq!(*a, Expr::Cmp(Operand::Path(Path(vec![PathElem::Name("pk".into())])), CmpOp::Eq, Operand::Value(AttrValue::S("a".into()))));
    let e = parse("SELECT * FROM T WHERE pk = ?", &[]).unwrap_err();
    assert_eq!(e.message, "Number of parameters in request and statement don't match.");
    let e = parse("SELECT * FROM T", &[AttrValue::Null]).unwrap_err();
    assert_eq!(e.message, "Number of parameters in request and statement don't match.");
}

#[test]
fn refuses_malformed_statements() {
    for s in ["", "SELECT", "SELECT * FROM", "SELECT * FROM T WHERE", "SELECT * FROM T WHERE a =", "INSERT INTO T VALUE", "UPDATE T WHERE a = 1",
        "SELECT * FROM T WHERE a = 'x", "SELECT * FROM T extra", "DELETE T WHERE a = 1", "SELECT * FROM T WHERE a = <<>>", "SELECT # FROM T"] {
        let e = p(s).unwrap_err();
        assert_eq!(e.code, "ValidationException", "{s}");
    }
    assert!(p("SELECT * FROM T WHERE a = 1").is_ok());
    assert!(p("CREATE TABLE x").unwrap_err().message.starts_with("Unsupported operation"));
}

#[test]
fn random_input_never_panics() {
    // A deterministic xorshift so failures reproduce.
    let mut x: u64 = 0x9E3779B97F4A7C15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let pieces = [
        "SELECT", "*", "FROM", "\"T\"", "T", ".", "WHERE", "a", "=", "<>", "<", ">=", "'s'", "1", "-", "2.5e3", "AND", "OR", "NOT", "(", ")",
        "[", "]", "{", "}", ":", ",", "<<", ">>", "?", "BETWEEN", "IN", "IS", "MISSING", "NULL", "TRUE", "INSERT", "INTO", "VALUE", "UPDATE",
        "SET", "REMOVE", "DELETE", "RETURNING", "ALL", "OLD", "NEW", "EXISTS", "size", "begins_with", "list_append", "set_add", "'", "\"",
        "/*", "--", "ORDER", "BY", "é", "\u{0}",
    ];
    let params = [AttrValue::S("x".into()), AttrValue::N(Number::parse("1").unwrap())];
    for _ in 0..20_000 {
        let n = (next() % 24) as usize;
        let mut s = String::new();
        for _ in 0..n {
            s.push_str(pieces[(next() % pieces.len() as u64) as usize]);
            if next() % 3 != 0 {
                s.push(' ');
            }
        }
        let np = (next() % 3) as usize;
        let _ = parse(&s, &params[..np]);
    }
    // Deep nesting is refused, not a stack overflow.
    let deep = format!("SELECT * FROM T WHERE {}a = 1{}", "(".repeat(3_000), ")".repeat(3_000));
    assert!(p(&deep).unwrap_err().message.contains("nested too deeply"));
    let deep = format!("INSERT INTO T VALUE {{'a': {}1{}}}", "[".repeat(3_000), "]".repeat(3_000));
    assert!(p(&deep).unwrap_err().message.contains("nested too deeply"));
    let deep = format!("SELECT * FROM T WHERE {}a = 1", "NOT ".repeat(1_500));
    assert!(p(&deep).unwrap_err().message.contains("nested too deeply"));
}
