//! Discovery routes through their RPCs: detailed health with a real database check, models with
//! `model_routes` aliases, capabilities listing every route, skills scanned from disk, toolsets.

use caduceus_proto::v1::discovery_service_client::DiscoveryServiceClient;
use caduceus_proto::v1::{ListSkillsRequest, ListToolsetsRequest};
use caduceus_tests::app::{TestApp, TestOptions, authed};
use serde_json::Value;

const CONFIG_WITH_ROUTES: &str = "
model:
  provider: custom
  base_url: http://127.0.0.1:9/v1
  default: upstream-model
platforms:
  api_server:
    extra:
      model_routes:
        fast:
          model: small-model
        local:
          model: llama3
          base_url: http://127.0.0.1:11434/v1
platform_toolsets:
  api_server: [terminal, file]
";

#[tokio::test]
async fn detailed_health_checks_the_database() {
    let app = TestApp::spawn().await;
    let body: Value = app
        .get("/health/detailed")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["platform"], "hermes-agent");
    assert_eq!(body["gateway_state"], "running");
    assert_eq!(body["readiness"]["checks"]["database"]["status"], "ok");
    assert_eq!(body["readiness"]["checks"]["disk"]["status"], "ok");
    // No upstream configured: the config check fails and the server reports degraded.
    assert_eq!(body["readiness"]["checks"]["config"]["status"], "error");
    assert_eq!(body["status"], "degraded");
    assert!(body["pid"].as_i64().unwrap() > 0);
    assert!(body["uptime_seconds"].as_f64().unwrap() >= 0.0);
    assert_eq!(body["active_agents"], 0);
    let text = body.to_string();
    assert!(!text.contains(caduceus_tests::app::TEST_KEY));
    assert!(
        !text.contains(&app.home.path().display().to_string()),
        "leaks a path: {text}"
    );
    app.stop().await;
}

#[tokio::test]
async fn upstream_check_says_not_called_yet_when_configured() {
    let app = TestApp::spawn_with(TestOptions {
        config_yaml: Some(CONFIG_WITH_ROUTES.into()),
        ..TestOptions::default()
    })
    .await;
    let body: Value = app
        .get("/health/detailed")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["readiness"]["checks"]["upstream"]["status"], "ok");
    assert_eq!(
        body["readiness"]["checks"]["upstream"]["detail"],
        "not called yet"
    );
    assert_eq!(body["status"], "ok");
    app.stop().await;
}

#[tokio::test]
async fn models_list_the_advertised_model_then_aliases() {
    let app = TestApp::spawn_with(TestOptions {
        config_yaml: Some(CONFIG_WITH_ROUTES.into()),
        ..TestOptions::default()
    })
    .await;
    let body: Value = app
        .get("/v1/models")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["object"], "list");
    let ids: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["hermes-agent", "fast", "local"]);
    let first = &body["data"][0];
    assert_eq!(first["object"], "model");
    assert_eq!(first["owned_by"], "hermes");
    assert_eq!(first["root"], "upstream-model");
    assert!(first["parent"].is_null());
    assert_eq!(body["data"][1]["root"], "small-model");
    assert_eq!(body["data"][1]["parent"], "hermes-agent");
    app.stop().await;
}

