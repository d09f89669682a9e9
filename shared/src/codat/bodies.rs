//! Codat's request bodies, parsed into domain types: every problem is reported against its field
//! (`validation.errors`), unknown fields included.

use serde_json::Value;
use uuid::Uuid;

use super::reader::FieldReader;
use super::{BadInput, ValidationItem};
use crate::domain::company::{CompanyPatch, MAX_DESCRIPTION_CHARS};
use crate::domain::consumer_url::{ConsumerUrl, Transport};
use crate::domain::sync_settings::MAX_SYNC_SCHEDULE_HOURS;
use crate::domain::webhook::{ConsumerDraft, EventType, MAX_COMPANY_TAG_CHARS, MAX_COMPANY_TAGS, Subscription};
use crate::domain::{CompanyDraft, CompanyName, DataType, SyncSetting, SyncSettings, Tags};
use crate::query::parse_datetime;

const COMPANY_FIELDS: &[&str] = &["name", "description", "tags"];

/// Codat's create/replace company body (`POST /companies`, `PUT /companies/{id}`).
pub fn company_draft(body: &Value) -> Result<CompanyDraft, BadInput> {
    let CompanyPatch { name, description, tags } = company_fields(body, true)?;
    let name = name.ok_or_else(|| BadInput::message("'name' is required"))?;
    Ok(CompanyDraft { name, description, tags })
}

/// Codat's update company body (`PATCH /companies/{id}`).
pub fn company_patch(body: &Value) -> Result<CompanyPatch, BadInput> {
    company_fields(body, false)
}

/// The fields of a company body, `name` required or not.
fn company_fields(body: &Value, name_required: bool) -> Result<CompanyPatch, BadInput> {
    let mut reader = FieldReader::new(body, COMPANY_FIELDS)?;
    let raw_name = if name_required { reader.required_string("name") } else { reader.string("name") };
    let name = raw_name.and_then(|raw| parse_field(&mut reader, "name", CompanyName::parse(raw)));
    let description = read_description(&mut reader);
    let tags = read_tags(&mut reader);
    reader.finish()?;
    Ok(CompanyPatch { name, description, tags })
}

fn parse_field<T>(reader: &mut FieldReader<'_>, field: &str, result: Result<T, String>) -> Option<T> {
    result.map_err(|message| reader.error(field, message)).ok()
}

fn read_description(reader: &mut FieldReader<'_>) -> Option<String> {
    let description = reader.string("description")?;
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        reader.error("description", format!("'description' must be at most {MAX_DESCRIPTION_CHARS} characters"));
        return None;
    }
    Some(description.to_string())
}

fn read_tags(reader: &mut FieldReader<'_>) -> Option<Tags> {
    let raw = reader.raw("tags")?;
    parse_field(reader, "tags", Tags::parse(raw))
}

/// Codat's `POST /companies/{id}/syncSettings` body for `company_id`.
pub fn sync_settings(body: &Value, company_id: Uuid) -> Result<SyncSettings, BadInput> {
    settings_body(body, ("companyId", company_id, "the company id in the path"))
}

/// `POST /profile/syncSettings`: the deployment's defaults; `clientId` must be the deployment's
/// (as `GET /profile/syncSettings` gives it).
pub fn profile_sync_settings(body: &Value, client_id: Uuid) -> Result<SyncSettings, BadInput> {
    settings_body(body, ("clientId", client_id, "this deployment's clientId (GET /profile/syncSettings)"))
}

/// `POST /webhooks`: `{url, eventTypes, companyTags?, disabled?}`, the URL checked under
/// `transport` before anything is stored.
pub fn consumer_draft(body: &Value, transport: Transport) -> Result<ConsumerDraft, BadInput> {
    let mut reader = FieldReader::new(body, &["url", "eventTypes", "companyTags", "disabled"])?;
    let url = reader
        .required_string("url")
        .and_then(|raw| parse_field(&mut reader, "url", ConsumerUrl::parse(raw, transport).map_err(|e| e.to_string())));
    let event_types = read_event_types(&mut reader);
    let company_tags = read_company_tags(&mut reader);
    let disabled = reader.bool("disabled").unwrap_or(false);
    reader.finish()?;
    match (url, event_types) {
        (Some(url), Some(event_types)) => {
            Ok(ConsumerDraft { url, subscription: Subscription { event_types, company_tags }, disabled })
        }
        _ => Err(BadInput::message("The webhook consumer is incomplete")),
    }
}

