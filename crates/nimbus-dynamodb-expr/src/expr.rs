//! Lexer, document paths, the expression context, condition / projection /
//! key-condition parsing and evaluation.

use crate::number::Number;
use crate::value::{AttrValue, Item};
use crate::ExprError;
use serde_json::Value;
use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::OnceLock;

// ---------------------------------------------------------------------------
// Reserved words

static RESERVED_TXT: &str = include_str!("reserved.txt");

fn reserved() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| RESERVED_TXT.split_whitespace().collect())
}

/// True if `word` (any case) is one of DynamoDB's reserved words.
pub fn is_reserved_word(word: &str) -> bool {
    reserved().contains(word.to_ascii_uppercase().as_str())
}

// ---------------------------------------------------------------------------
// Paths

/// One element of a document path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PathElem {
    Name(String),
    Index(usize),
}

/// A resolved document path (names already substituted).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Path(pub Vec<PathElem>);

impl Path {
    /// The top-level attribute name.
    pub fn top(&self) -> &str {
        match self.0.first() {
            Some(PathElem::Name(n)) => n,
            _ => "",
        }
    }

    /// `[a, b, [1]]` rendering used in AWS messages.
    pub fn render(&self) -> String {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|e| match e {
                PathElem::Name(n) => n.clone(),
                PathElem::Index(i) => format!("[{i}]"),
            })
            .collect();
        format!("[{}]", parts.join(", "))
    }

    /// True if one path is a prefix of (or equal to) the other.
    pub fn overlaps(&self, o: &Path) -> bool {
        let n = self.0.len().min(o.0.len());
        self.0[..n] == o.0[..n]
    }

    /// Looks the path up in an item.
    pub fn resolve<'a>(&self, item: &'a Item) -> Option<&'a AttrValue> {
        let mut it = self.0.iter();
        let mut cur = match it.next()? {
            PathElem::Name(n) => item.get(n)?,
            PathElem::Index(_) => return None,
        };
        for e in it {
            cur = match (e, cur) {
                (PathElem::Name(n), AttrValue::M(m)) => m.get(n)?,
                (PathElem::Index(i), AttrValue::L(l)) => l.get(*i)?,
                _ => return None,
            };
        }
        Some(cur)
    }
}

