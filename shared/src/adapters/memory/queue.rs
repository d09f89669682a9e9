//! In-memory twin of the sync queue: keeps every job enqueued, in order.

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use crate::domain::{ErasureJob, SyncJob};
use crate::error::StoreError;
use crate::ports::JobQueue;

/// A queue held in memory.
#[derive(Default)]
pub struct MemoryQueue {
    jobs: Mutex<Vec<SyncJob>>,
    erasures: Mutex<Vec<ErasureJob>>,
    redeliveries: Mutex<Vec<(String, Duration)>>,
    fresh: Mutex<Vec<crate::domain::hook::FreshJob>>,
}

impl MemoryQueue {
    /// Every fresh-queue job enqueued so far (de-duplicated as the FIFO queue does).
    pub fn fresh(&self) -> Vec<crate::domain::hook::FreshJob> {
        self.fresh.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Everything enqueued so far.
    pub fn jobs(&self) -> Vec<SyncJob> {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Every erasure enqueued so far.
    pub fn erasures(&self) -> Vec<ErasureJob> {
        self.erasures.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Every delayed redelivery asked for so far: (receipt, delay).
    pub fn redeliveries(&self) -> Vec<(String, Duration)> {
        self.redeliveries.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[async_trait]
impl crate::ports::FreshQueue for MemoryQueue {
    async fn enqueue_fresh(&self, jobs: &[crate::domain::hook::FreshJob]) -> Result<(), StoreError> {
        let mut fresh = self.fresh.lock().unwrap_or_else(|e| e.into_inner());
        for job in jobs {
            if !fresh.iter().any(|j| j.deduplication_id() == job.deduplication_id()) {
                fresh.push(job.clone());
            }
        }
        Ok(())
    }

    async fn redeliver_fresh_after(&self, receipt: &str, delay: Duration) -> Result<(), StoreError> {
        self.redeliver_after(receipt, delay).await
    }
}

#[async_trait]
impl JobQueue for MemoryQueue {
    async fn enqueue(&self, jobs: &[SyncJob]) -> Result<(), StoreError> {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(jobs);
        Ok(())
    }

    async fn enqueue_erasures(&self, jobs: &[ErasureJob]) -> Result<(), StoreError> {
        self.erasures.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(jobs);
        Ok(())
    }

    async fn redeliver_after(&self, receipt: &str, delay: Duration) -> Result<(), StoreError> {
        self.redeliveries.lock().unwrap_or_else(|e| e.into_inner()).push((receipt.to_string(), delay));
        Ok(())
    }
}

/// In-memory twin of the webhook retry queue: keeps what was sent and hidden.
#[derive(Default)]
pub struct MemoryRetries {
    sent: Mutex<Vec<(crate::domain::event::RetryMessage, Duration)>>,
    redeliveries: Mutex<Vec<(String, Duration)>>,
}

impl MemoryRetries {
    /// Every retry sent so far, with its delay.
    pub fn sent(&self) -> Vec<(crate::domain::event::RetryMessage, Duration)> {
        self.sent.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Every received message hidden so far: (receipt, delay).
    pub fn redeliveries(&self) -> Vec<(String, Duration)> {
        self.redeliveries.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[async_trait]
impl crate::ports::RetryQueue for MemoryRetries {
    async fn retry_later(
        &self,
        message: &crate::domain::event::RetryMessage,
        delay: Duration,
    ) -> Result<(), StoreError> {
        self.sent.lock().unwrap_or_else(|e| e.into_inner()).push((message.clone(), delay));
        Ok(())
    }

    async fn redeliver_after(&self, receipt: &str, delay: Duration) -> Result<(), StoreError> {
        self.redeliveries.lock().unwrap_or_else(|e| e.into_inner()).push((receipt.to_string(), delay));
        Ok(())
    }
}
