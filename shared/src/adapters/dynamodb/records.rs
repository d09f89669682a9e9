//! The data table: synced records, `pk = REC#<connection>#<data type>`, `sk = <source id>`.
//! Numeric source ids are zero-padded so the sort key orders them numerically. A record whose
//! JSON would exceed what fits in one item is stored gzip-compressed (`docz`) instead of as
//! text (`doc`); DynamoDB's 400 KB item limit is never hit by a whole record.

use std::collections::HashMap;
use std::io::{Read, Write};

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use uuid::Uuid;

use super::{BatchWriter, Item, classify};
use crate::domain::DataType;
use crate::error::StoreError;
use crate::ports::{RecordStore, StoredRecord};

/// Above this many bytes of JSON a record is compressed.
pub const COMPRESS_ABOVE: usize = 64 * 1024;
/// DynamoDB's item limit, minus room for keys and attributes.
pub const MAX_STORED_BYTES: usize = 390 * 1024;

/// Synced records in DynamoDB.
#[derive(Clone, Debug)]
pub struct DynamoRecords {
    client: Client,
    table: String,
    batch: BatchWriter,
}

impl DynamoRecords {
    /// Uses `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        let table = table.into();
        Self { batch: BatchWriter::new(client.clone(), table.clone()), client, table }
    }
}

fn partition(connection: Uuid, data_type: DataType) -> String {
    format!("REC#{connection}#{}", data_type.key())
}

/// The sort key of a source id: digits zero-padded to 20 places, anything else as is.
pub fn sort_key(id: &str) -> String {
    if !id.is_empty() && id.len() <= 20 && id.bytes().all(|b| b.is_ascii_digit()) {
        format!("{id:0>20}")
    } else {
        format!("~{id}")
    }
}

fn encode(record: &StoredRecord) -> Result<(&'static str, AttributeValue), StoreError> {
    let text = record.record.to_string();
    if text.len() <= COMPRESS_ABOVE {
        return Ok(("doc", AttributeValue::S(text)));
    }
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(text.as_bytes()).map_err(|e| StoreError::Backend(e.to_string()))?;
    let bytes = encoder.finish().map_err(|e| StoreError::Backend(e.to_string()))?;
    if bytes.len() > MAX_STORED_BYTES {
        return Err(StoreError::Backend(format!(
            "record {} is {} bytes compressed, above the item limit",
            record.id,
            bytes.len()
        )));
    }
    Ok(("docz", AttributeValue::B(Blob::new(bytes))))
}

fn decode(item: &HashMap<String, AttributeValue>) -> Result<StoredRecord, StoreError> {
    let text = match (item.get("doc"), item.get("docz")) {
        (Some(AttributeValue::S(text)), _) => text.clone(),
        (_, Some(AttributeValue::B(blob))) => {
            let mut text = String::new();
            flate2::read::GzDecoder::new(blob.as_ref())
                .read_to_string(&mut text)
                .map_err(|e| StoreError::Backend(format!("corrupt record: {e}")))?;
            text
        }
        _ => return Err(StoreError::Backend("record item without a document".into())),
    };
    let id = item.get("id").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
    let modified = item
        .get("modified")
        .and_then(|v| v.as_s().ok())
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|d| d.with_timezone(&chrono::Utc));
    let record = serde_json::from_str(&text).map_err(|e| StoreError::Backend(format!("corrupt record: {e}")))?;
    Ok(StoredRecord { id, modified, record })
}

#[async_trait]
impl RecordStore for DynamoRecords {
    async fn put_records(
        &self,
        connection: Uuid,
        data_type: DataType,
        records: &[StoredRecord],
    ) -> Result<(), StoreError> {
        let items = records
            .iter()
            .map(|r| {
                let (field, doc) = encode(r)?;
                let mut item: Item = HashMap::from([
                    ("pk".to_string(), AttributeValue::S(partition(connection, data_type))),
                    ("sk".to_string(), AttributeValue::S(sort_key(&r.id))),
                    ("id".to_string(), AttributeValue::S(r.id.clone())),
                    (field.to_string(), doc),
                ]);
                if let Some(modified) = r.modified {
                    item.insert("modified".into(), AttributeValue::S(crate::codat::timestamp(modified)));
                }
                Ok(item)
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.batch.put(items).await
    }

    async fn get_record(
        &self,
        connection: Uuid,
        data_type: DataType,
        id: &str,
    ) -> Result<Option<StoredRecord>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(partition(connection, data_type)))
            .key("sk", AttributeValue::S(sort_key(id)))
            .send()
            .await
            .map_err(classify)?;
        out.item.as_ref().map(decode).transpose()
    }

    async fn all_records(&self, connection: Uuid, data_type: DataType) -> Result<Vec<StoredRecord>, StoreError> {
        let mut records = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", AttributeValue::S(partition(connection, data_type)))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(classify)?;
            for item in out.items.unwrap_or_default() {
                records.push(decode(&item)?);
            }
            match out.last_evaluated_key {
                Some(next) if !next.is_empty() => start = Some(next),
                _ => return Ok(records),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_ids_sort_numerically() {
        let mut keys = vec![sort_key("100"), sort_key("99"), sort_key("1000"), sort_key("abc-1")];
        keys.sort();
        assert_eq!(keys, [sort_key("99"), sort_key("100"), sort_key("1000"), sort_key("abc-1")]);
    }

    #[test]
    fn large_records_are_compressed_and_round_trip() {
        let big = serde_json::json!({"id": "1", "description": "lorem ipsum ".repeat(60_000)});
        let record = StoredRecord { id: "1".into(), modified: None, record: big.clone() };
        let (field, value) = encode(&record).expect("encode");
        assert_eq!(field, "docz");
        let item = HashMap::from([("id".to_string(), AttributeValue::S("1".into())), (field.to_string(), value)]);
        assert_eq!(decode(&item).expect("decode").record, big);
    }
}
