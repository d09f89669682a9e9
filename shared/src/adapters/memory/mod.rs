//! In-memory twins of every adapter, for fast tests of the use cases: the platform table
//! ([`MemoryStore`]), the data table ([`MemoryRecords`]), secrets ([`MemorySecrets`]) and the
//! queue ([`MemoryQueue`]). The contract suite in `shared/tests` holds each to its DynamoDB,
//! Secrets Manager or SQS counterpart.

mod platform;
mod queue;
mod records;
mod secrets;

pub use platform::MemoryStore;
pub use queue::{MemoryQueue, MemoryRetries};
pub use records::MemoryRecords;
pub use secrets::MemorySecrets;
