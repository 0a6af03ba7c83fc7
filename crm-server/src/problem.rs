//! Errors as `application/problem+json` (RFC 9457), carrying the engine's stable code
//! and, where the engine names one, the JSON path of the field at fault.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use crm_core::CrmError;
use serde_json::json;

/// An error answer.
#[derive(Debug)]
pub struct Problem {
    pub status: StatusCode,
    /// The engine's code (`validation`, `not_found`, …) or the server's own
    /// (`unauthenticated`, `no_route`).
    pub code: &'static str,
    pub detail: String,
    /// The JSON path of the field at fault, when there is one.
    pub field: Option<String>,
    /// How many seconds to wait before trying again (`Retry-After`): for
    /// `rate_limited`, and for `storage` (503).
    pub retry_after: Option<u64>,
}

impl Problem {
    pub(crate) fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Problem {
            status,
            code,
            detail: detail.into(),
            field: None,
            retry_after: None,
        }
    }

    pub(crate) fn unauthenticated(detail: &str) -> Self {
        Problem::new(StatusCode::UNAUTHORIZED, "unauthenticated", detail)
    }

    pub(crate) fn rate_limited(retry_after: u64) -> Self {
        Problem {
            retry_after: Some(retry_after),
            ..Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("too many requests: try again in {retry_after} s"),
            )
        }
    }
}

impl From<CrmError> for Problem {
    fn from(err: CrmError) -> Self {
        let status = match err.code() {
            "malformed" => StatusCode::BAD_REQUEST,
            "not_found" => StatusCode::NOT_FOUND,
            "permission_denied" => StatusCode::FORBIDDEN,
            "conflict" => StatusCode::CONFLICT,
            "too_large" => StatusCode::PAYLOAD_TOO_LARGE,
            "storage" => StatusCode::SERVICE_UNAVAILABLE,
            // validation, currency_mismatch, overflow: understood, but not acceptable.
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        let field = err.field().map(str::to_string);
        Problem {
            status,
            code: err.code(),
            detail: err.to_string(),
            field,
            // The store is away (a database restarting): worth trying again shortly.
            retry_after: (status == StatusCode::SERVICE_UNAVAILABLE).then_some(1),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut body = json!({
            "type": format!("urn:crm-core:problem:{}", self.code),
            "title": self.status.canonical_reason().unwrap_or("Error"),
            "status": self.status.as_u16(),
            "code": self.code,
            "detail": self.detail,
        });
        if let Some(field) = self.field {
            body["field"] = field.into();
        }
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body.to_string(),
        )
            .into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, seconds.into());
        }
        response
    }
}
