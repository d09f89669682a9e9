//! The data table: synced records, their summaries and the list directory.
//!
//! - `REC#<connection>#<data type>` / `<source id>`: the record. Numeric source ids are
//!   zero-padded so the sort key orders them numerically. A record whose JSON would exceed what
//!   fits in one item is stored gzip-compressed (`docz`) instead of as text (`doc`); DynamoDB's
//!   400 KB item limit is never hit by a whole record.
//! - `IDX#<connection>#<data type>` / `<source id>`: its summary (`s`, the record without its
//!   heavy properties), written in the same batch; filters and sorts read these small items.
//! - `DIR#<connection>#<data type>` / `HEAD`, `CHUNK#<first key>`: the directory written by
//!   [`RecordStore::seal`] ([`super::directory`]): the count, and key ranges of about
//!   [`STRIDE`] records with their counts, so page N starts at a known key instead of after
//!   reading the records before it.
//! - `DRT#<connection>#<data type>` / `<token>`: a mark left by each write call before it
//!   lands, listing the key groups it touches (`groups`; one item per call, however many
//!   groups: a page of payments touches one per order); the next seal recounts only what the
//!   marks name, then deletes the marks it read.
//! - `AGG#<connection>` / `<name>`: an aggregate computed when a sync seals (`v`, JSON), such as
//!   the sales per month the portal charts.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use uuid::Uuid;

use super::BatchWriter;
use super::directory::{self, Bucket, ChunkRef, FIRST, FORMAT, chunk_key};
use super::item::{Item, classify, text};
use crate::codat::summary::summarize;
use crate::codat::timestamp;
use crate::error::StoreError;
pub use crate::ports::sort_key;
use crate::ports::{
    ReadStats, RecordPage, RecordReader, RecordSet, RecordStore, RecordSummary, Sealed, StoredRecord, TallyPage,
};

type QueryRequest = aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;

/// Above this many bytes of JSON a record is compressed.
pub const COMPRESS_ABOVE: usize = 64 * 1024;
/// DynamoDB's item limit, minus room for keys and attributes.
pub const MAX_STORED_BYTES: usize = 390 * 1024;

/// The attribute naming the sync pass (dataset id) that last wrote a record and its summary.
const PASS: &str = "pass";

pub use super::directory::STRIDE;
/// Key groups one mark item lists at most (about 30 bytes each: far under the item limit).
const GROUPS_PER_MARK: usize = 2_000;
/// Keys per BatchGetItem call (DynamoDB's limit).
const MAX_BATCH_GET: usize = 100;
const MAX_ATTEMPTS: u32 = 8;

/// Synced records in DynamoDB.
#[derive(Clone, Debug)]
pub struct DynamoRecords {
    client: Client,
    table: String,
    batch: BatchWriter,
    meter: Arc<Meter>,
}

/// Read costs, counted as the responses arrive.
#[derive(Debug, Default)]
struct Meter {
    calls: AtomicU64,
    items: AtomicU64,
    bytes: AtomicU64,
    /// Read capacity in thousandths of a unit.
    milli_units: AtomicU64,
}

impl Meter {
    /// Counts one call returning `items`: `per_item` rounds each item up to 4 KB (GetItem,
    /// BatchGetItem), otherwise the call's total is rounded (Query). Eventually consistent reads
    /// cost half.
    fn count(&self, items: &[Item], per_item: bool, consistent: bool) {
        let sizes: Vec<u64> = items.iter().map(item_size).collect();
        let units = if per_item {
            sizes.iter().map(|s| s.div_ceil(4096).max(1)).sum::<u64>()
        } else {
            sizes.iter().sum::<u64>().div_ceil(4096).max(1)
        };
        let milli = if consistent { units * 1000 } else { units * 500 };
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.items.fetch_add(items.len() as u64, Ordering::Relaxed);
        self.bytes.fetch_add(sizes.iter().sum(), Ordering::Relaxed);
        self.milli_units.fetch_add(milli, Ordering::Relaxed);
    }
}

