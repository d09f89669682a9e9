//! Inferred deletes after a full listing (docs/mapping.md §11), streamed: the stored ids are
//! read a page at a time in sort-key order, a chunk of unlisted sources is looked up at a time,
//! each chunk's confirmed deletes are removed and its position checkpointed before the next, so
//! memory holds a page and a chunk whatever the store's size, and a run out of budget (or
//! killed) goes on where it was.

use std::collections::VecDeque;

use serde_json::{Value, json};

use super::SyncWorker;
use super::context::{Listing, Run, Stop, source_of};
use crate::bigcommerce::endpoints;
use crate::domain::DataType;
use crate::error::StoreError;
use crate::ports::{PlatformStore, RecordSet, RecordStore, sort_key};

/// Unlisted source records asked about per chunk (one call each for orders, one call per
/// [`endpoints::ID_LOOKUPS_PER_CALL`] for products and customers).
pub(super) const LOOKUPS_PER_CHUNK: usize = 100;

/// Stored ids asked for per tally page: about 600 KB of ids and tags. DynamoDB ends a page at
/// 1 MB of items read first (some 2,000 summaries), so this bounds the in-memory twin's pages
/// and the calls of an emulator that reads its whole table per Query (moto).
const TALLY_PAGE: usize = 10_000;

/// Where an id's records sort together: a payment's or transaction's key up to its first `_`
/// (all the records of one order, contiguous in sort-key order), any other id's own key.
fn group_of(data_type: DataType, id: &str) -> String {
    let key = sort_key(id);
    match data_type {
        DataType::Payments | DataType::Transactions => match key.find('_') {
            Some(at) => key[..=at].to_string(),
            None => key,
        },
        _ => key,
    }
}

/// One data type's stored ids, read a page at a time, handed out a group at a time.
struct Tally {
    data_type: DataType,
    set: RecordSet,
    /// Where the next page starts.
    after: Option<String>,
    /// Read, not yet handed out: (group, id, written by this pass).
    buffer: VecDeque<(String, String, bool)>,
    done: bool,
}

impl Tally {
    fn new(data_type: DataType, set: RecordSet, after: Option<String>) -> Self {
        Self { data_type, set, after, buffer: VecDeque::new(), done: false }
    }

    /// Reads on until the buffer holds a whole group (or the set ends): a group is whole once
    /// an id of another group follows it.
    async fn fill(&mut self, records: &dyn RecordStore, pass: uuid::Uuid) -> Result<(), StoreError> {
        while !self.done
            && self.buffer.back().is_none_or(|(last, _, _)| self.buffer.front().is_some_and(|(g, _, _)| g == last))
        {
            let page = records.tally_page(self.set, pass, self.after.as_deref(), TALLY_PAGE).await?;
            let data_type = self.data_type;
            self.buffer.extend(page.ids.into_iter().map(|(id, written)| (group_of(data_type, &id), id, written)));
            self.done = page.next.is_none();
            self.after = page.next;
        }
        Ok(())
    }

    fn head(&self) -> Option<&str> {
        self.buffer.front().map(|(g, _, _)| g.as_str())
    }

    /// Hands out the head group's ids with whether each was written.
    fn take(&mut self, group: &str, into: &mut Vec<(DataType, String, bool)>) {
        while self.head() == Some(group) {
            if let Some((_, id, written)) = self.buffer.pop_front() {
                into.push((self.data_type, id, written));
            }
        }
    }
}

