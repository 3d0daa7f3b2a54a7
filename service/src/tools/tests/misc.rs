//! `todo`, `skills_list`/`skill_view` (+ the skills index) and `session_search`.

use serde_json::json;

use super::*;
use crate::store::{NewMessage, NewSession};

#[tokio::test]
async fn todo_list_lifecycle_persists_in_the_workspace() {
    let fx = fixture().await;
    let out = fx
        .call("todo", json!({"action": "add", "text": "write tests"}))
        .await;
    assert_eq!(json_of(&out)["items"][0]["id"], 1, "{}", out.content);
    fx.call("todo", json!({"action": "add", "text": "ship"}))
        .await;
    let out = fx
        .call("todo", json!({"action": "complete", "id": 1}))
        .await;
    let value = json_of(&out);
    assert_eq!(value["items"][0]["done"], true);
    assert_eq!(
        (value["open"].clone(), value["done"].clone()),
        (json!(1), json!(1))
    );

    // A fresh registry (a restart) sees the same list.
    let again = ToolRegistry::new(&fx.ctx.config);
    let out = again
        .execute(&fx.ctx, "todo", &json!({"action": "list"}).to_string())
        .await;
    assert_eq!(json_of(&out)["items"].as_array().unwrap().len(), 2);
    assert!(fx.workspace().join(".todo.json").is_file());

    let out = fx.call("todo", json!({"action": "remove", "id": 2})).await;
    assert_eq!(json_of(&out)["items"].as_array().unwrap().len(), 1);
    let out = fx.call("todo", json!({"action": "remove", "id": 2})).await;
    assert!(error_of(&out).contains("id 2"));
    let out = fx.call("todo", json!({"action": "complete"})).await;
    assert!(error_of(&out).contains("`id`"));
    let out = fx.call("todo", json!({"action": "add"})).await;
    assert!(error_of(&out).contains("`text`"));
    let out = fx.call("todo", json!({"action": "clear"})).await;
    assert_eq!(json_of(&out)["items"], json!([]));

    // Ids keep growing after a clear; other sessions have their own list.
    let out = fx
        .call("todo", json!({"action": "add", "text": "next"}))
        .await;
    assert_eq!(json_of(&out)["items"][0]["id"], 3);
    let mut other = fx.ctx.clone();
    other.session_id = "s2".to_owned();
    let out = fx.call_in(&other, "todo", json!({"action": "list"})).await;
    assert_eq!(json_of(&out)["items"], json!([]));
}

fn write_skill(home: &std::path::Path, rel: &str, text: &str) {
    let path = home.join("skills").join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[tokio::test]
async fn skills_list_view_and_index() {
    let fx = fixture().await;
    let home = fx.home.path();
    assert_eq!(skills_index(home), "");
    write_skill(
        home,
        "deploy/SKILL.md",
        "---\nname: deploy-app\ndescription: Ships the app\n---\n# Deploy\nRun make deploy.\n",
    );
    write_skill(
        home,
        "writing/copy/SKILL.md",
        "---\ndescription: Landing copy\n---\nWrite well.\n",
    );

    let out = fx.call("skills_list", json!({})).await;
    let names: Vec<String> = json_of(&out)["skills"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["deploy-app", "copy"]);

    let out = fx.call("skill_view", json!({"name": "deploy-app"})).await;
    assert!(out.content.contains("Run make deploy."), "{}", out.content);
    let out = fx.call("skill_view", json!({"name": "writing/copy"})).await;
    assert!(out.content.contains("Write well."));
    let out = fx.call("skill_view", json!({"name": "nope"})).await;
    assert!(error_of(&out).contains("skills_list"));
    let out = fx.call("skill_view", json!({})).await;
    assert!(error_of(&out).contains("`name`"));

    assert_eq!(
        skills_index(home),
        "- deploy-app: Ships the app\n- copy: Landing copy"
    );
}

#[tokio::test]
async fn session_search_finds_stored_messages_within_the_key() {
    let mut fx = fixture().await;
    for (id, key, text) in [
        ("old", Some("alice"), "the migration to PostgreSQL is done"),
        ("other", Some("bob"), "bob also talked about postgresql"),
    ] {
        fx.ctx
            .store
            .create_session(NewSession {
                id: id.to_owned(),
                source: "api_server".to_owned(),
                session_key: key.map(str::to_owned),
                ..Default::default()
            })
            .await
            .unwrap();
        fx.ctx
            .store
            .append_message(id, NewMessage::text("user", text))
            .await
            .unwrap();
    }

    let out = fx
        .call("session_search", json!({"query": "postgresql"}))
        .await;
    assert_eq!(json_of(&out)["count"], 2, "{}", out.content);

    fx.ctx.session_key = Some("alice".to_owned());
    let out = fx
        .call("session_search", json!({"query": "PostgreSQL", "limit": 5}))
        .await;
    let value = json_of(&out);
    assert_eq!(value["count"], 1);
    let hit = &value["results"][0];
    assert_eq!(hit["session_id"], "old");
    assert_eq!(hit["role"], "user");
    assert!(
        hit["snippet"]
            .as_str()
            .unwrap()
            .contains("migration to PostgreSQL")
    );
    assert!(hit["message_id"].as_i64().is_some() && hit["timestamp"].as_f64().is_some());

    let out = fx.call("session_search", json!({"query": ""})).await;
    assert!(error_of(&out).contains("`query`"));
}
