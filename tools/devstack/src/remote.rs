//! The benchmark's in-memory record store served over loopback HTTP to a worker process
//! (`bench-worker`), so that the worker's own memory is measured apart from the store's: the
//! records of a million orders live in the benchmark's process, the worker holds only what it
//! has in flight. One POST per [`RecordStore`] call, JSON both ways; a store error answers 500
//! with its message. Never part of a deployed stack.

use std::convert::Infallible;
use std::sync::Arc;

use async_trait::async_trait;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use shared::adapters::memory::MemoryRecords;
use shared::domain::DataType;
use shared::error::StoreError;
use shared::ports::{RecordSet, RecordStore, RecordSummary, Sealed, StoredRecord, TallyPage};
use tokio::net::TcpListener;
use uuid::Uuid;

/// Summaries per call of a remote scan.
const SUMMARY_PAGE: usize = 1_000;

/// A record set on the wire.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Set {
    connection: Uuid,
    data_type: DataType,
}

impl From<RecordSet> for Set {
    fn from(set: RecordSet) -> Self {
        Self { connection: set.connection, data_type: set.data_type }
    }
}

impl From<Set> for RecordSet {
    fn from(set: Set) -> Self {
        RecordSet::new(set.connection, set.data_type)
    }
}

/// A stored record on the wire.
#[derive(Debug, Serialize, Deserialize)]
struct Record {
    id: String,
    modified: Option<chrono::DateTime<chrono::Utc>>,
    record: Value,
}

/// One call: the method and its arguments.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "call", rename_all = "snake_case")]
enum Call {
    PutRecords { set: Set, records: Vec<Record>, pass: Option<Uuid> },
    DeleteRecords { set: Set, ids: Vec<String> },
    IdsWithPrefix { set: Set, prefix: String },
    TallyPage { set: Set, pass: Uuid, after: Option<String>, limit: usize },
    Seal { set: Set },
    Summaries { set: Set, after: Option<String>, limit: usize },
    PutAggregate { connection: Uuid, name: String, value: Value },
    Erase { set: Set, limit: usize },
    EraseAggregates { connection: Uuid },
}

/// Serves a [`MemoryRecords`] on a loopback port until dropped.
pub struct RecordServer {
    url: String,
    task: tokio::task::JoinHandle<()>,
}

impl RecordServer {
    /// Starts serving `records`.
    pub async fn start(records: Arc<MemoryRecords>) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let url = format!("http://{}", listener.local_addr()?);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let records = records.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request: hyper::Request<Incoming>| {
                        let records = records.clone();
                        async move { Ok::<_, Infallible>(serve(&records, request).await) }
                    });
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        Ok(Self { url, task })
    }

    /// Where it listens (`RECORDS_URL` of `bench-worker`).
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for RecordServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(records: &MemoryRecords, request: hyper::Request<Incoming>) -> hyper::Response<Full<Bytes>> {
    let answer = match request.into_body().collect().await {
        Ok(body) => match serde_json::from_slice::<Call>(&body.to_bytes()) {
            Ok(call) => answer(records, call).await,
            Err(e) => Err(StoreError::Backend(format!("a call the record server does not know: {e}"))),
        },
        Err(e) => Err(StoreError::Backend(format!("the call's body: {e}"))),
    };
    let (status, body) = match answer {
        Ok(value) => (200, value),
        Err(e) => (500, json!({"error": e.to_string()})),
    };
    let mut response = hyper::Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    response
}

async fn answer(records: &MemoryRecords, call: Call) -> Result<Value, StoreError> {
    Ok(match call {
        Call::PutRecords { set, records: batch, pass } => {
            let batch: Vec<StoredRecord> =
                batch.into_iter().map(|r| StoredRecord { id: r.id, modified: r.modified, record: r.record }).collect();
            records.put_records(set.into(), &batch, pass).await?;
            Value::Null
        }
        Call::DeleteRecords { set, ids } => {
            records.delete_records(set.into(), &ids).await?;
            Value::Null
        }
        Call::IdsWithPrefix { set, prefix } => json!(records.ids_with_prefix(set.into(), &prefix).await?),
        Call::TallyPage { set, pass, after, limit } => {
            let page = records.tally_page(set.into(), pass, after.as_deref(), limit).await?;
            json!({"ids": page.ids, "next": page.next})
        }
        Call::Seal { set } => json!(records.seal(set.into()).await?),
        Call::Summaries { set, after, limit } => {
            let (page, next) = records.summaries_page(set.into(), false, after.as_deref(), limit);
            let page: Vec<Value> = page.into_iter().map(|s| json!([s.id, s.summary])).collect();
            json!({"summaries": page, "next": next})
        }
        Call::PutAggregate { connection, name, value } => {
            records.put_aggregate(connection, &name, &value).await?;
            Value::Null
        }
        Call::Erase { set, limit } => json!(records.erase(set.into(), limit).await?),
        Call::EraseAggregates { connection } => json!(records.erase_aggregates(connection).await?),
    })
}

