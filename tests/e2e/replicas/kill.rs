//! kill -9 of a real replica mid-turn (issue #7): two `caduceus serve` processes on one
//! PostgreSQL database, both sweeping every 300 ms. A run streaming slowly on B is watched from
//! A; B gets SIGKILL (no drain, no clean-up: its database sessions just drop). A marks the run
//! `interrupted` within the sweep period plus a little, A's subscriber gets the final
//! `run.failed` and the end of the stream with seqs contiguous and matching the stored log,
//! A's `/health/detailed` stays ok, and A completes a fresh run.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use caduceus_service::runs::RESTARTED;
use caduceus_tests::app::{TEST_KEY, test_database_url};
use caduceus_tests::binary::{command, free_port};
use caduceus_tests::fake_upstream::{FakeUpstream, Reply};
use serde_json::{Value, json};

use super::{eventually, postgres};
use crate::runs::support::{EventReader, Frame, assert_contiguous, kinds};

/// `CADUCEUS_RUN_SWEEP_SECONDS` of both replicas.
const SWEEP_SECONDS: &str = "0.3";
/// Longest a dead replica's run may stay `running` on the survivor after the kill: a sweep
/// period, PostgreSQL noticing the dropped connections, and slack for a loaded CI machine.
const INTERRUPT_BOUND: Duration = Duration::from_secs(3);

/// A `caduceus serve` process with its own home; SIGKILLed on drop.
struct Replica {
    child: Child,
    port: u16,
    http: reqwest::Client,
    _home: tempfile::TempDir,
}

impl Replica {
    /// Starts the binary on `database_url`, its agent talking to `fake`; waits for `/health`.
    async fn start(fake: &FakeUpstream, database_url: &str) -> Replica {
        let home = tempfile::tempdir().unwrap();
        std::fs::write(
            home.path().join("config.yaml"),
            format!(
                "model:\n  provider: custom\n  base_url: {}\n  default: fake-model\n  \
                 read_timeout: 5\n",
                fake.base_url()
            ),
        )
        .unwrap();
        let port = free_port();
        let child = command(&[
            ("HERMES_HOME", &home.path().display().to_string()),
            ("DATABASE_URL", database_url),
            ("API_SERVER_KEY", TEST_KEY),
            ("API_SERVER_PORT", &port.to_string()),
            ("CADUCEUS_RUN_SWEEP_SECONDS", SWEEP_SECONDS),
        ])
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(if std::env::var_os("REPLICAS_SERVER_LOG").is_some() {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .spawn()
        .expect("spawn caduceus (build it: cargo build -p caduceus-service --bin caduceus)");
        let replica = Replica {
            child,
            port,
            http: reqwest::Client::new(),
            _home: home,
        };
        eventually(
            Duration::from_secs(30),
            "the replica is healthy",
            || async {
                let health = replica.http.get(replica.url("/health")).send().await;
                health.is_ok_and(|r| r.status().is_success())
            },
        )
        .await;
        replica
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.get(self.url(path)).bearer_auth(TEST_KEY)
    }

    async fn json(&self, path: &str) -> Value {
        self.get(path).send().await.unwrap().json().await.unwrap()
    }

    /// `POST /v1/runs`; asserts 202 and returns the run id.
    async fn start_run(&self, input: &str) -> String {
        let response = self
            .http
            .post(self.url("/v1/runs"))
            .bearer_auth(TEST_KEY)
            .json(&json!({"input": input}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
        let run: Value = response.json().await.unwrap();
        run["run_id"].as_str().unwrap().to_owned()
    }

    /// Polls `GET /v1/runs/{id}` until the run has `status`.
    async fn wait_status(&self, run_id: &str, status: &str, limit: Duration) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let run = self.json(&format!("/v1/runs/{run_id}")).await;
            if run["status"] == status {
                return run;
            }
            assert!(
                Instant::now() < deadline,
                "run not {status} within {limit:?}: {run}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Subscribes to a run's event stream.
    async fn events(&self, run_id: &str) -> EventReader {
        EventReader::from_request(self.get(&format!("/v1/runs/{run_id}/events"))).await
    }

    /// `GET /health/detailed`, asserting the replica is healthy.
    async fn assert_healthy(&self) {
        let health = self.json("/health/detailed").await;
        assert_eq!(health["status"], "ok", "{health}");
        assert_eq!(
            health["readiness"]["checks"]["database"]["status"], "ok",
            "{health}"
        );
        assert_eq!(health["gateway_state"], "running", "{health}");
    }

    /// SIGKILL, and reaps the process.
    fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_a_replica_mid_turn_leaves_the_survivor_to_interrupt_its_run_and_carry_on() {
    let Some(_) = postgres() else { return };
    let fake = FakeUpstream::start().await;
    let scratch = tempfile::tempdir().unwrap();
    let database_url = test_database_url(scratch.path()).await;
    let a = Replica::start(&fake, &database_url).await;
    let mut b = Replica::start(&fake, &database_url).await;

    // A turn on B that streams for ~10 s: it is mid-way when B dies.
    fake.push(Reply::slow_chunks(
        vec!["tick "; 40],
        Duration::from_millis(250),
    ));
    let run_id = b.start_run("count slowly").await;
    let mut reader = a.events(&run_id).await;
    let mut frames: Vec<Frame> = Vec::new();
    while frames
        .iter()
        .filter(|f| f.event() == "message.delta")
        .count()
        < 2
    {
        frames.push(
            reader
                .next()
                .await
                .expect("the stream ended before the kill"),
        );
    }
    assert_eq!(
        a.json(&format!("/v1/runs/{run_id}")).await["status"],
        "running"
    );

    b.kill9();
    let killed = Instant::now();
    let run = a.wait_status(&run_id, "interrupted", INTERRUPT_BOUND).await;
    assert!(killed.elapsed() < INTERRUPT_BOUND, "{:?}", killed.elapsed());
    assert_eq!(run["error"], RESTARTED, "{run}");
    assert_eq!(run["last_event"], "run.failed", "{run}");

    // A's subscriber sees the end: the final `run.failed`, then the stream closes.
    let rest = tokio::time::timeout(Duration::from_secs(5), reader.rest())
        .await
        .expect("A's event stream ends after the run is interrupted");
    assert!(reader.closed, "the stream ends with `: stream closed`");
    frames.extend(rest);
    assert_contiguous(&frames, &run_id);
    let seen = kinds(&frames);
    assert_eq!(seen.last().unwrap(), "run.failed", "{seen:?}");
    assert_eq!(frames.last().unwrap().data["error"], RESTARTED);
    assert_eq!(
        seen.iter().filter(|k| k.starts_with("run.")).count(),
        2,
        "exactly one start and one terminal event: {seen:?}"
    );
    // What A relayed live is exactly the stored log.
    let mut replay = a.events(&run_id).await;
    assert_eq!(replay.rest().await, frames);
    assert!(replay.closed);

    // B's death does not degrade A, and A keeps serving runs.
    a.assert_healthy().await;
    fake.push(Reply::text("still here"));
    let fresh = a.start_run("are you there?").await;
    let done = a
        .wait_status(&fresh, "completed", Duration::from_secs(5))
        .await;
    assert_eq!(done["output"], "still here", "{done}");
    a.assert_healthy().await;
    assert_eq!(a.json("/health/detailed").await["active_runs"], 0);
}
