//! The node's own routes: liveness, readiness (the store answers and the gallery keeps up),
//! Prometheus metrics and the OpenAPI document.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

use crate::error::{ApiError, ErrorBody};
use crate::openapi::ApiDoc;
use crate::switch::Switch;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
}

#[utoipa::path(get, path = "/health", tag = "system", responses((status = 200, body = Health)))]
pub async fn health() -> Json<Health> {
    Json(Health { status: "ok".into() })
}

#[utoipa::path(get, path = "/ready", tag = "system",
    responses((status = 200, body = Health), (status = 503, body = ErrorBody)))]
pub async fn ready(State(switch): State<Arc<Switch>>) -> Result<Json<Health>, ApiError> {
    let checked = tokio::task::spawn_blocking(move || switch.ready())
        .await
        .map_err(|_| ApiError::internal("the readiness task failed"))?;
    match checked {
        Ok(()) => Ok(Json(Health { status: "ready".into() })),
        Err(code) => Err(ApiError::unavailable("not_ready", format!("not ready: {code}"))),
    }
}

#[utoipa::path(get, path = "/metrics", tag = "system", responses((status = 200, description = "Prometheus text format")))]
pub async fn metrics(State(switch): State<Arc<Switch>>) -> impl IntoResponse {
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; version=0.0.4")], switch.metrics_text())
}

#[utoipa::path(get, path = "/openapi.json", tag = "system", responses((status = 200, description = "This document")))]
pub async fn openapi() -> impl IntoResponse {
    Json(ApiDoc::openapi())
}
