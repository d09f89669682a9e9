//! Codat's query language (`query=status=Linked&&{name~acme||tags.region=uk}`) and `orderBy`,
//! written once for every list of the API.
//!
//! A query is parsed ([`parser`]), then bound to the [`Schema`] of the listed resource: every
//! property must exist and every value must parse as the property's kind, so mistakes answer
//! 400 "Error parsing query - ..." instead of silently matching nothing. Bound queries evaluate
//! against the JSON wire form of a record, so what a caller filters on is exactly what they read.
//!
//! Semantics: text compares case-insensitively (`~` is "contains"); numbers compare as decimals;
//! dates compare as instants (a bare date means midnight UTC); booleans support `=` and `!=` only.
//! A path through an array matches when any element matches (`!=` when none equals). A missing or
//! null property equals nothing, so it matches `!=` and no other operator.

mod parser;

use std::cmp::Ordering;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use rust_decimal::Decimal;
use serde_json::Value;

pub use parser::MAX_QUERY_LEN;

/// Why a query or orderBy was refused; displays as Codat's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Error parsing query - {detail}")]
pub struct QueryError {
    detail: String,
}

impl QueryError {
    fn malformed(detail: impl Into<String>) -> Self {
        Self { detail: format!("Malformed query: {}", detail.into()) }
    }

    fn unresolved(path: &str, entity: &str) -> Self {
        Self { detail: format!("Could not resolve property {path} on {entity}") }
    }

    fn invalid(detail: impl Into<String>) -> Self {
        Self { detail: detail.into() }
    }
}

/// How a property's values compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// Case-insensitive text; `~` means contains.
    Text,
    /// Decimal numbers (JSON numbers or numeric strings).
    Number,
    /// ISO 8601 instants; a bare date is midnight UTC.
    DateTime,
    /// `true` / `false`, equality only.
    Bool,
}

/// A queryable property: a dot path where `*` matches any key (e.g. `tags.*`).
#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// Dot path in the wire JSON.
    pub path: &'static str,
    /// How values of the property compare.
    pub kind: FieldKind,
}

/// The queryable properties of one listed resource.
#[derive(Debug, Clone, Copy)]
pub struct Schema {
    /// Name used in errors ("Could not resolve property x on Company").
    pub entity: &'static str,
    /// Known properties.
    pub fields: &'static [Field],
}

impl Schema {
    fn resolve(&self, path: &str) -> Result<FieldKind, QueryError> {
        let segments: Vec<&str> = path.split('.').collect();
        self.fields
            .iter()
            .find(|field| {
                let pattern: Vec<&str> = field.path.split('.').collect();
                pattern.len() == segments.len() && pattern.iter().zip(&segments).all(|(p, s)| *p == "*" || p == s)
            })
            .map(|field| field.kind)
            .ok_or_else(|| QueryError::unresolved(path, self.entity))
    }
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `~` (contains)
    Contains,
    /// `>`
    Gt,
    /// `<`
    Lt,
    /// `>=`
    Ge,
    /// `<=`
    Le,
}

impl Op {
    fn symbol(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Contains => "~",
            Op::Gt => ">",
            Op::Lt => "<",
            Op::Ge => ">=",
            Op::Le => "<=",
        }
    }
}

/// One `path op value` comparison as written.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// Dot path.
    pub path: String,
    /// Operator.
    pub op: Op,
    /// Raw (unquoted) value.
    pub value: String,
}

/// Parsed query syntax tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A single comparison.
    Cond(Condition),
    /// All must hold.
    And(Vec<Expr>),
    /// Any must hold.
    Or(Vec<Expr>),
}

/// Parses a query's syntax without binding it to a schema.
pub fn parse(input: &str) -> Result<Expr, QueryError> {
    parser::parse(input)
}

/// A typed literal, parsed once at bind time.
#[derive(Debug, Clone, PartialEq)]
enum Literal {
    Text(String),
    Number(Decimal),
    DateTime(DateTime<Utc>),
    Bool(bool),
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Cond { segments: Vec<String>, op: Op, literal: Literal },
    And(Vec<Node>),
    Or(Vec<Node>),
}

/// A query bound to a schema, ready to evaluate against wire JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    root: Node,
}

impl Query {
    /// Parses `input` and binds it to `schema`.
    pub fn parse(input: &str, schema: &Schema) -> Result<Self, QueryError> {
        let expr = parser::parse(input)?;
        Ok(Self { root: bind(&expr, schema)? })
    }

