//! The registry: offers exactly the catalogue's tools of enabled toolsets,
//! turns unknown tools and bad arguments into error outputs, and labels progress safely.

use serde_json::json;

use super::*;
use crate::discovery::toolsets::BUILTIN_TOOLSETS;

#[tokio::test]
async fn default_offers_every_catalogue_tool() {
    let fx = fixture().await;
    let expected: Vec<&str> = BUILTIN_TOOLSETS
        .iter()
        .flat_map(|set| set.tools.iter().copied())
        .collect();
    assert_eq!(fx.registry.names(), expected);
    assert!(fx.registry.contains("cronjob"));

    let definitions = fx.registry.definitions();
    assert_eq!(definitions.len(), expected.len());
    for (definition, name) in definitions.iter().zip(&expected) {
        assert_eq!(definition["type"], "function");
        assert_eq!(definition["function"]["name"], *name);
        assert!(
            !definition["function"]["description"]
                .as_str()
                .unwrap()
                .is_empty()
        );
        assert_eq!(definition["function"]["parameters"]["type"], "object");
    }
}

#[tokio::test]
async fn configured_toolsets_restrict_the_registry() {
    let fx = fixture_with(|c| c.toolsets = Some(vec!["file".to_owned(), "todo".to_owned()])).await;
    assert_eq!(
        fx.registry.names(),
        ["patch", "read_file", "search_files", "write_file", "todo"]
    );
    assert!(!fx.registry.contains("terminal"));
    let out = fx.call("terminal", json!({"command": "echo hi"})).await;
    assert!(error_of(&out).contains("unknown tool"));

    let all = fixture_with(|c| c.toolsets = Some(vec!["all".to_owned()])).await;
    assert!(all.registry.contains("terminal"));
    let none = fixture_with(|c| c.toolsets = Some(Vec::new())).await;
    assert!(none.registry.definitions().is_empty());
}

#[tokio::test]
async fn bad_calls_become_error_outputs() {
    let fx = fixture().await;
    let out = fx.registry.execute(&fx.ctx, "teleport", "{}").await;
    assert!(error_of(&out).contains("unknown tool \"teleport\""));
    assert!(error_of(&out).contains("terminal"));

    let out = fx
        .registry
        .execute(&fx.ctx, "terminal", "{\"command\": ")
        .await;
    assert!(error_of(&out).contains("not valid JSON"));
    let out = fx.registry.execute(&fx.ctx, "terminal", "[\"ls\"]").await;
    assert!(error_of(&out).contains("JSON object"));
    let out = fx.registry.execute(&fx.ctx, "terminal", "").await;
    assert!(error_of(&out).contains("`command`"));

    // Empty argument text is `{}` for argument-less tools.
    let out = fx.registry.execute(&fx.ctx, "skills_list", "").await;
    assert!(!out.is_error, "{}", out.content);
}

#[test]
fn previews_are_short_and_never_contents() {
    let long = format!("echo {}\nsecond line", "x".repeat(200));
    let preview = ToolRegistry::preview("terminal", &json!({"command": long}).to_string());
    assert!(preview.chars().count() <= 81 && preview.starts_with("echo xx"));
    assert!(!preview.contains("second"));

    let write = json!({"path": "notes/a.txt", "content": "TOP SECRET"}).to_string();
    assert_eq!(ToolRegistry::preview("write_file", &write), "notes/a.txt");
    let memory = json!({"action": "add", "target": "user", "content": "secret"}).to_string();
    assert_eq!(ToolRegistry::preview("memory", &memory), "add user");
    let web = json!({"url": "https://u:p@example.com:8443/a/b?token=abc"}).to_string();
    assert_eq!(
        ToolRegistry::preview("web_extract", &web),
        "https://example.com:8443/a/b"
    );
    assert_eq!(ToolRegistry::preview("terminal", "not json"), "terminal");
    assert_eq!(ToolRegistry::preview("skills_list", "{}"), "skills_list");
    let search = json!({"pattern": "fn main", "path": "src"}).to_string();
    assert_eq!(
        ToolRegistry::preview("search_files", &search),
        "fn main in src"
    );
}
