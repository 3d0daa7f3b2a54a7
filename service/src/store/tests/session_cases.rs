//! Backend-independent cases for session rows: migrations, placeholders, CRUD, conflicts,
//! listing, forks and get-or-create. Run on every backend by `backend_tests!` in `../tests.rs`.

use std::time::Duration;

use sqlx::Row;

use super::{new, tick};
use crate::store::*;

pub async fn migrate_twice_and_ping(store: Store) {
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    let elapsed = store.ping().await.unwrap();
    assert!(elapsed < Duration::from_secs(5));
}

pub async fn numbered_placeholders_work(store: Store) {
    // Out of order and repeated `$n` must bind by number on every backend.
    let row = sqlx::query("SELECT $2 AS b, $1 AS a, $2 AS b2")
        .bind("first")
        .bind("second")
        .fetch_one(store.pool())
        .await
        .unwrap();
    let (a, b, b2): (String, String, String) = (
        row.try_get("a").unwrap(),
        row.try_get("b").unwrap(),
        row.try_get("b2").unwrap(),
    );
    assert_eq!(
        (a.as_str(), b.as_str(), b2.as_str()),
        ("first", "second", "second")
    );
}

pub async fn crud_round_trip(store: Store) {
    let created = store
        .create_session(NewSession {
            title: Some("Plan".into()),
            model: Some("hermes-agent".into()),
            system_prompt: Some("Be brief.".into()),
            session_key: Some("key-1".into()),
            ..new("s1")
        })
        .await
        .unwrap();
    assert_eq!(created.id, "s1");
    assert_eq!(created.source, "api_server");
    assert!(created.has_system_prompt);
    assert_eq!(created.message_count, 0);
    assert_eq!(created.ended_at, None);
    assert_eq!(created.preview, None);
    assert!(created.started_at > 1.6e9);
    assert_eq!(created.last_active, created.started_at);

    let got = store.get_session("s1").await.unwrap().unwrap();
    assert_eq!(got, created);
    assert_eq!(store.get_session("nope").await.unwrap(), None);

    let renamed = store
        .update_session("s1", Some(Some("Plan B".into())), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(renamed.title.as_deref(), Some("Plan B"));
    assert_eq!(renamed.end_reason, None);

    let ended = store
        .update_session("s1", None, Some(Some("user_closed".into())))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ended.end_reason.as_deref(), Some("user_closed"));
    assert!(ended.ended_at.is_some());
    assert_eq!(ended.title.as_deref(), Some("Plan B"));

    let cleared = store
        .update_session("s1", Some(None), Some(None))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (cleared.title, cleared.end_reason, cleared.ended_at),
        (None, None, None)
    );

    assert_eq!(
        store
            .update_session("nope", Some(Some("x".into())), None)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.update_session("nope", None, None).await.unwrap(),
        None
    );

    assert!(store.delete_session("s1").await.unwrap());
    assert!(!store.delete_session("s1").await.unwrap());
    assert_eq!(store.get_session("s1").await.unwrap(), None);
}

pub async fn duplicates_conflict(store: Store) {
    store
        .create_session(NewSession {
            title: Some("Taken".into()),
            ..new("a")
        })
        .await
        .unwrap();
    let err = store.create_session(new("a")).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(c) if c == "session_exists"),
        "{err:?}"
    );
    let err = store
        .create_session(NewSession {
            title: Some("Taken".into()),
            ..new("b")
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(c) if c == "title_taken"),
        "{err:?}"
    );

    // Untitled sessions never collide.
    store.create_session(new("b")).await.unwrap();
    store.create_session(new("c")).await.unwrap();

    let err = store
        .update_session("b", Some(Some("Taken".into())), None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(c) if c == "title_taken"),
        "{err:?}"
    );
    // The failed update changed nothing and the connection is still usable.
    assert_eq!(store.get_session("b").await.unwrap().unwrap().title, None);

    assert!(store.title_in_use("Taken", None).await.unwrap());
    assert!(store.title_in_use("Taken", Some("b")).await.unwrap());
    assert!(!store.title_in_use("Taken", Some("a")).await.unwrap());
    assert!(!store.title_in_use("Free", None).await.unwrap());
}

