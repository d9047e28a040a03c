//! Translation of parsed PartiQL into DynamoDB expression strings with
//! ExpressionAttributeNames/Values, so statements run through the same Query, Scan,
//! PutItem, UpdateItem and DeleteItem code (conditions, capacity, streams, history) as
//! the item API.

use std::collections::HashMap;

use nimbus_dynamodb_expr::AttrValue;
use nimbus_types::AwsError;
use serde_json::{Map, Value};

use super::parser::{CmpOp, Expr, Operand, Path, PathElem, SetValue};

/// Placeholders being collected for one request.
#[derive(Default)]
pub(crate) struct Ex {
    names: Map<String, Value>,
    by_name: HashMap<String, String>,
    values: Map<String, Value>,
}

impl Ex {
    pub fn name(&mut self, n: &str) -> String {
        if let Some(p) = self.by_name.get(n) {
            return p.clone();
        }
        let p = format!("#n{}", self.by_name.len());
        self.by_name.insert(n.to_string(), p.clone());
        self.names.insert(p.clone(), Value::String(n.to_string()));
        p
    }

    pub fn path(&mut self, p: &Path) -> String {
        let mut s = String::new();
        for (i, e) in p.0.iter().enumerate() {
            match e {
                PathElem::Name(n) => {
                    if i > 0 {
                        s.push('.');
                    }
                    s.push_str(&self.name(n));
                }
                PathElem::Index(ix) => s.push_str(&format!("[{ix}]")),
            }
        }
        s
    }

    pub fn value(&mut self, v: &AttrValue) -> String {
        let p = format!(":v{}", self.values.len());
        self.values.insert(p.clone(), v.to_json());
        p
    }

    pub fn operand(&mut self, o: &Operand) -> String {
        match o {
            Operand::Path(p) => self.path(p),
            Operand::Value(v) => self.value(v),
            Operand::Size(p) => format!("size({})", self.path(p)),
        }
    }

    pub fn cond(&mut self, e: &Expr) -> String {
        match e {
            Expr::Cmp(a, op, b) => format!("{} {} {}", self.operand(a), op.symbol(), self.operand(b)),
            Expr::Between(a, lo, hi) => format!("{} BETWEEN {} AND {}", self.operand(a), self.operand(lo), self.operand(hi)),
            Expr::In(a, list) => {
                let a = self.operand(a);
                let l: Vec<String> = list.iter().map(|o| self.operand(o)).collect();
                format!("{a} IN ({})", l.join(", "))
            }
            // Chains render flat, so a long WHERE does not nest the expression deeply.
            Expr::And(..) => {
                let mut parts = Vec::new();
                conjuncts(e, &mut parts);
                parts.iter().map(|p| format!("({})", self.cond(p))).collect::<Vec<_>>().join(" AND ")
            }
            Expr::Or(..) => {
                let mut parts = Vec::new();
                disjuncts(e, &mut parts);
                parts.iter().map(|p| format!("({})", self.cond(p))).collect::<Vec<_>>().join(" OR ")
            }
            Expr::Not(a) => format!("NOT ({})", self.cond(a)),
            Expr::Func(f, args) => {
                let a: Vec<String> = args.iter().map(|o| self.operand(o)).collect();
                format!("{f}({})", a.join(", "))
            }
            Expr::Missing(p, false) => format!("attribute_not_exists({})", self.path(p)),
            Expr::Missing(p, true) => format!("attribute_exists({})", self.path(p)),
            // PartiQL: a missing attribute IS NULL too.
            Expr::Null(p, false) => {
                let (p, t) = (self.path(p), self.value(&AttrValue::S("NULL".into())));
                format!("(attribute_not_exists({p}) OR attribute_type({p}, {t}))")
            }
            Expr::Null(p, true) => {
                let (p, t) = (self.path(p), self.value(&AttrValue::S("NULL".into())));
                format!("(attribute_exists({p}) AND NOT attribute_type({p}, {t}))")
            }
        }
    }

    /// The conjunction of `parts` (None when empty).
    pub fn conds(&mut self, parts: &[Expr]) -> Option<String> {
        let v: Vec<String> = parts.iter().map(|e| format!("({})", self.cond(e))).collect();
        (!v.is_empty()).then(|| v.join(" AND "))
    }

