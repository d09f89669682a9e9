//! Storage adapters implementing the ports.

pub mod dynamodb;
pub mod memory;
pub mod secrets_manager;
pub mod sqs;
