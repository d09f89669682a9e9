//! The BigCommerce endpoints: query parsing, filtering, sorting, paging and the v2/v3 response
//! conventions (bare arrays and 204 past the end in v2, `data` + `meta.pagination` in v3).

use std::cmp::Ordering;

use base64::Engine;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::{Value, json};

use crate::config::Scope;
use crate::data::orders::{Includes, OrderBody, STATUSES};
use crate::data::{Dataset, OrderHead, at, catalog, customers, payments};

/// API generation, which decides error shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// v2: errors are arrays.
    V2,
    /// v3: errors are objects.
    V3,
}

/// An endpoint of the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `GET v2/store`
    Store,
    /// `GET v2/time`
    Time,
    /// `GET v2/orders`
    Orders,
    /// `GET v2/orders/count`
    OrdersCount,
    /// `GET v2/orders/{id}`
    Order(String),
    /// `GET v2/orders/{id}/products`
    OrderProducts(String),
    /// `GET v2/orders/{id}/shipping_addresses`
    OrderShippingAddresses(String),
    /// `GET v2/orders/{id}/coupons`
    OrderCoupons(String),
    /// `GET v3/orders/{id}/transactions`
    Transactions(String),
    /// `GET v3/orders/payment_actions/refunds`
    Refunds,
    /// `GET v3/catalog/products`
    Products,
    /// `GET v3/catalog/trees/categories`
    TreeCategories,
    /// `GET v3/catalog/categories`
    Categories,
    /// `GET v3/customers`
    Customers,
}

impl Endpoint {
    /// Recognises a path below `/stores/{hash}/`.
    pub fn parse(segments: &[&str]) -> Option<Self> {
        Some(match segments {
            ["v2", "store"] => Self::Store,
            ["v2", "time"] => Self::Time,
            ["v2", "orders"] => Self::Orders,
            ["v2", "orders", "count"] => Self::OrdersCount,
            ["v2", "orders", id] => Self::Order((*id).to_string()),
            ["v2", "orders", id, "products"] => Self::OrderProducts((*id).to_string()),
            ["v2", "orders", id, "shipping_addresses" | "shippingaddresses"] => {
                Self::OrderShippingAddresses((*id).to_string())
            }
            ["v2", "orders", id, "coupons"] => Self::OrderCoupons((*id).to_string()),
            ["v3", "orders", "payment_actions", "refunds"] => Self::Refunds,
            ["v3", "orders", id, "transactions"] => Self::Transactions((*id).to_string()),
            ["v3", "catalog", "products"] => Self::Products,
            ["v3", "catalog", "trees", "categories"] => Self::TreeCategories,
            ["v3", "catalog", "categories"] => Self::Categories,
            ["v3", "customers"] => Self::Customers,
            _ => return None,
        })
    }

    /// The metrics key, e.g. `GET v2/orders/{id}`.
    pub fn key(&self) -> &'static str {
        match self {
            Self::Store => "GET v2/store",
            Self::Time => "GET v2/time",
            Self::Orders => "GET v2/orders",
            Self::OrdersCount => "GET v2/orders/count",
            Self::Order(_) => "GET v2/orders/{id}",
            Self::OrderProducts(_) => "GET v2/orders/{id}/products",
            Self::OrderShippingAddresses(_) => "GET v2/orders/{id}/shipping_addresses",
            Self::OrderCoupons(_) => "GET v2/orders/{id}/coupons",
            Self::Transactions(_) => "GET v3/orders/{id}/transactions",
            Self::Refunds => "GET v3/orders/payment_actions/refunds",
            Self::Products => "GET v3/catalog/products",
            Self::TreeCategories => "GET v3/catalog/trees/categories",
            Self::Categories => "GET v3/catalog/categories",
            Self::Customers => "GET v3/customers",
        }
    }

    /// Scopes of which any one grants access.
    pub fn scopes(&self) -> &'static [Scope] {
        match self {
            Self::Store | Self::Time => &[Scope::Information],
            Self::Orders
            | Self::OrdersCount
            | Self::Order(_)
            | Self::OrderProducts(_)
            | Self::OrderShippingAddresses(_)
            | Self::OrderCoupons(_) => &[Scope::Orders],
            Self::Transactions(_) => &[Scope::Transactions],
            Self::Refunds => &[Scope::Transactions, Scope::Orders],
            Self::Products | Self::TreeCategories | Self::Categories => &[Scope::Products],
            Self::Customers => &[Scope::Customers],
        }
    }

    /// Whether it is a paged list (subject to the repeat-page and mutate-per-page faults).
    pub fn is_list(&self) -> bool {
        matches!(
            self,
            Self::Orders
                | Self::OrderProducts(_)
                | Self::Refunds
                | Self::Products
                | Self::Customers
                | Self::TreeCategories
                | Self::Categories
        )
    }
}

