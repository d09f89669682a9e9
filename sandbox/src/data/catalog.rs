//! Products (with variants and images) and categories as `/v3/catalog/*` serves them: money as
//! numbers, ISO 8601 dates, a category tree.

use rand::Rng;
use serde_json::{Value, json};

use super::names::{ADJECTIVES, CATEGORIES, COLOURS, LOREM, NOUNS, SIZES};
use super::{Dataset, Kind, ProductHead, at, cents, money_number, pick, rng};

/// v3 catalog dates: RFC 3339 with a numeric offset, as the catalog examples show.
pub fn catalog_date(secs: i64) -> String {
    at(secs).format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
}

/// How many variants product `id` has: mostly one (the base variant), some dozens, a few
/// hundreds up to 1,000.
pub fn variant_count(seed: u64, id: u32) -> u16 {
    let mut r = rng(seed, Kind::Product, u64::from(id) | (3 << 40));
    if id.is_multiple_of(37) {
        return r.random_range(500..=1000);
    }
    match r.random_range(0..100) {
        0..=69 => 1,
        70..=96 => r.random_range(2..=12),
        _ => r.random_range(13..=100),
    }
}

/// The product's name as generated (unique in the store; orders keep this one).
pub fn product_name(seed: u64, id: u32) -> String {
    let mut r = rng(seed, Kind::Product, u64::from(id) | (4 << 40));
    format!("{} {} {id}", pick(&mut r, ADJECTIVES), pick(&mut r, NOUNS))
}

/// The product's name now: each runtime update renames it (`... Mk 2`, `... Mk 3`, ...).
pub fn current_name(seed: u64, head: &ProductHead) -> String {
    let name = product_name(seed, head.id);
    if head.revision == 0 { name } else { format!("{name} Mk {}", u32::from(head.revision) + 1) }
}

/// Category ids of the store (1-based), with parent ids.
pub fn categories(ds: &Dataset) -> Vec<(u32, u32, String)> {
    let count = ds.config.sizes.categories as usize;
    (0..count)
        .map(|i| {
            let (name, parent) = match CATEGORIES.get(i) {
                Some((name, parent)) => ((*name).to_string(), parent.map_or(0, |p| p as u32 + 1)),
                None => (format!("Collection {}", i + 1), 13.min(count as u32)),
            };
            (i as u32 + 1, parent, name)
        })
        .collect()
}

fn product_categories(ds: &Dataset, id: u32) -> Vec<u32> {
    let count = ds.config.sizes.categories;
    if count == 0 {
        return Vec::new();
    }
    let first = 1 + id % count;
    let second = 1 + (id * 7) % count;
    if first == second || id.is_multiple_of(3) { vec![first] } else { vec![first, second] }
}

fn description(seed: u64, id: u32) -> String {
    // A few products carry descriptions around DynamoDB's 400 KB item limit.
    let mut r = rng(seed, Kind::Product, u64::from(id) | (5 << 40));
    let paragraphs = if id.is_multiple_of(41) { r.random_range(1700..=2100) } else { r.random_range(1..=4) };
    let mut text = String::with_capacity(paragraphs * LOREM.len());
    for _ in 0..paragraphs {
        text.push_str(LOREM);
    }
    text
}

fn variant(head: &ProductHead, k: u32) -> Value {
    let id = head.id * 1000 + k;
    let colour = COLOURS[(k as usize) % COLOURS.len()];
    let size = SIZES[(k as usize / COLOURS.len()) % SIZES.len()];
    let price = cents(head.price_cents + i64::from(k % 5) * 100);
    let mut options = Vec::new();
    if head.variants > 1 {
        options.push(json!({"id": 1000 + k % 64, "label": colour, "option_id": 3, "option_display_name": "Colour"}));
        options.push(json!({"id": 2000 + (k / 8) % 64, "label": size, "option_id": 4, "option_display_name": "Size"}));
    }
    json!({
        "id": id,
        "product_id": head.id,
        "sku": format!("SKU-{}-{k}", head.id),
        "sku_id": id,
        "price": money_number(price),
        "calculated_price": money_number(price),
        "sale_price": null,
        "retail_price": null,
        "map_price": 0,
        "weight": null,
        "width": null,
        "height": null,
        "depth": null,
        "calculated_weight": 1.5,
        "is_free_shipping": false,
        "fixed_cost_shipping_price": null,
        "purchasing_disabled": false,
        "purchasing_disabled_message": "",
        "image_url": "",
        "cost_price": money_number(price * rust_decimal::Decimal::new(55, 2)),
        "upc": "",
        "mpn": "",
        "gtin": "",
        "inventory_level": (id % 97) as i64,
        "inventory_warning_level": 5,
        "bin_picking_number": "",
        "option_values": options,
    })
}

