//! CloudWatch Logs filter patterns (FilterLogEvents' `filterPattern`).
//!
//! Supported forms:
//! - terms: `ERROR`, `"quoted phrase"`, `-excluded`, `?alternative` (case-sensitive
//!   substring matches; every plain term must match, at least one `?` term must match
//!   when there are any, no `-` term may match);
//! - regular expressions: `%regex%`;
//! - JSON patterns: `{ $.a.b = "x*" && ($.n > 5 || $.list[0] != 3) }`, with `=`, `!=`,
//!   `<`, `<=`, `>`, `>=`, `IS TRUE|FALSE|NULL`, `EXISTS`, `NOT EXISTS`, `*` wildcards in
//!   string values, `&&`, `||` and parentheses.
//!
//! Space-delimited patterns (`[ip, user, ...]`) are rejected as unsupported.

use serde_json::Value;

/// A compiled filter pattern.
#[derive(Debug, Clone)]
pub enum Pattern {
    /// Matches every event (empty pattern).
    All,
    Terms { all: Vec<String>, any: Vec<String>, none: Vec<String> },
    Regex(regex::Regex),
    Json(Expr),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Cmp(Vec<Step>, CmpOp, Literal),
    Is(Vec<Step>, Literal),
    Exists(Vec<Step>, bool),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Field(String),
    Index(usize),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Str(String),
    Num(f64),
    True,
    False,
    Null,
}

/// Why a pattern does not parse.
#[derive(Debug, Clone, PartialEq)]
pub struct PatternError(pub String);

impl Pattern {
    pub fn parse(src: &str) -> Result<Pattern, PatternError> {
        let s = src.trim();
        if s.is_empty() {
            return Ok(Pattern::All);
        }
        if s.starts_with('{') {
            return parse_json(s).map(Pattern::Json);
        }
        if s.starts_with('[') {
            return Err(PatternError("space-delimited filter patterns ([...]) are not supported by Nimbus".into()));
        }
        if s.len() >= 2 && s.starts_with('%') && s.ends_with('%') {
            let re = regex::Regex::new(&s[1..s.len() - 1]).map_err(|e| PatternError(format!("invalid regular expression: {e}")))?;
            return Ok(Pattern::Regex(re));
        }
        parse_terms(s)
    }

    pub fn matches(&self, message: &str) -> bool {
        match self {
            Pattern::All => true,
            Pattern::Terms { all, any, none } => {
                all.iter().all(|t| message.contains(t.as_str()))
                    && (any.is_empty() || any.iter().any(|t| message.contains(t.as_str())))
                    && !none.iter().any(|t| message.contains(t.as_str()))
            }
            Pattern::Regex(re) => re.is_match(message),
            Pattern::Json(e) => match serde_json::from_str::<Value>(message.trim()) {
                Ok(v) => eval(e, &v),
                Err(_) => false,
            },
        }
    }
}

fn parse_terms(s: &str) -> Result<Pattern, PatternError> {
    let (mut all, mut any, mut none) = (Vec::new(), Vec::new(), Vec::new());
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_whitespace() {
            i += 1;
            continue;
        }
        let mut kind = ' ';
        if chars[i] == '-' || chars[i] == '?' {
            kind = chars[i];
            i += 1;
        }
        let mut term = String::new();
        if i < chars.len() && chars[i] == '"' {
            i += 1;
            let mut closed = false;
            while i < chars.len() {
                match chars[i] {
                    '\\' if i + 1 < chars.len() => {
                        term.push(chars[i + 1]);
                        i += 2;
                    }
                    '"' => {
                        closed = true;
                        i += 1;
                        break;
                    }
                    c => {
                        term.push(c);
                        i += 1;
                    }
                }
            }
            if !closed {
                return Err(PatternError("unterminated quoted term".into()));
            }
        } else {
            while i < chars.len() && !chars[i].is_whitespace() {
                term.push(chars[i]);
                i += 1;
            }
        }
        if term.is_empty() {
            if kind == ' ' {
                continue;
            }
            return Err(PatternError(format!("'{kind}' must be followed by a term")));
        }
        match kind {
            '-' => none.push(term),
            '?' => any.push(term),
            _ => all.push(term),
        }
    }
    if all.is_empty() && any.is_empty() && none.is_empty() {
        return Ok(Pattern::All);
    }
    Ok(Pattern::Terms { all, any, none })
}

