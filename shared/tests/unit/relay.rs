//! The relay over the in-memory store and retry queue, delivering to real receivers on
//! loopback that verify with the `standardwebhooks` crate: who receives what, retries with the
//! same id, the delivery log, disabled consumers and tag filters.

use std::sync::Arc;

use chrono::Utc;
use devstack::receiver::Receiver;
use secrecy::ExposeSecret;
use serde_json::json;
use shared::adapters::memory::{MemoryRetries, MemorySecrets, MemoryStore};
use shared::domain::event::{DeliveryStatus, Event, RetryMessage};
use shared::domain::{Company, EventType, Subscription, WebhookConsumer};
use shared::ports::{DeliveryLog, WebhookConsumerStore};
use shared::webhooks::address::Transport;
use shared::webhooks::delivery::{Deliverer, SystemResolver};
use shared::webhooks::relay::{Next, Relay};
use shared::webhooks::secrets::{ConsumerSecretReader, ConsumerSecrets};
use shared::webhooks::signing::SigningSecret;
use uuid::Uuid;

struct Setup {
    store: MemoryStore,
    secrets: Arc<MemorySecrets>,
    retries: Arc<MemoryRetries>,
    relay: Relay<MemoryStore>,
}

fn setup() -> Setup {
    let (store, secrets, retries) =
        (MemoryStore::new(), Arc::new(MemorySecrets::default()), Arc::new(MemoryRetries::default()));
    let reader = ConsumerSecretReader::new(secrets.clone(), "hooks/");
    let deliverer = Deliverer::new(Arc::new(SystemResolver), Transport::LoopbackHttp);
    let relay = Relay::new(store.clone(), reader, deliverer, retries.clone(), Transport::LoopbackHttp, None);
    Setup { store, secrets, retries, relay }
}

/// A receiver and its consumer of `types`, filtered by `tags`.
async fn consumer(setup: &Setup, types: &[EventType], tags: &[&str], disabled: bool) -> (Receiver, WebhookConsumer) {
    let receiver = Receiver::start().await.expect("receiver");
    let secret = SigningSecret::generate();
    receiver.set_secret(secret.text().expose_secret());
    let consumer = WebhookConsumer {
        id: Uuid::new_v4(),
        url: receiver.url().to_string(),
        subscription: Subscription {
            event_types: types.to_vec(),
            company_tags: tags.iter().map(|t| t.to_string()).collect(),
        },
        disabled,
        created: Utc::now(),
        failing_since: None,
    };
    ConsumerSecrets::new(setup.secrets.clone(), "hooks/").keep(consumer.id, &secret).await.expect("secret");
    setup.store.create_webhook_consumer(&consumer, 50).await.expect("consumer");
    (receiver, consumer)
}

fn retry(event: &Event, consumer: Uuid) -> RetryMessage {
    RetryMessage { event: event.clone(), consumer, replay: false }
}

fn company(tags: serde_json::Value) -> Company {
    let draft = shared::codat::bodies::company_draft(&json!({"name": "Acme", "tags": tags})).expect("draft");
    Company::create(draft, Utc::now())
}

#[tokio::test]
async fn each_consumer_receives_what_it_subscribed_to_signed_and_once() {
    let setup = setup();
    let (all, _) = consumer(&setup, &[EventType::CompanyCreated], &[], false).await;
    let (tagged, _) = consumer(&setup, &[EventType::CompanyCreated], &["region:us"], false).await;
    let (other_type, _) = consumer(&setup, &[EventType::CompanyDeleted], &[], false).await;
    let (disabled, _) = consumer(&setup, &[EventType::CompanyCreated], &[], true).await;
    let eu = Event::about_company(EventType::CompanyCreated, &company(json!({"region": "eu"})), Utc::now());
    let us = Event::about_company(EventType::CompanyCreated, &company(json!({"region": "us"})), Utc::now());
    assert_eq!(setup.relay.relay(&eu).await.expect("relay"), 1);
    assert_eq!(setup.relay.relay(&us).await.expect("relay"), 2);
    // The stream hands an event over again: nothing is sent twice.
    assert_eq!(setup.relay.relay(&us).await.expect("relay again"), 2);

    let ids = |r: &Receiver| r.received().iter().map(|m| m.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&all), [eu.id.to_string(), us.id.to_string()]);
    assert_eq!(ids(&tagged), [us.id.to_string()], "tag filters hold");
    assert!(other_type.received().is_empty() && disabled.received().is_empty());
    assert!(all.received().iter().chain(tagged.received().iter()).all(|m| m.verified && m.svix_alike));
    assert_eq!(all.received()[1].body["payload"]["tags"], json!({"region": "us"}));
    assert!(setup.retries.sent().is_empty(), "nothing to retry");
}

