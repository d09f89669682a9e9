//! Codat's webhooks: the events a platform subscribes to, signed as Standard Webhooks (the
//! Svix scheme Codat uses) and delivered only to public addresses.
//!
//! - [`events`]: the envelope each event is sent in (the event types and subscriptions are the
//!   domain's: [`crate::domain::webhook`]).
//! - [`signing`]: a consumer's `whsec_` secret and the `webhook-*` / `svix-*` headers.
//! - [`address`] (in the domain): consumer URLs as hostile input: what is refused before any
//!   I/O, and which addresses a resolved host may have.
//! - [`delivery`]: one attempt: the host resolved once, every address checked, the connection
//!   made only to the addresses that passed, no redirect followed, 15 s at most.
//! - [`schedule`]: Codat's retry schedule, and when a failing consumer is disabled.
//! - [`secrets`]: consumers' secrets in Secrets Manager, under a prefix of their own.

pub mod delivery;
pub mod events;
pub mod handler;
pub mod relay;
pub mod schedule;
pub mod secrets;
pub mod signing;

pub use crate::domain::consumer_url as address;
