//! The life of one run: load the dataset and the connection's credentials, decide what to fetch
//! (full or changes only, from when, with which partner datasets), hand the data type to its
//! stage, then end the datasets or queue the continuation.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use tokio::time::Instant;
use uuid::Uuid;

use super::context::{Run, Stop};
use super::{INCREMENTAL_OVERLAP, JobReport, MIN_GRACE, Retry, SyncWorker};
use crate::bigcommerce::endpoints::rfc3339;
use crate::bigcommerce::paced::{FetchError, PacedClient};
use crate::codat::timestamp;
use crate::domain::sales::SALES_AGGREGATE;
use crate::domain::{Connection, ConnectionStatus, DataType, DataTypeStatus, PullStatus, SalesByMonth, SyncJob};
use crate::error::StoreError;
use crate::ports::{PlatformStore, RecordSet};
use crate::reads::Ending;

/// How long before Lambda's deadline a run must have ended (its final writes, the answer).
const LAMBDA_MARGIN: Duration = Duration::from_secs(3);

/// The start of an incremental run, and when the last full sync of its data types was requested.
type Since = Option<(DateTime<Utc>, DateTime<Utc>)>;

impl<S: PlatformStore> SyncWorker<S> {
    /// Runs one job within the job budget. Repeats are harmless: a final dataset is left alone,
    /// and a running one resumes from its last checkpoint.
    pub async fn run(&self, job: &SyncJob) -> Result<(), Retry> {
        self.run_within(job, None).await
    }

