//! Cross-cutting HTTP behaviour of API.md §2, as small axum middleware functions: request id,
//! CORS (with 403 for refused origins, which tower-http's `CorsLayer` cannot do), security
//! headers, the error-envelope safety net for axum's own rejections, the body-size limit, the
//! bearer-presence check, and the 404/405 fallbacks. The order is set in `lib.rs`. Whether a key is
//! *right* is the service's decision (it answers `UNAUTHENTICATED`); here only its presence.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use caduceus_proto::v1::ListModelsRequest;

use crate::error::{ApiError, LocalRejection};
use crate::extract::body_too_large;
use crate::metadata::grpc_request;
use crate::state::AppState;

/// Routes served without a bearer token (method-independent paths; only GET/HEAD exist there).
const OPEN_PATHS: &[&str] = &["/health", "/v1/health"];

/// Headers every browser may send (preflight answer), before any requested `X-Stainless-*`.
const ALLOWED_HEADERS: &str = "Authorization, Content-Type, Idempotency-Key, X-Hermes-Session-Id, X-Hermes-Session-Key, X-Request-Id";

/// Methods the API uses.
const ALLOWED_METHODS: &str = "GET, POST, PATCH, DELETE, OPTIONS";

/// Response headers browsers may read.
const EXPOSED_HEADERS: &str =
    "X-Hermes-Session-Id, X-Hermes-Session-Key, X-Request-Id, Idempotency-Replayed";

/// Security headers on every non-SSE response.
const SECURITY_HEADERS: &[(&str, &str)] = &[
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    (
        "content-security-policy",
        "default-src 'none'; frame-ancestors 'none'",
    ),
];

/// Longest client-supplied request id that is echoed (longer ones are replaced).
const MAX_REQUEST_ID_LEN: usize = 200;

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Echoes the client's `x-request-id` (else a new UUID) on the request (so it reaches the service
/// as metadata) and on every response.
pub(crate) async fn request_id(mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(&X_REQUEST_ID)
        .filter(|value| {
            !value.is_empty()
                && value.len() <= MAX_REQUEST_ID_LEN
                && value.as_bytes().iter().all(|b| b.is_ascii_graphic())
        })
        .cloned()
        .or_else(|| HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()).ok());
    let Some(id) = id else {
        return next.run(req).await;
    };
    req.headers_mut().insert(X_REQUEST_ID, id.clone());
    let span = tracing::debug_span!("http", method = %req.method(), path = %req.uri().path(), request_id = ?id);
    let mut response = tracing::Instrument::instrument(next.run(req), span).await;
    response.headers_mut().insert(X_REQUEST_ID, id);
    response
}

/// The configured browser origins.
#[derive(Debug)]
pub(crate) struct CorsPolicy {
    any: bool,
    origins: Vec<String>,
}

impl CorsPolicy {
    /// From `API_SERVER_CORS_ORIGINS` entries (`*` = any; trailing `/` ignored).
    pub(crate) fn new(origins: &[String]) -> Self {
        let origins: Vec<String> = origins
            .iter()
            .map(|origin| origin.trim().trim_end_matches('/').to_ascii_lowercase())
            .filter(|origin| !origin.is_empty())
            .collect();
        Self {
            any: origins.iter().any(|origin| origin == "*"),
            origins,
        }
    }

    fn allows(&self, origin: &HeaderValue) -> bool {
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        self.any
            || self
                .origins
                .iter()
                .any(|allowed| allowed.eq_ignore_ascii_case(origin.trim_end_matches('/')))
    }
}

/// CORS per API.md §2: a refused `Origin` → 403 `cors_forbidden` on every route; an allowed one
/// gets `Access-Control-Allow-Origin` + `Vary: Origin` on every response; preflights → 204.
pub(crate) async fn cors(
    State(policy): State<Arc<CorsPolicy>>,
    req: Request,
    next: Next,
) -> Response {
    let Some(origin) = req.headers().get(header::ORIGIN).cloned() else {
        return next.run(req).await;
    };
    if !policy.allows(&origin) {
        let mut response = ApiError::new(
            StatusCode::FORBIDDEN,
            "cors_forbidden",
            "This origin is not allowed to call the API (see API_SERVER_CORS_ORIGINS).",
        )
        .into_response();
        add_security_headers(&mut response);
        return response;
    }
    if req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        let mut response = StatusCode::NO_CONTENT.into_response();
        let headers = response.headers_mut();
        allow_origin(headers, origin);
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(ALLOWED_METHODS),
        );
        let allowed = preflight_allowed_headers(req.headers());
        if let Ok(value) = HeaderValue::from_str(&allowed) {
            headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, value);
        }
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        add_security_headers(&mut response);
        return response;
    }
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    allow_origin(headers, origin);
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(EXPOSED_HEADERS),
    );
    response
}

