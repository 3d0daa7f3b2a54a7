//! Smoke tests of the real `caduceus` executable: start, answer, drain on SIGTERM with exit 0;
//! refuse weak or placeholder keys and a busy port with a message naming the problem; generate
//! and store a key when none is configured.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use caduceus_tests::binary::{Server, command, free_port};

#[tokio::test]
async fn serves_health_then_exits_zero_on_sigterm() {
    let home = tempfile::tempdir().unwrap();
    let home_text = home.path().display().to_string();
    let server = Server::start(&[
        ("HERMES_HOME", &home_text),
        ("API_SERVER_KEY", "smoke-test-key-0123456789"),
    ])
    .await;
    let body: serde_json::Value = reqwest::get(format!("{}/health", server.base()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["status"], "ok");
    let status = server.terminate(Duration::from_secs(20));
    assert!(status.success(), "exit status {status:?}");
    assert!(
        home.path().join("caduceus.db").exists(),
        "default SQLite database under the home"
    );
}

fn refused(vars: &[(&str, &str)]) -> String {
    let output = command(vars).arg("serve").output().unwrap();
    assert!(!output.status.success(), "should refuse to start");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn short_key_is_refused_with_a_clear_message() {
    let home = tempfile::tempdir().unwrap();
    let home_text = home.path().display().to_string();
    let port = free_port().to_string();
    let stderr = refused(&[
        ("HERMES_HOME", &home_text),
        ("API_SERVER_PORT", &port),
        ("API_SERVER_KEY", "short"),
    ]);
    assert!(
        stderr.contains("16"),
        "message should name the minimum length: {stderr}"
    );
}

#[test]
fn placeholder_key_is_refused_with_a_clear_message() {
    let home = tempfile::tempdir().unwrap();
    let home_text = home.path().display().to_string();
    let port = free_port().to_string();
    let stderr = refused(&[
        ("HERMES_HOME", &home_text),
        ("API_SERVER_PORT", &port),
        ("API_SERVER_KEY", "tu-clave-secreta-aqui"),
    ]);
    assert!(stderr.to_lowercase().contains("placeholder"), "{stderr}");
}

#[test]
fn busy_port_is_a_clear_error() {
    let home = tempfile::tempdir().unwrap();
    let home_text = home.path().display().to_string();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let stderr = refused(&[
        ("HERMES_HOME", &home_text),
        ("API_SERVER_PORT", &port),
        ("API_SERVER_KEY", "smoke-test-key-0123456789"),
    ]);
    assert!(stderr.contains("already in use"), "{stderr}");
    assert!(stderr.contains(&port), "{stderr}");
}

#[tokio::test]
async fn missing_key_is_generated_stored_0600_and_printed_once() {
    let home = tempfile::tempdir().unwrap();
    let home_text = home.path().display().to_string();
    let mut server = Server::start(&[("HERMES_HOME", &home_text)]).await;
    let env_file = home.path().join(".env");
    let text = std::fs::read_to_string(&env_file).unwrap();
    let key = text
        .lines()
        .find_map(|line| line.strip_prefix("API_SERVER_KEY="))
        .unwrap()
        .trim_matches('"')
        .to_owned();
    assert_eq!(key.len(), 64);
    let mode = std::fs::metadata(&env_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    let client = reqwest::Client::new();
    let models = client
        .get(format!("{}/v1/models", server.base()))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(models.status(), 200);

    let stderr = server.child.stderr.take().unwrap();
    let status = server.terminate(Duration::from_secs(20));
    assert!(status.success());
    let mut printed = String::new();
    std::io::Read::read_to_string(&mut { stderr }, &mut printed).unwrap();
    assert_eq!(
        printed.matches(&key).count(),
        1,
        "key printed once: {printed}"
    );
    assert!(printed.contains(".env"), "{printed}");
}

#[test]
fn help_documents_flags_and_environment() {
    let output = command(&[]).arg("--help").output().unwrap();
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    for needle in [
        "--port",
        "--host",
        "--grpc-upstream",
        "migrate",
        "API_SERVER_KEY",
        "HERMES_HOME",
        "DATABASE_URL",
        "API_SERVER_CORS_ORIGINS",
    ] {
        assert!(text.contains(needle), "--help lacks {needle}");
    }
}

#[test]
fn migrate_runs_the_migrations_alone_and_exits() {
    let home = tempfile::tempdir().unwrap();
    let home_text = home.path().display().to_string();
    let output = command(&[
        ("HERMES_HOME", &home_text),
        ("API_SERVER_KEY", "smoke-test-key-0123456789"),
    ])
    .arg("migrate")
    .output()
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(home.path().join("caduceus.db").exists());
    // Idempotent: a second run succeeds too.
    let again = command(&[
        ("HERMES_HOME", &home_text),
        ("API_SERVER_KEY", "smoke-test-key-0123456789"),
    ])
    .arg("migrate")
    .output()
    .unwrap();
    assert!(again.status.success());
}