#[tokio::test]
async fn capabilities_list_every_documented_route() {
    let app = TestApp::spawn().await;
    let body: Value = app
        .get("/v1/capabilities")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["object"], "hermes.api_server.capabilities");
    assert_eq!(body["auth"]["type"], "bearer");
    assert_eq!(body["auth"]["required"], true);
    assert_eq!(body["runtime"]["mode"], "server_agent");
    assert_eq!(body["runtime"]["tool_execution"], "server");
    assert_eq!(
        body["features"]["session_continuity_header"],
        "X-Hermes-Session-Id"
    );
    assert_eq!(
        body["features"]["session_key_header"],
        "X-Hermes-Session-Key"
    );
    let endpoints: Vec<(String, String)> = body["endpoints"]
        .as_object()
        .unwrap()
        .values()
        .map(|e| {
            (
                e["method"].as_str().unwrap().to_owned(),
                e["path"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let documented = [
        ("GET", "/health"),
        ("GET", "/v1/health"),
        ("GET", "/health/detailed"),
        ("GET", "/v1/models"),
        ("GET", "/v1/capabilities"),
        ("GET", "/v1/skills"),
        ("GET", "/v1/toolsets"),
        ("POST", "/v1/chat/completions"),
        ("POST", "/v1/responses"),
        ("GET", "/v1/responses/{id}"),
        ("DELETE", "/v1/responses/{id}"),
        ("POST", "/v1/responses/{id}/cancel"),
        ("GET", "/v1/responses/{id}/input_items"),
        ("GET", "/api/sessions"),
        ("POST", "/api/sessions"),
        ("GET", "/api/sessions/{id}"),
        ("PATCH", "/api/sessions/{id}"),
        ("DELETE", "/api/sessions/{id}"),
        ("GET", "/api/sessions/{id}/messages"),
        ("POST", "/api/sessions/{id}/fork"),
        ("POST", "/api/sessions/{id}/chat"),
        ("POST", "/api/sessions/{id}/chat/stream"),
        ("POST", "/v1/runs"),
        ("GET", "/v1/runs/{id}"),
        ("GET", "/v1/runs/{id}/events"),
        ("POST", "/v1/runs/{id}/approval"),
        ("POST", "/v1/runs/{id}/stop"),
        ("GET", "/api/jobs"),
        ("POST", "/api/jobs"),
        ("GET", "/api/jobs/{id}"),
        ("PATCH", "/api/jobs/{id}"),
        ("DELETE", "/api/jobs/{id}"),
        ("POST", "/api/jobs/{id}/pause"),
        ("POST", "/api/jobs/{id}/resume"),
        ("POST", "/api/jobs/{id}/run"),
    ];
    for (method, path) in documented {
        assert!(
            endpoints.iter().any(|(m, p)| m == method && p == path),
            "{method} {path} missing from capabilities: {endpoints:?}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn skills_are_scanned_from_disk_on_each_call() {
    let app = TestApp::spawn_with(TestOptions {
        files: vec![(
            "skills/devops/deploy/SKILL.md".into(),
            "---\nname: deploy\ndescription: Ship it\n---\nSteps".into(),
        )],
        ..TestOptions::default()
    })
    .await;
    let body: Value = app
        .get("/v1/skills")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["object"], "list");
    assert_eq!(body["data"][0]["name"], "deploy");
    assert_eq!(body["data"][0]["description"], "Ship it");
    assert_eq!(body["data"][0]["category"], "devops");

    // A skill added while running shows up without a restart (REST and gRPC agree).
    let path = app.home.path().join("skills/notes/SKILL.md");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, "---\ndescription: Take notes\n---\n").unwrap();
    let body: Value = app
        .get("/v1/skills")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["data"].as_array().unwrap().len(), 2);
    let mut client = DiscoveryServiceClient::new(app.channel().await);
    let skills = client
        .list_skills(authed(ListSkillsRequest {}))
        .await
        .unwrap()
        .into_inner();
    let notes = skills.data.iter().find(|s| s.name == "notes").unwrap();
    assert_eq!(notes.category, None);
    app.stop().await;
}

#[tokio::test]
async fn toolsets_follow_platform_toolsets() {
    let app = TestApp::spawn_with(TestOptions {
        config_yaml: Some(CONFIG_WITH_ROUTES.into()),
        ..TestOptions::default()
    })
    .await;
    let body: Value = app
        .get("/v1/toolsets")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["object"], "list");
    assert_eq!(body["platform"], "api_server");
    let sets = body["data"].as_array().unwrap();
    let find = |name: &str| sets.iter().find(|s| s["name"] == name).unwrap().clone();
    assert_eq!(find("terminal")["enabled"], true);
    assert_eq!(find("memory")["enabled"], false);
    assert_eq!(
        find("file")["tools"],
        serde_json::json!(["patch", "read_file", "search_files", "write_file"])
    );
    let mut client = DiscoveryServiceClient::new(app.channel().await);
    let toolsets = client
        .list_toolsets(authed(ListToolsetsRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(toolsets.data.len(), sets.len());
    app.stop().await;
}
