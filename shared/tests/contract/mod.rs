//! The ports' contract: one suite per port group, run against each in-memory twin (`tests/unit`)
//! and against each AWS adapter in moto (`tests/moto`), so the twins the fast tests rely on
//! behave like the real adapters.

pub mod platform;
pub mod records;
pub mod secrets;
