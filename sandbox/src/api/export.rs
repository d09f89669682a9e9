//! The ground truth: every record as the API serves it.

use serde_json::{Value, json};

use crate::data::orders::{Includes, OrderBody};
use crate::data::{Dataset, catalog, customers, payments};

/// Every record as the API serves it, one JSON object per line:
/// `{"type": "order"|"order_product"|"transaction"|"refund"|"product"|"category"|"customer", ...}`.
pub fn export(ds: &Dataset, base: &str, out: &mut impl std::io::Write) -> std::io::Result<u64> {
    let mut lines = 0u64;
    let mut line = |out: &mut dyn std::io::Write, kind: &str, record: Value| -> std::io::Result<()> {
        lines += 1;
        serde_json::to_writer(&mut *out, &json!({"type": kind, "record": record}))?;
        out.write_all(b"\n")
    };
    for head in &ds.orders {
        let body = OrderBody::generate(ds, head);
        line(out, "order", body.render(base, Includes::default()))?;
        for item in &body.items {
            line(out, "order_product", body.line_item(item))?;
        }
        for t in payments::transactions(&body) {
            line(out, "transaction", t)?;
        }
        if let Some(refund) = payments::refund(&body) {
            line(out, "refund", refund)?;
        }
    }
    for head in ds.products.iter().filter(|p| !p.deleted) {
        line(out, "product", catalog::render(ds, head, true, true))?;
    }
    for (id, parent, name) in catalog::categories(ds) {
        line(out, "category", catalog::tree_category(id, parent, &name))?;
    }
    for head in ds.customers.iter().filter(|c| !c.deleted) {
        line(out, "customer", customers::render(ds.config.seed, head, true))?;
    }
    Ok(lines)
}
