//! Tests of `Config::load` as a whole: precedence, defaults, key refusal and generation, YAML
//! sections. Per-format details are tested beside `dotenv.rs`, `yaml.rs` and `key.rs`.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use super::*;

const KEY: &str = "0123456789abcdef0123456789abcdef";

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn home_with(dotenv: Option<&str>, yaml: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    if let Some(text) = dotenv {
        fs::write(dir.path().join(".env"), text).unwrap();
    }
    if let Some(text) = yaml {
        fs::write(dir.path().join("config.yaml"), text).unwrap();
    }
    dir
}

fn load_in(home: &Path, env_pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let overrides = Overrides {
        home: Some(home.to_path_buf()),
        ..Default::default()
    };
    Config::load(&env(env_pairs), &overrides)
}

#[test]
fn defaults_with_only_a_key() {
    let home = home_with(None, None);
    let cfg = load_in(home.path(), &[("API_SERVER_KEY", KEY)]).unwrap();
    assert_eq!(cfg.api_key.expose(), KEY);
    assert_eq!(cfg.generated_key_path, None);
    assert_eq!(cfg.host, "127.0.0.1");
    assert_eq!(cfg.port, 8642);
    assert!(cfg.cors_origins.is_empty());
    assert_eq!(cfg.model_name, "hermes-agent");
    assert_eq!(
        cfg.database_url,
        format!("sqlite://{}/caduceus.db", home.path().display())
    );
    assert_eq!(cfg.max_iterations, 90);
    assert!(!cfg.model.is_configured());
    assert_eq!(cfg.max_concurrent_runs, 10);
    assert_eq!(cfg.toolsets, None);
    assert_eq!(cfg.approvals, ApprovalsConfig::default());
    assert_eq!(cfg.approvals.timeout, Duration::from_secs(60));
    assert_eq!(cfg.response_store_capacity, 10_000);
    assert_eq!(cfg.upstream_connect_timeout, Duration::from_secs(10));
    assert_eq!(cfg.upstream_read_timeout, Duration::from_secs(300));
    assert_eq!(cfg.grpc_upstream, None);
    assert!(!format!("{cfg:?}").contains(KEY));
}

#[test]
fn home_from_hermes_home() {
    let home = home_with(Some(&format!("API_SERVER_KEY={KEY}\n")), None);
    let vars = env(&[("HERMES_HOME", home.path().to_str().unwrap())]);
    let cfg = Config::load(&vars, &Overrides::default()).unwrap();
    assert_eq!(cfg.home, home.path());
    assert_eq!(cfg.api_key.expose(), KEY);
}

#[test]
fn precedence_env_over_dotenv_over_yaml_and_overrides_over_all() {
    let yaml = "platforms:\n  api_server:\n    extra:\n      host: 10.0.0.1\n      port: 7000\n      model_name: from-yaml\n      cors_origins: [https://yaml.example]\n";
    let home = home_with(
        Some(
            "API_SERVER_KEY=dotenvkey-0123456789\nAPI_SERVER_HOST=0.0.0.0\nAPI_SERVER_PORT=7100\n",
        ),
        Some(yaml),
    );
    let cfg = load_in(
        home.path(),
        &[("API_SERVER_KEY", KEY), ("API_SERVER_PORT", "7200")],
    )
    .unwrap();
    assert_eq!(cfg.api_key.expose(), KEY, "env beats .env");
    assert_eq!(cfg.port, 7200, "env beats .env");
    assert_eq!(cfg.host, "0.0.0.0", ".env beats yaml");
    assert_eq!(cfg.model_name, "from-yaml", "yaml beats default");
    assert_eq!(cfg.cors_origins, vec!["https://yaml.example"]);

    let overrides = Overrides {
        home: Some(home.path().to_path_buf()),
        host: Some("::1".into()),
        port: Some(1),
        database_url: Some("postgres://db/x".into()),
        grpc_upstream: Some("http://core:50051".into()),
    };
    let cfg = Config::load(&env(&[("API_SERVER_PORT", "7200")]), &overrides).unwrap();
    assert_eq!(cfg.api_key.expose(), "dotenvkey-0123456789");
    assert_eq!((cfg.host.as_str(), cfg.port), ("::1", 1));
    assert_eq!(cfg.database_url, "postgres://db/x");
    assert_eq!(cfg.grpc_upstream.as_deref(), Some("http://core:50051"));
}