/// An item's size as DynamoDB bills it: attribute names plus values (text and binary by length,
/// numbers by digits, lists and maps by their members plus 3 bytes each).
pub fn item_size(item: &Item) -> u64 {
    item.iter().map(|(name, value)| name.len() as u64 + value_size(value)).sum()
}

fn value_size(value: &AttributeValue) -> u64 {
    match value {
        AttributeValue::S(s) => s.len() as u64,
        AttributeValue::B(b) => b.as_ref().len() as u64,
        AttributeValue::N(n) => (n.trim_start_matches('-').len() as u64).div_ceil(2) + 1,
        AttributeValue::L(values) => 3 + values.iter().map(|v| 1 + value_size(v)).sum::<u64>(),
        AttributeValue::M(map) => 3 + map.iter().map(|(k, v)| 1 + k.len() as u64 + value_size(v)).sum::<u64>(),
        _ => 1,
    }
}

impl DynamoRecords {
    /// Uses `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        let table = table.into();
        Self { batch: BatchWriter::new(client.clone(), table.clone()), client, table, meter: Arc::default() }
    }

    /// A Query of partition `pk`, with `range` on the sort key (e.g. `sk >= :from`) and its
    /// values bound, projected to `projection` when given.
    fn request(
        &self,
        pk: String,
        range: Option<(&str, &[(&str, String)])>,
        projection: Option<&str>,
        consistent: bool,
    ) -> QueryRequest {
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(consistent)
            .expression_attribute_values(":pk", AttributeValue::S(pk))
            .set_projection_expression(projection.map(str::to_string));
        request = match range {
            Some((condition, values)) => {
                for (name, value) in values {
                    request = request.expression_attribute_values(*name, AttributeValue::S(value.clone()));
                }
                request.key_condition_expression(format!("pk = :pk AND {condition}"))
            }
            None => request.key_condition_expression("pk = :pk"),
        };
        request
    }

    /// Runs `request` page by page (following `LastEvaluatedKey`), metering each page and
    /// handing it to `visit`, until the range ends or `limit` items were read.
    async fn each_page(
        &self,
        request: QueryRequest,
        limit: Option<usize>,
        visit: &mut (dyn FnMut(Vec<Item>) -> Result<(), StoreError> + Send),
    ) -> Result<(), StoreError> {
        let consistent = request.get_consistent_read().unwrap_or(false);
        let (mut read, mut start) = (0, None);
        loop {
            let mut page_request = request.clone().set_exclusive_start_key(start.take());
            if let Some(limit) = limit {
                page_request = page_request.limit((limit - read).min(i32::MAX as usize) as i32);
            }
            let out = page_request.send().await.map_err(classify)?;
            let page = out.items.unwrap_or_default();
            self.meter.count(&page, false, consistent);
            read += page.len();
            visit(page)?;
            if limit.is_some_and(|l| read >= l) {
                return Ok(());
            }
            match out.last_evaluated_key {
                Some(next) if !next.is_empty() => start = Some(next),
                _ => return Ok(()),
            }
        }
    }

    /// Every item `request` reads (up to `limit`).
    async fn collect(&self, request: QueryRequest, limit: Option<usize>) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        self.each_page(request, limit, &mut |page| {
            items.extend(page);
            Ok(())
        })
        .await?;
        Ok(items)
    }

    /// BatchGetItem for `keys` (at most 100), retrying unprocessed keys.
    async fn batch_get(&self, keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::new();
        let mut pending = keys;
        for attempt in 0..MAX_ATTEMPTS {
            if pending.is_empty() {
                return Ok(found);
            }
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(25 << attempt.min(6))).await;
            }
            let request = KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut pending)))
                .build()
                .map_err(|e| StoreError::Backend(e.to_string()))?;
            let out =
                self.client.batch_get_item().request_items(&self.table, request).send().await.map_err(classify)?;
            let items = out.responses.and_then(|mut r| r.remove(&self.table)).unwrap_or_default();
            self.meter.count(&items, true, false);
            found.extend(items);
            if let Some(rest) = out.unprocessed_keys.and_then(|mut u| u.remove(&self.table)) {
                pending = rest.keys;
            }
        }
        if pending.is_empty() {
            Ok(found)
        } else {
            Err(StoreError::Unavailable(format!("{} keys stayed unprocessed", pending.len())))
        }
    }

    /// One item by key (GetItem), metered.
    async fn item(&self, pk: String, sk: &str, consistent: bool) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .consistent_read(consistent)
            .set_key(Some(key(pk, sk.to_string())))
            .send()
            .await
            .map_err(classify)?;
        self.meter.count(out.item.as_slice(), true, consistent);
        Ok(out.item)
    }

    /// Marks the key groups `ids` touch, before the write that touches them: one small item per
    /// call listing its groups (more only past [`GROUPS_PER_MARK`]).
    async fn mark(&self, set: RecordSet, ids: impl Iterator<Item = &str>) -> Result<(), StoreError> {
        let keys: Vec<String> = ids.map(sort_key).collect();
        let mut groups: Vec<&str> = keys.iter().map(|k| directory::group_of(k)).collect();
        groups.sort_unstable();
        groups.dedup();
        let dirty = dirty_partition(set);
        let marks = groups
            .chunks(GROUPS_PER_MARK)
            .map(|groups| {
                let mut mark = key(dirty.clone(), Uuid::new_v4().simple().to_string());
                mark.insert("groups".into(), string_list(groups.iter().map(|g| g.to_string())));
                mark
            })
            .collect::<Vec<_>>();
        if marks.is_empty() {
            return Ok(());
        }
        self.batch.put(marks).await
    }

    /// The sort keys from `start` up to (not including) `upper`, or to the end.
    async fn keys_from(&self, set: RecordSet, start: &str, upper: Option<&str>) -> Result<Vec<String>, StoreError> {
        let request = match upper {
            Some(upper) => {
                let bounds = [(":a", start.to_string()), (":b", upper.to_string())];
                self.request(index_partition(set), Some(("sk BETWEEN :a AND :b", &bounds[..])), Some("sk"), true)
            }
            None => {
                let from = [(":a", start.to_string())];
                self.request(index_partition(set), Some(("sk >= :a", &from[..])), Some("sk"), true)
            }
        };
        let items = self.collect(request, None).await?;
        Ok(items.iter().filter_map(|i| text(i, "sk")).filter(|k| Some(*k) != upper).map(str::to_string).collect())
    }

    /// Seals by reading every key: the set cut into buckets of [`STRIDE`] again, chunk items
    /// no longer listed deleted once the new head is in place. Holds one key per bucket.
    async fn cut_whole(&self, set: RecordSet) -> Result<u64, StoreError> {
        let (mut starts, mut count) = (Vec::new(), 0u64);
        let request = self.request(index_partition(set), None, Some("sk"), true);
        self.each_page(request, None, &mut |page| {
            for item in &page {
                if count.is_multiple_of(STRIDE) {
                    starts.push(text(item, "sk").unwrap_or_default().to_string());
                }
                count += 1;
            }
            Ok(())
        })
        .await?;
        let chunks = directory::chunks(directory::cut(starts, count));
        let dir = directory_partition(set);
        let listed: Vec<String> = chunks.iter().map(|c| chunk_key(&c[0].start)).collect();
        let refs =
            chunks.iter().map(|c| ChunkRef { first: c[0].start.clone(), count: c.iter().map(|b| b.count).sum() });
        let refs: Vec<ChunkRef> = refs.collect();
        // An empty set's one empty bucket needs no item: a missing chunk counting 0 reads as it.
        let written = chunks.iter().filter(|c| c.iter().any(|b| b.count > 0));
        self.batch.put(written.map(|c| chunk_item(&dir, c)).collect()).await?;
        self.put_head(set, &refs).await?;
        let prefix = [(":chunk", "CHUNK#".to_string())];
        let request = self.request(dir.clone(), Some(("begins_with(sk, :chunk)", &prefix[..])), Some("sk"), true);
        let stale: Vec<Item> = self
            .collect(request, None)
            .await?
            .iter()
            .filter_map(|i| text(i, "sk"))
            .filter(|k| !listed.iter().any(|l| l == k))
            .map(|k| key(dir.clone(), k.to_string()))
            .collect();
        self.batch.delete(stale).await?;
        Ok(count)
    }

    /// Seals by recounting the buckets the marked `groups` overlap (reading their keys only),
    /// splitting a grown bucket, dropping an emptied one (never a chunk's first), splitting a
    /// chunk that holds over twice [`directory::CHUNK`] buckets.
    async fn recount(&self, set: RecordSet, chunks: Vec<ChunkRef>, groups: &[&str]) -> Result<u64, StoreError> {
        let dir = directory_partition(set);
        let ranges: Vec<(&str, String)> = groups.iter().map(|g| (*g, directory::group_end(g))).collect();
        let firsts: Vec<&str> = chunks.iter().map(|c| c.first.as_str()).collect();
        let mut touched: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
        for (n, (low, high)) in ranges.iter().enumerate() {
            for chunk in directory::overlapping(firsts.iter().copied(), low, high) {
                touched.entry(chunk).or_default().push(n);
            }
        }
        if touched.is_empty() {
            return Ok(chunks.iter().map(|c| c.count).sum());
        }
        let (mut listed, mut writes) = (Vec::with_capacity(chunks.len()), Vec::new());
        for (n, chunk) in chunks.iter().enumerate() {
            let Some(in_chunk) = touched.get(&n) else {
                listed.push(chunk.clone());
                continue;
            };
            let buckets = match self.item(dir.clone(), &chunk_key(&chunk.first), true).await? {
                Some(item) => read_chunk(&item, chunk)?,
                None if chunk.count == 0 => vec![Bucket { start: chunk.first.clone(), count: 0 }],
                None => return Err(StoreError::Backend(format!("directory chunk {} is missing", chunk.first))),
            };
            if buckets.iter().map(|b| b.count).sum::<u64>() != chunk.count {
                // A seal that died between its chunks and its head: cut again.
                return self.cut_whole(set).await;
            }
            let chunk_upper = chunks.get(n + 1).map(|c| c.first.as_str());
            let starts: Vec<&str> = buckets.iter().map(|b| b.start.as_str()).collect();
            let mut recount = std::collections::BTreeSet::new();
            for &g in in_chunk {
                let (low, high) = &ranges[g];
                recount.extend(directory::overlapping(starts.iter().copied(), low, high));
            }
            let mut rebuilt = Vec::with_capacity(buckets.len() + 1);
            for (b, bucket) in buckets.iter().enumerate() {
                if !recount.contains(&b) {
                    rebuilt.push(bucket.clone());
                    continue;
                }
                let upper = buckets.get(b + 1).map(|next| next.start.as_str()).or(chunk_upper);
                let keys = self.keys_from(set, &bucket.start, upper).await?;
                if keys.is_empty() && b > 0 {
                    continue;
                }
                rebuilt.extend(directory::recounted(&bucket.start, &keys));
            }
            let parts = if rebuilt.len() > 2 * directory::CHUNK { directory::chunks(rebuilt) } else { vec![rebuilt] };
            for part in parts {
                listed.push(ChunkRef { first: part[0].start.clone(), count: part.iter().map(|b| b.count).sum() });
                writes.push(chunk_item(&dir, &part));
            }
        }
        self.batch.put(writes).await?;
        self.put_head(set, &listed).await
    }

    /// Writes the head (last: a reader sees the new counts once their chunks are in place);
    /// returns the count.
    async fn put_head(&self, set: RecordSet, chunks: &[ChunkRef]) -> Result<u64, StoreError> {
        let count: u64 = chunks.iter().map(|c| c.count).sum();
        let mut head = key(directory_partition(set), "HEAD".into());
        head.insert("format".into(), AttributeValue::N(FORMAT.to_string()));
        head.insert("count".into(), AttributeValue::N(count.to_string()));
        head.insert("firsts".into(), string_list(chunks.iter().map(|c| c.first.clone())));
        head.insert("counts".into(), number_list(chunks.iter().map(|c| c.count)));
        head.insert("sealed".into(), AttributeValue::S(timestamp(chrono::Utc::now())));
        self.client.put_item().table_name(&self.table).set_item(Some(head)).send().await.map_err(classify)?;
        Ok(count)
    }
}