    /// Runs one job within the job budget and `lambda_deadline` (the invocation's end, when
    /// known): the run yields to a continuation in time to end before it, whatever the budget.
    pub async fn run_within(&self, job: &SyncJob, lambda_deadline: Option<std::time::SystemTime>) -> Result<(), Retry> {
        let Some(dataset) = self.store.dataset(job.company_id, job.dataset_id).await? else {
            tracing::info!(dataset_id = %job.dataset_id, "dataset gone (company deleted?); dropping the job");
            return Ok(());
        };
        if dataset.status.is_final() {
            // A repeat: what a run killed after the final write left undone is done now.
            crate::reads::converge(&self.store, &dataset, Utc::now()).await?;
            return Ok(());
        }
        // The stored checkpoint, read once: a mark that another run fills this dataset, or where
        // an earlier run got to.
        let stored_checkpoint = dataset.checkpoint.as_deref().and_then(|c| serde_json::from_str::<Value>(c).ok());
        if let Some(driver) = stored_checkpoint.as_ref().and_then(|c| c["driven_by"].as_str()) {
            tracing::info!(dataset_id = %job.dataset_id, %driver, "filled by its sibling's run; nothing to do");
            return Ok(());
        }
        if !job.data_type.supported() {
            let message = Some(format!("BigCommerce does not provide {}", job.data_type.key()));
            return Ok(self.finish(job, Ending::new(PullStatus::NotSupported, message)).await?);
        }
        let connection = match self.store.get_connection(job.company_id, job.connection_id).await? {
            None | Some(Connection { erasure: Some(_), .. }) => {
                // Deleted: its erasure removes the dataset; nothing may be written for it.
                tracing::info!(dataset_id = %job.dataset_id, "connection deleted; dropping the job");
                return Ok(());
            }
            Some(c) if c.status == ConnectionStatus::Linked => c,
            Some(c) if c.status == ConnectionStatus::Deauthorized => {
                let message = Some("The connection is Deauthorized".into());
                return Ok(self.finish(job, Ending::new(PullStatus::AuthError, message)).await?);
            }
            _ => {
                let message = Some("The connection is not Linked".into());
                return Ok(self.finish(job, Ending::new(PullStatus::Cancelled, message)).await?);
            }
        };
        let credentials = match &connection.secret_name {
            Some(name) => self.credentials.read(name).await?,
            None => None,
        };
        let Some(credentials) = credentials else {
            let message = Some("The connection's credentials are missing".into());
            return Ok(self.finish(job, Ending::new(PullStatus::AuthError, message)).await?);
        };
        self.store
            .advance_dataset(job.company_id, job.dataset_id, PullStatus::Fetching, dataset.progress, None, Utc::now())
            .await?;
        let client = Arc::new(PacedClient::new(
            self.client.clone(),
            credentials.store_hash.clone(),
            credentials.access_token.clone(),
        ));
        let started = Instant::now();
        let (yield_after, end_after) = self.time_box(lambda_deadline);
        // The stored checkpoint is at least as far as the message's (it moves after every page).
        let resume = stored_checkpoint.or(job.checkpoint.clone());
        // Read once: which siblings are still Queued, and when each type last synced successfully.
        let statuses = self.store.data_statuses(job.company_id).await?;
        let partners = self.claim_partners(job, &resume, &statuses).await?;
        // What this run fetches for: a run of orders only fetches orders (its partners are
        // handed over to a run of their own, which decides their own increment).
        let fetched_for: Vec<(Uuid, DataType)> =
            if super::context::hands_over(job.data_type) { Vec::new() } else { partners.clone() };
        let incremental = self.changed_since(job, &fetched_for, &statuses).await?;
        let (since, last_full) = (incremental.map(|(since, _)| since), incremental.map(|(_, full)| full));
        let created_from = match since {
            Some(_) => None,
            None => self.sync_from(job, &fetched_for).await?,
        };
        let run = Run {
            job,
            client: client.clone(),
            deadline: started + end_after,
            yield_at: started + yield_after,
            last_checkpoint: std::sync::Mutex::new(resume.clone()),
            resume,
            records: Default::default(),
            partners: partners.into_iter().map(|(id, t)| (id, t, Default::default())).collect(),
            since,
            requested: dataset.requested,
            created_from,
            last_full,
            listing: Default::default(),
            removed: Default::default(),
            marks: Default::default(),
        };
        if let Some(since) = since {
            tracing::info!(dataset_id = %job.dataset_id, since = %timestamp(since), "incremental: changes only");
        }
        let listed = match super::reconcile::reconciling(run.resume.as_ref()) {
            true => Ok(()),
            false => self.fetch_and_store(&run).await,
        };
        let outcome = match listed {
            Ok(()) => self.reconcile(&run).await,
            stopped => stopped,
        };
        let outcome = match outcome {
            Ok(()) if run.hands_over() => self.hand_over(&run).await.map_err(Stop::Store),
            other => other,
        };
        let mut continued = false;
        let result = match outcome {
            Err(Stop::Erased) => {
                // Nothing more is written: no seal, no status (the erasure removes what was).
                tracing::info!(dataset_id = %job.dataset_id, "connection deleted mid-sync; the run stops");
                Ok(())
            }
            Ok(()) => self.finish_run(&run, PullStatus::Complete, None).await,
            Err(Stop::Yield(checkpoint)) => {
                // The checkpoint is stored already; the continuation only says where to go on.
                continued = true;
                self.continue_later(&run, Some(checkpoint)).await
            }
            Err(Stop::Fetch(FetchError::OutOfTime)) => {
                // The store kept us waiting (429s, slowness) past the budget: go on from the last
                // stored page in a fresh invocation rather than fail towards the DLQ.
                let checkpoint = run.last_checkpoint.lock().unwrap_or_else(|e| e.into_inner()).clone();
                continued = true;
                self.continue_later(&run, checkpoint).await
            }
            Err(Stop::Fetch(FetchError::Unauthorized)) => {
                // `connection.disconnected` is written with the status (nothing when the company
                // or connection is gone: the status write is then refused too).
                let now = chrono::Utc::now();
                let events: Vec<crate::domain::Event> = match self.store.get_company(job.company_id).await {
                    Ok(Some(record)) => record
                        .connections
                        .iter()
                        .find(|c| c.id == job.connection_id)
                        .map(|c| {
                            let after =
                                crate::domain::Connection { status: ConnectionStatus::Deauthorized, ..c.clone() };
                            let kind = crate::domain::EventType::ConnectionDisconnected;
                            crate::domain::Event::about_connection(kind, &record.company, &after, now)
                        })
                        .into_iter()
                        .collect(),
                    _ => Vec::new(),
                };
                let deauthorized = self
                    .store
                    .set_connection_status_reporting(
                        job.company_id,
                        job.connection_id,
                        &[ConnectionStatus::Linked],
                        ConnectionStatus::Deauthorized,
                        &events,
                    )
                    .await;
                match deauthorized {
                    Ok(_) => {
                        tracing::warn!(connection_id = %job.connection_id, "store rejected the token: connection Deauthorized")
                    }
                    Err(e) => {
                        tracing::warn!(connection_id = %job.connection_id, error = %e, "store rejected the token; the connection was not Linked any more")
                    }
                }
                self.finish_run(&run, PullStatus::AuthError, Some("The store rejected the access token".into())).await
            }
            Err(Stop::Fetch(FetchError::Forbidden(endpoint))) => {
                let message = Some(format!("A scope is missing for {endpoint}"));
                self.finish_run(&run, PullStatus::PermissionsError, message).await
            }
            Err(Stop::Fetch(e)) if e.retryable() => Err(Retry::Fetch(e)),
            Err(Stop::Fetch(e)) => self.finish_run(&run, PullStatus::FetchError, Some(e.to_string())).await,
            Err(Stop::Store(e)) if e.retryable() => Err(Retry::Store(e)),
            Err(Stop::Store(e)) => {
                // A refusal (permissions, a bad item, a record too large): retrying cannot mend it.
                tracing::error!(error = %e, dataset_id = %job.dataset_id, "storage refused the sync");
                self.finish_run(&run, PullStatus::InternalError, Some(format!("Storage refused the sync: {e}"))).await
            }
        };
        self.report(&run, started, continued, &result).await;
        result
    }