/// Records overlap / conflict errors between document paths, as DynamoDB
/// does for update and projection expressions.
pub(crate) fn check_overlaps(p: &mut Parser, paths: &[&Path]) {
    for i in 0..paths.len() {
        for j in 0..i {
            let (a, b) = (paths[j], paths[i]);
            let n = a.0.len().min(b.0.len());
            let mut conflict = false;
            let mut differ = false;
            for k in 0..n {
                let same_kind = matches!(
                    (&a.0[k], &b.0[k]),
                    (PathElem::Name(_), PathElem::Name(_)) | (PathElem::Index(_), PathElem::Index(_))
                );
                if !same_kind {
                    conflict = true;
                    break;
                }
                if a.0[k] != b.0[k] {
                    differ = true;
                    break;
                }
            }
            if conflict {
                p.defer(
                    ErrClass::Conflict,
                    format!(
                        "Two document paths conflict with each other; must remove or rewrite one of these paths; path one: {}, path two: {}",
                        a.render(),
                        b.render()
                    ),
                );
            } else if !differ {
                p.defer(
                    ErrClass::Overlap,
                    format!(
                        "Two document paths overlap with each other; must remove or rewrite one of these paths; path one: {}, path two: {}",
                        a.render(),
                        b.render()
                    ),
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Context

/// ExpressionAttributeNames / ExpressionAttributeValues and usage tracking.
#[derive(Debug, Clone, Default)]
pub struct ExprContext {
    names: HashMap<String, String>,
    values: HashMap<String, AttrValue>,
    used_names: HashSet<String>,
    used_values: HashSet<String>,
}

impl ExprContext {
    pub fn new(names: Option<&Value>, values: Option<&Value>) -> Result<ExprContext, ExprError> {
        let mut ctx = ExprContext::default();
        if let Some(n) = names.filter(|v| !v.is_null()) {
            let obj = n
                .as_object()
                .ok_or_else(|| ExprError::new("ExpressionAttributeNames must be a map"))?;
            if obj.is_empty() {
                return Err(ExprError::new("ExpressionAttributeNames must not be empty"));
            }
            for (k, v) in obj {
                if !valid_placeholder(k, '#') {
                    return Err(ExprError::new(format!(
                        "ExpressionAttributeNames contains invalid key: Syntax error; key: \"{k}\""
                    )));
                }
                let s = v.as_str().ok_or_else(|| {
                    ExprError::new(format!("ExpressionAttributeNames contains invalid value for key {k}"))
                })?;
                if s.is_empty() {
                    return Err(ExprError::new(format!(
                        "ExpressionAttributeNames contains invalid value: Empty attribute name for key {k}"
                    )));
                }
                ctx.names.insert(k.clone(), s.to_string());
            }
        }
        if let Some(v) = values.filter(|v| !v.is_null()) {
            let obj = v
                .as_object()
                .ok_or_else(|| ExprError::new("ExpressionAttributeValues must be a map"))?;
            if obj.is_empty() {
                return Err(ExprError::new("ExpressionAttributeValues must not be empty"));
            }
            for (k, val) in obj {
                if !valid_placeholder(k, ':') {
                    return Err(ExprError::new(format!(
                        "ExpressionAttributeValues contains invalid key: Syntax error; key: \"{k}\""
                    )));
                }
                let av = AttrValue::from_json(val).map_err(|e| {
                    ExprError::new(format!(
                        "ExpressionAttributeValues contains invalid value: {} for key {k}",
                        e.message
                    ))
                })?;
                ctx.values.insert(k.clone(), av);
            }
        }
        Ok(ctx)
    }

    /// Builds a context directly from resolved maps (for internal callers and tests).
    pub fn from_maps(names: HashMap<String, String>, values: HashMap<String, AttrValue>) -> ExprContext {
        ExprContext { names, values, ..Default::default() }
    }

    /// Errors if some supplied name or value was never referenced.
    pub fn check_all_used(&self) -> Result<(), ExprError> {
        let unused_n: BTreeSet<&String> =
            self.names.keys().filter(|k| !self.used_names.contains(*k)).collect();
        if !unused_n.is_empty() {
            let keys: Vec<&str> = unused_n.iter().map(|s| s.as_str()).collect();
            return Err(ExprError::new(format!(
                "Value provided in ExpressionAttributeNames unused in expressions: keys: {{{}}}",
                keys.join(", ")
            )));
        }
        let unused_v: BTreeSet<&String> =
            self.values.keys().filter(|k| !self.used_values.contains(*k)).collect();
        if !unused_v.is_empty() {
            let keys: Vec<&str> = unused_v.iter().map(|s| s.as_str()).collect();
            return Err(ExprError::new(format!(
                "Value provided in ExpressionAttributeValues unused in expressions: keys: {{{}}}",
                keys.join(", ")
            )));
        }
        Ok(())
    }

    pub fn has_names(&self) -> bool {
        !self.names.is_empty()
    }

    pub fn has_values(&self) -> bool {
        !self.values.is_empty()
    }
}

fn valid_placeholder(k: &str, prefix: char) -> bool {
    let mut chars = k.chars();
    chars.next() == Some(prefix) && {
        let rest: Vec<char> = chars.collect();
        !rest.is_empty() && rest.iter().all(|c| c.is_ascii_alphanumeric() || *c == '_')
    }
}

// ---------------------------------------------------------------------------
// Lexer

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Ident(String),
    Name(String),
    Value(String),
    Int(String),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Dot,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Plus,
    Minus,
    /// A character sequence no grammar rule accepts (reported as a syntax error).
    Other(String),
    Eof,
}

#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub tok: Tok,
    pub start: usize,
    pub end: usize,
}

fn is_ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

fn syntax_err(kind: &str, tok: &str, near: &str) -> ExprError {
    ExprError::new(format!("Invalid {kind}: Syntax error; token: \"{tok}\", near: \"{near}\""))
}

pub(crate) fn lex(src: &str) -> Vec<Token> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let tok = if c.is_ascii_alphabetic() || c == b'_' {
            while i < b.len() && is_ident_char(b[i]) {
                i += 1;
            }
            Tok::Ident(src[start..i].to_string())
        } else if c.is_ascii_digit() {
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            Tok::Int(src[start..i].to_string())
        } else if c == b'#' || c == b':' {
            i += 1;
            while i < b.len() && is_ident_char(b[i]) {
                i += 1;
            }
            if i == start + 1 {
                Tok::Other(src[start..i].to_string())
            } else if c == b'#' {
                Tok::Name(src[start..i].to_string())
            } else {
                Tok::Value(src[start..i].to_string())
            }
        } else {
            i += 1;
            let two = if i < b.len() { Some(b[i]) } else { None };
            match (c, two) {
                (b'<', Some(b'>')) => {
                    i += 1;
                    Tok::Ne
                }
                (b'<', Some(b'=')) => {
                    i += 1;
                    Tok::Le
                }
                (b'>', Some(b'=')) => {
                    i += 1;
                    Tok::Ge
                }
                (b'<', _) => Tok::Lt,
                (b'>', _) => Tok::Gt,
                (b'=', _) => Tok::Eq,
                (b'(', _) => Tok::LParen,
                (b')', _) => Tok::RParen,
                (b'[', _) => Tok::LBracket,
                (b']', _) => Tok::RBracket,
                (b',', _) => Tok::Comma,
                (b'.', _) => Tok::Dot,
                (b'+', _) => Tok::Plus,
                (b'-', _) => Tok::Minus,
                _ => {
                    // Unknown character (possibly multi-byte): a token no rule accepts.
                    while i < b.len() && !src.is_char_boundary(i) {
                        i += 1;
                    }
                    Tok::Other(src[start..i].to_string())
                }
            }
        };
        out.push(Token { tok, start, end: i });
    }
    out.push(Token { tok: Tok::Eof, start: b.len(), end: b.len() });
    out
}

// ---------------------------------------------------------------------------
// Parser base

const MAX_DEPTH: usize = 64;

/// DynamoDB's limit on the length of one expression string (4 KB).
pub const MAX_EXPRESSION_SIZE: usize = 4096;

pub(crate) struct Parser<'a> {
    pub kind: &'static str,
    pub src: &'a str,
    pub toks: Vec<Token>,
    pub pos: usize,
    pub ctx: &'a mut ExprContext,
    pub deferred: Vec<(u8, ExprError)>,
    pub depth: usize,
}

/// Classes of semantic errors; DynamoDB reports them in a fixed priority
/// order once the whole expression has parsed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum ErrClass {
    Parens,
    UnknownFunction,
    MisusedFunction,
    Reserved,
    AttrName,
    AttrVal,
    Section,
    Overlap,
    Conflict,
    Operand,
    Distinct,
    Function,
}

