//! Codat list parameters (`page`, `pageSize`, `query`, `orderBy`) and the list envelope
//! (`results, pageNumber, pageSize, totalResults, _links`), for every list of the API.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde_json::{Value, json};
use url::form_urlencoded;

use super::BadInput;
use crate::query::{OrderBy, Query, Schema};

/// Default `pageSize`.
pub const DEFAULT_PAGE_SIZE: u32 = 100;
/// Largest `pageSize`.
pub const MAX_PAGE_SIZE: u32 = 5000;

/// The decoded query string of a request: each parameter at most once.
#[derive(Debug, Clone, Default)]
pub struct QueryParams(BTreeMap<String, String>);

impl QueryParams {
    /// Decodes a raw query string; a repeated parameter is refused.
    pub fn parse(raw: Option<&str>) -> Result<Self, BadInput> {
        let mut params = BTreeMap::new();
        for (key, value) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
            if params.insert(key.to_string(), value.to_string()).is_some() {
                return Err(BadInput::message(format!("Query parameter '{key}' is given more than once")));
            }
        }
        Ok(Self(params))
    }

    /// A parameter's value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
}

/// Validated list parameters for one resource.
#[derive(Debug, Clone)]
pub struct ListParams {
    /// 1-based page.
    pub page: u32,
    /// Items per page.
    pub page_size: u32,
    /// Filter.
    pub query: Option<Query>,
    /// Sort.
    pub order_by: Option<OrderBy>,
    raw_query: Option<String>,
    raw_order_by: Option<String>,
}

impl ListParams {
    /// Reads `page`, `pageSize`, `query` and `orderBy`, binding the last two to `schema`.
    pub fn parse(params: &QueryParams, schema: &Schema) -> Result<Self, BadInput> {
        let page = number(params, "page", 1, u32::MAX, 1)?;
        let page_size = number(params, "pageSize", 1, MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE)?;
        let raw_query = params.get("query").filter(|q| !q.trim().is_empty()).map(str::to_string);
        let raw_order_by = params.get("orderBy").filter(|o| !o.trim().is_empty()).map(str::to_string);
        let query = raw_query.as_deref().map(|q| Query::parse(q, schema)).transpose()?;
        let order_by = raw_order_by.as_deref().map(|o| OrderBy::parse(o, schema)).transpose()?;
        Ok(Self { page, page_size, query, order_by, raw_query, raw_order_by })
    }

    /// Filters, sorts (by `orderBy`, then by `tie_break` for a stable order) and cuts one page
    /// out of `records` (wire JSON), wrapped in Codat's list envelope for `path`.
    pub fn page(&self, mut records: Vec<Value>, path: &str, tie_break: impl Fn(&Value, &Value) -> Ordering) -> Value {
        if let Some(query) = &self.query {
            records.retain(|r| query.matches(r));
        }
        records.sort_by(|a, b| {
            self.order_by.as_ref().map_or(Ordering::Equal, |o| o.compare(a, b)).then_with(|| tie_break(a, b))
        });
        let total = records.len();
        let skip = (self.page as usize - 1).saturating_mul(self.page_size as usize);
        let results: Vec<Value> = records.into_iter().skip(skip).take(self.page_size as usize).collect();
        self.envelope(results, total, path)
    }

    /// Codat's list envelope around one page of results.
    pub fn envelope(&self, results: Vec<Value>, total: usize, path: &str) -> Value {
        let mut links = json!({
            "self": {"href": path},
            "current": {"href": self.href(path, self.page)},
        });
        if (self.page as usize).saturating_mul(self.page_size as usize) < total {
            links["next"] = json!({"href": self.href(path, self.page.saturating_add(1))});
        }
        if self.page > 1 {
            let last = total.div_ceil(self.page_size as usize).max(1);
            let previous = (self.page as usize - 1).min(last);
            links["previous"] = json!({"href": self.href(path, previous as u32)});
        }
        json!({
            "results": results,
            "pageNumber": self.page,
            "pageSize": self.page_size,
            "totalResults": total,
            "_links": links,
        })
    }