fn partition(set: RecordSet) -> String {
    format!("REC#{}#{}", set.connection, set.data_type.key())
}

fn index_partition(set: RecordSet) -> String {
    format!("IDX#{}#{}", set.connection, set.data_type.key())
}

fn directory_partition(set: RecordSet) -> String {
    format!("DIR#{}#{}", set.connection, set.data_type.key())
}

fn dirty_partition(set: RecordSet) -> String {
    format!("DRT#{}#{}", set.connection, set.data_type.key())
}

/// A list attribute of strings (missing: empty).
fn strings(item: &Item, name: &str) -> Vec<String> {
    let values = item.get(name).and_then(|v| v.as_l().ok()).map(Vec::as_slice).unwrap_or_default();
    values.iter().filter_map(|v| v.as_s().ok().cloned()).collect()
}

/// A list attribute of numbers (missing: empty).
fn numbers(item: &Item, name: &str) -> Vec<u64> {
    let values = item.get(name).and_then(|v| v.as_l().ok()).map(Vec::as_slice).unwrap_or_default();
    values.iter().filter_map(|v| v.as_n().ok()?.parse().ok()).collect()
}

fn string_list(values: impl IntoIterator<Item = String>) -> AttributeValue {
    AttributeValue::L(values.into_iter().map(AttributeValue::S).collect())
}

