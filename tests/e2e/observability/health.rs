//! `/health/detailed`: real checks (database round trip, last upstream call, disk, config),
//! `degraded` as soon as one fails, always 200, never a hang, never a key or a path.

use std::time::Duration;

use caduceus_tests::app::{TEST_KEY, TestApp};
use caduceus_tests::fake_upstream::{FakeUpstream, Reply};
use serde_json::{Value, json};

use super::support::options;

async fn detailed(app: &TestApp) -> Value {
    let response =
        tokio::time::timeout(Duration::from_secs(10), app.get("/health/detailed").send())
            .await
            .expect("/health/detailed must not hang")
            .unwrap();
    assert_eq!(response.status(), 200, "always 200");
    response.json().await.unwrap()
}

#[tokio::test]
async fn health_is_ok_then_degraded_when_the_upstream_fails() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::text("fine"));
    fake.push(Reply::http_error_message(400, "nope"));
    let app = TestApp::spawn_with(options(&fake)).await;
    let body = json!({"messages": [{"role": "user", "content": "go"}]});
    assert_eq!(
        app.post("/v1/chat/completions")
            .json(&body)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let ok = detailed(&app).await;
    assert_eq!(ok["status"], "ok", "{ok}");
    assert_eq!(ok["readiness"]["status"], "ok");
    assert_eq!(
        ok["readiness"]["checks"]["upstream"]["detail"],
        "last call succeeded"
    );
    for check in ["database", "upstream", "disk", "config"] {
        assert_eq!(
            ok["readiness"]["checks"][check]["status"], "ok",
            "{check}: {ok}"
        );
    }
    assert_eq!(
        app.post("/v1/chat/completions")
            .json(&body)
            .send()
            .await
            .unwrap()
            .status(),
        502
    );
    let degraded = detailed(&app).await;
    assert_eq!(degraded["status"], "degraded");
    assert_eq!(degraded["readiness"]["status"], "degraded");
    assert_eq!(
        degraded["readiness"]["checks"]["upstream"]["status"],
        "error"
    );
    assert_eq!(
        degraded["readiness"]["checks"]["upstream"]["detail"],
        "last call failed: HTTP 400"
    );
    assert_eq!(degraded["readiness"]["checks"]["database"]["status"], "ok");
    app.stop().await;
}

#[tokio::test]
async fn health_is_degraded_when_the_database_is_down() {
    let fake = FakeUpstream::start().await;
    let app = TestApp::spawn_with(options(&fake)).await;
    assert_eq!(detailed(&app).await["status"], "ok");
    app.state.store.close().await;
    let body = detailed(&app).await;
    assert_eq!(body["status"], "degraded", "{body}");
    assert_eq!(body["readiness"]["checks"]["database"]["status"], "error");
    assert_eq!(
        body["readiness"]["checks"]["database"]["detail"],
        "database unreachable"
    );
    let text = body.to_string();
    assert!(!text.contains(TEST_KEY));
    assert!(
        !text.contains("postgres://") && !text.contains("sqlite://"),
        "{text}"
    );
    app.stop().await;
}

#[tokio::test]
async fn health_is_degraded_when_the_home_volume_is_gone() {
    let fake = FakeUpstream::start().await;
    let app = TestApp::spawn_with(options(&fake)).await;
    std::fs::remove_dir_all(app.home.path()).unwrap();
    let body = detailed(&app).await;
    assert_eq!(body["status"], "degraded", "{body}");
    assert_eq!(body["readiness"]["checks"]["disk"]["status"], "error");
    assert_eq!(
        body["readiness"]["checks"]["disk"]["detail"],
        "home directory not accessible"
    );
    assert!(
        !body
            .to_string()
            .contains(&app.home.path().display().to_string())
    );
    app.stop().await;
}
