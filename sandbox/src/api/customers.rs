//! v3 customers: filters, sorting, and the `after`/`before` cursor.

use base64::Engine;
use serde_json::{Value, json};

use super::params::{Params, ids, instant, modified_range, paging};
use super::reply::{Reply, bad, pagination, slice};
use super::{Result, Version};
use crate::data::{Dataset, customers};

/// Encodes a customers cursor (base64url of `{"id":N}`, as the spec's examples).
pub fn encode_cursor(id: u32) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{{\"id\":{id}}}"))
}

fn decode_cursor(raw: &str) -> Option<u32> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(raw.trim_end_matches('=')).ok()?;
    let value: Value = serde_json::from_slice(&bytes).ok()?;
    value["id"].as_u64().and_then(|id| u32::try_from(id).ok())
}

/// `GET v3/customers`.
pub(super) fn customers(ds: &Dataset, params: &Params, page_override: Option<usize>) -> Result<Reply> {
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
        "last_name" => heads.sort_by_key(|c| (customers::Person::current(seed, c).last_name, c.id)),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        assert_eq!(encode_cursor(204), "eyJpZCI6MjA0fQ");
        assert_eq!(decode_cursor("eyJpZCI6MjA0fQ"), Some(204));
        assert_eq!(decode_cursor("garbage!"), None);
    }
}
