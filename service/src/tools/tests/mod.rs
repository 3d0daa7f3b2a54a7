//! Tool tests: each runs against a temp home (config loaded the real way) and a temp SQLite
//! store, calling tools through [`ToolRegistry::execute`] as the agent loop does. Per-toolset
//! cases live in the sibling files.

mod files;
mod memory;
mod misc;
mod registry;
mod terminal;
mod web;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::approvals::{ApprovalDecision, ApprovalGate, ApprovalRequest, NoApprovalChannel};
use crate::config::{Config, Overrides};

/// A temp home, its config and store, and a context for session `s1`.
struct Fixture {
    home: tempfile::TempDir,
    registry: ToolRegistry,
    ctx: ToolContext,
}

fn load_config(home: &std::path::Path) -> Config {
    let env = HashMap::from([(
        "API_SERVER_KEY".to_owned(),
        "0123456789abcdef0123456789abcdef".to_owned(),
    )]);
    let overrides = Overrides {
        home: Some(home.to_path_buf()),
        ..Default::default()
    };
    Config::load(&env, &overrides).unwrap()
}

async fn fixture() -> Fixture {
    fixture_with(|_| {}).await
}

async fn fixture_with(adjust: impl FnOnce(&mut Config)) -> Fixture {
    let home = tempfile::tempdir().unwrap();
    let mut config = load_config(home.path());
    adjust(&mut config);
    let store = Store::connect(&format!("sqlite://{}/t.db", home.path().display()))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let registry = ToolRegistry::new(&config);
    let ctx = ToolContext {
        session_id: "s1".to_owned(),
        session_key: None,
        config: Arc::new(config),
        store,
        cancel: CancellationToken::new(),
        approvals: Arc::new(NoApprovalChannel),
    };
    Fixture {
        home,
        registry,
        ctx,
    }
}

impl Fixture {
    async fn call(&self, name: &str, args: Value) -> ToolOutput {
        self.call_in(&self.ctx, name, args).await
    }

    async fn call_in(&self, ctx: &ToolContext, name: &str, args: Value) -> ToolOutput {
        self.registry.execute(ctx, name, &args.to_string()).await
    }

    fn workspace(&self) -> std::path::PathBuf {
        self.ctx.workspace()
    }
}

/// The JSON content of an output.
fn json_of(output: &ToolOutput) -> Value {
    serde_json::from_str(&output.content)
        .unwrap_or_else(|err| panic!("not JSON ({err}): {}", output.content))
}

/// The `error` text of an error output.
fn error_of(output: &ToolOutput) -> String {
    assert!(output.is_error, "expected an error, got {}", output.content);
    json_of(output)["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// A gate that answers every request with one decision and records what it was asked.
struct ScriptedGate {
    decision: ApprovalDecision,
    preapproved: Vec<&'static str>,
    asked: Mutex<Vec<ApprovalRequest>>,
}

impl ScriptedGate {
    fn new(decision: ApprovalDecision) -> Arc<ScriptedGate> {
        Arc::new(ScriptedGate {
            decision,
            preapproved: Vec::new(),
            asked: Mutex::new(Vec::new()),
        })
    }

    fn asked(&self) -> Vec<ApprovalRequest> {
        self.asked.lock().unwrap().clone()
    }
}

#[async_trait]
impl ApprovalGate for ScriptedGate {
    async fn request(&self, request: ApprovalRequest) -> ApprovalDecision {
        self.asked.lock().unwrap().push(request);
        self.decision
    }

    fn is_preapproved(&self, pattern_key: &str) -> bool {
        self.preapproved.contains(&pattern_key)
    }
}

#[test]
fn workspace_names_are_sanitised_and_distinct() {
    let home = std::path::Path::new("/h");
    assert_eq!(
        workspace_dir(home, "abc-1.2_x"),
        home.join("workspaces/abc-1.2_x")
    );
    let odd = workspace_dir(home, "../etc");
    let other = workspace_dir(home, "__etc");
    assert!(odd.starts_with("/h/workspaces"));
    assert_eq!(odd.parent(), Some(home.join("workspaces").as_path()));
    assert_ne!(odd, other);
    let dots = workspace_dir(home, "..");
    assert_eq!(dots.parent(), Some(home.join("workspaces").as_path()));
    assert!(!dots.ends_with(".."));
}
