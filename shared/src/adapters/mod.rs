//! Storage adapters implementing the ports.

pub mod dynamodb;
pub mod memory;
