use super::*;
use proptest::prelude::*;
use serde_json::json;

const FIELDS: &[Field] = &[
    Field { path: "id", kind: FieldKind::Text },
    Field { path: "name", kind: FieldKind::Text },
    Field { path: "amount", kind: FieldKind::Number },
    Field { path: "created", kind: FieldKind::DateTime },
    Field { path: "isCompleted", kind: FieldKind::Bool },
    Field { path: "tags.*", kind: FieldKind::Text },
    Field { path: "lines.status", kind: FieldKind::Text },
];
const SCHEMA: Schema = Schema { entity: "Thing", fields: FIELDS };

fn record() -> Value {
    json!({
        "id": "a1",
        "name": "Acme Widgets & Co",
        "amount": "120.50",
        "created": "2024-03-01T10:00:00Z",
        "isCompleted": true,
        "tags": {"region": "UK", "team": "risk"},
        "lines": [{"status": "Open"}, {"status": "Paid"}],
    })
}

fn q(s: &str) -> Query {
    Query::parse(s, &SCHEMA).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn err(s: &str) -> String {
    Query::parse(s, &SCHEMA).expect_err(s).to_string()
}

#[test]
fn text_equality_is_case_insensitive_and_contains_works() {
    assert!(q("name=acme widgets & co").matches(&record()));
    assert!(q("name~WIDGET").matches(&record()));
    assert!(!q("name~gadget").matches(&record()));
    assert!(q("name!=Other").matches(&record()));
    assert!(!q("name!=ACME WIDGETS & CO").matches(&record()));
}

#[test]
fn numbers_compare_as_decimals_not_strings() {
    assert!(q("amount>100").matches(&record()));
    assert!(q("amount>=120.5").matches(&record()));
    assert!(q("amount=120.500").matches(&record()));
    assert!(!q("amount<99.99").matches(&record()));
    // As strings "120.50" < "99" would hold; as decimals it must not.
    assert!(!q("amount<99").matches(&record()));
}

#[test]
fn dates_compare_as_instants() {
    assert!(q("created>2024-03-01").matches(&record()));
    assert!(q("created=2024-03-01T11:00:00+01:00").matches(&record()));
    assert!(q("created<2024-03-01T10:00:01Z").matches(&record()));
    assert!(!q("created>2024-03-02").matches(&record()));
}

#[test]
fn booleans_arrays_and_maps() {
    assert!(q("isCompleted=true").matches(&record()));
    assert!(q("isCompleted!=false").matches(&record()));
    assert!(q("lines.status=paid").matches(&record()));
    assert!(!q("lines.status!=paid").matches(&record()));
    assert!(q("tags.region=uk").matches(&record()));
    assert!(!q("tags.missing=uk").matches(&record()));
    assert!(q("tags.missing!=uk").matches(&record()));
}

#[test]
fn and_binds_tighter_than_or_and_groups_override() {
    // false && true || true  => true
    assert!(q("name=x&&id=a1||id=a1").matches(&record()));
    // false && {true || true} => false
    assert!(!q("name=x&&{id=a1||id=a1}").matches(&record()));
    assert!(q("{ name = x || id = a1 } && amount > 1").matches(&record()));
}

#[test]
fn quoted_values_may_hold_operators() {
    let r = json!({"name": "a&&b || c}"});
    assert!(q(r#"name="a&&b || c}""#).matches(&r));
    assert!(q(r#"name="say \"hi\"""#).matches(&json!({"name": "say \"hi\""})));
}

#[test]
fn unknown_properties_and_bad_values_are_reported() {
    assert_eq!(err("nope=1"), "Error parsing query - Could not resolve property nope on Thing");
    assert_eq!(err("tags=1"), "Error parsing query - Could not resolve property tags on Thing");
    assert!(err("amount>abc").contains("'abc' is not a valid number for amount"));
    assert!(err("created>yesterday").contains("not a valid date"));
    assert!(err("isCompleted~tr").contains("operator ~ cannot be used with boolean"));
    assert!(err("amount~1").contains("operator ~ cannot be used"));
}

#[test]
fn malformed_queries_are_reported_with_position() {
    for bad in
        ["", "   ", "name", "name=", "=x", "{name=x", "name=x}", "name=x&&", "||name=x", "name==x&&", "name=\"open"]
    {
        let message = Query::parse(bad, &SCHEMA).expect_err(bad).to_string();
        assert!(message.starts_with("Error parsing query - Malformed query"), "{bad}: {message}");
    }
    assert!(err("name=x&&{").contains("at the end of the query"));
}

#[test]
fn nesting_and_length_are_bounded() {
    let deep = format!("{}name=x{}", "{".repeat(40), "}".repeat(40));
    assert!(err(&deep).contains("nested too deeply"));
    let long = format!("name={}", "x".repeat(MAX_QUERY_LEN));
    assert!(err(&long).contains("longer than"));
}

#[test]
fn order_by_sorts_typed_with_missing_last() {
    let mut items = [json!({"id": "1", "amount": "9"}), json!({"id": "2", "amount": "10"}), json!({"id": "3"})];
    let asc = OrderBy::parse("amount", &SCHEMA).expect("valid");
    items.sort_by(|a, b| asc.compare(a, b));
    assert_eq!(items.iter().map(|v| v["id"].as_str().unwrap_or("")).collect::<Vec<_>>(), ["1", "2", "3"]);
    let desc = OrderBy::parse("-amount", &SCHEMA).expect("valid");
    items.sort_by(|a, b| desc.compare(a, b));
    assert_eq!(items.iter().map(|v| v["id"].as_str().unwrap_or("")).collect::<Vec<_>>(), ["2", "1", "3"]);
    assert!(OrderBy::parse("-bogus", &SCHEMA).is_err());
    assert!(OrderBy::parse("-", &SCHEMA).is_err());
}

// ---- property tests ----

fn arb_value() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9 .:@-]{0,10}[A-Za-z0-9]?"
}

fn arb_cond() -> impl Strategy<Value = Condition> {
    (
        prop::sample::select(vec!["id", "name", "tags.region", "lines.status"]),
        prop::sample::select(vec![Op::Eq, Op::Ne, Op::Contains, Op::Gt, Op::Lt, Op::Ge, Op::Le]),
        arb_value(),
    )
        .prop_map(|(path, op, value)| Condition { path: path.to_string(), op, value: value.trim().to_string() })
}

fn arb_expr() -> impl Strategy<Value = Expr> {
    arb_cond().prop_map(Expr::Cond).prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(Expr::And),
            prop::collection::vec(inner, 2..4).prop_map(Expr::Or),
        ]
    })
}

