//! Answers before transport: the status and JSON body, errors in each version's shape, and v3
//! pagination metadata.

use serde_json::{Value, json};

use super::Version;

/// An answer before transport: status and JSON body (none for 204).
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Body.
    pub body: Option<Value>,
}

const STATUS_TYPE: &str = "https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes";

impl Reply {
    /// 200 with a JSON body.
    pub fn ok(body: Value) -> Self {
        Self { status: 200, body: Some(body) }
    }

    /// 204 No Content.
    pub fn no_content() -> Self {
        Self { status: 204, body: None }
    }

    /// An error in the version's shape.
    pub fn error(version: Version, status: u16, message: &str) -> Self {
        let body = match version {
            Version::V2 => json!([{"status": status, "message": message}]),
            Version::V3 => {
                json!({"status": status, "title": message, "type": STATUS_TYPE, "errors": {}})
            }
        };
        Self { status, body: Some(body) }
    }

    /// The exact 403 BigCommerce sends for a missing scope.
    pub fn missing_scope() -> Self {
        Self {
            status: 403,
            body: Some(json!({
                "status": 403,
                "title": "You don't have a required scope to access the endpoint",
                "type": STATUS_TYPE,
                "errors": {},
            })),
        }
    }
}

/// A bad parameter: 400 in v2, 422 in v3.
pub(super) fn bad(version: Version, message: String) -> Reply {
    Reply::error(version, if version == Version::V2 { 400 } else { 422 }, &message)
}

/// v3 `meta.pagination` with relative links.
pub(super) fn pagination(total: usize, count: usize, page: usize, limit: usize) -> Value {
    let total_pages = total.div_ceil(limit);
    let mut links = json!({"current": format!("?page={page}&limit={limit}")});
    if page > 1 {
        links["previous"] = json!(format!("?page={}&limit={limit}", page - 1));
    }
    if page < total_pages {
        links["next"] = json!(format!("?page={}&limit={limit}", page + 1));
    }
    json!({"total": total, "count": count, "per_page": limit, "current_page": page, "total_pages": total_pages, "links": links})
}

/// Page `page` (from 1) of `items`, `limit` per page.
pub(super) fn slice<T: Clone>(items: &[T], page: usize, limit: usize) -> Vec<T> {
    items.iter().skip((page - 1).saturating_mul(limit)).take(limit).cloned().collect()
}
