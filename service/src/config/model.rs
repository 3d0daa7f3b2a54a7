//! Upstream and policy settings as the rest of the service sees them: the primary [`ModelConfig`],
//! fallback providers and model routes ([`ProviderConfig`]), and [`ApprovalsConfig`], plus the
//! table of well-known OpenAI-compatible providers (base URL and key variable). Parsing the YAML
//! file lives in `yaml.rs`; talking to upstreams lives in the upstream client.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use serde::Deserialize;

/// A provider name the service knows without a `base_url`: where its OpenAI-compatible API lives
/// and which environment variable conventionally holds its key.
struct KnownProvider {
    name: &'static str,
    base_url: Option<&'static str>,
    key_var: Option<&'static str>,
}

const KNOWN_PROVIDERS: &[KnownProvider] = &[
    KnownProvider {
        name: "openrouter",
        base_url: Some("https://openrouter.ai/api/v1"),
        key_var: Some("OPENROUTER_API_KEY"),
    },
    KnownProvider {
        name: "openai",
        base_url: Some("https://api.openai.com/v1"),
        key_var: Some("OPENAI_API_KEY"),
    },
    KnownProvider {
        name: "ollama",
        base_url: Some("http://127.0.0.1:11434/v1"),
        key_var: None,
    },
    KnownProvider {
        name: "lmstudio",
        base_url: Some("http://127.0.0.1:1234/v1"),
        key_var: None,
    },
    KnownProvider {
        name: "deepseek",
        base_url: Some("https://api.deepseek.com/v1"),
        key_var: Some("DEEPSEEK_API_KEY"),
    },
    KnownProvider {
        name: "groq",
        base_url: Some("https://api.groq.com/openai/v1"),
        key_var: Some("GROQ_API_KEY"),
    },
    KnownProvider {
        name: "together",
        base_url: Some("https://api.together.xyz/v1"),
        key_var: Some("TOGETHER_API_KEY"),
    },
    KnownProvider {
        name: "mistral",
        base_url: Some("https://api.mistral.ai/v1"),
        key_var: Some("MISTRAL_API_KEY"),
    },
    KnownProvider {
        name: "xai",
        base_url: Some("https://api.x.ai/v1"),
        key_var: Some("XAI_API_KEY"),
    },
    KnownProvider {
        name: "vllm",
        base_url: None,
        key_var: Some("VLLM_API_KEY"),
    },
];

fn known(provider: Option<&str>) -> Option<&'static KnownProvider> {
    let name = provider?.trim().to_ascii_lowercase();
    KNOWN_PROVIDERS.iter().find(|p| p.name == name)
}

/// The well-known base URL of `provider` (case-insensitive), if it has one.
pub fn provider_base_url(provider: Option<&str>) -> Option<&'static str> {
    known(provider).and_then(|p| p.base_url)
}

/// The environment variable that conventionally holds `provider`'s API key, if any.
pub fn provider_key_var(provider: Option<&str>) -> Option<&'static str> {
    known(provider).and_then(|p| p.key_var)
}

/// Looks up the provider's conventional key variable in `env`, ignoring empty values.
fn key_from_env(provider: Option<&str>, env: &HashMap<String, String>) -> Option<String> {
    let var = provider_key_var(provider)?;
    env.get(var)
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// The primary upstream (`model:` in config.yaml). All fields optional so the server can start
/// unconfigured and answer agent routes with `no_upstream_configured` instead of refusing to run.
/// `Debug` redacts `api_key`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ModelConfig {
    /// `custom`, `openrouter`, `openai`, `ollama`, ... (free text; only known names imply a URL).
    pub provider: Option<String>,
    /// The upstream model id sent in requests.
    pub default: Option<String>,
    /// OpenAI-compatible base URL (…/v1); `CUSTOM_BASE_URL` overrides the YAML value.
    pub base_url: Option<String>,
    /// Upstream key: YAML `api_key`, else resolved at load from the provider's conventional
    /// variable (environment or `.env`).
    pub api_key: Option<String>,
    pub max_tokens: Option<u32>,
    pub context_length: Option<u32>,
}

impl ModelConfig {
    /// `base_url`, else the provider's well-known URL.
    pub fn effective_base_url(&self) -> Option<&str> {
        self.base_url
            .as_deref()
            .or_else(|| provider_base_url(self.provider.as_deref()))
    }

    /// True when an upstream can be called: a base URL (explicit or implied by the provider) and
    /// a default model are both set.
    pub fn is_configured(&self) -> bool {
        self.effective_base_url().is_some() && self.default.is_some()
    }