    /// Whether the record (its wire JSON) satisfies the query.
    pub fn matches(&self, record: &Value) -> bool {
        eval(&self.root, record)
    }

    /// The top-level properties the query reads (first segment of each path).
    pub fn roots(&self) -> Vec<&str> {
        fn walk<'q>(node: &'q Node, out: &mut Vec<&'q str>) {
            match node {
                Node::And(terms) | Node::Or(terms) => terms.iter().for_each(|t| walk(t, out)),
                Node::Cond { segments, .. } => out.extend(segments.first().map(String::as_str)),
            }
        }
        let mut out = Vec::new();
        walk(&self.root, &mut out);
        out
    }
}

fn bind(expr: &Expr, schema: &Schema) -> Result<Node, QueryError> {
    Ok(match expr {
        Expr::And(terms) => Node::And(terms.iter().map(|t| bind(t, schema)).collect::<Result<_, _>>()?),
        Expr::Or(terms) => Node::Or(terms.iter().map(|t| bind(t, schema)).collect::<Result<_, _>>()?),
        Expr::Cond(c) => {
            let kind = schema.resolve(&c.path)?;
            let allowed = match kind {
                FieldKind::Bool => matches!(c.op, Op::Eq | Op::Ne),
                FieldKind::Number | FieldKind::DateTime => c.op != Op::Contains,
                FieldKind::Text => true,
            };
            if !allowed {
                return Err(QueryError::invalid(format!(
                    "operator {} cannot be used with {} property {}",
                    c.op.symbol(),
                    kind_name(kind),
                    c.path
                )));
            }
            let literal = parse_literal(kind, &c.value).ok_or_else(|| {
                QueryError::invalid(format!("'{}' is not a valid {} for {}", c.value, kind_name(kind), c.path))
            })?;
            Node::Cond { segments: c.path.split('.').map(str::to_string).collect(), op: c.op, literal }
        }
    })
}

fn kind_name(kind: FieldKind) -> &'static str {
    match kind {
        FieldKind::Text => "text",
        FieldKind::Number => "number",
        FieldKind::DateTime => "date",
        FieldKind::Bool => "boolean",
    }
}

fn parse_literal(kind: FieldKind, raw: &str) -> Option<Literal> {
    match kind {
        FieldKind::Text => Some(Literal::Text(raw.to_lowercase())),
        FieldKind::Number => parse_decimal(raw).map(Literal::Number),
        FieldKind::DateTime => parse_datetime(raw).map(Literal::DateTime),
        FieldKind::Bool => match raw.to_ascii_lowercase().as_str() {
            "true" => Some(Literal::Bool(true)),
            "false" => Some(Literal::Bool(false)),
            _ => None,
        },
    }
}

fn parse_decimal(raw: &str) -> Option<Decimal> {
    Decimal::from_str(raw.trim()).or_else(|_| Decimal::from_scientific(raw.trim())).ok()
}

/// Parses an ISO 8601 instant; a value without offset is UTC and a bare date is midnight UTC.
pub fn parse_datetime(raw: &str) -> Option<DateTime<Utc>> {
    let raw = raw.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(raw) {
        return Some(dt.with_timezone(&Utc));
    }
    if let Ok(naive) = NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(naive.and_utc());
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)).map(|naive| naive.and_utc())
}

/// Every value at `segments` below `value`, looking through arrays at each step.
fn collect<'v>(value: &'v Value, segments: &[String], out: &mut Vec<&'v Value>) {
    match value {
        Value::Array(items) => items.iter().for_each(|item| collect(item, segments, out)),
        Value::Null => {}
        _ if segments.is_empty() => out.push(value),
        Value::Object(map) => {
            if let Some(child) = map.get(&segments[0]) {
                collect(child, &segments[1..], out);
            }
        }
        _ => {}
    }
}

fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Typed comparison of a JSON value with a literal of the same kind.
fn compare(value: &Value, literal: &Literal) -> Option<Ordering> {
    match literal {
        Literal::Text(want) => text_of(value).map(|have| have.to_lowercase().cmp(want)),
        Literal::Number(want) => text_of(value).and_then(|s| parse_decimal(&s)).map(|have| have.cmp(want)),
        Literal::DateTime(want) => value.as_str().and_then(parse_datetime).map(|have| have.cmp(want)),
        Literal::Bool(want) => match value {
            Value::Bool(have) => Some(have.cmp(want)),
            Value::String(s) => s.parse::<bool>().ok().map(|have| have.cmp(want)),
            _ => None,
        },
    }
}

