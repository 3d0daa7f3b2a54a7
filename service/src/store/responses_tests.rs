//! Store cases for `responses` / `response_events` (and the shared per-backend harness used by
//! the idempotency cases): each runs on a temp SQLite file and, when `DATABASE_URL` is a
//! PostgreSQL URL, on a fresh PostgreSQL database dropped afterwards.

use super::*;
use crate::store::{NewMessage, NewSession};

pub(crate) use crate::store::test_support::each_backend;

fn row(id: &str, status: &str, conversation: Option<&str>) -> ResponseRow {
    ResponseRow {
        id: id.to_owned(),
        status: status.to_owned(),
        background: false,
        session_id: "sess".to_owned(),
        conversation: conversation.map(str::to_owned),
        previous_response_id: None,
        created_at: now(),
        updated_at: now(),
        object: vec![1, 2, 3, 0, 255],
        transcript: "[]".to_owned(),
        input_items: vec![9],
    }
}

async fn tick() {
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
}

#[tokio::test]
async fn round_trip_update_and_delete() {
    each_backend(|store| async move {
        let mut first = row("resp_1", "in_progress", Some("chat"));
        first.background = true;
        assert!(store.insert_response(&first, 0).await.unwrap().is_empty());
        let got = store.get_response("resp_1").await.unwrap().unwrap();
        assert_eq!(got, first);
        assert!(store.get_response("nope").await.unwrap().is_none());

        assert!(
            store
                .update_response("resp_1", "completed", &[7], Some("[1]"))
                .await
                .unwrap()
        );
        let got = store.get_response("resp_1").await.unwrap().unwrap();
        assert_eq!(
            (got.status.as_str(), got.object, got.transcript.as_str()),
            ("completed", vec![7], "[1]")
        );
        // No transcript keeps the old one.
        store
            .update_response("resp_1", "failed", &[8], None)
            .await
            .unwrap();
        assert_eq!(
            store
                .get_response("resp_1")
                .await
                .unwrap()
                .unwrap()
                .transcript,
            "[1]"
        );

        assert!(store.delete_response("resp_1").await.unwrap());
        assert!(!store.delete_response("resp_1").await.unwrap());
        assert!(store.get_response("resp_1").await.unwrap().is_none());
        assert!(!store.touch_response("resp_1").await.unwrap());
    })
    .await;
}

#[tokio::test]
async fn cancelled_responses_are_never_overwritten() {
    each_backend(|store| async move {
        store
            .insert_response(&row("r", "in_progress", None), 0)
            .await
            .unwrap();
        assert!(store.cancel_live_response("r", &[1]).await.unwrap());
        assert!(!store.cancel_live_response("r", &[1]).await.unwrap());
        assert!(
            !store
                .update_response("r", "completed", &[2], None)
                .await
                .unwrap()
        );
        let got = store.get_response("r").await.unwrap().unwrap();
        assert_eq!((got.status.as_str(), got.object), ("cancelled", vec![1]));
    })
    .await;
}

#[tokio::test]
async fn latest_in_conversation_is_the_newest() {
    each_backend(|store| async move {
        store
            .insert_response(&row("a", "completed", Some("c")), 0)
            .await
            .unwrap();
        tick().await;
        store
            .insert_response(&row("b", "completed", Some("c")), 0)
            .await
            .unwrap();
        tick().await;
        store
            .insert_response(&row("x", "completed", Some("other")), 0)
            .await
            .unwrap();
        let latest = store.latest_in_conversation("c").await.unwrap().unwrap();
        assert_eq!(latest.id, "b");
        assert!(
            store
                .latest_in_conversation("none")
                .await
                .unwrap()
                .is_none()
        );
    })
    .await;
}

