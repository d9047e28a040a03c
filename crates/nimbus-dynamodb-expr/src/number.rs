//! DynamoDB numbers: up to 38 significant decimal digits, magnitude in
//! [1E-130, 1E+126), exact decimal arithmetic.

use crate::ExprError;
use std::cmp::Ordering;
use std::fmt;

/// Maximum number of significant digits.
pub const MAX_DIGITS: usize = 38;
/// value = 0.d1d2..dn * 10^exp; the largest allowed magnitude is < 1E+126.
const MAX_EXP: i32 = 126;
/// The smallest allowed magnitude is 1E-130 = 0.1 * 10^-129.
const MIN_EXP: i32 = -129;

/// An exact decimal number as DynamoDB stores it.
///
/// Canonical form: `digits` holds decimal digits (0..=9) with no leading or
/// trailing zeros; the value is `0.digits * 10^exp` (negated when `neg`).
/// Zero has empty `digits`, `exp == 0` and `neg == false`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Number {
    neg: bool,
    digits: Vec<u8>,
    exp: i32,
}

fn nan_err(s: &str) -> ExprError {
    ExprError::new(format!("The parameter cannot be converted to a numeric value: {s}"))
}

pub(crate) fn overflow_err() -> ExprError {
    ExprError::new("Number overflow. Attempting to store a number with magnitude larger than supported range")
}

pub(crate) fn underflow_err() -> ExprError {
    ExprError::new("Number underflow. Attempting to store a number with magnitude smaller than supported range")
}

pub(crate) fn digits_err() -> ExprError {
    ExprError::new("Attempting to store more than 38 significant digits in a Number")
}

impl Number {
    /// Zero.
    pub fn zero() -> Number {
        Number { neg: false, digits: Vec::new(), exp: 0 }
    }

    /// Parses a DynamoDB number string ("1", "-1.5", "1E+3", ".5", "5.").
    pub fn parse(s: &str) -> Result<Number, ExprError> {
        if s.is_empty() {
            return Err(ExprError::new("The parameter cannot be converted to a numeric value"));
        }
        let b = s.as_bytes();
        let mut i = 0;
        let mut neg = false;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            neg = b[i] == b'-';
            i += 1;
        }
        let mut mant: Vec<u8> = Vec::new();
        let mut int_len: i64 = 0;
        let mut seen_point = false;
        let mut any_digit = false;
        while i < b.len() {
            let c = b[i];
            if c.is_ascii_digit() {
                any_digit = true;
                // Avoid unbounded memory for absurd inputs: leading zeros are skipped.
                if mant.is_empty() && c == b'0' {
                    if !seen_point {
                        // leading integer zero: contributes nothing
                    } else {
                        int_len -= 1;
                    }
                } else {
                    mant.push(c - b'0');
                    if !seen_point {
                        int_len += 1;
                    }
                }
                i += 1;
            } else if c == b'.' && !seen_point {
                seen_point = true;
                i += 1;
            } else {
                break;
            }
        }
        if !any_digit {
            return Err(nan_err(s));
        }
        let mut e: i64 = 0;
        if i < b.len() {
            if b[i] != b'e' && b[i] != b'E' {
                return Err(nan_err(s));
            }
            i += 1;
            let mut eneg = false;
            if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
                eneg = b[i] == b'-';
                i += 1;
            }
            if i >= b.len() {
                return Err(nan_err(s));
            }
            while i < b.len() {
                if !b[i].is_ascii_digit() {
                    return Err(nan_err(s));
                }
                e = (e * 10 + (b[i] - b'0') as i64).min(1_000_000_000_000);
                i += 1;
            }
            if eneg {
                e = -e;
            }
        }
        while mant.last() == Some(&0) {
            mant.pop();
        }
        if mant.is_empty() {
            return Ok(Number::zero());
        }
        let exp = int_len + e;
        if exp > MAX_EXP as i64 {
            return Err(overflow_err());
        }
        if exp < MIN_EXP as i64 {
            return Err(underflow_err());
        }
        if mant.len() > MAX_DIGITS {
            return Err(digits_err());
        }
        Ok(Number { neg, digits: mant, exp: exp as i32 })
    }

    /// Builds a number from a big-endian integer coefficient and a power of ten.
    fn from_coeff(neg: bool, mut coeff: Vec<u8>, pow10: i64) -> Result<Number, ExprError> {
        let lead = coeff.iter().take_while(|d| **d == 0).count();
        coeff.drain(..lead);
        let n = coeff.len() as i64;
        while coeff.last() == Some(&0) {
            coeff.pop();
        }
        if coeff.is_empty() {
            return Ok(Number::zero());
        }
        let exp = n + pow10;
        if exp > MAX_EXP as i64 {
            return Err(overflow_err());
        }
        if exp < MIN_EXP as i64 {
            return Err(underflow_err());
        }
        if coeff.len() > MAX_DIGITS {
            return Err(digits_err());
        }
        Ok(Number { neg, digits: coeff, exp: exp as i32 })
    }

    pub fn is_zero(&self) -> bool {
        self.digits.is_empty()
    }

    pub fn is_negative(&self) -> bool {
        self.neg
    }

    /// Number of significant digits (0 for zero).
    pub fn significant_digits(&self) -> usize {
        self.digits.len()
    }

    pub fn negate(&self) -> Number {
        if self.is_zero() {
            return self.clone();
        }
        Number { neg: !self.neg, digits: self.digits.clone(), exp: self.exp }
    }

    fn cmp_magnitude(&self, o: &Number) -> Ordering {
        match (self.is_zero(), o.is_zero()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            _ => {}
        }
        self.exp.cmp(&o.exp).then_with(|| self.digits.cmp(&o.digits))
    }

    /// Exact sum.
    pub fn add(&self, o: &Number) -> Result<Number, ExprError> {
        if self.is_zero() {
            return Ok(o.clone());
        }
        if o.is_zero() {
            return Ok(self.clone());
        }
        // Align both coefficients to the same lowest power of ten.
        let low_a = self.exp as i64 - self.digits.len() as i64;
        let low_b = o.exp as i64 - o.digits.len() as i64;
        let low = low_a.min(low_b);
        let mut a = self.digits.clone();
        a.extend(std::iter::repeat_n(0u8, (low_a - low) as usize));
        let mut b = o.digits.clone();
        b.extend(std::iter::repeat_n(0u8, (low_b - low) as usize));
        if self.neg == o.neg {
            Number::from_coeff(self.neg, add_mag(&a, &b), low)
        } else {
            match cmp_mag(&a, &b) {
                Ordering::Equal => Ok(Number::zero()),
                Ordering::Greater => Number::from_coeff(self.neg, sub_mag(&a, &b), low),
                Ordering::Less => Number::from_coeff(o.neg, sub_mag(&b, &a), low),
            }
        }
    }

    /// Exact difference.
    pub fn sub(&self, o: &Number) -> Result<Number, ExprError> {
        self.add(&o.negate())
    }

    /// Order-preserving byte encoding (used by `sort_key_bytes`).
    pub fn sort_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.digits.len() + 3);
        if self.is_zero() {
            out.push(0x80);
            return out;
        }
        // exp in MIN_EXP..=MAX_EXP -> 0..=255
        let e = (self.exp - MIN_EXP) as u8;
        if self.neg {
            out.push(0x7f);
            out.push(255 - e);
            for d in &self.digits {
                out.push(b'9' - d);
            }
            out.push(0xff);
        } else {
            out.push(0x81);
            out.push(e);
            for d in &self.digits {
                out.push(b'0' + d);
            }
        }
        out
    }

    /// Converts to f64 (approximate).
    pub fn to_f64(&self) -> f64 {
        self.to_string().parse().unwrap_or(0.0)
    }

    /// Returns the value as i64 when it is an integer in range.
    pub fn to_i64(&self) -> Option<i64> {
        if self.is_zero() {
            return Some(0);
        }
        if self.exp < self.digits.len() as i32 || self.exp > 19 {
            return None;
        }
        self.to_string().parse().ok()
    }
}