impl<'a> Parser<'a> {
    pub fn new(kind: &'static str, src: &'a str, ctx: &'a mut ExprContext) -> Result<Parser<'a>, ExprError> {
        if src.len() > MAX_EXPRESSION_SIZE {
            return Err(ExprError::new(format!(
                "Invalid {kind}: Expression size has exceeded the maximum allowed size; expression size: {}",
                src.len()
            )));
        }
        let toks = lex(src);
        if toks.len() == 1 {
            return Err(ExprError::new(format!("Invalid {kind}: The expression can not be empty;")));
        }
        Ok(Parser { kind, src, toks, pos: 0, ctx, deferred: Vec::new(), depth: 0 })
    }

    pub fn peek(&self) -> &Tok {
        &self.toks[self.pos].tok
    }

    pub fn peek_at(&self, n: usize) -> &Tok {
        let i = (self.pos + n).min(self.toks.len() - 1);
        &self.toks[i].tok
    }

    pub fn advance(&mut self) -> Tok {
        let t = self.toks[self.pos].tok.clone();
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }

    pub fn err(&self, msg: impl AsRef<str>) -> ExprError {
        ExprError::new(format!("Invalid {}: {}", self.kind, msg.as_ref()))
    }

    /// Syntax error at the current token.
    pub fn syntax(&self) -> ExprError {
        let t = &self.toks[self.pos];
        let prev = if self.pos > 0 { Some(&self.toks[self.pos - 1]) } else { None };
        if t.tok == Tok::Eof {
            let near = prev.map(|p| &self.src[p.start..p.end]).unwrap_or("");
            return syntax_err(self.kind, "<EOF>", near);
        }
        let next = &self.toks[(self.pos + 1).min(self.toks.len() - 1)];
        let start = prev.map(|p| p.start).unwrap_or(t.start);
        let end = if next.tok == Tok::Eof { t.end } else { next.end };
        syntax_err(self.kind, &self.src[t.start..t.end], &self.src[start..end])
    }

    pub fn expect(&mut self, t: Tok) -> Result<(), ExprError> {
        if *self.peek() == t {
            self.advance();
            Ok(())
        } else {
            Err(self.syntax())
        }
    }

    pub fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Tok::Ident(s) if s.eq_ignore_ascii_case(kw))
    }

    fn prio(&self, c: ErrClass) -> u8 {
        use ErrClass::*;
        if self.kind == "UpdateExpression" {
            match c {
                Reserved => 0,
                UnknownFunction => 1,
                Section => 2,
                AttrName => 3,
                AttrVal => 4,
                Overlap => 5,
                Conflict => 6,
                Operand => 7,
                Parens | MisusedFunction | Distinct | Function => 8,
            }
        } else {
            match c {
                Parens => 0,
                UnknownFunction => 1,
                MisusedFunction => 2,
                Reserved => 3,
                AttrName | AttrVal => 4,
                Operand => 5,
                Distinct => 6,
                Section | Overlap | Conflict | Function => 7,
            }
        }
    }

    /// Records a semantic error (reported after a successful parse).
    pub fn defer(&mut self, class: ErrClass, msg: impl AsRef<str>) {
        let p = self.prio(class);
        if !self.deferred.iter().any(|(q, _)| *q == p) {
            let e = self.err(msg);
            self.deferred.push((p, e));
        }
    }

    pub fn finish(&mut self) -> Result<(), ExprError> {
        if *self.peek() != Tok::Eof {
            return Err(self.syntax());
        }
        self.take_deferred()
    }

    pub fn take_deferred(&mut self) -> Result<(), ExprError> {
        match self.deferred.iter().min_by_key(|(p, _)| *p) {
            Some((_, e)) => Err(e.clone()),
            None => Ok(()),
        }
    }

    fn name_elem(&mut self) -> Result<String, ExprError> {
        match self.peek().clone() {
            Tok::Ident(s) => {
                self.advance();
                if is_reserved_word(&s) {
                    self.defer(ErrClass::Reserved, format!("Attribute name is a reserved keyword; reserved keyword: {s}"));
                }
                Ok(s)
            }
            Tok::Name(n) => {
                self.advance();
                match self.ctx.names.get(&n) {
                    Some(v) => {
                        let v = v.clone();
                        self.ctx.used_names.insert(n);
                        Ok(v)
                    }
                    None => {
                        self.defer(
                            ErrClass::AttrName,
                            format!("An expression attribute name used in the document path is not defined; attribute name: {n}"),
                        );
                        Ok(n)
                    }
                }
            }
            _ => Err(self.syntax()),
        }
    }

    /// path := elem ('.' elem | '[' int ']')*
    pub fn path(&mut self) -> Result<Path, ExprError> {
        let mut elems = vec![PathElem::Name(self.name_elem()?)];
        loop {
            match self.peek() {
                Tok::Dot => {
                    self.advance();
                    elems.push(PathElem::Name(self.name_elem()?));
                }
                Tok::LBracket => {
                    self.advance();
                    let idx = match self.peek().clone() {
                        Tok::Int(s) => {
                            match s.parse::<usize>() {
                                Ok(v) if v <= u32::MAX as usize => {}
                                _ => {
                                    self.defer(ErrClass::Function, format!("List index is too large; index: {s}"));
                                }
                            }
                            self.advance();
                            s.parse::<usize>().unwrap_or(usize::MAX).min(u32::MAX as usize)
                        }
                        _ => return Err(self.syntax()),
                    };
                    self.expect(Tok::RBracket)?;
                    elems.push(PathElem::Index(idx));
                }
                _ => break,
            }
        }
        Ok(Path(elems))
    }

    /// A `:value` reference.
    pub fn value_ref(&mut self) -> Result<AttrValue, ExprError> {
        match self.peek().clone() {
            Tok::Value(v) => {
                self.advance();
                match self.ctx.values.get(&v) {
                    Some(val) => {
                        let val = val.clone();
                        self.ctx.used_values.insert(v);
                        Ok(val)
                    }
                    None => {
                        self.defer(
                            ErrClass::AttrVal,
                            format!("An expression attribute value used in expression is not defined; attribute value: {v}"),
                        );
                        Ok(AttrValue::Null)
                    }
                }
            }
            _ => Err(self.syntax()),
        }
    }

    pub fn enter(&mut self) -> Result<(), ExprError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err("The expression has too many nested levels"));
        }
        Ok(())
    }

    pub fn leave(&mut self) {
        self.depth -= 1;
    }
}

