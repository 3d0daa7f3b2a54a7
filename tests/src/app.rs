//! `TestApp::spawn()`: the real server (REST + gRPC + gRPC-Web on one port) in-process on
//! 127.0.0.1:0, with a temp `$HERMES_HOME`, a temp SQLite database (or a fresh PostgreSQL database
//! when `E2E_DATABASE_URL` points at one) and a known API key. Dropping it shuts the server down.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use caduceus_service::config::{Config, Overrides};
use caduceus_service::state::AppState;
use caduceus_service::store::Store;
use tempfile::TempDir;
use tokio::sync::oneshot;

/// The API key every test app uses.
pub const TEST_KEY: &str = "test-key-0123456789abcdef";

/// Options for [`TestApp::spawn_with`].
#[derive(Debug, Default, Clone)]
pub struct TestOptions {
    /// Extra environment variables (e.g. `API_SERVER_CORS_ORIGINS`).
    pub env: HashMap<String, String>,
    /// Contents of `config.yaml`.
    pub config_yaml: Option<String>,
    /// Files to create under the home directory (relative path → contents).
    pub files: Vec<(String, String)>,
    /// Use this database instead of a fresh one (two apps on one database: restarts, replicas).
    pub database_url: Option<String>,
}

/// `config.yaml` pointing the agent at an upstream (the fake LLM in tests), plus `extra` YAML.
pub fn upstream_config(base_url: &str, extra: &str) -> String {
    format!(
        "model:\n  provider: custom\n  base_url: {base_url}\n  default: fake-model\n  read_timeout: 5\n{extra}"
    )
}

impl TestOptions {
    /// Options whose config points the agent at `base_url`.
    pub fn upstream(base_url: &str) -> Self {
        Self {
            config_yaml: Some(upstream_config(base_url, "")),
            ..Self::default()
        }
    }

    /// Adds an environment variable.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.insert(key.to_owned(), value.to_owned());
        self
    }
}

/// A running server.
pub struct TestApp {
    /// Where it listens.
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The temp home.
    pub home: TempDir,
    /// The shared state (store, gauges).
    pub state: AppState,
    /// An HTTP client.
    pub http: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestApp {
    /// Spawns a server with default options.
    pub async fn spawn() -> TestApp {
        Self::spawn_with(TestOptions::default()).await
    }

    /// Spawns a server with `options`.
    pub async fn spawn_with(options: TestOptions) -> TestApp {
        let home = tempfile::tempdir().expect("temp home");
        write_files(home.path(), &options);
        let mut env = options.env.clone();
        env.entry("API_SERVER_KEY".into())
            .or_insert_with(|| TEST_KEY.into());
        let database_url = match &options.database_url {
            Some(url) => url.clone(),
            None => test_database_url(home.path()).await,
        };
        let overrides = Overrides {
            home: Some(home.path().to_path_buf()),
            database_url: Some(database_url),
            ..Overrides::default()
        };
        let config = Config::load(&env, &overrides).expect("config");
        let store = Store::connect(&config.database_url).await.expect("store");
        store.migrate().await.expect("migrate");
        let state = AppState::new(config, store).expect("state");

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = oneshot::channel::<()>();
        let serve_state = state.clone();
        let task = tokio::spawn(async move {
            let shutdown = async move {
                let _ = rx.await;
            };
            if let Err(error) = caduceus_service::server::serve(
                listener,
                serve_state,
                shutdown,
                Duration::from_secs(2),
            )
            .await
            {
                panic!("server failed: {error}");
            }
        });
        TestApp {
            addr,
            base: format!("http://{addr}"),
            home,
            state,
            http: reqwest::Client::new(),
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A GET with the test key.
    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.get(self.url(path)).bearer_auth(TEST_KEY)
    }

    /// A POST with the test key.
    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.post(self.url(path)).bearer_auth(TEST_KEY)
    }

    /// A tonic channel to this server (HTTP/2, plaintext).
    pub async fn channel(&self) -> tonic::transport::Channel {
        tonic::transport::Endpoint::from_shared(self.base.clone())
            .expect("endpoint")
            .connect()
            .await
            .expect("connect")
    }

    /// Stops the server and waits for it to finish draining.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Adds the test key to a gRPC request.
pub fn authed<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {TEST_KEY}").parse().expect("metadata"),
    );
    request
}

fn write_files(home: &Path, options: &TestOptions) {
    if let Some(yaml) = &options.config_yaml {
        std::fs::write(home.join("config.yaml"), yaml).expect("config.yaml");
    }
    for (relative, contents) in &options.files {
        let path: PathBuf = home.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("dirs");
        }
        std::fs::write(path, contents).expect("file");
    }
}

/// A database for one test: a fresh PostgreSQL database when `E2E_DATABASE_URL` is a PostgreSQL URL
/// (CI), else SQLite in the temp home.
pub async fn test_database_url(home: &Path) -> String {
    match std::env::var("E2E_DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => fresh_postgres_database(&url).await,
        _ => format!("sqlite://{}/caduceus.db", home.display()),
    }
}

async fn fresh_postgres_database(admin_url: &str) -> String {
    use sqlx::Connection;
    let name = format!("caduceus_e2e_{}", uuid_like());
    let mut conn = sqlx::PgConnection::connect(admin_url)
        .await
        .expect("connect to DATABASE_URL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let base = admin_url
        .rsplit_once('/')
        .map_or(admin_url, |(base, _)| base);
    format!("{base}/{name}")
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "{}_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000,
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}
