//! Jobs core and `jobs` table tests on SQLite and (with `DATABASE_URL`) PostgreSQL: validation
//! of every field, create/update/pause/resume/delete, and the firing claim that lets only one
//! of several concurrent schedulers fire a due time, and finding/taking over a firing whose
//! claimer died before creating its run. Firing real runs is covered end to end in
//! `tests/e2e/jobs.rs` and `tests/e2e/replicas/`.

use crate::runs::tests::both_backends;

both_backends!(crate::jobs::tests::cases;
    create_validates_every_field,
    create_list_get_delete,
    update_pause_and_resume,
    a_due_firing_is_claimed_once_among_concurrent_schedulers,
    record_job_run_takes_the_run_state,
    a_firing_orphaned_before_its_run_exists_is_found_and_taken_over_once,
);

pub(crate) mod cases {
    use crate::error::Error;
    use crate::jobs::{JobChanges, JobSpec, create, delete, get, list, pause, resume, update};
    use crate::store::{JobFiring, RunEnding, Store, now};

    fn firing<'a>(due: f64, run_id: &'a str, owner: &'a str) -> JobFiring<'a> {
        JobFiring {
            due,
            next: Some(due + 3600.0),
            state: "scheduled",
            at: now(),
            run_id,
            owner,
        }
    }

    fn spec(schedule: &str) -> JobSpec {
        JobSpec {
            name: "nightly report".into(),
            schedule: schedule.into(),
            prompt: "summarise the logs".into(),
            ..JobSpec::default()
        }
    }

    fn param_of(error: Error) -> (String, String) {
        match error {
            Error::InvalidArgument { code, param, .. } => {
                (code.to_owned(), param.unwrap_or_default())
            }
            other => panic!("400 expected, got {other:?}"),
        }
    }

    pub async fn create_validates_every_field(store: Store) {
        let cases: Vec<(JobSpec, &str, &str)> = vec![
            (
                JobSpec {
                    name: " ".into(),
                    ..spec("30m")
                },
                "invalid_request",
                "name",
            ),
            (
                JobSpec {
                    prompt: "".into(),
                    ..spec("30m")
                },
                "invalid_request",
                "prompt",
            ),
            (spec(""), "invalid_schedule", "schedule"),
            (spec("whenever"), "invalid_schedule", "schedule"),
            (spec("61 * * * *"), "invalid_schedule", "schedule"),
            (spec("2001-01-01T00:00:00Z"), "invalid_schedule", "schedule"),
            (
                JobSpec {
                    repeat: Some(0),
                    ..spec("every 1h")
                },
                "invalid_request",
                "repeat",
            ),
            (
                JobSpec {
                    repeat: Some(3),
                    ..spec("30m")
                },
                "invalid_request",
                "repeat",
            ),
            (
                JobSpec {
                    skills: vec!["ok".into(), "".into()],
                    ..spec("30m")
                },
                "invalid_request",
                "skills[1]",
            ),
        ];
        for (spec, code, param) in cases {
            let error = create(&store, spec.clone()).await.unwrap_err();
            assert_eq!(
                param_of(error),
                (code.to_owned(), param.to_owned()),
                "{spec:?}"
            );
        }
        assert!(list(&store, true).await.unwrap().is_empty());
    }