#[test]
fn empty_values_count_as_unset_and_cors_is_split() {
    let home = home_with(
        Some("API_SERVER_MODEL_NAME=\"\"\nAPI_SERVER_CORS_ORIGINS=\" https://a.example , ,*,\"\n"),
        None,
    );
    let cfg = load_in(home.path(), &[("API_SERVER_KEY", KEY)]).unwrap();
    assert_eq!(cfg.model_name, "hermes-agent");
    assert_eq!(cfg.cors_origins, vec!["https://a.example", "*"]);
}

#[test]
fn legacy_api_server_port_is_a_fallback() {
    let home = home_with(None, Some("api_server:\n  enabled: true\n  port: 9001\n"));
    assert_eq!(
        load_in(home.path(), &[("API_SERVER_KEY", KEY)])
            .unwrap()
            .port,
        9001
    );
}

#[test]
fn non_numeric_port_names_the_variable() {
    let home = home_with(None, None);
    let err = load_in(
        home.path(),
        &[("API_SERVER_KEY", KEY), ("API_SERVER_PORT", "eighty")],
    )
    .unwrap_err();
    assert!(err.to_string().contains("API_SERVER_PORT"), "{err}");
    let err = load_in(
        home.path(),
        &[("API_SERVER_KEY", KEY), ("API_SERVER_PORT", "70000")],
    )
    .unwrap_err();
    assert!(err.to_string().contains("API_SERVER_PORT"), "{err}");
}