/// The version a path belongs to.
pub fn version_of(segments: &[&str]) -> Version {
    if segments.first() == Some(&"v2") { Version::V2 } else { Version::V3 }
}

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
    fn ok(body: Value) -> Self {
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

/// Decoded query parameters (first value wins; unknown ones are ignored by the endpoints).
#[derive(Debug, Clone, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Decodes a raw query string.
    pub fn parse(raw: Option<&str>) -> Self {
        Self(
            url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// A parameter.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }

    /// A comma-separated list parameter.
    pub fn list(&self, key: &str) -> Vec<String> {
        self.get(key)
            .map(|v| v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
            .unwrap_or_default()
    }
}

type Result<T> = std::result::Result<T, Reply>;

fn bad(version: Version, message: String) -> Reply {
    Reply::error(version, if version == Version::V2 { 400 } else { 422 }, &message)
}

fn integer(params: &Params, key: &str, version: Version) -> Result<Option<i64>> {
    params
        .get(key)
        .map(|v| v.trim().parse::<i64>().map_err(|_| bad(version, format!("The parameter '{key}' must be an integer"))))
        .transpose()
}

fn ids(params: &Params, key: &str, version: Version) -> Result<Option<Vec<i64>>> {
    if params.get(key).is_none() {
        return Ok(None);
    }
    params
        .list(key)
        .iter()
        .map(|v| {
            v.parse::<i64>().map_err(|_| bad(version, format!("The parameter '{key}' must be a list of integers")))
        })
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

/// `page` (>= 1, default 1) and `limit` (1..=250, default 50; above 250 answers 413).
fn paging(params: &Params, version: Version) -> Result<(usize, usize)> {
    let page = integer(params, "page", version)?.unwrap_or(1);
    let limit = integer(params, "limit", version)?.unwrap_or(50);
    if page < 1 || limit < 1 {
        return Err(bad(version, "The parameters 'page' and 'limit' must be positive".into()));
    }
    if limit > 250 {
        return Err(Reply::error(version, 413, "The limit parameter exceeded the maximum of 250"));
    }
    Ok((page as usize, limit as usize))
}

/// Parses an ISO 8601 instant (offset or UTC), an RFC 2822 date, or a Unix timestamp. A bare
/// date is midnight UTC unless `now_for_bare_date` is given, in which case the current time of
/// day is appended, as BigCommerce's v3 `date_modified:min/max` do.
pub fn parse_instant(raw: &str, now_for_bare_date: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    let raw = raw.trim();
    // A '+' left unencoded in a query string decodes to a space.
    let repaired = match raw.rfind(' ') {
        Some(i) if raw.contains('T') && raw[i + 1..].contains(':') && raw[i + 1..].len() == 5 => {
            format!("{}+{}", &raw[..i], &raw[i + 1..])
        }
        _ => raw.to_string(),
    };
    if let Ok(dt) = DateTime::parse_from_rfc3339(&repaired) {
        return Some(dt.with_timezone(&Utc));
    }
    if let Ok(dt) = DateTime::parse_from_rfc2822(raw) {
        return Some(dt.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(raw, format) {
            return Some(naive.and_utc());
        }
    }
    if let Ok(date) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        let time = now_for_bare_date.map_or(chrono::NaiveTime::MIN, |now| now.time());
        return Some(date.and_time(time).and_utc());
    }
    raw.parse::<i64>().ok().and_then(|secs| DateTime::from_timestamp(secs, 0))
}

fn instant(params: &Params, key: &str, version: Version, bare_date_now: bool) -> Result<Option<i64>> {
    params
        .get(key)
        .map(|raw| {
            parse_instant(raw, bare_date_now.then(Utc::now))
                .map(|dt| dt.timestamp())
                .ok_or_else(|| bad(version, format!("The parameter '{key}' is not a valid date: '{raw}'")))
        })
        .transpose()
}

/// v3 `meta.pagination` with relative links.
fn pagination(total: usize, count: usize, page: usize, limit: usize) -> Value {
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

fn slice<T: Clone>(items: &[T], page: usize, limit: usize) -> Vec<T> {
    items.iter().skip((page - 1).saturating_mul(limit)).take(limit).cloned().collect()
}

fn order_id(raw: &str, version: Version) -> Result<u32> {
    raw.parse::<u32>().map_err(|_| Reply::error(version, 404, "The requested resource was not found."))
}

/// Answers an endpoint. `page_override` replaces the requested page (the repeat-page fault).
pub fn serve(ds: &Dataset, endpoint: &Endpoint, params: &Params, base: &str, page_override: Option<usize>) -> Reply {
    let result = match endpoint {
        Endpoint::Store => Ok(store_info(ds, base)),
        Endpoint::Time => Ok(Reply::ok(json!({"time": Utc::now().timestamp()}))),
        Endpoint::Orders => orders(ds, params, base, page_override),
        Endpoint::OrdersCount => orders_count(ds, params),
        Endpoint::Order(id) => order(ds, id, params, base),
        Endpoint::OrderProducts(id) => order_products(ds, id, params, base, page_override),
        Endpoint::OrderShippingAddresses(id) => order_sub(ds, id, params, |body| vec![body.shipping_address(base)]),
        Endpoint::OrderCoupons(id) => order_sub(ds, id, params, |body| body.coupons()),
        Endpoint::Transactions(id) => transactions(ds, id),
        Endpoint::Refunds => refunds(ds, params, page_override),
        Endpoint::Products => products(ds, params, page_override),
        Endpoint::TreeCategories => tree_categories(ds, params, page_override),
        Endpoint::Categories => legacy_categories(ds, params, page_override),
        Endpoint::Customers => customers(ds, params, page_override),
    };
    result.unwrap_or_else(|reply| reply)
}

fn store_info(ds: &Dataset, base: &str) -> Reply {
    let c = &ds.config;
    Reply::ok(json!({
        "id": c.hash,
        "account_uuid": format!("00000000-0000-4000-8000-{:012x}", c.seed % 0xFFFF_FFFF_FFFF),
        "domain": format!("{}.sandbox.example.com", c.hash),
        "secure_url": format!("https://{}.sandbox.example.com", c.hash),
        "control_panel_base_url": base,
        "status": "live",
        "name": c.name,
        "first_name": "Morgan",
        "last_name": "Lefèvre",
        "address": "1 Trailhead Way\nAustin, TX 78701\nUnited States",
        "country": "United States",
        "country_code": "US",
        "infrastructure_region": "us-central1",
        "phone": "+1 512 555 0100",
        "admin_email": format!("owner@{}.example.com", c.hash),
        "order_email": format!("orders@{}.example.com", c.hash),
        "favicon_url": "https://cdn.example.com/favicon.ico",
        "timezone": {"name": "America/Chicago", "raw_offset": -21600, "dst_offset": -18000, "dst_correction": true,
                     "date_format": {"display": "M jS Y", "export": "M jS Y", "extended_display": "M jS Y @ g:i A"}},
        "language": "en",
        "currency": c.currency,
        "currency_symbol": "$",
        "decimal_separator": ".",
        "thousands_separator": ",",
        "decimal_places": 2,
        "currency_symbol_location": "left",
        "weight_units": "LBS",
        "dimension_units": "Inches",
        "dimension_decimal_places": 2,
        "dimension_decimal_token": ".",
        "dimension_thousands_token": ",",
        "plan_name": "Standard",
        "plan_level": "Standard",
        "plan_is_trial": false,
        "industry": "Sports & Outdoors",
        "logo": [],
        "is_price_entered_with_tax": false,
        "store_id": 1_000_000 + (c.seed % 1_000_000),
        "default_channel_id": 1,
        "default_site_id": 1000,
        "active_comparison_modules": [],
        "features": {"stencil_enabled": true, "sitewidehttps_enabled": true, "facebook_catalog_id": "", "checkout_type": "optimized",
                     "wishlists_enabled": true, "graphql_storefront_api_enabled": true, "shopper_consent_tracking_enabled": true,
                     "multi_storefront_enabled": false, "storefront_limits": {"active": 1, "total_including_inactive": 1}},
    }))
}

/// The v2 order filters shared by the list and the count.
struct OrderFilter {
    min_id: Option<i64>,
    max_id: Option<i64>,
    created: (Option<i64>, Option<i64>),
    modified: (Option<i64>, Option<i64>),
    status_id: Option<i64>,
    customer_id: Option<i64>,
    archived: bool,
}

impl OrderFilter {
    fn parse(params: &Params) -> Result<Self> {
        let v = Version::V2;
        let archived = match params.get("is_deleted") {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(bad(v, format!("The parameter 'is_deleted' must be true or false, got '{other}'")));
            }
        };
        Ok(Self {
            min_id: integer(params, "min_id", v)?,
            max_id: integer(params, "max_id", v)?,
            created: (instant(params, "min_date_created", v, false)?, instant(params, "max_date_created", v, false)?),
            modified: (
                instant(params, "min_date_modified", v, false)?,
                instant(params, "max_date_modified", v, false)?,
            ),
            status_id: integer(params, "status_id", v)?,
            customer_id: integer(params, "customer_id", v)?,
            archived,
        })
    }

    fn matches(&self, o: &OrderHead) -> bool {
        let within = |value: i64, (min, max): (Option<i64>, Option<i64>)| {
            min.is_none_or(|m| value >= m) && max.is_none_or(|m| value <= m)
        };
        o.is_deleted == self.archived
            && within(i64::from(o.id), (self.min_id, self.max_id))
            && within(o.created, self.created)
            && within(o.modified, self.modified)
            && self.status_id.is_none_or(|s| i64::from(o.status_id) == s)
            && self.customer_id.is_none_or(|c| i64::from(o.customer_id) == c)
    }
}

fn order_sort(params: &Params) -> Result<impl Fn(&OrderHead, &OrderHead) -> Ordering> {
    let raw = params.get("sort").unwrap_or("id");
    let (field, dir) = raw.split_once(':').unwrap_or((raw, "asc"));
    let key: fn(&OrderHead) -> (i64, u32) = match field {
        "id" => |o| (i64::from(o.id), o.id),
        "date_created" => |o| (o.created, o.id),
        "date_modified" => |o| (o.modified, o.id),
        "status_id" => |o| (i64::from(o.status_id), o.id),
        "customer_id" => |o| (i64::from(o.customer_id), o.id),
        "channel_id" | "external_id" => |o| (0, o.id),
        other => return Err(bad(Version::V2, format!("Invalid sort field '{other}'"))),
    };
    let descending = match dir {
        "asc" => false,
        "desc" => true,
        other => {
            return Err(bad(Version::V2, format!("Invalid sort direction '{other}'")));
        }
    };
    Ok(move |a: &OrderHead, b: &OrderHead| {
        let ord = key(a).cmp(&key(b));
        if descending { ord.reverse() } else { ord }
    })
}

fn includes(params: &Params) -> Includes {
    let list = params.list("include");
    let object = params.get("consignment_structure") == Some("object");
    Includes {
        consignments: object && list.iter().any(|i| i == "consignments"),
        line_items: object && list.iter().any(|i| i == "consignments.line_items"),
        fees: list.iter().any(|i| i == "fees"),
    }
}

fn orders(ds: &Dataset, params: &Params, base: &str, page_override: Option<usize>) -> Result<Reply> {
    let filter = OrderFilter::parse(params)?;
    let sort = order_sort(params)?;
    let (page, limit) = paging(params, Version::V2)?;
    let page = page_override.unwrap_or(page);
    let mut heads: Vec<&OrderHead> = ds.orders.iter().filter(|o| filter.matches(o)).collect();
    heads.sort_by(|a, b| sort(a, b));
    let include = includes(params);
    let selected: Vec<&OrderHead> = heads.into_iter().skip((page - 1).saturating_mul(limit)).take(limit).collect();
    let page_items = render_parallel(&selected, |head| OrderBody::generate(ds, head).render(base, include));
    if page_items.is_empty() {
        return Ok(Reply::no_content());
    }
    Ok(Reply::ok(Value::Array(page_items)))
}

/// Renders records on all cores: a full page of orders with line items is the heaviest answer
/// the sandbox gives, and it must stay far inside one request's share of the rate limit.
fn render_parallel<T: Sync>(items: &[T], render: impl Fn(&T) -> Value + Sync) -> Vec<Value> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    if items.len() < 32 || threads < 2 {
        return items.iter().map(&render).collect();
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> =
            items.chunks(chunk).map(|part| scope.spawn(|| part.iter().map(&render).collect::<Vec<_>>())).collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect()
    })
}

fn orders_count(ds: &Dataset, params: &Params) -> Result<Reply> {
    let filter = OrderFilter::parse(params)?;
    let mut counts = [0u64; 15];
    for head in ds.orders.iter().filter(|o| filter.matches(o)) {
        counts[head.status_id as usize] += 1;
    }
    let statuses: Vec<Value> = STATUSES
        .iter()
        .map(|(id, name, sort, description)| {
            json!({"id": id, "name": name, "system_label": name, "custom_label": name, "system_description": description,
                   "count": counts[*id as usize], "sort_order": sort})
        })
        .collect();
    Ok(Reply::ok(json!({"statuses": statuses, "count": counts.iter().sum::<u64>()})))
}

fn find_order<'d>(ds: &'d Dataset, raw: &str, version: Version) -> Result<&'d OrderHead> {
    let id = order_id(raw, version)?;
    ds.order_head(id).ok_or_else(|| Reply::error(version, 404, "The requested resource was not found."))
}

