//! One listener for REST, gRPC and gRPC-Web: requests whose `Content-Type` starts with
//! `application/grpc` go to the gRPC router, everything else to the REST facade, which reaches the
//! same gRPC router in-process (no socket, no HTTP/2 framing: just the tonic codec).
//!
//! Shutdown: on the signal the server drains — health turns NOT_SERVING, new agent work is refused
//! by the core (503 `gateway_draining`) while running turns finish — then stops accepting
//! connections and waits for open requests (including SSE streams) until the grace period, counted
//! from the signal, is over.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tower::ServiceExt;

use crate::grpc;
use crate::state::AppState;

/// How long open requests may run after the shutdown signal.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(30);

/// REST request bodies above this many bytes get 413.
pub const BODY_LIMIT: usize = 10_000_000;

/// Why serving failed.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The gRPC surface could not be built.
    #[error(transparent)]
    Build(#[from] grpc::BuildError),
    /// The listener failed.
    #[error("server I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// Whether a request is gRPC or gRPC-Web (by content type, as gRPC clients always send it).
fn is_grpc(request: &Request) -> bool {
    request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/grpc"))
}

/// Routes each request to the gRPC router or the REST facade by content type.
pub fn dispatcher(grpc_router: Router, rest_router: Router) -> Router {
    let dispatch = tower::service_fn(move |request: Request| {
        let target = if is_grpc(&request) {
            grpc_router.clone()
        } else {
            rest_router.clone()
        };
        target.oneshot(request)
    });
    Router::new().fallback_service(dispatch)
}

/// The full application (gRPC + REST on one router) over `state`, and the health handle.
pub async fn app(
    state: &AppState,
) -> Result<(Router, tonic_health::server::HealthReporter), ServeError> {
    let surface = grpc::surface(state).await?;
    let transport = caduceus_rest::transport_from_service(surface.router.clone());
    let rest = caduceus_rest::router(
        transport,
        caduceus_rest::FacadeOptions {
            cors_origins: state.config.cors_origins.clone(),
            body_limit: BODY_LIMIT,
        },
    );
    Ok((dispatcher(surface.router, rest), surface.health))
}

/// Serves REST, gRPC and gRPC-Web on `listener` until `shutdown` resolves, then drains for at most
/// `grace`.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> Result<(), ServeError> {
    let (app, health) = app(&state).await?;
    // Runs a previous process left unfinished become `interrupted`; then the job scheduler starts.
    if let Err(error) = state.runs.start().await {
        tracing::error!(%error, "run recovery at start-up failed");
    }
    crate::jobs::spawn_scheduler(&state);
    let local: Option<SocketAddr> = listener.local_addr().ok();
    tracing::info!(address = ?local, "serving REST, gRPC and gRPC-Web");
    let (drained_tx, drained_rx) = tokio::sync::oneshot::channel();
    let result = run(listener, app, shutdown, grace, move || {
        let state = state.clone();
        let health = health.clone();
        async move {
            state.gauges.start_draining();
            grpc::mark_not_serving(&health).await;
            // Runs get most of the requests' grace, then the rest are marked interrupted — a
            // little earlier than connections close, so their watchers still see the end.
            let runs = state.runs.clone();
            let run_grace = grace.mul_f64(0.9);
            let _ = drained_tx.send(tokio::spawn(async move { runs.drain(run_grace).await }));
            // Keep accepting connections while turns are still running, so new agent work gets a
            // clear 503 `gateway_draining` (Retry-After: 1) instead of a refused connection.
            let idle = async {
                while state.gauges.active_agents() > 0 {
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
            };
            let _ = tokio::time::timeout(run_grace, idle).await;
        }
    })
    .await;
    if let Ok(drain) = drained_rx.await {
        let _ = drain.await;
    }
    result
}

/// Serves only the REST facade, calling a remote core at `grpc_upstream` (facade-only mode).
pub async fn serve_facade(
    listener: TcpListener,
    grpc_upstream: &str,
    cors_origins: Vec<String>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> Result<(), ServeError> {
    let channel = tonic::transport::Endpoint::from_shared(grpc_upstream.to_owned())
        .map_err(|error| std::io::Error::new(std::io::ErrorKind::InvalidInput, error))?
        .connect_lazy();
    let rest = caduceus_rest::router(
        caduceus_rest::transport_from_channel(channel),
        caduceus_rest::FacadeOptions {
            cors_origins,
            body_limit: BODY_LIMIT,
        },
    );
    tracing::info!(upstream = grpc_upstream, "serving the REST facade only");
    run(listener, rest, shutdown, grace, || async {}).await
}

async fn run<F, D>(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
    on_drain: F,
) -> Result<(), ServeError>
where
    F: FnOnce() -> D,
    D: Future<Output = ()>,
{
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    // Small SSE events and HTTP/2 frames must not wait for the peer's delayed ACK (Nagle):
    // without TCP_NODELAY each relayed chunk can sit ~40 ms in the kernel (BENCHMARKS.md).
    let listener = listener.tap_io(|tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
    });
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        let _ = stop_rx.wait_for(|stop| *stop).await;
    });
    let server = server.into_future();
    tokio::pin!(server);
    tokio::select! {
        result = &mut server => return Ok(result?),
        () = shutdown => {}
    }
    tracing::info!(
        grace_seconds = grace.as_secs(),
        "shutdown requested: draining"
    );
    // The server keeps running (accepting, answering) while `on_drain` waits for running turns;
    // only then does it stop accepting. The grace period counts from the signal.
    let drain = on_drain();
    tokio::pin!(drain);
    let finish = async {
        let mut drained = false;
        loop {
            tokio::select! {
                result = &mut server => return result,
                () = &mut drain, if !drained => {
                    drained = true;
                    let _ = stop_tx.send(true);
                }
            }
        }
    };
    match tokio::time::timeout(grace, finish).await {
        Ok(result) => Ok(result?),
        Err(_) => {
            tracing::warn!("grace period over: closing the remaining connections");
            Ok(())
        }
    }
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
