//! fn data's use cases: reading a connection's synced records for the Commerce API.
//!
//! A list without `query` or `orderBy` is read through the directory (docs/storage.md): page N
//! costs about one page of items whatever N is. A `query` or `orderBy` on light properties reads
//! every record's summary (small items) and then the page's records; one that reads a heavy
//! property ([`HEAVY_FIELDS`]) reads every record. Data stays readable after the connection is
//! Unlinked or Deauthorized; a data type that has never synced successfully cannot be read.

use std::sync::Arc;

use serde_json::Value;
use uuid::Uuid;

use crate::codat::paging::ListParams;
use crate::codat::summary::HEAVY_FIELDS;
use crate::domain::{DataType, DataTypeStatus, PullStatus};
use crate::error::StoreError;
use crate::ports::{CompanyStore, DatasetStore, ReadStats, RecordReader, RecordSet, RecordSummary};

/// Why synced data cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// No such company.
    #[error("no company {0}")]
    CompanyNotFound(Uuid),
    /// The company has no such connection.
    #[error("no connection {0}")]
    ConnectionNotFound(Uuid),
    /// BigCommerce does not provide the data type.
    #[error("{0:?} is not supported")]
    NotSupported(DataType),
    /// The data type was never requested.
    #[error("never requested")]
    NeverRequested,
    /// The data type has no successful sync yet; its latest status.
    #[error("{0:?} has not synced ({1:?})")]
    NotSynced(DataType, PullStatus),
    /// No record with that id.
    #[error("no record")]
    RecordNotFound,
    /// The store's information was never synced.
    #[error("no company info")]
    NoCompanyInfo,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

type Result<T> = std::result::Result<T, DataError>;

/// Longest record id looked up (longer ids cannot exist).
pub const MAX_ID_LEN: usize = 256;

/// One page of a list, and how many records match in all.
#[derive(Debug, Clone, PartialEq)]
pub struct ListPage {
    /// The page's records (Codat JSON).
    pub records: Vec<Value>,
    /// Records matching the list's query.
    pub total: usize,
}

/// Reads synced records: the platform store for companies and statuses, the data table for the
/// records.
pub struct Data<S> {
    store: S,
    records: Arc<dyn RecordReader>,
}

impl<S: CompanyStore + DatasetStore> Data<S> {
    /// Reading `store` and `records`.
    pub fn new(store: S, records: Arc<dyn RecordReader>) -> Self {
        Self { store, records }
    }

    /// What the record reader has read so far.
    pub fn read_stats(&self) -> ReadStats {
        self.records.stats()
    }

    /// Succeeds when `data_type` of `connection` of `company` can be read: the connection exists
    /// (its status does not matter: data stays readable) and the data type has synced
    /// successfully at least once.
    pub async fn readable(&self, company: Uuid, connection: Uuid, data_type: DataType) -> Result<()> {
        let record = self.store.get_company(company).await?.ok_or(DataError::CompanyNotFound(company))?;
        if !record.connections.iter().any(|c| c.id == connection) {
            return Err(DataError::ConnectionNotFound(connection));
        }
        if !data_type.supported() {
            return Err(DataError::NotSupported(data_type));
        }
        let statuses = self.store.data_statuses(company).await?;
        let status = statuses.iter().find(|s| s.connection_id == connection && s.data_type == data_type);
        match status {
            Some(DataTypeStatus { latest_successful_sync_id: Some(_), .. }) => Ok(()),
            None => Err(DataError::NeverRequested),
            Some(status) => Err(DataError::NotSynced(data_type, status.current_status)),
        }
    }

    /// The store's information (one record).
    pub async fn company_info(&self, connection: Uuid) -> Result<Value> {
        let records = self.records.every_record(RecordSet::new(connection, DataType::CompanyInfo)).await?;
        records.into_iter().next().map(|r| r.record).ok_or(DataError::NoCompanyInfo)
    }

    /// One record by source id.
    pub async fn item(&self, connection: Uuid, data_type: DataType, id: &str) -> Result<Value> {
        if id.is_empty() || id.len() > MAX_ID_LEN {
            return Err(DataError::RecordNotFound);
        }
        let record = self.records.record(RecordSet::new(connection, data_type), id).await?;
        record.map(|r| r.record).ok_or(DataError::RecordNotFound)
    }

    /// One page of `data_type` as `params` ask for it (filter, sort, page).
    pub async fn list(&self, connection: Uuid, data_type: DataType, params: &ListParams) -> Result<ListPage> {
        let offset = u64::from(params.page - 1) * u64::from(params.page_size);
        let plain = params.query.is_none() && params.order_by.is_none();
        if plain
            && let Some(page) =
                self.records.page(RecordSet::new(connection, data_type), offset, params.page_size).await?
        {
            let records = page.records.into_iter().map(|r| r.record).collect();
            return Ok(ListPage { records, total: page.total as usize });
        }
        let (skip, take) = (offset.min(usize::MAX as u64) as usize, params.page_size as usize);
        let order_roots: Vec<&str> = params.order_by.iter().flat_map(|o| o.roots()).collect();
        let heavy = params
            .query
            .iter()
            .flat_map(|q| q.roots())
            .chain(order_roots.iter().copied())
            .any(|root| HEAVY_FIELDS.contains(&root));
        // Every summary (small items) is read, or every record when the query or sort reads a
        // heavy property, or for a plain list without a directory (records stored before
        // directories existed). Only the matches' ids and sort properties are kept.
        let mut matches: Vec<RecordSummary> = Vec::new();
        let mut keep = |candidate: RecordSummary| {
            if params.query.as_ref().is_none_or(|q| q.matches(&candidate.summary)) {
                let summary = match &candidate.summary {
                    Value::Object(map) => Value::Object(
                        order_roots.iter().filter_map(|r| map.get(*r).map(|v| (r.to_string(), v.clone()))).collect(),
                    ),
                    _ => Value::Null,
                };
                matches.push(RecordSummary { id: candidate.id, summary });
            }
        };
        self.records.scan(RecordSet::new(connection, data_type), heavy || plain, &mut keep).await?;
        if let Some(order) = &params.order_by {
            // Stable: ties keep the source id order.
            matches.sort_by(|a, b| order.compare(&a.summary, &b.summary));
        }
        let total = matches.len();
        let ids: Vec<String> = matches.into_iter().skip(skip).take(take).map(|s| s.id).collect();
        let records = self.records.records(RecordSet::new(connection, data_type), &ids).await?;
        Ok(ListPage { records: records.into_iter().map(|r| r.record).collect(), total })
    }
}