fn order(ds: &Dataset, raw: &str, params: &Params, base: &str) -> Result<Reply> {
    let head = find_order(ds, raw, Version::V2)?;
    Ok(Reply::ok(OrderBody::generate(ds, head).render(base, includes(params))))
}

fn order_products(ds: &Dataset, raw: &str, params: &Params, base: &str, page_override: Option<usize>) -> Result<Reply> {
    let head = find_order(ds, raw, Version::V2)?;
    let (page, limit) = paging(params, Version::V2)?;
    let page = page_override.unwrap_or(page);
    let body = OrderBody::generate(ds, head);
    let items: Vec<Value> =
        body.items.iter().skip((page - 1) * limit).take(limit).map(|i| body.line_item(i, base)).collect();
    Ok(if items.is_empty() { Reply::no_content() } else { Reply::ok(Value::Array(items)) })
}

fn order_sub(ds: &Dataset, raw: &str, params: &Params, render: impl Fn(&OrderBody) -> Vec<Value>) -> Result<Reply> {
    let head = find_order(ds, raw, Version::V2)?;
    let (page, limit) = paging(params, Version::V2)?;
    let items = slice(&render(&OrderBody::generate(ds, head)), page, limit);
    Ok(if items.is_empty() { Reply::no_content() } else { Reply::ok(Value::Array(items)) })
}