pub async fn list_ordering_and_has_more(store: Store) {
    for id in ["a", "b", "c"] {
        store.create_session(new(id)).await.unwrap();
        tick().await;
    }
    store
        .create_session(NewSession {
            source: "cli".into(),
            ..new("d")
        })
        .await
        .unwrap();
    tick().await;
    store
        .append_message("a", NewMessage::text("user", "hi"))
        .await
        .unwrap();
    tick().await;
    store.fork_session("b", "b-fork", None).await.unwrap();

    let ids = |v: &[SessionRecord]| v.iter().map(|s| s.id.clone()).collect::<Vec<_>>();
    let (all, more) = store.list_sessions(50, 0, None, false).await.unwrap();
    assert_eq!(ids(&all), ["a", "d", "c", "b"]);
    assert!(!more);

    let (page, more) = store.list_sessions(2, 0, None, false).await.unwrap();
    assert_eq!(ids(&page), ["a", "d"]);
    assert!(more);
    let (page, more) = store.list_sessions(2, 2, None, false).await.unwrap();
    assert_eq!(ids(&page), ["c", "b"]);
    assert!(!more, "exactly limit rows left is not 'more'");

    let (with_children, _) = store.list_sessions(50, 0, None, true).await.unwrap();
    assert_eq!(ids(&with_children)[0], "b-fork");
    assert_eq!(with_children.len(), 5);

    let (api, _) = store
        .list_sessions(50, 0, Some("api_server"), false)
        .await
        .unwrap();
    assert_eq!(ids(&api), ["a", "c", "b"]);
    let (cli, _) = store.list_sessions(50, 0, Some("cli"), true).await.unwrap();
    assert_eq!(ids(&cli), ["d"]);
}

pub async fn fork_copies_and_names(store: Store) {
    store
        .create_session(NewSession {
            title: Some("Plan".into()),
            model: Some("m1".into()),
            system_prompt: Some("Be brief.".into()),
            ..new("src")
        })
        .await
        .unwrap();
    for (role, text) in [("user", "q1"), ("assistant", "a1"), ("user", "q2")] {
        store
            .append_message("src", NewMessage::text(role, text))
            .await
            .unwrap();
    }
    let fork = store.fork_session("src", "f1", None).await.unwrap();
    assert_eq!(fork.title.as_deref(), Some("Plan #2"));
    assert_eq!(fork.parent_session_id.as_deref(), Some("src"));
    assert_eq!(fork.message_count, 3);
    assert_eq!(fork.model.as_deref(), Some("m1"));
    assert_eq!(fork.system_prompt.as_deref(), Some("Be brief."));
    assert_eq!(fork.preview.as_deref(), Some("q1"));
    assert_eq!(fork.end_reason, None);
    let (copied, _) = store.list_messages("f1", None, None).await.unwrap();
    let texts: Vec<_> = copied.iter().map(|m| m.content.clone().unwrap()).collect();
    assert_eq!(texts, ["q1", "a1", "q2"]);
    assert!(copied.iter().all(|m| m.session_id == "f1"));

    let src = store.get_session("src").await.unwrap().unwrap();
    assert_eq!(src.end_reason.as_deref(), Some("branched"));
    assert!(src.ended_at.is_some());
    assert_eq!(src.message_count, 3, "the source keeps its messages");

    let second = store.fork_session("src", "f2", None).await.unwrap();
    assert_eq!(second.title.as_deref(), Some("Plan #3"));
    let of_fork = store.fork_session("f1", "f3", None).await.unwrap();
    assert_eq!(of_fork.title.as_deref(), Some("Plan #4"));

    store.create_session(new("untitled")).await.unwrap();
    let u1 = store.fork_session("untitled", "u1", None).await.unwrap();
    assert_eq!(u1.title.as_deref(), Some("fork"));
    let u2 = store.fork_session("untitled", "u2", None).await.unwrap();
    assert_eq!(u2.title.as_deref(), Some("fork #2"));

    let named = store
        .fork_session("src", "f4", Some("Custom".into()))
        .await
        .unwrap();
    assert_eq!(named.title.as_deref(), Some("Custom"));
    let err = store
        .fork_session("src", "f5", Some("Custom".into()))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(c) if c == "title_taken"),
        "{err:?}"
    );
    let err = store.fork_session("src", "f1", None).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(c) if c == "session_exists"),
        "{err:?}"
    );
    let err = store.fork_session("missing", "f6", None).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    assert_eq!(
        store.get_session("f5").await.unwrap(),
        None,
        "failed fork rolled back"
    );
}

pub async fn ensure_session_is_race_safe(store: Store) {
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .ensure_session("e1", "api_server", Some("k"), Some("m"))
                    .await
            })
        })
        .collect();
    for task in tasks {
        let s = task.await.unwrap().unwrap();
        assert_eq!(s.id, "e1");
        assert_eq!(s.session_key.as_deref(), Some("k"));
    }
    store
        .append_message("e1", NewMessage::text("user", "x"))
        .await
        .unwrap();
    let again = store
        .ensure_session("e1", "other", None, None)
        .await
        .unwrap();
    assert_eq!(again.source, "api_server", "existing row is kept");
    assert_eq!(again.message_count, 1);
}