    /// `api_key`, else the provider's conventional env var looked up in `env`. `Config::load`
    /// already applies this, so on a loaded config `api_key` is the answer.
    pub fn resolved_api_key(&self, env: &HashMap<String, String>) -> Option<String> {
        self.api_key
            .clone()
            .or_else(|| key_from_env(self.provider.as_deref(), env))
    }
}

/// An alternative upstream: an entry of `fallback_providers`, or the target of a model route.
/// Fields left unset fall back to the primary [`ModelConfig`] (decided by the upstream client).
/// `Debug` redacts `api_key`.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ProviderConfig {
    pub provider: Option<String>,
    pub model: Option<String>,
    pub base_url: Option<String>,
    pub api_key: Option<String>,
}

/// `platforms.api_server.extra.model_routes.<alias>`: the same shape as a fallback provider, with
/// `model` naming the upstream model the alias maps to.
pub type ModelRoute = ProviderConfig;

impl ProviderConfig {
    /// `base_url`, else the provider's well-known URL.
    pub fn effective_base_url(&self) -> Option<&str> {
        self.base_url
            .as_deref()
            .or_else(|| provider_base_url(self.provider.as_deref()))
    }

    /// `api_key`, else the provider's conventional env var looked up in `env`.
    pub fn resolved_api_key(&self, env: &HashMap<String, String>) -> Option<String> {
        self.api_key
            .clone()
            .or_else(|| key_from_env(self.provider.as_deref(), env))
    }
}

/// Shows whether a key is set without showing it.
fn redacted(key: &Option<String>) -> Option<&'static str> {
    key.as_ref().map(|_| "<redacted>")
}

impl fmt::Debug for ModelConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModelConfig")
            .field("provider", &self.provider)
            .field("default", &self.default)
            .field("base_url", &self.base_url)
            .field("api_key", &redacted(&self.api_key))
            .field("max_tokens", &self.max_tokens)
            .field("context_length", &self.context_length)
            .finish()
    }
}

impl fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("provider", &self.provider)
            .field("model", &self.model)
            .field("base_url", &self.base_url)
            .field("api_key", &redacted(&self.api_key))
            .finish()
    }
}

/// Whether dangerous tool calls wait for a human decision.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ApprovalMode {
    /// Dangerous commands pause the run until approved or the timeout denies them.
    #[default]
    Manual,
    /// Everything not denied runs without asking.
    Off,
}

/// `approvals:` — the human-in-the-loop policy for tool calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalsConfig {
    pub mode: ApprovalMode,
    /// How long a pending approval waits before it counts as denied.
    pub timeout: Duration,
    /// Glob patterns of commands that are always refused.
    pub deny: Vec<String>,
}

impl Default for ApprovalsConfig {
    fn default() -> Self {
        ApprovalsConfig {
            mode: ApprovalMode::Manual,
            timeout: Duration::from_secs(60),
            deny: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn configured_needs_url_and_model() {
        let mut m = ModelConfig::default();
        assert!(!m.is_configured());
        m.default = Some("llama3".into());
        assert!(!m.is_configured());
        m.provider = Some("Ollama".into());
        assert!(m.is_configured());
        assert_eq!(m.effective_base_url(), Some("http://127.0.0.1:11434/v1"));
        m.provider = Some("custom".into());
        assert!(!m.is_configured());
        m.base_url = Some("http://localhost:8000/v1".into());
        assert!(m.is_configured());
    }

    #[test]
    fn api_key_from_provider_env_var() {
        let m = ModelConfig {
            provider: Some("openrouter".into()),
            ..Default::default()
        };
        assert_eq!(
            m.resolved_api_key(&env(&[("OPENROUTER_API_KEY", "sk-or-1")])),
            Some("sk-or-1".into())
        );
        assert_eq!(
            m.resolved_api_key(&env(&[("OPENROUTER_API_KEY", "")])),
            None
        );
        let explicit = ModelConfig {
            api_key: Some("sk-explicit".into()),
            ..m
        };
        assert_eq!(
            explicit.resolved_api_key(&env(&[("OPENROUTER_API_KEY", "sk-or-1")])),
            Some("sk-explicit".into())
        );
        assert!(!format!("{explicit:?}").contains("sk-explicit"));
        let route = ProviderConfig {
            api_key: Some("sk-route".into()),
            ..Default::default()
        };
        assert!(!format!("{route:?}").contains("sk-route"));
    }
}