fn number_list(values: impl IntoIterator<Item = u64>) -> AttributeValue {
    AttributeValue::L(values.into_iter().map(|n| AttributeValue::N(n.to_string())).collect())
}

/// The chunks a head lists, when it is of this layout ([`FORMAT`]) and whole.
fn read_head(head: &Item) -> Option<Vec<ChunkRef>> {
    if number(head, "format") != Some(FORMAT) {
        return None;
    }
    let (firsts, counts) = (strings(head, "firsts"), numbers(head, "counts"));
    if firsts.is_empty() || firsts.len() != counts.len() || firsts[0] != FIRST {
        return None;
    }
    Some(firsts.into_iter().zip(counts).map(|(first, count)| ChunkRef { first, count }).collect())
}

/// The buckets of a chunk item, checked against the head's entry for it.
fn read_chunk(item: &Item, of: &ChunkRef) -> Result<Vec<Bucket>, StoreError> {
    let (starts, counts) = (strings(item, "starts"), numbers(item, "counts"));
    if starts.len() != counts.len() || starts.first() != Some(&of.first) {
        return Err(StoreError::Backend(format!("directory chunk {} is corrupt", of.first)));
    }
    Ok(starts.into_iter().zip(counts).map(|(start, count)| Bucket { start, count }).collect())
}