    pub async fn create_list_get_delete(store: Store) {
        let before = now();
        let once = create(&store, spec("30m")).await.unwrap();
        assert_eq!(once.id.len(), 12);
        assert!(once.id.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(once.schedule_kind, "once");
        assert_eq!(once.repeat_times, Some(1));
        assert_eq!(once.state, "scheduled");
        let next = once.next_run_at.unwrap();
        assert!(next >= before + 1800.0 && next <= now() + 1800.0);
        let every = create(
            &store,
            JobSpec {
                skills: vec!["logs".into()],
                repeat: Some(3),
                deliver: Some("origin".into()),
                ..spec("every 2h")
            },
        )
        .await
        .unwrap();
        assert_eq!(every.schedule_kind, "interval");
        assert_eq!(every.repeat_times, Some(3));
        let cron = create(&store, spec("0 9 * * 1-5")).await.unwrap();
        assert_eq!(
            (cron.schedule_kind.as_str(), cron.repeat_times),
            ("cron", None)
        );

        assert_eq!(get(&store, &every.id).await.unwrap(), every);
        let ids: Vec<String> = list(&store, false)
            .await
            .unwrap()
            .into_iter()
            .map(|j| j.id)
            .collect();
        assert_eq!(ids, [once.id.clone(), every.id.clone(), cron.id.clone()]);
        delete(&store, &once.id).await.unwrap();
        for error in [
            delete(&store, &once.id).await.unwrap_err(),
            get(&store, &once.id).await.unwrap_err(),
        ] {
            assert!(matches!(
                error,
                Error::NotFound {
                    code: "job_not_found",
                    ..
                }
            ));
        }
    }

    pub async fn update_pause_and_resume(store: Store) {
        let job = create(&store, spec("every 1h")).await.unwrap();
        let paused = pause(&store, &job.id).await.unwrap();
        assert_eq!((paused.state.as_str(), paused.enabled), ("paused", false));
        assert_eq!(list(&store, false).await.unwrap().len(), 0);
        assert_eq!(list(&store, true).await.unwrap().len(), 1);
        let resumed = resume(&store, &job.id).await.unwrap();
        assert_eq!(
            (resumed.state.as_str(), resumed.enabled),
            ("scheduled", true)
        );

        let changed = update(
            &store,
            &job.id,
            JobChanges {
                name: Some("renamed".into()),
                schedule: Some("every 2s".into()),
                skills: Some(vec!["a".into()]),
                repeat: Some(5),
                enabled: Some(false),
                ..JobChanges::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(changed.name, "renamed");
        assert_eq!(changed.schedule_display, "every 2s");
        assert_eq!(changed.repeat_times, Some(5));
        assert_eq!(changed.state, "paused");
        assert_eq!(get(&store, &job.id).await.unwrap(), changed);

        for (changes, param) in [
            (
                JobChanges {
                    name: Some("".into()),
                    ..JobChanges::default()
                },
                "name",
            ),
            (
                JobChanges {
                    schedule: Some("nope".into()),
                    ..JobChanges::default()
                },
                "schedule",
            ),
            (
                JobChanges {
                    repeat: Some(-1),
                    ..JobChanges::default()
                },
                "repeat",
            ),
            (
                JobChanges {
                    prompt: Some(" ".into()),
                    ..JobChanges::default()
                },
                "prompt",
            ),
        ] {
            let error = update(&store, &job.id, changes).await.unwrap_err();
            assert_eq!(param_of(error).1, param);
        }
        let missing = update(&store, "000000000000", JobChanges::default()).await;
        assert!(matches!(missing, Err(Error::NotFound { .. })));
    }

    pub async fn a_due_firing_is_claimed_once_among_concurrent_schedulers(store: Store) {
        let job = create(&store, spec("every 1h")).await.unwrap();
        let due = job.next_run_at.unwrap();
        let claims = (0..6).map(|_| {
            let store = store.clone();
            let id = job.id.clone();
            tokio::spawn(async move {
                store
                    .claim_job_firing(&id, &firing(due, "run_c", "me"))
                    .await
                    .unwrap()
            })
        });
        let mut won = 0;
        for claim in claims.collect::<Vec<_>>() {
            won += usize::from(claim.await.unwrap());
        }
        assert_eq!(won, 1);
        let after = get(&store, &job.id).await.unwrap();
        assert_eq!(after.repeat_completed, 1);
        assert_eq!(after.next_run_at, Some(due + 3600.0));
        assert_eq!(after.last_status.as_deref(), Some("running"));
        assert_eq!(after.last_run_id.as_deref(), Some("run_c"));
        assert!(store.due_jobs(due + 1.0, 10).await.unwrap().is_empty());
        assert_eq!(store.due_jobs(due + 3600.0, 10).await.unwrap().len(), 1);
    }

    pub async fn record_job_run_takes_the_run_state(store: Store) {
        let job = create(&store, spec("every 1h")).await.unwrap();
        store.create_run("run_j", None, "m", "me").await.unwrap();
        store.record_job_run(&job.id, "run_j", 5.0).await.unwrap();
        let running = get(&store, &job.id).await.unwrap();
        assert_eq!(running.last_run_id.as_deref(), Some("run_j"));
        assert_eq!(running.last_status.as_deref(), Some("running"));
        let ending = RunEnding {
            status: "failed".into(),
            error: Some("upstream down".into()),
            ..RunEnding::default()
        };
        store
            .finish_run("run_j", &ending, &("run.failed".into(), "{}".into()))
            .await
            .unwrap()
            .unwrap();
        let failed = get(&store, &job.id).await.unwrap();
        assert_eq!(failed.last_status.as_deref(), Some("failed"));
        assert_eq!(failed.last_error.as_deref(), Some("upstream down"));
        // Recording after the run ended keeps its final state.
        store.record_job_run(&job.id, "run_j", 6.0).await.unwrap();
        let again = get(&store, &job.id).await.unwrap();
        assert_eq!(again.last_status.as_deref(), Some("failed"));
        store
            .record_job_failure(&job.id, 7.0, "busy")
            .await
            .unwrap();
        let busy = get(&store, &job.id).await.unwrap();
        assert_eq!(
            (busy.last_status.as_deref(), busy.last_run_id),
            (Some("failed"), None)
        );
    }

    pub async fn a_firing_orphaned_before_its_run_exists_is_found_and_taken_over_once(
        store: Store,
    ) {
        let job = create(&store, spec("every 1h")).await.unwrap();
        let due = job.next_run_at.unwrap();
        assert!(
            store
                .claim_job_firing(&job.id, &firing(due, "run_o", "dead"))
                .await
                .unwrap()
        );
        // The claimer died before creating run_o: the firing is an orphan, taken over once.
        let orphans = store.orphaned_job_firings().await.unwrap();
        assert_eq!(orphans, [(job.id.clone(), "run_o".into(), "dead".into())]);
        let takers = ["a", "b", "c"].map(|me| {
            let store = store.clone();
            let id = job.id.clone();
            tokio::spawn(async move {
                store
                    .take_over_job_firing(&id, "run_o", "dead", me)
                    .await
                    .unwrap()
            })
        });
        let mut won = 0;
        for taker in takers {
            won += usize::from(taker.await.unwrap());
        }
        assert_eq!(won, 1);
        // Once the run exists (or the firing failed) it is no orphan any more.
        store.create_run("run_o", None, "m", "a").await.unwrap();
        assert!(store.orphaned_job_firings().await.unwrap().is_empty());
        let again = create(&store, spec("every 1h")).await.unwrap();
        let due = again.next_run_at.unwrap();
        store
            .claim_job_firing(&again.id, &firing(due, "run_p", "dead"))
            .await
            .unwrap();
        store
            .record_job_failure(&again.id, now(), "busy")
            .await
            .unwrap();
        assert!(store.orphaned_job_firings().await.unwrap().is_empty());
    }
}
