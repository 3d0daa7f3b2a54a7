//! `memory`: add/replace/remove/read, scoping by session key, and the system-prompt snapshot.

use serde_json::json;

use super::*;

fn keyed(fx: &Fixture, key: Option<&str>) -> ToolContext {
    let mut ctx = fx.ctx.clone();
    ctx.session_key = key.map(str::to_owned);
    ctx
}

#[tokio::test]
async fn add_replace_remove_read() {
    let fx = fixture().await;
    let ctx = keyed(&fx, Some("alice-key"));
    let call = |args| fx.call_in(&ctx, "memory", args);

    let out =
        call(json!({"action": "add", "target": "memory", "content": "Project uses Rust"})).await;
    assert_eq!(json_of(&out)["status"], "added", "{}", out.content);
    call(json!({"action": "add", "target": "memory", "content": "Deploys on Fridays\nvia CI"}))
        .await;
    call(json!({"action": "add", "target": "user", "content": "Name: Alice"})).await;
    let out = call(json!({"action": "add", "target": "user", "content": "Name: Alice"})).await;
    assert_eq!(json_of(&out)["status"], "unchanged");

    let out = call(json!({"action": "read"})).await;
    assert_eq!(
        json_of(&out),
        json!({"memory": ["Project uses Rust", "Deploys on Fridays\nvia CI"], "user": ["Name: Alice"]})
    );

    let out = call(
        json!({"action": "replace", "target": "memory", "old_text": "Fridays",
                          "content": "Deploys on Mondays"}),
    )
    .await;
    assert_eq!(json_of(&out)["status"], "replaced");
    let out = call(json!({"action": "remove", "target": "memory", "old_text": "Rust"})).await;
    assert_eq!(json_of(&out)["entries"], 1);
    let out = call(json!({"action": "read", "target": "memory"})).await;
    assert_eq!(json_of(&out), json!({"memory": ["Deploys on Mondays"]}));

    let dir = memory_dir(fx.home.path(), Some("alice-key"));
    assert!(dir.starts_with(fx.home.path().join("memories/keys")));
    assert_eq!(
        std::fs::read_to_string(dir.join("MEMORY.md")).unwrap(),
        "Deploys on Mondays\n"
    );
}

#[tokio::test]
async fn errors_name_what_is_wrong() {
    let fx = fixture().await;
    let out = fx
        .call("memory", json!({"action": "add", "target": "memory"}))
        .await;
    assert!(error_of(&out).contains("`content`"));
    let out = fx
        .call(
            "memory",
            json!({"action": "add", "target": "diary", "content": "x"}),
        )
        .await;
    assert!(error_of(&out).contains("`target`"));
    let out = fx
        .call("memory", json!({"action": "forget", "target": "memory"}))
        .await;
    assert!(error_of(&out).contains("`action`"));
    let out = fx.call("memory", json!({"target": "memory"})).await;
    assert!(error_of(&out).contains("`action`"));
    fx.call(
        "memory",
        json!({"action": "add", "target": "memory", "content": "alpha one"}),
    )
    .await;
    fx.call(
        "memory",
        json!({"action": "add", "target": "memory", "content": "alpha two"}),
    )
    .await;
    let out = fx
        .call(
            "memory",
            json!({"action": "remove", "target": "memory", "old_text": "alpha"}),
        )
        .await;
    assert!(error_of(&out).contains("2 entries"));
    let out = fx
        .call(
            "memory",
            json!({"action": "remove", "target": "memory", "old_text": "beta"}),
        )
        .await;
    assert!(error_of(&out).contains("no entry"));
    let out = fx
        .call(
            "memory",
            json!({"action": "add", "target": "memory", "content": "a\n§\nb"}),
        )
        .await;
    assert!(error_of(&out).contains("§"));
    let huge = "x".repeat(11 * 1024);
    let out = fx
        .call(
            "memory",
            json!({"action": "add", "target": "memory", "content": huge}),
        )
        .await;
    assert!(error_of(&out).contains("exceed"));
}

#[tokio::test]
async fn keys_do_not_see_each_other() {
    let fx = fixture().await;
    let alice = keyed(&fx, Some("alice"));
    let bob = keyed(&fx, Some("bob"));
    let shared = keyed(&fx, None);
    fx.call_in(
        &alice,
        "memory",
        json!({"action": "add", "target": "user", "content": "likes tea"}),
    )
    .await;
    fx.call_in(
        &shared,
        "memory",
        json!({"action": "add", "target": "memory", "content": "shared fact"}),
    )
    .await;

    let bob_view = fx.call_in(&bob, "memory", json!({"action": "read"})).await;
    assert_eq!(json_of(&bob_view), json!({"memory": [], "user": []}));
    let alice_view = fx
        .call_in(&alice, "memory", json!({"action": "read"}))
        .await;
    assert_eq!(
        json_of(&alice_view),
        json!({"memory": [], "user": ["likes tea"]})
    );

    let home = fx.home.path();
    let snapshot = memory_snapshot(home, Some("alice"));
    assert!(snapshot.contains("likes tea") && snapshot.contains("### User profile"));
    assert!(!snapshot.contains("shared fact"));
    assert_eq!(memory_snapshot(home, Some("bob")), "");
    assert!(memory_snapshot(home, None).contains("- shared fact"));
}
