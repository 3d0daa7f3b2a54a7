//! Discovery routes (API.md §3) onto `DiscoveryService`: health, detailed health, models,
//! capabilities, skills and toolsets. `/v1/capabilities` replaces the service's endpoint map by the
//! facade's own route table (`AppState::routes`), so what is advertised is what is served.
//! `GET /metrics` does not belong here.

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::routing::get;
use caduceus_proto::v1::{
    GetCapabilitiesRequest, GetCapabilitiesResponse, GetHealthDetailedRequest,
    GetHealthDetailedResponse, GetHealthRequest, ListModelsRequest, ListModelsResponse,
    ListSkillsRequest, ListSkillsResponse, ListToolsetsRequest, ListToolsetsResponse,
};
use serde_json::{Map, Value, json};

use super::{Route, RouteSpec};
use crate::error::ApiError;
use crate::metadata::{grpc_request, json_reply};
use crate::state::AppState;

/// The discovery family's route table.
pub(crate) fn routes() -> Vec<Route> {
    vec![
        Route::new("health", Method::GET, "/health", get(health)),
        Route::new("health_v1", Method::GET, "/v1/health", get(health)),
        Route::new(
            "health_detailed",
            Method::GET,
            "/health/detailed",
            get(health_detailed),
        ),
        Route::new("models", Method::GET, "/v1/models", get(models)),
        Route::new(
            "capabilities",
            Method::GET,
            "/v1/capabilities",
            get(capabilities),
        ),
        Route::new("skills", Method::GET, "/v1/skills", get(skills)),
        Route::new("toolsets", Method::GET, "/v1/toolsets", get(toolsets)),
    ]
}

async fn health(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let response = state
        .discovery
        .clone()
        .get_health(grpc_request(&headers, GetHealthRequest {})?)
        .await?;
    let body = response.get_ref();
    let json = json!({"status": body.status, "platform": body.platform, "version": body.version});
    Ok(json_reply(StatusCode::OK, response.metadata(), &json))
}

async fn health_detailed(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let response = state
        .discovery
        .clone()
        .get_health_detailed(grpc_request(&headers, GetHealthDetailedRequest {})?)
        .await?;
    Ok(json_reply(
        StatusCode::OK,
        response.metadata(),
        &health_detailed_json(response.get_ref()),
    ))
}

/// `/health/detailed` body: checks as `{status, detail?}` (detail omitted when unset).
pub(crate) fn health_detailed_json(body: &GetHealthDetailedResponse) -> Value {
    let readiness = body.readiness.clone().unwrap_or_default();
    let checks: Map<String, Value> = readiness
        .checks
        .iter()
        .map(|(name, check)| {
            let mut entry = Map::new();
            entry.insert("status".into(), json!(check.status));
            if let Some(detail) = &check.detail {
                entry.insert("detail".into(), json!(detail));
            }
            (name.clone(), Value::Object(entry))
        })
        .collect();
    json!({
        "status": body.status,
        "readiness": {"status": readiness.status, "checks": checks},
        "platform": body.platform,
        "version": body.version,
        "gateway_state": body.gateway_state,
        "active_agents": body.active_agents,
        "active_runs": body.active_runs,
        "uptime_seconds": body.uptime_seconds,
        "pid": body.pid,
    })
}

async fn models(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let response = state
        .discovery
        .clone()
        .list_models(grpc_request(&headers, ListModelsRequest {})?)
        .await?;
    Ok(json_reply(
        StatusCode::OK,
        response.metadata(),
        &models_json(response.get_ref()),
    ))
}

/// `/v1/models` body (`parent` is null for the advertised model itself).
pub(crate) fn models_json(body: &ListModelsResponse) -> Value {
    let data: Vec<Value> = body
        .data
        .iter()
        .map(|model| {
            json!({
                "id": model.id,
                "object": "model",
                "created": model.created,
                "owned_by": model.owned_by,
                "root": model.root,
                "parent": model.parent,
            })
        })
        .collect();
    json!({"object": "list", "data": data})
}

async fn capabilities(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let response = state
        .discovery
        .clone()
        .get_capabilities(grpc_request(&headers, GetCapabilitiesRequest {})?)
        .await?;
    Ok(json_reply(
        StatusCode::OK,
        response.metadata(),
        &capabilities_json(response.get_ref(), &state.routes),
    ))
}

/// `/v1/capabilities` body: the RPC's answer with `endpoints` replaced by the REST route table.
pub(crate) fn capabilities_json(body: &GetCapabilitiesResponse, routes: &[RouteSpec]) -> Value {
    let auth = body.auth.clone().unwrap_or_default();
    let runtime = body.runtime.clone().unwrap_or_default();
    let mut features: Map<String, Value> = body
        .features
        .iter()
        .map(|(name, enabled)| (name.clone(), Value::Bool(*enabled)))
        .collect();
    features.insert(
        "session_continuity_header".into(),
        json!(body.session_continuity_header),
    );
    features.insert("session_key_header".into(), json!(body.session_key_header));
    let endpoints: Map<String, Value> = routes
        .iter()
        .map(|route| {
            (
                route.name.to_owned(),
                json!({"method": route.method.as_str(), "path": route.path}),
            )
        })
        .collect();
    json!({
        "object": "hermes.api_server.capabilities",
        "platform": body.platform,
        "model": body.model,
        "auth": {"type": auth.r#type, "required": auth.required},
        "runtime": {"mode": runtime.mode, "tool_execution": runtime.tool_execution},
        "features": features,
        "endpoints": endpoints,
    })
}

async fn skills(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let response = state
        .discovery
        .clone()
        .list_skills(grpc_request(&headers, ListSkillsRequest {})?)
        .await?;
    Ok(json_reply(
        StatusCode::OK,
        response.metadata(),
        &skills_json(response.get_ref()),
    ))
}

/// `/v1/skills` body (`category` null at the skills root).
pub(crate) fn skills_json(body: &ListSkillsResponse) -> Value {
    let data: Vec<Value> = body
        .data
        .iter()
        .map(|skill| {
            json!({"name": skill.name, "description": skill.description, "category": skill.category})
        })
        .collect();
    json!({"object": "list", "data": data})
}

async fn toolsets(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let response = state
        .discovery
        .clone()
        .list_toolsets(grpc_request(&headers, ListToolsetsRequest {})?)
        .await?;
    Ok(json_reply(
        StatusCode::OK,
        response.metadata(),
        &toolsets_json(response.get_ref()),
    ))
}

/// `/v1/toolsets` body.
pub(crate) fn toolsets_json(body: &ListToolsetsResponse) -> Value {
    let data: Vec<Value> = body
        .data
        .iter()
        .map(|toolset| {
            json!({
                "name": toolset.name,
                "label": toolset.label,
                "description": toolset.description,
                "enabled": toolset.enabled,
                "configured": toolset.configured,
                "tools": toolset.tools,
            })
        })
        .collect();
    let platform = if body.platform.is_empty() {
        "api_server"
    } else {
        body.platform.as_str()
    };
    json!({"object": "list", "platform": platform, "data": data})
}
