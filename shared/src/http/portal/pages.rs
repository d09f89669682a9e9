//! The portal's pages: view models rendered with askama (auto-escaped) from `templates/portal/`.

use askama::Template;
use http::{HeaderValue, StatusCode};
use lambda_http::{Body, Response};
use rust_decimal::Decimal;

use crate::domain::{DataType, SalesByMonth};
use crate::http::link::secure;

const CSS: &str = include_str!("../../../assets/portal.css");
const JS: &str = include_str!("../../../assets/portal.js");
const LOGO: &[u8] = include_bytes!("../../../assets/bigcommerce-logo.svg");

/// What every page shares: where assets and pages are, the session's CSRF token, the current
/// navigation entry and a notice.
pub(super) struct Layout {
    pub assets: String,
    pub root: String,
    pub csrf: String,
    pub signed_in: bool,
    pub nav: &'static str,
    pub notice: Option<&'static str>,
}

/// A static asset of the portal.
pub(super) fn asset(name: &str) -> Option<Response<Body>> {
    let (content_type, body): (&str, Body) = match name {
        "portal.css" => ("text/css; charset=utf-8", Body::Text(CSS.into())),
        "portal.js" => ("text/javascript; charset=utf-8", Body::Text(JS.into())),
        "bigcommerce-logo.svg" => ("image/svg+xml", Body::Binary(LOGO.to_vec())),
        _ => return None,
    };
    let mut response = secure(Response::new(body));
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_str(content_type).unwrap_or(HeaderValue::from_static("text/plain")),
    );
    headers.insert(http::header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    Some(response)
}

/// Renders `template` as an HTML page with the Link pages' security headers.
pub(super) fn render(status: StatusCode, template: &impl Template) -> Response<Body> {
    let (status, text) = match template.render() {
        Ok(text) => (status, text),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "<!doctype html><title>Error</title><p>Something went wrong.</p>".into(),
            )
        }
    };
    let mut response = secure(Response::new(Body::Text(text)));
    *response.status_mut() = status;
    response.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    response
}

/// A data type as operators read it.
pub(super) fn label(data_type: DataType) -> &'static str {
    match data_type {
        DataType::CompanyInfo => "Company info",
        DataType::ProductCategories => "Product categories",
        DataType::Products => "Products",
        DataType::Customers => "Customers",
        DataType::Orders => "Orders",
        DataType::Transactions => "Transactions",
        DataType::Payments => "Payments",
        DataType::PaymentMethods => "Payment methods",
        DataType::Locations => "Locations",
        DataType::TaxComponents => "Tax components",
        DataType::Disputes => "Disputes",
    }
}

/// A time as operators read it (UTC, to the minute); `—` for never.
pub(super) fn when(at: Option<chrono::DateTime<chrono::Utc>>) -> String {
    at.map_or_else(|| "—".to_string(), |at| at.format("%Y-%m-%d %H:%M UTC").to_string())
}

#[derive(Template)]
#[template(path = "portal/sign_in.html")]
pub(super) struct SignIn<'a> {
    pub l: &'a Layout,
    pub token: String,
    pub error: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "portal/message.html")]
pub(super) struct Message<'a> {
    pub l: &'a Layout,
    pub title: &'a str,
    pub message: &'a str,
}

#[derive(Template)]
#[template(path = "portal/integrations.html")]
pub(super) struct Integrations<'a> {
    pub l: &'a Layout,
    pub enabled: bool,
    pub back: &'static str,
}

/// One data type's default settings, as the form shows them.
pub(super) struct SettingRow {
    pub key: &'static str,
    pub name: &'static str,
    pub fetch: bool,
    pub hours: u32,
    pub from: String,
}

#[derive(Template)]
#[template(path = "portal/integration.html")]
pub(super) struct Integration<'a> {
    pub l: &'a Layout,
    pub enabled: bool,
    pub back: &'static str,
    pub settings: Vec<SettingRow>,
    pub error: Option<String>,
}

/// A company in the list.
pub(super) struct CompanyRow {
    pub id: String,
    pub name: String,
    pub tags: String,
    pub pills: Vec<&'static str>,
    pub last_sync: String,
    pub created: String,
}

#[derive(Template)]
#[template(path = "portal/companies.html")]
pub(super) struct CompaniesPage<'a> {
    pub l: &'a Layout,
    pub q: String,
    pub tag: String,
    pub rows: Vec<CompanyRow>,
    pub total: usize,
    pub page: usize,
    pub pages: usize,
    pub prev: Option<String>,
    pub next: Option<String>,
    pub form_id: &'static str,
}

/// A company just added.
pub(super) struct Created {
    pub id: String,
    pub name: String,
    pub link_url: String,
}