fn chunk_item(dir: &str, buckets: &[Bucket]) -> Item {
    let mut item = key(dir.to_string(), chunk_key(&buckets[0].start));
    item.insert("starts".into(), string_list(buckets.iter().map(|b| b.start.clone())));
    item.insert("counts".into(), number_list(buckets.iter().map(|b| b.count)));
    item
}

fn key(pk: String, sk: String) -> Item {
    HashMap::from([("pk".to_string(), AttributeValue::S(pk)), ("sk".to_string(), AttributeValue::S(sk))])
}

fn number(item: &Item, name: &str) -> Option<u64> {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok())
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
        set: RecordSet,
        records: &[StoredRecord],
        pass: Option<Uuid>,
    ) -> Result<(), StoreError> {
        let mut items = Vec::with_capacity(records.len() * 2);
        for r in records {
            let (field, doc) = encode(r)?;
            let mut item = key(partition(set), sort_key(&r.id));
            item.insert("id".into(), AttributeValue::S(r.id.clone()));
            item.insert(field.into(), doc);
            let mut summary = key(index_partition(set), sort_key(&r.id));
            summary.insert("id".into(), AttributeValue::S(r.id.clone()));
            summary.insert("s".into(), AttributeValue::S(summarize(&r.record).to_string()));
            if let Some(modified) = r.modified {
                let modified = AttributeValue::S(timestamp(modified));
                item.insert("modified".into(), modified.clone());
                summary.insert("modified".into(), modified);
            }
            if let Some(pass) = pass {
                let pass = AttributeValue::S(pass.to_string());
                item.insert(PASS.into(), pass.clone());
                summary.insert(PASS.into(), pass);
            }
            items.push(item);
            items.push(summary);
        }
        self.mark(set, records.iter().map(|r| r.id.as_str())).await?;
        self.batch.put(items).await
    }

    async fn delete_records(&self, set: RecordSet, ids: &[String]) -> Result<(), StoreError> {
        self.mark(set, ids.iter().map(String::as_str)).await?;
        let keys = ids
            .iter()
            .flat_map(|id| [key(partition(set), sort_key(id)), key(index_partition(set), sort_key(id))])
            .collect();
        self.batch.delete(keys).await
    }

    async fn ids_with_prefix(&self, set: RecordSet, prefix: &str) -> Result<Vec<String>, StoreError> {
        let prefix = [(":prefix", sort_key(prefix))];
        let range = Some(("begins_with(sk, :prefix)", &prefix[..]));
        let request = self.request(index_partition(set), range, Some("id"), false);
        let items = self.collect(request, None).await?;
        Ok(items.iter().filter_map(|i| text(i, "id").map(str::to_string)).collect())
    }

    async fn tally_page(
        &self,
        set: RecordSet,
        pass: Uuid,
        after: Option<&str>,
        limit: usize,
    ) -> Result<TallyPage, StoreError> {
        // Summaries, not records: the same keys at a fraction of the read capacity. One Query:
        // its Limit bounds the items read.
        // (DynamoDB refuses an empty key value: the first page has no condition.)
        let after: Vec<(&str, String)> = after.map(|a| (":after", a.to_string())).into_iter().collect();
        let range = (!after.is_empty()).then_some(("sk > :after", &after[..]));
        let out = self
            .request(index_partition(set), range, Some("id, #pass"), true)
            .expression_attribute_names("#pass", PASS)
            .limit(limit.clamp(1, i32::MAX as usize) as i32)
            .send()
            .await
            .map_err(classify)?;
        let items = out.items.unwrap_or_default();
        self.meter.count(&items, false, true);
        let pass = pass.to_string();
        let ids = items
            .iter()
            .filter_map(|item| Some((text(item, "id")?.to_string(), text(item, PASS) == Some(pass.as_str()))))
            .collect();
        let next = out.last_evaluated_key.and_then(|key| key.get("sk").and_then(|sk| sk.as_s().ok()).cloned());
        Ok(TallyPage { ids, next })
    }

    async fn seal(&self, set: RecordSet) -> Result<Sealed, StoreError> {
        // The marks first: a write that lands after this read leaves its mark for the next seal.
        let items = self
            .collect(
                self.request(dirty_partition(set), None, Some("sk, #groups"), true)
                    .expression_attribute_names("#groups", "groups"),
                None,
            )
            .await?;
        let marks: Vec<String> = items.iter().filter_map(|m| text(m, "sk")).map(str::to_string).collect();
        // A mark lists its groups; one of the earlier format (`<group>#<token>`) names one.
        let listed: Vec<String> = items
            .iter()
            .flat_map(|m| match m.get("groups") {
                Some(_) => strings(m, "groups"),
                None => {
                    text(m, "sk").and_then(|k| k.rsplit_once('#')).map(|(g, _)| g.to_string()).into_iter().collect()
                }
            })
            .collect();
        let mut groups: Vec<&str> = listed.iter().map(String::as_str).collect();
        groups.sort_unstable();
        groups.dedup();
        let head = self.item(directory_partition(set), "HEAD", true).await?;
        let count = match head.as_ref().and_then(read_head) {
            // Recounting costs about a bucket per marked group: worth it while that is less
            // than reading every key.
            Some(chunks)
                if (groups.len() as u64) * directory::SPLIT_ABOVE * 2 < chunks.iter().map(|c| c.count).sum() =>
            {
                self.recount(set, chunks, &groups).await?
            }
            _ => self.cut_whole(set).await?,
        };
        let (dirty, modified) = (dirty_partition(set), !marks.is_empty());
        self.batch.delete(marks.into_iter().map(|m| key(dirty.clone(), m)).collect()).await?;
        Ok(Sealed { count, modified })
    }

    async fn summaries(&self, set: RecordSet, visit: &mut (dyn FnMut(RecordSummary) + Send)) -> Result<(), StoreError> {
        RecordReader::scan(self, set, false, visit).await
    }

    async fn put_aggregate(&self, connection: Uuid, name: &str, value: &serde_json::Value) -> Result<(), StoreError> {
        let mut item = key(format!("AGG#{connection}"), name.to_string());
        item.insert("v".into(), AttributeValue::S(value.to_string()));
        item.insert("at".into(), AttributeValue::S(timestamp(chrono::Utc::now())));
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(classify)?;
        Ok(())
    }

    async fn erase(&self, set: RecordSet, limit: usize) -> Result<(u64, bool), StoreError> {
        let mut deleted = 0usize;
        for pk in [partition(set), index_partition(set), directory_partition(set), dirty_partition(set)] {
            let request = self.request(pk, None, Some("pk, sk"), true);
            let keys = self.collect(request, Some(limit.saturating_sub(deleted).max(1))).await?;
            deleted += keys.len();
            self.batch.delete(keys).await?;
            if deleted >= limit {
                return Ok((deleted as u64, true));
            }
        }
        Ok((deleted as u64, false))
    }

    async fn erase_aggregates(&self, connection: Uuid) -> Result<u64, StoreError> {
        let keys = self.collect(self.request(format!("AGG#{connection}"), None, Some("pk, sk"), true), None).await?;
        let count = keys.len() as u64;
        self.batch.delete(keys).await?;
        Ok(count)
    }
}

