//! PostgreSQL multi-replica mode end to end (API.md §12): two in-process servers on one
//! PostgreSQL database with one fake upstream — run events, approvals and stops cross replicas
//! promptly (LISTEN/NOTIFY), a background response is cancelled from the other replica,
//! `Idempotency-Key` holds across replicas, a job fires once, a dead replica's run is
//! interrupted by the survivor's sweep, and a lost database connection shows as a degraded
//! database check until it is back. These run only when `E2E_DATABASE_URL` is a PostgreSQL URL,
//! except the orphaned-job-firing test, which also runs on SQLite. Helpers are here; the runs
//! cases are in `runs.rs`, the rest in `coordination.rs` and `outage.rs`; `kill.rs` SIGKILLs a
//! real `caduceus serve` replica mid-turn.

mod coordination;
mod kill;
mod outage;
mod runs;

use std::time::Duration;

use caduceus_tests::app::{TestApp, TestOptions, upstream_config};
use caduceus_tests::fake_upstream::FakeUpstream;
use serde_json::Value;

/// The admin URL of the PostgreSQL server under test, or `None` (the caller skips).
pub fn postgres() -> Option<String> {
    match std::env::var("E2E_DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => Some(url),
        _ => {
            eprintln!("note: E2E_DATABASE_URL is not PostgreSQL; skipping a multi-replica test");
            None
        }
    }
}

/// A replica talking to `fake`, on `database_url` (a fresh database when `None`).
pub async fn replica(fake: &FakeUpstream, database_url: Option<String>) -> TestApp {
    TestApp::spawn_with(TestOptions {
        config_yaml: Some(upstream_config(&fake.base_url(), "")),
        database_url,
        ..TestOptions::default()
    })
    .await
}

/// Two replicas on one fresh database.
pub async fn pair(fake: &FakeUpstream) -> (TestApp, TestApp) {
    let a = replica(fake, None).await;
    let b = replica(fake, Some(a.state.config.database_url.clone())).await;
    (a, b)
}

/// `GET /health/detailed` as JSON.
pub async fn health(app: &TestApp) -> Value {
    let response = app.get("/health/detailed").send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Polls `check` every 50 ms until it holds; panics after `limit` naming `what`.
pub async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
