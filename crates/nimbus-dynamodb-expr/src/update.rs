//! UpdateExpression parsing and application.

use crate::expr::{check_overlaps, ErrClass, ExprContext, Parser, Path, PathElem, Tok};
use crate::value::{AttrValue, Item};
use crate::ExprError;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum UOperand {
    Path(Path),
    Value(AttrValue),
    IfNotExists(Path, Box<UOperand>),
    ListAppend(Box<UOperand>, Box<UOperand>),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SetValue {
    Operand(UOperand),
    Plus(UOperand, UOperand),
    Minus(UOperand, UOperand),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Action {
    Set(Path, SetValue),
    Remove(Path),
    Add(Path, AttrValue),
    Delete(Path, AttrValue),
}

impl Action {
    fn path(&self) -> &Path {
        match self {
            Action::Set(p, _) | Action::Remove(p) | Action::Add(p, _) | Action::Delete(p, _) => p,
        }
    }
}

/// A parsed UpdateExpression.
#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    pub(crate) actions: Vec<Action>,
}

fn incorrect_type() -> ExprError {
    ExprError::new("An operand in the update expression has an incorrect data type")
}

fn invalid_path() -> ExprError {
    ExprError::new("The document path provided in the update expression is invalid for update")
}

fn missing_attr() -> ExprError {
    ExprError::new("The provided expression refers to an attribute that does not exist in the item")
}

impl<'a> Parser<'a> {
    fn u_operand(&mut self) -> Result<UOperand, ExprError> {
        if *self.peek() == Tok::LParen {
            // OperandParens
            self.advance();
            self.enter()?;
            let o = self.u_operand()?;
            self.leave();
            self.expect(Tok::RParen)?;
            return Ok(o);
        }
        if let (Tok::Ident(name), Tok::LParen) = (self.peek().clone(), self.peek_at(1).clone()) {
            self.advance();
            self.advance();
            self.enter()?;
            let mut args = vec![self.u_operand()?];
            while *self.peek() == Tok::Comma {
                self.advance();
                args.push(self.u_operand()?);
            }
            self.expect(Tok::RParen)?;
            self.leave();
            let placeholder = UOperand::Value(AttrValue::Null);
            if name != "if_not_exists" && name != "list_append" {
                self.defer(ErrClass::UnknownFunction, format!("Invalid function name; function: {name}"));
                return Ok(placeholder);
            }
            if args.len() != 2 {
                self.defer(
                    ErrClass::Function,
                    format!(
                        "Incorrect number of operands for operator or function; operator or function: {name}, number of operands: {}",
                        args.len()
                    ),
                );
                return Ok(placeholder);
            }
            let (Some(b), Some(a)) = (args.pop(), args.pop()) else { return Ok(placeholder) };
            if name == "if_not_exists" {
                return Ok(match a {
                    UOperand::Path(p) => UOperand::IfNotExists(p, Box::new(b)),
                    _ => {
                        self.defer(
                            ErrClass::Function,
                            "Operator or function requires a document path; operator or function: if_not_exists",
                        );
                        placeholder
                    }
                });
            }
            self.check_literal_types("list_append", &[&a, &b], "L");
            return Ok(UOperand::ListAppend(Box::new(a), Box::new(b)));
        }
        match self.peek() {
            Tok::Value(_) => Ok(UOperand::Value(self.value_ref()?)),
            Tok::Ident(_) | Tok::Name(_) => Ok(UOperand::Path(self.path()?)),
            _ => Err(self.syntax()),
        }
    }

    fn check_literal_types(&mut self, name: &str, ops: &[&UOperand], want: &str) {
        for o in ops {
            if let UOperand::Value(v) = o {
                if v.type_name() != want {
                    self.defer(
                        ErrClass::Function,
                        format!(
                            "Incorrect operand type for operator or function; operator or function: {name}, operand type: {}",
                            v.type_name()
                        ),
                    );
                    return;
                }
            }
        }
    }

    fn set_value(&mut self) -> Result<SetValue, ExprError> {
        let a = self.u_operand()?;
        match self.peek() {
            Tok::Plus | Tok::Minus => {
                let plus = *self.peek() == Tok::Plus;
                self.advance();
                let b = self.u_operand()?;
                self.check_literal_types(if plus { "+" } else { "-" }, &[&a, &b], "N");
                Ok(if plus { SetValue::Plus(a, b) } else { SetValue::Minus(a, b) })
            }
            _ => Ok(SetValue::Operand(a)),
        }
    }
}

fn eval_u(o: &UOperand, item: &Item) -> Result<AttrValue, ExprError> {
    match o {
        UOperand::Path(p) => p.resolve(item).cloned().ok_or_else(missing_attr),
        UOperand::Value(v) => Ok(v.clone()),
        UOperand::IfNotExists(p, d) => match p.resolve(item) {
            Some(v) => Ok(v.clone()),
            None => eval_u(d, item),
        },
        UOperand::ListAppend(a, b) => {
            let (a, b) = (eval_u(a, item)?, eval_u(b, item)?);
            match (a, b) {
                (AttrValue::L(mut x), AttrValue::L(y)) => {
                    x.extend(y);
                    Ok(AttrValue::L(x))
                }
                _ => Err(incorrect_type()),
            }
        }
    }
}

fn eval_set(v: &SetValue, item: &Item) -> Result<AttrValue, ExprError> {
    match v {
        SetValue::Operand(o) => eval_u(o, item),
        SetValue::Plus(a, b) | SetValue::Minus(a, b) => {
            let (a, b) = (eval_u(a, item)?, eval_u(b, item)?);
            match (a, b) {
                (AttrValue::N(x), AttrValue::N(y)) => Ok(AttrValue::N(if matches!(v, SetValue::Plus(..)) {
                    x.add(&y)?
                } else {
                    x.sub(&y)?
                })),
                _ => Err(incorrect_type()),
            }
        }
    }
}

/// Navigates to the container holding the last path element.
fn parent_mut<'i>(item: &'i mut Item, path: &Path) -> Result<Option<&'i mut AttrValue>, ExprError> {
    let elems = &path.0;
    if elems.len() < 2 {
        return Ok(None);
    }
    let PathElem::Name(first) = &elems[0] else { return Err(invalid_path()) };
    let mut cur = item.get_mut(first).ok_or_else(invalid_path)?;
    for e in &elems[1..elems.len() - 1] {
        cur = match (e, cur) {
            (PathElem::Name(n), AttrValue::M(m)) => m.get_mut(n).ok_or_else(invalid_path)?,
            (PathElem::Index(i), AttrValue::L(l)) => l.get_mut(*i).ok_or_else(invalid_path)?,
            _ => return Err(invalid_path()),
        };
    }
    Ok(Some(cur))
}

