//! The route table: every family module exposes `routes() -> Vec<Route>`; this file concatenates
//! them, registers them on the axum router and keeps their specs for `/v1/capabilities`, so the
//! advertised endpoint list cannot drift from what is served. Handlers live in the family modules.

use std::collections::BTreeMap;

use axum::Router;
use axum::http::Method;
use axum::routing::MethodRouter;

use crate::state::AppState;

pub(crate) mod chat;
pub(crate) mod discovery;
pub(crate) mod jobs;
pub(crate) mod responses;
pub(crate) mod runs;
pub(crate) mod sessions;

/// One REST endpoint as advertised: a stable name, the method and the axum path template.
#[derive(Debug, Clone)]
pub struct RouteSpec {
    pub name: &'static str,
    pub method: Method,
    pub path: &'static str,
}

/// One REST endpoint: its spec and the handler serving it (a `MethodRouter` for that method).
pub struct Route {
    pub spec: RouteSpec,
    pub handler: MethodRouter<AppState>,
}

impl Route {
    /// Shorthand for building a route in the family tables.
    pub fn new(
        name: &'static str,
        method: Method,
        path: &'static str,
        handler: MethodRouter<AppState>,
    ) -> Self {
        Self {
            spec: RouteSpec { name, method, path },
            handler,
        }
    }
}

/// Every route of every family, in the order they are advertised.
pub(crate) fn all() -> Vec<Route> {
    let mut routes = discovery::routes();
    routes.extend(chat::routes());
    routes.extend(responses::routes());
    routes.extend(sessions::routes());
    routes.extend(runs::routes());
    routes.extend(jobs::routes());
    routes
}

/// Registers `routes` (handlers sharing a path are merged) and returns the router and the specs.
pub(crate) fn build(routes: Vec<Route>) -> (Router<AppState>, Vec<RouteSpec>) {
    let mut specs = Vec::with_capacity(routes.len());
    let mut by_path: BTreeMap<&'static str, MethodRouter<AppState>> = BTreeMap::new();
    for route in routes {
        let path = route.spec.path;
        specs.push(route.spec);
        let merged = match by_path.remove(path) {
            Some(existing) => existing.merge(route.handler),
            None => route.handler,
        };
        by_path.insert(path, merged);
    }
    let router = by_path
        .into_iter()
        .fold(Router::new(), |router, (path, handler)| {
            router.route(path, handler)
        });
    (router, specs)
}