// ---------------------------------------------------------------------------
// Conditions

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Operand {
    Path(Path),
    Value(AttrValue),
    Size(Path),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "<>",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cond {
    Cmp(Operand, CmpOp, Operand),
    Between(Operand, Operand, Operand),
    In(Operand, Vec<Operand>),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    Not(Box<Cond>),
    Exists(Path),
    NotExists(Path),
    AttrType(Path, Operand),
    BeginsWith(Operand, Operand),
    Contains(Operand, Operand),
}

const VALID_TYPES: [&str; 10] = ["S", "SS", "N", "NS", "B", "BS", "BOOL", "NULL", "L", "M"];

fn is_scalar_key_type(v: &AttrValue) -> bool {
    matches!(v, AttrValue::S(_) | AttrValue::N(_) | AttrValue::B(_))
}

impl<'a> Parser<'a> {
    pub fn cond_or(&mut self) -> Result<Cond, ExprError> {
        let mut left = self.cond_and()?;
        while self.is_kw("OR") {
            self.advance();
            let right = self.cond_and()?;
            left = Cond::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn cond_and(&mut self) -> Result<Cond, ExprError> {
        let mut left = self.cond_not()?;
        while self.is_kw("AND") {
            self.advance();
            let right = self.cond_not()?;
            left = Cond::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn cond_not(&mut self) -> Result<Cond, ExprError> {
        if self.is_kw("NOT") {
            self.advance();
            self.enter()?;
            let c = self.cond_not()?;
            self.leave();
            return Ok(Cond::Not(Box::new(c)));
        }
        self.cond_primary()
    }

    fn func_name_here(&self) -> Option<String> {
        match (self.peek(), self.peek_at(1)) {
            (Tok::Ident(s), Tok::LParen) => Some(s.clone()),
            _ => None,
        }
    }

    /// Parses `( arg, arg, ... )` of operands.
    fn func_args(&mut self, name: &str) -> Result<Vec<Operand>, ExprError> {
        self.expect(Tok::LParen)?;
        let mut args = Vec::new();
        if *self.peek() != Tok::RParen {
            loop {
                args.push(self.operand()?);
                if *self.peek() == Tok::Comma {
                    self.advance();
                } else {
                    break;
                }
            }
        }
        self.expect(Tok::RParen)?;
        let _ = name;
        Ok(args)
    }

    fn defer_nargs(&mut self, name: &str, n: usize) {
        self.defer(
            ErrClass::Operand,
            format!("Incorrect number of operands for operator or function; operator or function: {name}, number of operands: {n}"),
        );
    }

    fn defer_operand_type(&mut self, name: &str, ty: &str) {
        self.defer(
            ErrClass::Function,
            format!("Incorrect operand type for operator or function; operator or function: {name}, operand type: {ty}"),
        );
    }

    fn check_distinct(&mut self, op: &str, a: &Operand, b: &Operand) {
        if let (Operand::Path(x), Operand::Path(y)) = (a, b) {
            if x == y {
                self.defer(
                    ErrClass::Distinct,
                    format!(
                        "The first operand must be distinct from the remaining operands for this operator or function; operator: {op}, first operand: {}",
                        x.render()
                    ),
                );
            }
        }
    }

    /// True if the '(' at `i` is immediately closed by the ')' matching the '(' at `i + 1`.
    fn redundant_parens_at(&self, i: usize) -> bool {
        if self.toks.get(i + 1).map(|t| &t.tok) != Some(&Tok::LParen) {
            return false;
        }
        let close = |start: usize| -> Option<usize> {
            let mut depth = 0usize;
            for (k, t) in self.toks.iter().enumerate().skip(start) {
                match t.tok {
                    Tok::LParen => depth += 1,
                    Tok::RParen => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(k);
                        }
                    }
                    _ => {}
                }
            }
            None
        };
        matches!((close(i), close(i + 1)), (Some(a), Some(b)) if b + 1 == a)
    }

    fn cond_primary(&mut self) -> Result<Cond, ExprError> {
        if *self.peek() == Tok::LParen {
            if self.redundant_parens_at(self.pos) {
                self.defer(ErrClass::Parens, "The expression has redundant parentheses;");
            }
            self.advance();
            self.enter()?;
            let c = self.cond_or()?;
            self.leave();
            self.expect(Tok::RParen)?;
            return Ok(c);
        }
        if let Some(name) = self.func_name_here() {
            if name != "size" {
                self.advance();
                self.enter()?;
                let args = self.func_args(&name)?;
                self.leave();
                return Ok(self.cond_function(&name, args));
            }
        }
        let left = self.operand()?;
        let op = match self.peek() {
            Tok::Eq => Some(CmpOp::Eq),
            Tok::Ne => Some(CmpOp::Ne),
            Tok::Lt => Some(CmpOp::Lt),
            Tok::Le => Some(CmpOp::Le),
            Tok::Gt => Some(CmpOp::Gt),
            Tok::Ge => Some(CmpOp::Ge),
            _ => None,
        };
        if let Some(op) = op {
            self.advance();
            let right = self.operand()?;
            if !matches!(op, CmpOp::Eq | CmpOp::Ne) {
                for o in [&left, &right] {
                    if let Operand::Value(v) = o {
                        if !is_scalar_key_type(v) {
                            let t = v.type_name();
                            self.defer_operand_type(op.symbol(), t);
                        }
                    }
                }
            }
            self.check_distinct(op.symbol(), &left, &right);
            return Ok(Cond::Cmp(left, op, right));
        }
        if self.is_kw("BETWEEN") {
            self.advance();
            let lo = self.operand()?;
            if !self.is_kw("AND") {
                return Err(self.syntax());
            }
            self.advance();
            let hi = self.operand()?;
            self.check_between(&lo, &hi);
            return Ok(Cond::Between(left, lo, hi));
        }
        if self.is_kw("IN") {
            self.advance();
            self.expect(Tok::LParen)?;
            let mut list = vec![self.operand()?];
            while *self.peek() == Tok::Comma {
                self.advance();
                list.push(self.operand()?);
            }
            self.expect(Tok::RParen)?;
            if list.len() > 100 {
                self.defer(
                    ErrClass::Operand,
                    format!(
                        "Too many operands for the operator or function; operator or function: IN, number of operands: {}",
                        list.len()
                    ),
                );
            }
            return Ok(Cond::In(left, list));
        }
        if let Operand::Size(_) = left {
            self.defer(
                ErrClass::MisusedFunction,
                "The function is not allowed to be used this way in an expression; function: size",
            );
            return Ok(Cond::Exists(Path(Vec::new())));
        }
        Err(self.syntax())
    }

    fn check_between(&mut self, lo: &Operand, hi: &Operand) {
        if let (Operand::Value(a), Operand::Value(b)) = (lo, hi) {
            match a.compare(b) {
                None if a.type_name() != b.type_name() => self.defer(
                    ErrClass::Function,
                    format!(
                        "The BETWEEN operator requires same data type for lower and upper bounds; lower bound operand: AttributeValue: {}, upper bound operand: AttributeValue: {}",
                        a.short_repr(),
                        b.short_repr()
                    ),
                ),
                Some(Ordering::Greater) => self.defer(
                    ErrClass::Function,
                    format!(
                        "The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: {}, upper bound operand: AttributeValue: {}",
                        a.short_repr(),
                        b.short_repr()
                    ),
                ),
                _ => {}
            }
        }
        for o in [lo, hi] {
            if let Operand::Value(v) = o {
                if !is_scalar_key_type(v) {
                    let t = v.type_name();
                    self.defer_operand_type("BETWEEN", t);
                }
            }
        }
    }

    /// Builds a condition function; semantic errors are deferred and a
    /// placeholder is returned.
    fn cond_function(&mut self, name: &str, mut args: Vec<Operand>) -> Cond {
        let placeholder = Cond::Exists(Path(Vec::new()));
        let want = match name {
            "attribute_exists" | "attribute_not_exists" => 1,
            "attribute_type" | "begins_with" | "contains" => 2,
            "size" => {
                self.defer(
                    ErrClass::MisusedFunction,
                    "The function is not allowed to be used this way in an expression; function: size",
                );
                return placeholder;
            }
            _ => {
                self.defer(ErrClass::UnknownFunction, format!("Invalid function name; function: {name}"));
                return placeholder;
            }
        };
        if args.len() != want {
            self.defer_nargs(name, args.len());
            return placeholder;
        }
        if want == 2 {
            self.check_distinct(name, &args[0], &args[1]);
        }
        let second = if want == 2 { args.pop() } else { None };
        let Some(first) = args.pop() else { return placeholder };
        let needs_path = |p: &mut Parser, o: Operand| -> Option<Path> {
            match o {
                Operand::Path(x) => Some(x),
                _ => {
                    p.defer(
                        ErrClass::Function,
                        format!("Operator or function requires a document path; operator or function: {name}"),
                    );
                    None
                }
            }
        };
        match name {
            "attribute_exists" => needs_path(self, first).map(Cond::Exists).unwrap_or(placeholder),
            "attribute_not_exists" => needs_path(self, first).map(Cond::NotExists).unwrap_or(placeholder),
            "attribute_type" => {
                let Some(t) = second else { return placeholder };
                match &t {
                    Operand::Value(AttrValue::S(s)) => {
                        if !VALID_TYPES.contains(&s.as_str()) {
                            self.defer(
                                ErrClass::Function,
                                format!("Invalid attribute type name found; type: {s}, valid types: {{B,NULL,SS,BOOL,L,BS,N,NS,S,M}}"),
                            );
                        }
                    }
                    Operand::Value(v) => {
                        let ty = v.type_name();
                        self.defer_operand_type(name, ty);
                    }
                    Operand::Size(_) => self.defer_operand_type(name, "N"),
                    Operand::Path(_) => self.defer_operand_type(name, "{NS,SS,L,BS,N,M,B,BOOL,NULL,S}"),
                }
                match needs_path(self, first) {
                    Some(p) => Cond::AttrType(p, t),
                    None => placeholder,
                }
            }
            "begins_with" => {
                let Some(s) = second else { return placeholder };
                for o in [&first, &s] {
                    match o {
                        Operand::Value(v) if !matches!(v, AttrValue::S(_) | AttrValue::B(_)) => {
                            let ty = v.type_name();
                            self.defer_operand_type(name, ty);
                        }
                        Operand::Size(_) => self.defer_operand_type(name, "N"),
                        _ => {}
                    }
                }
                Cond::BeginsWith(first, s)
            }
            _ => match second {
                Some(s) => Cond::Contains(first, s),
                None => placeholder,
            },
        }
    }

    /// operand := path | :value | size(operand)
    pub(crate) fn operand(&mut self) -> Result<Operand, ExprError> {
        if let Some(name) = self.func_name_here() {
            self.advance();
            self.enter()?;
            let mut args = self.func_args(&name)?;
            self.leave();
            let placeholder = Operand::Value(AttrValue::Null);
            if name != "size" {
                match name.as_str() {
                    "attribute_exists" | "attribute_not_exists" | "attribute_type" | "begins_with"
                    | "contains" => self.defer(
                        ErrClass::MisusedFunction,
                        format!("The function is not allowed to be used this way in an expression; function: {name}"),
                    ),
                    _ => self.defer(ErrClass::UnknownFunction, format!("Invalid function name; function: {name}")),
                }
                return Ok(placeholder);
            }
            let n = args.len();
            let (Some(arg), 1) = (args.pop(), n) else {
                self.defer_nargs("size", n);
                return Ok(placeholder);
            };
            return Ok(match arg {
                Operand::Path(p) => Operand::Size(p),
                Operand::Value(v) => match size_of(&v) {
                    Some(n) => Operand::Value(AttrValue::N(Number::from(n as i64))),
                    None => {
                        let ty = v.type_name();
                        self.defer_operand_type("size", ty);
                        placeholder
                    }
                },
                Operand::Size(_) => {
                    self.defer_operand_type("size", "N");
                    placeholder
                }
            });
        }
        match self.peek() {
            Tok::Value(_) => Ok(Operand::Value(self.value_ref()?)),
            Tok::Ident(_) | Tok::Name(_) => Ok(Operand::Path(self.path()?)),
            _ => Err(self.syntax()),
        }
    }
}

fn size_of(v: &AttrValue) -> Option<usize> {
    Some(match v {
        AttrValue::S(s) => s.len(),
        AttrValue::B(b) => b.len(),
        AttrValue::Ss(s) => s.len(),
        AttrValue::Ns(s) => s.len(),
        AttrValue::Bs(s) => s.len(),
        AttrValue::M(m) => m.len(),
        AttrValue::L(l) => l.len(),
        _ => return None,
    })
}

fn eval_operand<'i>(o: &'i Operand, item: &'i Item) -> Option<Cow<'i, AttrValue>> {
    match o {
        Operand::Path(p) => p.resolve(item).map(Cow::Borrowed),
        Operand::Value(v) => Some(Cow::Borrowed(v)),
        Operand::Size(p) => {
            let n = size_of(p.resolve(item)?)?;
            Some(Cow::Owned(AttrValue::N(Number::from(n as i64))))
        }
    }
}

fn eval_cmp(a: Option<&AttrValue>, op: CmpOp, b: Option<&AttrValue>) -> bool {
    match op {
        CmpOp::Eq => matches!((a, b), (Some(x), Some(y)) if x == y),
        CmpOp::Ne => match (a, b) {
            (Some(x), Some(y)) => x != y,
            _ => true,
        },
        _ => {
            let (Some(x), Some(y)) = (a, b) else { return false };
            let Some(ord) = x.compare(y) else { return false };
            match op {
                CmpOp::Lt => ord == Ordering::Less,
                CmpOp::Le => ord != Ordering::Greater,
                CmpOp::Gt => ord == Ordering::Greater,
                CmpOp::Ge => ord != Ordering::Less,
                _ => false,
            }
        }
    }
}

fn eval_cond(c: &Cond, item: &Item) -> bool {
    match c {
        Cond::Cmp(a, op, b) => {
            let x = eval_operand(a, item);
            let y = eval_operand(b, item);
            eval_cmp(x.as_deref(), *op, y.as_deref())
        }
        Cond::Between(v, lo, hi) => {
            let (Some(v), Some(lo), Some(hi)) =
                (eval_operand(v, item), eval_operand(lo, item), eval_operand(hi, item))
            else {
                return false;
            };
            matches!(v.compare(&lo), Some(Ordering::Greater | Ordering::Equal))
                && matches!(v.compare(&hi), Some(Ordering::Less | Ordering::Equal))
        }
        Cond::In(v, list) => {
            let Some(v) = eval_operand(v, item) else { return false };
            list.iter().any(|o| eval_operand(o, item).is_some_and(|x| *x == *v))
        }
        Cond::And(a, b) => eval_cond(a, item) && eval_cond(b, item),
        Cond::Or(a, b) => eval_cond(a, item) || eval_cond(b, item),
        Cond::Not(a) => !eval_cond(a, item),
        Cond::Exists(p) => p.resolve(item).is_some(),
        Cond::NotExists(p) => p.resolve(item).is_none(),
        Cond::AttrType(p, t) => {
            let (Some(v), Some(t)) = (p.resolve(item), eval_operand(t, item)) else { return false };
            matches!(&*t, AttrValue::S(s) if s == v.type_name())
        }
        Cond::BeginsWith(a, b) => {
            let (Some(a), Some(b)) = (eval_operand(a, item), eval_operand(b, item)) else { return false };
            match (&*a, &*b) {
                (AttrValue::S(x), AttrValue::S(y)) => x.starts_with(y.as_str()),
                (AttrValue::B(x), AttrValue::B(y)) => x.starts_with(y),
                _ => false,
            }
        }
        Cond::Contains(a, b) => {
            let (Some(a), Some(b)) = (eval_operand(a, item), eval_operand(b, item)) else { return false };
            match (&*a, &*b) {
                (AttrValue::S(x), AttrValue::S(y)) => x.contains(y.as_str()),
                (AttrValue::B(x), AttrValue::B(y)) => {
                    y.is_empty() || x.windows(y.len()).any(|w| w == y.as_slice())
                }
                (AttrValue::Ss(s), AttrValue::S(y)) => s.contains(y),
                (AttrValue::Ns(s), AttrValue::N(y)) => s.contains(y),
                (AttrValue::Bs(s), AttrValue::B(y)) => s.contains(y),
                (AttrValue::L(l), y) => l.iter().any(|e| e == y),
                _ => false,
            }
        }
    }
}

/// A parsed ConditionExpression or FilterExpression.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub(crate) cond: Cond,
}

impl Condition {
    /// Parses a ConditionExpression.
    pub fn parse(expr: &str, ctx: &mut ExprContext) -> Result<Condition, ExprError> {
        Self::parse_kind(expr, ctx, "ConditionExpression")
    }

    /// Parses a FilterExpression (same grammar, different error prefix).
    pub fn parse_filter(expr: &str, ctx: &mut ExprContext) -> Result<Condition, ExprError> {
        Self::parse_kind(expr, ctx, "FilterExpression")
    }

    /// Parses with the given expression kind used in error messages
    /// (e.g. "ConditionExpression", "FilterExpression").
    pub fn parse_kind(expr: &str, ctx: &mut ExprContext, kind: &'static str) -> Result<Condition, ExprError> {
        let mut p = Parser::new(kind, expr, ctx)?;
        let cond = p.cond_or()?;
        p.finish()?;
        Ok(Condition { cond })
    }

    /// Evaluates against an item (missing attributes make comparisons false).
    pub fn eval(&self, item: &Item) -> Result<bool, ExprError> {
        Ok(eval_cond(&self.cond, item))
    }

    /// Top-level attribute names the condition references.
    pub fn referenced_attributes(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        fn op(o: &Operand, out: &mut BTreeSet<String>) {
            match o {
                Operand::Path(p) | Operand::Size(p) => {
                    out.insert(p.top().to_string());
                }
                Operand::Value(_) => {}
            }
        }
        fn walk(c: &Cond, out: &mut BTreeSet<String>) {
            match c {
                Cond::Cmp(a, _, b) | Cond::BeginsWith(a, b) | Cond::Contains(a, b) => {
                    op(a, out);
                    op(b, out);
                }
                Cond::Between(a, b, c) => {
                    op(a, out);
                    op(b, out);
                    op(c, out);
                }
                Cond::In(a, l) => {
                    op(a, out);
                    l.iter().for_each(|x| op(x, out));
                }
                Cond::And(a, b) | Cond::Or(a, b) => {
                    walk(a, out);
                    walk(b, out);
                }
                Cond::Not(a) => walk(a, out),
                Cond::Exists(p) | Cond::NotExists(p) => {
                    out.insert(p.top().to_string());
                }
                Cond::AttrType(p, t) => {
                    out.insert(p.top().to_string());
                    op(t, out);
                }
            }
        }
        walk(&self.cond, &mut out);
        out
    }
}

// ---------------------------------------------------------------------------
// Projection

/// A parsed ProjectionExpression.
#[derive(Debug, Clone, PartialEq)]
pub struct Projection {
    pub paths: Vec<Path>,
}

enum ProjNode {
    Leaf(AttrValue),
    Map(BTreeMap<String, ProjNode>),
    List(BTreeMap<usize, ProjNode>),
}

impl ProjNode {
    fn into_value(self) -> AttrValue {
        match self {
            ProjNode::Leaf(v) => v,
            ProjNode::Map(m) => AttrValue::M(m.into_iter().map(|(k, v)| (k, v.into_value())).collect()),
            ProjNode::List(l) => AttrValue::L(l.into_values().map(|v| v.into_value()).collect()),
        }
    }
}

fn proj_insert(slot: &mut ProjNode, rest: &[PathElem], v: &AttrValue) {
    let Some((first, rest2)) = rest.split_first() else { return };
    let last = rest2.is_empty();
    match (first, slot) {
        (PathElem::Name(n), ProjNode::Map(m)) => {
            if last {
                m.insert(n.clone(), ProjNode::Leaf(v.clone()));
            } else {
                let child = m.entry(n.clone()).or_insert_with(|| new_node(&rest2[0]));
                proj_insert(child, rest2, v);
            }
        }
        (PathElem::Index(i), ProjNode::List(l)) => {
            if last {
                l.insert(*i, ProjNode::Leaf(v.clone()));
            } else {
                let child = l.entry(*i).or_insert_with(|| new_node(&rest2[0]));
                proj_insert(child, rest2, v);
            }
        }
        _ => {}
    }
}

fn new_node(e: &PathElem) -> ProjNode {
    match e {
        PathElem::Name(_) => ProjNode::Map(BTreeMap::new()),
        PathElem::Index(_) => ProjNode::List(BTreeMap::new()),
    }
}

impl Projection {
    pub fn parse(expr: &str, ctx: &mut ExprContext) -> Result<Projection, ExprError> {
        let kind = "ProjectionExpression";
        let mut p = Parser::new(kind, expr, ctx)?;
        let mut paths = vec![p.path()?];
        while *p.peek() == Tok::Comma {
            p.advance();
            paths.push(p.path()?);
        }
        if *p.peek() != Tok::Eof {
            return Err(p.syntax());
        }
        let refs: Vec<&Path> = paths.iter().collect();
        check_overlaps(&mut p, &refs);
        p.take_deferred()?;
        Ok(Projection { paths })
    }

    /// Top-level attribute names the projection needs.
    pub fn top_level_names(&self) -> BTreeSet<String> {
        self.paths.iter().map(|p| p.top().to_string()).collect()
    }

    pub fn apply(&self, item: &Item) -> Item {
        let mut root = ProjNode::Map(BTreeMap::new());
        for p in &self.paths {
            if let Some(v) = p.resolve(item) {
                proj_insert(&mut root, &p.0, v);
            }
        }
        match root.into_value() {
            AttrValue::M(m) => m,
            _ => Item::new(),
        }
    }
}

// ---------------------------------------------------------------------------
// Key conditions

/// The range-key part of a KeyConditionExpression.
#[derive(Debug, Clone, PartialEq)]
pub enum RangeCondition {
    Eq(AttrValue),
    Lt(AttrValue),
    Le(AttrValue),
    Gt(AttrValue),
    Ge(AttrValue),
    Between(AttrValue, AttrValue),
    BeginsWith(AttrValue),
}

impl RangeCondition {
    pub fn matches(&self, v: &AttrValue) -> bool {
        let c = |x: &AttrValue| v.compare(x);
        match self {
            RangeCondition::Eq(x) => c(x) == Some(Ordering::Equal),
            RangeCondition::Lt(x) => c(x) == Some(Ordering::Less),
            RangeCondition::Le(x) => matches!(c(x), Some(Ordering::Less | Ordering::Equal)),
            RangeCondition::Gt(x) => c(x) == Some(Ordering::Greater),
            RangeCondition::Ge(x) => matches!(c(x), Some(Ordering::Greater | Ordering::Equal)),
            RangeCondition::Between(lo, hi) => {
                matches!(c(lo), Some(Ordering::Greater | Ordering::Equal))
                    && matches!(c(hi), Some(Ordering::Less | Ordering::Equal))
            }
            RangeCondition::BeginsWith(x) => match (v, x) {
                (AttrValue::S(a), AttrValue::S(b)) => a.starts_with(b.as_str()),
                (AttrValue::B(a), AttrValue::B(b)) => a.starts_with(b),
                _ => false,
            },
        }
    }

    /// The value(s) the condition compares against.
    pub fn values(&self) -> Vec<&AttrValue> {
        match self {
            RangeCondition::Eq(x)
            | RangeCondition::Lt(x)
            | RangeCondition::Le(x)
            | RangeCondition::Gt(x)
            | RangeCondition::Ge(x)
            | RangeCondition::BeginsWith(x) => vec![x],
            RangeCondition::Between(a, b) => vec![a, b],
        }
    }
}

/// A parsed KeyConditionExpression.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyCondition {
    pub hash_value: AttrValue,
    pub range: Option<RangeCondition>,
}

/// Mirrors DynamoDB's structural validation of KeyConditionExpression:
/// walks the tree top-down, left to right, collecting one condition per key.
fn check_key_expr(c: Cond, out: &mut Vec<(String, RangeCondition)>) -> Result<(), ExprError> {
    let bad = |op: &str| ExprError::new(format!("Invalid operator used in KeyConditionExpression: {op}"));
    let nested_ops = || ExprError::new("KeyConditionExpressions cannot contain nested operations");
    let multi = || {
        ExprError::new("Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition")
    };
    let first_operand = |op: &str| {
        ExprError::new(format!(
            "Invalid condition in KeyConditionExpression: {op} operator must have the key attribute as its first operand"
        ))
    };
    let (args, kind): (Vec<Operand>, &str) = match c {
        Cond::Or(..) => return Err(bad("OR")),
        Cond::Not(..) => return Err(bad("NOT")),
        Cond::In(..) => return Err(bad("IN")),
        Cond::Cmp(_, CmpOp::Ne, _) => return Err(bad("<>")),
        Cond::Exists(..) => return Err(bad("attribute_exists")),
        Cond::NotExists(..) => return Err(bad("attribute_not_exists")),
        Cond::AttrType(..) => return Err(bad("attribute_type")),
        Cond::Contains(..) => return Err(bad("contains")),
        Cond::And(a, b) => {
            check_key_expr(*a, out)?;
            return check_key_expr(*b, out);
        }
        Cond::Between(a, lo, hi) => {
            if !matches!(a, Operand::Path(_)) {
                return Err(first_operand("BETWEEN"));
            }
            (vec![a, lo, hi], "between")
        }
        Cond::BeginsWith(a, b) => {
            if !matches!(a, Operand::Path(_)) {
                return Err(first_operand("begins_with"));
            }
            (vec![a, b], "begins_with")
        }
        Cond::Cmp(a, op, b) => (
            vec![a, b],
            match op {
                CmpOp::Eq => "=",
                CmpOp::Lt => "<",
                CmpOp::Le => "<=",
                CmpOp::Gt => ">",
                CmpOp::Ge => ">=",
                CmpOp::Ne => "<>",
            },
        ),
    };
    let mut attr: Option<(String, usize)> = None;
    for (i, a) in args.iter().enumerate() {
        match a {
            Operand::Path(p) => {
                if attr.is_some() {
                    return Err(multi());
                }
                if p.0.len() > 1 {
                    return Err(ExprError::new("KeyConditionExpressions cannot have conditions on nested attributes"));
                }
                attr = Some((p.top().to_string(), i));
            }
            Operand::Size(_) => return Err(nested_ops()),
            Operand::Value(_) => {}
        }
    }
    let Some((name, ix)) = attr else {
        return Err(ExprError::new("Invalid condition in KeyConditionExpression: No key attribute specified"));
    };
    if out.iter().any(|(n, _)| *n == name) {
        return Err(ExprError::new("KeyConditionExpressions must only contain one condition per key"));
    }
    let mut vals = args.into_iter().filter_map(|o| match o {
        Operand::Value(v) => Some(v),
        _ => None,
    });
    let mut next = || vals.next().unwrap_or(AttrValue::Null);
    let rc = match kind {
        "between" => {
            let lo = next();
            RangeCondition::Between(lo, next())
        }
        "begins_with" => RangeCondition::BeginsWith(next()),
        op => {
            // Operand order: `:v < k` means `k > :v`.
            let flipped = ix != 0;
            let v = next();
            match (op, flipped) {
                ("=", _) => RangeCondition::Eq(v),
                ("<", false) | (">", true) => RangeCondition::Lt(v),
                ("<=", false) | (">=", true) => RangeCondition::Le(v),
                (">", false) | ("<", true) => RangeCondition::Gt(v),
                _ => RangeCondition::Ge(v),
            }
        }
    };
    out.push((name, rc));
    Ok(())
}

impl KeyCondition {
    pub fn parse(
        expr: &str,
        ctx: &mut ExprContext,
        hash_key: &str,
        range_key: Option<&str>,
    ) -> Result<KeyCondition, ExprError> {
        let mut p = Parser::new("KeyConditionExpression", expr, ctx)?;
        let cond = p.cond_or()?;
        p.finish()?;
        let mut parts = Vec::new();
        check_key_expr(cond, &mut parts)?;
        if range_key.is_none() && parts.len() > 1 {
            return Err(ExprError::new("Query key condition not supported"));
        }
        let count = parts.len();
        let mut hash_value = None;
        let mut range = None;
        let mut keys = vec![(hash_key, true)];
        if let Some(rk) = range_key {
            keys.push((rk, false));
        }
        for (attr, is_hash) in keys {
            let Some(pos) = parts.iter().position(|(n, _)| n == attr) else {
                if is_hash || count > 1 {
                    return Err(ExprError::new(format!("Query condition missed key schema element: {attr}")));
                }
                continue;
            };
            let (_, rc) = parts.remove(pos);
            if is_hash {
                match rc {
                    RangeCondition::Eq(v) => hash_value = Some(v),
                    _ => return Err(ExprError::new("Query key condition not supported")),
                }
            } else {
                range = Some(rc);
            }
        }
        if !parts.is_empty() {
            return Err(ExprError::new("Query key condition not supported"));
        }
        let hash_value = hash_value.ok_or_else(|| {
            ExprError::new(format!("Query condition missed key schema element: {hash_key}"))
        })?;
        Ok(KeyCondition { hash_value, range })
    }
}
