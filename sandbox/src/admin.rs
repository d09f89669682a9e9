//! The admin API (`/admin`, loopback clients only): the stores and their accounts, faults, rate
//! limits, mutations, webhooks (`hooks`, `hooks/deliveries`, `hooks/settings`, `hooks/{id}`),
//! metrics and the ground-truth export.

use std::time::Duration;

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response};
use serde_json::{Value, json};

use crate::faults::{Faults, Mutations};
use crate::hooks::HookSettings;
use crate::store::{Store, lock};
use crate::wire::{Body, State, response};

async fn read_json(req: Request<Incoming>) -> Result<Value, Response<Body>> {
    let bytes = Limited::new(req.into_body(), 1024 * 1024)
        .collect()
        .await
        .map_err(|_| response(413, Some(&json!({"error": "body too large"}))))?
        .to_bytes();
    if bytes.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(&bytes).map_err(|e| response(400, Some(&json!({"error": format!("invalid JSON: {e}")}))))
}

/// Answers an admin request below `/admin` (`rest`: the path after it).
pub(crate) async fn admin(state: &State, req: Request<Incoming>, rest: &[String]) -> Response<Body> {
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    let method = req.method().clone();
    if rest.as_slice() == ["stores"] && method == Method::GET {
        let stores: Vec<Value> = state.stores.values().map(|s| describe(state, s)).collect();
        return response(200, Some(&json!(stores)));
    }
    let ["stores", hash, tail @ ..] = rest.as_slice() else {
        return response(404, Some(&json!({"error": "no such admin resource"})));
    };
    let Some(store) = state.stores.get(*hash) else {
        return response(404, Some(&json!({"error": format!("no store {hash}")})));
    };
    match (method, tail) {
        (Method::GET, []) => response(200, Some(&describe(state, store))),
        (Method::GET, ["faults"]) => response(200, Some(&json!(store.faults()))),
        (Method::PUT, ["faults"]) => match read_json(req).await.map(serde_json::from_value::<Faults>) {
            Ok(Ok(faults)) => match store.set_faults(faults) {
                Ok(()) => response(200, Some(&json!(store.faults()))),
                Err(e) => response(400, Some(&json!({"error": e}))),
            },
            Ok(Err(e)) => response(400, Some(&json!({"error": e.to_string()}))),
            Err(r) => r,
        },
        (Method::PUT, ["rate-limit"]) => match read_json(req).await {
            Ok(body) => match (body["quota"].as_u64(), body["window_ms"].as_u64()) {
                (Some(q), Some(w)) if q > 0 && w > 0 => {
                    store.set_rate_limit(u32::try_from(q).unwrap_or(u32::MAX), Duration::from_millis(w));
                    response(200, Some(&json!({"quota": q, "window_ms": w})))
                }
                _ => response(400, Some(&json!({"error": "quota and window_ms must be positive integers"}))),
            },
            Err(r) => r,
        },
        (Method::POST, ["exhaust"]) => {
            store.exhaust();
            response(204, None)
        }
        (Method::POST, ["mutate"]) => match read_json(req).await.map(serde_json::from_value::<Mutations>) {
            Ok(Ok(changes)) => {
                let touched = store.mutate(changes);
                let body = json!({"touched": touched.orders, "deleted_products": touched.products,
                                  "deleted_customers": touched.customers,
                                  "inserted_orders": touched.inserted_orders,
                                  "updated_orders": touched.updated_orders,
                                  "status_changes": touched.status_changes,
                                  "archived_orders": touched.archived_orders,
                                  "updated_products": touched.updated_products,
                                  "updated_customers": touched.updated_customers});
                response(200, Some(&body))
            }
            Ok(Err(e)) => response(400, Some(&json!({"error": e.to_string()}))),
            Err(r) => r,
        },
        (Method::PATCH, ["accounts", client_id]) => match read_json(req).await {
            Ok(body) => {
                let mut found = true;
                if let Some(revoked) = body["revoked"].as_bool() {
                    found &= store.set_revoked(client_id, revoked);
                }
                if let Some(scopes) = body.get("scopes") {
                    match serde_json::from_value::<Vec<crate::config::Scope>>(scopes.clone()) {
                        Ok(scopes) => found &= store.set_scopes(client_id, scopes),
                        Err(e) => return response(400, Some(&json!({"error": e.to_string()}))),
                    }
                }
                if found {
                    response(200, Some(&describe(state, store)))
                } else {
                    response(404, Some(&json!({"error": "no such account"})))
                }
            }
            Err(r) => r,
        },
        (Method::GET, ["accounts", client_id, "credentials.txt"]) => {
            let config = store.config();
            match config.accounts.iter().find(|a| a.client_id == *client_id) {
                Some(account) => {
                    let mut r = Response::new(Body::from(config.credentials_file(account).into_bytes()));
                    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
                    r
                }
                None => response(404, Some(&json!({"error": "no such account"}))),
            }
        }
        (Method::GET, ["hooks"]) => response(200, Some(&json!(store.hooks()))),
        (Method::GET, ["hooks", "deliveries"]) => response(200, Some(&json!(store.deliveries()))),
        (Method::GET, ["hooks", "settings"]) => response(200, Some(&settings_json(&store.hook_settings()))),
        (Method::PUT, ["hooks", "settings"]) => match read_json(req).await {
            Ok(body) => match settings_from(&body, store.hook_settings()) {
                Ok(settings) => {
                    store.set_hook_settings(settings);
                    response(200, Some(&settings_json(&store.hook_settings())))
                }
                Err(e) => response(400, Some(&json!({"error": e}))),
            },
            Err(r) => r,
        },
        (Method::PATCH, ["hooks", id]) => match (read_json(req).await, id.parse::<u32>()) {
            (Err(r), _) => r,
            (Ok(body), Ok(id)) => match body["is_active"].as_bool() {
                Some(active) if store.set_hook_active(id, active) => {
                    let hook = store.hooks().into_iter().find(|h| h.id == id);
                    response(200, Some(&json!(hook)))
                }
                Some(_) => response(404, Some(&json!({"error": "no such hook"}))),
                None => response(400, Some(&json!({"error": "is_active must be a boolean"}))),
            },
            (Ok(_), Err(_)) => response(404, Some(&json!({"error": "no such hook"}))),
        },
        (Method::GET, ["metrics"]) => response(200, Some(&json!(store.metrics()))),
        (Method::DELETE, ["metrics"]) => {
            store.reset_metrics();
            response(204, None)
        }
        (Method::GET, ["export"]) => {
            let mut out = Vec::new();
            let base = format!("{}/stores/{}", state.root, store.hash());
            match crate::api::export(&store.data(), &base, &mut out) {
                Ok(_) => {
                    let mut r = Response::new(Body::from(out));
                    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/x-ndjson"));
                    r
                }
                Err(e) => response(500, Some(&json!({"error": e.to_string()}))),
            }
        }
        _ => response(404, Some(&json!({"error": "no such admin resource"}))),
    }
}