fn allow_origin(headers: &mut HeaderMap, origin: HeaderValue) {
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
}

/// The fixed allowed headers plus every `X-Stainless-*` name the preflight asks for (browser
/// builds of the OpenAI SDKs send them); other requested names are not echoed.
fn preflight_allowed_headers(request: &HeaderMap) -> String {
    let mut allowed = ALLOWED_HEADERS.to_owned();
    let requested = request
        .get_all(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|name| {
            name.len() > "x-stainless-".len()
                && name
                    .get(.."x-stainless-".len())
                    .is_some_and(|prefix| prefix.eq_ignore_ascii_case("x-stainless-"))
                && HeaderName::from_bytes(name.as_bytes()).is_ok()
        });
    for name in requested {
        allowed.push_str(", ");
        allowed.push_str(name);
    }
    allowed
}

/// Adds the security headers to every response that is not an event stream.
pub(crate) async fn security_headers(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    add_security_headers(&mut response);
    response
}

fn add_security_headers(response: &mut Response) {
    let is_sse = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/event-stream"));
    if is_sse {
        return;
    }
    for &(name, value) in SECURITY_HEADERS {
        response.headers_mut().insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
}

/// Safety net: any error response that is not already JSON (axum's plain-text rejections, e.g. a
/// path that is not valid UTF-8) is rewritten into the envelope, keeping status and headers.
pub(crate) async fn envelope_errors(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if is_json || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096)
        .await
        .ok()
        .and_then(|bytes| String::from_utf8(bytes.to_vec()).ok())
        .filter(|text| !text.trim().is_empty());
    let error = match status {
        StatusCode::PAYLOAD_TOO_LARGE => body_too_large(),
        StatusCode::NOT_FOUND => ApiError::new(
            status,
            "not_found",
            text.unwrap_or_else(|| "Not found.".into()),
        ),
        StatusCode::METHOD_NOT_ALLOWED => {
            ApiError::new(status, "method_not_allowed", "Method not allowed.")
        }
        _ if status.is_server_error() => {
            tracing::error!(status = %status, detail = ?text, "non-envelope error response");
            ApiError::new(
                status,
                "internal_error",
                "The server had an error while processing your request.",
            )
        }
        _ => ApiError::new(
            status,
            "invalid_request",
            text.unwrap_or_else(|| "Invalid request.".into()),
        ),
    };
    let rebuilt = error.into_response();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::CONTENT_TYPE);
    let (new_parts, new_body) = rebuilt.into_parts();
    parts.headers.extend(new_parts.headers);
    Response::from_parts(parts, new_body)
}

/// 413 `body_too_large` as soon as a declared `Content-Length` exceeds the limit (streamed bodies
/// are cut by axum's `DefaultBodyLimit` while they are read).
pub(crate) async fn content_length_limit(
    State(limit): State<usize>,
    req: Request,
    next: Next,
) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return body_too_large().into_response();
    }
    next.run(req).await
}

/// 401 unless the request carries `Authorization: Bearer <token>` (except the open health routes).
///
/// The facade cannot judge the token itself (the key lives in the service), so a request the
/// facade rejects on its own — malformed body, unknown field — has its token confirmed by one
/// cheap authenticated RPC before the 4xx goes out: a wrong key always gets the 401 envelope,
/// never a hint about the body. Only rejected requests pay for that call.
pub(crate) async fn require_bearer(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    if OPEN_PATHS.contains(&req.uri().path()) {
        return next.run(req).await;
    }
    if !has_bearer(req.headers()) {
        return unauthorized();
    }
    // Only the key matters to the probe: another bad header must not turn a 400 into a 401.
    let mut headers = HeaderMap::new();
    if let Some(value) = req.headers().get(header::AUTHORIZATION) {
        headers.insert(header::AUTHORIZATION, value.clone());
    }
    let response = next.run(req).await;
    if response.extensions().get::<LocalRejection>().is_none()
        || response.status() == StatusCode::UNAUTHORIZED
    {
        return response;
    }
    let Ok(probe) = grpc_request(&headers, ListModelsRequest {}) else {
        return unauthorized();
    };
    match state.discovery.clone().list_models(probe).await {
        Err(status) if status.code() == tonic::Code::Unauthenticated => unauthorized(),
        _ => response,
    }
}

fn unauthorized() -> Response {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_api_key",
        "Invalid API key",
    )
    .into_response()
}

fn has_bearer(headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .is_some_and(|(scheme, token)| {
            scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()
        })
}

/// 404 `not_found` for unknown routes.
pub(crate) async fn not_found(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("No route for {method} {}.", uri.path()),
    )
}

/// 405 `method_not_allowed` for a known path with another method (axum adds `Allow`).
pub(crate) async fn method_not_allowed(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("Method {method} is not allowed on {}.", uri.path()),
    )
}
