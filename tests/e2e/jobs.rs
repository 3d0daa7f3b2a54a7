//! `/api/jobs` and `JobService` end to end (API.md §8): CRUD with every bad field a 400 naming
//! it, the in-server scheduler firing jobs as runs (approvals denied), pause/resume, fire-now,
//! repeat exhaustion, and — on PostgreSQL (`E2E_DATABASE_URL`) — two servers on one database
//! firing each due time exactly once.

use std::time::Duration;

use caduceus_proto::v1::job_service_client::JobServiceClient;
use caduceus_proto::v1::{CreateJobRequest, GetJobRequest};
use caduceus_tests::app::{TestApp, TestOptions, authed, upstream_config};
use caduceus_tests::fake_upstream::{FakeUpstream, Reply};
use serde_json::{Value, json};

async fn app_with(fake: &FakeUpstream) -> TestApp {
    TestApp::spawn_with(TestOptions::upstream(&fake.base_url())).await
}

async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn create(app: &TestApp, body: Value) -> Value {
    let (status, json) = send(app.post("/api/jobs").json(&body)).await;
    assert_eq!(status, 201, "{json}");
    json["job"].clone()
}

async fn get_job(app: &TestApp, id: &str) -> Value {
    let (status, json) = send(app.get(&format!("/api/jobs/{id}"))).await;
    assert_eq!(status, 200, "{json}");
    json["job"].clone()
}

