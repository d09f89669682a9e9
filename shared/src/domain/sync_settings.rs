//! Sync settings: per data type, whether to fetch on first link, how often (hours) and in which
//! order. Stored per company; data types a company has not set use the defaults.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::validate::FieldReader;
use crate::error::ApiError;
use crate::query::parse_datetime;

/// Codat's commerce data types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum DataType {
    /// Store information (`GET /v2/store`).
    #[serde(rename = "commerce-companyInfo")]
    CompanyInfo,
    /// Product categories.
    #[serde(rename = "commerce-productCategories")]
    ProductCategories,
    /// Products with variants.
    #[serde(rename = "commerce-products")]
    Products,
    /// Customers with addresses.
    #[serde(rename = "commerce-customers")]
    Customers,
    /// Orders with line items.
    #[serde(rename = "commerce-orders")]
    Orders,
    /// Order transactions.
    #[serde(rename = "commerce-transactions")]
    Transactions,
    /// Payments (including refunds).
    #[serde(rename = "commerce-payments")]
    Payments,
    /// Payment methods.
    #[serde(rename = "commerce-paymentMethods")]
    PaymentMethods,
    /// Not available from BigCommerce with the requested scopes.
    #[serde(rename = "commerce-locations")]
    Locations,
    /// Not available from BigCommerce with the requested scopes.
    #[serde(rename = "commerce-taxComponents")]
    TaxComponents,
    /// Not available from BigCommerce with the requested scopes.
    #[serde(rename = "commerce-disputes")]
    Disputes,
}

impl DataType {
    /// Every commerce data type, in default sync order.
    pub const ALL: [DataType; 11] = [
        DataType::CompanyInfo,
        DataType::ProductCategories,
        DataType::Products,
        DataType::Customers,
        DataType::Orders,
        DataType::Transactions,
        DataType::Payments,
        DataType::PaymentMethods,
        DataType::Locations,
        DataType::TaxComponents,
        DataType::Disputes,
    ];

    /// Codat's key, e.g. `commerce-orders`.
    pub fn key(self) -> &'static str {
        match self {
            DataType::CompanyInfo => "commerce-companyInfo",
            DataType::ProductCategories => "commerce-productCategories",
            DataType::Products => "commerce-products",
            DataType::Customers => "commerce-customers",
            DataType::Orders => "commerce-orders",
            DataType::Transactions => "commerce-transactions",
            DataType::Payments => "commerce-payments",
            DataType::PaymentMethods => "commerce-paymentMethods",
            DataType::Locations => "commerce-locations",
            DataType::TaxComponents => "commerce-taxComponents",
            DataType::Disputes => "commerce-disputes",
        }
    }

    /// Parses Codat's key (exact case).
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.key() == raw)
    }

    /// Whether BigCommerce provides this data type with the five read-only scopes.
    pub fn supported(self) -> bool {
        !matches!(self, DataType::Locations | DataType::TaxComponents | DataType::Disputes)
    }
}

/// Most hours between scheduled syncs (one year).
pub const MAX_SYNC_SCHEDULE_HOURS: u64 = 8760;
/// Default hours between scheduled syncs.
pub const DEFAULT_SYNC_SCHEDULE_HOURS: u32 = 24;

/// One data type's settings, in Codat's terms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncSetting {
    /// The data type.
    pub data_type: DataType,
    /// Queue a sync when the connection is first linked.
    pub fetch_on_first_link: bool,
    /// Hours between scheduled syncs.
    pub sync_schedule: u32,
    /// Lower syncs first.
    pub sync_order: u32,
    /// Earliest record date to fetch on the first sync.
    #[serde(default)]
    pub sync_from_utc: Option<DateTime<Utc>>,
    /// Days of history to fetch on the first sync, instead of `sync_from_utc`.
    #[serde(default)]
    pub sync_from_window: Option<u32>,
    /// Months of history to fetch on the first sync.
    #[serde(default)]
    pub months_to_sync: Option<u32>,
    /// Locked settings cannot be changed by the company.
    #[serde(default)]
    pub is_locked: bool,
}

