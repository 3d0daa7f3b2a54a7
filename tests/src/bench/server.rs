//! [`ServerUnderTest`]: the real `caduceus` executable started for a bench run — a temp
//! `HERMES_HOME` holding a `config.yaml` whose upstream is the mock (one `model_routes` alias per
//! mock mode, no concurrency cap), a fresh API key, a free loopback port, SQLite by default — and
//! its resident memory read from `/proc/<pid>/status`. Load generation lives elsewhere.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::mock::Mode;

/// How long the server may take to answer `/health` after spawning (a profiler wrapper such as
/// valgrind slows start-up a lot).
const START_LIMIT: Duration = Duration::from_secs(30);
const WRAPPED_START_LIMIT: Duration = Duration::from_secs(180);

/// A running `caduceus serve`, stopped (SIGTERM, then SIGKILL) on drop.
pub struct ServerUnderTest {
    child: Child,
    port: u16,
    key: String,
    home: tempfile::TempDir,
}

/// What the server is started with.
pub struct ServerOptions<'a> {
    /// The `caduceus` executable.
    pub bin: &'a Path,
    /// The mock's `…/v1` base URL.
    pub upstream: &'a str,
    /// `(alias, mode)` pairs written as `model_routes`; the primary model is [`Mode::Fixed`].
    pub routes: &'a [(&'a str, Mode)],
    /// `DATABASE_URL`; `None` = the default SQLite file in the temp home.
    pub database_url: Option<&'a str>,
    /// A command the binary runs under (e.g. `valgrind --tool=callgrind`); empty = none.
    pub wrapper: &'a [String],
}

impl ServerUnderTest {
    /// Writes the home, spawns the binary and waits until `/health` answers.
    pub async fn start(options: &ServerOptions<'_>) -> anyhow::Result<ServerUnderTest> {
        if !options.bin.is_file() {
            bail!(
                "server binary {} not found: build it first with \
                 `cargo build --release -p caduceus-service --bin caduceus` \
                 (or pass --server-bin PATH)",
                options.bin.display()
            );
        }
        let home = tempfile::Builder::new()
            .prefix("caduceus-bench-")
            .tempdir()
            .context("temp HERMES_HOME")?;
        std::fs::write(home.path().join("config.yaml"), config_yaml(options))
            .context("write config.yaml")?;
        let log = std::fs::File::create(home.path().join("server.log")).context("server log")?;
        let port = free_port()?;
        let key = format!("bench-{}", uuid::Uuid::new_v4().simple());
        let mut command = match options.wrapper.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(options.bin);
                command
            }
            None => Command::new(options.bin),
        };
        command.env_clear();
        for name in ["PATH", "HOME", "RUST_LOG"] {
            if let Ok(value) = std::env::var(name) {
                command.env(name, value);
            }
        }
        command
            .env("HERMES_HOME", home.path())
            .env("API_SERVER_KEY", &key)
            .env("API_SERVER_PORT", port.to_string())
            .env("API_SERVER_HOST", "127.0.0.1");
        if let Some(url) = options.database_url {
            command.env("DATABASE_URL", url);
        }
        let child = command
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("spawn {}", options.bin.display()))?;
        let mut server = ServerUnderTest {
            child,
            port,
            key,
            home,
        };
        let limit = if options.wrapper.is_empty() {
            START_LIMIT
        } else {
            WRAPPED_START_LIMIT
        };
        server.wait_healthy(limit).await?;
        Ok(server)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The bearer key the server was started with.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The process id (for `/proc` and profilers).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident set size now, in KiB (`VmRSS`).
    pub fn rss_kib(&self) -> anyhow::Result<u64> {
        proc_status_kib(self.pid(), "VmRSS:")
    }

    /// Peak resident set size so far, in KiB (`VmHWM`).
    pub fn peak_rss_kib(&self) -> anyhow::Result<u64> {
        proc_status_kib(self.pid(), "VmHWM:")
    }

    /// The server's stderr so far (for error reports).
    pub fn log_tail(&self, max: usize) -> String {
        let text = std::fs::read_to_string(self.home.path().join("server.log")).unwrap_or_default();
        let start = text.len().saturating_sub(max);
        let start = (start..text.len())
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(text.len());
        text.get(start..).unwrap_or_default().to_owned()
    }

    /// SIGTERM, then waits up to `limit` for a clean exit (SIGKILL after).
    pub fn stop(mut self, limit: Duration) -> anyhow::Result<std::process::ExitStatus> {
        terminate(&mut self.child, limit)
    }

    async fn wait_healthy(&mut self, limit: Duration) -> anyhow::Result<()> {
        let client: Client<_, Empty<bytes::Bytes>> =
            Client::builder(TokioExecutor::new()).build_http();
        let uri: hyper::Uri = format!("{}/health", self.base()).parse()?;
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                bail!(
                    "caduceus exited during start-up ({status}):\n{}",
                    self.log_tail(2000)
                );
            }
            if let Ok(response) = client.get(uri.clone()).await
                && response.status().is_success()
            {
                let _ = response.into_body().collect().await;
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!(
            "caduceus did not answer /health within {limit:?}:\n{}",
            self.log_tail(2000)
        )
    }
}

