//! The VTL parser: template text → [`Node`]s. Hand-written recursive descent with a
//! nesting bound, so no input can exhaust the stack.

use serde_json::Value;

/// Deepest nesting of directives, expressions and interpolated strings.
const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone)]
pub enum Node {
    Text(String),
    Ref(Ref),
    Set(Ref, Expr),
    If(Vec<(Expr, Vec<Node>)>, Option<Vec<Node>>),
    Foreach(String, Expr, Vec<Node>),
    Break,
    Stop,
}

/// `$a.b.c(x)[0]`: a variable and what follows it.
#[derive(Debug, Clone)]
pub struct Ref {
    pub quiet: bool,
    pub root: String,
    pub chain: Vec<Seg>,
    /// The reference as written (rendered when it is undefined and not quiet).
    pub raw: String,
}

#[derive(Debug, Clone)]
pub enum Seg {
    Prop(String),
    Call(String, Vec<Expr>),
    Index(Expr),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

#[derive(Debug, Clone)]
pub enum Expr {
    Lit(Value),
    /// A double-quoted string: references inside are interpolated.
    Interp(Vec<Node>),
    Ref(Ref),
    List(Vec<Expr>),
    Range(Box<Expr>, Box<Expr>),
    Map(Vec<(Expr, Expr)>),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Bin(Op, Box<Expr>, Box<Expr>),
}

pub type ParseError = String;

pub fn parse(src: &str) -> Result<Vec<Node>, ParseError> {
    let mut p = Parser {
        s: src.chars().collect(),
        i: 0,
        depth: 0,
    };
    let (nodes, end) = p.block(false)?;
    match end {
        Close::Eof => Ok(nodes),
        _ => Err(format!("unexpected #else/#elseif/#end at {}", p.i)),
    }
}

/// Why a block ended.
enum Close {
    Eof,
    End,
    Else,
    ElseIf(Expr),
}

struct Parser {
    s: Vec<char>,
    i: usize,
    depth: usize,
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.s.get(self.i).copied()
    }

    fn at(&self, k: usize) -> Option<char> {
        self.s.get(self.i + k).copied()
    }

