//! The per-backend test harness shared by every store-level test: a case runs on a migrated temp
//! SQLite file and, when `DATABASE_URL` is a PostgreSQL URL, on a fresh PostgreSQL database
//! (`caduceus_test_<random>`) created for that one case and dropped afterwards, so parallel tests
//! never share state.

use std::future::Future;
use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, ConnectOptions};

use super::{Backend, Store};

/// Runs `case` on a migrated temp SQLite store (in a nested folder, which `connect` creates).
pub(crate) async fn on_sqlite<F, Fut>(case: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/nested/dir/caduceus.db", dir.path().display());
    let store = Store::connect(&url).await.unwrap();
    assert_eq!(store.backend(), Backend::Sqlite);
    store.migrate().await.unwrap();
    case(store.clone()).await;
    store.close().await;
}

/// Runs `case` on a fresh PostgreSQL database when `DATABASE_URL` names a server (else skips).
pub(crate) async fn on_postgres<F, Fut>(case: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()>,
{
    let admin_url = match std::env::var("DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => url,
        _ => {
            eprintln!("note: DATABASE_URL is not a postgres:// URL; skipping the PostgreSQL run");
            return;
        }
    };
    let name = format!("caduceus_test_{:016x}", rand::random::<u64>());
    let admin = Store::connect(&admin_url).await.unwrap();
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(admin.pool())
        .await
        .unwrap();
    let url = PgConnectOptions::from_str(&admin_url)
        .unwrap()
        .database(&name)
        .to_url_lossy()
        .to_string();
    let store = Store::connect(&url).await.unwrap();
    assert_eq!(store.backend(), Backend::Postgres);
    store.migrate().await.unwrap();
    case(store.clone()).await;
    store.close().await;
    sqlx::query(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(admin.pool())
    .await
    .unwrap();
    admin.close().await;
}

/// Runs `case` on SQLite, then on PostgreSQL when `DATABASE_URL` points at one.
pub(crate) async fn each_backend<F, Fut>(case: F)
where
    F: Fn(Store) -> Fut,
    Fut: Future<Output = ()>,
{
    on_sqlite(&case).await;
    on_postgres(&case).await;
}
