//! Orders: the v2 list, count and single order with its sub-resources, v3 transactions and
//! refunds.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::params::{Params, ids, instant, integer, order_id, paging};
use super::reply::{Reply, bad, pagination, slice};
use super::{Result, Version};
use crate::data::orders::{Includes, OrderBody, STATUSES};
use crate::data::{Dataset, OrderHead, payments};

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

/// Whether the list is asked for in id order, the order the heads are kept in.
fn sorted_by_id(params: &Params) -> bool {
    matches!(params.get("sort"), None | Some("id" | "id:asc"))
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

/// `GET v2/orders`.
pub(super) fn orders(ds: &Dataset, params: &Params, base: &str, page_override: Option<usize>) -> Result<Reply> {
    let filter = OrderFilter::parse(params)?;
    let sort = order_sort(params)?;
    let (page, limit) = paging(params, Version::V2)?;
    let page = page_override.unwrap_or(page);
    let skip = (page - 1).saturating_mul(limit);
    let selected: Vec<&OrderHead> = if sorted_by_id(params) {
        // The heads are kept in id order: a page starts at `min_id` and ends when it is full,
        // without filtering and sorting the whole store (a million orders) for each page.
        let start = filter.min_id.map_or(0, |min| ds.orders.partition_point(|o| i64::from(o.id) < min));
        ds.orders[start..]
            .iter()
            .take_while(|o| filter.max_id.is_none_or(|max| i64::from(o.id) <= max))
            .filter(|o| filter.matches(o))
            .skip(skip)
            .take(limit)
            .collect()
    } else {
        let mut heads: Vec<&OrderHead> = ds.orders.iter().filter(|o| filter.matches(o)).collect();
        heads.sort_by(|a, b| sort(a, b));
        heads.into_iter().skip(skip).take(limit).collect()
    };
    let include = includes(params);
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

/// `GET v2/orders/count`.
pub(super) fn orders_count(ds: &Dataset, params: &Params) -> Result<Reply> {
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

/// `GET v2/orders/{id}`.
pub(super) fn order(ds: &Dataset, raw: &str, params: &Params, base: &str) -> Result<Reply> {
    let head = find_order(ds, raw, Version::V2)?;
    Ok(Reply::ok(OrderBody::generate(ds, head).render(base, includes(params))))
}

/// `GET v2/orders/{id}/products`.
pub(super) fn order_products(ds: &Dataset, raw: &str, params: &Params, page_override: Option<usize>) -> Result<Reply> {
    let head = find_order(ds, raw, Version::V2)?;
    let (page, limit) = paging(params, Version::V2)?;
    let page = page_override.unwrap_or(page);
    let body = OrderBody::generate(ds, head);
    let items: Vec<Value> = body.items.iter().skip((page - 1) * limit).take(limit).map(|i| body.line_item(i)).collect();
    Ok(if items.is_empty() { Reply::no_content() } else { Reply::ok(Value::Array(items)) })
}

/// A sub-resource of one order rendered by `render` (shipping addresses, coupons).
pub(super) fn order_sub(
    ds: &Dataset,
    raw: &str,
    params: &Params,
    render: impl Fn(&OrderBody) -> Vec<Value>,
) -> Result<Reply> {
    let head = find_order(ds, raw, Version::V2)?;
    let (page, limit) = paging(params, Version::V2)?;
    let items = slice(&render(&OrderBody::generate(ds, head)), page, limit);
    Ok(if items.is_empty() { Reply::no_content() } else { Reply::ok(Value::Array(items)) })
}

/// `GET v3/orders/{id}/transactions`.
pub(super) fn transactions(ds: &Dataset, raw: &str) -> Result<Reply> {
    let head = find_order(ds, raw, Version::V3)?;
    let list = payments::transactions(&OrderBody::generate(ds, head));
    if list.is_empty() {
        return Ok(Reply::no_content());
    }
    let count = list.len();
    Ok(Reply::ok(json!({"data": list, "meta": {"pagination": pagination(count, count, 1, count.max(1))}})))
}

/// `GET v3/orders/payment_actions/refunds`.
pub(super) fn refunds(ds: &Dataset, params: &Params, page_override: Option<usize>) -> Result<Reply> {
    let v = Version::V3;
    let (page, limit) = paging(params, v)?;
    let page = page_override.unwrap_or(page);
    let created = (instant(params, "created:min", v, false)?, instant(params, "created:max", v, false)?);
    let orders = ids(params, "order_id:in", v)?;
    let refund_ids = ids(params, "id:in", v)?;
    // A refund's id is its order's. Asked for by order ids, the heads are looked up (a page of
    // orders at a time, as a sync asks) instead of walked through whole.
    let refund_ids: Option<BTreeSet<i64>> = refund_ids.map(|ids| ids.into_iter().collect());
    let candidates: Box<dyn Iterator<Item = &OrderHead>> = match orders {
        Some(ids) => {
            let ids: BTreeSet<u32> = ids.into_iter().filter_map(|id| u32::try_from(id).ok()).collect();
            Box::new(ids.into_iter().filter_map(|id| ds.order_head(id)))
        }
        None => Box::new(ds.orders.iter()),
    };
    let matching: Vec<&OrderHead> = candidates
        .filter(|o| matches!(o.status_id, 4 | 14))
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
