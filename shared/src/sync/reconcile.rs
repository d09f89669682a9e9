//! Inferred deletes after a full listing (docs/mapping.md §11), a chunk of lookups at a time:
//! each chunk's confirmed deletes are removed and its position checkpointed before the next, so
//! a run out of budget (or killed) goes on where it was.

use std::collections::HashSet;

use serde_json::{Value, json};

use super::SyncWorker;
use super::context::{Listing, Run, Stop, source_of};
use crate::bigcommerce::endpoints;
use crate::domain::DataType;
use crate::ports::{PlatformStore, RecordSet};

/// Unlisted source records asked about per chunk (one call each for orders, one call per
/// [`endpoints::ID_LOOKUPS_PER_CALL`] for products and customers).
pub(super) const LOOKUPS_PER_CHUNK: usize = 100;

impl<S: PlatformStore> SyncWorker<S> {
    /// The stored records of the run's data types that this pass did not write are candidates.
    /// None is removed unless the listing was complete (it returned at least what the store
    /// announced: a listing cut short never looks like a mass delete), and then only those the
    /// store confirms gone when asked for by id (an archived order counts as gone; a payment or
    /// transaction goes with its order). A record the listing skipped (pages shifted under it)
    /// is found alive and stays. A payment or transaction of an order this pass mapped again,
    /// which the mapping no longer gives, goes too. Syncs that are incremental or bounded by
    /// `syncFromUtc` list only part of the store and infer nothing.
    ///
    /// The unlisted sources are asked about in order, [`LOOKUPS_PER_CHUNK`] at a time; after
    /// each chunk what it confirmed is removed and the checkpoint says
    /// `{"reconcile": {"after", "listed", "announced", "marks"}}`, from which a continuation (or
    /// a redelivery) goes on without listing again.
    pub(super) async fn reconcile(&self, run: &Run<'_>) -> Result<(), Stop> {
        let reconciled = matches!(
            run.job.data_type,
            DataType::Orders | DataType::Payments | DataType::Transactions | DataType::Products | DataType::Customers
        );
        if run.since.is_some() || run.created_from.is_some() || !reconciled {
            return Ok(());
        }
        let (connection, dataset_id) = (run.job.connection_id, run.job.dataset_id);
        let resumed = run.resume.as_ref().map(|c| &c["reconcile"]).filter(|r| r.is_object());
        let listing = match resumed {
            Some(r) => {
                for (key, value) in r["marks"].as_object().into_iter().flatten() {
                    run.mark(key, value.clone());
                }
                Listing { listed: r["listed"].as_u64().unwrap_or(0), announced: r["announced"].as_u64() }
            }
            None => *run.listing.lock().unwrap_or_else(|e| e.into_inner()),
        };
        let after = resumed.and_then(|r| r["after"].as_str()).map(str::to_string);
        let mut candidates = Vec::new();
        // Sources this pass wrote records of: a payment or transaction of one of these orders that
        // the pass did not write is one the order's mapping no longer gives (it was just mapped).
        let mut listed = HashSet::new();
        for data_type in run.data_types() {
            let tally = self.records.tally_pass(RecordSet::new(connection, data_type), dataset_id).await?;
            listed.extend(tally.written.iter().map(|id| source_of(data_type, id)));
            if !tally.others.is_empty() {
                candidates.push((data_type, tally.others));
            }
        }
        for (data_type, ids) in &candidates {
            if matches!(data_type, DataType::Payments | DataType::Transactions) {
                let orphans: Vec<String> =
                    ids.iter().filter(|id| listed.contains(&source_of(*data_type, id))).cloned().collect();
                self.remove(run, *data_type, &orphans, "records the orders no longer give removed").await?;
            }
        }
        let unlisted: Vec<String> = {
            let mut sources: Vec<String> = candidates
                .iter()
                .flat_map(|(t, ids)| ids.iter().map(|id| source_of(*t, id)))
                .filter(|source| !listed.contains(source))
                .filter(|source| after.as_ref().is_none_or(|after| source > after))
                .collect();
            sources.sort_unstable();
            sources.dedup();
            sources
        };
        if unlisted.is_empty() {
            return Ok(());
        }
        if !listing.complete() {
            tracing::warn!(
                %dataset_id, listed = listing.listed, announced = listing.announced, unlisted = unlisted.len(),
                "the listing returned less than the store announced: no deletes inferred"
            );
            return Ok(());
        }
        let (client, deadline) = (&*run.client, run.deadline);
        let mut confirmed = 0;
        let chunks: Vec<&[String]> = unlisted.chunks(LOOKUPS_PER_CHUNK).collect();
        for (n, chunk) in chunks.iter().enumerate() {
            // Ask the store about each unlisted source: products, customers, or orders.
            let gone = match run.job.data_type {
                DataType::Products => {
                    endpoints::gone_from_list(client, endpoints::PRODUCT_LOOKUP, chunk, deadline).await?
                }
                DataType::Customers => {
                    endpoints::gone_from_list(client, endpoints::CUSTOMER_LOOKUP, chunk, deadline).await?
                }
                _ => endpoints::gone_orders(client, chunk, deadline).await?,
            };
            confirmed += gone.len();
            for (data_type, ids) in &candidates {
                let ids: Vec<String> =
                    ids.iter().filter(|id| gone.contains(&source_of(*data_type, id))).cloned().collect();
                self.remove(run, *data_type, &ids, "records gone from the store removed").await?;
            }
            let marks = run.marks.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let last = chunk.last().cloned().unwrap_or_default();
            let mut checkpoint = json!({"reconcile": {
                "after": last, "listed": listing.listed, "announced": listing.announced, "marks": Value::Object(marks),
            }});
            if !run.partners.is_empty() {
                checkpoint["with"] = run.partners_json();
            }
            self.write_checkpoint(run, listing.listed, listing.announced, &checkpoint).await;
            run.pause_if_spent(n + 1 < chunks.len(), || checkpoint)?;
        }
        tracing::info!(%dataset_id, unlisted = unlisted.len(), confirmed_gone = confirmed, "reconciled with the store");
        Ok(())
    }
}

/// Whether a checkpoint is one of reconciliation's: the listing is done, and a continuation
/// goes straight on with the lookups.
pub(super) fn reconciling(checkpoint: Option<&Value>) -> bool {
    checkpoint.is_some_and(|c| c["reconcile"].is_object())
}
