//! What every handler uses: the caller of a request (its API key's user), its path and
//! query parameters and body — each refused as problem+json, never as axum's plain
//! text — the body as text, a JSON answer.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use crm_core::{CrmError, UserId};

use crate::hub::Hub;
use crate::problem::Problem;
use crate::tenant::Tenant;

/// The business and user of the request's API key (`Authorization: Bearer crm_…`).
pub(crate) struct Caller {
    pub(crate) tenant: Arc<Tenant>,
    pub(crate) user: UserId,
}

impl FromRequestParts<Arc<Hub>> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, hub: &Arc<Hub>) -> Result<Self, Problem> {
        let key = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .ok_or_else(|| {
                Problem::unauthenticated("an API key is required: Authorization: Bearer <key>")
            })?;
        let (tenant, user) = hub.caller(key.trim().to_string()).await?;
        Ok(Caller { tenant, user })
    }
}

/// Path parameters (`/v1/keys/{id}`); a bad one is `400 malformed` naming it.
pub(crate) struct Path<T>(pub(crate) T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(rejection) => Err(malformed("path", rejection.body_text())),
        }
    }
}

/// Query parameters (`?after=40`); a bad or missing one is `400 malformed` naming it.
pub(crate) struct Query<T>(pub(crate) T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> FromRequestParts<S> for Query<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Query(value)),
            Err(rejection) => Err(malformed("query", rejection.body_text())),
        }
    }
}

/// The request body; one over the limit (2 MiB) is `413 too_large`.
pub(crate) struct Body(pub(crate) Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Self, Problem> {
        match Bytes::from_request(request, state).await {
            Ok(bytes) => Ok(Body(bytes)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(Problem::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    rejection.body_text(),
                ))
            }
            Err(rejection) => Err(malformed("body", rejection.body_text())),
        }
    }
}

fn malformed(path: &str, reason: String) -> Problem {
    CrmError::Malformed {
        path: path.into(),
        reason,
    }
    .into()
}

/// The peer's address, when the server was started with it (`crm-server` is; a test's
/// in-process router is not).
pub(crate) struct Peer(pub(crate) Option<std::net::SocketAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        let connected = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>();
        Ok(Peer(connected.map(|info| info.0)))
    }
}

/// A JSON answer.
pub(crate) fn json_text(status: StatusCode, text: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], text).into_response()
}

/// The body as text: JSON is UTF-8.
pub(crate) fn utf8(body: Bytes) -> Result<String, Problem> {
    String::from_utf8(body.to_vec()).map_err(|err| {
        CrmError::Malformed {
            path: "$".into(),
            reason: format!("the body is not UTF-8: {err}"),
        }
        .into()
    })
}
