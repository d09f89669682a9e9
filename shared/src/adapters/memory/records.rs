//! In-memory twin of the data table: records, their summaries and the sealed directory, with
//! the same ordering (numeric ids numerically), paging and read metering as the DynamoDB adapter.
//! Records and summaries are held as JSON text, as the table holds them (a parsed document
//! takes several times the memory): a million orders fit in a few gigabytes.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;
use serde_json::Value;
use uuid::Uuid;

use crate::codat::summary::summarize;
use crate::error::StoreError;
use crate::ports::{
    ReadStats, RecordPage, RecordReader, RecordSet, RecordStore, RecordSummary, Sealed, StoredRecord, TallyPage,
    sort_key,
};

/// One stored record (as JSON text) with its summary and the pass that wrote it.
#[derive(Debug, Clone)]
struct Entry {
    id: String,
    modified: Option<chrono::DateTime<chrono::Utc>>,
    record: Box<str>,
    summary: Box<str>,
    pass: Option<Uuid>,
}

impl Entry {
    fn new(record: &StoredRecord, pass: Option<Uuid>) -> Self {
        Self {
            id: record.id.clone(),
            modified: record.modified,
            record: record.record.to_string().into(),
            summary: summarize(&record.record).to_string().into(),
            pass,
        }
    }

    /// The stored record, parsed.
    fn record(&self) -> StoredRecord {
        StoredRecord { id: self.id.clone(), modified: self.modified, record: parse(&self.record) }
    }

    /// Its summary (or, `whole`, the record), parsed.
    fn summary(&self, whole: bool) -> RecordSummary {
        RecordSummary { id: self.id.clone(), summary: parse(if whole { &self.record } else { &self.summary }) }
    }
}

/// JSON text this store wrote itself.
fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

/// The records of one (connection, data type), by sort key, and the directory when sealed.
#[derive(Debug, Default)]
struct Kind {
    entries: BTreeMap<String, Entry>,
    /// The sort keys as the last seal saw them.
    sealed: Option<Vec<String>>,
    /// Written or removed since the last seal (the data table's marks).
    marked: bool,
}

/// Synced records held in memory.
#[derive(Debug, Default)]
pub struct MemoryRecords {
    kinds: Mutex<HashMap<RecordSet, Kind>>,
    aggregates: Mutex<HashMap<(Uuid, String), Value>>,
    stats: Mutex<ReadStats>,
}

impl MemoryRecords {
    /// An empty data table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Up to `limit` summaries (or, `whole`, records) of `set` after the sort key `after`, and
    /// the sort key to go on from (`None` at the end). Not metered: [`RecordReader::scan`]
    /// meters what it reads through this.
    pub fn summaries_page(
        &self,
        set: RecordSet,
        whole: bool,
        after: Option<&str>,
        limit: usize,
    ) -> (Vec<RecordSummary>, Option<String>) {
        use std::ops::Bound;
        let from = after.map_or(Bound::Unbounded, |a| Bound::Excluded(a.to_string()));
        self.with(set, |kind| {
            let mut entries = kind.entries.range((from, Bound::Unbounded)).peekable();
            let mut page = Vec::new();
            while let Some((key, entry)) = entries.next() {
                page.push(entry.summary(whole));
                if page.len() >= limit.max(1) {
                    return (page, entries.peek().map(|_| key.clone()));
                }
            }
            (page, None)
        })
    }

    /// How many records `set` holds now.
    pub fn len(&self, set: RecordSet) -> usize {
        self.with(set, |kind| kind.entries.len())
    }

    fn with<T>(&self, set: RecordSet, f: impl FnOnce(&mut Kind) -> T) -> T {
        let mut kinds = self.kinds.lock().unwrap_or_else(|e| e.into_inner());
        f(kinds.entry(set).or_default())
    }

    /// Counts one read call returning `items` of about `bytes` (JSON size), by DynamoDB's
    /// eventually consistent rule for a Query: half a unit per 4 KB of the call's total.
    fn meter(&self, items: usize, bytes: usize) {
        let mut stats = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        stats.calls += 1;
        stats.items += items as u64;
        stats.bytes += bytes as u64;
        stats.capacity += (bytes.div_ceil(4096).max(1)) as f64 * 0.5;
    }
}

/// Summaries parsed per step of a scan (a DynamoDB page holds about as many).
const SCAN_PAGE: usize = 1_000;

fn size(value: &Value) -> usize {
    value.to_string().len()
}

#[async_trait]
impl RecordStore for MemoryRecords {
    async fn put_records(
        &self,
        set: RecordSet,
        records: &[StoredRecord],
        pass: Option<Uuid>,
    ) -> Result<(), StoreError> {
        self.with(set, |kind| {
            for record in records {
                kind.entries.insert(sort_key(&record.id), Entry::new(record, pass));
            }
            kind.marked |= !records.is_empty();
        });
        Ok(())
    }

    async fn delete_records(&self, set: RecordSet, ids: &[String]) -> Result<(), StoreError> {
        self.with(set, |kind| {
            for id in ids {
                kind.entries.remove(&sort_key(id));
            }
            kind.marked |= !ids.is_empty();
        });
        Ok(())
    }

    async fn ids_with_prefix(&self, set: RecordSet, prefix: &str) -> Result<Vec<String>, StoreError> {
        let prefix = sort_key(prefix);
        Ok(self.with(set, |kind| {
            kind.entries
                .range(prefix.clone()..)
                .take_while(|(k, _)| k.starts_with(&prefix))
                .map(|(_, e)| e.id.clone())
                .collect()
        }))
    }