fn set_path(item: &mut Item, path: &Path, v: AttrValue) -> Result<(), ExprError> {
    let last = path.0.last().ok_or_else(invalid_path)?;
    match parent_mut(item, path)? {
        None => match last {
            PathElem::Name(n) => {
                item.insert(n.clone(), v);
                Ok(())
            }
            PathElem::Index(_) => Err(invalid_path()),
        },
        Some(parent) => match (last, parent) {
            (PathElem::Name(n), AttrValue::M(m)) => {
                m.insert(n.clone(), v);
                Ok(())
            }
            (PathElem::Index(i), AttrValue::L(l)) => {
                if *i < l.len() {
                    l[*i] = v;
                } else {
                    l.push(v);
                }
                Ok(())
            }
            _ => Err(invalid_path()),
        },
    }
}

fn remove_path(item: &mut Item, path: &Path) -> Result<(), ExprError> {
    let last = path.0.last().ok_or_else(invalid_path)?;
    match parent_mut(item, path)? {
        None => {
            if let PathElem::Name(n) = last {
                item.remove(n);
            }
            Ok(())
        }
        Some(parent) => match (last, parent) {
            (PathElem::Name(n), AttrValue::M(m)) => {
                m.remove(n);
                Ok(())
            }
            (PathElem::Index(i), AttrValue::L(l)) => {
                if *i < l.len() {
                    l.remove(*i);
                }
                Ok(())
            }
            _ => Err(invalid_path()),
        },
    }
}

fn union<T: PartialEq + Clone>(a: &mut Vec<T>, b: &[T]) {
    for x in b {
        if !a.contains(x) {
            a.push(x.clone());
        }
    }
}

