//! The PartiQL subset DynamoDB accepts: a recursive-descent parser (over the tokens of
//! `lex`) producing [`Stmt`]. `?` parameters are substituted while parsing, so the tree holds only values.
//! Every error is a `ValidationException` with AWS's "Statement wasn't well formed" prefix;
//! nesting is bounded so no input can overflow the stack.

use std::collections::BTreeMap;

use nimbus_dynamodb_expr::{AttrValue, Number};
use nimbus_types::AwsError;

use super::lex::{lex, Tok};

/// The longest statement AWS accepts (PartiQLStatement).
const MAX_STATEMENT: usize = 8192;

/// Deepest nesting of parentheses, NOT, and value literals.
const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PathElem {
    Name(String),
    Index(usize),
}

/// An attribute path: a top-level name, then `.name`, `['name']` or `[n]` steps.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Path(pub Vec<PathElem>);

impl Path {
    /// The attribute name when the path is a single top-level name.
    pub fn top(&self) -> Option<&str> {
        match self.0.as_slice() {
            [PathElem::Name(n)] => Some(n),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Operand {
    Path(Path),
    Value(AttrValue),
    Size(Path),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "<>",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    /// The operator with its operands swapped (`1 < a` is `a > 1`).
    pub fn flip(self) -> CmpOp {
        match self {
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::Le => CmpOp::Ge,
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::Ge => CmpOp::Le,
            o => o,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    Cmp(Operand, CmpOp, Operand),
    Between(Operand, Operand, Operand),
    In(Operand, Vec<Operand>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    /// begins_with, contains, attribute_exists, attribute_not_exists, attribute_type.
    Func(String, Vec<Operand>),
    /// `path IS [NOT] MISSING` (negated = NOT).
    Missing(Path, bool),
    /// `path IS [NOT] NULL`.
    Null(Path, bool),
}

/// The right side of `SET path = ...`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SetValue {
    Operand(Operand),
    /// `a + b` (true) or `a - b` (false).
    Arith(Operand, bool, Operand),
    /// list_append(a, b), if_not_exists(path, v).
    Func(String, Vec<Operand>),
    /// set_add(path, set) / set_delete(path, set).
    SetAdd(AttrValue),
    SetDelete(AttrValue),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Returning {
    AllOld,
    ModifiedOld,
    AllNew,
    ModifiedNew,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TableRef {
    pub table: String,
    pub index: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Stmt {
    Select {
        from: TableRef,
        /// None: `*`.
        projection: Option<Vec<Path>>,
        filter: Option<Expr>,
        /// `ORDER BY path [ASC|DESC]`: the path and whether descending.
        order: Option<(Path, bool)>,
    },
    Insert {
        table: String,
        item: BTreeMap<String, AttrValue>,
    },
    Update {
        table: String,
        sets: Vec<(Path, SetValue)>,
        removes: Vec<Path>,
        filter: Expr,
        returning: Option<Returning>,
    },
    Delete {
        table: String,
        filter: Expr,
        returning: Option<Returning>,
    },
    /// `EXISTS(SELECT * FROM t WHERE ...)`, a condition check in a transaction.
    Exists {
        table: String,
        filter: Expr,
    },
}

impl Stmt {
    pub fn table(&self) -> &str {
        match self {
            Stmt::Select { from, .. } => &from.table,
            Stmt::Insert { table, .. } | Stmt::Update { table, .. } | Stmt::Delete { table, .. } | Stmt::Exists { table, .. } => table,
        }
    }

    pub fn is_read(&self) -> bool {
        matches!(self, Stmt::Select { .. })
    }
}

pub(crate) fn malformed(detail: &str) -> AwsError {
    AwsError::validation(format!("Statement wasn't well formed, can't be processed: {detail}"))
}

struct Parser<'a> {
    toks: Vec<Tok>,
    pos: usize,
    params: &'a [AttrValue],
    used: usize,
    depth: usize,
}

/// Parses one statement, substituting `params` for the `?`s.
pub(crate) fn parse(src: &str, params: &[AttrValue]) -> Result<Stmt, AwsError> {
    if src.is_empty() || src.len() > MAX_STATEMENT {
        return Err(AwsError::validation(format!(
            "1 validation error detected: Value at 'statement' failed to satisfy constraint: Member must have length less than or equal to {MAX_STATEMENT}"
        )));
    }
    let toks = lex(src)?;
    let mut p = Parser { toks, pos: 0, params, used: 0, depth: 0 };
    let stmt = p.statement()?;
    if p.peek_sym(";") {
        p.pos += 1;
    }
    if p.pos < p.toks.len() {
        return Err(p.unexpected());
    }
    if p.used != params.len() {
        return Err(AwsError::validation("Number of parameters in request and statement don't match."));
    }
    Ok(stmt)
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn peek_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn peek_kw_at(&self, off: usize, kw: &str) -> bool {
        matches!(self.toks.get(self.pos + off), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn peek_sym(&self, s: &str) -> bool {
        matches!(self.peek(), Some(Tok::Sym(x)) if *x == s)
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        if self.peek_kw(kw) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn eat_sym(&mut self, s: &str) -> bool {
        if self.peek_sym(s) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn unexpected(&self) -> AwsError {
        match self.peek() {
            None => malformed("Unexpected end of statement"),
            Some(Tok::Word(w)) if is_keyword(w) => malformed(&format!("Unexpected keyword: {}", w.to_ascii_uppercase())),
            Some(Tok::Word(w)) | Some(Tok::Quoted(w)) => malformed(&format!("Unexpected identifier: {w}")),
            Some(Tok::Str(s)) => malformed(&format!("Unexpected term: '{s}'")),
            Some(Tok::Num(n)) => malformed(&format!("Unexpected term: {n}")),
            Some(Tok::Sym(s)) => malformed(&format!("Unexpected token: {s}")),
            Some(Tok::Param) => malformed("Unexpected token: ?"),
        }
    }

    fn expect_kw(&mut self, kw: &str) -> Result<(), AwsError> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn expect_sym(&mut self, s: &str) -> Result<(), AwsError> {
        if self.eat_sym(s) {
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn enter(&mut self) -> Result<(), AwsError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(malformed("Statement is nested too deeply"));
        }
        Ok(())
    }

    fn statement(&mut self) -> Result<Stmt, AwsError> {
        if self.eat_kw("SELECT") {
            return self.select();
        }
        if self.eat_kw("INSERT") {
            self.expect_kw("INTO")?;
            let table = self.name()?;
            if self.peek_sym(".") {
                return Err(malformed("INSERT into an index is not supported"));
            }
            self.expect_kw("VALUE")?;
            let v = self.value()?;
            let AttrValue::M(item) = v else {
                return Err(AwsError::validation(
                    "Unsupported format in item expression. Please use struct format {...} to express item values for insert statement.",
                ));
            };
            if self.peek_kw("RETURNING") {
                return Err(AwsError::validation("RETURNING is not supported in INSERT"));
            }
            return Ok(Stmt::Insert { table, item });
        }
        if self.eat_kw("UPDATE") {
            let table = self.name()?;
            let mut sets = Vec::new();
            let mut removes = Vec::new();
            loop {
                if self.eat_kw("SET") {
                    loop {
                        let path = self.path()?;
                        self.expect_sym("=")?;
                        let v = self.set_value(&path)?;
                        sets.push((path, v));
                        if !self.eat_sym(",") {
                            break;
                        }
                    }
                } else if self.eat_kw("REMOVE") {
                    loop {
                        removes.push(self.path()?);
                        if !self.eat_sym(",") {
                            break;
                        }
                    }
                } else {
                    break;
                }
            }
            if sets.is_empty() && removes.is_empty() {
                return Err(self.unexpected());
            }
            self.expect_kw("WHERE")?;
            let filter = self.expr()?;
            let returning = self.returning()?;
            return Ok(Stmt::Update { table, sets, removes, filter, returning });
        }
        if self.eat_kw("DELETE") {
            self.expect_kw("FROM")?;
            let table = self.name()?;
            self.expect_kw("WHERE")?;
            let filter = self.expr()?;
            let returning = self.returning()?;
            return Ok(Stmt::Delete { table, filter, returning });
        }
        if self.eat_kw("EXISTS") {
            self.expect_sym("(")?;
            self.expect_kw("SELECT")?;
            let Stmt::Select { from, filter, .. } = self.select()? else { return Err(self.unexpected()) };
            self.expect_sym(")")?;
            let Some(filter) = filter else {
                return Err(AwsError::validation("Where clause does not contain a mandatory equality on all key attributes"));
            };
            if from.index.is_some() {
                return Err(AwsError::validation("Operations on indices are not supported in transactions"));
            }
            return Ok(Stmt::Exists { table: from.table, filter });
        }
        match self.peek() {
            Some(Tok::Word(w)) if ["CREATE", "DROP", "ALTER", "UPSERT", "REPLACE", "WITH", "VALUES"].iter().any(|k| w.eq_ignore_ascii_case(k)) => {
                Err(AwsError::validation(format!("Unsupported operation: {} statements are not supported", w.to_ascii_uppercase())))
            }
            _ => Err(self.unexpected()),
        }
    }

    fn select(&mut self) -> Result<Stmt, AwsError> {
        let projection = if self.eat_sym("*") {
            None
        } else {
            let mut v = vec![self.path()?];
            while self.eat_sym(",") {
                v.push(self.path()?);
            }
            Some(v)
        };
        self.expect_kw("FROM")?;
        let table = self.name()?;
        let index = if self.eat_sym(".") { Some(self.name()?) } else { None };
        let filter = if self.eat_kw("WHERE") { Some(self.expr()?) } else { None };
        let order = if self.eat_kw("ORDER") {
            self.expect_kw("BY")?;
            let p = self.path()?;
            let desc = if self.eat_kw("DESC") {
                true
            } else {
                self.eat_kw("ASC");
                false
            };
            Some((p, desc))
        } else {
            None
        };
        Ok(Stmt::Select { from: TableRef { table, index }, projection, filter, order })
    }

    fn returning(&mut self) -> Result<Option<Returning>, AwsError> {
        if !self.eat_kw("RETURNING") {
            return Ok(None);
        }
        let all = if self.eat_kw("ALL") {
            true
        } else if self.eat_kw("MODIFIED") {
            false
        } else {
            return Err(self.unexpected());
        };
        let old = if self.eat_kw("OLD") {
            true
        } else if self.eat_kw("NEW") {
            false
        } else {
            return Err(self.unexpected());
        };
        self.expect_sym("*")?;
        Ok(Some(match (all, old) {
            (true, true) => Returning::AllOld,
            (false, true) => Returning::ModifiedOld,
            (true, false) => Returning::AllNew,
            (false, false) => Returning::ModifiedNew,
        }))
    }

    /// A table or index name: a bare identifier or a "quoted" one.
    fn name(&mut self) -> Result<String, AwsError> {
        match self.peek().cloned() {
            Some(Tok::Quoted(s)) => {
                self.pos += 1;
                Ok(s)
            }
            Some(Tok::Word(w)) if !is_keyword(&w) => {
                self.pos += 1;
                Ok(w)
            }
            _ => Err(self.unexpected()),
        }
    }

    fn path(&mut self) -> Result<Path, AwsError> {
        let mut elems = vec![PathElem::Name(self.name()?)];
        loop {
            if self.peek_sym(".") {
                self.pos += 1;
                elems.push(PathElem::Name(self.name()?));
            } else if self.peek_sym("[") {
                self.pos += 1;
                match self.peek().cloned() {
                    Some(Tok::Num(n)) => {
                        self.pos += 1;
                        let i: usize = n.parse().map_err(|_| malformed(&format!("Invalid list index: {n}")))?;
                        elems.push(PathElem::Index(i));
                    }
                    Some(Tok::Str(s)) => {
                        self.pos += 1;
                        elems.push(PathElem::Name(s));
                    }
                    _ => return Err(self.unexpected()),
                }
                self.expect_sym("]")?;
            } else {
                return Ok(Path(elems));
            }
        }
    }

    fn expr(&mut self) -> Result<Expr, AwsError> {
        self.enter()?;
        let mut left = self.and_expr()?;
        while self.eat_kw("OR") {
            let right = self.and_expr()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        self.depth -= 1;
        Ok(left)
    }

    fn and_expr(&mut self) -> Result<Expr, AwsError> {
        let mut left = self.not_expr()?;
        while self.eat_kw("AND") {
            let right = self.not_expr()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn not_expr(&mut self) -> Result<Expr, AwsError> {
        if self.eat_kw("NOT") {
            self.enter()?;
            let e = self.not_expr()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(e)));
        }
        self.predicate()
    }

    fn predicate(&mut self) -> Result<Expr, AwsError> {
        if self.peek_sym("(") {
            // A parenthesised condition.
            self.pos += 1;
            let e = self.expr()?;
            self.expect_sym(")")?;
            return Ok(e);
        }
        // Boolean functions.
        if let Some(Tok::Word(w)) = self.peek().cloned() {
            let lower = w.to_ascii_lowercase();
            if ["begins_with", "contains", "attribute_exists", "attribute_not_exists", "attribute_type"].contains(&lower.as_str())
                && self.toks.get(self.pos + 1) == Some(&Tok::Sym("("))
            {
                self.pos += 2;
                let mut args = vec![self.operand()?];
                while self.eat_sym(",") {
                    args.push(self.operand()?);
                }
                self.expect_sym(")")?;
                let want = match lower.as_str() {
                    "attribute_exists" | "attribute_not_exists" => 1,
                    _ => 2,
                };
                if args.len() != want || !matches!(args[0], Operand::Path(_)) {
                    return Err(AwsError::validation(format!("Incorrect number or type of arguments for function {lower}")));
                }
                return Ok(Expr::Func(lower, args));
            }
        }
        let left = self.operand()?;
        if self.eat_kw("IS") {
            let neg = self.eat_kw("NOT");
            let Operand::Path(p) = left else { return Err(malformed("IS must follow an attribute path")) };
            if self.eat_kw("MISSING") {
                return Ok(Expr::Missing(p, neg));
            }
            if self.eat_kw("NULL") {
                return Ok(Expr::Null(p, neg));
            }
            return Err(self.unexpected());
        }
        let negated = self.peek_kw("NOT") && (self.peek_kw_at(1, "BETWEEN") || self.peek_kw_at(1, "IN"));
        if negated {
            self.pos += 1;
        }
        let e = if self.eat_kw("BETWEEN") {
            let lo = self.operand()?;
            self.expect_kw("AND")?;
            let hi = self.operand()?;
            Expr::Between(left, lo, hi)
        } else if self.eat_kw("IN") {
            let close = if self.eat_sym("[") {
                "]"
            } else if self.eat_sym("(") {
                ")"
            } else {
                return Err(self.unexpected());
            };
            let mut list = vec![self.operand()?];
            while self.eat_sym(",") {
                list.push(self.operand()?);
            }
            self.expect_sym(close)?;
            if list.len() > 100 {
                return Err(AwsError::validation("Too many operands in the IN list: at most 100 are supported"));
            }
            Expr::In(left, list)
        } else {
            let op = match self.peek() {
                Some(Tok::Sym("=")) => CmpOp::Eq,
                Some(Tok::Sym("<>")) => CmpOp::Ne,
                Some(Tok::Sym("<")) => CmpOp::Lt,
                Some(Tok::Sym("<=")) => CmpOp::Le,
                Some(Tok::Sym(">")) => CmpOp::Gt,
                Some(Tok::Sym(">=")) => CmpOp::Ge,
                _ => return Err(self.unexpected()),
            };
            self.pos += 1;
            let right = self.operand()?;
            Expr::Cmp(left, op, right)
        };
        Ok(if negated { Expr::Not(Box::new(e)) } else { e })
    }

    fn operand(&mut self) -> Result<Operand, AwsError> {
        if let Some(Tok::Word(w)) = self.peek() {
            if w.eq_ignore_ascii_case("size") && self.toks.get(self.pos + 1) == Some(&Tok::Sym("(")) {
                self.pos += 2;
                let p = self.path()?;
                self.expect_sym(")")?;
                return Ok(Operand::Size(p));
            }
        }
        match self.peek() {
            Some(Tok::Word(w)) if !is_value_keyword(w) => Ok(Operand::Path(self.path()?)),
            Some(Tok::Quoted(_)) => Ok(Operand::Path(self.path()?)),
            _ => Ok(Operand::Value(self.value()?)),
        }
    }

    fn set_value(&mut self, target: &Path) -> Result<SetValue, AwsError> {
        if let Some(Tok::Word(w)) = self.peek().cloned() {
            let lower = w.to_ascii_lowercase();
            if self.toks.get(self.pos + 1) == Some(&Tok::Sym("(")) && ["list_append", "if_not_exists", "set_add", "set_delete"].contains(&lower.as_str()) {
                self.pos += 2;
                let mut args = vec![self.operand()?];
                while self.eat_sym(",") {
                    args.push(self.operand()?);
                }
                self.expect_sym(")")?;
                if args.len() != 2 {
                    return Err(AwsError::validation(match lower.as_str() {
                        "set_add" | "set_delete" => format!("SET_{} must have exactly two arguments", lower.trim_start_matches("set_").to_ascii_uppercase()),
                        _ => format!("Incorrect number of arguments for function {lower}"),
                    }));
                }
                if lower == "set_add" || lower == "set_delete" {
                    let op = lower.trim_start_matches("set_").to_ascii_uppercase();
                    if args.first() != Some(&Operand::Path(target.clone())) {
                        return Err(AwsError::validation(format!("The first argument to SET_{op} must equal the assignment value")));
                    }
                    let v = match args.pop() {
                        Some(Operand::Value(v @ (AttrValue::Ss(_) | AttrValue::Ns(_) | AttrValue::Bs(_)))) => v,
                        _ => return Err(AwsError::validation(format!("The second argument to SET_{op} must be a value with type SET"))),
                    };
                    return Ok(if lower == "set_add" { SetValue::SetAdd(v) } else { SetValue::SetDelete(v) });
                }
                if lower == "if_not_exists" && !matches!(args[0], Operand::Path(_)) {
                    return Err(AwsError::validation("Incorrect type of arguments for function if_not_exists: the first argument must be a path"));
                }
                return Ok(SetValue::Func(lower, args));
            }
        }
        let a = self.operand()?;
        if matches!(a, Operand::Size(_)) {
            return Err(malformed("size() cannot be used in SET"));
        }
        let plus = if self.eat_sym("+") {
            true
        } else if self.eat_sym("-") {
            false
        } else {
            return Ok(SetValue::Operand(a));
        };
        let b = self.operand()?;
        Ok(SetValue::Arith(a, plus, b))
    }

    fn value(&mut self) -> Result<AttrValue, AwsError> {
        self.enter()?;
        let v = self.value_inner();
        self.depth -= 1;
        v
    }

    fn value_inner(&mut self) -> Result<AttrValue, AwsError> {
        let tok = self.peek().cloned();
        match tok {
            Some(Tok::Param) => {
                self.pos += 1;
                let v = self.params.get(self.used).cloned();
                self.used += 1;
                v.ok_or_else(|| AwsError::validation("Number of parameters in request and statement don't match."))
            }
            Some(Tok::Str(s)) => {
                self.pos += 1;
                Ok(AttrValue::S(s))
            }
            Some(Tok::Num(n)) => {
                self.pos += 1;
                number(&n)
            }
            Some(Tok::Sym("-")) => {
                self.pos += 1;
                match self.peek().cloned() {
                    Some(Tok::Num(n)) => {
                        self.pos += 1;
                        number(&format!("-{n}"))
                    }
                    _ => Err(self.unexpected()),
                }
            }
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("TRUE") => {
                self.pos += 1;
                Ok(AttrValue::Bool(true))
            }
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("FALSE") => {
                self.pos += 1;
                Ok(AttrValue::Bool(false))
            }
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("NULL") => {
                self.pos += 1;
                Ok(AttrValue::Null)
            }
            Some(Tok::Sym("[")) => {
                self.pos += 1;
                let mut list = Vec::new();
                if !self.eat_sym("]") {
                    loop {
                        list.push(self.value()?);
                        if self.eat_sym("]") {
                            break;
                        }
                        self.expect_sym(",")?;
                    }
                }
                Ok(AttrValue::L(list))
            }
            Some(Tok::Sym("{")) => {
                self.pos += 1;
                let mut map = BTreeMap::new();
                if !self.eat_sym("}") {
                    loop {
                        let key = match self.peek().cloned() {
                            Some(Tok::Str(s)) | Some(Tok::Quoted(s)) => {
                                self.pos += 1;
                                s
                            }
                            _ => return Err(self.unexpected()),
                        };
                        self.expect_sym(":")?;
                        let v = self.value()?;
                        if map.insert(key.clone(), v).is_some() {
                            return Err(AwsError::validation(format!("Duplicate key in map literal: {key}")));
                        }
                        if self.eat_sym("}") {
                            break;
                        }
                        self.expect_sym(",")?;
                    }
                }
                Ok(AttrValue::M(map))
            }
            Some(Tok::Sym("<<")) => {
                self.pos += 1;
                let mut items = Vec::new();
                if !self.eat_sym(">>") {
                    loop {
                        items.push(self.value()?);
                        if self.eat_sym(">>") {
                            break;
                        }
                        self.expect_sym(",")?;
                    }
                }
                make_set(items)
            }
            _ => Err(self.unexpected()),
        }
    }
}

fn number(s: &str) -> Result<AttrValue, AwsError> {
    Number::parse(s).map(AttrValue::N).map_err(|e| AwsError::validation(e.message))
}

/// A `<<...>>` literal: all strings, all numbers or all binaries, no duplicates, not empty.
fn make_set(items: Vec<AttrValue>) -> Result<AttrValue, AwsError> {
    let bad = || AwsError::validation("Unsupported operation: A set must contain values of one type: strings, numbers or binaries");
    let first = items.first().ok_or_else(|| AwsError::validation("One or more parameter values were invalid: An number set  may not be empty"))?;
    let set = match first {
        AttrValue::S(_) => AttrValue::Ss(items.into_iter().map(|v| if let AttrValue::S(s) = v { Ok(s) } else { Err(bad()) }).collect::<Result<_, _>>()?),
        AttrValue::N(_) => AttrValue::Ns(items.into_iter().map(|v| if let AttrValue::N(n) = v { Ok(n) } else { Err(bad()) }).collect::<Result<_, _>>()?),
        AttrValue::B(_) => AttrValue::Bs(items.into_iter().map(|v| if let AttrValue::B(b) = v { Ok(b) } else { Err(bad()) }).collect::<Result<_, _>>()?),
        _ => return Err(bad()),
    };
    let dup = match &set {
        AttrValue::Ss(v) => v.iter().collect::<std::collections::BTreeSet<_>>().len() != v.len(),
        AttrValue::Ns(v) => (0..v.len()).any(|i| (i + 1..v.len()).any(|j| v[i] == v[j])),
        AttrValue::Bs(v) => v.iter().collect::<std::collections::BTreeSet<_>>().len() != v.len(),
        _ => false,
    };
    if dup {
        return Err(AwsError::validation("One or more parameter values were invalid: Input collection contains duplicates."));
    }
    Ok(set)
}

const KEYWORDS: &[&str] = &[
    "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "BETWEEN", "IN", "IS", "MISSING", "NULL", "TRUE", "FALSE", "INSERT", "INTO", "VALUE",
    "UPDATE", "SET", "REMOVE", "DELETE", "RETURNING", "EXISTS", "ORDER", "BY", "ASC", "DESC",
];

fn is_keyword(w: &str) -> bool {
    KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(w))
}

/// Words that start a value rather than a path.
fn is_value_keyword(w: &str) -> bool {
    ["TRUE", "FALSE", "NULL"].iter().any(|k| k.eq_ignore_ascii_case(w)) || is_keyword(w)
}

#[cfg(test)]
#[path = "parser_tests.rs"]
mod tests;
