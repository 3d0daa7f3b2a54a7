//! Store cases for `idempotency_keys`, on SQLite and (with `DATABASE_URL`) PostgreSQL.

use super::*;
use crate::store::responses::tests::each_backend;

const KEY: IdemKey<'static> = IdemKey {
    scope: "scope",
    route: "route",
    key: "k-1",
};

#[tokio::test]
async fn claim_finish_and_read_back() {
    each_backend(|store| async move {
        let t = now();
        assert!(
            store
                .claim_idempotency_key(KEY, "fp", "o1", t + 30.0, t + 100.0)
                .await
                .unwrap()
        );
        // A second claim (another request, another replica) loses.
        assert!(
            !store
                .claim_idempotency_key(KEY, "fp", "o2", t + 30.0, t + 100.0)
                .await
                .unwrap()
        );
        let other_route = IdemKey {
            route: "other",
            ..KEY
        };
        assert!(
            store
                .claim_idempotency_key(other_route, "fp", "o3", t + 30.0, t + 100.0)
                .await
                .unwrap()
        );

        let seen = store.get_idempotency_key(KEY).await.unwrap().unwrap();
        assert!(!seen.done);
        assert_eq!(
            (seen.fingerprint.as_str(), seen.owner.as_str()),
            ("fp", "o1")
        );
        assert!(
            store
                .renew_idempotency_lease(KEY, "o1", t + 60.0)
                .await
                .unwrap()
        );
        assert!(
            !store
                .renew_idempotency_lease(KEY, "o2", t + 60.0)
                .await
                .unwrap()
        );

        assert!(
            !store
                .finish_idempotency_key(KEY, "o2", &[1], "{}", t + 200.0)
                .await
                .unwrap()
        );
        assert!(
            store
                .finish_idempotency_key(KEY, "o1", &[0, 1, 255], r#"{"a":"b"}"#, t + 200.0)
                .await
                .unwrap()
        );
        let seen = store.get_idempotency_key(KEY).await.unwrap().unwrap();
        assert!(seen.done);
        assert_eq!(seen.response, Some(vec![0, 1, 255]));
        assert_eq!(seen.metadata.as_deref(), Some(r#"{"a":"b"}"#));
        // A finished record cannot be released as if it had failed.
        assert!(!store.release_idempotency_key(KEY, "o1").await.unwrap());
    })
    .await;
}

#[tokio::test]
async fn release_and_takeover() {
    each_backend(|store| async move {
        let t = now();
        store
            .claim_idempotency_key(KEY, "fp", "o1", t + 30.0, t + 100.0)
            .await
            .unwrap();
        assert!(store.release_idempotency_key(KEY, "o1").await.unwrap());
        assert!(store.get_idempotency_key(KEY).await.unwrap().is_none());

        // An abandoned claim (lease over) can be discarded, a live one cannot.
        store
            .claim_idempotency_key(KEY, "fp", "o2", t - 1.0, t + 100.0)
            .await
            .unwrap();
        assert!(
            !store
                .discard_void_idempotency_key(KEY, "other", t)
                .await
                .unwrap()
        );
        assert!(
            store
                .discard_void_idempotency_key(KEY, "o2", t)
                .await
                .unwrap()
        );
        store
            .claim_idempotency_key(KEY, "fp", "o3", t + 30.0, t + 100.0)
            .await
            .unwrap();
        assert!(
            !store
                .discard_void_idempotency_key(KEY, "o3", t)
                .await
                .unwrap()
        );
    })
    .await;
}

#[tokio::test]
async fn expired_records_are_purged() {
    each_backend(|store| async move {
        let t = now();
        store
            .claim_idempotency_key(KEY, "fp", "o1", t + 30.0, t - 1.0)
            .await
            .unwrap();
        let fresh = IdemKey { key: "k-2", ..KEY };
        store
            .claim_idempotency_key(fresh, "fp", "o1", t + 30.0, t + 100.0)
            .await
            .unwrap();
        assert_eq!(store.purge_expired_idempotency_keys(t).await.unwrap(), 1);
        assert!(store.get_idempotency_key(KEY).await.unwrap().is_none());
        assert!(store.get_idempotency_key(fresh).await.unwrap().is_some());
    })
    .await;
}
