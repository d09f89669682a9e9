//! Webhook consumers (`/webhooks`): created with a fresh signing secret (kept in Secrets
//! Manager before the consumer exists, so that no consumer is ever without one; shown once),
//! listed, disabled or re-enabled, deleted (the secret first, so a retried delete converges).

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use uuid::Uuid;

use super::{Companies, CompaniesError, Result};
use crate::domain::event::{Delivery, DeliveryStatus, EVENT_RETENTION, Event, RetryMessage};
use crate::domain::webhook::{ConsumerDraft, MAX_CONSUMERS, WebhookConsumer};
use crate::error::StoreError;
use crate::ports::PlatformStore;
use crate::webhooks::secrets::ConsumerSecrets;
use crate::webhooks::signing::SigningSecret;

impl<S: PlatformStore> Companies<S> {
    fn consumer_secrets(&self) -> Result<&ConsumerSecrets> {
        self.consumer_secrets
            .as_ref()
            .ok_or_else(|| StoreError::Backend("this function does not manage webhook consumers".into()).into())
    }

    /// Every webhook consumer, oldest first.
    pub async fn webhook_consumers(&self) -> Result<Vec<WebhookConsumer>> {
        Ok(self.store.webhook_consumers().await?)
    }

    /// Creates a consumer and its signing secret (whose text is returned, to be shown once),
    /// unless [`MAX_CONSUMERS`] exist already.
    pub async fn create_webhook_consumer(&self, draft: ConsumerDraft) -> Result<(WebhookConsumer, SecretString)> {
        let secrets = self.consumer_secrets()?;
        let consumer = WebhookConsumer::create(draft, Utc::now());
        let secret = SigningSecret::generate();
        secrets.keep(consumer.id, &secret).await?;
        match self.store.create_webhook_consumer(&consumer, MAX_CONSUMERS).await {
            Ok(()) => {}
            Err(e) => {
                if let Err(cleanup) = secrets.forget(consumer.id).await {
                    tracing::warn!(error = %cleanup, webhook_id = %consumer.id, "secret of a consumer not created left behind");
                }
                return Err(match e {
                    StoreError::ConditionFailed(_) => CompaniesError::TooManyConsumers,
                    e => e.into(),
                });
            }
        }
        tracing::info!(webhook_id = %consumer.id, event_types = consumer.subscription.event_types.len(), "webhook consumer created");
        Ok((consumer, secret.text()))
    }

    /// Disables or re-enables a consumer. A disabled consumer's pending messages wait (their
    /// retries stop); re-enabling it resumes them, each where its attempts had got to, through
    /// the retry queue (a repeated re-enable resumes them again: the log keeps a message that
    /// succeeded from being sent twice).
    pub async fn set_webhook_consumer_disabled(&self, id: Uuid, disabled: bool) -> Result<WebhookConsumer> {
        let consumer = self
            .store
            .set_webhook_consumer_disabled(id, disabled)
            .await?
            .ok_or(CompaniesError::ConsumerNotFound(id))?;
        let resumed = match disabled {
            true => 0,
            false => self.resume_pending(id).await?,
        };
        tracing::info!(webhook_id = %id, disabled, resumed, "webhook consumer updated");
        Ok(consumer)
    }

    /// Queues the next attempt of each message of `id` still `Attempting` (within the events'
    /// retention); returns how many.
    async fn resume_pending(&self, id: Uuid) -> Result<usize> {
        let Some(retries) = self.webhook_retries.as_ref() else { return Ok(0) };
        let oldest = Utc::now() - EVENT_RETENTION;
        let pending: Vec<Delivery> = self
            .store
            .deliveries(id, REPLAY_LIMIT)
            .await?
            .into_iter()
            .filter(|d| d.status == DeliveryStatus::Attempting && d.generated >= oldest)
            .collect();
        let mut resumed = 0;
        for delivery in pending {
            let found = self.store.events_since(delivery.generated, 100).await?;
            let Some(event) = found.into_iter().find(|e| e.id == delivery.event_id) else { continue };
            retries
                .retry_later(&RetryMessage { event, consumer: id, replay: false }, std::time::Duration::ZERO)
                .await?;
            resumed += 1;
        }
        Ok(resumed)
    }

    /// Deletes a consumer: its secret first (a retry after a failure in between deletes the
    /// consumer then), then the consumer, whose pending deliveries are dropped.
    pub async fn delete_webhook_consumer(&self, id: Uuid) -> Result<()> {
        let secrets = self.consumer_secrets()?;
        if self.store.webhook_consumer(id).await?.is_none() {
            return Err(CompaniesError::ConsumerNotFound(id));
        }
        secrets.forget(id).await?;
        if !self.store.delete_webhook_consumer(id).await? {
            return Err(CompaniesError::ConsumerNotFound(id));
        }
        tracing::info!(webhook_id = %id, "webhook consumer deleted");
        Ok(())
    }

    /// A consumer's delivery log, newest first: at most `limit` messages.
    pub async fn webhook_messages(&self, id: Uuid, limit: usize) -> Result<(WebhookConsumer, Vec<Delivery>)> {
        let consumer = self.store.webhook_consumer(id).await?.ok_or(CompaniesError::ConsumerNotFound(id))?;
        Ok((consumer, self.store.deliveries(id, limit).await?))
    }

    /// Sends again, through the retry queue, one message of the consumer's log or every event
    /// since a time that it subscribes to (events of the last 14 days, those from before the
    /// consumer existed included). Returns how many messages are queued.
    pub async fn replay_webhook_messages(&self, id: Uuid, what: Replay) -> Result<usize> {
        let retries = self
            .webhook_retries
            .as_ref()
            .ok_or_else(|| StoreError::Backend("this function does not manage webhook consumers".into()))?;
        let consumer = self.store.webhook_consumer(id).await?.ok_or(CompaniesError::ConsumerNotFound(id))?;
        let oldest = Utc::now() - EVENT_RETENTION;
        let events: Vec<Event> = match what {
            Replay::Message(event) => {
                let logged = self.store.deliveries(id, REPLAY_LIMIT).await?;
                let generated = logged
                    .iter()
                    .find(|d| d.event_id == event)
                    .map(|d| d.generated)
                    .ok_or(CompaniesError::MessageNotFound(event))?;
                let found = self.store.events_since(generated, 100).await?.into_iter().find(|e| e.id == event);
                vec![found.ok_or(CompaniesError::MessageNotFound(event))?]
            }
            Replay::Since(since) => self
                .store
                .events_since(since.max(oldest), REPLAY_LIMIT)
                .await?
                .into_iter()
                .filter(|e| consumer.subscription.wants(e.event_type, &e.company.tags))
                .collect(),
        };
        for event in &events {
            let message = RetryMessage { event: event.clone(), consumer: id, replay: true };
            retries.retry_later(&message, std::time::Duration::ZERO).await?;
        }
        tracing::info!(webhook_id = %id, messages = events.len(), "webhook messages replayed");
        Ok(events.len())
    }
}

/// Most messages one replay sends (and log entries it searches).
pub const REPLAY_LIMIT: usize = 1_000;

/// What to send again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// One message (its event id).
    Message(Uuid),
    /// Every event the consumer subscribes to since this time.
    Since(DateTime<Utc>),
}