fn holds(value: &Value, op: Op, literal: &Literal) -> bool {
    if op == Op::Contains {
        let Literal::Text(needle) = literal else {
            return false;
        };
        return text_of(value).is_some_and(|have| have.to_lowercase().contains(needle.as_str()));
    }
    let Some(ord) = compare(value, literal) else {
        return false;
    };
    match op {
        Op::Eq => ord == Ordering::Equal,
        Op::Gt => ord == Ordering::Greater,
        Op::Lt => ord == Ordering::Less,
        Op::Ge => ord != Ordering::Less,
        Op::Le => ord != Ordering::Greater,
        Op::Ne | Op::Contains => unreachable!("handled by the caller"),
    }
}

fn eval(node: &Node, record: &Value) -> bool {
    match node {
        Node::And(terms) => terms.iter().all(|t| eval(t, record)),
        Node::Or(terms) => terms.iter().any(|t| eval(t, record)),
        Node::Cond { segments, op, literal } => {
            let mut values = Vec::new();
            collect(record, segments, &mut values);
            if *op == Op::Ne {
                !values.iter().any(|v| holds(v, Op::Eq, literal))
            } else {
                values.iter().any(|v| holds(v, *op, literal))
            }
        }
    }
}

/// Sort keys from `orderBy` (`field`, `-field` descending; several comma-separated).
#[derive(Debug, Clone, PartialEq)]
pub struct OrderBy {
    keys: Vec<SortKey>,
}

#[derive(Debug, Clone, PartialEq)]
struct SortKey {
    segments: Vec<String>,
    kind: FieldKind,
    descending: bool,
}

impl OrderBy {
    /// Parses `orderBy` against the schema's properties.
    pub fn parse(input: &str, schema: &Schema) -> Result<Self, QueryError> {
        let keys = input
            .split(',')
            .map(|part| {
                let part = part.trim();
                let (descending, path) = match part.strip_prefix('-') {
                    Some(path) => (true, path.trim()),
                    None => (false, part),
                };
                if path.is_empty() {
                    return Err(QueryError::invalid(format!("orderBy '{input}' names no property")));
                }
                let kind = schema.resolve(path)?;
                Ok(SortKey { segments: path.split('.').map(str::to_string).collect(), kind, descending })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { keys })
    }

    /// The top-level properties the sort reads.
    pub fn roots(&self) -> Vec<&str> {
        self.keys.iter().filter_map(|k| k.segments.first().map(String::as_str)).collect()
    }

    /// Compares two records; missing values sort last in either direction.
    pub fn compare(&self, a: &Value, b: &Value) -> Ordering {
        for key in &self.keys {
            let (x, y) = (first(a, &key.segments), first(b, &key.segments));
            let ord = match (x, y) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(x), Some(y)) => {
                    let ord = compare_values(x, y, key.kind);
                    if key.descending { ord.reverse() } else { ord }
                }
            };
            if ord != Ordering::Equal {
                return ord;
            }
        }
        Ordering::Equal
    }
}

fn first<'v>(value: &'v Value, segments: &[String]) -> Option<&'v Value> {
    let mut out = Vec::new();
    collect(value, segments, &mut out);
    out.into_iter().next()
}

fn compare_values(x: &Value, y: &Value, kind: FieldKind) -> Ordering {
    let typed = |v: &Value| -> Option<Literal> {
        match kind {
            FieldKind::Text => text_of(v).map(|s| Literal::Text(s.to_lowercase())),
            _ => text_of(v).and_then(|s| parse_literal(kind, &s)),
        }
    };
    match (typed(x), typed(y)) {
        (Some(Literal::Text(a)), Some(Literal::Text(b))) => a.cmp(&b),
        (Some(Literal::Number(a)), Some(Literal::Number(b))) => a.cmp(&b),
        (Some(Literal::DateTime(a)), Some(Literal::DateTime(b))) => a.cmp(&b),
        (Some(Literal::Bool(a)), Some(Literal::Bool(b))) => a.cmp(&b),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        _ => Ordering::Equal,
    }
}

#[cfg(test)]
mod tests;