/// A product as `/v3/catalog/products` serves it.
pub fn render(ds: &Dataset, head: &ProductHead, variants: bool, images: bool) -> Value {
    let seed = ds.config.seed;
    let mut r = rng(seed, Kind::Product, u64::from(head.id) | (6 << 40));
    let name = current_name(seed, head);
    let price = cents(head.price_cents);
    let on_sale = r.random_bool(0.15);
    let sale =
        if on_sale { (price * rust_decimal::Decimal::new(85, 2)).round_dp(2) } else { rust_decimal::Decimal::ZERO };
    let tracking = if head.variants > 1 { "variant" } else { "product" };
    let mut product = json!({
        "id": head.id,
        "name": name,
        "type": "physical",
        "sku": format!("SKU-{}", head.id),
        "description": description(seed, head.id),
        "weight": 1.5,
        "width": 10,
        "depth": 3,
        "height": 5,
        "price": money_number(price),
        "cost_price": money_number((price * rust_decimal::Decimal::new(55, 2)).round_dp(2)),
        "retail_price": 0,
        "sale_price": money_number(sale),
        "map_price": 0,
        "tax_class_id": 0,
        "product_tax_code": "",
        "calculated_price": money_number(if on_sale { sale } else { price }),
        "categories": product_categories(ds, head.id),
        "brand_id": 1 + head.id % 5,
        "option_set_id": 0,
        "option_set_display": "right",
        "inventory_level": (head.id * 13 % 500) as i64,
        "inventory_warning_level": 10,
        "inventory_tracking": tracking,
        "reviews_rating_sum": (head.id % 5) as i64 * 4,
        "reviews_count": (head.id % 5) as i64,
        "total_sold": (head.id * 31 % 900) as i64,
        "fixed_cost_shipping_price": 0,
        "is_free_shipping": head.id.is_multiple_of(11),
        "is_visible": !head.id.is_multiple_of(17),
        "is_featured": head.id.is_multiple_of(13),
        "related_products": [-1],
        "warranty": "",
        "bin_picking_number": "",
        "layout_file": "product.html",
        "upc": "",
        "mpn": "",
        "gtin": "",
        "search_keywords": "outdoor, camping",
        "availability": "available",
        "availability_description": "",
        "gift_wrapping_options_type": "any",
        "gift_wrapping_options_list": [],
        "sort_order": 0,
        "condition": "New",
        "is_condition_shown": false,
        "order_quantity_minimum": 0,
        "order_quantity_maximum": 0,
        "page_title": "",
        "meta_keywords": [],
        "meta_description": "",
        "view_count": (head.id * 7 % 1000) as i64,
        "preorder_release_date": null,
        "preorder_message": "",
        "is_preorder_only": false,
        "is_price_hidden": false,
        "price_hidden_label": "",
        "custom_url": {"url": format!("/products/{}/", head.id), "is_customized": false},
        "base_variant_id": head.id * 1000,
        "open_graph_type": "product",
        "open_graph_title": "",
        "open_graph_description": "",
        "open_graph_use_meta_description": true,
        "open_graph_use_product_name": true,
        "open_graph_use_image": true,
        "date_created": catalog_date(head.created),
        "date_modified": catalog_date(head.modified),
        "date_last_imported": "",
    });
    if variants {
        product["variants"] = Value::Array((0..u32::from(head.variants)).map(|k| variant(head, k)).collect());
    }
    if images {
        let count = 1 + head.id % 3;
        product["images"] = Value::Array(
            (0..count)
                .map(|k| {
                    let url = format!("https://cdn.example.com/products/{}/{k}.jpg", head.id);
                    json!({
                        "id": head.id * 10 + k, "product_id": head.id, "is_thumbnail": k == 0, "sort_order": k,
                        "description": "", "image_url": url, "url_zoom": url, "url_standard": url,
                        "url_thumbnail": url, "url_tiny": url, "date_modified": catalog_date(head.modified),
                    })
                })
                .collect(),
        );
    }
    product
}

/// Categories as `/v3/catalog/trees/categories` serves them (one tree, id 1).
pub fn tree_category(id: u32, parent: u32, name: &str) -> Value {
    category(
        id,
        parent,
        name,
        json!({
            "category_id": id,
            "category_uuid": format!("00000000-0000-4000-8000-{id:012}"),
            "tree_id": 1,
            "url": {"path": format!("/categories/{id}/"), "is_customized": false},
        }),
    )
}

/// Categories as the deprecated `/v3/catalog/categories` serves them.
pub fn legacy_category(id: u32, parent: u32, name: &str) -> Value {
    category(
        id,
        parent,
        name,
        json!({
            "id": id,
            "custom_url": {"url": format!("/categories/{id}/"), "is_customized": false},
        }),
    )
}

/// The fields both category shapes share, plus `own` (each shape's id and URL fields).
fn category(id: u32, parent: u32, name: &str, own: Value) -> Value {
    let mut category = json!({
        "parent_id": parent,
        "name": name,
        "description": format!("<p>{name}</p>"),
        "views": id * 11,
        "sort_order": id,
        "page_title": name,
        "meta_keywords": [],
        "meta_description": "",
        "layout_file": "category.html",
        "image_url": "",
        "is_visible": true,
        "search_keywords": "",
        "default_product_sort": "use_store_settings",
    });
    if let (Some(fields), Value::Object(own)) = (category.as_object_mut(), own) {
        fields.extend(own);
    }
    category
}
