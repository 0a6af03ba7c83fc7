//! What every handler uses: the caller of a request (its API key's user), the body as
//! text, a JSON answer.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::FromRequestParts;
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
