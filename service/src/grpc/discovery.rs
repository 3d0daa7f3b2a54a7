//! `caduceus.v1.DiscoveryService`: health, readiness, models, capabilities, skills, toolsets and
//! the core's Prometheus metrics (`GetMetrics`, served by the facade at `GET /metrics`).
//!
//! Readiness checks are real and bounded: a database round trip (at most
//! [`DATABASE_CHECK_TIMEOUT`]; on PostgreSQL also failing while this replica's liveness lock or
//! notification listener is being re-established), the last upstream call's outcome, free space
//! on the home volume, and whether an upstream is configured. Details never carry keys, paths or
//! raw errors.

use std::collections::HashMap;

use caduceus_proto::v1::discovery_service_server::DiscoveryService;
use caduceus_proto::v1::{
    AuthCapabilities, Endpoint, GetCapabilitiesRequest, GetCapabilitiesResponse,
    GetHealthDetailedRequest, GetHealthDetailedResponse, GetHealthRequest, GetHealthResponse,
    GetMetricsRequest, GetMetricsResponse, HealthCheck, ListModelsRequest, ListModelsResponse,
    ListSkillsRequest, ListSkillsResponse, ListToolsetsRequest, ListToolsetsResponse, Model,
    Readiness, RuntimeCapabilities, Skill, Toolset,
};
use tonic::{Request, Response, Status};

use crate::discovery::{methods, skills, toolsets};
use crate::state::{AppState, UpstreamOutcome};
use crate::tools::is_implemented;

/// `platform` of every discovery answer (wire compatibility with the reference server).
pub const PLATFORM: &str = "hermes-agent";

/// Below this much free space on the home volume the `disk` check fails.
const MIN_FREE_BYTES: u64 = 100 * 1024 * 1024;

/// A database that has not answered a ping within this long counts as down (the check must
/// never hang `/health/detailed`).
pub const DATABASE_CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Feature flags reported by `/v1/capabilities`: what this build really serves.
const FEATURES: &[(&str, bool)] = &[
    ("health", true),
    ("health_detailed", true),
    ("metrics", true),
    ("models", true),
    ("skills", true),
    ("toolsets", true),
    ("grpc", true),
    ("grpc_web", true),
    ("grpc_reflection", true),
    ("chat_completions", true),
    ("chat_completions_streaming", true),
    ("tool_progress_events", true),
    ("client_tools", true),
    ("responses_api", true),
    ("responses_streaming", true),
    ("sessions_api", true),
    ("run_submission", true),
    ("run_events_sse", true),
    ("run_approvals", true),
    ("run_stop", true),
    ("jobs_api", true),
    ("idempotency_keys", true),
];

/// The discovery RPCs over the shared state.
#[derive(Clone)]
pub struct Discovery {
    state: AppState,
}

impl Discovery {
    /// A discovery service reading `state`.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }

    async fn database_check(&self) -> HealthCheck {
        match tokio::time::timeout(DATABASE_CHECK_TIMEOUT, self.state.store.ping()).await {
            Ok(Ok(elapsed)) => match self.state.runs.replica_problem() {
                // Reachable, but this replica is not (yet again) coordinated with the others.
                Some(problem) => failed_check(problem),
                None => ok_check(Some(format!("round trip {} ms", elapsed.as_millis()))),
            },
            Ok(Err(error)) => {
                tracing::warn!(%error, "database health check failed");
                failed_check("database unreachable")
            }
            Err(_) => {
                tracing::warn!("database health check timed out");
                failed_check("database did not answer in time")
            }
        }
    }

    fn upstream_check(&self) -> HealthCheck {
        if !self.state.config.model.is_configured() {
            return failed_check("no upstream configured: set model.base_url and model.default");
        }
        match self.state.gauges.upstream() {
            UpstreamOutcome::NotCalledYet => ok_check(Some("not called yet".into())),
            UpstreamOutcome::Ok => ok_check(Some("last call succeeded".into())),
            UpstreamOutcome::Failed(why) => failed_check(&format!("last call failed: {why}")),
        }
    }

    fn disk_check(&self) -> HealthCheck {
        match rustix::fs::statvfs(&self.state.config.home) {
            Ok(stats) => {
                let free = stats.f_bavail.saturating_mul(stats.f_frsize);
                let detail = format!("{} MiB free", free / (1024 * 1024));
                if free >= MIN_FREE_BYTES {
                    ok_check(Some(detail))
                } else {
                    failed_check(&format!("low disk space: {detail}"))
                }
            }
            Err(_) => failed_check("home directory not accessible"),
        }
    }

    fn config_check(&self) -> HealthCheck {
        if self.state.config.model.is_configured() {
            ok_check(None)
        } else {
            failed_check("upstream model not configured")
        }
    }
}

fn ok_check(detail: Option<String>) -> HealthCheck {
    HealthCheck {
        status: "ok".into(),
        detail,
    }
}

fn failed_check(detail: &str) -> HealthCheck {
    HealthCheck {
        status: "error".into(),
        detail: Some(detail.to_owned()),
    }
}

#[tonic::async_trait]
impl DiscoveryService for Discovery {
    async fn get_health(
        &self,
        _request: Request<GetHealthRequest>,
    ) -> Result<Response<GetHealthResponse>, Status> {
        Ok(Response::new(GetHealthResponse {
            status: "ok".into(),
            platform: PLATFORM.into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }))
    }

