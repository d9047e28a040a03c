//! The PartiQL lexer: words, "quoted identifiers", 'strings', numbers, symbols and `?`.

use nimbus_types::AwsError;

use super::parser::malformed;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// A bare identifier or keyword (case kept).
    Word(String),
    /// A "quoted identifier".
    Quoted(String),
    /// A 'string literal'.
    Str(String),
    Num(String),
    Sym(&'static str),
    Param,
}

pub(crate) fn lex(src: &str) -> Result<Vec<Tok>, AwsError> {
    let mut out = Vec::new();
    let chars: Vec<char> = src.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        // Comments: `-- to end of line` and `/* ... */`.
        if c == '-' && chars.get(i + 1) == Some(&'-') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        }
        if c == '/' && chars.get(i + 1) == Some(&'*') {
            i += 2;
            loop {
                if i + 1 >= chars.len() {
                    return Err(malformed("Unterminated comment"));
                }
                if chars[i] == '*' && chars[i + 1] == '/' {
                    i += 2;
                    break;
                }
                i += 1;
            }
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == '$') {
                i += 1;
            }
            out.push(Tok::Word(chars[start..i].iter().collect()));
            continue;
        }
        if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())) {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            if i < chars.len() && chars[i] == '.' {
                i += 1;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
            }
            if i < chars.len() && (chars[i] == 'e' || chars[i] == 'E') {
                let mut j = i + 1;
                if j < chars.len() && (chars[j] == '+' || chars[j] == '-') {
                    j += 1;
                }
                if j < chars.len() && chars[j].is_ascii_digit() {
                    i = j;
                    while i < chars.len() && chars[i].is_ascii_digit() {
                        i += 1;
                    }
                }
            }
            out.push(Tok::Num(chars[start..i].iter().collect()));
            continue;
        }
        if c == '\'' || c == '"' {
            let mut s = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => {
                        return Err(malformed(if c == '\'' { "Unterminated string literal" } else { "Unterminated quoted identifier" }))
                    }
                    Some(&ch) if ch == c => {
                        // A doubled quote is an escaped quote.
                        if chars.get(i + 1) == Some(&c) {
                            s.push(c);
                            i += 2;
                        } else {
                            i += 1;
                            break;
                        }
                    }
                    Some(&ch) => {
                        s.push(ch);
                        i += 1;
                    }
                }
            }
            out.push(if c == '\'' { Tok::Str(s) } else { Tok::Quoted(s) });
            continue;
        }
        let two: String = chars[i..chars.len().min(i + 2)].iter().collect();
        let sym2 = match two.as_str() {
            "<=" => Some("<="),
            ">=" => Some(">="),
            "<>" => Some("<>"),
            "!=" => Some("<>"),
            "<<" => Some("<<"),
            ">>" => Some(">>"),
            _ => None,
        };
        if let Some(s) = sym2 {
            out.push(Tok::Sym(s));
            i += 2;
            continue;
        }
        let sym = match c {
            '.' => ".",
            ',' => ",",
            '(' => "(",
            ')' => ")",
            '[' => "[",
            ']' => "]",
            '{' => "{",
            '}' => "}",
            ':' => ":",
            '*' => "*",
            '=' => "=",
            '<' => "<",
            '>' => ">",
            '+' => "+",
            '-' => "-",
            ';' => ";",
            '?' => {
                out.push(Tok::Param);
                i += 1;
                continue;
            }
            _ => return Err(malformed(&format!("Unexpected character: {c}"))),
        };
        out.push(Tok::Sym(sym));
        i += 1;
    }
    Ok(out)
}
