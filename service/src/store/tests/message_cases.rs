//! Backend-independent cases for messages and counters: pagination, counts, preview, cascade
//! delete and concurrent appends. Run on every backend by `backend_tests!` in `../tests.rs`.

use serde_json::json;
use sqlx::Row;

use super::{new, tick};
use crate::store::*;

pub async fn message_pagination(store: Store) {
    store.create_session(new("s")).await.unwrap();
    store.create_session(new("other")).await.unwrap();
    let mut ids = Vec::new();
    for i in 0..5 {
        let m = store
            .append_message("s", NewMessage::text("user", format!("m{i}")))
            .await
            .unwrap();
        ids.push(m.id);
        store
            .append_message("other", NewMessage::text("user", "noise"))
            .await
            .unwrap();
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]));

    let (all, more) = store.list_messages("s", None, None).await.unwrap();
    assert_eq!(all.len(), 5);
    assert!(!more);
    assert_eq!(all.iter().map(|m| m.id).collect::<Vec<_>>(), ids);

    let (first, more) = store.list_messages("s", Some(2), None).await.unwrap();
    assert_eq!(
        first
            .iter()
            .map(|m| m.content.clone().unwrap())
            .collect::<Vec<_>>(),
        ["m0", "m1"]
    );
    assert!(more);
    let (next, more) = store
        .list_messages("s", Some(2), Some(first[1].id))
        .await
        .unwrap();
    assert_eq!(next.iter().map(|m| m.id).collect::<Vec<_>>(), ids[2..4]);
    assert!(more);
    let (last, more) = store
        .list_messages("s", Some(2), Some(next[1].id))
        .await
        .unwrap();
    assert_eq!(last.len(), 1);
    assert!(!more);
    let (none, more) = store.list_messages("missing", Some(2), None).await.unwrap();
    assert!(none.is_empty() && !more);
}

pub async fn counts_and_preview(store: Store) {
    let s = store.create_session(new("s")).await.unwrap();
    tick().await;
    store
        .append_message("s", NewMessage::text("system", "sys"))
        .await
        .unwrap();
    let long = format!("line one\nline two {}", "x".repeat(100));
    let user = store
        .append_message("s", NewMessage::text("user", long))
        .await
        .unwrap();
    let calls = json!([
        {"id": "call_1", "type": "function", "function": {"name": "terminal", "arguments": "{}"}},
        {"id": "call_2", "type": "function", "function": {"name": "read_file", "arguments": "{}"}}
    ]);
    let assistant = store
        .append_message(
            "s",
            NewMessage {
                role: "assistant".into(),
                tool_calls: Some(calls.clone()),
                token_count: Some(42),
                finish_reason: Some("tool_calls".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    store
        .append_message(
            "s",
            NewMessage {
                role: "tool".into(),
                content: Some("ok".into()),
                tool_call_id: Some("call_1".into()),
                tool_name: Some("terminal".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    store.add_usage("s", 100, 20).await.unwrap();
    store.add_usage("s", 1, 2).await.unwrap();

    let got = store.get_session("s").await.unwrap().unwrap();
    assert_eq!(got.message_count, 4);
    assert_eq!(got.tool_call_count, 2);
    assert_eq!((got.input_tokens, got.output_tokens), (101, 22));
    assert!(got.last_active > s.last_active);
    assert!(!got.has_system_prompt);
    let preview = got.preview.unwrap();
    assert_eq!(preview.chars().count(), 60);
    assert!(preview.starts_with("line one line two x"), "{preview}");
    assert_eq!(user.role, "user");

    let (msgs, _) = store.list_messages("s", None, None).await.unwrap();
    let stored = msgs.iter().find(|m| m.id == assistant.id).unwrap();
    assert_eq!(stored, &assistant);
    assert_eq!(stored.tool_calls.as_ref(), Some(&calls));
    assert_eq!(msgs[3].tool_call_id.as_deref(), Some("call_1"));

    let err = store
        .append_message("missing", NewMessage::text("user", "x"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    let err = store.add_usage("missing", 1, 1).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
}

pub async fn delete_cascades(store: Store) {
    store.create_session(new("s")).await.unwrap();
    store.create_session(new("keep")).await.unwrap();
    for i in 0..3 {
        store
            .append_message("s", NewMessage::text("user", format!("{i}")))
            .await
            .unwrap();
    }
    store
        .append_message("keep", NewMessage::text("user", "stay"))
        .await
        .unwrap();
    assert!(store.delete_session("s").await.unwrap());
    let left: i64 = sqlx::query("SELECT COUNT(*) FROM messages WHERE session_id = $1")
        .bind("s")
        .fetch_one(store.pool())
        .await
        .unwrap()
        .try_get(0)
        .unwrap();
    assert_eq!(left, 0);
    assert_eq!(
        store
            .list_messages("keep", None, None)
            .await
            .unwrap()
            .0
            .len(),
        1
    );
}

pub async fn concurrent_appends_all_land(store: Store) {
    store.create_session(new("busy")).await.unwrap();
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .append_message("busy", NewMessage::text("user", format!("{i}")))
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let s = store.get_session("busy").await.unwrap().unwrap();
    assert_eq!(s.message_count, 20);
    assert_eq!(
        store
            .list_messages("busy", None, None)
            .await
            .unwrap()
            .0
            .len(),
        20
    );
}

pub async fn nul_in_agent_text_is_stored_as_replacement_character(store: Store) {
    store.create_session(new("s")).await.unwrap();
    let mut message = NewMessage::text("tool", "ELF\0\0bin");
    message.tool_call_id = Some("call\0x".into());
    message.tool_name = Some("terminal".into());
    store.append_message("s", message).await.unwrap();
    let (stored, _) = store.list_messages("s", None, None).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].content.as_deref(), Some("ELF\u{FFFD}\u{FFFD}bin"));
    assert_eq!(stored[0].tool_call_id.as_deref(), Some("call\u{FFFD}x"));
}
