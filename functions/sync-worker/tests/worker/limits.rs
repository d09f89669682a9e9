//! How failing jobs end, with the worker's binary run as Lambda runs it against moto with IAM
//! enforced: backoffs set on the real queue (the worker's policy must allow it), the last
//! receive ending the dataset and its partners, refusals ending it at once, and the scheduler's
//! sweep ending a dead run under its own policy.

use std::time::{Duration, Instant};

use sandbox::Faults;
use shared::adapters::dynamodb::DynamoStore;
use shared::adapters::sqs::SqsJobQueue;
use shared::domain::{DataType, PullStatus};
use shared::ports::DatasetStore;
use uuid::Uuid;

use super::kills::{Env, ProcessSetup, process_env};

/// The company's datasets: data type → (status, error message).
async fn datasets(e: &Env, company: &str) -> Vec<(DataType, PullStatus, String)> {
    let store =
        DynamoStore::new(aws_sdk_dynamodb::Client::new(&e.stack.admin_sdk()), e.stack.tables["PlatformTable"].clone());
    let id: Uuid = company.parse().expect("uuid");
    let mut all: Vec<_> = store
        .datasets(id)
        .await
        .expect("datasets")
        .into_iter()
        .map(|d| (d.data_type, d.status, d.error_message.unwrap_or_default()))
        .collect();
    all.sort_by_key(|(t, _, _)| t.key());
    all
}

async fn dead_letters(e: &Env) -> usize {
    let sqs = aws_sdk_sqs::Client::new(&e.stack.admin_sdk());
    let url = &e.stack.resources.queues["SyncJobsDeadLetterQueue"];
    let out = sqs.receive_message().queue_url(url).max_number_of_messages(10).send().await.expect("receive");
    out.messages.unwrap_or_default().len()
}

#[tokio::test]
async fn a_job_failing_every_receive_waits_its_backoffs_on_the_queue_then_ends_with_its_partners() {
    // Real waits: no fast-forward. Backoffs of 1 s, then 2 s.
    let e = process_env(ProcessSetup {
        env: vec![("RETRY_FIRST_BACKOFF_SECS", "1".into()), ("RETRY_MAX_BACKOFF_SECS", "2".into())],
        fast_forward: false,
        ..ProcessSetup::default()
    })
    .await;
    let sandbox = e.stack.sandbox.store(&e.store.hash).expect("store");
    sandbox
        // The orders pass's count (Link's verification reads v2/orders, never the count).
        .set_faults(Faults { error_rate: 1.0, path_contains: Some("v2/orders/count".into()), ..Default::default() })
        .expect("faults");
    let started = Instant::now();
    let (company, _, statuses) = e.link_and_sync().await;
    let took = started.elapsed();
    let all = datasets(&e, &company).await;
    for data_type in [DataType::Orders, DataType::Payments, DataType::Transactions] {
        let (_, status, message) = all.iter().find(|(t, _, _)| *t == data_type).expect("dataset");
        assert_eq!(*status, PullStatus::FetchError, "{}: {message}", data_type.key());
        assert!(message.contains("Gave up after 5 attempts") && message.contains("status 5"), "{message}");
    }
    assert_eq!(statuses["commerce-products"], "Complete", "the connection's other jobs ran after it: {statuses:?}");
    assert_eq!(dead_letters(&e).await, 1, "the message went to the dead-letter queue (it alarms)");
    // Five receives, each after the backoff the worker set: 1 + 2 + 2 + 2 s at least.
    assert!(took >= Duration::from_secs(7), "{took:?}");
    let orders_calls =
        sandbox.metrics().requests.iter().filter(|(k, _)| k.contains("v2/orders/count")).map(|(_, n)| n).sum::<u64>();
    let per_run = u64::from(shared::bigcommerce::paced::MAX_TRANSIENT_ATTEMPTS);
    assert_eq!(orders_calls, 5 * per_run, "5 runs of {per_run} attempts, then no more");
    e.stack.stop().await;
}

#[tokio::test]
async fn storage_refused_by_iam_ends_each_dataset_at_once_naming_the_cause() {
    let e = process_env(ProcessSetup {
        withheld: vec![("SyncWorkerFunction".into(), "dynamodb:BatchWriteItem".into())],
        ..ProcessSetup::default()
    })
    .await;
    let (company, _, _) = e.link_and_sync().await;
    let all = datasets(&e, &company).await;
    let written: Vec<_> = all.iter().filter(|(_, s, _)| *s != PullStatus::NotSupported).collect();
    assert!(!written.is_empty());
    for (data_type, status, message) in &written {
        assert_eq!(*status, PullStatus::InternalError, "{}: {message}", data_type.key());
        assert!(message.contains("Storage refused the sync") && message.contains("AccessDenied"), "{message}");
    }
    let stats = e.stack.worker_lambda.as_ref().expect("lambda").stats();
    assert!(stats.invocations <= all.len() as u64, "no retry of a refusal: {stats:?} for {} jobs", all.len());
    assert_eq!(dead_letters(&e).await, 0);
    e.stack.stop().await;
}

#[tokio::test]
async fn the_sweep_ends_a_dead_run_and_queues_it_again_under_the_schedulers_policy() {
    let e = process_env(ProcessSetup { run_worker: false, ..ProcessSetup::default() }).await;
    let (company, _) = e.link().await;
    let id: Uuid = company.parse().expect("uuid");
    let admin =
        DynamoStore::new(aws_sdk_dynamodb::Client::new(&e.stack.admin_sdk()), e.stack.tables["PlatformTable"].clone());
    let orders = admin
        .datasets(id)
        .await
        .expect("datasets")
        .into_iter()
        .find(|d| d.data_type == DataType::Products)
        .expect("products");
    // A run took it up 30 minutes ago and was never heard of again (killed on every receive).
    let then = chrono::Utc::now() - chrono::Duration::minutes(30);
    admin.advance_dataset(id, orders.id, PullStatus::Fetching, 10, None, then).await.expect("fetching");

    let sdk = e.stack.function_sdk("SchedulerFunction").expect("the scheduler's principal");
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), e.stack.tables["PlatformTable"].clone());
    let queue = SqsJobQueue::new(aws_sdk_sqs::Client::new(&sdk), e.stack.resources.queues["SyncJobsQueue"].clone());
    let policy = shared::sweep::SweepPolicy::default();
    let tick = shared::scheduler::scheduled_tick(
        &store,
        &queue,
        chrono::Utc::now(),
        &policy,
        chrono::Duration::zero(),
        shared::scheduler::TICK_BUDGET,
    )
    .await
    .expect("tick");
    let sweep = tick.sweep.expect("the sweep ran");
    assert_eq!((sweep.dead_ended, sweep.requeued), (1, 1), "{sweep:?}");
    let ended = admin.dataset(id, orders.id).await.expect("read").expect("dataset");
    assert_eq!(ended.status, PullStatus::InternalError);
    assert!(ended.error_message.unwrap_or_default().contains("stopped without finishing"));
    let status = admin.data_statuses(id).await.expect("statuses");
    let products = status.iter().find(|s| s.data_type == DataType::Products).expect("status");
    assert_ne!(products.latest_sync_id, orders.id, "a new sync");
    assert_eq!(products.current_status, PullStatus::Queued);
    e.stack.stop().await;
}