    async fn tally_page(
        &self,
        set: RecordSet,
        pass: Uuid,
        after: Option<&str>,
        limit: usize,
    ) -> Result<TallyPage, StoreError> {
        use std::ops::Bound;
        let from = after.map_or(Bound::Unbounded, |a| Bound::Excluded(a.to_string()));
        Ok(self.with(set, |kind| {
            let mut page = TallyPage::default();
            let mut entries = kind.entries.range((from, Bound::Unbounded)).peekable();
            while let Some((key, entry)) = entries.next() {
                page.ids.push((entry.id.clone(), entry.pass == Some(pass)));
                if page.ids.len() >= limit.max(1) {
                    page.next = entries.peek().map(|_| key.clone());
                    break;
                }
            }
            page
        }))
    }

    async fn seal(&self, set: RecordSet) -> Result<Sealed, StoreError> {
        Ok(self.with(set, |kind| {
            let keys: Vec<String> = kind.entries.keys().cloned().collect();
            let count = keys.len() as u64;
            kind.sealed = Some(keys);
            Sealed { count, modified: std::mem::take(&mut kind.marked) }
        }))
    }

    async fn summaries(&self, set: RecordSet, visit: &mut (dyn FnMut(RecordSummary) + Send)) -> Result<(), StoreError> {
        RecordReader::scan(self, set, false, visit).await
    }

    async fn put_aggregate(&self, connection: Uuid, name: &str, value: &Value) -> Result<(), StoreError> {
        self.aggregates.lock().unwrap_or_else(|e| e.into_inner()).insert((connection, name.to_string()), value.clone());
        Ok(())
    }

    async fn erase(&self, set: RecordSet, limit: usize) -> Result<(u64, bool), StoreError> {
        let mut kinds = self.kinds.lock().unwrap_or_else(|e| e.into_inner());
        let Some(kind) = kinds.get_mut(&set) else { return Ok((0, false)) };
        let keys: Vec<String> = kind.entries.keys().take(limit.max(1)).cloned().collect();
        for key in &keys {
            kind.entries.remove(key);
        }
        // A record and its summary are two items, as in the data table.
        let mut deleted = keys.len() as u64 * 2;
        if kind.entries.is_empty() {
            deleted += u64::from(kind.sealed.is_some());
            kinds.remove(&set);
            return Ok((deleted, false));
        }
        Ok((deleted, true))
    }

    async fn erase_aggregates(&self, connection: Uuid) -> Result<u64, StoreError> {
        let mut aggregates = self.aggregates.lock().unwrap_or_else(|e| e.into_inner());
        let before = aggregates.len();
        aggregates.retain(|(owner, _), _| *owner != connection);
        Ok((before - aggregates.len()) as u64)
    }
}

#[async_trait]
impl RecordReader for MemoryRecords {
    async fn record(&self, set: RecordSet, id: &str) -> Result<Option<StoredRecord>, StoreError> {
        let found = self.with(set, |kind| kind.entries.get(&sort_key(id)).map(Entry::record));
        self.meter(usize::from(found.is_some()), found.as_ref().map_or(0, |r| size(&r.record)));
        Ok(found)
    }

    async fn page(&self, set: RecordSet, offset: u64, limit: u32) -> Result<Option<RecordPage>, StoreError> {
        // As the directory does: the page starts at the sealed key of its stride and reads
        // forward through what is stored now.
        let page = self.with(set, |kind| {
            let sealed = kind.sealed.as_ref()?;
            let total = sealed.len() as u64;
            if offset >= total || limit == 0 {
                return Some(RecordPage { total, records: Vec::new() });
            }
            let stride = crate::adapters::dynamodb::records::STRIDE;
            let start = sealed.get(((offset / stride) * stride) as usize)?.clone();
            let records = kind
                .entries
                .range(start..)
                .skip((offset % stride) as usize)
                .take(limit as usize)
                .map(|(_, e)| e.record())
                .collect();
            Some(RecordPage { total, records })
        });
        if let Some(page) = &page {
            self.meter(page.records.len(), page.records.iter().map(|r| size(&r.record)).sum());
        }
        Ok(page)
    }

    async fn scan(
        &self,
        set: RecordSet,
        whole: bool,
        visit: &mut (dyn FnMut(RecordSummary) + Send),
    ) -> Result<(), StoreError> {
        let mut after = None;
        loop {
            let (page, next) = self.summaries_page(set, whole, after.as_deref(), SCAN_PAGE);
            self.meter(page.len(), page.iter().map(|s| size(&s.summary)).sum());
            page.into_iter().for_each(&mut *visit);
            match next {
                Some(next) => after = Some(next),
                None => return Ok(()),
            }
        }
    }

    async fn records(&self, set: RecordSet, ids: &[String]) -> Result<Vec<StoredRecord>, StoreError> {
        let found: Vec<StoredRecord> = self
            .with(set, |kind| ids.iter().filter_map(|id| kind.entries.get(&sort_key(id)).map(Entry::record)).collect());
        self.meter(found.len(), found.iter().map(|r| size(&r.record)).sum());
        Ok(found)
    }

    async fn aggregate(&self, connection: Uuid, name: &str) -> Result<Option<Value>, StoreError> {
        let found =
            self.aggregates.lock().unwrap_or_else(|e| e.into_inner()).get(&(connection, name.to_string())).cloned();
        self.meter(1, found.as_ref().map_or(0, size));
        Ok(found)
    }

    async fn every_record(&self, set: RecordSet) -> Result<Vec<StoredRecord>, StoreError> {
        let all: Vec<StoredRecord> = self.with(set, |kind| kind.entries.values().map(Entry::record).collect());
        self.meter(all.len(), all.iter().map(|r| size(&r.record)).sum());
        Ok(all)
    }

    fn stats(&self) -> ReadStats {
        *self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }
}