impl Update {
    pub fn parse(expr: &str, ctx: &mut ExprContext) -> Result<Update, ExprError> {
        let kind = "UpdateExpression";
        let mut p = Parser::new(kind, expr, ctx)?;
        let mut actions = Vec::new();
        let mut seen: Vec<String> = Vec::new();
        while *p.peek() != Tok::Eof {
            let clause = match p.peek() {
                Tok::Ident(s) => s.to_ascii_uppercase(),
                _ => return Err(p.syntax()),
            };
            if !matches!(clause.as_str(), "SET" | "REMOVE" | "ADD" | "DELETE") {
                return Err(p.syntax());
            }
            p.advance();
            if seen.contains(&clause) {
                p.defer(
                    ErrClass::Section,
                    format!("The \"{clause}\" section can only be used once in an update expression;"),
                );
            }
            seen.push(clause.clone());
            loop {
                let path = p.path()?;
                let action = match clause.as_str() {
                    "SET" => {
                        p.expect(Tok::Eq)?;
                        Action::Set(path, p.set_value()?)
                    }
                    "REMOVE" => Action::Remove(path),
                    _ => {
                        let v = p.value_ref()?;
                        let ok = if clause == "ADD" {
                            matches!(v, AttrValue::N(_) | AttrValue::Ss(_) | AttrValue::Ns(_) | AttrValue::Bs(_))
                        } else {
                            matches!(v, AttrValue::Ss(_) | AttrValue::Ns(_) | AttrValue::Bs(_))
                        };
                        if !ok {
                            p.defer(
                                ErrClass::Operand,
                                format!(
                                    "Incorrect operand type for operator or function; operator: {clause}, operand type: {}, typeSet: ALLOWED_FOR_{clause}_OPERAND",
                                    v.long_type_name()
                                ),
                            );
                        }
                        if clause == "ADD" {
                            Action::Add(path, v)
                        } else {
                            Action::Delete(path, v)
                        }
                    }
                };
                actions.push(action);
                if *p.peek() == Tok::Comma {
                    p.advance();
                } else {
                    break;
                }
            }
        }
        if *p.peek() != Tok::Eof {
            return Err(p.syntax());
        }
        let paths: Vec<&Path> = actions.iter().map(|a| a.path()).collect();
        check_overlaps(&mut p, &paths);
        p.take_deferred()?;
        Ok(Update { actions })
    }

    /// Top-level attribute names this update touches, in expression order.
    pub fn top_level_names(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for a in &self.actions {
            let t = a.path().top().to_string();
            if !out.contains(&t) {
                out.push(t);
            }
        }
        out
    }

    /// Applies the update in place. All right-hand sides are evaluated
    /// against the item as it was before the update. On error the item is
    /// left unchanged. Returns the top-level attribute names touched.
    pub fn apply(&self, item: &mut Item) -> Result<Vec<String>, ExprError> {
        let original = item.clone();
        let mut work = item.clone();
        // Evaluate SET values first, against the original item.
        let mut set_values = Vec::new();
        for a in &self.actions {
            if let Action::Set(_, v) = a {
                set_values.push(eval_set(v, &original)?);
            }
        }
        let mut set_values = set_values.into_iter();
        let mut removes: Vec<&Path> = Vec::new();
        for a in &self.actions {
            match a {
                Action::Set(p, _) => {
                    // One value was evaluated per SET action, in order, just above.
                    let Some(v) = set_values.next() else { break };
                    set_path(&mut work, p, v)?;
                }
                Action::Remove(p) => removes.push(p),
                Action::Add(p, v) => {
                    let new = match (p.resolve(&work), v) {
                        (None, v) => v.clone(),
                        (Some(AttrValue::N(x)), AttrValue::N(y)) => AttrValue::N(x.add(y)?),
                        (Some(AttrValue::Ss(x)), AttrValue::Ss(y)) => {
                            let mut x = x.clone();
                            union(&mut x, y);
                            AttrValue::Ss(x)
                        }
                        (Some(AttrValue::Ns(x)), AttrValue::Ns(y)) => {
                            let mut x = x.clone();
                            union(&mut x, y);
                            AttrValue::Ns(x)
                        }
                        (Some(AttrValue::Bs(x)), AttrValue::Bs(y)) => {
                            let mut x = x.clone();
                            union(&mut x, y);
                            AttrValue::Bs(x)
                        }
                        _ => return Err(incorrect_type()),
                    };
                    set_path(&mut work, p, new)?;
                }
                Action::Delete(p, v) => {
                    let new = match (p.resolve(&work), v) {
                        (None, _) => {
                            // Validate the parent exists for nested paths.
                            parent_mut(&mut work, p)?;
                            continue;
                        }
                        (Some(AttrValue::Ss(x)), AttrValue::Ss(y)) => {
                            let r: Vec<String> = x.iter().filter(|e| !y.contains(e)).cloned().collect();
                            (!r.is_empty()).then_some(AttrValue::Ss(r))
                        }
                        (Some(AttrValue::Ns(x)), AttrValue::Ns(y)) => {
                            let r: Vec<_> = x.iter().filter(|e| !y.contains(e)).cloned().collect();
                            (!r.is_empty()).then_some(AttrValue::Ns(r))
                        }
                        (Some(AttrValue::Bs(x)), AttrValue::Bs(y)) => {
                            let r: Vec<_> = x.iter().filter(|e| !y.contains(e)).cloned().collect();
                            (!r.is_empty()).then_some(AttrValue::Bs(r))
                        }
                        _ => return Err(incorrect_type()),
                    };
                    match new {
                        Some(v) => set_path(&mut work, p, v)?,
                        None => remove_path(&mut work, p)?,
                    }
                }
            }
        }
        // Removals refer to the original positions: apply highest index first.
        removes.sort();
        for p in removes.into_iter().rev() {
            remove_path(&mut work, p)?;
        }
        *item = work;
        Ok(self.top_level_names())
    }
}
