//! In-memory twin of the sync queue: keeps every job enqueued, in order.

use std::sync::Mutex;

use async_trait::async_trait;

use crate::domain::SyncJob;
use crate::error::StoreError;
use crate::ports::JobQueue;

/// A queue held in memory.
#[derive(Default)]
pub struct MemoryQueue {
    jobs: Mutex<Vec<SyncJob>>,
}

impl MemoryQueue {
    /// Everything enqueued so far.
    pub fn jobs(&self) -> Vec<SyncJob> {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[async_trait]
impl JobQueue for MemoryQueue {
    async fn enqueue(&self, jobs: &[SyncJob]) -> Result<(), StoreError> {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(jobs);
        Ok(())
    }
}
