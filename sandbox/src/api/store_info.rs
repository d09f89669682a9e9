//! `GET v2/store`: a fixed store profile around the store's configured name, hash and currency.

use serde_json::json;

use super::reply::Reply;
use crate::config::StoreConfig;
use crate::data::Dataset;

/// The numeric `store_id` of `v2/store` (webhook envelopes carry it as a string).
pub fn store_id(config: &StoreConfig) -> u64 {
    1_000_000 + (config.seed % 1_000_000)
}

/// The store's information.
pub(super) fn store_info(ds: &Dataset, base: &str) -> Reply {
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
        "store_id": store_id(c),
        "default_channel_id": 1,
        "default_site_id": 1000,
        "active_comparison_modules": [],
        "features": {"stencil_enabled": true, "sitewidehttps_enabled": true, "facebook_catalog_id": "", "checkout_type": "optimized",
                     "wishlists_enabled": true, "graphql_storefront_api_enabled": true, "shopper_consent_tracking_enabled": true,
                     "multi_storefront_enabled": false, "storefront_limits": {"active": 1, "total_including_inactive": 1}},
    }))
}
