//! BatchWriteItem done right: at most 25 requests per call, no duplicate keys in one call,
//! `UnprocessedItems` retried with exponential backoff until written or the attempts run out.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, PutRequest, WriteRequest};

use super::item::{Item, classify};
use crate::error::StoreError;

/// DynamoDB's limit of requests per BatchWriteItem call (moto does not enforce it; we do).
pub const MAX_BATCH_ITEMS: usize = 25;
const MAX_ATTEMPTS: u32 = 8;
/// BatchWriteItem calls in flight at once for one write (a page of 250 records is 10 calls).
const PARALLEL_BATCHES: usize = 4;
const BASE_DELAY: Duration = Duration::from_millis(25);

/// Writes batches to one table.
#[derive(Clone, Debug)]
pub struct BatchWriter {
    client: Client,
    table: String,
}

impl BatchWriter {
    /// Writes to `table`.
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }

    /// Deletes every key (items with `pk` and `sk`), in chunks.
    pub async fn delete(&self, keys: Vec<Item>) -> Result<(), StoreError> {
        let requests = keys
            .into_iter()
            .map(|key| {
                DeleteRequest::builder()
                    .set_key(Some(key))
                    .build()
                    .map(|d| WriteRequest::builder().delete_request(d).build())
                    .map_err(|e| StoreError::Backend(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.write(requests).await
    }

    /// Puts every item, in chunks. Later items replace earlier ones with the same key.
    pub async fn put(&self, items: Vec<Item>) -> Result<(), StoreError> {
        let requests = items
            .into_iter()
            .map(|item| {
                PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .map(|p| WriteRequest::builder().put_request(p).build())
                    .map_err(|e| StoreError::Backend(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.write(requests).await
    }

    /// Writes the chunks, up to [`PARALLEL_BATCHES`] calls at a time (keys are distinct after
    /// de-duplication, so their order does not matter). Returns once all are written.
    async fn write(&self, requests: Vec<WriteRequest>) -> Result<(), StoreError> {
        use futures::{StreamExt, TryStreamExt};
        let chunks: Vec<Vec<WriteRequest>> = dedupe(requests).chunks(MAX_BATCH_ITEMS).map(<[_]>::to_vec).collect();
        futures::stream::iter(chunks.into_iter().map(|chunk| self.write_chunk(chunk)))
            .buffer_unordered(PARALLEL_BATCHES)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    async fn write_chunk(&self, mut pending: Vec<WriteRequest>) -> Result<(), StoreError> {
        for attempt in 0..MAX_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(BASE_DELAY * 2u32.pow(attempt - 1)).await;
            }
            let out = self
                .client
                .batch_write_item()
                .request_items(&self.table, pending.clone())
                .send()
                .await
                .map_err(classify);
            match out {
                Ok(out) => {
                    pending = out.unprocessed_items.and_then(|mut u| u.remove(&self.table)).unwrap_or_default();
                    if pending.is_empty() {
                        return Ok(());
                    }
                }
                Err(e) if e.retryable() => {
                    tracing::warn!(error = %e, attempt, "batch write throttled")
                }
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Unavailable(format!(
            "{} batch writes still unprocessed after {MAX_ATTEMPTS} attempts",
            pending.len()
        )))
    }
}

fn request_key(request: &WriteRequest) -> Option<(String, String)> {
    let item: &HashMap<String, AttributeValue> = match (&request.put_request, &request.delete_request) {
        (Some(put), _) => &put.item,
        (None, Some(delete)) => &delete.key,
        (None, None) => return None,
    };
    Some((item.get("pk")?.as_s().ok()?.clone(), item.get("sk")?.as_s().ok()?.clone()))
}

/// Keeps the last request for each key, in first-seen order (DynamoDB rejects a batch with
/// duplicate keys).
fn dedupe(requests: Vec<WriteRequest>) -> Vec<WriteRequest> {
    let mut out: Vec<WriteRequest> = Vec::with_capacity(requests.len());
    let mut index: HashMap<(String, String), usize> = HashMap::new();
    for request in requests {
        match request_key(&request) {
            Some(key) => match index.entry(key) {
                Entry::Occupied(slot) => out[*slot.get()] = request,
                Entry::Vacant(slot) => {
                    slot.insert(out.len());
                    out.push(request);
                }
            },
            None => out.push(request),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(pk: &str, sk: &str, v: &str) -> WriteRequest {
        let item = HashMap::from([
            ("pk".to_string(), AttributeValue::S(pk.into())),
            ("sk".to_string(), AttributeValue::S(sk.into())),
            ("v".to_string(), AttributeValue::S(v.into())),
        ]);
        WriteRequest::builder().put_request(PutRequest::builder().set_item(Some(item)).build().expect("item")).build()
    }

    #[test]
    fn duplicate_keys_keep_the_last_write_in_place() {
        let out = dedupe(vec![put("a", "1", "x"), put("b", "1", "y"), put("a", "1", "z")]);
        let values: Vec<_> =
            out.iter().map(|r| r.put_request.as_ref().and_then(|p| p.item["v"].as_s().ok()).cloned()).collect();
        assert_eq!(values, [Some("z".to_string()), Some("y".to_string())]);
    }
}