    /// How long a run may start new pages, and how long it may last, from its start: the job
    /// budget (with a quarter more, at least [`MIN_GRACE`], for requests in flight), cut to end
    /// [`LAMBDA_MARGIN`] before `lambda_deadline`.
    pub(super) fn time_box(&self, lambda_deadline: Option<std::time::SystemTime>) -> (Duration, Duration) {
        let grace = |budget: Duration| (budget / 4).max(MIN_GRACE);
        let (budget, end) = (self.budget, self.budget + grace(self.budget));
        let Some(left) = lambda_deadline.and_then(|d| d.duration_since(std::time::SystemTime::now()).ok()) else {
            return (budget, end);
        };
        let usable = left.saturating_sub(LAMBDA_MARGIN);
        if end <= usable {
            return (budget, end);
        }
        (usable * 4 / 5, usable)
    }

    /// Queues the run's continuation from `checkpoint` (the job's next part), unless the runs of
    /// this dataset have not moved their checkpoint [`RetryPolicy::max_stalled`] times in a row:
    /// then the dataset ends `FetchError`. Records stored without a new checkpoint are no
    /// progress: a run that stores a page's orders, then runs out of time on its transactions,
    /// does the same again next time. The run's datasets stop counting as live meanwhile.
    async fn continue_later(&self, run: &Run<'_>, checkpoint: Option<Value>) -> Result<(), Retry> {
        let job = run.job;
        let progressed = checkpoint != run.resume;
        let next = if progressed { job.continuation(checkpoint) } else { job.stalled_continuation(checkpoint) };
        if next.stalled >= self.retries.max_stalled {
            let message = format!(
                "No progress in {} runs in a row: the store kept every run waiting (rate limits or slow answers) past its time budget",
                next.stalled
            );
            return self.finish_run(run, PullStatus::FetchError, Some(message)).await;
        }
        self.queue.enqueue(std::slice::from_ref(&next)).await?;
        // The continuation may wait behind the connection's other jobs: no sign of life is due
        // until it could have started.
        let until =
            Utc::now() + chrono::Duration::from_std(self.retries.continuation_wait).unwrap_or(chrono::Duration::MAX);
        for (id, _, _) in &run.partners {
            self.store.pause_dataset(job.company_id, *id, until).await?;
        }
        self.store.pause_dataset(job.company_id, job.dataset_id, until).await?;
        tracing::info!(dataset_id = %job.dataset_id, part = next.part, stalled = next.stalled, "continuation queued");
        Ok(())
    }

