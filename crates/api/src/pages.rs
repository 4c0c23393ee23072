//! The web pages (`facepay-web`'s embedded assets) on the same origin as the API they call, under
//! a content security policy that lets them load and connect nowhere else.

use std::sync::Arc;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use facepay_web::{Asset, CONTENT_SECURITY_POLICY, PAGES};

use crate::error::ApiError;
use crate::switch::Switch;

pub fn routes() -> Router<Arc<Switch>> {
    let mut router = Router::new().route("/assets/{name}", get(asset));
    for path in PAGES {
        router = router.route(path, get(page));
    }
    router
}

async fn page(uri: Uri) -> Response {
    facepay_web::page(uri.path()).map_or_else(not_found, serve)
}

async fn asset(Path(name): Path<String>) -> Response {
    facepay_web::asset(&name).map_or_else(not_found, serve)
}

fn not_found() -> Response {
    ApiError::not_found("route_unknown", "no such page").into_response()
}

fn serve(asset: Asset) -> Response {
    let mut response = (StatusCode::OK, asset.body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // The kiosk and enrollment pages use the camera, on this origin only.
    headers.insert("permissions-policy", HeaderValue::from_static("camera=(self), microphone=()"));
    response
}
