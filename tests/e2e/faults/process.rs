//! The real `caduceus` binary for the process-fault tests: started on a given home (so a
//! restart finds the same SQLite file) with a chosen grace period, then SIGTERM'd or SIGKILL'd,
//! plus the SSE and database checks those tests share.

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use caduceus_tests::app::TEST_KEY;
use caduceus_tests::binary::{command, free_port};
use futures::StreamExt;
use serde_json::Value;
use sqlx::Connection;

/// A `caduceus serve` process; killed on drop.
pub struct Proc {
    child: Child,
    port: u16,
    http: reqwest::Client,
}

impl Proc {
    /// Starts the binary on `home` with `--grace-seconds grace` and waits for `/health`.
    pub async fn start(home: &Path, grace: u64) -> Proc {
        let port = free_port();
        let child = command(&[
            ("HERMES_HOME", &home.display().to_string()),
            ("API_SERVER_KEY", TEST_KEY),
            ("API_SERVER_PORT", &port.to_string()),
        ])
        .args(["serve", "--grace-seconds", &grace.to_string()])
        .stdout(Stdio::null())
        .stderr(if std::env::var_os("FAULTS_SERVER_LOG").is_some() {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .spawn()
        .expect("spawn caduceus (build it: cargo build -p caduceus-service --bin caduceus)");
        let proc = Proc {
            child,
            port,
            http: reqwest::Client::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let health = proc.http.get(proc.url("/health")).send().await;
            if health.is_ok_and(|r| r.status().is_success()) {
                return proc;
            }
            assert!(Instant::now() < deadline, "caduceus did not become healthy");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.get(self.url(path)).bearer_auth(TEST_KEY)
    }

    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.post(self.url(path)).bearer_auth(TEST_KEY)
    }

    /// GET returning JSON.
    pub async fn json(&self, path: &str) -> Value {
        self.get(path).send().await.unwrap().json().await.unwrap()
    }

    /// Sends SIGTERM.
    pub fn sigterm(&self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success());
    }

    /// SIGKILL, and reaps the process.
    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Waits (without blocking the runtime) for the process to exit.
    pub async fn wait_exit(mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "no exit within {limit:?}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An SSE response read incrementally.
pub struct SseReader {
    body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    /// Everything received so far.
    pub text: String,
}

impl SseReader {
    pub fn new(response: reqwest::Response) -> SseReader {
        SseReader {
            body: response.bytes_stream().boxed(),
            text: String::new(),
        }
    }

    /// Reads until the text received contains `needle`; false if the stream ended first.
    pub async fn until(&mut self, needle: &str) -> bool {
        let read = async {
            while !self.text.contains(needle) {
                match self.body.next().await {
                    Some(Ok(bytes)) => self.text.push_str(&String::from_utf8_lossy(&bytes)),
                    _ => return false,
                }
            }
            true
        };
        tokio::time::timeout(Duration::from_secs(10), read)
            .await
            .unwrap_or(false)
    }

    /// Reads to the end of the stream.
    pub async fn rest(&mut self) -> &str {
        while let Some(Ok(bytes)) = self.body.next().await {
            self.text.push_str(&String::from_utf8_lossy(&bytes));
        }
        &self.text
    }
}

/// `PRAGMA integrity_check` of the SQLite database in `home`.
pub async fn integrity_check(home: &Path) -> String {
    let url = format!("sqlite://{}/caduceus.db", home.display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let (result,): (String,) = sqlx::query_as("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    result
}

/// `(role, finish_reason, content)` of each stored message of `session`.
pub async fn stored(proc: &Proc, session: &str) -> Vec<(String, String, String)> {
    let body = proc
        .json(&format!("/api/sessions/{session}/messages?limit=200"))
        .await;
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let text = |key: &str| m[key].as_str().unwrap_or_default().to_owned();
            (text("role"), text("finish_reason"), text("content"))
        })
        .collect()
}

/// Polls `GET /v1/runs/{id}` until `status`; panics after 10 s.
pub async fn wait_run(proc: &Proc, run_id: &str, status: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let run = proc.json(&format!("/v1/runs/{run_id}")).await;
        if run["status"] == status {
            return run;
        }
        assert!(
            Instant::now() < deadline,
            "run never reached {status}: {run}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