/// `eventTypes`: required, at least one, each a documented event type, no repeats.
fn read_event_types(reader: &mut FieldReader<'_>) -> Option<Vec<EventType>> {
    let known = || EventType::ALL.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(", ");
    let Some(raw) = reader.raw("eventTypes") else {
        reader.error("eventTypes", format!("'eventTypes' is required: a list of one or more of {}", known()));
        return None;
    };
    let Some(list) = raw.as_array().filter(|l| !l.is_empty()) else {
        reader.error("eventTypes", format!("'eventTypes' must list one or more of {}", known()));
        return None;
    };
    let mut types = Vec::new();
    for item in list {
        match item.as_str().and_then(EventType::parse) {
            Some(t) if !types.contains(&t) => types.push(t),
            Some(t) => reader.error("eventTypes", format!("'{t}' is listed twice")),
            None => {
                let shown: String =
                    item.as_str().map_or_else(|| item.to_string(), str::to_string).chars().take(64).collect();
                reader.error("eventTypes", format!("'{shown}' is not an event type; the event types are {}", known()));
            }
        }
    }
    (types.len() == list.len()).then_some(types)
}

/// `companyTags`: optional, at most 10 of `tagKey:tagValue`, each at most 128 characters.
fn read_company_tags(reader: &mut FieldReader<'_>) -> Vec<String> {
    let Some(raw) = reader.raw("companyTags") else { return Vec::new() };
    let Some(list) = raw.as_array() else {
        reader.error("companyTags", "'companyTags' must be a list of 'tagKey:tagValue' strings");
        return Vec::new();
    };
    if list.len() > MAX_COMPANY_TAGS {
        reader.error("companyTags", format!("'companyTags' may hold at most {MAX_COMPANY_TAGS} tags"));
        return Vec::new();
    }
    let mut tags = Vec::new();
    for item in list {
        match item.as_str() {
            Some(tag)
                if tag.chars().count() <= MAX_COMPANY_TAG_CHARS
                    && tag.split_once(':').is_some_and(|(k, _)| !k.is_empty()) =>
            {
                if !tags.iter().any(|t| t == tag) {
                    tags.push(tag.to_string());
                }
            }
            _ => reader.error(
                "companyTags",
                format!("each of 'companyTags' must be 'tagKey:tagValue', at most {MAX_COMPANY_TAG_CHARS} characters"),
            ),
        }
    }
    tags
}

/// `PATCH /webhooks/{webhookId}`: `{"disabled": true|false}` (an extension).
pub fn consumer_patch(body: &Value) -> Result<bool, BadInput> {
    let mut reader = FieldReader::new(body, &["disabled"])?;
    let disabled = reader.bool("disabled");
    if disabled.is_none() && reader.raw("disabled").is_none() {
        reader.error("disabled", "'disabled' is required: true or false");
    }
    reader.finish()?;
    disabled.ok_or_else(|| BadInput::message("'disabled' is required"))
}

/// `POST /webhooks/{id}/replay`: `{"messageId": "<event id>"}` (one message) or
/// `{"since": "<ISO 8601>"}` (every event since then), exactly one of them.
pub fn webhook_replay(body: &Value) -> Result<crate::companies::Replay, BadInput> {
    use crate::companies::Replay;
    let mut reader = FieldReader::new(body, &["messageId", "since"])?;
    let message = reader.string("messageId").and_then(|raw| {
        let id = uuid::Uuid::parse_str(raw).ok();
        if id.is_none() {
            reader.error("messageId", "'messageId' must be a message id (the event's id, a UUID)");
        }
        id
    });
    let since = reader.string("since").and_then(|raw| {
        let at = parse_datetime(raw);
        if at.is_none() {
            reader.error("since", "'since' must be an ISO 8601 date or date-time");
        }
        at
    });
    let both = reader.raw("messageId").is_some() && reader.raw("since").is_some();
    let neither = reader.raw("messageId").is_none() && reader.raw("since").is_none();
    if both || neither {
        reader.error("messageId", "give exactly one of 'messageId' (one message) and 'since' (every event since then)");
    }
    reader.finish()?;
    match (message, since) {
        (Some(id), None) => Ok(Replay::Message(id)),
        (None, Some(at)) => Ok(Replay::Since(at)),
        _ => Err(BadInput::message("give exactly one of 'messageId' and 'since'")),
    }
}