    /// Ends the dataset of a job that failed its last attempt, with the partners recorded in its
    /// checkpoint: `FetchError` when the store failed, `InternalError` when storage did.
    pub(super) async fn give_up(&self, job: &SyncJob, error: &Retry, attempts: u32) -> Result<(), Retry> {
        let Some(dataset) = self.store.dataset(job.company_id, job.dataset_id).await? else { return Ok(()) };
        let status = match error {
            Retry::Fetch(_) => PullStatus::FetchError,
            Retry::Store(_) => PullStatus::InternalError,
        };
        let message = Some(format!("Gave up after {attempts} attempts: {error}"));
        for (partner, data_type) in super::partners_of(&self.store, &dataset).await? {
            let partner_job = SyncJob { dataset_id: partner, data_type, ..job.clone() };
            self.finish(&partner_job, Ending::new(status, message.clone())).await?;
        }
        Ok(self.finish(job, Ending::new(status, message)).await?)
    }

    /// Hands the run to the stage of its data type.
    async fn fetch_and_store(&self, run: &Run<'_>) -> Result<(), Stop> {
        match run.job.data_type {
            DataType::CompanyInfo => self.sync_company_info(run).await,
            DataType::Customers => self.sync_customers(run).await,
            DataType::ProductCategories => self.sync_categories(run).await,
            DataType::Products => self.sync_products(run).await,
            DataType::Orders => self.sync_orders(run).await,
            DataType::Payments | DataType::Transactions => self.sync_money(run).await,
            DataType::PaymentMethods => self.sync_payment_methods(run).await,
            // `run` ends these NotSupported before any run starts.
            DataType::Locations | DataType::TaxComponents | DataType::Disputes => Ok(()),
        }
    }

    /// Finishes the run's dataset, and its partners' with the same status.
    /// Each data type's list directory is rebuilt first, so a reader that sees the status finds
    /// the directory of what was stored.
    async fn finish_run(&self, run: &Run<'_>, status: PullStatus, message: Option<String>) -> Result<(), Retry> {
        let connection = run.job.connection_id;
        // The partners that end with this run: all of them, unless they are handed over to a
        // run of their own (a run of orders that is Complete).
        let partners: Vec<(Uuid, DataType)> = match run.hands_over() && status == PullStatus::Complete {
            true => Vec::new(),
            false => run.partners.iter().map(|(id, t, _)| (*id, *t)).collect(),
        };
        if status == PullStatus::Complete {
            // What the next run of these data types reads: when their last full sync was asked
            // for (this one's, or carried on), and whether the next must be full anyway.
            // They join each checkpoint rather than replace it: if what follows fails, the
            // redelivery still resumes after the last page (and with the same partners).
            run.mark("full_at", json!(timestamp(run.last_full.unwrap_or(run.requested))));
            let marks = run.marks.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let with_marks = |checkpoint: Option<Value>| {
                let mut merged = match checkpoint {
                    Some(Value::Object(fields)) => fields,
                    _ => Map::new(),
                };
                merged.extend(marks.clone());
                Value::Object(merged).to_string()
            };
            for (partner, _) in &partners {
                let partner = *partner;
                self.store
                    .checkpoint_dataset(run.job.company_id, partner, 99, &with_marks(Some(run.driver_mark())))
                    .await?;
            }
            let own = run.last_checkpoint.lock().unwrap_or_else(|e| e.into_inner()).clone();
            self.store.checkpoint_dataset(run.job.company_id, run.job.dataset_id, 99, &with_marks(own)).await?;
        }
        for data_type in run.data_types() {
            let sealed = self.records.seal(RecordSet::new(connection, data_type)).await?;
            let (count, modified) = (sealed.count, sealed.modified);
            tracing::info!(dataset_id = %run.job.dataset_id, data_type = data_type.key(), count, modified, "directory sealed");
            let dataset = match run.partners.iter().find(|(_, partner, _)| *partner == data_type) {
                Some((partner, _, _)) => *partner,
                None => run.job.dataset_id,
            };
            self.store.record_count(run.job.company_id, dataset, count, modified).await?;
            if data_type == DataType::Orders && status == PullStatus::Complete {
                self.aggregate_sales(connection).await?;
            }
        }
        for (partner, data_type) in partners {
            let partner_job = SyncJob { dataset_id: partner, data_type, ..run.job.clone() };
            self.finish(&partner_job, Ending::new(status, message.clone()).since(run.since)).await?;
        }
        self.finish(run.job, Ending::new(status, message).since(run.since)).await?;
        // The history keeps a bounded number of datasets per data type.
        for data_type in run.data_types() {
            let keep = self.history.per_data_type;
            match self.store.trim_history(run.job.company_id, connection, data_type, keep).await {
                Ok(0) => {}
                Ok(trimmed) => tracing::info!(data_type = data_type.key(), trimmed, "oldest datasets left the history"),
                Err(e) => tracing::warn!(error = %e, data_type = data_type.key(), "history not trimmed this time"),
            }
        }
        Ok(())
    }