#[derive(Template)]
#[template(path = "portal/company_new.html")]
pub(super) struct CompanyNew<'a> {
    pub l: &'a Layout,
    pub created: Option<Created>,
    pub error: Option<String>,
    pub form_id: &'static str,
}

/// A connection of the company page.
pub(super) struct ConnectionRow {
    pub id: String,
    pub status: &'static str,
    pub store: String,
    pub last_sync: String,
    pub linked: bool,
}

/// One (connection, data type) status row.
pub(super) struct StatusRow {
    pub slot: String,
    pub key: &'static str,
    pub name: String,
    pub connection: String,
    pub status: &'static str,
    pub progress: u8,
    pub last_success: String,
    pub refreshable: bool,
}

/// One pull of the history.
pub(super) struct HistoryRow {
    pub name: &'static str,
    pub status: &'static str,
    pub started: String,
    pub duration: String,
    pub records: String,
    pub error: String,
}

#[derive(Template)]
#[template(path = "portal/company.html")]
pub(super) struct CompanyPage<'a> {
    pub l: &'a Layout,
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub created: String,
    pub last_sync: String,
    pub tags: String,
    pub link_url: String,
    pub connections: Vec<ConnectionRow>,
    pub has_linked: bool,
    pub statuses: Vec<StatusRow>,
    pub running: bool,
    pub history: Vec<HistoryRow>,
    pub history_more: bool,
}

#[derive(Template)]
#[template(path = "portal/company_delete.html")]
pub(super) struct CompanyDelete<'a> {
    pub l: &'a Layout,
    pub id: String,
    pub name: String,
    pub connections: usize,
}

/// One bar of the sales chart.
pub(super) struct Bar {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
    pub label_x: u32,
    pub short: String,
}

/// The sales chart: an SVG of bars and the same figures as a table.
pub(super) struct Chart {
    pub currency: String,
    pub orders: u64,
    pub computed: String,
    pub width: u32,
    pub height: u32,
    pub base: u32,
    pub label_y: u32,
    pub max_label: String,
    pub bars: Vec<Bar>,
    pub months: Vec<(String, String)>,
}

/// Months charted at most (the latest).
pub(super) const CHART_MONTHS: usize = 24;

impl Chart {
    /// The chart of `sales` (its main currency, the latest [`CHART_MONTHS`] months).
    pub fn of(sales: &SalesByMonth) -> Option<Self> {
        let (currency, months) = sales.main_currency()?;
        let months: Vec<(&String, &Decimal)> = months.iter().rev().take(CHART_MONTHS).rev().collect();
        let max = months.iter().map(|(_, v)| **v).max().unwrap_or_default().max(Decimal::ONE);
        let (height, base, left, slot) = (220u32, 190u32, 44u32, 28u32);
        let width = left + slot * (months.len() as u32).max(1);
        let bars = months
            .iter()
            .enumerate()
            .map(|(i, (month, value))| {
                let ratio = (**value).max(Decimal::ZERO) / max;
                let h = (ratio * Decimal::from(base - 20)).round().try_into().unwrap_or(0u32);
                let x = left + slot * i as u32 + 4;
                Bar {
                    x,
                    y: base - h,
                    w: slot - 8,
                    h,
                    label_x: x + (slot - 8) / 2,
                    short: month.get(2..).unwrap_or(month).to_string(),
                }
            })
            .collect();
        Some(Self {
            currency: if currency.is_empty() { "the store's currency".into() } else { currency.to_string() },
            orders: sales.orders,
            computed: when(sales.computed),
            width,
            height,
            base,
            label_y: base + 18,
            max_label: max.round().to_string(),
            bars,
            months: months.iter().rev().map(|(m, v)| ((*m).clone(), v.round_dp(2).to_string())).collect(),
        })
    }
}

/// The first page of one data type.
pub(super) struct DataTable {
    pub key: &'static str,
    pub name: &'static str,
    pub note: Option<String>,
    pub columns: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
    pub total: u64,
}

#[derive(Template)]
#[template(path = "portal/connection.html")]
pub(super) struct ConnectionPage<'a> {
    pub l: &'a Layout,
    pub company_id: String,
    pub company_name: String,
    pub store: String,
    pub chart: Option<Chart>,
    pub tables: Vec<DataTable>,
}

/// A key in the list.
pub(super) struct KeyRow {
    pub id: String,
    pub name: String,
    pub created: String,
    pub bootstrap: bool,
    pub current: bool,
}

/// A key just created (shown once).
pub(super) struct NewKey {
    pub name: Option<String>,
    pub key: String,
}

#[derive(Template)]
#[template(path = "portal/api_keys.html")]
pub(super) struct ApiKeysPage<'a> {
    pub l: &'a Layout,
    pub keys: Vec<KeyRow>,
    pub created: Option<NewKey>,
    pub error: Option<String>,
}