/// `POST /apiKeys`: `{"name": ...}`, the name optional (an empty body too).
pub fn api_key_name(body: Option<&Value>) -> Result<Option<String>, BadInput> {
    let Some(body) = body else { return Ok(None) };
    let mut reader = FieldReader::new(body, &["name"])?;
    let name = match reader.raw("name") {
        None | Some(Value::Null) => None,
        Some(Value::String(raw)) => match crate::domain::api_key::parse_key_name(raw) {
            Ok(name) => name,
            Err(message) => {
                reader.error("name", message);
                None
            }
        },
        Some(_) => {
            reader.error("name", "'name' must be a string");
            None
        }
    };
    reader.finish()?;
    Ok(name)
}

/// A sync settings body whose `id_field` must equal `expected` (described by `what`).
fn settings_body(body: &Value, (id_field, expected, what): (&str, Uuid, &str)) -> Result<SyncSettings, BadInput> {
    let mut reader = FieldReader::new(body, &[id_field, "settings", "overridesDefaults"])?;
    if let Some(raw) = reader.required_string(id_field)
        && Uuid::parse_str(raw).ok() != Some(expected)
    {
        reader.error(id_field, format!("'{id_field}' must equal {what}"));
    }
    let overrides_defaults = reader.bool("overridesDefaults");
    if reader.raw("overridesDefaults").is_none() {
        reader.error("overridesDefaults", "'overridesDefaults' is required");
    }
    let mut settings = Vec::new();
    let mut errors = Vec::new();
    match reader.raw("settings") {
        Some(Value::Array(items)) => {
            for (index, item) in items.iter().enumerate() {
                match sync_setting(item, index) {
                    Ok(setting) if settings.iter().any(|s: &SyncSetting| s.data_type == setting.data_type) => {
                        errors.push(ValidationItem::new(
                            &format!("settings[{index}].dataType"),
                            format!("'{}' appears more than once", setting.data_type.key()),
                        ));
                    }
                    Ok(setting) => settings.push(setting),
                    Err(mut problems) => errors.append(&mut problems),
                }
            }
        }
        Some(_) => reader.error("settings", "'settings' must be an array"),
        None => reader.error("settings", "'settings' is required"),
    }
    let mut all = reader.into_errors();
    all.append(&mut errors);
    if !all.is_empty() {
        return Err(BadInput::Fields(all));
    }
    Ok(SyncSettings { settings, overrides_defaults: overrides_defaults.unwrap_or(true) })
}

