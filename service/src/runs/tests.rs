//! Store-level tests of runs and approvals (and, through `pub(crate)` helpers, of jobs): each
//! case runs on a temp SQLite file and, when `DATABASE_URL` is a PostgreSQL URL, on a fresh
//! PostgreSQL database created for that case and dropped afterwards. End-to-end behaviour (the
//! agent, SSE, approvals by HTTP) is in `tests/e2e/runs.rs`.

use crate::store::{ApprovalRecord, RunEnding, Store};

pub(crate) use crate::store::test_support::{on_postgres, on_sqlite};

/// Declares each case of module `$cases` once per backend.
macro_rules! both_backends {
    ($cases:path; $($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test] async fn $name() {
                $crate::runs::tests::on_sqlite({ use $cases as c; c::$name }).await;
            })*
        }
        mod postgres {
            $(#[tokio::test] async fn $name() {
                $crate::runs::tests::on_postgres({ use $cases as c; c::$name }).await;
            })*
        }
    };
}
pub(crate) use both_backends;

both_backends!(crate::runs::tests::cases;
    events_get_contiguous_seqs_even_when_written_concurrently,
    a_run_ends_once_and_nothing_follows_its_terminal_event,
    approvals_resolve_once_and_drive_the_status,
    always_patterns_are_durable_and_idempotent,
    stop_requests_and_unfinished_runs,
    committed_run_changes_notify_every_replica,
);

pub(crate) mod cases {
    use super::*;

    fn row(name: &str, n: usize) -> (String, String) {
        (
            name.to_owned(),
            format!("{{\"event\":\"{name}\",\"n\":{n}}}"),
        )
    }