#[test]
fn short_key_is_refused_with_advice() {
    let home = home_with(Some("API_SERVER_KEY=abc123\n"), None);
    let err = load_in(home.path(), &[]).unwrap_err();
    assert!(
        matches!(err, ConfigError::KeyTooShort { len: 6, .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("16"), "{text}");
    assert!(text.contains("openssl rand -hex 32"), "{text}");
    assert!(text.contains(".env"), "{text}");
}

#[test]
fn placeholder_key_is_refused() {
    let home = home_with(Some("API_SERVER_KEY=\"tu-clave-secreta-aqui\"\n"), None);
    let err = load_in(home.path(), &[]).unwrap_err();
    assert!(err.to_string().contains("placeholder"), "{err}");
    let err = load_in(home.path(), &[("API_SERVER_KEY", "CHANGEME")]).unwrap_err();
    assert!(matches!(err, ConfigError::KeyPlaceholder { .. }), "{err:?}");
    assert!(err.to_string().contains("environment"), "{err}");
}

#[test]
fn yaml_key_is_used_and_validated() {
    let home = home_with(
        None,
        Some("platforms:\n  api_server:\n    extra:\n      key: yaml-key-0123456789\n"),
    );
    let cfg = load_in(home.path(), &[]).unwrap();
    assert_eq!(cfg.api_key.expose(), "yaml-key-0123456789");
    let home = home_with(
        None,
        Some("platforms:\n  api_server:\n    extra:\n      key: dummy\n"),
    );
    let err = load_in(home.path(), &[]).unwrap_err();
    assert!(err.to_string().contains("config.yaml"), "{err}");
}

#[test]
fn missing_key_is_generated_saved_0600_and_reused() {
    let root = tempfile::tempdir().unwrap();
    let home = root.path().join("fresh-home");
    let first = load_in(&home, &[]).unwrap();
    let env_path = home.join(".env");
    assert_eq!(
        first.generated_key_path.as_deref(),
        Some(env_path.as_path())
    );
    assert_eq!(first.api_key.expose().len(), 64);
    let mode = fs::metadata(&env_path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let text = fs::read_to_string(&env_path).unwrap();
    assert_eq!(text, format!("API_SERVER_KEY={}\n", first.api_key.expose()));

    let second = load_in(&home, &[]).unwrap();
    assert_eq!(second.api_key, first.api_key);
    assert_eq!(second.generated_key_path, None);
}

#[test]
fn generation_keeps_existing_dotenv_lines() {
    let home = home_with(Some("API_SERVER_PORT=9100"), None);
    let cfg = load_in(home.path(), &[]).unwrap();
    assert_eq!(cfg.port, 9100);
    let text = fs::read_to_string(home.path().join(".env")).unwrap();
    assert!(
        text.starts_with("API_SERVER_PORT=9100\nAPI_SERVER_KEY="),
        "{text}"
    );
}

const FULL_YAML: &str = r#"
model:
  provider: openrouter
  default: anthropic/claude-sonnet-4
  max_tokens: 4096
  context_length: 200000
  connect_timeout: 2.5
  read_timeout: 120
fallback_providers:
  - provider: openai
    model: gpt-4o-mini
  - provider: custom
    model: local
    base_url: http://127.0.0.1:8000/v1
    api_key: sk-local
platforms:
  api_server:
    enabled: true
    extra:
      model_routes:
        fast: {model: llama-3.1-8b, provider: groq}
        local: {model: qwen, base_url: "http://127.0.0.1:11434/v1"}
gateway:
  api_server:
    max_concurrent_runs: 0
platform_toolsets:
  api_server: [terminal, files]
approvals:
  mode: off
  timeout: 15
  deny: ["rm -rf *", "shutdown*"]
command_allowlist: ["ls *", "git status"]
agent:
  max_turns: 12
responses:
  max_stored: 50
unknown_section: {whatever: true}
"#;

#[test]
fn yaml_sections_parse() {
    let home = home_with(None, Some(FULL_YAML));
    let cfg = load_in(
        home.path(),
        &[
            ("API_SERVER_KEY", KEY),
            ("OPENROUTER_API_KEY", "sk-or"),
            ("GROQ_API_KEY", "sk-groq"),
        ],
    )
    .unwrap();
    assert_eq!(cfg.model.provider.as_deref(), Some("openrouter"));
    assert_eq!(
        cfg.model.default.as_deref(),
        Some("anthropic/claude-sonnet-4")
    );
    assert_eq!(
        cfg.model.effective_base_url(),
        Some("https://openrouter.ai/api/v1")
    );
    assert!(cfg.model.is_configured());
    assert_eq!(cfg.model.api_key.as_deref(), Some("sk-or"));
    assert_eq!(cfg.model.max_tokens, Some(4096));
    assert_eq!(cfg.model.context_length, Some(200_000));
    assert_eq!(cfg.upstream_connect_timeout, Duration::from_millis(2500));
    assert_eq!(cfg.upstream_read_timeout, Duration::from_secs(120));

    assert_eq!(cfg.fallback_providers.len(), 2);
    assert_eq!(
        cfg.fallback_providers[0].model.as_deref(),
        Some("gpt-4o-mini")
    );
    assert_eq!(
        cfg.fallback_providers[0].api_key, None,
        "OPENAI_API_KEY unset"
    );
    assert_eq!(
        cfg.fallback_providers[1].api_key.as_deref(),
        Some("sk-local")
    );

    let fast = &cfg.model_routes["fast"];
    assert_eq!(fast.model.as_deref(), Some("llama-3.1-8b"));
    assert_eq!(fast.api_key.as_deref(), Some("sk-groq"));
    assert_eq!(
        fast.effective_base_url(),
        Some("https://api.groq.com/openai/v1")
    );
    assert_eq!(
        cfg.model_routes["local"].effective_base_url(),
        Some("http://127.0.0.1:11434/v1")
    );

    assert_eq!(cfg.max_concurrent_runs, 0);
    assert_eq!(cfg.toolsets, Some(vec!["terminal".into(), "files".into()]));
    assert_eq!(cfg.approvals.mode, ApprovalMode::Off);
    assert_eq!(cfg.approvals.timeout, Duration::from_secs(15));
    assert_eq!(cfg.approvals.deny, vec!["rm -rf *", "shutdown*"]);
    assert_eq!(cfg.command_allowlist, vec!["ls *", "git status"]);
    assert_eq!(cfg.max_iterations, 12);
    assert_eq!(cfg.response_store_capacity, 50);
    let debug = format!("{cfg:?}");
    assert!(!debug.contains("sk-or") && !debug.contains("sk-local") && !debug.contains(KEY));
}

#[test]
fn env_beats_yaml_for_iterations_and_capacity() {
    let home = home_with(None, Some(FULL_YAML));
    let cfg = load_in(
        home.path(),
        &[
            ("API_SERVER_KEY", KEY),
            ("HERMES_MAX_ITERATIONS", "33"),
            ("CADUCEUS_RESPONSE_STORE_CAPACITY", "7"),
        ],
    )
    .unwrap();
    assert_eq!(cfg.max_iterations, 33);
    assert_eq!(cfg.response_store_capacity, 7);
}

#[test]
fn custom_base_url_overrides_yaml() {
    let yaml = "model:\n  provider: custom\n  default: local-model\n  base_url: http://yaml:1/v1\n  api_key: sk-yaml\n";
    let home = home_with(Some("CUSTOM_BASE_URL=http://dotenv:2/v1\n"), Some(yaml));
    let cfg = load_in(home.path(), &[("API_SERVER_KEY", KEY)]).unwrap();
    assert_eq!(cfg.model.base_url.as_deref(), Some("http://dotenv:2/v1"));
    assert_eq!(cfg.model.api_key.as_deref(), Some("sk-yaml"));
    assert!(cfg.model.is_configured());
}

#[test]
fn provider_key_may_come_from_dotenv() {
    let yaml = "model:\n  provider: deepseek\n  default: deepseek-chat\n";
    let home = home_with(Some("DEEPSEEK_API_KEY=sk-ds\n"), Some(yaml));
    let cfg = load_in(home.path(), &[("API_SERVER_KEY", KEY)]).unwrap();
    assert_eq!(cfg.model.api_key.as_deref(), Some("sk-ds"));
    assert_eq!(
        cfg.model.effective_base_url(),
        Some("https://api.deepseek.com/v1")
    );
}

#[test]
fn malformed_yaml_names_file_and_line() {
    let home = home_with(
        None,
        Some("model:\n  provider: openai\n   default: bad-indent\n"),
    );
    let err = load_in(home.path(), &[("API_SERVER_KEY", KEY)]).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("config.yaml"), "{text}");
    assert!(text.contains("line 3"), "{text}");
}

#[test]
fn bad_approval_mode_is_refused() {
    let home = home_with(None, Some("approvals:\n  mode: sometimes\n"));
    let err = load_in(home.path(), &[("API_SERVER_KEY", KEY)]).unwrap_err();
    assert!(err.to_string().contains("approvals.mode"), "{err}");
}

#[test]
fn upstream_response_limits_default_and_parse() {
    let home = home_with(None, None);
    let cfg = load_in(home.path(), &[("API_SERVER_KEY", KEY)]).unwrap();
    assert_eq!(cfg.upstream_max_response_bytes, 16 * 1024 * 1024);
    assert_eq!(cfg.upstream_max_response_time, Duration::from_secs(1800));
    let yaml = "model:\n  default: m\n  max_response_bytes: 65536\n  max_response_seconds: 2.5\n";
    let home = home_with(None, Some(yaml));
    let cfg = load_in(home.path(), &[("API_SERVER_KEY", KEY)]).unwrap();
    assert_eq!(cfg.upstream_max_response_bytes, 65_536);
    assert_eq!(cfg.upstream_max_response_time, Duration::from_millis(2500));
    let home = home_with(None, Some("model:\n  max_response_bytes: 0\n"));
    let error = load_in(home.path(), &[("API_SERVER_KEY", KEY)]).unwrap_err();
    assert!(
        error.to_string().contains("model.max_response_bytes"),
        "{error}"
    );
}