    /// Recomputes the store's sales per month from its order summaries (one read of the summary
    /// index per orders sync, so a view of the chart reads one item).
    async fn aggregate_sales(&self, connection: Uuid) -> Result<(), Retry> {
        let mut sales = SalesByMonth { computed: Some(Utc::now()), ..SalesByMonth::default() };
        self.records.summaries(RecordSet::new(connection, DataType::Orders), &mut |s| sales.add(&s.summary)).await?;
        let value = serde_json::to_value(&sales).map_err(|e| StoreError::Backend(format!("serialise sales: {e}")))?;
        self.records.put_aggregate(connection, SALES_AGGREGATE, &value).await?;
        tracing::info!(orders = sales.orders, cancelled = sales.cancelled, "sales per month aggregated");
        Ok(())
    }

    /// Where an incremental run starts: the last successful sync of the run's data type (and of
    /// each partner it fills) was requested at some time; the store's changes since then, less
    /// [`INCREMENTAL_OVERLAP`], are fetched. Returns that time and when the last full sync of
    /// them was requested. `None` (a full sync) when any of them never synced successfully, was
    /// marked `full_next`, or had its last full sync [`super::FULL_SYNC_EVERY`] ago or more (as
    /// configured); and for data
    /// fetched whole every time.
    async fn changed_since(
        &self,
        job: &SyncJob,
        partners: &[(Uuid, DataType)],
        statuses: &[DataTypeStatus],
    ) -> Result<Since, Retry> {
        if !matches!(
            job.data_type,
            DataType::Orders | DataType::Payments | DataType::Transactions | DataType::Products | DataType::Customers
        ) {
            return Ok(None);
        }
        let mut since: Since = None;
        for data_type in partners.iter().map(|(_, t)| *t).chain([job.data_type]) {
            let last = statuses
                .iter()
                .find(|s| s.connection_id == job.connection_id && s.data_type == data_type)
                .and_then(|s| s.latest_successful_sync_id);
            let Some(last) = last else { return Ok(None) };
            let Some(dataset) = self.store.dataset(job.company_id, last).await? else { return Ok(None) };
            let marked = dataset.checkpoint.as_deref().and_then(|c| serde_json::from_str::<Value>(c).ok());
            if marked.as_ref().is_some_and(|c| c["full_next"] == true) {
                return Ok(None);
            }
            let last_full = marked.as_ref().and_then(|c| rfc3339(&c["full_at"])).unwrap_or(dataset.requested);
            if Utc::now() - last_full >= self.full_sync_every {
                tracing::info!(dataset_id = %job.dataset_id, data_type = data_type.key(), "last full sync is due for renewal: full sync");
                return Ok(None);
            }
            // A targeted sync fetched only what callbacks named: the listing to go on from is
            // the one it carried on from.
            let listed = marked.as_ref().and_then(|c| rfc3339(&c["listed_at"])).unwrap_or(dataset.requested);
            let from = listed - INCREMENTAL_OVERLAP;
            since = Some(since.map_or((from, last_full), |(s, f)| (s.min(from), f.min(last_full))));
        }
        Ok(since)
    }