    pub async fn events_get_contiguous_seqs_even_when_written_concurrently(store: Store) {
        store
            .create_run("run_a", Some("s"), "m", "me")
            .await
            .unwrap();
        let writers = (0..8).map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..5 {
                    let rows = vec![row("message.delta", w * 10 + i), row("message.delta", 0)];
                    store
                        .append_run_events("run_a", &rows, None)
                        .await
                        .unwrap()
                        .unwrap();
                }
            })
        });
        for writer in writers.collect::<Vec<_>>() {
            writer.await.unwrap();
        }
        let events = store.run_events_after("run_a", 0, 1000).await.unwrap();
        let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (1..=80).collect::<Vec<_>>());
        let page = store.run_events_after("run_a", 75, 3).await.unwrap();
        assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), [76, 77, 78]);
        let run = store.get_run("run_a").await.unwrap().unwrap();
        assert_eq!(run.last_seq, 80);
        assert_eq!(run.last_event.as_deref(), Some("message.delta"));
        assert_eq!(run.status, "queued");
    }

    pub async fn a_run_ends_once_and_nothing_follows_its_terminal_event(store: Store) {
        store.create_run("run_b", None, "m", "me").await.unwrap();
        store
            .append_run_events("run_b", &[row("run.started", 0)], Some("running"))
            .await
            .unwrap()
            .unwrap();
        sqlx::query(
            "INSERT INTO jobs (id, name, prompt, skills, schedule_kind, schedule_display, \
             enabled, state, created_at, last_run_id) \
             VALUES ('job1', 'n', 'p', '[]', 'once', '1h', 1, 'scheduled', 0, 'run_b')",
        )
        .execute(store.pool())
        .await
        .unwrap();
        let ending = RunEnding {
            status: "completed".into(),
            output: Some("done".into()),
            usage: Some((3, 4, 7)),
            error: None,
        };
        let terminal = store
            .finish_run("run_b", &ending, &row("run.completed", 0))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(terminal.seq, 2);
        let again = RunEnding {
            status: "interrupted".into(),
            ..RunEnding::default()
        };
        assert!(
            store
                .finish_run("run_b", &again, &row("run.failed", 0))
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .append_run_events("run_b", &[row("message.delta", 1)], None)
                .await
                .unwrap()
                .is_none()
        );
        let run = store.get_run("run_b").await.unwrap().unwrap();
        assert_eq!(run.status, "completed");
        assert!(run.is_finished());
        assert_eq!(run.output.as_deref(), Some("done"));
        assert_eq!(run.usage, Some((3, 4, 7)));
        assert_eq!(run.last_seq, 2);
        let job: Option<String> = sqlx::Row::try_get(
            &sqlx::query("SELECT last_status FROM jobs WHERE id = 'job1'")
                .fetch_one(store.pool())
                .await
                .unwrap(),
            0,
        )
        .unwrap();
        assert_eq!(job.as_deref(), Some("completed"));
        assert!(store.get_run("run_missing").await.unwrap().is_none());
        assert!(
            store
                .append_run_events("run_missing", &[row("x", 0)], None)
                .await
                .unwrap()
                .is_none()
        );
    }

    fn approval(id: &str, run: &str, at: f64) -> ApprovalRecord {
        ApprovalRecord {
            id: id.into(),
            run_id: run.into(),
            command: "rm -rf build".into(),
            description: "recursive delete".into(),
            pattern_key: "recursive_delete".into(),
            requested_at: at,
            choice: None,
            resolved_by: None,
        }
    }

    pub async fn approvals_resolve_once_and_drive_the_status(store: Store) {
        store.create_run("run_c", None, "m", "me").await.unwrap();
        store
            .append_run_events("run_c", &[row("run.started", 0)], Some("running"))
            .await
            .unwrap();
        store
            .insert_approval(&approval("apr_2", "run_c", 2.0))
            .await
            .unwrap();
        store
            .insert_approval(&approval("apr_1", "run_c", 1.0))
            .await
            .unwrap();
        store.refresh_run_approval_status("run_c").await.unwrap();
        let status =
            |store: Store| async move { store.get_run("run_c").await.unwrap().unwrap().status };
        assert_eq!(status(store.clone()).await, "waiting_for_approval");
        let pending = store.pending_approvals("run_c").await.unwrap();
        assert_eq!(
            pending.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(),
            ["apr_1", "apr_2"]
        );
        assert!(
            store
                .resolve_approval("apr_1", "once", "human")
                .await
                .unwrap()
        );
        assert!(
            !store
                .resolve_approval("apr_1", "deny", "timeout")
                .await
                .unwrap()
        );
        let resolved = store.get_approval("apr_1").await.unwrap().unwrap();
        assert_eq!(resolved.choice.as_deref(), Some("once"));
        assert_eq!(resolved.resolved_by.as_deref(), Some("human"));
        store.refresh_run_approval_status("run_c").await.unwrap();
        assert_eq!(status(store.clone()).await, "waiting_for_approval");
        // Finishing a run denies what is still pending.
        let ending = RunEnding {
            status: "cancelled".into(),
            ..RunEnding::default()
        };
        store
            .finish_run("run_c", &ending, &row("run.cancelled", 0))
            .await
            .unwrap()
            .unwrap();
        assert!(store.pending_approvals("run_c").await.unwrap().is_empty());
        let closed = store.get_approval("apr_2").await.unwrap().unwrap();
        assert_eq!(closed.choice.as_deref(), Some("deny"));
        store.refresh_run_approval_status("run_c").await.unwrap();
        assert_eq!(status(store.clone()).await, "cancelled");
        assert!(store.get_approval("apr_missing").await.unwrap().is_none());
    }

    pub async fn always_patterns_are_durable_and_idempotent(store: Store) {
        assert!(store.approved_patterns().await.unwrap().is_empty());
        store
            .approve_pattern("recursive_delete", Some("run_x"))
            .await
            .unwrap();
        store
            .approve_pattern("recursive_delete", None)
            .await
            .unwrap();
        store.approve_pattern("chmod_777", None).await.unwrap();
        assert_eq!(
            store.approved_patterns().await.unwrap(),
            ["chmod_777", "recursive_delete"]
        );
    }

    pub async fn stop_requests_and_unfinished_runs(store: Store) {
        store
            .create_run("run_d", None, "m", "owner-1")
            .await
            .unwrap();
        store
            .create_run("run_e", None, "m", "owner-2")
            .await
            .unwrap();
        assert!(store.request_run_stop("run_d").await.unwrap());
        assert!(
            store
                .get_run("run_d")
                .await
                .unwrap()
                .unwrap()
                .stop_requested
        );
        assert!(!store.request_run_stop("run_missing").await.unwrap());
        let unfinished = store.unfinished_runs().await.unwrap();
        assert_eq!(
            unfinished,
            [
                ("run_d".to_owned(), Some("owner-1".to_owned())),
                ("run_e".to_owned(), Some("owner-2".to_owned()))
            ]
        );
        let ending = RunEnding {
            status: "interrupted".into(),
            error: Some("restarted".into()),
            ..RunEnding::default()
        };
        store
            .finish_run("run_e", &ending, &row("run.failed", 0))
            .await
            .unwrap()
            .unwrap();
        assert!(!store.request_run_stop("run_e").await.unwrap());
        assert_eq!(store.unfinished_runs().await.unwrap().len(), 1);
    }

    /// On PostgreSQL, appending events, ending a run, answering an approval and requesting a
    /// stop each NOTIFY the run's channel at commit (SQLite: nothing to listen to).
    pub async fn committed_run_changes_notify_every_replica(store: Store) {
        use crate::notify::{Notice, RUN_CHANNEL};
        use crate::store::Backend;
        if store.backend() != Backend::Postgres {
            return;
        }
        let url = store.pool().connect_options().database_url.to_string();
        let mut listener = sqlx::postgres::PgListener::connect(&url).await.unwrap();
        listener.listen(RUN_CHANNEL).await.unwrap();
        let mut next = async || {
            let got = tokio::time::timeout(std::time::Duration::from_secs(5), listener.recv())
                .await
                .expect("a notice within 5 s")
                .unwrap();
            Notice::parse(got.channel(), got.payload()).unwrap()
        };
        store.create_run("run_n", None, "m", "me").await.unwrap();
        store
            .append_run_events("run_n", &[row("run.started", 0)], Some("running"))
            .await
            .unwrap();
        assert_eq!(next().await, Notice::Run("run_n".into()));
        store
            .insert_approval(&ApprovalRecord {
                id: "apr_n".into(),
                run_id: "run_n".into(),
                command: "rm".into(),
                description: "d".into(),
                pattern_key: "p".into(),
                requested_at: 1.0,
                choice: None,
                resolved_by: None,
            })
            .await
            .unwrap();
        assert!(
            store
                .resolve_approval("apr_n", "once", "human")
                .await
                .unwrap()
        );
        assert_eq!(next().await, Notice::Run("run_n".into()));
        assert!(store.request_run_stop("run_n").await.unwrap());
        assert_eq!(next().await, Notice::Run("run_n".into()));
        let ending = RunEnding {
            status: "cancelled".into(),
            ..RunEnding::default()
        };
        store
            .finish_run("run_n", &ending, &row("run.cancelled", 0))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(next().await, Notice::Run("run_n".into()));
        // A refused write (the run ended) notifies nobody: the next notice is the explicit one.
        assert!(!store.request_run_stop("run_n").await.unwrap());
        store.notify(RUN_CHANNEL, "run_other").await.unwrap();
        assert_eq!(next().await, Notice::Run("run_other".into()));
    }
}
