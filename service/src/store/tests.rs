//! The store test suite: every case in `cases` runs on a fresh temp SQLite file and, when
//! `DATABASE_URL` starts with `postgres`, on a fresh PostgreSQL database created for that one test
//! (`caduceus_test_<random>`, dropped afterwards) so parallel tests never share state.

use std::time::Duration;

use sqlx::Row;

use super::*;

mod message_cases;
mod session_cases;
mod turn_cases;

/// Both case files under one name for `backend_tests!`.
mod cases {
    pub use super::message_cases::*;
    pub use super::session_cases::*;
    pub use super::turn_cases::*;
}

use super::test_support::{on_postgres, on_sqlite};

/// Declares each case once per backend: `sqlite::<case>` and `postgres::<case>`.
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test] async fn $name() { super::on_sqlite(super::cases::$name).await; })*
        }
        mod postgres {
            $(#[tokio::test] async fn $name() { super::on_postgres(super::cases::$name).await; })*
        }
    };
}

backend_tests!(
    migrate_twice_and_ping,
    numbered_placeholders_work,
    crud_round_trip,
    duplicates_conflict,
    list_ordering_and_has_more,
    message_pagination,
    counts_and_preview,
    fork_copies_and_names,
    delete_cascades,
    ensure_session_is_race_safe,
    concurrent_appends_all_land,
    turn_input_creates_the_session_and_output_adds_usage,
    concurrent_first_turn_writes_all_land,
    nul_in_agent_text_is_stored_as_replacement_character,
);

#[tokio::test]
async fn sqlite_runs_in_wal_with_fk_and_busy_timeout() {
    on_sqlite(|store| async move {
        let pool = store.pool();
        let mode: String = sqlx::query("PRAGMA journal_mode")
            .fetch_one(pool)
            .await
            .unwrap()
            .try_get(0)
            .unwrap();
        assert_eq!(mode.to_lowercase(), "wal");
        let fk: i64 = sqlx::query("PRAGMA foreign_keys")
            .fetch_one(pool)
            .await
            .unwrap()
            .try_get(0)
            .unwrap();
        assert_eq!(fk, 1);
        let busy: i64 = sqlx::query("PRAGMA busy_timeout")
            .fetch_one(pool)
            .await
            .unwrap()
            .try_get(0)
            .unwrap();
        assert_eq!(busy, 10_000);
        // NORMAL (1): crash-safe in WAL mode without an fsync per commit.
        let synchronous: i64 = sqlx::query("PRAGMA synchronous")
            .fetch_one(pool)
            .await
            .unwrap()
            .try_get(0)
            .unwrap();
        assert_eq!(synchronous, 1);
    })
    .await;
}

#[tokio::test]
async fn unknown_url_scheme_is_refused() {
    let err = Store::connect("mysql://x/y").await.unwrap_err();
    assert!(matches!(err, StoreError::InvalidUrl(_)), "{err:?}");
}

#[tokio::test]
async fn in_memory_sqlite_works() {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    store.migrate().await.unwrap();
    cases::crud_round_trip(store).await;
}

#[test]
fn errors_shown_to_clients_carry_no_driver_text() {
    let err = StoreError::from(sqlx::Error::Protocol("SELECT secret FROM t".into()));
    assert_eq!(err.to_string(), "database error");
    let err = StoreError::from(sqlx::Error::PoolTimedOut);
    assert_eq!(err.to_string(), "database unavailable");
}

fn new(id: &str) -> NewSession {
    NewSession {
        id: id.to_owned(),
        source: "api_server".to_owned(),
        ..Default::default()
    }
}

async fn tick() {
    tokio::time::sleep(Duration::from_millis(5)).await;
}

#[tokio::test]
async fn sqlite_lock_timeout_is_unavailable_not_internal() {
    use sqlx::sqlite::SqliteConnectOptions;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("locked.db");
    let options = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true)
        .busy_timeout(Duration::ZERO);
    let mut holder = options.connect().await.unwrap();
    sqlx::Executor::execute(&mut holder, "CREATE TABLE t (x INTEGER)")
        .await
        .unwrap();
    sqlx::Executor::execute(&mut holder, "BEGIN IMMEDIATE")
        .await
        .unwrap();
    let mut waiter = options.connect().await.unwrap();
    let err = sqlx::Executor::execute(&mut waiter, "INSERT INTO t VALUES (1)")
        .await
        .unwrap_err();
    assert!(
        matches!(StoreError::from(err), StoreError::Unavailable(_)),
        "a lock timeout is retryable"
    );
}
