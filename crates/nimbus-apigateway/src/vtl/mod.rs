//! API Gateway's mapping-template language: the subset of Apache Velocity (VTL)
//! that request/response templates and access-log formats use, with API Gateway's
//! variables (`$input`, `$util`, `$context`, `$stageVariables`).
//!
//! Values are JSON values; they render as Java renders them (`[a, b]`, `{k=v}`,
//! `2.0`). An undefined reference renders as written (`$nope`) unless quiet
//! (`$!nope`); a null property or method result renders empty. Templates are bounded
//! (nesting, loop iterations, output size), so no template or input can hang or
//! exhaust the server; errors become the gateway's 500.

mod builtins;
mod parse;

use std::collections::HashMap;

use serde_json::{Map, Value};

pub(crate) use builtins::json_path;
pub use parse::parse;
use parse::{Expr, Node, Op, Ref, Seg};

/// Largest rendered output.
const MAX_OUTPUT: usize = 10 * 1024 * 1024;
/// Most loop iterations (all loops of one render together).
const MAX_ITERATIONS: usize = 100_000;
/// Most bytes of values one render may materialize (copies, strings it builds,
/// list and map growth), so no template can exhaust memory or time.
const MAX_WORK: usize = 64 * 1024 * 1024;

/// The request as `$input` sees it.
pub struct Input<'a> {
    /// `$input.body`: the request body for request templates, the integration's
    /// response body for response templates.
    pub body: &'a str,
    /// `$input.params()`: `{"path": {..}, "querystring": {..}, "header": {..}}`.
    pub params: Value,
}

/// One render: the input, the variables (`context`, `stageVariables`, and those the
/// template sets), and the work budget.
pub struct Vtl<'a> {
    input: &'a Input<'a>,
    pub vars: HashMap<String, Value>,
    iterations: usize,
    out_len: usize,
    work: usize,
    parsed_body: Option<Value>,
}

/// A property or index step of a reference, its key evaluated.
enum Step {
    Prop(String),
    Index(Value),
}

/// Deepest nesting of a value a template may build (JSON documents parse to at most
/// 128 levels); deeper values could overflow the stack when copied or dropped.
const MAX_VALUE_DEPTH: usize = 160;

/// Roughly how many bytes `v` holds (stops counting past `limit`); `usize::MAX`
/// when it nests deeper than [`MAX_VALUE_DEPTH`].
fn size_of(v: &Value, limit: usize) -> usize {
    let mut total: usize = 0;
    let mut stack = vec![(v, 0usize)];
    while let Some((v, depth)) = stack.pop() {
        if depth > MAX_VALUE_DEPTH {
            return usize::MAX;
        }
        total += 16;
        match v {
            Value::String(s) => total += s.len(),
            Value::Array(a) => stack.extend(a.iter().map(|x| (x, depth + 1))),
            Value::Object(m) => {
                for (k, x) in m {
                    total += k.len();
                    stack.push((x, depth + 1));
                }
            }
            _ => {}
        }
        if total > limit {
            break;
        }
    }
    total
}

/// Control flow out of a block.
enum Flow {
    Normal,
    Break,
    Stop,
}

pub type Error = String;

impl<'a> Vtl<'a> {
    pub fn new(input: &'a Input<'a>, vars: HashMap<String, Value>) -> Self {
        Vtl {
            input,
            vars,
            iterations: 0,
            out_len: 0,
            work: 0,
            parsed_body: None,
        }
    }

    /// Parses and renders `template`.
    pub fn render(&mut self, template: &str) -> Result<String, Error> {
        let nodes = parse(template)?;
        let mut out = String::new();
        self.block(&nodes, &mut out)?;
        Ok(out)
    }

    /// Counts `v` against the render's work budget.
    fn charge(&mut self, v: &Value) -> Result<(), Error> {
        self.work = self.work.saturating_add(size_of(v, MAX_WORK));
        if self.work > MAX_WORK {
            return Err(
                "the template does too much work (or builds values nested too deeply)".into(),
            );
        }
        Ok(())
    }

    fn push(&mut self, out: &mut String, s: &str) -> Result<(), Error> {
        self.out_len += s.len();
        if self.out_len > MAX_OUTPUT {
            return Err("the template output is too large".into());
        }
        out.push_str(s);
        Ok(())
    }

