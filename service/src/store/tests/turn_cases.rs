//! Backend-independent cases for a turn's folded writes: the input transaction creates the
//! session on first use and appends in order, the output transaction stores the answer with its
//! token usage, and concurrent first writes to one new session all land. Run on every backend by
//! `backend_tests!` in `../tests.rs`.

use serde_json::json;

use crate::store::*;

fn origin(model: &str) -> SessionOrigin<'_> {
    SessionOrigin {
        source: "api_server",
        session_key: Some("key-1"),
        model: Some(model),
    }
}

pub async fn turn_input_creates_the_session_and_output_adds_usage(store: Store) {
    let call =
        json!([{"id": "c1", "type": "function", "function": {"name": "todo", "arguments": "{}"}}]);
    let first = store
        .append_turn_input("t", origin("m-1"), vec![NewMessage::text("user", "hello")])
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    let session = store.get_session("t").await.unwrap().unwrap();
    assert_eq!(session.source, "api_server");
    assert_eq!(session.session_key.as_deref(), Some("key-1"));
    assert_eq!(session.model.as_deref(), Some("m-1"));
    assert_eq!(session.message_count, 1);
    assert_eq!(session.preview.as_deref(), Some("hello"));

    let assistant = NewMessage {
        tool_calls: Some(call),
        ..NewMessage::text("assistant", "")
    };
    store.append_message("t", assistant).await.unwrap();
    // A later turn on the same session: the session row is kept, counters move.
    let results = vec![
        NewMessage {
            tool_call_id: Some("c1".into()),
            ..NewMessage::text("tool", "done")
        },
        NewMessage::text("user", "and then?"),
    ];
    let stored = store
        .append_turn_input("t", origin("other-model"), results)
        .await
        .unwrap();
    assert!(stored[0].id < stored[1].id);
    let answer = store
        .append_turn_output("t", Some(NewMessage::text("assistant", "fine")), 12, 5)
        .await
        .unwrap()
        .unwrap();
    assert!(answer.id > stored[1].id);
    store.append_turn_output("t", None, 3, 1).await.unwrap();

    let session = store.get_session("t").await.unwrap().unwrap();
    assert_eq!(session.model.as_deref(), Some("m-1"));
    assert_eq!(session.message_count, 5);
    assert_eq!(session.tool_call_count, 1);
    assert_eq!((session.input_tokens, session.output_tokens), (15, 6));
    assert!(session.last_active >= answer.timestamp);
    let (messages, _) = store.list_messages("t", None, None).await.unwrap();
    let roles: Vec<&str> = messages.iter().map(|m| m.role.as_str()).collect();
    assert_eq!(roles, ["user", "assistant", "tool", "user", "assistant"]);

    let missing = store
        .append_turn_output("missing", Some(NewMessage::text("assistant", "x")), 1, 1)
        .await;
    assert!(matches!(missing, Err(StoreError::NotFound)), "{missing:?}");
    let (none, _) = store.list_messages("missing", None, None).await.unwrap();
    assert!(
        none.is_empty(),
        "a failed output write must leave no message"
    );
}

pub async fn concurrent_first_turn_writes_all_land(store: Store) {
    let writes = (0..8).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .append_turn_input(
                    "race",
                    origin("m"),
                    vec![NewMessage::text("user", format!("m{i}"))],
                )
                .await
        })
    });
    for write in futures::future::join_all(writes).await {
        write.unwrap().unwrap();
    }
    let session = store.get_session("race").await.unwrap().unwrap();
    assert_eq!(session.message_count, 8);
    let (messages, _) = store.list_messages("race", None, None).await.unwrap();
    assert_eq!(messages.len(), 8);
}