fn transactions(ds: &Dataset, raw: &str) -> Result<Reply> {
    let head = find_order(ds, raw, Version::V3)?;
    let list = payments::transactions(&OrderBody::generate(ds, head));
    if list.is_empty() {
        return Ok(Reply::no_content());
    }
    let count = list.len();
    Ok(Reply::ok(json!({"data": list, "meta": {"pagination": pagination(count, count, 1, count.max(1))}})))
}

fn refunds(ds: &Dataset, params: &Params, page_override: Option<usize>) -> Result<Reply> {
    let v = Version::V3;
    let (page, limit) = paging(params, v)?;
    let page = page_override.unwrap_or(page);
    let created = (instant(params, "created:min", v, false)?, instant(params, "created:max", v, false)?);
    let orders = ids(params, "order_id:in", v)?;
    let refund_ids = ids(params, "id:in", v)?;
    let matching: Vec<&OrderHead> = ds
        .orders
        .iter()
        .filter(|o| matches!(o.status_id, 4 | 14))
        .filter(|o| orders.as_ref().is_none_or(|ids| ids.contains(&i64::from(o.id))))
        .filter(|o| refund_ids.as_ref().is_none_or(|ids| ids.contains(&i64::from(o.id))))
        .filter(|o| {
            let at = o.created + 3 * 86_400;
            created.0.is_none_or(|m| at >= m) && created.1.is_none_or(|m| at <= m)
        })
        .collect();
    let data: Vec<Value> = slice(&matching, page, limit)
        .into_iter()
        .filter_map(|head| payments::refund(&OrderBody::generate(ds, head)))
        .collect();
    let count = data.len();
    Ok(Reply::ok(json!({"data": data, "meta": {"pagination": pagination(matching.len(), count, page, limit)}})))
}

