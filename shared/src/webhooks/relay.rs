//! fn webhooks' use case. Each new event of the outbox (from the platform table's stream) is
//! offered to every enabled consumer whose subscription wants it: the first attempt at once,
//! later ones through the retry queue on Codat's schedule ([`super::schedule`]). The delivery
//! log says how each message stands, so a redelivered event or retry never sends a message
//! that succeeded again, and a deliverer killed mid-batch loses nothing (the stream or the
//! queue hands the batch over again).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::future::join_all;
use url::Url;

use super::delivery::{Attempt, Deliverer, Outcome};
use super::schedule;
use super::secrets::ConsumerSecretReader;
use crate::domain::WebhookConsumer;
use crate::domain::consumer_url::{ConsumerUrl, Transport};
use crate::domain::event::{Delivery, DeliveryStatus, Event, RetryMessage};
use crate::error::StoreError;
use crate::ports::{DeliveryLog, RetryQueue, WebhookConsumerStore};

/// What to do with a retry message after its attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Done with it (delivered, given up, or its consumer gone): delete it.
    Done,
    /// Hidden until the next attempt is due: leave it on the queue.
    Later,
}

/// Offers events to consumers.
pub struct Relay<S> {
    store: S,
    secrets: ConsumerSecretReader,
    deliverer: Deliverer,
    retries: Arc<dyn RetryQueue>,
    transport: Transport,
    public: Option<Url>,
}

impl<S: WebhookConsumerStore + DeliveryLog> Relay<S> {
    /// Over `store`, signing with `secrets`, sending with `deliverer` (under `transport`),
    /// scheduling later attempts on `retries`; `public` is the deployment's public base URL.
    pub fn new(
        store: S,
        secrets: ConsumerSecretReader,
        deliverer: Deliverer,
        retries: Arc<dyn RetryQueue>,
        transport: Transport,
        public: Option<Url>,
    ) -> Self {
        Self { store, secrets, deliverer, retries, transport, public }
    }

    /// Offers a new event to every consumer that wants it (the first attempts, side by side).
    /// Returns how many consumers it was offered to; an error (storage) means the event must
    /// come again.
    pub async fn relay(&self, event: &Event) -> Result<usize, StoreError> {
        let consumers = self.store.webhook_consumers().await?;
        let wanting: Vec<&WebhookConsumer> = consumers
            .iter()
            .filter(|c| !c.disabled && c.subscription.wants(event.event_type, &event.company.tags))
            .collect();
        let offers = join_all(wanting.iter().map(|c| self.offer(c, event))).await;
        for offered in offers {
            offered?;
        }
        Ok(wanting.len())
    }

    /// A retry message's attempt, received with `receipt`.
    pub async fn retry(&self, message: &RetryMessage, receipt: &str) -> Result<Next, StoreError> {
        let event = &message.event;
        let Some(consumer) = self.store.webhook_consumer(message.consumer).await? else {
            // A deleted consumer drops its pending messages.
            return Ok(Next::Done);
        };
        if consumer.disabled {
            // Its log keeps the message Attempting: re-enabling the consumer resumes it.
            return Ok(Next::Done);
        }
        if message.replay {
            // Asked for again: a new series of attempts, whatever the log says.
            if let Some(wait) = self.attempt(&consumer, event, 0, Utc::now()).await? {
                let next = RetryMessage { replay: false, ..message.clone() };
                self.retries.retry_later(&next, wait).await?;
            }
            return Ok(Next::Done);
        }
        let logged = self.store.delivery(consumer.id, event).await?;
        let made = logged.as_ref().map_or(0, |d| d.attempts as usize);
        if logged.as_ref().is_some_and(|d| d.status != DeliveryStatus::Attempting) {
            return Ok(Next::Done);
        }
        let now = Utc::now();
        // Not due yet (a redelivery came early): hide it for what remains.
        if let (Some(last), Some(wait)) = (logged.as_ref().map(|d| d.last_attempt), schedule::next_delay(made)) {
            let due = last + chrono::Duration::from_std(wait).unwrap_or_default();
            if due > now + chrono::Duration::seconds(1) {
                let remaining = (due - now).to_std().unwrap_or_default();
                self.retries.redeliver_after(receipt, remaining).await?;
                return Ok(Next::Later);
            }
        }
        match self.attempt(&consumer, event, made, now).await? {
            Some(wait) => {
                self.retries.redeliver_after(receipt, wait).await?;
                Ok(Next::Later)
            }
            None => Ok(Next::Done),
        }
    }

