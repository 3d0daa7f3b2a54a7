//! What else holds across replicas: a background response running on B is cancelled from A (its
//! turn stops, not just its stored status); an `Idempotency-Key` replayed on the other replica
//! answers the same run and response; a job fires once per due time; and a job firing whose
//! process died between claiming it and creating its run is re-fired as that same run (this one
//! also on SQLite, where "another process" is the previous one).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use caduceus_service::runs::new_run_id;
use caduceus_service::store::JobFiring;
use caduceus_tests::app::TestApp;
use caduceus_tests::fake_upstream::{FakeUpstream, Reply};
use serde_json::{Value, json};

use super::{eventually, pair, postgres, replica};

async fn post(app: &TestApp, path: &str, key: &str, body: &Value) -> (u16, Option<String>, Value) {
    let response = app
        .post(path)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let replayed = response
        .headers()
        .get("idempotency-replayed")
        .map(|v| v.to_str().unwrap().to_owned());
    (
        status,
        replayed,
        response.json().await.unwrap_or(Value::Null),
    )
}

async fn get(app: &TestApp, path: &str) -> Value {
    let response = app.get(path).send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

async fn wait_job(app: &TestApp, id: &str, check: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while tokio::time::Instant::now() < deadline {
        last = get(app, &format!("/api/jobs/{id}")).await["job"].clone();
        if check(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("job never reached the expected state: {last}");
}

#[tokio::test]
async fn a_background_response_running_on_b_is_cancelled_from_a() {
    let Some(_) = postgres() else { return };
    let fake = FakeUpstream::start().await;
    fake.push(Reply::slow_chunks(
        vec!["y"; 100],
        Duration::from_millis(100),
    ));
    let (a, b) = pair(&fake).await;
    let response = b
        .post("/v1/responses")
        .json(&json!({"input": "long", "background": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let created: Value = response.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(fake.wait_for_requests(1, Duration::from_secs(10)).await);
    let cancelled = a
        .post(&format!("/v1/responses/{id}/cancel"))
        .send()
        .await
        .unwrap();
    assert_eq!(cancelled.status(), 200);
    let body: Value = cancelled.json().await.unwrap();
    assert_eq!(body["status"], "cancelled");
    // The upstream stream would run 10 s: B dropping it within 5 s means B's turn stopped.
    assert!(
        fake.wait_for_disconnect(Duration::from_secs(5)).await,
        "the turn on replica B was not stopped"
    );
    for app in [&a, &b] {
        assert_eq!(
            get(app, &format!("/v1/responses/{id}")).await["status"],
            "cancelled"
        );
    }
    b.stop().await;
    a.stop().await;
}

#[tokio::test]
async fn an_idempotency_key_replayed_on_the_other_replica_answers_the_same() {
    let Some(_) = postgres() else { return };
    let fake = FakeUpstream::start().await;
    fake.push(Reply::text("run answer"));
    fake.push(Reply::text("response answer"));
    let (a, b) = pair(&fake).await;

    let run = json!({"input": "once only"});
    let (status, replayed, first) = post(&a, "/v1/runs", "run-key", &run).await;
    assert_eq!((status, replayed), (202, None), "{first}");
    let (status, replayed, second) = post(&b, "/v1/runs", "run-key", &run).await;
    assert_eq!(status, 202, "{second}");
    assert_eq!(replayed.as_deref(), Some("true"));
    assert_eq!(second["run_id"], first["run_id"]);
    let run_id = first["run_id"].as_str().unwrap().to_owned();

    let body = json!({"input": "respond once"});
    let (status, _, first) = post(&b, "/v1/responses", "resp-key", &body).await;
    assert_eq!(status, 200, "{first}");
    let (status, replayed, second) = post(&a, "/v1/responses", "resp-key", &body).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(replayed.as_deref(), Some("true"));
    assert_eq!(second["id"], first["id"]);
    assert_eq!(second["output"], first["output"]);
    eventually(Duration::from_secs(10), "the run completes", || async {
        get(&a, &format!("/v1/runs/{run_id}")).await["status"] == "completed"
    })
    .await;
    assert_eq!(fake.request_count(), 2, "each agent call ran once");
    b.stop().await;
    a.stop().await;
}

#[tokio::test]
async fn a_job_fires_once_per_due_time_across_two_replicas() {
    let Some(_) = postgres() else { return };
    let fake = FakeUpstream::start().await;
    let (a, b) = pair(&fake).await;
    let created = post(
        &a,
        "/api/jobs",
        "job-key",
        &json!({"name": "tick", "schedule": "every 1s", "prompt": "p", "repeat": 3}),
    )
    .await;
    assert_eq!(created.0, 201, "{}", created.2);
    let id = created.2["job"]["id"].as_str().unwrap().to_owned();
    let done = wait_job(&b, &id, |j| {
        j["state"] == "completed" && j["last_status"] == "completed"
    })
    .await;
    assert_eq!(done["repeat"]["completed"], 3);
    // A second firing of any due time would show up as an extra upstream call.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(fake.request_count(), 3, "each due time fires exactly once");
    b.stop().await;
    a.stop().await;
}

#[tokio::test]
async fn a_firing_whose_process_died_before_creating_its_run_is_refired_as_that_run() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::text("late but done"));
    let app = replica(&fake, None).await;
    let created = post(
        &app,
        "/api/jobs",
        "orphan-key",
        &json!({"name": "orphan", "schedule": "1h", "prompt": "p"}),
    )
    .await;
    assert_eq!(created.0, 201, "{}", created.2);
    let id = created.2["job"]["id"].as_str().unwrap().to_owned();
    let job = app.state.store.get_job(&id).await.unwrap().unwrap();
    // Another process claimed the due firing, recorded its run id, and died.
    let run_id = new_run_id();
    let at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let firing = JobFiring {
        due: job.next_run_at.unwrap(),
        next: None,
        state: "completed",
        at,
        run_id: &run_id,
        owner: "a-crashed-instance",
    };
    assert!(
        app.state
            .store
            .claim_job_firing(&id, &firing)
            .await
            .unwrap()
    );
    let fired = wait_job(&app, &id, |j| j["last_status"] == "completed").await;
    assert_eq!(fired["last_run_id"], run_id.as_str());
    assert_eq!(
        fired["repeat"]["completed"], 1,
        "the firing is counted once"
    );
    let run = get(&app, &format!("/v1/runs/{run_id}")).await;
    assert_eq!(run["status"], "completed");
    assert_eq!(run["output"], "late but done");
    assert_eq!(fake.request_count(), 1);
    app.stop().await;
}
