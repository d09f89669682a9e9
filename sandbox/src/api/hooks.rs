//! `v3/hooks`: register, list, read, change and delete the webhooks of the calling API account.

use std::collections::BTreeMap;

use hyper::Method;
use serde_json::{Value, json};

use super::params::{Params, paging};
use super::reply::{Reply, pagination, slice};
use super::{Endpoint, Result, Version};
use crate::hooks::{HookError, HookPatch};
use crate::store::Store;

/// The caller of a hooks endpoint.
pub(crate) struct Caller<'a> {
    /// The store.
    pub store: &'a Store,
    /// The API account of the token.
    pub client_id: &'a str,
    /// Whether loopback destinations are accepted.
    pub loopback: bool,
}

/// Answers `method` on a hooks endpoint; `body` is the parsed JSON body of a POST or PUT.
pub(crate) fn hooks(
    caller: &Caller<'_>,
    endpoint: &Endpoint,
    method: &Method,
    params: &Params,
    body: Option<&Value>,
) -> Reply {
    let result = match endpoint {
        Endpoint::Hooks if method == Method::POST => create(caller, body),
        Endpoint::Hooks => list(caller, params),
        Endpoint::Hook(id) => match id.parse::<u32>() {
            Err(_) => Err(not_found()),
            Ok(id) if method == Method::PUT => update(caller, id, body),
            Ok(id) if method == Method::DELETE => {
                caller.store.webhooks.delete(caller.client_id, id).map(|h| one(h.api_view())).ok_or_else(not_found)
            }
            Ok(id) => caller.store.webhooks.get(caller.client_id, id).map(|h| one(h.api_view())).ok_or_else(not_found),
        },
        _ => Err(not_found()),
    };
    result.unwrap_or_else(|reply| reply)
}

fn not_found() -> Reply {
    Reply::error(Version::V3, 404, "The requested hook was not found.")
}

fn invalid(message: String) -> Reply {
    Reply::error(Version::V3, 422, &message)
}

fn one(hook: Value) -> Reply {
    Reply::ok(json!({"data": hook, "meta": {}}))
}

fn answer(result: std::result::Result<crate::hooks::Hook, HookError>) -> Result<Reply> {
    match result {
        Ok(hook) => Ok(one(hook.api_view())),
        Err(HookError::NotFound) => Err(not_found()),
        Err(HookError::Invalid(message)) => Err(invalid(message)),
    }
}

fn create(caller: &Caller<'_>, body: Option<&Value>) -> Result<Reply> {
    let patch = patch(body)?;
    answer(caller.store.webhooks.create(caller.client_id, caller.store.hash(), patch, caller.loopback))
}

fn update(caller: &Caller<'_>, id: u32, body: Option<&Value>) -> Result<Reply> {
    let patch = patch(body)?;
    answer(caller.store.webhooks.update(caller.client_id, id, patch, caller.loopback))
}

/// `GET v3/hooks`: the account's hooks, filtered by `is_active`, `scope` and `destination`.
fn list(caller: &Caller<'_>, params: &Params) -> Result<Reply> {
    let (page, limit) = paging(params, Version::V3)?;
    let active = match params.get("is_active") {
        None => None,
        Some("true" | "1") => Some(true),
        Some("false" | "0") => Some(false),
        Some(other) => return Err(invalid(format!("The parameter 'is_active' must be a boolean, got '{other}'"))),
    };
    let hooks: Vec<Value> = caller
        .store
        .webhooks
        .list(caller.client_id)
        .into_iter()
        .filter(|h| active.is_none_or(|a| h.is_active == a))
        .filter(|h| params.get("scope").is_none_or(|s| h.scope == s))
        .filter(|h| params.get("destination").is_none_or(|d| h.destination == d))
        .map(|h| h.api_view())
        .collect();
    let data = slice(&hooks, page, limit);
    let meta = json!({"pagination": pagination(hooks.len(), data.len(), page, limit)});
    Ok(Reply::ok(json!({"data": data, "meta": meta})))
}

/// The fields of a POST or PUT body (422 for a field of the wrong type).
fn patch(body: Option<&Value>) -> Result<HookPatch> {
    let Some(Value::Object(body)) = body else {
        return Err(invalid("The request body must be a JSON object".into()));
    };
    let text = |key: &str| -> Result<Option<String>> {
        match body.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(invalid(format!("The field '{key}' must be a string"))),
        }
    };
    let is_active = match body.get("is_active") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => return Err(invalid("The field 'is_active' must be a boolean".into())),
    };
    let headers = match body.get("headers") {
        None => None,
        Some(Value::Null) => Some(BTreeMap::new()),
        Some(Value::Object(map)) => Some(
            map.iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    _ => Err(invalid(format!("The header '{k}' must have a string value"))),
                })
                .collect::<Result<BTreeMap<_, _>>>()?,
        ),
        Some(_) => return Err(invalid("The field 'headers' must be an object of strings".into())),
    };
    Ok(HookPatch { scope: text("scope")?, destination: text("destination")?, is_active, headers })
}