    fn block(&mut self, nodes: &[Node], out: &mut String) -> Result<Flow, Error> {
        for n in nodes {
            match n {
                Node::Text(t) => self.push(out, t)?,
                Node::Ref(r) => {
                    let text = match self.reference(r)? {
                        None if r.quiet => String::new(),
                        None => r.raw.clone(),
                        Some(v) => render(&v),
                    };
                    self.push(out, &text)?;
                }
                Node::Set(target, e) => {
                    let v = self.expr(e)?;
                    self.charge(&v)?;
                    self.set(target, v)?;
                }
                Node::If(branches, otherwise) => {
                    let mut taken = None;
                    for (cond, body) in branches {
                        if truthy(&self.expr_opt(cond)?) {
                            taken = Some(body);
                            break;
                        }
                    }
                    if let Some(body) = taken.or(otherwise.as_ref()) {
                        match self.block(body, out)? {
                            Flow::Normal => {}
                            f => return Ok(f),
                        }
                    }
                }
                Node::Foreach(var, list, body) => {
                    let items = match self.expr_opt(list)? {
                        Some(Value::Array(a)) => a,
                        Some(Value::Object(m)) => m.into_iter().map(|(_, v)| v).collect(),
                        Some(Value::Null) | None => Vec::new(),
                        Some(other) => vec![other],
                    };
                    let saved = (
                        self.vars.get(var).cloned(),
                        self.vars.get("foreach").cloned(),
                        self.vars.get("velocityCount").cloned(),
                    );
                    let n = items.len();
                    for (i, item) in items.into_iter().enumerate() {
                        self.iterations += 1;
                        if self.iterations > MAX_ITERATIONS {
                            return Err("the template loops too often".into());
                        }
                        self.vars.insert(var.clone(), item);
                        self.vars.insert(
                            "foreach".into(),
                            serde_json::json!({"index": i, "count": i + 1, "hasNext": i + 1 < n,
                                "first": i == 0, "last": i + 1 == n}),
                        );
                        self.vars.insert("velocityCount".into(), Value::from(i + 1));
                        match self.block(body, out)? {
                            Flow::Normal => {}
                            Flow::Break => break,
                            Flow::Stop => return Ok(Flow::Stop),
                        }
                    }
                    for (k, v) in [
                        (var.as_str(), saved.0),
                        ("foreach", saved.1),
                        ("velocityCount", saved.2),
                    ] {
                        match v {
                            Some(v) => self.vars.insert(k.to_string(), v),
                            None => self.vars.remove(k),
                        };
                    }
                }
                Node::Break => return Ok(Flow::Break),
                Node::Stop => return Ok(Flow::Stop),
            }
        }
        Ok(Flow::Normal)
    }