// ---- JSON patterns ----

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LBrace,
    RBrace,
    LParen,
    RParen,
    And,
    Or,
    Op(CmpOp),
    Sel(Vec<Step>),
    Str(String),
    Word(String),
}

fn lex(s: &str) -> Result<Vec<Tok>, PatternError> {
    let c: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let err = |m: &str| Err(PatternError(m.to_string()));
    while i < c.len() {
        let ch = c[i];
        let next = c.get(i + 1).copied();
        match ch {
            _ if ch.is_whitespace() => i += 1,
            '{' => { out.push(Tok::LBrace); i += 1; }
            '}' => { out.push(Tok::RBrace); i += 1; }
            '(' => { out.push(Tok::LParen); i += 1; }
            ')' => { out.push(Tok::RParen); i += 1; }
            '&' if next == Some('&') => { out.push(Tok::And); i += 2; }
            '|' if next == Some('|') => { out.push(Tok::Or); i += 2; }
            '!' if next == Some('=') => { out.push(Tok::Op(CmpOp::Ne)); i += 2; }
            '<' if next == Some('=') => { out.push(Tok::Op(CmpOp::Le)); i += 2; }
            '>' if next == Some('=') => { out.push(Tok::Op(CmpOp::Ge)); i += 2; }
            '<' => { out.push(Tok::Op(CmpOp::Lt)); i += 1; }
            '>' => { out.push(Tok::Op(CmpOp::Gt)); i += 1; }
            '=' => { out.push(Tok::Op(CmpOp::Eq)); i += if next == Some('=') { 2 } else { 1 }; }
            '"' => {
                i += 1;
                let mut t = String::new();
                let mut closed = false;
                while i < c.len() {
                    match c[i] {
                        '\\' if i + 1 < c.len() => { t.push(c[i + 1]); i += 2; }
                        '"' => { closed = true; i += 1; break; }
                        x => { t.push(x); i += 1; }
                    }
                }
                if !closed {
                    return err("unterminated string in JSON filter pattern");
                }
                out.push(Tok::Str(t));
            }
            '$' => {
                i += 1;
                let mut steps = Vec::new();
                loop {
                    match c.get(i) {
                        Some('.') => {
                            i += 1;
                            let mut name = String::new();
                            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_' || c[i] == '-' || c[i] == '@' || c[i] == '*') {
                                name.push(c[i]);
                                i += 1;
                            }
                            if name.is_empty() {
                                return err("a selector needs a field name after '.'");
                            }
                            steps.push(Step::Field(name));
                        }
                        Some('[') => {
                            i += 1;
                            let mut n = String::new();
                            while i < c.len() && c[i] != ']' {
                                n.push(c[i]);
                                i += 1;
                            }
                            if c.get(i) != Some(&']') {
                                return err("unterminated '[' in selector");
                            }
                            i += 1;
                            let idx = n.trim().parse::<usize>().map_err(|_| PatternError(format!("invalid array index '{n}'")))?;
                            steps.push(Step::Index(idx));
                        }
                        _ => break,
                    }
                }
                out.push(Tok::Sel(steps));
            }
            _ => {
                let mut w = String::new();
                while i < c.len() && !c[i].is_whitespace() && !"{}()&|!<>=\"".contains(c[i]) {
                    w.push(c[i]);
                    i += 1;
                }
                if w.is_empty() {
                    return Err(PatternError(format!("unexpected character '{ch}' in JSON filter pattern")));
                }
                out.push(Tok::Word(w));
            }
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn or(&mut self) -> Result<Expr, PatternError> {
        let mut e = self.and()?;
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }
    fn and(&mut self) -> Result<Expr, PatternError> {
        let mut e = self.unary()?;
        while self.peek() == Some(&Tok::And) {
            self.pos += 1;
            e = Expr::And(Box::new(e), Box::new(self.unary()?));
        }
        Ok(e)
    }
    fn unary(&mut self) -> Result<Expr, PatternError> {
        match self.next() {
            Some(Tok::LParen) => {
                let e = self.or()?;
                match self.next() {
                    Some(Tok::RParen) => Ok(e),
                    _ => Err(PatternError("expected ')' in JSON filter pattern".into())),
                }
            }
            Some(Tok::Sel(sel)) => self.comparison(sel),
            other => Err(PatternError(format!("expected a selector ($.field) in JSON filter pattern, found {other:?}"))),
        }
    }
    fn comparison(&mut self, sel: Vec<Step>) -> Result<Expr, PatternError> {
        match self.next() {
            Some(Tok::Op(op)) => {
                let lit = match self.next() {
                    Some(Tok::Str(s)) => Literal::Str(s),
                    Some(Tok::Word(w)) => match w.parse::<f64>() {
                        Ok(n) if w.chars().any(|c| c.is_ascii_digit()) => Literal::Num(n),
                        _ => Literal::Str(w),
                    },
                    other => return Err(PatternError(format!("expected a value after the operator, found {other:?}"))),
                };
                if matches!(op, CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge) && !matches!(lit, Literal::Num(_)) {
                    return Err(PatternError("numeric comparisons need a number".into()));
                }
                Ok(Expr::Cmp(sel, op, lit))
            }
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("IS") => match self.next() {
                Some(Tok::Word(v)) if v.eq_ignore_ascii_case("TRUE") => Ok(Expr::Is(sel, Literal::True)),
                Some(Tok::Word(v)) if v.eq_ignore_ascii_case("FALSE") => Ok(Expr::Is(sel, Literal::False)),
                Some(Tok::Word(v)) if v.eq_ignore_ascii_case("NULL") => Ok(Expr::Is(sel, Literal::Null)),
                _ => Err(PatternError("IS must be followed by TRUE, FALSE or NULL".into())),
            },
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("EXISTS") => Ok(Expr::Exists(sel, true)),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("NOT") => match self.next() {
                Some(Tok::Word(v)) if v.eq_ignore_ascii_case("EXISTS") => Ok(Expr::Exists(sel, false)),
                _ => Err(PatternError("NOT must be followed by EXISTS".into())),
            },
            other => Err(PatternError(format!("expected an operator after the selector, found {other:?}"))),
        }
    }
}

fn parse_json(s: &str) -> Result<Expr, PatternError> {
    let toks = lex(s)?;
    let mut p = Parser { toks, pos: 0 };
    if p.next() != Some(Tok::LBrace) {
        return Err(PatternError("a JSON filter pattern starts with '{'".into()));
    }
    let e = p.or()?;
    if p.next() != Some(Tok::RBrace) {
        return Err(PatternError("expected '}' at the end of the JSON filter pattern".into()));
    }
    if p.pos < p.toks.len() {
        return Err(PatternError("unexpected text after '}'".into()));
    }
    Ok(e)
}

fn select<'a>(v: &'a Value, sel: &[Step]) -> Option<&'a Value> {
    let mut cur = v;
    for s in sel {
        cur = match s {
            Step::Field(f) => cur.get(f.as_str())?,
            Step::Index(i) => cur.get(*i)?,
        };
    }
    Some(cur)
}