#[async_trait]
impl RecordReader for DynamoRecords {
    async fn record(&self, set: RecordSet, id: &str) -> Result<Option<StoredRecord>, StoreError> {
        self.item(partition(set), &sort_key(id), false).await?.as_ref().map(decode).transpose()
    }

    async fn page(&self, set: RecordSet, offset: u64, limit: u32) -> Result<Option<RecordPage>, StoreError> {
        let dir = directory_partition(set);
        let Some(head) = self.item(dir.clone(), "HEAD", false).await? else {
            return Ok(None);
        };
        let Some(chunks) = read_head(&head) else {
            return Ok(None);
        };
        let total = number(&head, "count").unwrap_or_default();
        let empty = RecordPage { total, records: Vec::new() };
        if offset >= total || limit == 0 {
            return Ok(Some(empty));
        }
        let lacks = || StoreError::Backend(format!("the directory of {} lacks offset {offset}", set.data_type.key()));
        let (chunk, within) = directory::locate(chunks.iter().map(|c| c.count), offset).ok_or_else(lacks)?;
        let item = self.item(dir, &chunk_key(&chunks[chunk].first), false).await?.ok_or_else(lacks)?;
        let buckets = read_chunk(&item, &chunks[chunk])?;
        let (bucket, skip) = directory::locate(buckets.iter().map(|b| b.count), within).ok_or_else(lacks)?;
        // Sort keys of the page, from the summary index: fewer than SPLIT_ABOVE small items
        // before it.
        let start = buckets[bucket].start.clone();
        let skip = skip as usize;
        let wanted = skip + limit as usize;
        let from = [(":from", start)];
        let request = self.request(index_partition(set), Some(("sk >= :from", &from)), Some("sk"), false);
        let keys = self.collect(request, Some(wanted)).await?;
        let page: Vec<&str> = keys.iter().skip(skip).filter_map(|k| text(k, "sk")).collect();
        let (Some(first), Some(last)) = (page.first(), page.last()) else {
            return Ok(Some(empty));
        };
        let bounds = [(":first", first.to_string()), (":last", last.to_string())];
        let between = Some(("sk BETWEEN :first AND :last", &bounds[..]));
        let items = self.collect(self.request(partition(set), between, None, false), None).await?;
        let records = items.iter().take(limit as usize).map(decode).collect::<Result<_, _>>()?;
        Ok(Some(RecordPage { total, records }))
    }