/// Unlisted sources waiting for their lookup, with their stored ids.
#[derive(Default)]
struct Chunk {
    sources: Vec<String>,
    ids: Vec<(DataType, String)>,
    /// The last group it covers.
    last: Option<String>,
}

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
    /// The stored ids of every data type of the run are walked together in sort-key order, a
    /// group (an id, or an order's payments and transactions) at a time; the unlisted sources
    /// are asked about [`LOOKUPS_PER_CHUNK`] at a time; after each chunk what it confirmed is
    /// removed and the checkpoint says `{"reconcile": {"past", "listed", "announced", "marks"}}`
    /// (`past`: the last group done), from which a continuation (or a redelivery) goes on
    /// without listing again.
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
        let past = resumed.and_then(|r| r["past"].as_str()).map(str::to_string);
        // Every data type of the run is walked at once, so an order's payments and transactions
        // are judged together.
        let mut tallies: Vec<Tally> =
            run.data_types().map(|t| Tally::new(t, RecordSet::new(connection, t), past.clone())).collect();
        let (mut unlisted, mut confirmed, mut chunks) = (0usize, 0usize, 0usize);
        let mut chunk = Chunk::default();
        let mut orphans: Vec<(DataType, String)> = Vec::new();
        loop {
            for tally in &mut tallies {
                tally.fill(&*self.records, dataset_id).await?;
            }
            let Some(group) = tallies.iter().filter_map(Tally::head).min().map(str::to_string) else { break };
            let mut members = Vec::new();
            for tally in &mut tallies {
                tally.take(&group, &mut members);
            }
            if past.as_ref().is_some_and(|past| group <= *past) {
                continue;
            }
            let written = members.iter().any(|(_, _, w)| *w);
            let stale = members.into_iter().filter(|(_, _, w)| !w).map(|(t, id, _)| (t, id));
            if written {
                // Its order was mapped again: what the mapping no longer gives goes.
                orphans.extend(stale);
            } else {
                let stale: Vec<(DataType, String)> = stale.collect();
                if let Some((t, id)) = stale.first() {
                    unlisted += 1;
                    if listing.complete() {
                        chunk.sources.push(source_of(*t, id));
                        chunk.ids.extend(stale);
                    }
                }
            }
            chunk.last = Some(group);
            if orphans.len() >= LOOKUPS_PER_CHUNK {
                self.remove_each(run, &std::mem::take(&mut orphans), "records the orders no longer give removed")
                    .await?;
            }
            if chunk.sources.len() >= LOOKUPS_PER_CHUNK {
                self.remove_each(run, &std::mem::take(&mut orphans), "records the orders no longer give removed")
                    .await?;
                confirmed += self.look_up(run, listing, std::mem::take(&mut chunk), chunks > 0).await?;
                chunks += 1;
            }
        }
        self.remove_each(run, &orphans, "records the orders no longer give removed").await?;
        if !chunk.sources.is_empty() {
            confirmed += self.look_up(run, listing, chunk, chunks > 0).await?;
        }
        if unlisted > 0 && !listing.complete() {
            tracing::warn!(
                %dataset_id, listed = listing.listed, announced = listing.announced, unlisted,
                "the listing returned less than the store announced: no deletes inferred"
            );
        } else if unlisted > 0 {
            tracing::info!(%dataset_id, unlisted, confirmed_gone = confirmed, "reconciled with the store");
        }
        Ok(())
    }

    /// Removes `ids`, each from its data type's set.
    async fn remove_each(&self, run: &Run<'_>, ids: &[(DataType, String)], why: &str) -> Result<(), StoreError> {
        for data_type in run.data_types() {
            let of_type: Vec<String> = ids.iter().filter(|(t, _)| *t == data_type).map(|(_, id)| id.clone()).collect();
            self.remove(run, data_type, &of_type, why).await?;
        }
        Ok(())
    }

    /// Asks the store about a chunk's sources, removes the records of those it confirms gone and
    /// checkpoints past the chunk. A chunk after the first waits for a continuation when the
    /// budget is spent (the checkpoint before it says where to go on). Returns how many went.
    async fn look_up(&self, run: &Run<'_>, listing: Listing, chunk: Chunk, after_one: bool) -> Result<usize, Stop> {
        if after_one {
            let last = run.last_checkpoint.lock().unwrap_or_else(|e| e.into_inner()).clone();
            run.pause_if_spent(true, || last.unwrap_or(Value::Null))?;
        }
        let (client, deadline) = (&*run.client, run.deadline);
        let gone = match run.job.data_type {
            DataType::Products => {
                endpoints::gone_from_list(client, endpoints::PRODUCT_LOOKUP, &chunk.sources, deadline).await?
            }
            DataType::Customers => {
                endpoints::gone_from_list(client, endpoints::CUSTOMER_LOOKUP, &chunk.sources, deadline).await?
            }
            _ => endpoints::gone_orders(client, &chunk.sources, deadline).await?,
        };
        let went: Vec<(DataType, String)> =
            chunk.ids.into_iter().filter(|(t, id)| gone.contains(&source_of(*t, id))).collect();
        self.remove_each(run, &went, "records gone from the store removed").await?;
        let marks = run.marks.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut checkpoint = json!({"reconcile": {
            "past": chunk.last, "listed": listing.listed, "announced": listing.announced, "marks": Value::Object(marks),
        }});
        if !run.partners.is_empty() {
            checkpoint["with"] = run.partners_json();
        }
        self.write_checkpoint(run, listing.listed, listing.announced, &checkpoint).await;
        Ok(gone.len())
    }
}

/// Whether a checkpoint is one of reconciliation's: the listing is done, and a continuation
/// goes straight on with the lookups.
pub(super) fn reconciling(checkpoint: Option<&Value>) -> bool {
    checkpoint.is_some_and(|c| c["reconcile"].is_object())
}