    /// The first attempt of `event` for `consumer`, and its retry message if it failed.
    async fn offer(&self, consumer: &WebhookConsumer, event: &Event) -> Result<(), StoreError> {
        let logged = self.store.delivery(consumer.id, event).await?;
        if let Some(logged) = logged {
            // Offered before (the stream handed the event over again). A kill between the log
            // and the queue may have lost its retry: send it again (the log drops a duplicate's
            // attempt until it is due).
            if logged.status == DeliveryStatus::Attempting
                && let Some(wait) = schedule::next_delay(logged.attempts as usize)
            {
                let message = RetryMessage { event: event.clone(), consumer: consumer.id, replay: false };
                self.retries.retry_later(&message, wait).await?;
            }
            return Ok(());
        }
        if let Some(wait) = self.attempt(consumer, event, 0, Utc::now()).await? {
            let message = RetryMessage { event: event.clone(), consumer: consumer.id, replay: false };
            self.retries.retry_later(&message, wait).await?;
        }
        Ok(())
    }

    /// Makes attempt `made + 1`, logs it, and returns the wait before the next one (`None`:
    /// no further attempt).
    async fn attempt(
        &self,
        consumer: &WebhookConsumer,
        event: &Event,
        made: usize,
        now: DateTime<Utc>,
    ) -> Result<Option<std::time::Duration>, StoreError> {
        let outcome = match (self.secrets.read(consumer.id).await?, ConsumerUrl::parse(&consumer.url, self.transport)) {
            (None, _) => Outcome::Failed { reason: "the consumer's signing secret is missing".into() },
            (_, Err(refused)) => Outcome::Refused(refused),
            (Some(secret), Ok(url)) => {
                let body = crate::codat::events::event_body(event, self.public.as_ref()).to_string();
                let id = event.id.to_string();
                let attempt =
                    Attempt { url: &url, id: &id, body: body.as_bytes(), secret: &secret, timestamp: now.timestamp() };
                self.deliverer.deliver(&attempt).await
            }
        };
        let attempts = made + 1;
        let delivered = outcome.delivered();
        let next = if delivered { None } else { schedule::next_delay(attempts) };
        let status = match (delivered, next) {
            (true, _) => DeliveryStatus::Success,
            (false, Some(_)) => DeliveryStatus::Attempting,
            (false, None) => DeliveryStatus::Failure,
        };
        let error = match &outcome {
            Outcome::Delivered { .. } => None,
            Outcome::Rejected { status, .. } => Some(format!("answered {status}")),
            Outcome::Failed { reason } => Some(reason.clone()),
            Outcome::Refused(refused) => Some(refused.to_string()),
        };
        let delivery = Delivery {
            consumer: consumer.id,
            event_id: event.id,
            event_type: event.event_type,
            generated: event.generated,
            status,
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
            last_status_code: outcome.status(),
            last_error: error,
            last_attempt: now,
        };
        self.store.put_delivery(&delivery, event.expires_at()).await?;
        tracing::info!(event_id = %event.id, event_type = %event.event_type, consumer = %consumer.id, attempts, status = ?status, code = ?outcome.status(), "webhook attempt");
        if delivered {
            if consumer.failing_since.is_some() {
                self.store.consumer_outcome(consumer.id, None).await?;
            }
            return Ok(None);
        }
        let failing = self.store.consumer_outcome(consumer.id, Some(now)).await?;
        if let Some(since) = failing.and_then(|c| c.failing_since)
            && schedule::disables(since, now)
        {
            self.store.set_webhook_consumer_disabled(consumer.id, true).await?;
            tracing::warn!(consumer = %consumer.id, %since, "webhook consumer disabled after failing for 5 days");
            return Ok(None);
        }
        Ok(next)
    }
}
