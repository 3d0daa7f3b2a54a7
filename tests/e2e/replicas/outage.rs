//! A replica losing its database: every connection of the test's database is terminated and new
//! ones are refused (`ALLOW_CONNECTIONS false` on that database only, so other tests sharing the
//! server are untouched). Meanwhile the replica keeps answering, `/health/detailed` reports the
//! database check failing (status `degraded`); once connections are allowed again it reconnects
//! on its own — notification listener and liveness lock included — and reports `ok`, and the
//! other replica sees it alive (its liveness lock is held again).

use std::time::Duration;

use caduceus_tests::fake_upstream::{FakeUpstream, Reply};
use serde_json::Value;
use sqlx::{AssertSqlSafe, Connection, PgConnection};

use super::{eventually, health, pair, postgres};
use crate::runs::support::{start, wait_status};

fn database_check(health: &Value) -> (String, String) {
    let check = &health["readiness"]["checks"]["database"];
    (
        check["status"].as_str().unwrap_or_default().to_owned(),
        check["detail"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
async fn losing_the_database_degrades_health_until_it_is_back() {
    let Some(admin_url) = postgres() else { return };
    let fake = FakeUpstream::start().await;
    let (a, b) = pair(&fake).await;
    assert_eq!(database_check(&health(&a).await).0, "ok");
    let database = a
        .state
        .config
        .database_url
        .rsplit_once('/')
        .map(|(_, name)| name.to_owned())
        .unwrap();
    let mut admin = PgConnection::connect(&admin_url).await.unwrap();
    let cut = |allow: bool| format!("ALTER DATABASE {database} ALLOW_CONNECTIONS {allow}");
    sqlx::query(AssertSqlSafe(cut(false)))
        .execute(&mut admin)
        .await
        .unwrap();
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(&database)
    .execute(&mut admin)
    .await
    .unwrap();

    eventually(
        Duration::from_secs(10),
        "health reports the database down",
        || async {
            let health = health(&a).await;
            database_check(&health).0 == "error" && health["status"] == "degraded"
        },
    )
    .await;

    sqlx::query(AssertSqlSafe(cut(true)))
        .execute(&mut admin)
        .await
        .unwrap();
    // Each replica re-takes its liveness lock (the other sees it alive) and reports healthy.
    for (app, other) in [(&a, &b), (&b, &a)] {
        eventually(
            Duration::from_secs(15),
            "the liveness lock is re-taken",
            || async {
                other
                    .state
                    .runs
                    .owner_alive(app.state.runs.instance())
                    .await
                    .unwrap_or(false)
            },
        )
        .await;
        eventually(Duration::from_secs(15), "health recovers", || async {
            database_check(&health(app).await).0 == "ok"
        })
        .await;
    }
    // And work flows across replicas again.
    fake.push(Reply::text("back"));
    let run_id = start(&b, "after the outage").await;
    assert_eq!(
        wait_status(&a, &run_id, "completed").await["output"],
        "back"
    );
    admin.close().await.unwrap();
    b.stop().await;
    a.stop().await;
}