fn wildcard(pattern: &str, text: &str) -> bool {
    if !pattern.contains('*') {
        return pattern == text;
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(p) => rest = &rest[p + part.len()..],
                None => return false,
            }
        }
    }
    true
}

fn eval(e: &Expr, v: &Value) -> bool {
    match e {
        Expr::And(a, b) => eval(a, v) && eval(b, v),
        Expr::Or(a, b) => eval(a, v) || eval(b, v),
        Expr::Exists(sel, want) => select(v, sel).is_some() == *want,
        Expr::Is(sel, lit) => matches!(
            (select(v, sel), lit),
            (Some(Value::Bool(true)), Literal::True) | (Some(Value::Bool(false)), Literal::False) | (Some(Value::Null), Literal::Null)
        ),
        Expr::Cmp(sel, op, lit) => {
            let Some(field) = select(v, sel) else { return false };
            match lit {
                Literal::Num(n) => {
                    let Some(x) = field.as_f64().or_else(|| field.as_str().and_then(|s| s.parse().ok())) else {
                        return false;
                    };
                    match op {
                        CmpOp::Eq => x == *n,
                        CmpOp::Ne => x != *n,
                        CmpOp::Lt => x < *n,
                        CmpOp::Le => x <= *n,
                        CmpOp::Gt => x > *n,
                        CmpOp::Ge => x >= *n,
                    }
                }
                Literal::Str(s) => {
                    let text = match field {
                        Value::String(t) => t.clone(),
                        Value::Number(n) => n.to_string(),
                        Value::Bool(b) => b.to_string(),
                        Value::Null => "null".to_string(),
                        _ => return false,
                    };
                    let eq = wildcard(s, &text);
                    match op {
                        CmpOp::Eq => eq,
                        CmpOp::Ne => !eq,
                        _ => false,
                    }
                }
                _ => false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, msg: &str) -> bool {
        Pattern::parse(p).unwrap().matches(msg)
    }

    #[test]
    fn empty_matches_everything() {
        assert!(m("", "anything"));
        assert!(m("   ", ""));
    }

    #[test]
    fn plain_terms_are_anded_and_case_sensitive() {
        assert!(m("ERROR", "an ERROR happened"));
        assert!(!m("ERROR", "an error happened"));
        assert!(m("ERROR disk", "ERROR: disk full"));
        assert!(!m("ERROR disk", "ERROR: memory"));
    }

    #[test]
    fn quoted_phrases() {
        assert!(m("\"disk full\"", "ERROR: disk full now"));
        assert!(!m("\"disk full\"", "full disk"));
        assert!(m("\"a \\\"q\\\"\"", "x a \"q\" y"));
        assert!(Pattern::parse("\"open").is_err());
    }

    #[test]
    fn exclusions_and_alternatives() {
        assert!(m("ERROR -Exiting", "ERROR at x"));
        assert!(!m("ERROR -Exiting", "ERROR Exiting now"));
        assert!(m("?ERROR ?WARN", "WARN low"));
        assert!(m("?ERROR ?WARN", "ERROR high"));
        assert!(!m("?ERROR ?WARN", "INFO"));
        assert!(m("?ERROR ?WARN -disk", "WARN mem"));
        assert!(!m("?ERROR ?WARN -disk", "WARN disk"));
        assert!(m("-\"quiet please\"", "loud"));
        assert!(!m("-\"quiet please\"", "quiet please"));
        assert!(Pattern::parse("ERROR -").is_err());
    }

    #[test]
    fn regex_patterns() {
        assert!(m("%ERR(OR)?\\s+\\d+%", "ERR 42"));
        assert!(!m("%^ERROR$%", "ERROR!"));
        assert!(Pattern::parse("%(%").is_err());
    }

    #[test]
    fn json_patterns() {
        let msg = r#"{"level":"ERROR","code":503,"user":{"id":"u-17","admin":true},"tags":["a","b"],"gone":null}"#;
        assert!(m("{ $.level = \"ERROR\" }", msg));
        assert!(m("{ $.level = ERROR }", msg));
        assert!(m("{ $.level = ERR* }", msg));
        assert!(!m("{ $.level = \"INFO\" }", msg));
        assert!(m("{ $.level != \"INFO\" }", msg));
        assert!(m("{ $.code = 503 }", msg));
        assert!(m("{ $.code >= 500 && $.code < 600 }", msg));
        assert!(!m("{ $.code > 503 }", msg));
        assert!(m("{ $.user.id = \"u-*\" }", msg));
        assert!(m("{ $.tags[1] = \"b\" }", msg));
        assert!(m("{ $.user.admin IS TRUE }", msg));
        assert!(!m("{ $.user.admin IS FALSE }", msg));
        assert!(m("{ $.gone IS NULL }", msg));
        assert!(m("{ $.missing NOT EXISTS }", msg));
        assert!(m("{ $.code EXISTS }", msg));
        assert!(m("{ ($.level = INFO || $.code = 503) && $.user.admin IS TRUE }", msg));
        assert!(!m("{ $.level = INFO || $.code = 404 }", msg));
        assert!(!m("{ $.missing = 1 }", msg));
        assert!(!m("{ $.level = \"ERROR\" }", "not json ERROR"));
    }

    #[test]
    fn json_syntax_errors() {
        for bad in ["{ $.a = }", "{ $.a = 1", "{ a = 1 }", "{ $.a > x }", "{ ($.a = 1 }", "{ $.a IS maybe }", "{ $.a = 1 } x", "{ $. = 1 }", "{ $.a[x] = 1 }"] {
            assert!(Pattern::parse(bad).is_err(), "{bad} should not parse");
        }
        assert!(Pattern::parse("[ip, user]").is_err());
    }

    #[test]
    fn wildcards() {
        assert!(wildcard("a*c", "abbbc"));
        assert!(wildcard("*", ""));
        assert!(wildcard("*x*", "axb"));
        assert!(!wildcard("a*c", "abd"));
        assert!(wildcard("abc", "abc"));
    }
}
