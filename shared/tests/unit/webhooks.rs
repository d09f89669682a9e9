//! One delivery attempt against a real receiver on loopback that verifies signatures with the
//! `standardwebhooks` crate; DNS rebinding, redirects and slow consumers.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use devstack::receiver::Receiver;
use secrecy::ExposeSecret;
use shared::webhooks::address::{ConsumerUrl, Transport};
use shared::webhooks::delivery::{Attempt, Deliverer, Outcome, Resolver};
use shared::webhooks::signing::SigningSecret;

/// Answers each lookup with the next scripted list (the last one for ever), counting lookups.
struct Scripted {
    answers: Mutex<Vec<Vec<IpAddr>>>,
    lookups: Mutex<Vec<String>>,
}

impl Scripted {
    fn new(answers: &[&[&str]]) -> Arc<Self> {
        let answers = answers.iter().map(|a| a.iter().map(|ip| ip.parse().expect("ip")).collect()).collect();
        Arc::new(Self { answers: Mutex::new(answers), lookups: Mutex::default() })
    }
}

#[async_trait]
impl Resolver for Scripted {
    async fn resolve(&self, host: &str) -> std::io::Result<Vec<IpAddr>> {
        self.lookups.lock().expect("lookups").push(host.to_string());
        let mut answers = self.answers.lock().expect("answers");
        Ok(if answers.len() > 1 { answers.remove(0) } else { answers[0].clone() })
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[tokio::test]
async fn a_delivery_is_signed_so_a_standard_webhooks_verifier_accepts_it() {
    let receiver = Receiver::start().await.expect("receiver");
    let secret = SigningSecret::generate();
    receiver.set_secret(secret.text().expose_secret());
    let url = ConsumerUrl::parse(receiver.url(), Transport::LoopbackHttp).expect("dev url");
    let deliverer = Deliverer::new(Scripted::new(&[&[]]), Transport::LoopbackHttp);
    let body =
        br#"{"id":"7d3a","eventType":"company.created","generatedDate":"2026-12-01T10:00:00.000Z","payload":{}}"#;
    let attempt = Attempt { url: &url, id: "7d3a", body, secret: &secret, timestamp: now() };
    assert_eq!(deliverer.deliver(&attempt).await, Outcome::Delivered { status: 204 });
    receiver.fail_next(1);
    let again = deliverer.deliver(&Attempt { timestamp: now(), ..attempt }).await;
    assert_eq!(again.status(), Some(500));
    assert!(!again.delivered());
    let received = receiver.received();
    assert_eq!(received.len(), 2);
    assert!(received.iter().all(|r| r.verified && r.svix_alike && r.id == "7d3a"), "{received:?}");
    assert_eq!(received[0].body["eventType"], "company.created");

    // Under another secret the same verifier refuses it: the check is real.
    receiver.set_secret(SigningSecret::generate().text().expose_secret());
    deliverer.deliver(&Attempt { timestamp: now(), ..attempt }).await;
    assert!(!receiver.received()[2].verified);
}

#[tokio::test]
async fn a_name_that_rebinds_to_loopback_never_gets_a_connection_to_it() {
    let receiver = Receiver::start().await.expect("receiver");
    let secret = SigningSecret::generate();
    // The listener's port, under a public name: were loopback ever dialled, the receiver would count it.
    let url =
        ConsumerUrl::parse(&format!("https://hooks.example.com:{}/webhooks", receiver.port()), Transport::PublicHttps)
            .expect("public url");
    // First a public address (TEST-NET would be refused, so one that is routable but
    // unreachable here), then loopback.
    let resolver = Scripted::new(&[&["93.184.215.14"], &["127.0.0.1"]]);
    let deliverer = Deliverer::new(resolver.clone(), Transport::PublicHttps).with_timeout(Duration::from_millis(700));
    let attempt = Attempt { url: &url, id: "m1", body: b"{}", secret: &secret, timestamp: now() };
    let first = deliverer.deliver(&attempt).await;
    assert!(matches!(first, Outcome::Failed { .. }), "{first:?}");
    let second = deliverer.deliver(&attempt).await;
    assert!(matches!(second, Outcome::Refused(_)), "{second:?}");
    assert_eq!(resolver.lookups.lock().expect("lookups").len(), 2, "one lookup per attempt");
    assert_eq!(receiver.connections(), 0);

    // A host with a public and a loopback address is refused outright.
    let mixed = Deliverer::new(Scripted::new(&[&["93.184.215.14", "127.0.0.1"]]), Transport::PublicHttps);
    assert!(matches!(mixed.deliver(&attempt).await, Outcome::Refused(_)));
    assert_eq!(receiver.connections(), 0);
}

#[tokio::test]
async fn a_redirect_is_a_failure_and_is_not_followed() {
    let receiver = Receiver::start().await.expect("receiver");
    let elsewhere = Receiver::start().await.expect("second receiver");
    receiver.redirect_to(elsewhere.url());
    let secret = SigningSecret::generate();
    let url = ConsumerUrl::parse(receiver.url(), Transport::LoopbackHttp).expect("dev url");
    let deliverer = Deliverer::new(Scripted::new(&[&[]]), Transport::LoopbackHttp);
    let outcome =
        deliverer.deliver(&Attempt { url: &url, id: "m", body: b"{}", secret: &secret, timestamp: now() }).await;
    assert_eq!(outcome.status(), Some(302));
    assert!(!outcome.delivered());
    assert_eq!(elsewhere.connections(), 0);
}

#[tokio::test]
async fn a_consumer_that_does_not_answer_in_time_fails_the_attempt() {
    // A listener that accepts and never answers.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.expect("listener");
    let port = listener.local_addr().expect("addr").port();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let secret = SigningSecret::generate();
    let url = ConsumerUrl::parse(&format!("http://127.0.0.1:{port}/slow"), Transport::LoopbackHttp).expect("url");
    let deliverer =
        Deliverer::new(Scripted::new(&[&[]]), Transport::LoopbackHttp).with_timeout(Duration::from_millis(300));
    let outcome =
        deliverer.deliver(&Attempt { url: &url, id: "m", body: b"{}", secret: &secret, timestamp: now() }).await;
    assert!(matches!(&outcome, Outcome::Failed { reason } if reason.starts_with("no answer")), "{outcome:?}");
    hold.abort();
}