    fn starts(&self, w: &str) -> bool {
        w.chars().enumerate().all(|(k, c)| self.at(k) == Some(c))
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err("template nests too deeply".into());
        }
        Ok(())
    }

    fn ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.i += 1;
        }
    }

    /// Whether the text from the last newline to `self.i` is blank (a directive at
    /// the start of a line).
    fn line_start_blank(out: &[Node]) -> bool {
        match out.last() {
            None => true,
            Some(Node::Text(t)) => {
                let tail = t.rsplit('\n').next().unwrap_or("");
                tail.chars().all(|c| c == ' ' || c == '\t') && (t.contains('\n') || out.len() == 1)
            }
            _ => false,
        }
    }

    /// After a directive: if it stood alone on its line, drop the line's leading
    /// blanks (already in `out`) and its newline, as Velocity's line gobbling does.
    fn gobble(&mut self, out: &mut [Node], blank_before: bool) {
        if !blank_before {
            return;
        }
        let mut j = self.i;
        while matches!(self.s.get(j), Some(' ' | '\t')) {
            j += 1;
        }
        let eol = match self.s.get(j) {
            Some('\n') => Some(j + 1),
            Some('\r') if self.s.get(j + 1) == Some(&'\n') => Some(j + 2),
            None => Some(j),
            _ => None,
        };
        if let Some(e) = eol {
            self.i = e;
            if let Some(Node::Text(t)) = out.last_mut() {
                let keep = t.trim_end_matches([' ', '\t']).len();
                t.truncate(keep);
            }
        }
    }

    fn block(&mut self, nested: bool) -> Result<(Vec<Node>, Close), ParseError> {
        self.enter()?;
        let mut out: Vec<Node> = Vec::new();
        let mut text = String::new();
        macro_rules! flush {
            () => {
                if !text.is_empty() {
                    // One text node per run, so a directive sees its whole line.
                    match out.last_mut() {
                        Some(Node::Text(t)) => t.push_str(&std::mem::take(&mut text)),
                        _ => out.push(Node::Text(std::mem::take(&mut text))),
                    }
                }
            };
        }
        while let Some(c) = self.peek() {
            if c == '#' {
                if self.at(1) == Some('#') {
                    // Line comment: to the end of the line (the newline stays).
                    flush!();
                    let blank = Self::line_start_blank(&out);
                    while self.peek().is_some_and(|c| c != '\n') {
                        self.i += 1;
                    }
                    if blank {
                        self.gobble(&mut out, true);
                    }
                    continue;
                }
                if self.at(1) == Some('*') {
                    flush!();
                    self.i += 2;
                    while self.peek().is_some() && !self.starts("*#") {
                        self.i += 1;
                    }
                    self.i = (self.i + 2).min(self.s.len());
                    continue;
                }
                if let Some(d) = self.directive_name() {
                    flush!();
                    let blank = Self::line_start_blank(&out);
                    match d.as_str() {
                        "set" => {
                            self.i +=
                                1 + d.len() + usize::from(self.s.get(self.i + 1) == Some(&'{'));
                            self.skip_brace_close();
                            let (target, value) = self.set_args()?;
                            self.gobble(&mut out, blank);
                            out.push(Node::Set(target, value));
                        }
                        "if" => {
                            self.consume_directive(&d);
                            let cond = self.paren_expr()?;
                            self.gobble(&mut out, blank);
                            let mut branches = Vec::new();
                            let mut otherwise = None;
                            let mut cur = cond;
                            loop {
                                let (body, end) = self.block(true)?;
                                match end {
                                    Close::End => {
                                        branches.push((cur, body));
                                        break;
                                    }
                                    Close::ElseIf(next) => {
                                        branches.push((cur, body));
                                        cur = next;
                                    }
                                    Close::Else => {
                                        branches.push((cur, body));
                                        let (body, end) = self.block(true)?;
                                        if !matches!(end, Close::End) {
                                            return Err("#else must be followed by #end".into());
                                        }
                                        otherwise = Some(body);
                                        break;
                                    }
                                    Close::Eof => return Err("#if without #end".into()),
                                }
                            }
                            // `#end` gobbled its own line.
                            out.push(Node::If(branches, otherwise));
                        }
                        "foreach" => {
                            self.consume_directive(&d);
                            let (var, list) = self.foreach_args()?;
                            self.gobble(&mut out, blank);
                            let (body, end) = self.block(true)?;
                            if !matches!(end, Close::End) {
                                return Err("#foreach without #end".into());
                            }
                            out.push(Node::Foreach(var, list, body));
                        }
                        "elseif" if nested => {
                            self.consume_directive(&d);
                            let cond = self.paren_expr()?;
                            self.gobble(&mut out, blank);
                            self.depth -= 1;
                            return Ok((out, Close::ElseIf(cond)));
                        }
                        "else" if nested => {
                            self.consume_directive(&d);
                            self.gobble(&mut out, blank);
                            self.depth -= 1;
                            return Ok((out, Close::Else));
                        }
                        "end" if nested => {
                            self.consume_directive(&d);
                            self.gobble(&mut out, blank);
                            self.depth -= 1;
                            return Ok((out, Close::End));
                        }
                        "break" => {
                            self.consume_directive(&d);
                            self.gobble(&mut out, blank);
                            out.push(Node::Break);
                        }
                        "stop" => {
                            self.consume_directive(&d);
                            self.gobble(&mut out, blank);
                            out.push(Node::Stop);
                        }
                        _ => return Err(format!("unexpected #{d}")),
                    }
                    continue;
                }
                text.push(c);
                self.i += 1;
                continue;
            }
            if c == '\\' && self.at(1) == Some('$') {
                text.push('$');
                self.i += 2;
                continue;
            }
            if c == '$' {
                let save = self.i;
                if let Some(r) = self.reference()? {
                    flush!();
                    out.push(Node::Ref(r));
                    continue;
                }
                self.i = save;
            }
            text.push(c);
            self.i += 1;
        }
        flush!();
        self.depth -= 1;
        Ok((out, Close::Eof))
    }

    /// `#set`, `#{if}`, ...: the directive's name when one starts here.
    fn directive_name(&self) -> Option<String> {
        let mut j = self.i + 1;
        let braced = self.s.get(j) == Some(&'{');
        if braced {
            j += 1;
        }
        let start = j;
        while self.s.get(j).is_some_and(|c| c.is_ascii_alphabetic()) {
            j += 1;
        }
        let name: String = self.s[start..j].iter().collect();
        let known = matches!(
            name.as_str(),
            "set" | "if" | "elseif" | "else" | "end" | "foreach" | "break" | "stop"
        );
        if !known || (braced && self.s.get(j) != Some(&'}')) {
            return None;
        }
        // `#ending` is text, not `#end` + `ing`.
        if !braced && self.s.get(j).is_some_and(|c| c.is_ascii_alphanumeric()) {
            return None;
        }
        Some(name)
    }

    fn consume_directive(&mut self, name: &str) {
        self.i += 1;
        if self.peek() == Some('{') {
            self.i += name.len() + 2;
        } else {
            self.i += name.len();
        }
    }

    fn skip_brace_close(&mut self) {
        if self.peek() == Some('}') {
            self.i += 1;
        }
    }

    fn expect(&mut self, c: char) -> Result<(), ParseError> {
        self.ws();
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(format!("expected '{c}' at {}", self.i))
        }
    }

    fn set_args(&mut self) -> Result<(Ref, Expr), ParseError> {
        self.expect('(')?;
        self.ws();
        let target = self
            .reference()?
            .ok_or_else(|| format!("#set needs a reference at {}", self.i))?;
        self.expect('=')?;
        let value = self.expr()?;
        self.expect(')')?;
        Ok((target, value))
    }

    fn paren_expr(&mut self) -> Result<Expr, ParseError> {
        self.expect('(')?;
        let e = self.expr()?;
        self.expect(')')?;
        Ok(e)
    }

    fn foreach_args(&mut self) -> Result<(String, Expr), ParseError> {
        self.expect('(')?;
        self.ws();
        let r = self
            .reference()?
            .ok_or_else(|| format!("#foreach needs a variable at {}", self.i))?;
        if !r.chain.is_empty() {
            return Err("#foreach variable must be a plain name".into());
        }
        self.ws();
        if !self.starts("in") {
            return Err(format!("expected 'in' at {}", self.i));
        }
        self.i += 2;
        let list = self.expr()?;
        self.expect(')')?;
        Ok((r.root, list))
    }

    /// A reference at `$`; `None` (position unspecified) when the text is not one.
    fn reference(&mut self) -> Result<Option<Ref>, ParseError> {
        let start = self.i;
        if self.peek() != Some('$') {
            return Ok(None);
        }
        self.i += 1;
        let quiet = self.peek() == Some('!');
        if quiet {
            self.i += 1;
        }
        let braced = self.peek() == Some('{');
        if braced {
            self.i += 1;
        }
        if !self.peek().is_some_and(is_ident_start) {
            return Ok(None);
        }
        let root = self.ident();
        let mut chain = Vec::new();
        loop {
            match self.peek() {
                Some('.') if self.at(1).is_some_and(is_ident_start) => {
                    self.i += 1;
                    let name = self.ident();
                    if self.peek() == Some('(') {
                        self.enter()?;
                        self.i += 1;
                        let args = self.args(')')?;
                        self.depth -= 1;
                        chain.push(Seg::Call(name, args));
                    } else {
                        chain.push(Seg::Prop(name));
                    }
                }
                Some('[') => {
                    self.enter()?;
                    self.i += 1;
                    let e = self.expr()?;
                    self.expect(']')?;
                    self.depth -= 1;
                    chain.push(Seg::Index(e));
                }
                _ => break,
            }
        }
        if braced {
            if self.peek() != Some('}') {
                return Ok(None);
            }
            self.i += 1;
        }
        let raw: String = self.s[start..self.i].iter().collect();
        Ok(Some(Ref {
            quiet,
            root,
            chain,
            raw,
        }))
    }

    fn ident(&mut self) -> String {
        let start = self.i;
        while self.peek().is_some_and(is_ident) {
            // A trailing '-' is text ("$a-" in "$a-$b" is fine, but "$a- " is not part).
            if self.peek() == Some('-') && !self.at(1).is_some_and(|c| c.is_ascii_alphanumeric()) {
                break;
            }
            self.i += 1;
        }
        self.s[start..self.i].iter().collect()
    }

    fn args(&mut self, close: char) -> Result<Vec<Expr>, ParseError> {
        let mut out = Vec::new();
        self.ws();
        if self.peek() == Some(close) {
            self.i += 1;
            return Ok(out);
        }
        loop {
            out.push(self.expr()?);
            self.ws();
            match self.peek() {
                Some(',') => self.i += 1,
                Some(c) if c == close => {
                    self.i += 1;
                    return Ok(out);
                }
                _ => return Err(format!("expected ',' or '{close}' at {}", self.i)),
            }
        }
    }

    fn expr(&mut self) -> Result<Expr, ParseError> {
        self.enter()?;
        let e = self.binary(0);
        self.depth -= 1;
        e
    }

    /// The binary operator here: what it is, its precedence and its length.
    fn op(&mut self) -> Option<(Op, usize, usize)> {
        self.ws();
        let word = |p: &Self, w: &str| {
            p.starts(w) && !p.at(w.len()).is_some_and(|c| c.is_ascii_alphanumeric())
        };
        let table: &[(&str, Op, usize, bool)] = &[
            ("||", Op::Or, 1, false),
            ("or", Op::Or, 1, true),
            ("&&", Op::And, 2, false),
            ("and", Op::And, 2, true),
            ("==", Op::Eq, 3, false),
            ("eq", Op::Eq, 3, true),
            ("!=", Op::Ne, 3, false),
            ("ne", Op::Ne, 3, true),
            ("<=", Op::Le, 4, false),
            ("le", Op::Le, 4, true),
            (">=", Op::Ge, 4, false),
            ("ge", Op::Ge, 4, true),
            ("<", Op::Lt, 4, false),
            ("lt", Op::Lt, 4, true),
            (">", Op::Gt, 4, false),
            ("gt", Op::Gt, 4, true),
            ("+", Op::Add, 5, false),
            ("-", Op::Sub, 5, false),
            ("*", Op::Mul, 6, false),
            ("/", Op::Div, 6, false),
            ("%", Op::Mod, 6, false),
        ];
        for (text, op, prec, is_word) in table {
            if (*is_word && word(self, text)) || (!*is_word && self.starts(text)) {
                return Some((*op, *prec, text.len()));
            }
        }
        None
    }

    fn binary(&mut self, min: usize) -> Result<Expr, ParseError> {
        let mut lhs = self.unary()?;
        loop {
            let save = self.i;
            let Some((op, prec, len)) = self.op() else {
                self.i = save;
                break;
            };
            if prec <= min {
                self.i = save;
                break;
            }
            self.i += len;
            self.enter()?;
            let rhs = self.binary(prec)?;
            self.depth -= 1;
            lhs = Expr::Bin(op, Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        self.ws();
        if self.peek() == Some('!') {
            self.i += 1;
            self.enter()?;
            let e = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(e)));
        }
        if self.starts("not") && !self.at(3).is_some_and(|c| c.is_ascii_alphanumeric()) {
            self.i += 3;
            self.enter()?;
            let e = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(e)));
        }
        if self.peek() == Some('-') && !self.at(1).is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
            self.enter()?;
            let e = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Neg(Box::new(e)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        self.ws();
        let Some(c) = self.peek() else {
            return Err("unexpected end of template in an expression".into());
        };
        match c {
            '(' => {
                self.i += 1;
                let e = self.expr()?;
                self.expect(')')?;
                Ok(e)
            }
            '$' => self
                .reference()?
                .map(Expr::Ref)
                .ok_or_else(|| format!("invalid reference at {}", self.i)),
            '\'' => {
                self.i += 1;
                let mut s = String::new();
                loop {
                    match self.peek() {
                        None => return Err("unterminated string".into()),
                        Some('\'') if self.at(1) == Some('\'') => {
                            s.push('\'');
                            self.i += 2;
                        }
                        Some('\'') => {
                            self.i += 1;
                            break;
                        }
                        Some(c) => {
                            s.push(c);
                            self.i += 1;
                        }
                    }
                }
                Ok(Expr::Lit(Value::String(s)))
            }
            '"' => {
                self.i += 1;
                let start = self.i;
                let mut j = self.i;
                loop {
                    match self.s.get(j) {
                        None => return Err("unterminated string".into()),
                        Some('"') if self.s.get(j + 1) == Some(&'"') => j += 2,
                        Some('\\') => j += 2,
                        Some('"') => break,
                        Some(_) => j += 1,
                    }
                }
                let inner: String = self.s[start..j.min(self.s.len())]
                    .iter()
                    .collect::<String>()
                    .replace("\"\"", "\"")
                    .replace("\\\"", "\"");
                self.i = j + 1;
                self.enter()?;
                let mut sub = Parser {
                    s: inner.chars().collect(),
                    i: 0,
                    depth: self.depth,
                };
                let (nodes, end) = sub.block(false)?;
                self.depth -= 1;
                if !matches!(end, Close::Eof) {
                    return Err("directive in a string".into());
                }
                Ok(Expr::Interp(nodes))
            }
            '[' => {
                self.i += 1;
                self.ws();
                if self.peek() == Some(']') {
                    self.i += 1;
                    return Ok(Expr::List(Vec::new()));
                }
                let first = self.expr()?;
                self.ws();
                if self.starts("..") {
                    self.i += 2;
                    let last = self.expr()?;
                    self.expect(']')?;
                    return Ok(Expr::Range(Box::new(first), Box::new(last)));
                }
                let mut items = vec![first];
                loop {
                    self.ws();
                    match self.peek() {
                        Some(',') => {
                            self.i += 1;
                            items.push(self.expr()?);
                        }
                        Some(']') => {
                            self.i += 1;
                            return Ok(Expr::List(items));
                        }
                        _ => return Err(format!("expected ',' or ']' at {}", self.i)),
                    }
                }
            }
            '{' => {
                self.i += 1;
                let mut entries = Vec::new();
                self.ws();
                if self.peek() == Some('}') {
                    self.i += 1;
                    return Ok(Expr::Map(entries));
                }
                loop {
                    let k = self.expr()?;
                    self.expect(':')?;
                    let v = self.expr()?;
                    entries.push((k, v));
                    self.ws();
                    match self.peek() {
                        Some(',') => self.i += 1,
                        Some('}') => {
                            self.i += 1;
                            return Ok(Expr::Map(entries));
                        }
                        _ => return Err(format!("expected ',' or '}}' at {}", self.i)),
                    }
                }
            }
            c if c.is_ascii_digit() || c == '-' => {
                let start = self.i;
                self.i += 1;
                while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.i += 1;
                }
                let mut float = false;
                if self.peek() == Some('.') && self.at(1).is_some_and(|c| c.is_ascii_digit()) {
                    float = true;
                    self.i += 1;
                    while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                        self.i += 1;
                    }
                }
                let text: String = self.s[start..self.i].iter().collect();
                let v = if float {
                    text.parse::<f64>()
                        .ok()
                        .and_then(serde_json::Number::from_f64)
                        .map(Value::Number)
                } else {
                    text.parse::<i64>().ok().map(|n| Value::Number(n.into()))
                };
                v.map(Expr::Lit)
                    .ok_or_else(|| format!("invalid number {text}"))
            }
            _ => {
                for (w, v) in [
                    ("true", Value::Bool(true)),
                    ("false", Value::Bool(false)),
                    ("null", Value::Null),
                ] {
                    if self.starts(w) && !self.at(w.len()).is_some_and(is_ident) {
                        self.i += w.len();
                        return Ok(Expr::Lit(v));
                    }
                }
                Err(format!("unexpected '{c}' at {}", self.i))
            }
        }
    }
}
