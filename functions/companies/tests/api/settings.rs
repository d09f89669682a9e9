use serde_json::json;
use uuid::Uuid;

use crate::helpers::{TestApp, assert_error, invalid_fields};
use crate::spec::assert_valid;

#[tokio::test]
async fn defaults_then_explicit_settings() {
    let app = TestApp::new().await;
    let company = app.company("Settings Co").await;
    let id = company["id"].as_str().expect("id");
    let path = format!("/companies/{id}/syncSettings");

    let defaults = app.call("GET", &path, None).await;
    assert_eq!(defaults.status, 200);
    assert_valid("CompanySyncSettings", &defaults.body);
    let settings = defaults.body["settings"].as_array().expect("settings");
    assert_eq!(settings.len(), 11);
    for s in settings {
        assert_valid("SyncSetting", s);
        let supported = !["commerce-locations", "commerce-taxComponents", "commerce-disputes"]
            .contains(&s["dataType"].as_str().expect("dt"));
        assert_eq!(s["fetchOnFirstLink"], supported, "{s}");
        assert_eq!(s["syncSchedule"], 24);
    }
    assert_eq!(defaults.body["companyId"], id);

    let body = json!({"companyId": id, "overridesDefaults": true, "settings": [
        {"dataType": "commerce-orders", "fetchOnFirstLink": true, "syncSchedule": 1, "syncOrder": 0, "syncFromUtc": "2025-01-01T00:00:00Z"},
        {"dataType": "commerce-customers", "fetchOnFirstLink": false, "syncSchedule": 168, "syncOrder": 50}
    ]});
    let set = app.call("POST", &path, Some(body)).await;
    assert_eq!(set.status, 204, "{}", set.body);
    let after = app.call("GET", &path, None).await;
    assert_valid("CompanySyncSettings", &after.body);
    let all = after.body["settings"].as_array().expect("settings");
    assert_eq!(all.len(), 11);
    let orders = all.iter().find(|s| s["dataType"] == "commerce-orders").expect("orders");
    assert_eq!(
        (orders["syncSchedule"].as_u64(), orders["syncFromUtc"].as_str()),
        (Some(1), Some("2025-01-01T00:00:00.000Z"))
    );
    let customers = all.iter().find(|s| s["dataType"] == "commerce-customers").expect("customers");
    assert_eq!((customers["fetchOnFirstLink"].as_bool(), customers["syncSchedule"].as_u64()), (Some(false), Some(168)));
    assert_eq!(all.last().expect("last")["dataType"], "commerce-customers", "sorted by syncOrder");
}

#[tokio::test]
async fn invalid_settings_are_refused_and_not_stored() {
    let app = TestApp::new().await;
    let company = app.company("Bad Settings Co").await;
    let id = company["id"].as_str().expect("id");
    let path = format!("/companies/{id}/syncSettings");
    let before = app.call("GET", &path, None).await.body;
    let cases = [
        (json!({"companyId": Uuid::new_v4(), "overridesDefaults": true, "settings": []}), vec!["companyId"]),
        (json!({"companyId": id, "settings": []}), vec!["overridesDefaults"]),
        (json!({"companyId": id, "overridesDefaults": true}), vec!["settings"]),
        (
            json!({"companyId": id, "overridesDefaults": true, "settings": [{"dataType": "invoices", "fetchOnFirstLink": true, "syncSchedule": 24, "syncOrder": 0}]}),
            vec!["settings[0].dataType"],
        ),
        (
            json!({"companyId": id, "overridesDefaults": true, "settings": [{"dataType": "commerce-orders", "fetchOnFirstLink": true, "syncSchedule": 0, "syncOrder": 0}]}),
            vec!["settings[0].syncSchedule"],
        ),
        (
            json!({"companyId": id, "overridesDefaults": true, "settings": [{"dataType": "commerce-orders"}]}),
            vec!["settings[0].fetchOnFirstLink", "settings[0].syncSchedule", "settings[0].syncOrder"],
        ),
        (
            json!({"companyId": id, "overridesDefaults": true, "settings": [{"dataType": "commerce-orders", "fetchOnFirstLink": true, "syncSchedule": 24, "syncOrder": 0, "syncFromUtc": "last week"}]}),
            vec!["settings[0].syncFromUtc"],
        ),
        (json!({"companyId": id, "overridesDefaults": true, "extra": 1, "settings": []}), vec!["extra"]),
    ];
    for (body, fields) in cases {
        let reply = app.call("POST", &path, Some(body.clone())).await;
        assert_error(&reply, 400, "Validation failed");
        assert_eq!(invalid_fields(&reply), fields, "{body}");
    }
    assert_eq!(app.call("GET", &path, None).await.body, before);
    let missing = Uuid::new_v4();
    let body = json!({"companyId": missing, "overridesDefaults": true, "settings": []});
    assert_error(&app.call("POST", &format!("/companies/{missing}/syncSettings"), Some(body)).await, 404, "No company");
    assert_error(&app.call("GET", &format!("/companies/{missing}/syncSettings"), None).await, 404, "No company");
}