/// Delivery settings as the admin API shows them: `{"retry_ms": [...], "duplicate": bool}`.
fn settings_json(settings: &HookSettings) -> Value {
    let retry: Vec<u64> = settings.retry.iter().map(|d| d.as_millis() as u64).collect();
    json!({"retry_ms": retry, "duplicate": settings.duplicate})
}

/// `current` with the fields of `body` applied (`retry_ms`, `duplicate`; both optional).
fn settings_from(body: &Value, current: HookSettings) -> Result<HookSettings, String> {
    let mut settings = current;
    match body.get("retry_ms") {
        None => {}
        Some(Value::Array(waits)) => {
            settings.retry = waits
                .iter()
                .map(|w| w.as_u64().map(Duration::from_millis).ok_or("retry_ms must be non-negative integers"))
                .collect::<Result<_, _>>()?;
        }
        Some(_) => return Err("retry_ms must be an array of milliseconds".into()),
    }
    match body.get("duplicate") {
        None => {}
        Some(Value::Bool(duplicate)) => settings.duplicate = *duplicate,
        Some(_) => return Err("duplicate must be a boolean".into()),
    }
    Ok(settings)
}

/// A store's public description for the admin API: hash, API base, accounts.
pub fn describe(state: &State, store: &Store) -> Value {
    let config = store.config();
    let limiter = lock(&store.limiter);
    json!({
        "hash": config.hash,
        "name": config.name,
        "api_base": state.root,
        "api_path": config.api_path(),
        "sizes": config.sizes,
        "quota": limiter.quota(),
        "window_ms": limiter.window().as_millis() as u64,
        "accounts": config.accounts,
    })
}