fn modified_range(params: &Params, v: Version) -> Result<(Option<i64>, Option<i64>)> {
    Ok((instant(params, "date_modified:min", v, true)?, instant(params, "date_modified:max", v, true)?))
}

fn products(ds: &Dataset, params: &Params, page_override: Option<usize>) -> Result<Reply> {
    let v = Version::V3;
    let (page, limit) = paging(params, v)?;
    let page = page_override.unwrap_or(page);
    let modified = modified_range(params, v)?;
    let id_in = ids(params, "id:in", v)?;
    let id_min = integer(params, "id:min", v)?;
    let id_max = integer(params, "id:max", v)?;
    let include = params.list("include");
    let mut heads: Vec<_> = ds
        .products
        .iter()
        .filter(|p| !p.deleted)
        .filter(|p| id_in.as_ref().is_none_or(|ids| ids.contains(&i64::from(p.id))))
        .filter(|p| id_min.is_none_or(|m| i64::from(p.id) >= m) && id_max.is_none_or(|m| i64::from(p.id) <= m))
        .filter(|p| modified.0.is_none_or(|m| p.modified >= m) && modified.1.is_none_or(|m| p.modified <= m))
        .collect();
    let descending = match params.get("direction") {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(other) => return Err(bad(v, format!("Invalid direction '{other}'"))),
    };
    match params.get("sort").unwrap_or("id") {
        "id" => heads.sort_by_key(|p| p.id),
        "date_modified" => heads.sort_by_key(|p| (p.modified, p.id)),
        "price" | "calculated_price" => heads.sort_by_key(|p| (p.price_cents, p.id)),
        "name" => heads.sort_by_key(|p| (catalog::product_name(ds.config.seed, p.id), p.id)),
        "sku" => heads.sort_by_key(|p| (format!("SKU-{}", p.id), p.id)),
        "inventory_level" | "is_visible" | "total_sold" | "date_last_imported" => heads.sort_by_key(|p| p.id),
        other => return Err(bad(v, format!("Invalid sort '{other}'"))),
    }
    if descending {
        heads.reverse();
    }
    let variants = include.iter().any(|i| i == "variants");
    let images = include.iter().any(|i| i == "images");
    let data: Vec<Value> =
        slice(&heads, page, limit).into_iter().map(|p| catalog::render(ds, p, variants, images)).collect();
    let count = data.len();
    Ok(Reply::ok(json!({"data": data, "meta": {"pagination": pagination(heads.len(), count, page, limit)}})))
}