#[tokio::test]
async fn a_failing_consumer_gets_its_message_again_with_the_same_id_on_schedule() {
    let setup = setup();
    let (receiver, consumer) = consumer(&setup, &[EventType::CompanyDeleted], &[], false).await;
    receiver.fail_next(2);
    let event = Event::about_company(EventType::CompanyDeleted, &company(json!({})), Utc::now());
    setup.relay.relay(&event).await.expect("relay");
    let logged = setup.store.delivery(consumer.id, &event).await.expect("log").expect("logged");
    assert_eq!((logged.status, logged.attempts, logged.last_status_code), (DeliveryStatus::Attempting, 1, Some(500)));
    let sent = setup.retries.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0].0.consumer, sent[0].1.as_secs()), (consumer.id, 5), "the second attempt 5 s on");
    let failing = setup.store.webhook_consumer(consumer.id).await.expect("get").expect("consumer");
    assert!(failing.failing_since.is_some());

    // Redelivered early (the log says the 5 s have not passed): hidden for the rest.
    assert_eq!(setup.relay.retry(&retry(&event, consumer.id), "r1").await.expect("retry"), Next::Later);
    assert_eq!(receiver.received().len(), 1, "not attempted before it is due");
    let hidden = setup.retries.redeliveries();
    assert!(hidden[0].1.as_secs() <= 5, "{hidden:?}");

    // Due: the second attempt fails (5 min next), the third delivers.
    let mut due = logged.clone();
    due.last_attempt = Utc::now() - chrono::Duration::seconds(10);
    setup.store.put_delivery(&due, event.expires_at()).await.expect("backdate");
    assert_eq!(setup.relay.retry(&retry(&event, consumer.id), "r2").await.expect("retry"), Next::Later);
    assert_eq!(setup.retries.redeliveries().last().map(|r| r.1.as_secs()), Some(300));
    let mut due = setup.store.delivery(consumer.id, &event).await.expect("log").expect("logged");
    due.last_attempt = Utc::now() - chrono::Duration::seconds(301);
    setup.store.put_delivery(&due, event.expires_at()).await.expect("backdate");
    assert_eq!(setup.relay.retry(&retry(&event, consumer.id), "r3").await.expect("retry"), Next::Done);
    let received = receiver.received();
    assert_eq!(received.len(), 3);
    assert!(received.iter().all(|m| m.id == event.id.to_string() && m.verified), "one id across attempts");
    assert_eq!(received.iter().map(|m| m.answered).collect::<Vec<_>>(), [500, 500, 204]);
    let logged = setup.store.delivery(consumer.id, &event).await.expect("log").expect("logged");
    assert_eq!((logged.status, logged.attempts), (DeliveryStatus::Success, 3));
    let recovered = setup.store.webhook_consumer(consumer.id).await.expect("get").expect("consumer");
    assert_eq!(recovered.failing_since, None, "a success clears the failures");
    // A redelivered retry after the success sends nothing.
    assert_eq!(setup.relay.retry(&retry(&event, consumer.id), "r4").await.expect("retry"), Next::Done);
    assert_eq!(receiver.received().len(), 3);
}

#[tokio::test]
async fn a_consumer_failing_for_five_days_is_disabled_and_a_deleted_one_drops_its_retries() {
    let setup = setup();
    let (receiver, consumer) = consumer(&setup, &[EventType::CompanyCreated], &[], false).await;
    setup.store.consumer_outcome(consumer.id, Some(Utc::now() - chrono::Duration::days(5))).await.expect("failing");
    receiver.fail_next(1);
    let event = Event::about_company(EventType::CompanyCreated, &company(json!({})), Utc::now());
    setup.relay.relay(&event).await.expect("relay");
    let disabled = setup.store.webhook_consumer(consumer.id).await.expect("get").expect("consumer");
    assert!(disabled.disabled, "disabled after 5 days of failures");
    assert!(setup.retries.sent().is_empty(), "a disabled consumer gets no retry");
    let next = Event::about_company(EventType::CompanyCreated, &company(json!({})), Utc::now());
    assert_eq!(setup.relay.relay(&next).await.expect("relay"), 0);
    assert_eq!(receiver.received().len(), 1, "a disabled consumer receives nothing");

    setup.store.delete_webhook_consumer(consumer.id).await.expect("delete");
    assert_eq!(setup.relay.retry(&retry(&event, consumer.id), "r").await.expect("retry"), Next::Done);
}
