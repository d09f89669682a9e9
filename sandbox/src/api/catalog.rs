//! The catalog: v3 products (with variants and images) and the category tree.

use serde_json::{Value, json};

use super::params::{Params, ids, integer, modified_range, paging};
use super::reply::{Reply, bad, pagination, slice};
use super::{Result, Version};
use crate::data::{Dataset, catalog};

/// `GET v3/catalog/products`.
pub(super) fn products(ds: &Dataset, params: &Params, page_override: Option<usize>) -> Result<Reply> {
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
        "name" => heads.sort_by_key(|p| (catalog::current_name(ds.config.seed, p), p.id)),
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

/// `GET v3/catalog/trees/categories`.
pub(super) fn tree_categories(ds: &Dataset, params: &Params, page_override: Option<usize>) -> Result<Reply> {
    let (page, limit) = paging(params, Version::V3)?;
    let page = page_override.unwrap_or(page);
    let filter = category_filter(params, "category_id:in")?;
    let all: Vec<_> = catalog::categories(ds).into_iter().filter(|c| filter(c)).collect();
    let data: Vec<Value> =
        slice(&all, page, limit).iter().map(|(id, parent, name)| catalog::tree_category(*id, *parent, name)).collect();
    let count = data.len();
    Ok(Reply::ok(json!({"data": data, "meta": {"pagination": pagination(all.len(), count, page, limit)}})))
}

/// `GET v3/catalog/categories`.
pub(super) fn legacy_categories(ds: &Dataset, params: &Params, page_override: Option<usize>) -> Result<Reply> {
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