fn category_filter(params: &Params, id_key: &str) -> Result<impl Fn(&(u32, u32, String)) -> bool> {
    let v = Version::V3;
    let id_in = ids(params, id_key, v)?;
    let parent_in = ids(params, "parent_id:in", v)?;
    let tree_in = ids(params, "tree_id:in", v)?;
    Ok(move |(id, parent, _): &(u32, u32, String)| {
        id_in.as_ref().is_none_or(|ids| ids.contains(&i64::from(*id)))
            && parent_in.as_ref().is_none_or(|ids| ids.contains(&i64::from(*parent)))
            && tree_in.as_ref().is_none_or(|ids| ids.contains(&1))
    })
}

fn tree_categories(ds: &Dataset, params: &Params, page_override: Option<usize>) -> Result<Reply> {
    let (page, limit) = paging(params, Version::V3)?;
    let page = page_override.unwrap_or(page);
    let filter = category_filter(params, "category_id:in")?;
    let all: Vec<_> = catalog::categories(ds).into_iter().filter(|c| filter(c)).collect();
    let data: Vec<Value> =
        slice(&all, page, limit).iter().map(|(id, parent, name)| catalog::tree_category(*id, *parent, name)).collect();
    let count = data.len();
    Ok(Reply::ok(json!({"data": data, "meta": {"pagination": pagination(all.len(), count, page, limit)}})))
}