    /// The UpdateExpression of `sets` and `removes`.
    pub fn update(&mut self, sets: &[(Path, SetValue)], removes: &[Path]) -> Result<String, AwsError> {
        let mut set = Vec::new();
        let mut add = Vec::new();
        let mut del = Vec::new();
        for (p, v) in sets {
            let path = self.path(p);
            match v {
                SetValue::Operand(o) => set.push(format!("{path} = {}", self.operand(o))),
                SetValue::Arith(a, plus, b) => {
                    let (a, b) = (self.operand(a), self.operand(b));
                    set.push(format!("{path} = {a} {} {b}", if *plus { "+" } else { "-" }));
                }
                SetValue::Func(f, args) => {
                    let a: Vec<String> = args.iter().map(|o| self.operand(o)).collect();
                    set.push(format!("{path} = {f}({})", a.join(", ")));
                }
                SetValue::SetAdd(s) => add.push(format!("{path} {}", self.value(s))),
                SetValue::SetDelete(s) => del.push(format!("{path} {}", self.value(s))),
            }
        }
        let rem: Vec<String> = removes.iter().map(|p| self.path(p)).collect();
        let mut out = Vec::new();
        for (kw, parts) in [("SET", set), ("REMOVE", rem), ("ADD", add), ("DELETE", del)] {
            if !parts.is_empty() {
                out.push(format!("{kw} {}", parts.join(", ")));
            }
        }
        Ok(out.join(" "))
    }

    /// Puts the collected names and values into `req`.
    pub fn finish(self, req: &mut Map<String, Value>) {
        if !self.names.is_empty() {
            req.insert("ExpressionAttributeNames".into(), Value::Object(self.names));
        }
        if !self.values.is_empty() {
            req.insert("ExpressionAttributeValues".into(), Value::Object(self.values));
        }
    }
}

/// The top-level conjuncts of a condition. Iterative: AND chains are left-deep, as long
/// as the statement allows.
pub(crate) fn conjuncts(e: &Expr, out: &mut Vec<Expr>) {
    let mut stack = vec![e];
    while let Some(x) = stack.pop() {
        match x {
            Expr::And(a, b) => {
                stack.push(b);
                stack.push(a);
            }
            other => out.push(other.clone()),
        }
    }
}

/// The top-level disjuncts of a condition.
fn disjuncts(e: &Expr, out: &mut Vec<Expr>) {
    let mut stack = vec![e];
    while let Some(x) = stack.pop() {
        match x {
            Expr::Or(a, b) => {
                stack.push(b);
                stack.push(a);
            }
            other => out.push(other.clone()),
        }
    }
}

/// The value `name` is compared equal to, if `c` is `name = value` (either way round).
pub(crate) fn key_eq<'a>(c: &'a Expr, name: &str) -> Option<&'a AttrValue> {
    match c {
        Expr::Cmp(Operand::Path(p), CmpOp::Eq, Operand::Value(v)) | Expr::Cmp(Operand::Value(v), CmpOp::Eq, Operand::Path(p)) if p.top() == Some(name) => Some(v),
        _ => None,
    }
}

/// Whether `c` can be the sort-key part of a key condition on `name` of type `ty`.
pub(crate) fn is_range_cond(c: &Expr, name: &str, ty: &str) -> bool {
    let is_key = |o: &Operand| matches!(o, Operand::Path(p) if p.top() == Some(name));
    let typed = |o: &Operand| matches!(o, Operand::Value(v) if v.type_name() == ty);
    match c {
        Expr::Cmp(a, op, b) => *op != CmpOp::Ne && ((is_key(a) && typed(b)) || (typed(a) && is_key(b))),
        Expr::Between(a, lo, hi) => is_key(a) && typed(lo) && typed(hi),
        Expr::Func(f, args) => f == "begins_with" && args.len() == 2 && is_key(&args[0]) && typed(&args[1]) && ty != "N",
        _ => false,
    }
}

/// A range condition with the key on the left (`1 < sk` becomes `sk > 1`).
pub(crate) fn key_left(c: Expr) -> Expr {
    match c {
        Expr::Cmp(a @ Operand::Value(_), op, b @ Operand::Path(_)) => Expr::Cmp(b, op.flip(), a),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partiql::parser::{parse, Stmt};

    #[test]
    fn long_chains_render_flat_and_in_order() {
        let terms: Vec<String> = (0..500).map(|i| format!("a{i}={i}")).collect();
        let stmt = parse(&format!("SELECT * FROM T WHERE {}", terms.join(" AND ")), &[]).unwrap();
        let Stmt::Select { filter: Some(f), .. } = stmt else { panic!() };
        let mut parts = Vec::new();
        conjuncts(&f, &mut parts);
        assert_eq!(parts.len(), 500);
        let mut ex = Ex::default();
        let s = ex.cond(&f);
        assert!(s.starts_with("(#n0 = :v0) AND (#n1 = :v1)"));
        assert!(!s.contains("(("));
        let stmt = parse("SELECT * FROM T WHERE a = 1 OR b = 2 AND c = 3 OR NOT d = 4", &[]).unwrap();
        let Stmt::Select { filter: Some(f), .. } = stmt else { panic!() };
        assert_eq!(Ex::default().cond(&f), "(#n0 = :v0) OR ((#n1 = :v1) AND (#n2 = :v2)) OR (NOT (#n3 = :v3))");
    }
}