    async fn scan(
        &self,
        set: RecordSet,
        whole: bool,
        visit: &mut (dyn FnMut(RecordSummary) + Send),
    ) -> Result<(), StoreError> {
        let (pk, projection) = match whole {
            true => (partition(set), None),
            false => (index_partition(set), Some("id, s")),
        };
        let request = self.request(pk, None, projection, false);
        self.each_page(request, None, &mut |page| {
            for item in &page {
                let summary = if whole {
                    let record = decode(item)?;
                    RecordSummary { id: record.id, summary: record.record }
                } else {
                    let summary = serde_json::from_str(text(item, "s").unwrap_or("null"))
                        .map_err(|e| StoreError::Backend(format!("corrupt summary: {e}")))?;
                    RecordSummary { id: text(item, "id").unwrap_or_default().to_string(), summary }
                };
                visit(summary);
            }
            Ok(())
        })
        .await
    }

    async fn records(&self, set: RecordSet, ids: &[String]) -> Result<Vec<StoredRecord>, StoreError> {
        let pk = partition(set);
        let calls = ids.chunks(MAX_BATCH_GET).map(|chunk| {
            let keys = chunk.iter().map(|id| key(pk.clone(), sort_key(id))).collect();
            self.batch_get(keys)
        });
        let mut by_id = HashMap::new();
        for items in futures::future::try_join_all(calls).await? {
            for item in &items {
                let record = decode(item)?;
                by_id.insert(record.id.clone(), record);
            }
        }
        Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
    }