fn legacy_categories(ds: &Dataset, params: &Params, page_override: Option<usize>) -> Result<Reply> {
    let (page, limit) = paging(params, Version::V3)?;
    let page = page_override.unwrap_or(page);
    let filter = category_filter(params, "id:in")?;
    let all: Vec<_> = catalog::categories(ds).into_iter().filter(|c| filter(c)).collect();
    let data: Vec<Value> = slice(&all, page, limit)
        .iter()
        .map(|(id, parent, name)| catalog::legacy_category(*id, *parent, name))
        .collect();
    let count = data.len();
    Ok(Reply::ok(json!({"data": data, "meta": {"pagination": pagination(all.len(), count, page, limit)}})))
}

/// Encodes a customers cursor (base64url of `{"id":N}`, as the spec's examples).
pub fn encode_cursor(id: u32) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{{\"id\":{id}}}"))
}

fn decode_cursor(raw: &str) -> Option<u32> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(raw.trim_end_matches('=')).ok()?;
    let value: Value = serde_json::from_slice(&bytes).ok()?;
    value["id"].as_u64().and_then(|id| u32::try_from(id).ok())
}

fn customers(ds: &Dataset, params: &Params, page_override: Option<usize>) -> Result<Reply> {
    let v = Version::V3;
    let (page, limit) = paging(params, v)?;
    let page = page_override.unwrap_or(page);
    let modified = modified_range(params, v)?;
    let created = (instant(params, "date_created:min", v, true)?, instant(params, "date_created:max", v, true)?);
    let id_in = ids(params, "id:in", v)?;
    let emails = params.list("email:in");
    let addresses = params.list("include").iter().any(|i| i == "addresses");
    let seed = ds.config.seed;
    let mut heads: Vec<_> = ds
        .customers
        .iter()
        .filter(|c| !c.deleted)
        .filter(|c| id_in.as_ref().is_none_or(|ids| ids.contains(&i64::from(c.id))))
        .filter(|c| modified.0.is_none_or(|m| c.modified >= m) && modified.1.is_none_or(|m| c.modified <= m))
        .filter(|c| created.0.is_none_or(|m| c.created >= m) && created.1.is_none_or(|m| c.created <= m))
        .filter(|c| emails.is_empty() || emails.contains(&customers::Person::generate(seed, c.id).email))
        .collect();
    let cursor = |key: &str| -> Result<Option<u32>> {
        params
            .get(key)
            .map(|raw| decode_cursor(raw).ok_or_else(|| bad(v, format!("The '{key}' cursor is not valid"))))
            .transpose()
    };
    let (after, before) = (cursor("after")?, cursor("before")?);
    if after.is_some() || before.is_some() {
        heads.sort_by_key(|c| c.id);
        let selected: Vec<_> = match (after, before) {
            (Some(a), _) => heads.into_iter().filter(|c| c.id > a).take(limit).collect(),
            (None, Some(b)) => {
                let earlier: Vec<_> = heads.into_iter().filter(|c| c.id < b).collect();
                earlier[earlier.len().saturating_sub(limit)..].to_vec()
            }
            (None, None) => unreachable!("checked above"),
        };
        let data: Vec<Value> = selected.iter().map(|c| customers::render(seed, c, addresses)).collect();
        return Ok(Reply::ok(json!({"data": data, "meta": {"cursor_pagination": cursor_meta(&selected, limit)}})));
    }
    let (field, dir) = params.get("sort").map(|s| s.split_once(':').unwrap_or((s, "asc"))).unwrap_or(("id", "asc"));
    match field {
        "id" => heads.sort_by_key(|c| c.id),
        "date_created" => heads.sort_by_key(|c| (c.created, c.id)),
        "date_modified" => heads.sort_by_key(|c| (c.modified, c.id)),
        "last_name" => heads.sort_by_key(|c| (customers::Person::generate(seed, c.id).last_name, c.id)),
        other => return Err(bad(v, format!("Invalid sort '{other}'"))),
    }
    match dir {
        "asc" => {}
        "desc" => heads.reverse(),
        other => return Err(bad(v, format!("Invalid sort direction '{other}'"))),
    }
    let selected = slice(&heads, page, limit);
    let data: Vec<Value> = selected.iter().map(|c| customers::render(seed, c, addresses)).collect();
    let mut meta = json!({"pagination": pagination(heads.len(), data.len(), page, limit)});
    if page == 1 {
        meta["cursor_pagination"] = cursor_meta(&selected, limit);
    }
    Ok(Reply::ok(json!({"data": data, "meta": meta})))
}