#[tokio::test]
async fn eviction_drops_the_least_recently_used_finished_rows() {
    each_backend(|store| async move {
        store
            .insert_response(&row("r1", "completed", None), 2)
            .await
            .unwrap();
        tick().await;
        store
            .insert_response(&row("r2", "completed", None), 2)
            .await
            .unwrap();
        tick().await;
        store.touch_response("r1").await.unwrap();
        tick().await;
        store
            .append_response_event(
                "r2",
                &EventRow {
                    sequence_number: 0,
                    kind: "k".into(),
                    event: vec![1],
                },
            )
            .await
            .unwrap();
        let evicted = store
            .insert_response(&row("r3", "in_progress", None), 2)
            .await
            .unwrap();
        assert_eq!(evicted, ["r2"]);
        assert!(store.get_response("r2").await.unwrap().is_none());
        assert!(
            store
                .response_events_after("r2", -1)
                .await
                .unwrap()
                .is_empty()
        );
        // Live rows are never evicted, even beyond capacity.
        let evicted = store
            .insert_response(&row("r4", "queued", None), 1)
            .await
            .unwrap();
        assert_eq!(evicted, ["r1"]);
        assert!(store.get_response("r3").await.unwrap().is_some());
        assert!(store.get_response("r4").await.unwrap().is_some());
    })
    .await;
}

#[tokio::test]
async fn events_append_in_order_and_only_for_existing_responses() {
    each_backend(|store| async move {
        store
            .insert_response(&row("r", "in_progress", None), 0)
            .await
            .unwrap();
        for n in 0..4 {
            let event = EventRow {
                sequence_number: n,
                kind: format!("k{n}"),
                event: vec![n as u8],
            };
            assert!(store.append_response_event("r", &event).await.unwrap());
        }
        let after = store.response_events_after("r", 1).await.unwrap();
        assert_eq!(
            after.iter().map(|e| e.sequence_number).collect::<Vec<_>>(),
            [2, 3]
        );
        assert_eq!(after[0].kind, "k2");
        assert_eq!(after[1].event, vec![3]);
        let orphan = EventRow {
            sequence_number: 0,
            kind: "k".into(),
            event: vec![],
        };
        assert!(!store.append_response_event("gone", &orphan).await.unwrap());
    })
    .await;
}

#[tokio::test]
async fn last_message_id_marks_where_a_turn_begins() {
    each_backend(|store| async move {
        store
            .create_session(NewSession {
                id: "s".into(),
                source: "api_server".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(store.last_message_id("s").await.unwrap(), 0);
        let m = store
            .append_message("s", NewMessage::text("user", "hi"))
            .await
            .unwrap();
        assert_eq!(store.last_message_id("s").await.unwrap(), m.id);
        assert_eq!(store.last_message_id("unknown").await.unwrap(), 0);
    })
    .await;
}

#[tokio::test]
async fn heartbeats_keep_live_responses_from_being_ended_as_orphans() {
    each_backend(|store| async move {
        let mut stale = row("old", "in_progress", None);
        stale.updated_at = now() - 120.0;
        store.insert_response(&stale, 0).await.unwrap();
        store
            .insert_response(&row("fresh", "in_progress", None), 0)
            .await
            .unwrap();
        store
            .insert_response(&row("done", "completed", None), 0)
            .await
            .unwrap();
        let cutoff = now() - 60.0;
        assert!(
            !store
                .end_orphaned_response("fresh", "failed", &[5], cutoff)
                .await
                .unwrap()
        );
        assert!(
            !store
                .end_orphaned_response("done", "failed", &[5], cutoff)
                .await
                .unwrap()
        );
        assert!(
            store
                .end_orphaned_response("old", "failed", &[5], cutoff)
                .await
                .unwrap()
        );
        let ended = store.get_response("old").await.unwrap().unwrap();
        assert_eq!((ended.status.as_str(), ended.object), ("failed", vec![5]));
        assert!(store.heartbeat_response("fresh").await.unwrap());
        assert!(!store.heartbeat_response("done").await.unwrap());
        assert!(!store.heartbeat_response("old").await.unwrap());
    })
    .await;
}