/// One entry of a sync settings body, at `settings[index]`.
fn sync_setting(value: &Value, index: usize) -> Result<SyncSetting, Vec<ValidationItem>> {
    let prefix = format!("settings[{index}]");
    let Ok(mut reader) = FieldReader::new(
        value,
        &[
            "dataType",
            "fetchOnFirstLink",
            "syncSchedule",
            "syncOrder",
            "syncFromUtc",
            "syncFromWindow",
            "monthsToSync",
            "isLocked",
        ],
    ) else {
        return Err(vec![ValidationItem::new(&prefix, format!("'{prefix}' must be an object"))]);
    };
    let data_type = reader.required_string("dataType").and_then(|raw| {
        let parsed = DataType::parse(raw);
        if parsed.is_none() {
            let keys: Vec<_> = DataType::ALL.iter().map(|d| d.key()).collect();
            reader.error("dataType", format!("'{raw}' is not a commerce data type; use one of {}", keys.join(", ")));
        }
        parsed
    });
    let fetch_on_first_link = reader.bool("fetchOnFirstLink");
    let sync_schedule = reader.integer("syncSchedule", 1, MAX_SYNC_SCHEDULE_HOURS);
    let sync_order = reader.integer("syncOrder", 0, 1000);
    let sync_from_utc = reader.string("syncFromUtc").and_then(|raw| {
        let parsed = parse_datetime(raw);
        if parsed.is_none() {
            reader.error("syncFromUtc", "'syncFromUtc' must be an ISO 8601 date or date-time");
        }
        parsed
    });
    let sync_from_window = reader.integer("syncFromWindow", 0, 36_500);
    let months_to_sync = reader.integer("monthsToSync", 0, 1200);
    let is_locked = reader.bool("isLocked");
    for required in ["fetchOnFirstLink", "syncSchedule", "syncOrder"] {
        if reader.raw(required).is_none() {
            reader.error(required, format!("'{required}' is required"));
        }
    }
    let mut errors = reader.into_errors();
    for item in &mut errors {
        item.item_id = item.item_id.take().map(|field| format!("{prefix}.{field}"));
    }
    match (data_type, fetch_on_first_link, sync_schedule, sync_order) {
        (Some(data_type), Some(fetch_on_first_link), Some(sync_schedule), Some(sync_order)) if errors.is_empty() => {
            Ok(SyncSetting {
                data_type,
                fetch_on_first_link,
                sync_schedule,
                sync_order,
                sync_from_utc,
                sync_from_window,
                months_to_sync,
                is_locked: is_locked.unwrap_or(false),
            })
        }
        _ => Err(errors),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn drafts_report_every_problem_and_unknown_fields() {
        let err = company_draft(&json!({"name": "<>", "tags": {"k": 1}, "nmae": "x"})).unwrap_err();
        let fields: Vec<_> = err.fields().iter().filter_map(|v| v.item_id.clone()).collect();
        assert_eq!(fields, ["nmae", "name", "tags"]);
        assert!(company_draft(&json!({})).unwrap_err().fields()[0].message.as_deref() == Some("'name' is required"));
        assert!(company_draft(&json!("name")).is_err());
        let patch = company_patch(&json!({"tags": {"region": "uk"}})).expect("valid");
        assert_eq!(patch.name, None);
        assert_eq!(patch.tags.expect("tags").as_map()["region"], "uk");
    }

    #[test]
    fn explicit_settings_override_defaults() {
        let company = Uuid::new_v4();
        let body = json!({
            "companyId": company.to_string(),
            "overridesDefaults": true,
            "settings": [{"dataType": "commerce-orders", "fetchOnFirstLink": true, "syncSchedule": 1, "syncOrder": 0}]
        });
        let parsed = sync_settings(&body, company).expect("valid");
        let effective = parsed.effective();
        assert_eq!(effective.len(), 11);
        let orders = effective.iter().find(|s| s.data_type == DataType::Orders).expect("orders");
        assert_eq!((orders.sync_schedule, orders.sync_order), (1, 0));
        let customers = effective.iter().find(|s| s.data_type == DataType::Customers).expect("customers");
        assert_eq!(customers, &SyncSetting::default_for(DataType::Customers));
    }

    #[test]
    fn bad_settings_name_each_problem() {
        let company = Uuid::new_v4();
        let body = json!({
            "companyId": Uuid::new_v4().to_string(),
            "overridesDefaults": "yes",
            "settings": [
                {"dataType": "invoices", "fetchOnFirstLink": true, "syncSchedule": 0, "syncOrder": 1},
                {"dataType": "commerce-orders", "fetchOnFirstLink": true, "syncSchedule": 24, "syncOrder": 1},
                {"dataType": "commerce-orders", "fetchOnFirstLink": true, "syncSchedule": 24, "syncOrder": 2}
            ]
        });
        let err = sync_settings(&body, company).unwrap_err();
        let ids: Vec<_> = err.fields().iter().filter_map(|v| v.item_id.clone()).collect();
        assert_eq!(
            ids,
            [
                "companyId",
                "overridesDefaults",
                "settings[0].dataType",
                "settings[0].syncSchedule",
                "settings[2].dataType"
            ]
        );
    }
}