fn cursor_meta(selected: &[&crate::data::CustomerHead], limit: usize) -> Value {
    let mut meta = json!({"count": selected.len(), "per_page": limit, "links": {}});
    if let (Some(first), Some(last)) = (selected.first(), selected.last()) {
        let (start, end) = (encode_cursor(first.id), encode_cursor(last.id));
        meta["links"]["previous"] = json!(format!("?limit={limit}&before={start}"));
        meta["links"]["next"] = json!(format!("?limit={limit}&after={end}"));
        meta["start_cursor"] = json!(start);
        meta["end_cursor"] = json!(end);
    }
    meta
}

/// Every record as the API serves it, one JSON object per line:
/// `{"type": "order"|"order_product"|"transaction"|"refund"|"product"|"category"|"customer", ...}`.
pub fn export(ds: &Dataset, base: &str, out: &mut impl std::io::Write) -> std::io::Result<u64> {
    let mut lines = 0u64;
    let mut line = |out: &mut dyn std::io::Write, kind: &str, record: Value| -> std::io::Result<()> {
        lines += 1;
        serde_json::to_writer(&mut *out, &json!({"type": kind, "record": record}))?;
        out.write_all(b"\n")
    };
    for head in &ds.orders {
        let body = OrderBody::generate(ds, head);
        line(out, "order", body.render(base, Includes::default()))?;
        for item in &body.items {
            line(out, "order_product", body.line_item(item, base))?;
        }
        for t in payments::transactions(&body) {
            line(out, "transaction", t)?;
        }
        if let Some(refund) = payments::refund(&body) {
            line(out, "refund", refund)?;
        }
    }
    for head in ds.products.iter().filter(|p| !p.deleted) {
        line(out, "product", catalog::render(ds, head, true, true))?;
    }
    for (id, parent, name) in catalog::categories(ds) {
        line(out, "category", catalog::tree_category(id, parent, &name))?;
    }
    for head in ds.customers.iter().filter(|c| !c.deleted) {
        line(out, "customer", customers::render(ds.config.seed, head, true))?;
    }
    let _ = at;
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_in_every_accepted_form() {
        let expect = DateTime::parse_from_rfc3339("2024-05-14T09:34:00Z").map(|d| d.with_timezone(&Utc)).ok();
        assert_eq!(parse_instant("2024-05-14T09:34:00Z", None), expect);
        assert_eq!(parse_instant("2024-05-14T10:34:00+01:00", None), expect);
        assert_eq!(parse_instant("2024-05-14T10:34:00 01:00", None), expect, "unencoded '+' becomes a space");
        assert_eq!(parse_instant("Tue, 14 May 2024 09:34:00 +0000", None), expect);
        assert_eq!(parse_instant("2024-05-14T09:34:00", None), expect);
        assert_eq!(parse_instant("1715679240", None), expect);
        assert_eq!(parse_instant("2024-05-14", None).map(|d| d.to_rfc3339()), Some("2024-05-14T00:00:00+00:00".into()));
        let now = Utc::now();
        let bare = parse_instant("2024-05-14", Some(now)).expect("bare date");
        assert_eq!(bare.time(), now.time(), "v3 appends the current time to a bare date");
        assert_eq!(parse_instant("yesterday", None), None);
    }

    #[test]
    fn cursors_round_trip() {
        assert_eq!(encode_cursor(204), "eyJpZCI6MjA0fQ");
        assert_eq!(decode_cursor("eyJpZCI6MjA0fQ"), Some(204));
        assert_eq!(decode_cursor("garbage!"), None);
    }
}