    async fn every_record(&self, set: RecordSet) -> Result<Vec<StoredRecord>, StoreError> {
        let request = self.request(partition(set), None, None, false);
        self.collect(request, None).await?.iter().map(decode).collect()
    }

    async fn aggregate(&self, connection: Uuid, name: &str) -> Result<Option<serde_json::Value>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("AGG#{connection}"), name.to_string())))
            .send()
            .await
            .map_err(classify)?;
        self.meter.count(out.item.as_slice(), true, false);
        out.item
            .as_ref()
            .and_then(|item| text(item, "v"))
            .map(|v| serde_json::from_str(v).map_err(|e| StoreError::Backend(format!("corrupt aggregate: {e}"))))
            .transpose()
    }

    fn stats(&self) -> ReadStats {
        ReadStats {
            calls: self.meter.calls.load(Ordering::Relaxed),
            items: self.meter.items.load(Ordering::Relaxed),
            bytes: self.meter.bytes.load(Ordering::Relaxed),
            capacity: self.meter.milli_units.load(Ordering::Relaxed) as f64 / 1000.0,
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
    fn read_capacity_follows_dynamodb_rounding() {
        let item = |bytes: usize| -> Item {
            HashMap::from([
                ("pk".to_string(), AttributeValue::S("p".repeat(bytes - 5))),
                ("n".to_string(), AttributeValue::N("1".into())),
            ])
        };
        assert_eq!(item_size(&item(1000)), 1000);
        let meter = Meter::default();
        // A Query rounds the sum of its items: 3 x 1,000 bytes is one 4 KB unit, half when eventual.
        meter.count(&[item(1000), item(1000), item(1000)], false, false);
        assert_eq!(meter.milli_units.load(Ordering::Relaxed), 500);
        // BatchGetItem rounds each item: three units.
        meter.count(&[item(1000), item(1000), item(1000)], true, false);
        assert_eq!(meter.milli_units.load(Ordering::Relaxed), 2000);
        // A consistent read of 5,000 bytes: two full units.
        meter.count(&[item(5000)], true, true);
        assert_eq!(meter.milli_units.load(Ordering::Relaxed), 4000);
        assert_eq!((meter.calls.load(Ordering::Relaxed), meter.items.load(Ordering::Relaxed)), (3, 7));
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
