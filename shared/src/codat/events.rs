//! Events as Codat delivers them: the envelope `{id, eventType, generatedDate, payload}` with
//! the payload of each event type (`../reference/codat/webhooks.md`). A company's `redirect`
//! and a connection's `linkUrl` are left out: they carry the Link token, which is not sent to
//! consumers nor kept in the outbox (`GET /companies/{id}` has them).

use serde_json::{Value, json};
use url::Url;

use super::timestamp;
use crate::domain::event::{CompanyRef, ConnectionRef, Event, ReadOutcome};
use crate::domain::integration::{INTEGRATION_ID, PLATFORM_KEY, PLATFORM_NAME, SOURCE_ID};
use crate::domain::webhook::EventType;

/// The body delivered for `event`; `public` is the deployment's public base URL (for the
/// portal's link to the company), when it has one.
pub fn event_body(event: &Event, public: Option<&Url>) -> Value {
    let payload = match event.event_type {
        EventType::CompanyCreated | EventType::CompanyDeleted => company(&event.company),
        _ => {
            let mut payload = json!({"referenceCompany": reference_company(&event.company, public)});
            if let Some(connection) = &event.connection {
                payload["connection"] = self::connection(connection, event);
            }
            if let Some(read) = &event.read {
                payload["modifiedFromDate"] = json!(read.modified_from.map(timestamp));
                payload["dataTypes"] = read.data_types.iter().map(read_outcome).collect();
            }
            payload
        }
    };
    crate::webhooks::events::envelope(event.id, event.event_type, event.generated, payload)
}

/// `company.*`'s payload: Codat's company details.
fn company(company: &CompanyRef) -> Value {
    json!({
        "id": company.id,
        "name": company.name,
        "description": company.description.clone().unwrap_or_default(),
        "lastSync": company.last_sync.map(timestamp),
        "created": timestamp(company.created),
        "createdByUserName": null,
        "products": [],
        "tags": company.tags.as_map(),
        "referenceParentCompany": null,
        "referenceSubsidiaryCompanies": [],
    })
}

/// `referenceCompany`: `{id, name, description, links: {portal}, tags}`.
fn reference_company(company: &CompanyRef, public: Option<&Url>) -> Value {
    let portal = public.and_then(|base| base.join(&format!("portal/companies/{}", company.id)).ok());
    json!({
        "id": company.id,
        "name": company.name,
        "description": company.description.clone().unwrap_or_default(),
        "links": {"portal": portal.map(|u| u.to_string())},
        "tags": company.tags.as_map(),
    })
}

/// One element of `read.*`'s `dataTypes`. No validation runs here, so `issues` is empty: the
/// status (and the dataset's `errorMessage`, from the sync history) tell what went wrong.
fn read_outcome(outcome: &ReadOutcome) -> Value {
    json!({
        "connectionId": outcome.connection_id,
        "dataType": outcome.data_type.key(),
        "recordsModified": outcome.records_modified,
        "status": outcome.status.as_str(),
        "issues": [],
    })
}

/// Codat's Connection, with `connection.failed`'s `dataConnectionErrors`.
fn connection(connection: &ConnectionRef, event: &Event) -> Value {
    let errors: Vec<Value> = event
        .failure
        .iter()
        .map(|f| {
            json!({
                "statusCode": f.status_code,
                "statusText": f.status_text,
                "errorMessage": f.message,
                "erroredOnUtc": timestamp(event.generated),
                "status": "Active",
            })
        })
        .collect();
    let mut value = json!({
        "id": connection.id,
        "integrationId": INTEGRATION_ID,
        "integrationKey": PLATFORM_KEY,
        "sourceId": SOURCE_ID,
        "sourceType": super::SOURCE_TYPE,
        "platformName": PLATFORM_NAME,
        "status": connection.status.as_str(),
        "lastSync": connection.last_sync.map(timestamp),
        "created": timestamp(connection.created),
        "dataConnectionErrors": errors,
    });
    if !connection.info.is_empty() {
        value["connectionInfo"] = json!(connection.info);
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::LinkFailure;
    use crate::domain::{Company, Connection};
    use chrono::Utc;

    fn company() -> Company {
        let draft = crate::codat::bodies::company_draft(&json!({"name": "Acme", "tags": {"uid": "42"}}));
        Company::create(draft.expect("draft"), Utc::now())
    }

    #[test]
    fn company_events_carry_the_company_without_its_link() {
        let company = company();
        let event = Event::about_company(EventType::CompanyCreated, &company, Utc::now());
        let body = event_body(&event, None);
        assert_eq!(body["id"], json!(event.id));
        assert_eq!(body["eventType"], "company.created");
        assert_eq!(body["payload"]["id"], json!(company.id));
        assert_eq!(body["payload"]["tags"], json!({"uid": "42"}));
        assert!(body["payload"].get("redirect").is_none(), "no Link token in an event");
        assert!(!body.to_string().contains(&company.link_nonce), "{body}");
    }

    #[test]
    fn connection_events_reference_their_company_and_say_why_linking_failed() {
        let company = company();
        let connection = Connection::create(company.id, Utc::now());
        let failure =
            LinkFailure { status_code: "401".into(), status_text: "Unauthorized".into(), message: "no".into() };
        let event = Event::about_connection(EventType::ConnectionFailed, &company, &connection, Utc::now())
            .with_failure(failure);
        let base = Url::parse("https://link.example.com/").expect("url");
        let body = event_body(&event, Some(&base));
        let payload = &body["payload"];
        assert_eq!(
            payload["referenceCompany"]["links"]["portal"],
            format!("https://link.example.com/portal/companies/{}", company.id)
        );
        assert_eq!(payload["connection"]["status"], "PendingAuth");
        assert_eq!(payload["connection"]["dataConnectionErrors"][0]["statusCode"], "401");
        assert!(payload["connection"].get("linkUrl").is_none());
    }

    #[test]
    fn read_events_list_each_data_type_as_codat_does() {
        let company = company();
        let (connection, dataset) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        let since = chrono::DateTime::parse_from_rfc3339("2026-11-30T10:00:00Z").expect("date").to_utc();
        let outcome = ReadOutcome {
            connection_id: connection,
            dataset_id: dataset,
            data_type: crate::domain::DataType::Orders,
            status: crate::domain::PullStatus::Complete,
            records_modified: true,
        };
        let read = crate::domain::event::ReadReport { modified_from: Some(since), data_types: vec![outcome] };
        let event = Event::about_read(EventType::ReadCompleted, &company, read, Utc::now());
        let body = event_body(&event, None);
        let payload = &body["payload"];
        assert_eq!(body["eventType"], "read.completed");
        assert_eq!(payload["referenceCompany"]["id"], json!(company.id));
        assert_eq!(payload["modifiedFromDate"], "2026-11-30T10:00:00.000Z");
        assert_eq!(
            payload["dataTypes"],
            json!([{"connectionId": connection, "dataType": "commerce-orders", "recordsModified": true,
                    "status": "Complete", "issues": []}])
        );
        assert!(payload.get("connection").is_none());
        let full =
            Event { read: Some(crate::domain::event::ReadReport { modified_from: None, data_types: vec![] }), ..event };
        assert_eq!(event_body(&full, None)["payload"]["modifiedFromDate"], Value::Null);
    }
}