    async fn get_health_detailed(
        &self,
        _request: Request<GetHealthDetailedRequest>,
    ) -> Result<Response<GetHealthDetailedResponse>, Status> {
        let checks: HashMap<String, HealthCheck> = [
            ("database", self.database_check().await),
            ("upstream", self.upstream_check()),
            ("disk", self.disk_check()),
            ("config", self.config_check()),
        ]
        .into_iter()
        .map(|(name, check)| (name.to_owned(), check))
        .collect();
        let status = if checks.values().all(|check| check.status == "ok") {
            "ok"
        } else {
            "degraded"
        };
        let gauges = &self.state.gauges;
        Ok(Response::new(GetHealthDetailedResponse {
            status: status.into(),
            readiness: Some(Readiness {
                status: status.into(),
                checks,
            }),
            platform: PLATFORM.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            gateway_state: if gauges.is_draining() {
                "draining"
            } else {
                "running"
            }
            .into(),
            active_agents: gauges.active_agents(),
            active_runs: gauges.active_runs(),
            uptime_seconds: gauges.uptime_seconds(),
            pid: i64::from(std::process::id()),
        }))
    }

    async fn list_models(
        &self,
        _request: Request<ListModelsRequest>,
    ) -> Result<Response<ListModelsResponse>, Status> {
        let config = &self.state.config;
        let created = self.state.gauges.started_unix();
        let root = config
            .model
            .default
            .clone()
            .unwrap_or_else(|| config.model_name.clone());
        let mut data = vec![Model {
            id: config.model_name.clone(),
            created,
            owned_by: "hermes".into(),
            root,
            parent: None,
        }];
        data.extend(config.model_routes.iter().map(|(alias, route)| {
            Model {
                id: alias.clone(),
                created,
                owned_by: "hermes".into(),
                root: route
                    .model
                    .clone()
                    .or_else(|| config.model.default.clone())
                    .unwrap_or_else(|| config.model_name.clone()),
                parent: Some(config.model_name.clone()),
            }
        }));
        Ok(Response::new(ListModelsResponse { data }))
    }

    async fn get_capabilities(
        &self,
        _request: Request<GetCapabilitiesRequest>,
    ) -> Result<Response<GetCapabilitiesResponse>, Status> {
        let endpoints = methods::caduceus_methods()
            .into_iter()
            .map(|method| {
                (
                    method.name,
                    Endpoint {
                        method: "GRPC".into(),
                        path: method.path,
                    },
                )
            })
            .collect();
        Ok(Response::new(GetCapabilitiesResponse {
            platform: PLATFORM.into(),
            model: self.state.config.model_name.clone(),
            auth: Some(AuthCapabilities {
                r#type: "bearer".into(),
                required: true,
            }),
            runtime: Some(RuntimeCapabilities {
                mode: "server_agent".into(),
                tool_execution: "server".into(),
            }),
            features: FEATURES
                .iter()
                .map(|(name, on)| ((*name).to_owned(), *on))
                .collect(),
            session_continuity_header: "X-Hermes-Session-Id".into(),
            session_key_header: "X-Hermes-Session-Key".into(),
            endpoints,
        }))
    }

    async fn list_skills(
        &self,
        _request: Request<ListSkillsRequest>,
    ) -> Result<Response<ListSkillsResponse>, Status> {
        let dir = self.state.config.home.join("skills");
        let data = tokio::task::spawn_blocking(move || skills::scan(&dir))
            .await
            .map_err(|error| Status::from(crate::error::Error::Internal(error.to_string())))?
            .into_iter()
            .map(|skill| Skill {
                name: skill.name,
                description: skill.description,
                category: skill.category,
            })
            .collect();
        Ok(Response::new(ListSkillsResponse { data }))
    }

    async fn list_toolsets(
        &self,
        _request: Request<ListToolsetsRequest>,
    ) -> Result<Response<ListToolsetsResponse>, Status> {
        let configured = self.state.config.toolsets.as_deref();
        let data = toolsets::BUILTIN_TOOLSETS
            .iter()
            .map(|spec| {
                // "configured": this build can serve every tool of the set; "enabled": and the
                // platform configuration offers it to the model.
                let available = spec.tools.iter().all(|tool| is_implemented(tool));
                (spec, available)
            })
            .map(|(spec, available)| Toolset {
                name: spec.name.into(),
                label: spec.label.into(),
                description: spec.description.into(),
                enabled: available && toolsets::is_enabled(configured, spec.name),
                configured: available,
                tools: spec.tools.iter().map(|tool| (*tool).to_owned()).collect(),
            })
            .collect();
        Ok(Response::new(ListToolsetsResponse {
            platform: "api_server".into(),
            data,
        }))
    }

    async fn get_metrics(
        &self,
        _request: Request<GetMetricsRequest>,
    ) -> Result<Response<GetMetricsResponse>, Status> {
        let gauges = &self.state.gauges;
        let metrics = gauges.metrics();
        metrics.set_live(gauges.active_agents(), gauges.active_runs());
        Ok(Response::new(GetMetricsResponse {
            text: metrics.encode(),
            content_type: caduceus_observability::metrics::CONTENT_TYPE.into(),
        }))
    }
}