impl Drop for ServerUnderTest {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = terminate(&mut self.child, Duration::from_secs(5));
        }
    }
}

/// The `config.yaml` of a bench run.
fn config_yaml(options: &ServerOptions<'_>) -> String {
    let mut yaml = format!(
        "model:\n  provider: custom\n  default: {}\n  base_url: \"{}\"\n  \
         api_key: bench-upstream-key\n",
        Mode::Fixed.model_name(),
        options.upstream
    );
    yaml.push_str("platforms:\n  api_server:\n    extra:\n      model_routes:\n");
    for (alias, mode) in options.routes {
        let _ = writeln!(
            yaml,
            "        {alias}: {{model: \"{}\"}}",
            mode.model_name()
        );
    }
    // Open-loop load must measure latency, not the 429 of the default cap of 10.
    yaml.push_str("gateway:\n  api_server:\n    max_concurrent_runs: 0\n");
    yaml
}

fn terminate(child: &mut Child, limit: Duration) -> anyhow::Result<std::process::ExitStatus> {
    let pid = child.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if Instant::now() > deadline {
            child.kill()?;
            return Ok(child.wait()?);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// CPU time (user + system, every thread, dead ones included) the process has used so far,
/// from `/proc/<pid>/stat` (clock ticks of 10 ms: Linux's `USER_HZ` is 100 on every
/// architecture this runs on).
pub fn process_cpu(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // After the command name: state is field 3, utime 14 and stime 15 (1-based).
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

/// A field of `/proc/<pid>/status` given in kB.
pub fn proc_status_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let path = PathBuf::from(format!("/proc/{pid}/status"));
    let status = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
    proc_status_kib_from(&status, field)
        .with_context(|| format!("no {field} in {}", path.display()))
}

/// A `Field:   123 kB` line's number from `/proc` text (`status`, `meminfo`).
pub fn proc_status_kib_from(text: &str, field: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|value| value.parse().ok())
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("find a free port")?;
    Ok(listener.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_routes_every_mode_and_lifts_the_cap() {
        let bin = PathBuf::from("/nonexistent");
        let yaml = config_yaml(&ServerOptions {
            bin: &bin,
            upstream: "http://127.0.0.1:9/v1",
            routes: &[("hold", Mode::Hold), ("burst", Mode::Burst { chunks: 5 })],
            database_url: None,
            wrapper: &[],
        });
        assert!(yaml.contains("default: fixed"), "{yaml}");
        assert!(yaml.contains("hold: {model: \"hold\"}"), "{yaml}");
        assert!(yaml.contains("burst: {model: \"burst-5\"}"), "{yaml}");
        assert!(yaml.contains("max_concurrent_runs: 0"), "{yaml}");
    }

    fn options<'a>(bin: &'a Path) -> ServerOptions<'a> {
        ServerOptions {
            bin,
            upstream: "http://127.0.0.1:9/v1",
            routes: &[],
            database_url: None,
            wrapper: &[],
        }
    }

    #[tokio::test]
    async fn a_missing_binary_says_how_to_build_it() {
        let bin = PathBuf::from("/nonexistent/caduceus");
        let error = ServerUnderTest::start(&options(&bin)).await.err().unwrap();
        let text = format!("{error:#}");
        assert!(text.contains("cargo build --release"), "{text}");
    }

    #[tokio::test]
    async fn a_server_that_exits_at_start_up_is_an_error_not_a_hang() {
        let bin = PathBuf::from("/bin/false");
        let started = Instant::now();
        let error = ServerUnderTest::start(&options(&bin)).await.err().unwrap();
        assert!(
            format!("{error:#}").contains("exited during start-up"),
            "{error:#}"
        );
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn reads_cpu_time_of_this_process() {
        let spin = Instant::now();
        let mut x = 0u64;
        while spin.elapsed() < Duration::from_millis(30) {
            x = x.wrapping_add(1);
        }
        assert!(x > 0);
        assert!(process_cpu(std::process::id()).unwrap() >= Duration::from_millis(10));
        assert_eq!(process_cpu(u32::MAX), None);
    }

    #[test]
    fn reads_proc_status_of_this_process() {
        let rss = proc_status_kib(std::process::id(), "VmRSS:").unwrap();
        assert!(rss > 0);
        assert!(proc_status_kib(std::process::id(), "NoSuchField:").is_err());
    }
}