fn cmp_mag(a: &[u8], b: &[u8]) -> Ordering {
    // same length (aligned), big-endian
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn add_mag(a: &[u8], b: &[u8]) -> Vec<u8> {
    let n = a.len().max(b.len());
    let mut out = vec![0u8; n + 1];
    let mut carry = 0u8;
    for i in 0..n {
        let da = if i < a.len() { a[a.len() - 1 - i] } else { 0 };
        let db = if i < b.len() { b[b.len() - 1 - i] } else { 0 };
        let s = da + db + carry;
        out[n - i] = s % 10;
        carry = s / 10;
    }
    out[0] = carry;
    out
}

/// a - b where |a| >= |b|.
fn sub_mag(a: &[u8], b: &[u8]) -> Vec<u8> {
    let n = a.len();
    let mut out = vec![0u8; n];
    let mut borrow = 0i8;
    for i in 0..n {
        let da = a[n - 1 - i] as i8;
        let db = if i < b.len() { b[b.len() - 1 - i] as i8 } else { 0 };
        let mut d = da - db - borrow;
        if d < 0 {
            d += 10;
            borrow = 1;
        } else {
            borrow = 0;
        }
        out[n - 1 - i] = d as u8;
    }
    out
}

impl Ord for Number {
    fn cmp(&self, o: &Number) -> Ordering {
        match (self.neg, o.neg) {
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
            (false, false) => self.cmp_magnitude(o),
            (true, true) => o.cmp_magnitude(self),
        }
    }
}

impl PartialOrd for Number {
    fn partial_cmp(&self, o: &Number) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_zero() {
            return f.write_str("0");
        }
        let mut s = String::with_capacity(self.digits.len() + 8);
        if self.neg {
            s.push('-');
        }
        let n = self.digits.len() as i32;
        let ds = |r: &[u8], s: &mut String| {
            for d in r {
                s.push((b'0' + d) as char);
            }
        };
        if self.exp <= 0 {
            s.push_str("0.");
            for _ in 0..(-self.exp) {
                s.push('0');
            }
            ds(&self.digits, &mut s);
        } else if self.exp >= n {
            ds(&self.digits, &mut s);
            for _ in 0..(self.exp - n) {
                s.push('0');
            }
        } else {
            ds(&self.digits[..self.exp as usize], &mut s);
            s.push('.');
            ds(&self.digits[self.exp as usize..], &mut s);
        }
        f.write_str(&s)
    }
}

impl fmt::Debug for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Number({self})")
    }
}

impl std::str::FromStr for Number {
    type Err = ExprError;
    fn from_str(s: &str) -> Result<Number, ExprError> {
        Number::parse(s)
    }
}

impl From<i64> for Number {
    fn from(v: i64) -> Number {
        Number::parse(&v.to_string()).expect("i64 always fits")
    }
}
