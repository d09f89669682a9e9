//! Inferred deletes after a full listing (docs/mapping.md §11).

use std::collections::HashSet;
use std::sync::atomic::Ordering;

use super::SyncWorker;
use super::context::{Run, Stop, source_of};
use crate::bigcommerce::endpoints;
use crate::domain::DataType;
use crate::ports::{PlatformStore, RecordSet};

impl<S: PlatformStore> SyncWorker<S> {
    /// The stored records of the run's data types that this pass did not write are candidates.
    /// None is removed unless the listing was complete (it returned at least what the store
    /// announced: a listing cut short never looks like a mass delete), and then only those the
    /// store confirms gone when asked for by id (an archived order counts as gone; a payment or
    /// transaction goes with its order). A record the listing skipped (pages shifted under it)
    /// is found alive and stays. A payment or transaction of an order this pass mapped again,
    /// which the mapping no longer gives, goes too. Syncs that are incremental or bounded by
    /// `syncFromUtc` list only part of the store and infer nothing.
    pub(super) async fn reconcile(&self, run: &Run<'_>) -> Result<(), Stop> {
        let reconciled = matches!(
            run.job.data_type,
            DataType::Orders | DataType::Payments | DataType::Transactions | DataType::Products | DataType::Customers
        );
        if run.since.is_some() || run.created_from.is_some() || !reconciled {
            return Ok(());
        }
        let (connection, dataset_id) = (run.job.connection_id, run.job.dataset_id);
        let mut candidates = Vec::new();
        // Sources this pass wrote records of: a payment or transaction of one of these orders that
        // the pass did not write is one the order's mapping no longer gives (it was just mapped).
        let mut listed = HashSet::new();
        // Partners given up mid-pass were not listed whole: they are left as they are.
        let partners = match run.partners_given_up.load(Ordering::SeqCst) {
            true => &[][..],
            false => &run.partners[..],
        };
        for data_type in partners.iter().map(|(_, t, _)| *t).chain([run.job.data_type]) {
            let tally = self.records.tally_pass(RecordSet::new(connection, data_type), dataset_id).await?;
            listed.extend(tally.written.iter().map(|id| source_of(data_type, id)));
            if !tally.others.is_empty() {
                candidates.push((data_type, tally.others));
            }
        }
        let mut gone: HashSet<String> = Default::default();
        let unlisted: Vec<String> = {
            let mut sources: Vec<String> = candidates
                .iter()
                .flat_map(|(t, ids)| ids.iter().map(|id| source_of(*t, id)))
                .filter(|source| !listed.contains(source))
                .collect();
            sources.sort_unstable();
            sources.dedup();
            sources
        };
        let listing = *run.listing.lock().unwrap_or_else(|e| e.into_inner());
        if !unlisted.is_empty() && !listing.complete() {
            tracing::warn!(
                %dataset_id, listed = listing.listed, announced = listing.announced, unlisted = unlisted.len(),
                "the listing returned less than the store announced: no deletes inferred"
            );
        } else if !unlisted.is_empty() {
            // Ask the store about each unlisted source: products, customers, or orders.
            let (client, deadline) = (&*run.client, run.deadline);
            gone = match run.job.data_type {
                DataType::Products => {
                    endpoints::gone_from_list(client, endpoints::PRODUCT_LOOKUP, &unlisted, deadline).await?
                }
                DataType::Customers => {
                    endpoints::gone_from_list(client, endpoints::CUSTOMER_LOOKUP, &unlisted, deadline).await?
                }
                _ => endpoints::gone_orders(client, &unlisted, deadline).await?,
            };
            tracing::info!(%dataset_id, unlisted = unlisted.len(), confirmed_gone = gone.len(), "reconciled with the store");
        }
        for (data_type, ids) in candidates {
            let money = matches!(data_type, DataType::Payments | DataType::Transactions);
            let ids: Vec<String> = ids
                .into_iter()
                .filter(|id| {
                    let source = source_of(data_type, id);
                    gone.contains(&source) || (money && listed.contains(&source))
                })
                .collect();
            self.remove(run, data_type, &ids, "records gone from the store removed").await?;
        }
        Ok(())
    }
}