/// Renders an expression; `quote` chooses quoted or raw values.
fn render(expr: &Expr, quote: bool) -> String {
    match expr {
        Expr::Cond(c) => {
            let value = if quote { format!("\"{}\"", c.value) } else { c.value.clone() };
            format!("{}{}{}", c.path, c.op.symbol(), value)
        }
        Expr::And(terms) => terms.iter().map(|t| format!("{{{}}}", render(t, quote))).collect::<Vec<_>>().join("&&"),
        Expr::Or(terms) => terms.iter().map(|t| render(t, quote)).collect::<Vec<_>>().join(" || "),
    }
}

/// Flattens nested same-kind nodes, as the parser produces them.
fn normalise(expr: Expr) -> Expr {
    match expr {
        Expr::Cond(c) => Expr::Cond(c),
        Expr::And(terms) => Expr::And(
            terms.into_iter().map(normalise).flat_map(|t| if let Expr::And(x) = t { x } else { vec![t] }).collect(),
        ),
        Expr::Or(terms) => Expr::Or(
            terms.into_iter().map(normalise).flat_map(|t| if let Expr::Or(x) = t { x } else { vec![t] }).collect(),
        ),
    }
}

fn reference_eval(expr: &Expr, record: &Value) -> bool {
    match expr {
        Expr::And(t) => t.iter().all(|e| reference_eval(e, record)),
        Expr::Or(t) => t.iter().any(|e| reference_eval(e, record)),
        Expr::Cond(c) => q(&render(&Expr::Cond(c.clone()), true)).matches(record),
    }
}

proptest! {
    #[test]
    fn parser_never_panics(input in ".{0,200}") {
        let _ = parse(&input);
        let _ = Query::parse(&input, &SCHEMA);
    }

    #[test]
    fn rendered_expressions_parse_back(expr in arb_expr(), quote in any::<bool>()) {
        let text = render(&expr, quote);
        let parsed = parse(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        prop_assert_eq!(normalise(parsed), normalise(expr));
    }

    #[test]
    fn evaluation_follows_boolean_structure(expr in arb_expr(), name in arb_value(), status in arb_value()) {
        let record = json!({"id": "x1", "name": name, "tags": {"region": "uk"}, "lines": [{"status": status}]});
        let query = Query::parse(&render(&expr, true), &SCHEMA).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(query.matches(&record), reference_eval(&expr, &record));
    }

    #[test]
    fn equals_and_not_equals_are_complements_on_scalars(value in arb_value(), probe in arb_value()) {
        let record = json!({"name": value});
        let eq = q(&format!("name=\"{}\"", probe.trim())).matches(&record);
        let ne = q(&format!("name!=\"{}\"", probe.trim())).matches(&record);
        prop_assert_ne!(eq, ne);
    }
}
