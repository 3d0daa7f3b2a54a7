//! Runs the real `caduceus` executable (built by `cargo test --workspace` next to the test
//! binaries, or named by `CADUCEUS_BIN`) with a controlled environment, for smoke tests of
//! start-up, configuration errors and signal handling.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Path of the `caduceus` executable.
pub fn caduceus_bin() -> PathBuf {
    if let Ok(path) = std::env::var("CADUCEUS_BIN") {
        return PathBuf::from(path);
    }
    // target/<profile>/deps/e2e-<hash> → target/<profile>/caduceus
    let exe = std::env::current_exe().expect("current exe");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    profile_dir.join("caduceus")
}

/// A command for the binary with a clean environment: only `PATH`, `HOME` and `vars`.
pub fn command(vars: &[(&str, &str)]) -> Command {
    let mut command = Command::new(caduceus_bin());
    command.env_clear();
    for key in ["PATH", "HOME", "RUST_LOG"] {
        if let Ok(value) = std::env::var(key) {
            command.env(key, value);
        }
    }
    for (key, value) in vars {
        command.env(key, value);
    }
    command
}

/// A free TCP port on 127.0.0.1 (bound then released).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// A running server process, killed on drop.
pub struct Server {
    /// The process.
    pub child: Child,
    /// Its port.
    pub port: u16,
}

impl Server {
    /// Starts `caduceus serve` on a free port and waits until `/health` answers.
    pub async fn start(vars: &[(&str, &str)]) -> Server {
        let port = free_port();
        let port_text = port.to_string();
        let mut all: Vec<(&str, &str)> = vars.to_vec();
        all.push(("API_SERVER_PORT", &port_text));
        let child = command(&all)
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn caduceus");
        let server = Server { child, port };
        server.wait_healthy(Duration::from_secs(30)).await;
        server
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn wait_healthy(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        let client = reqwest::Client::new();
        while Instant::now() < deadline {
            if let Ok(response) = client.get(format!("{}/health", self.base())).send().await
                && response.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("caduceus did not become healthy on port {}", self.port);
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self, limit: Duration) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("caduceus did not exit within {limit:?} after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