    fn href(&self, path: &str, page: u32) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair("page", &page.to_string());
        query.append_pair("pageSize", &self.page_size.to_string());
        if let Some(q) = &self.raw_query {
            query.append_pair("query", q);
        }
        if let Some(o) = &self.raw_order_by {
            query.append_pair("orderBy", o);
        }
        format!("{path}?{}", query.finish())
    }
}

fn number(params: &QueryParams, key: &str, min: u32, max: u32, default: u32) -> Result<u32, BadInput> {
    match params.get(key) {
        None => Ok(default),
        Some(raw) => raw.trim().parse::<u32>().ok().filter(|n| (min..=max).contains(n)).ok_or_else(|| {
            BadInput::message(format!("'{key}' must be a whole number from {min} to {max}, got '{raw}'"))
        }),
    }
}

/// Orders records by their `id` text: the default tie-break.
pub fn by_id(a: &Value, b: &Value) -> Ordering {
    a["id"].as_str().cmp(&b["id"].as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::{Field, FieldKind};

    const SCHEMA: Schema = Schema {
        entity: "Thing",
        fields: &[Field { path: "id", kind: FieldKind::Text }, Field { path: "n", kind: FieldKind::Number }],
    };

    fn list(raw: &str) -> Result<ListParams, BadInput> {
        ListParams::parse(&QueryParams::parse(Some(raw))?, &SCHEMA)
    }

    fn records() -> Vec<Value> {
        (1..=5).map(|i| json!({"id": format!("r{i}"), "n": 10 - i})).collect()
    }

    #[test]
    fn pages_and_links() {
        let page = list("page=2&pageSize=2&orderBy=n").expect("valid").page(records(), "/things", by_id);
        assert_eq!(page["totalResults"], 5);
        assert_eq!(page["pageNumber"], 2);
        let ids: Vec<_> = page["results"].as_array().expect("array").iter().map(|r| r["id"].clone()).collect();
        assert_eq!(ids, [json!("r3"), json!("r2")]);
        assert_eq!(page["_links"]["self"]["href"], "/things");
        assert_eq!(page["_links"]["current"]["href"], "/things?page=2&pageSize=2&orderBy=n");
        assert_eq!(page["_links"]["next"]["href"], "/things?page=3&pageSize=2&orderBy=n");
        assert_eq!(page["_links"]["previous"]["href"], "/things?page=1&pageSize=2&orderBy=n");
        let last = list("page=3&pageSize=2").expect("valid").page(records(), "/things", by_id);
        assert!(last["_links"].get("next").is_none());
        let beyond = list("page=9&pageSize=2").expect("valid").page(records(), "/things", by_id);
        assert_eq!(beyond["results"], json!([]));
        assert_eq!(beyond["_links"]["previous"]["href"], "/things?page=3&pageSize=2");
        let first = list("").expect("valid").page(records(), "/things", by_id);
        assert!(first["_links"].get("previous").is_none());
        assert_eq!(first["pageSize"], 100);
    }

    #[test]
    fn query_filters_before_counting_and_is_echoed_encoded() {
        let page = list("query=n%3E6%26%26id!%3Dr1").expect("valid").page(records(), "/things", by_id);
        assert_eq!(page["totalResults"], 2);
        assert_eq!(page["_links"]["current"]["href"], "/things?page=1&pageSize=100&query=n%3E6%26%26id%21%3Dr1");
    }

    #[test]
    fn bad_parameters_are_refused() {
        for bad in ["page=0", "page=-1", "page=x", "pageSize=0", "pageSize=5001", "page=1&page=2"] {
            assert!(matches!(list(bad).expect_err(bad), BadInput::Message(_)), "{bad}: a 400 with a message");
        }
        assert!(list("pageSize=5000").is_ok());
        assert!(list("query=bogus%3D1").expect_err("unknown").to_string().contains("Could not resolve property bogus"));
        assert!(list("orderBy=-bogus").is_err());
    }
}
