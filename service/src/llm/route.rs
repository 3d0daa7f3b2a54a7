//! Which upstreams answer a request: [`Route`] (the chosen upstream plus the fallbacks, in order)
//! and the rules that build it from the loaded config — `model_routes` aliases, the primary
//! `model:` block and `fallback_providers`, with unset fields inherited from the primary. Keys
//! are held in [`Secret`] so routes can be logged. Calling upstreams lives in `client.rs`.

use std::collections::BTreeMap;
use std::fmt;

use crate::config::{Config, ModelConfig, ProviderConfig};
use crate::error::Error;

/// An upstream API key; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The key itself, for the `Authorization` header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// One OpenAI-compatible endpoint and the upstream model to ask for there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Provider name as configured (`custom`, `openrouter`, …), for logs and spans.
    pub provider: String,
    /// `…/v1`; requests go to `{base_url}/chat/completions`.
    pub base_url: String,
    /// The model id sent upstream.
    pub model: String,
    pub api_key: Option<Secret>,
}

/// Where one chat request goes: the first target, then each fallback in order (only for
/// retryable failures before any output).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The `model_routes` alias that selected this route, if any.
    pub alias: Option<String>,
    /// Never empty.
    pub targets: Vec<Target>,
}

impl Route {
    /// The first-choice target.
    pub fn primary(&self) -> Option<&Target> {
        self.targets.first()
    }

    /// The first-choice upstream model id ("" if the route is somehow empty).
    pub fn model(&self) -> &str {
        self.primary().map_or("", |t| t.model.as_str())
    }
}

/// The upstream side of [`Config`], resolved once per process.
#[derive(Debug, Clone)]
pub(crate) struct Routes {
    primary: Option<Target>,
    fallbacks: Vec<Target>,
    aliases: BTreeMap<String, Target>,
}

impl Routes {
    pub(crate) fn from_config(config: &Config) -> Self {
        Self::new(
            &config.model,
            &config.fallback_providers,
            &config.model_routes,
        )
    }

    fn new(
        model: &ModelConfig,
        fallbacks: &[ProviderConfig],
        routes: &BTreeMap<String, ProviderConfig>,
    ) -> Self {
        let primary = model
            .effective_base_url()
            .zip(model.default.as_deref())
            .map(|(base_url, name)| Target {
                provider: label(model.provider.as_deref()),
                base_url: base_url.to_owned(),
                model: name.to_owned(),
                api_key: model.api_key.clone().map(Secret),
            });
        let fallbacks = fallbacks
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                let target = inherit(p, model);
                if target.is_none() {
                    tracing::warn!(
                        entry = i,
                        "fallback_providers entry has no base_url or model (and the primary \
                         has none to inherit); ignoring it"
                    );
                }
                target
            })
            .collect();
        let aliases = routes
            .iter()
            .filter_map(|(alias, p)| {
                let target = inherit(p, model);
                if target.is_none() {
                    tracing::warn!(
                        %alias,
                        "model route has no base_url or model (and the primary has none to \
                         inherit); ignoring it"
                    );
                }
                Some((alias.clone(), target?))
            })
            .collect();
        Routes {
            primary,
            fallbacks,
            aliases,
        }
    }

    /// True when a request without an alias can be served.
    pub(crate) fn has_primary(&self) -> bool {
        self.primary.is_some()
    }

    /// An alias → that route; anything else → the primary. Fallbacks follow either way.
    pub(crate) fn resolve(&self, requested_model: Option<&str>) -> Result<Route, Error> {
        let requested = requested_model.map(str::trim).filter(|m| !m.is_empty());
        let (alias, first) = match requested.and_then(|m| self.aliases.get_key_value(m)) {
            Some((alias, target)) => (Some(alias.clone()), target.clone()),
            None => match &self.primary {
                Some(target) => (None, target.clone()),
                None => return Err(not_configured()),
            },
        };
        let mut targets = vec![first];
        targets.extend(self.fallbacks.iter().cloned());
        Ok(Route { alias, targets })
    }
}

