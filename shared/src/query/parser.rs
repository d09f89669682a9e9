//! Recursive-descent parser for Codat's query language.
//!
//! ```text
//! expr  := and ( "||" and )*
//! and   := atom ( "&&" atom )*
//! atom  := "{" expr "}" | cond
//! cond  := path op value
//! path  := name ( "." name )*          name: letters, digits, '_' or '-'
//! op    := "=" | "!=" | "~" | ">" | "<" | ">=" | "<="
//! value := '"' chars '"'  |  raw chars up to "&&", "||" or "}" (trimmed)
//! ```
//! `&&` binds tighter than `||`. Raw values may contain spaces; quote a value
//! to include `&&`, `||`, `}` or surrounding spaces (`\"` and `\\` escape).

use super::{Condition, Expr, Op, QueryError};

/// Longest query accepted, in bytes.
pub const MAX_QUERY_LEN: usize = 4096;
/// Deepest `{ }` nesting accepted.
const MAX_DEPTH: usize = 32;

pub(super) fn parse(input: &str) -> Result<Expr, QueryError> {
    if input.len() > MAX_QUERY_LEN {
        return Err(QueryError::malformed(format!("the query is longer than {MAX_QUERY_LEN} characters")));
    }
    let mut p = Parser { src: input, pos: 0, depth: 0 };
    p.skip_ws();
    if p.at_end() {
        return Err(QueryError::malformed("the query is empty"));
    }
    let expr = p.expr()?;
    p.skip_ws();
    if !p.at_end() {
        return Err(p.error("unexpected text"));
    }
    Ok(expr)
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.src[self.pos..]
    }

    fn at_end(&self) -> bool {
        self.pos >= self.src.len()
    }

    fn skip_ws(&mut self) {
        let trimmed = self.rest().trim_start();
        self.pos = self.src.len() - trimmed.len();
    }

    fn eat(&mut self, token: &str) -> bool {
        self.skip_ws();
        if self.rest().starts_with(token) {
            self.pos += token.len();
            true
        } else {
            false
        }
    }

    fn error(&self, what: &str) -> QueryError {
        let near: String = self.rest().chars().take(20).collect();
        if near.is_empty() {
            QueryError::malformed(format!("{what} at the end of the query"))
        } else {
            QueryError::malformed(format!("{what} at position {} ('{near}')", self.pos + 1))
        }
    }

    fn expr(&mut self) -> Result<Expr, QueryError> {
        let mut terms = vec![self.and()?];
        while self.eat("||") {
            terms.push(self.and()?);
        }
        Ok(if terms.len() == 1 { terms.remove(0) } else { Expr::Or(terms) })
    }

    fn and(&mut self) -> Result<Expr, QueryError> {
        let mut terms = vec![self.atom()?];
        while self.eat("&&") {
            terms.push(self.atom()?);
        }
        Ok(if terms.len() == 1 { terms.remove(0) } else { Expr::And(terms) })
    }

    fn atom(&mut self) -> Result<Expr, QueryError> {
        if self.eat("{") {
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return Err(self.error("groups nested too deeply"));
            }
            let inner = self.expr()?;
            if !self.eat("}") {
                return Err(self.error("expected '}'"));
            }
            self.depth -= 1;
            return Ok(inner);
        }
        self.condition().map(Expr::Cond)
    }

    fn condition(&mut self) -> Result<Condition, QueryError> {
        self.skip_ws();
        let path = self.path()?;
        self.skip_ws();
        let op =
            self.op().ok_or_else(|| self.error(&format!("expected an operator (= != ~ > < >= <=) after '{path}'")))?;
        self.skip_ws();
        let value = self.value()?;
        Ok(Condition { path, op, value })
    }

    fn path(&mut self) -> Result<String, QueryError> {
        let start = self.pos;
        loop {
            let name_len = self
                .rest()
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                .unwrap_or(self.rest().len());
            if name_len == 0 {
                return Err(self.error("expected a property name"));
            }
            self.pos += name_len;
            if self.rest().starts_with('.') {
                self.pos += 1;
            } else {
                break;
            }
        }
        Ok(self.src[start..self.pos].to_string())
    }

    fn op(&mut self) -> Option<Op> {
        const OPS: [(&str, Op); 7] = [
            ("!=", Op::Ne),
            (">=", Op::Ge),
            ("<=", Op::Le),
            ("=", Op::Eq),
            ("~", Op::Contains),
            (">", Op::Gt),
            ("<", Op::Lt),
        ];
        let (token, op) = OPS.iter().find(|(token, _)| self.rest().starts_with(token))?;
        self.pos += token.len();
        Some(*op)
    }

    fn value(&mut self) -> Result<String, QueryError> {
        if self.rest().starts_with('"') {
            return self.quoted();
        }
        let rest = self.rest();
        let end = ["&&", "||", "}"].iter().filter_map(|stop| rest.find(stop)).min().unwrap_or(rest.len());
        let value = rest[..end].trim_end().to_string();
        if value.is_empty() {
            return Err(self.error("expected a value"));
        }
        if value.contains('"') {
            return Err(self.error("a value containing '\"' must be quoted"));
        }
        self.pos += end;
        Ok(value)
    }

    fn quoted(&mut self) -> Result<String, QueryError> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        let mut chars = self.rest().char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.pos += i + 1;
                    return Ok(out);
                }
                '\\' => match chars.next() {
                    Some((_, escaped @ ('"' | '\\'))) => out.push(escaped),
                    _ => {
                        self.pos += i;
                        return Err(self.error("only \\\" and \\\\ may be escaped"));
                    }
                },
                c => out.push(c),
            }
        }
        self.pos = start;
        Err(self.error("unterminated quoted value"))
    }
}