/// The worker's side: a [`RecordStore`] whose calls go to a [`RecordServer`].
#[derive(Debug, Clone)]
pub struct RemoteRecords {
    url: String,
    http: reqwest::Client,
}

impl RemoteRecords {
    /// The store served at `url`.
    pub fn new(url: &str) -> Self {
        Self { url: url.to_string(), http: reqwest::Client::new() }
    }

    async fn call<T: serde::de::DeserializeOwned>(&self, call: &Call) -> Result<T, StoreError> {
        let response = self
            .http
            .post(&self.url)
            .json(call)
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(format!("record server: {e}")))?;
        let status = response.status();
        let body: Value =
            response.json().await.map_err(|e| StoreError::Unavailable(format!("record server's answer: {e}")))?;
        if !status.is_success() {
            return Err(StoreError::Backend(body["error"].as_str().unwrap_or("record server failed").to_string()));
        }
        serde_json::from_value(body).map_err(|e| StoreError::Backend(format!("record server's answer: {e}")))
    }
}

#[async_trait]
impl RecordStore for RemoteRecords {
    async fn put_records(
        &self,
        set: RecordSet,
        records: &[StoredRecord],
        pass: Option<Uuid>,
    ) -> Result<(), StoreError> {
        let records = records
            .iter()
            .map(|r| Record { id: r.id.clone(), modified: r.modified, record: r.record.clone() })
            .collect();
        self.call::<Value>(&Call::PutRecords { set: set.into(), records, pass }).await.map(drop)
    }

    async fn delete_records(&self, set: RecordSet, ids: &[String]) -> Result<(), StoreError> {
        self.call::<Value>(&Call::DeleteRecords { set: set.into(), ids: ids.to_vec() }).await.map(drop)
    }

    async fn ids_with_prefix(&self, set: RecordSet, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.call(&Call::IdsWithPrefix { set: set.into(), prefix: prefix.to_string() }).await
    }

    async fn tally_page(
        &self,
        set: RecordSet,
        pass: Uuid,
        after: Option<&str>,
        limit: usize,
    ) -> Result<TallyPage, StoreError> {
        #[derive(Deserialize)]
        struct Page {
            ids: Vec<(String, bool)>,
            next: Option<String>,
        }
        let call = Call::TallyPage { set: set.into(), pass, after: after.map(str::to_string), limit };
        let page: Page = self.call(&call).await?;
        Ok(TallyPage { ids: page.ids, next: page.next })
    }

    async fn seal(&self, set: RecordSet) -> Result<Sealed, StoreError> {
        self.call(&Call::Seal { set: set.into() }).await
    }

    async fn summaries(&self, set: RecordSet, visit: &mut (dyn FnMut(RecordSummary) + Send)) -> Result<(), StoreError> {
        #[derive(Deserialize)]
        struct Page {
            summaries: Vec<(String, Value)>,
            next: Option<String>,
        }
        let mut after = None;
        loop {
            let page: Page = self.call(&Call::Summaries { set: set.into(), after, limit: SUMMARY_PAGE }).await?;
            for (id, summary) in page.summaries {
                visit(RecordSummary { id, summary });
            }
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(()),
            }
        }
    }

    async fn put_aggregate(&self, connection: Uuid, name: &str, value: &Value) -> Result<(), StoreError> {
        let call = Call::PutAggregate { connection, name: name.to_string(), value: value.clone() };
        self.call::<Value>(&call).await.map(drop)
    }

    async fn erase(&self, set: RecordSet, limit: usize) -> Result<(u64, bool), StoreError> {
        self.call(&Call::Erase { set: set.into(), limit }).await
    }

    async fn erase_aggregates(&self, connection: Uuid) -> Result<u64, StoreError> {
        self.call(&Call::EraseAggregates { connection }).await
    }
}