    fn set(&mut self, target: &Ref, v: Value) -> Result<(), Error> {
        if target.chain.is_empty() {
            self.vars.insert(target.root.clone(), v);
            return Ok(());
        }
        let (last, path) = target.chain.split_last().ok_or("empty #set target")?;
        let mut keys = Vec::new();
        for s in path {
            keys.push(self.key(s)?);
        }
        let last = self.key(last)?;
        let mut cur = self
            .vars
            .entry(target.root.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        for k in keys {
            cur = match (cur, k) {
                (Value::Object(m), Key::Name(n)) => {
                    m.entry(n).or_insert_with(|| Value::Object(Map::new()))
                }
                (Value::Array(a), Key::Index(i)) => match a.get_mut(i) {
                    Some(x) => x,
                    None => return Ok(()),
                },
                _ => return Ok(()),
            };
        }
        match (cur, last) {
            (Value::Object(m), Key::Name(n)) => {
                m.insert(n, v);
            }
            (Value::Array(a), Key::Index(i)) => {
                if let Some(x) = a.get_mut(i) {
                    *x = v;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// A `#set` path step: a property name or a list index.
    fn key(&mut self, s: &Seg) -> Result<Key, Error> {
        match s {
            Seg::Prop(n) => Ok(Key::Name(n.clone())),
            Seg::Index(e) => match self.expr(e)? {
                Value::String(s) => Ok(Key::Name(s)),
                Value::Number(n) => Ok(n
                    .as_u64()
                    .and_then(|n| usize::try_from(n).ok())
                    .map(Key::Index)
                    .unwrap_or(Key::None)),
                _ => Ok(Key::None),
            },
            Seg::Call(..) => Err("cannot #set through a method call".into()),
        }
    }

    fn expr(&mut self, e: &Expr) -> Result<Value, Error> {
        Ok(self.expr_opt(e)?.unwrap_or(Value::Null))
    }

    /// An expression's value; `None` for an undefined reference.
    fn expr_opt(&mut self, e: &Expr) -> Result<Option<Value>, Error> {
        Ok(Some(match e {
            Expr::Lit(v) => v.clone(),
            Expr::Interp(nodes) => {
                let mut s = String::new();
                self.block(nodes, &mut s)?;
                Value::String(s)
            }
            Expr::Ref(r) => return self.reference(r),
            Expr::List(items) => {
                let mut out = Vec::with_capacity(items.len());
                for i in items {
                    out.push(self.expr(i)?);
                }
                Value::Array(out)
            }
            Expr::Range(a, b) => {
                let (a, b) = (self.expr(a)?, self.expr(b)?);
                let (Some(a), Some(b)) = (as_int(&a), as_int(&b)) else {
                    return Ok(Some(Value::Null));
                };
                if a.abs_diff(b) >= MAX_ITERATIONS as u64 {
                    return Err("range too large".into());
                }
                if a <= b {
                    (a..=b).map(Value::from).collect()
                } else {
                    (b..=a).rev().map(Value::from).collect()
                }
            }
            Expr::Map(entries) => {
                let mut m = Map::new();
                for (k, v) in entries {
                    let k = render(&self.expr(k)?);
                    let v = self.expr(v)?;
                    m.insert(k, v);
                }
                Value::Object(m)
            }
            Expr::Not(e) => Value::Bool(!truthy(&self.expr_opt(e)?)),
            Expr::Neg(e) => match self.expr(e)? {
                Value::Number(n) => match n.as_i64() {
                    Some(i) => i.checked_neg().map(Value::from).unwrap_or(Value::Null),
                    None => num(-n.as_f64().unwrap_or(0.0)),
                },
                _ => Value::Null,
            },
            Expr::Bin(Op::And, a, b) => {
                Value::Bool(truthy(&self.expr_opt(a)?) && truthy(&self.expr_opt(b)?))
            }
            Expr::Bin(Op::Or, a, b) => {
                Value::Bool(truthy(&self.expr_opt(a)?) || truthy(&self.expr_opt(b)?))
            }
            Expr::Bin(op, a, b) => {
                let (a, b) = (self.expr(a)?, self.expr(b)?);
                let v = binary(*op, &a, &b);
                if v.is_string() {
                    self.charge(&v)?;
                }
                v
            }
        }))
    }

    /// A reference's value; `None` when its variable is undefined.
    fn reference(&mut self, r: &Ref) -> Result<Option<Value>, Error> {
        let mut chain = r.chain.as_slice();
        let mut cur = match r.root.as_str() {
            "input" if !self.vars.contains_key("input") => {
                let Some((first, rest)) = chain.split_first() else {
                    return Ok(None);
                };
                chain = rest;
                let v = self.input_call(first)?;
                self.charge(&v)?;
                v
            }
            "util" if !self.vars.contains_key("util") => {
                let Some((Seg::Call(name, args), rest)) = chain.split_first() else {
                    return Ok(None);
                };
                chain = rest;
                let args = self.args(args)?;
                let v = builtins::util(name, &args)?;
                self.charge(&v)?;
                v
            }
            root => {
                // `$list.add(x)` and `$map.put(k, v)` change the variable itself.
                if let Some((Seg::Call(name, args), path)) = chain.split_last() {
                    if builtins::is_mutator(name) && self.vars.contains_key(root) {
                        let args = self.args(args)?;
                        for a in &args {
                            self.charge(a)?;
                        }
                        let mut keys = Vec::new();
                        for s in path {
                            keys.push(self.key(s)?);
                        }
                        let Some(mut target) = self.vars.get_mut(root) else {
                            return Ok(None);
                        };
                        for k in keys {
                            target = match (target, k) {
                                (Value::Object(m), Key::Name(n)) => match m.get_mut(&n) {
                                    Some(x) => x,
                                    None => return Ok(Some(Value::Null)),
                                },
                                (Value::Array(a), Key::Index(i)) => match a.get_mut(i) {
                                    Some(x) => x,
                                    None => return Ok(Some(Value::Null)),
                                },
                                _ => return Ok(Some(Value::Null)),
                            };
                        }
                        return builtins::mutate(target, name, args).map(Some);
                    }
                }
                // Walk the leading properties and indexes by reference, so reading
                // `$big.a.b` copies only what it reaches.
                let mut steps = Vec::new();
                for seg in chain {
                    match seg {
                        Seg::Prop(n) => steps.push(Step::Prop(n.clone())),
                        Seg::Index(e) => steps.push(Step::Index(self.expr(e)?)),
                        Seg::Call(..) => break,
                    }
                }
                chain = &chain[steps.len()..];
                let Some(mut v) = self.vars.get(root) else {
                    return Ok(None);
                };
                let mut taken = 0;
                let mut missing = false;
                for step in &steps {
                    let next = match (v, step) {
                        (Value::Object(m), Step::Prop(n)) => m.get(n),
                        (Value::Object(m), Step::Index(k)) => m.get(&render(k)),
                        (Value::Array(a), Step::Index(k)) => as_int(k)
                            .and_then(|i| usize::try_from(i).ok())
                            .and_then(|i| a.get(i)),
                        // Getters such as `$list.size`: the generic path below.
                        _ => break,
                    };
                    taken += 1;
                    match next {
                        Some(x) => v = x,
                        None => {
                            missing = true;
                            break;
                        }
                    }
                }
                let mut cur = if missing { Value::Null } else { v.clone() };
                self.charge(&cur)?;
                if !missing {
                    for step in &steps[taken..] {
                        cur = match step {
                            Step::Prop(n) => builtins::property(&cur, n),
                            Step::Index(k) => builtins::index(&cur, k),
                        };
                    }
                }
                cur
            }
        };
        for seg in chain {
            cur = match seg {
                Seg::Prop(name) => builtins::property(&cur, name),
                Seg::Index(e) => {
                    let k = self.expr(e)?;
                    builtins::index(&cur, &k)
                }
                Seg::Call(name, args) => {
                    let args = self.args(args)?;
                    let v = builtins::method(&cur, name, &args)?;
                    self.charge(&v)?;
                    v
                }
            };
        }
        Ok(Some(cur))
    }

    fn args(&mut self, args: &[Expr]) -> Result<Vec<Value>, Error> {
        args.iter().map(|a| self.expr(a)).collect()
    }

    fn input_call(&mut self, seg: &Seg) -> Result<Value, Error> {
        match seg {
            Seg::Prop(p) if p == "body" => Ok(Value::String(self.input.body.to_string())),
            Seg::Call(name, args) => {
                let args = self.args(args)?;
                let arg = args.first().map(render);
                match (name.as_str(), arg) {
                    ("params", None) => Ok(self.input.params.clone()),
                    ("params", Some(n)) => {
                        for kind in ["path", "querystring", "header"] {
                            let found = self.input.params.get(kind).and_then(|m| {
                                m.as_object().and_then(|m| {
                                    m.get(&n).or_else(|| {
                                        (kind == "header")
                                            .then(|| {
                                                m.iter()
                                                    .find(|(k, _)| k.eq_ignore_ascii_case(&n))
                                                    .map(|(_, v)| v)
                                            })
                                            .flatten()
                                    })
                                })
                            });
                            if let Some(v) = found {
                                return Ok(v.clone());
                            }
                        }
                        Ok(Value::String(String::new()))
                    }
                    ("json", Some(p)) => {
                        let v = self.json_path(&p)?;
                        Ok(Value::String(
                            serde_json::to_string(&v).unwrap_or_else(|_| "null".into()),
                        ))
                    }
                    ("path", Some(p)) => self.json_path(&p),
                    _ => Err(format!("$input.{name} is not supported")),
                }
            }
            _ => Ok(Value::Null),
        }
    }

    fn json_path(&mut self, path: &str) -> Result<Value, Error> {
        if self.parsed_body.is_none() {
            let body = self.input.body.trim();
            let v = if body.is_empty() {
                Value::Object(Map::new())
            } else {
                serde_json::from_str(body)
                    .map_err(|e| format!("Unable to parse the body as JSON: {e}"))?
            };
            self.parsed_body = Some(v);
        }
        // `..name` walks the whole document: count it.
        if path.contains("..") {
            if let Some(root) = &self.parsed_body {
                self.work = self.work.saturating_add(size_of(root, MAX_WORK));
                if self.work > MAX_WORK {
                    return Err("the template does too much work".into());
                }
            }
        }
        match &self.parsed_body {
            Some(root) => builtins::json_path(root, path),
            None => Ok(Value::Null),
        }
    }
}

enum Key {
    Name(String),
    Index(usize),
    None,
}

fn num(f: f64) -> Value {
    serde_json::Number::from_f64(f)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

pub(crate) fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn truthy(v: &Option<Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => true,
    }
}

fn binary(op: Op, a: &Value, b: &Value) -> Value {
    use std::cmp::Ordering;
    let both_numbers = matches!((a, b), (Value::Number(_), Value::Number(_)));
    let ord = || -> Option<Ordering> {
        if both_numbers {
            as_f64(a)?.partial_cmp(&as_f64(b)?)
        } else {
            match (a, b) {
                (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
                _ => as_f64(a)?.partial_cmp(&as_f64(b)?),
            }
        }
    };
    match op {
        Op::Eq | Op::Ne => {
            let eq = if both_numbers {
                as_f64(a) == as_f64(b)
            } else if a.is_null() || b.is_null() {
                a.is_null() && b.is_null()
            } else {
                a == b || render(a) == render(b)
            };
            Value::Bool(eq == (op == Op::Eq))
        }
        Op::Lt => Value::Bool(ord() == Some(Ordering::Less)),
        Op::Le => Value::Bool(matches!(ord(), Some(Ordering::Less | Ordering::Equal))),
        Op::Gt => Value::Bool(ord() == Some(Ordering::Greater)),
        Op::Ge => Value::Bool(matches!(ord(), Some(Ordering::Greater | Ordering::Equal))),
        Op::Add if !both_numbers && (a.is_string() || b.is_string()) => {
            Value::String(format!("{}{}", render(a), render(b)))
        }
        Op::Add | Op::Sub | Op::Mul | Op::Div | Op::Mod => {
            if let (Some(x), Some(y), true) = (a.as_i64(), b.as_i64(), a.is_i64() || a.is_u64()) {
                if b.is_i64() || b.is_u64() {
                    let r = match op {
                        Op::Add => x.checked_add(y),
                        Op::Sub => x.checked_sub(y),
                        Op::Mul => x.checked_mul(y),
                        Op::Div => x.checked_div(y),
                        _ => x.checked_rem(y),
                    };
                    return r.map(Value::from).unwrap_or(Value::Null);
                }
            }
            let (Some(x), Some(y)) = (as_f64(a), as_f64(b)) else {
                return Value::Null;
            };
            let r = match op {
                Op::Add => x + y,
                Op::Sub => x - y,
                Op::Mul => x * y,
                Op::Div if y == 0.0 => return Value::Null,
                Op::Div => x / y,
                _ if y == 0.0 => return Value::Null,
                _ => x % y,
            };
            num(r)
        }
        Op::And | Op::Or => Value::Null,
    }
}

/// A value as Java's `toString` writes it.
pub fn render(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::String(s) => s.clone(),
        Value::Number(n) => {
            if n.is_f64() {
                let f = n.as_f64().unwrap_or(0.0);
                if f.fract() == 0.0 && f.abs() < 1e16 {
                    format!("{f:.1}")
                } else {
                    f.to_string()
                }
            } else {
                n.to_string()
            }
        }
        Value::Array(a) => {
            let items: Vec<String> = a.iter().map(render_inner).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(m) => {
            let items: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{k}={}", render_inner(v)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
    }
}

/// Inside a list or map Java writes `null` for null.
fn render_inner(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        v => render(v),
    }
}

#[cfg(test)]
mod tests;