    /// The company's `syncFromUtc` for a full sync of orders (with the partners it fills: the
    /// earliest of theirs, none if one has none) or customers. Products and the rest are fetched
    /// whole: orders refer to them whatever their age.
    async fn sync_from(&self, job: &SyncJob, partners: &[(Uuid, DataType)]) -> Result<Option<DateTime<Utc>>, Retry> {
        if !matches!(
            job.data_type,
            DataType::Orders | DataType::Payments | DataType::Transactions | DataType::Customers
        ) {
            return Ok(None);
        }
        let settings = self.store.settings_in_force(job.company_id).await?.effective();
        let mut from: Option<DateTime<Utc>> = None;
        for data_type in partners.iter().map(|(_, t)| *t).chain([job.data_type]) {
            let Some(at) = settings.iter().find(|s| s.data_type == data_type).and_then(|s| s.sync_from_utc) else {
                return Ok(None);
            };
            from = Some(from.map_or(at, |f| f.min(at)));
        }
        Ok(from)
    }

    /// Orders, payments and transactions come from the same order pages, and payments and
    /// transactions from the same transaction calls. A run of orders fills payments and
    /// transactions too, and a run of one of those the other, when their latest datasets are still
    /// Queued: it marks each such dataset as driven by this one (its own job then leaves it alone)
    /// and records them in its own checkpoint, so a redelivery or continuation carries on with all.
    async fn claim_partners(
        &self,
        job: &SyncJob,
        resume: &Option<Value>,
        statuses: &[DataTypeStatus],
    ) -> Result<Vec<(Uuid, DataType)>, Retry> {
        let siblings: &[DataType] = match job.data_type {
            DataType::Orders => &[DataType::Payments, DataType::Transactions],
            DataType::Payments => &[DataType::Transactions],
            DataType::Transactions => &[DataType::Payments],
            _ => return Ok(Vec::new()),
        };
        if let Some(resume) = resume {
            let recorded = super::partners_in(resume);
            // A partner already ended (e.g. PermissionsError) is not filled any more.
            let mut partners = Vec::new();
            for (id, data_type) in recorded {
                if self.store.dataset(job.company_id, id).await?.is_some_and(|d| !d.status.is_final()) {
                    partners.push((id, data_type));
                }
            }
            return Ok(partners);
        }
        let mut partners = Vec::new();
        for sibling in siblings {
            let Some(status) = statuses.iter().find(|s| {
                s.connection_id == job.connection_id
                    && s.data_type == *sibling
                    && PullStatus::RUNNING.contains(&s.current_status)
            }) else {
                continue;
            };
            let partner = status.latest_sync_id;
            if status.current_status != PullStatus::Queued {
                // Running: taken already, by an earlier attempt of this job (that died before it
                // recorded its partners) or by another run, whose it stays.
                let claimed = self
                    .store
                    .dataset(job.company_id, partner)
                    .await?
                    .is_some_and(|d| super::checkpoint_links(d.checkpoint.as_deref()).1 == Some(job.dataset_id));
                if claimed {
                    tracing::info!(dataset_id = %job.dataset_id, partner = %partner, "filling {} in the same pass, again", sibling.key());
                    partners.push((partner, *sibling));
                }
                continue;
            }
            let marker = json!({"driven_by": job.dataset_id.to_string()}).to_string();
            if self.store.checkpoint_dataset(job.company_id, partner, 0, &marker).await? {
                self.store.advance_dataset(job.company_id, partner, PullStatus::Fetching, 0, None, Utc::now()).await?;
                tracing::info!(dataset_id = %job.dataset_id, partner = %partner, "filling {} in the same pass", sibling.key());
                partners.push((partner, *sibling));
            }
        }
        if !partners.is_empty() {
            let with: Map<String, Value> =
                partners.iter().map(|(id, t)| (t.key().to_string(), json!(id.to_string()))).collect();
            let own = json!({"with": with}).to_string();
            self.store.checkpoint_dataset(job.company_id, job.dataset_id, 0, &own).await?;
        }
        Ok(partners)
    }

