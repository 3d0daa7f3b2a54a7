//! The idempotency protocol on a real (temp SQLite) store: replay, conflict, failures not cached,
//! concurrent duplicates, dropped owners and abandoned claims.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use caduceus_proto::v1::DeleteResponseResponse as Answer;
use tonic::metadata::MetadataMap;

use super::*;

async fn fixture() -> (tempfile::TempDir, Idempotency) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/caduceus.db", dir.path().display());
    let store = Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    (dir, Idempotency::new(store))
}

fn call<'a>(key: Option<&'a str>, fingerprint: &'a [u8]) -> Call<'a> {
    Call {
        scope: "scope",
        route: "test/Route",
        key,
        fingerprint,
    }
}

/// Work that counts its runs and answers `id`.
fn work(
    runs: &Arc<AtomicUsize>,
    id: &str,
    delay: Duration,
) -> impl Future<Output = Result<(Answer, MetadataMap), Error>> + use<> {
    let runs = runs.clone();
    let id = id.to_owned();
    async move {
        runs.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(delay).await;
        let mut metadata = MetadataMap::new();
        metadata.insert("x-hermes-session-id", "s-1".parse().unwrap());
        Ok((Answer { id, deleted: true }, metadata))
    }
}

#[tokio::test]
async fn without_a_key_the_work_always_runs() {
    let (_dir, idem) = fixture().await;
    let runs = Arc::new(AtomicUsize::new(0));
    for _ in 0..2 {
        let (_, _, replayed) = idem
            .run(call(None, b"x"), |_| true, work(&runs, "a", Duration::ZERO))
            .await
            .unwrap();
        assert!(!replayed);
    }
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn same_key_same_request_replays_without_running() {
    let (_dir, idem) = fixture().await;
    let runs = Arc::new(AtomicUsize::new(0));
    let (first, md, replayed) = idem
        .run(
            call(Some("k"), b"x"),
            |_| true,
            work(&runs, "a", Duration::ZERO),
        )
        .await
        .unwrap();
    assert!(!replayed);
    assert!(md.get(REPLAYED_METADATA).is_none());
    let (second, md, replayed) = idem
        .run(
            call(Some("k"), b"x"),
            |_| true,
            work(&runs, "b", Duration::ZERO),
        )
        .await
        .unwrap();
    assert!(replayed);
    assert_eq!(second, first);
    assert_eq!(md.get(REPLAYED_METADATA).unwrap(), "true");
    assert_eq!(md.get("x-hermes-session-id").unwrap(), "s-1");
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn same_key_other_request_is_a_conflict() {
    let (_dir, idem) = fixture().await;
    let runs = Arc::new(AtomicUsize::new(0));
    idem.run(
        call(Some("k"), b"x"),
        |_| true,
        work(&runs, "a", Duration::ZERO),
    )
    .await
    .unwrap();
    let error = idem
        .run(
            call(Some("k"), b"y"),
            |_| true,
            work(&runs, "b", Duration::ZERO),
        )
        .await
        .unwrap_err();
    assert!(matches!(
        error,
        Error::Conflict {
            code: "idempotency_key_conflict",
            ..
        }
    ));
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn invalid_keys_are_refused_before_any_work() {
    let (_dir, idem) = fixture().await;
    let runs = Arc::new(AtomicUsize::new(0));
    let error = idem
        .run(
            call(Some("has space"), b"x"),
            |_| true,
            work(&runs, "a", Duration::ZERO),
        )
        .await
        .unwrap_err();
    assert!(matches!(
        error,
        Error::InvalidArgument {
            code: "invalid_idempotency_key",
            ..
        }
    ));
    assert_eq!(runs.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn failures_and_uncacheable_answers_are_not_stored() {
    let (_dir, idem) = fixture().await;
    let failing = async { Err::<(Answer, MetadataMap), Error>(Error::invalid("bad", "no")) };
    assert!(
        idem.run(call(Some("k"), b"x"), |_| true, failing)
            .await
            .is_err()
    );
    let runs = Arc::new(AtomicUsize::new(0));
    let (_, _, replayed) = idem
        .run(
            call(Some("k"), b"x"),
            |_| false,
            work(&runs, "a", Duration::ZERO),
        )
        .await
        .unwrap();
    assert!(!replayed);
    let (_, _, replayed) = idem
        .run(
            call(Some("k"), b"x"),
            |_| true,
            work(&runs, "b", Duration::ZERO),
        )
        .await
        .unwrap();
    assert!(!replayed);
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_concurrent_duplicate_waits_and_replays() {
    let (_dir, idem) = fixture().await;
    let runs = Arc::new(AtomicUsize::new(0));
    let slow = work(&runs, "a", Duration::from_millis(400));
    let first = idem.run(call(Some("k"), b"x"), |_| true, slow);
    let second = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        idem.run(
            call(Some("k"), b"x"),
            |_| true,
            work(&runs, "b", Duration::ZERO),
        )
        .await
    };
    let (first, second) = tokio::join!(first, second);
    let (first, second) = (first.unwrap(), second.unwrap());
    assert!(!first.2);
    assert!(second.2);
    assert_eq!(first.0, second.0);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_dropped_owner_frees_its_key() {
    let (_dir, idem) = fixture().await;
    let runs = Arc::new(AtomicUsize::new(0));
    let slow = idem.run(
        call(Some("k"), b"x"),
        |_| true,
        work(&runs, "a", Duration::from_secs(30)),
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(100), slow)
            .await
            .is_err()
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (answer, _, replayed) = idem
        .run(
            call(Some("k"), b"x"),
            |_| true,
            work(&runs, "b", Duration::ZERO),
        )
        .await
        .unwrap();
    assert!(!replayed);
    assert_eq!(answer.id, "b");
}

#[tokio::test]
async fn an_abandoned_claim_is_taken_over() {
    let (_dir, idem) = fixture().await;
    let at = crate::store::now();
    let id = IdemKey {
        scope: "scope",
        route: "test/Route",
        key: "k",
    };
    let digest = key::digest(b"x");
    // A claim whose owner died: lease already over.
    assert!(
        idem.store
            .claim_idempotency_key(id, &digest, "dead", at - 1.0, at + 100.0)
            .await
            .unwrap()
    );
    let runs = Arc::new(AtomicUsize::new(0));
    let (answer, _, replayed) = idem
        .run(
            call(Some("k"), b"x"),
            |_| true,
            work(&runs, "fresh", Duration::ZERO),
        )
        .await
        .unwrap();
    assert!(!replayed);
    assert_eq!(answer.id, "fresh");
}