/// The 503 every agent route answers when no upstream is configured.
pub fn not_configured() -> Error {
    Error::Unavailable {
        code: "no_upstream_configured",
        message: "No upstream model is configured. Set `model.base_url` and `model.default` in \
                  config.yaml (or `model.provider` with a known provider and `model.default`), \
                  then restart the server."
            .to_owned(),
        retry_after: None,
    }
}

/// A fallback or alias entry with unset fields taken from the primary. The primary's key is
/// inherited only when the entry talks to the primary's endpoint, so a key is never sent to a
/// host it was not configured for.
fn inherit(entry: &ProviderConfig, primary: &ModelConfig) -> Option<Target> {
    let base_url = entry
        .effective_base_url()
        .or_else(|| primary.effective_base_url())?;
    let model = entry.model.as_deref().or(primary.default.as_deref())?;
    let same_endpoint = primary
        .effective_base_url()
        .is_some_and(|p| p.trim_end_matches('/') == base_url.trim_end_matches('/'));
    let api_key = entry
        .api_key
        .clone()
        .or_else(|| same_endpoint.then(|| primary.api_key.clone()).flatten());
    Some(Target {
        provider: label(entry.provider.as_deref().or(primary.provider.as_deref())),
        base_url: base_url.to_owned(),
        model: model.to_owned(),
        api_key: api_key.map(Secret),
    })
}

fn label(provider: Option<&str>) -> String {
    provider.unwrap_or("custom").to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes(primary: ModelConfig, fallbacks: Vec<ProviderConfig>) -> Routes {
        let mut aliases = BTreeMap::new();
        aliases.insert(
            "fast".to_owned(),
            ProviderConfig {
                model: Some("small".into()),
                base_url: Some("http://other/v1".into()),
                ..Default::default()
            },
        );
        aliases.insert(
            "same".to_owned(),
            ProviderConfig {
                model: Some("big-2".into()),
                ..Default::default()
            },
        );
        Routes::new(&primary, &fallbacks, &aliases)
    }

    fn primary() -> ModelConfig {
        ModelConfig {
            provider: Some("custom".into()),
            default: Some("big".into()),
            base_url: Some("http://primary/v1".into()),
            api_key: Some("sk-primary".into()),
            ..Default::default()
        }
    }

    #[test]
    fn unknown_model_goes_to_primary_with_default_model() {
        let r = routes(primary(), vec![]);
        let route = r.resolve(Some("hermes-agent")).unwrap();
        assert_eq!(route.alias, None);
        assert_eq!(route.model(), "big");
        assert_eq!(route.targets.len(), 1);
    }

    #[test]
    fn alias_keys_are_only_inherited_for_the_same_endpoint() {
        let r = routes(primary(), vec![]);
        let fast = r.resolve(Some("fast")).unwrap();
        assert_eq!(fast.alias.as_deref(), Some("fast"));
        assert_eq!(fast.targets[0].base_url, "http://other/v1");
        assert_eq!(fast.targets[0].api_key, None);
        let same = r.resolve(Some("same")).unwrap();
        assert_eq!(same.targets[0].model, "big-2");
        assert_eq!(
            same.targets[0].api_key.as_ref().map(Secret::expose),
            Some("sk-primary")
        );
        assert!(!format!("{same:?}").contains("sk-primary"));
    }

    #[test]
    fn fallbacks_follow_in_order() {
        let fb = ProviderConfig {
            model: Some("backup".into()),
            base_url: Some("http://backup/v1".into()),
            api_key: Some("sk-b".into()),
            ..Default::default()
        };
        let route = routes(primary(), vec![fb]).resolve(None).unwrap();
        let models: Vec<_> = route.targets.iter().map(|t| t.model.as_str()).collect();
        assert_eq!(models, ["big", "backup"]);
    }

    #[test]
    fn nothing_configured_is_unavailable() {
        let r = routes(ModelConfig::default(), vec![]);
        let error = r.resolve(None).unwrap_err();
        assert!(matches!(
            error,
            Error::Unavailable { code: "no_upstream_configured", ref message, .. }
                if message.contains("model.base_url") && message.contains("model.default")
        ));
    }
}
