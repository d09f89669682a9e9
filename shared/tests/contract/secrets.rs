//! The secrets' contract ([`SecretStore`] and [`SecretReader`]).

use secrecy::{ExposeSecret, SecretString};
use shared::ports::{SecretReader, SecretStore};

/// Created, updated in place, read back, deleted (twice), missing reads as `None`.
pub async fn secrets<S: SecretStore + SecretReader>(store: &S, name: &str) {
    assert!(store.read_secret(name).await.expect("read missing").is_none());
    let tags = [("company_id", "c".to_string())];
    store.put_secret(name, &SecretString::from("one".to_string()), &tags).await.expect("create");
    assert_eq!(store.read_secret(name).await.expect("read").expect("present").expose_secret(), "one");
    store.put_secret(name, &SecretString::from("two".to_string()), &tags).await.expect("update in place");
    assert_eq!(store.read_secret(name).await.expect("read").expect("present").expose_secret(), "two");
    store.delete_secret(name).await.expect("delete");
    assert!(store.read_secret(name).await.expect("read deleted").is_none());
    store.delete_secret(name).await.expect("deleting a missing secret succeeds");
}