    /// Once a run of orders has stored them, the payments and transactions datasets it claimed
    /// get a run of their own (the money pass), before the orders are sealed Complete: the first
    /// still running becomes the driver (its checkpoint names the rest as its partners, and
    /// theirs name it), and its job is queued as the next part of its dataset. A redelivery
    /// after a kill at any step does the same again: a driver that took over already keeps its
    /// checkpoint, and the same part sent twice is one message.
    async fn hand_over(&self, run: &Run<'_>) -> Result<(), StoreError> {
        let company = run.job.company_id;
        let mut running = Vec::new();
        for (id, data_type, _) in &run.partners {
            if let Some(dataset) = self.store.dataset(company, *id).await?
                && !dataset.status.is_final()
            {
                running.push((*id, *data_type, dataset));
            }
        }
        let Some(((driver, driver_type, dataset), rest)) = running.split_first() else { return Ok(()) };
        if super::checkpoint_links(dataset.checkpoint.as_deref()).1 == Some(run.job.dataset_id) {
            let with: Map<String, Value> =
                rest.iter().map(|(id, t, _)| (t.key().to_string(), json!(id.to_string()))).collect();
            self.store.checkpoint_dataset(company, *driver, 0, &json!({"with": with}).to_string()).await?;
        }
        let mark = json!({"driven_by": driver.to_string()}).to_string();
        for (id, _, _) in rest {
            self.store.checkpoint_dataset(company, *id, 0, &mark).await?;
        }
        let next = SyncJob {
            dataset_id: *driver,
            data_type: *driver_type,
            checkpoint: None,
            part: 1,
            stalled: 0,
            reason: crate::domain::JobReason::Continuation,
            ..run.job.clone()
        };
        self.queue.enqueue(std::slice::from_ref(&next)).await?;
        tracing::info!(dataset_id = %run.job.dataset_id, driver = %driver, "orders stored: payments and transactions go on in their own run");
        Ok(())
    }

    /// Logs what the run did, and sends it to the observer when there is one.
    async fn report(&self, run: &Run<'_>, started: Instant, continued: bool, result: &Result<(), Retry>) {
        let stats = run.client.stats();
        let status = match (continued, result) {
            (false, Ok(())) => {
                self.store.dataset(run.job.company_id, run.job.dataset_id).await.ok().flatten().map(|d| d.status)
            }
            _ => None,
        };
        let report = JobReport {
            dataset_id: run.job.dataset_id,
            data_type: run.job.data_type,
            status,
            incremental: run.since.is_some(),
            continued,
            records: run.records.load(Ordering::Relaxed),
            removed: run.removed.load(Ordering::Relaxed),
            partners: run.partners.iter().map(|(_, t, n)| (*t, n.load(Ordering::Relaxed))).collect(),
            requests: stats.requests,
            rate_limited: stats.rate_limited,
            retries: stats.retries,
            elapsed: started.elapsed(),
        };
        tracing::info!(
            dataset_id = %report.dataset_id,
            data_type = report.data_type.key(),
            status = report.status.map(|s| s.as_str()),
            continued,
            records = report.records,
            removed = report.removed,
            requests = report.requests,
            rate_limited = report.rate_limited,
            retries = report.retries,
            elapsed_ms = report.elapsed.as_millis() as u64,
            "job run"
        );
        if let Some(reports) = &self.reports {
            let _ = reports.send(report);
        }
    }
}