/// Polls the job until `check` holds (at most 20 s).
async fn wait_job(app: &TestApp, id: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let job = get_job(app, id).await;
        if check(&job) {
            return job;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "job never {what}: {job}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn crud_and_every_bad_field_is_a_400() {
    let fake = FakeUpstream::start().await;
    let app = app_with(&fake).await;
    let job = create(
        &app,
        json!({"name": "Morning digest", "schedule": "0 9 * * 1-5", "prompt": "Summarise the news",
               "skills": ["news"], "deliver": "origin"}),
    )
    .await;
    let id = job["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 12);
    assert_eq!(
        job["schedule"],
        json!({"kind": "cron", "display": "0 9 * * 1-5"})
    );
    assert_eq!(job["repeat"], json!({"times": null, "completed": 0}));
    assert_eq!(
        (job["enabled"].clone(), job["state"].clone()),
        (json!(true), json!("scheduled"))
    );
    assert!(job["next_run_at"].as_f64().unwrap() > job["created_at"].as_f64().unwrap());
    for key in ["last_run_at", "last_status", "last_error", "last_run_id"] {
        assert_eq!(job[key], Value::Null, "{key}");
    }
    assert_eq!(job["deliver"], "origin");
    assert_eq!(get_job(&app, &id).await, job);
    let (_, list) = send(app.get("/api/jobs")).await;
    assert_eq!(list["jobs"].as_array().unwrap().len(), 1);

    let (status, patched) = send(
        app.http
            .patch(app.url(&format!("/api/jobs/{id}")))
            .bearer_auth(caduceus_tests::app::TEST_KEY)
            .json(&json!({"name": "Renamed", "schedule": "every 2h", "repeat": 4})),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["job"]["name"], "Renamed");
    assert_eq!(patched["job"]["schedule"]["kind"], "interval");
    assert_eq!(patched["job"]["repeat"]["times"], 4);

    let bad_creates = [
        (
            json!({"schedule": "1h", "prompt": "p"}),
            "invalid_request",
            "name",
        ),
        (
            json!({"name": "n", "schedule": "1h"}),
            "invalid_request",
            "prompt",
        ),
        (
            json!({"name": "n", "prompt": "p"}),
            "invalid_schedule",
            "schedule",
        ),
        (
            json!({"name": "n", "schedule": "tomorrowish", "prompt": "p"}),
            "invalid_schedule",
            "schedule",
        ),
        (
            json!({"name": "n", "schedule": "99 * * * *", "prompt": "p"}),
            "invalid_schedule",
            "schedule",
        ),
        (
            json!({"name": "n", "schedule": "every 1h", "prompt": "p", "repeat": 0}),
            "invalid_request",
            "repeat",
        ),
        (
            json!({"name": "n", "schedule": "1h", "prompt": "p", "repeat": "2"}),
            "invalid_request",
            "repeat",
        ),
        (
            json!({"name": 5, "schedule": "1h", "prompt": "p"}),
            "invalid_request",
            "name",
        ),
    ];
    for (body, code, param) in bad_creates {
        let (status, error) = send(app.post("/api/jobs").json(&body)).await;
        assert_eq!(status, 400, "{body}: {error}");
        assert_eq!(error["error"]["code"], code, "{body}");
        assert_eq!(error["error"]["param"], param, "{body}");
    }
    let patch = |body: Value| {
        app.http
            .patch(app.url(&format!("/api/jobs/{id}")))
            .bearer_auth(caduceus_tests::app::TEST_KEY)
            .json(&body)
    };
    for (body, code, param) in [
        (json!({"state": "paused"}), "unsupported_job_field", "state"),
        (json!({"schedule": "never"}), "invalid_schedule", "schedule"),
        (json!({"repeat": 0}), "invalid_request", "repeat"),
        (json!({"name": ""}), "invalid_request", "name"),
        (json!({"enabled": "no"}), "invalid_request", "enabled"),
    ] {
        let (status, error) = send(patch(body.clone())).await;
        assert_eq!(status, 400, "{body}: {error}");
        assert_eq!(error["error"]["code"], code, "{body}");
        assert_eq!(error["error"]["param"], param, "{body}");
    }
    assert_eq!(get_job(&app, &id).await["name"], "Renamed");

    let (status, deleted) = send(
        app.http
            .delete(app.url(&format!("/api/jobs/{id}")))
            .bearer_auth(caduceus_tests::app::TEST_KEY),
    )
    .await;
    assert_eq!((status, deleted), (200, json!({"id": id, "deleted": true})));
    for request in [
        app.get(&format!("/api/jobs/{id}")),
        app.post(&format!("/api/jobs/{id}/pause")),
        app.post(&format!("/api/jobs/{id}/run")),
    ] {
        let (status, error) = send(request).await;
        assert_eq!(
            (status, error["error"]["code"].clone()),
            (404, json!("job_not_found"))
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn an_every_2s_job_fires_as_runs_that_deny_approvals() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::tool_call(
        "terminal",
        json!({"command": "rm -rf ./scratch-dir && echo job-ran-it"}),
    ));
    fake.push(Reply::text("job finished"));
    let app = app_with(&fake).await;
    let job = create(
        &app,
        json!({"name": "tick", "schedule": "every 2s", "prompt": "clean up", "repeat": 2}),
    )
    .await;
    let id = job["id"].as_str().unwrap();
    let fired = wait_job(&app, id, "completed a run", |j| {
        j["last_status"] == "completed"
    })
    .await;
    let run_id = fired["last_run_id"].as_str().unwrap().to_owned();
    assert!(fired["last_run_at"].as_f64().is_some());
    let (_, run) = send(app.get(&format!("/v1/runs/{run_id}"))).await;
    assert_eq!(run["status"], "completed");
    assert_eq!(run["output"], "job finished");
    let tool_result = fake.requests()[1]
        .messages()
        .iter()
        .find(|m| m["role"] == "tool")
        .map(|m| m["content"].as_str().unwrap().to_owned())
        .unwrap();
    assert!(
        tool_result.contains("denied") && !tool_result.contains("job-ran-it"),
        "{tool_result}"
    );
    // The job's prompt is the run's input, with the job's own instructions.
    let first = fake.requests()[0].messages();
    assert!(
        first[0]["content"]
            .as_str()
            .unwrap()
            .contains("scheduled job")
    );
    assert_eq!(first.last().unwrap()["content"], "clean up");

    let done = wait_job(&app, id, "completed", |j| j["state"] == "completed").await;
    assert_eq!(done["repeat"], json!({"times": 2, "completed": 2}));
    assert_eq!(done["next_run_at"], Value::Null);
    assert_eq!(done["enabled"], false);
    wait_job(&app, id, "recorded its second run", |j| {
        j["last_status"] == "completed"
    })
    .await;
    assert_eq!(fake.request_count(), 3);
    let (_, active) = send(app.get("/api/jobs")).await;
    assert_eq!(active["jobs"], json!([]));
    let (_, all) = send(app.get("/api/jobs?include_disabled=true")).await;
    assert_eq!(all["jobs"].as_array().unwrap().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn pause_stops_firing_and_resume_restarts_it() {
    let fake = FakeUpstream::start().await;
    let app = app_with(&fake).await;
    let job = create(
        &app,
        json!({"name": "t", "schedule": "every 1s", "prompt": "ping"}),
    )
    .await;
    let id = job["id"].as_str().unwrap();
    wait_job(&app, id, "fired", |j| {
        j["repeat"]["completed"].as_i64() >= Some(1)
    })
    .await;
    let (status, paused) = send(app.post(&format!("/api/jobs/{id}/pause"))).await;
    assert_eq!(status, 200);
    assert_eq!(paused["job"]["state"], "paused");
    assert_eq!(paused["job"]["enabled"], false);
    assert_eq!(paused["job"]["next_run_at"], Value::Null);
    let count = get_job(&app, id).await["repeat"]["completed"].clone();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(get_job(&app, id).await["repeat"]["completed"], count);
    let (status, resumed) = send(app.post(&format!("/api/jobs/{id}/resume"))).await;
    assert_eq!(
        (status, resumed["job"]["state"].clone()),
        (200, json!("scheduled"))
    );
    let before = count.as_i64().unwrap();
    wait_job(&app, id, "fired again", |j| {
        j["repeat"]["completed"].as_i64() > Some(before)
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn run_now_fires_a_run_over_rest_and_grpc() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::text("ran now"));
    let app = app_with(&fake).await;
    let job = create(
        &app,
        json!({"name": "later", "schedule": "1d", "prompt": "go"}),
    )
    .await;
    let id = job["id"].as_str().unwrap();
    let (status, fired) = send(app.post(&format!("/api/jobs/{id}/run"))).await;
    assert_eq!(status, 200, "{fired}");
    let run_id = fired["run_id"].as_str().unwrap().to_owned();
    assert!(run_id.starts_with("run_"));
    assert_eq!(fired["job"]["last_run_id"], run_id.as_str());
    assert_eq!(fired["job"]["next_run_at"], job["next_run_at"]);
    let done = wait_job(&app, id, "recorded the run", |j| {
        j["last_status"] == "completed"
    })
    .await;
    assert_eq!(done["repeat"]["completed"], 0);
    assert_eq!(done["state"], "scheduled");

    let mut client = JobServiceClient::new(app.channel().await);
    let created = client
        .create_job(authed(CreateJobRequest {
            name: "grpc".into(),
            schedule: "every 1h".into(),
            prompt: "p".into(),
            ..CreateJobRequest::default()
        }))
        .await
        .unwrap()
        .into_inner()
        .job
        .unwrap();
    assert_eq!(created.schedule.unwrap().kind, "interval");
    let bad = client
        .create_job(authed(CreateJobRequest {
            name: "grpc".into(),
            schedule: "nope".into(),
            prompt: "p".into(),
            ..CreateJobRequest::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    let missing = client
        .get_job(authed(GetJobRequest {
            id: "ffffffffffff".into(),
        }))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);
    app.stop().await;
}

#[tokio::test]
async fn two_servers_on_one_postgres_database_fire_each_due_time_once() {
    if !std::env::var("E2E_DATABASE_URL").is_ok_and(|url| url.starts_with("postgres")) {
        eprintln!("note: E2E_DATABASE_URL is not PostgreSQL; skipping the two-replica job test");
        return;
    }
    let fake = FakeUpstream::start().await;
    let first = app_with(&fake).await;
    let second = TestApp::spawn_with(TestOptions {
        config_yaml: Some(upstream_config(&fake.base_url(), "")),
        database_url: Some(first.state.config.database_url.clone()),
        ..TestOptions::default()
    })
    .await;
    let once = create(
        &first,
        json!({"name": "once", "schedule": "1s", "prompt": "a"}),
    )
    .await;
    let every = create(
        &second,
        json!({"name": "every", "schedule": "every 1s", "prompt": "b", "repeat": 3}),
    )
    .await;
    for (app, job) in [(&first, &once), (&second, &every)] {
        let id = job["id"].as_str().unwrap();
        wait_job(app, id, "completed", |j| j["state"] == "completed").await;
        wait_job(app, id, "finished its last run", |j| {
            j["last_status"] == "completed"
        })
        .await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        fake.request_count(),
        4,
        "each due time must fire exactly once"
    );
    assert_eq!(
        get_job(&first, every["id"].as_str().unwrap()).await["repeat"]["completed"],
        3
    );
    second.stop().await;
    first.stop().await;
}