impl SyncSetting {
    /// The default for a data type: supported types sync daily from first link, in
    /// [`DataType::ALL`] order; unsupported types are not fetched.
    pub fn default_for(data_type: DataType) -> Self {
        let order = DataType::ALL.iter().position(|d| *d == data_type).unwrap_or_default();
        Self {
            data_type,
            fetch_on_first_link: data_type.supported(),
            sync_schedule: DEFAULT_SYNC_SCHEDULE_HOURS,
            sync_order: u32::try_from(order).unwrap_or(u32::MAX),
            sync_from_utc: None,
            sync_from_window: None,
            months_to_sync: None,
            is_locked: false,
        }
    }

    fn from_json(value: &Value, index: usize) -> Result<Self, Vec<crate::codat::ValidationItem>> {
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
            return Err(vec![crate::codat::ValidationItem::new(&prefix, format!("'{prefix}' must be an object"))]);
        };
        let data_type = reader.required_string("dataType").and_then(|raw| {
            let parsed = DataType::parse(raw);
            if parsed.is_none() {
                let keys: Vec<_> = DataType::ALL.iter().map(|d| d.key()).collect();
                reader
                    .error("dataType", format!("'{raw}' is not a commerce data type; use one of {}", keys.join(", ")));
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
            (Some(data_type), Some(fetch_on_first_link), Some(sync_schedule), Some(sync_order))
                if errors.is_empty() =>
            {
                Ok(Self {
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
}

/// A company's stored settings: the data types it set explicitly.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncSettings {
    /// Explicit settings, at most one per data type.
    pub settings: Vec<SyncSetting>,
    /// Codat's `overridesDefaults` flag as last set.
    pub overrides_defaults: bool,
}

impl SyncSettings {
    /// Parses Codat's `POST /companies/{id}/syncSettings` body for `company_id`.
    pub fn from_json(body: &Value, company_id: uuid::Uuid) -> Result<Self, ApiError> {
        let mut reader = FieldReader::new(body, &["companyId", "settings", "overridesDefaults"])?;
        if let Some(raw) = reader.required_string("companyId")
            && uuid::Uuid::parse_str(raw).ok() != Some(company_id)
        {
            reader.error("companyId", "'companyId' must equal the company id in the path");
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
                    match SyncSetting::from_json(item, index) {
                        Ok(setting) if settings.iter().any(|s: &SyncSetting| s.data_type == setting.data_type) => {
                            errors.push(crate::codat::ValidationItem::new(
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
            return Err(ApiError::validation(all));
        }
        Ok(Self { settings, overrides_defaults: overrides_defaults.unwrap_or(true) })
    }

    /// The effective setting of every data type: explicit ones, defaults for the rest, in
    /// sync order.
    pub fn effective(&self) -> Vec<SyncSetting> {
        let mut all: Vec<SyncSetting> = DataType::ALL
            .into_iter()
            .map(|d| {
                self.settings.iter().find(|s| s.data_type == d).cloned().unwrap_or_else(|| SyncSetting::default_for(d))
            })
            .collect();
        all.sort_by_key(|s| (s.sync_order, s.data_type));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use uuid::Uuid;

    #[test]
    fn defaults_cover_every_commerce_type() {
        let effective = SyncSettings::default().effective();
        assert_eq!(effective.len(), 11);
        assert!(effective.iter().all(|s| s.fetch_on_first_link == s.data_type.supported()));
        assert_eq!(effective[0].data_type, DataType::CompanyInfo);
    }

    #[test]
    fn explicit_settings_override_defaults() {
        let company = Uuid::new_v4();
        let body = json!({
            "companyId": company.to_string(),
            "overridesDefaults": true,
            "settings": [{"dataType": "commerce-orders", "fetchOnFirstLink": true, "syncSchedule": 1, "syncOrder": 0}]
        });
        let parsed = SyncSettings::from_json(&body, company).expect("valid");
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
        let err = SyncSettings::from_json(&body, company).unwrap_err();
        let ids: Vec<_> = err.validation.iter().filter_map(|v| v.item_id.clone()).collect();
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
