//! Intake over HTTP (docs/server.md, "Intake"): what arrives without a user's key.
//!
//! - `POST /v1/intake/{business}/forms/{form}`: a web form, posted by visitors'
//!   browsers — urlencoded or JSON, with the form's public token, CORS for the sites
//!   configured, a honeypot field, a rate limit per address; `receive_form` as
//!   `system`.
//! - `POST /v1/intake/{business}/calls`: the PBX's webhook, signed per Standard
//!   Webhooks with the business's PBX secret; `receive_call` as `system`.
//! - `POST /v1/intake/email`: a raw message (`message/rfc822`) uploaded with an admin's
//!   key (a mail server's pipe); `receive_email` as that admin.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use chrono::Utc;
use crm_core::CrmError;
use hmac::{Hmac, Mac};
use serde_json::{json, Map, Value};
use sha2::Sha256;

use crate::config::FormConfig;
use crate::exchange::{json_text, utf8, Body, Caller, Path, Peer};
use crate::hub::Hub;
use crate::limits::RateLimit;
use crate::problem::Problem;
use crate::tenant::Tenant;

/// A Standard Webhooks timestamp further than this from the server's clock is refused
/// (a replayed old request).
const TOLERANCE_SECONDS: i64 = 300;

/// Per address and form, unless configured: 10 a minute, 5 at once.
const FORM_RATE: RateLimit = RateLimit {
    per_minute: 10,
    burst: 5,
};

/// The business named in the path, or `404`.
fn business(hub: &Hub, name: &str) -> Result<Arc<Tenant>, Problem> {
    hub.tenant(name)
        .cloned()
        .ok_or_else(|| CrmError::not_found("business", name).into())
}

/// The form's settings, or `404` (an unconfigured form is not public).
fn form_of(tenant: &Tenant, form: &str) -> Result<FormConfig, Problem> {
    tenant
        .intake()
        .forms
        .get(form)
        .cloned()
        .ok_or_else(|| CrmError::not_found("form", form).into())
}

/// The CORS answer headers for `origin` if the form allows it; `Err` for a browser
/// posting from a site the form does not name.
fn cors(
    form: &FormConfig,
    headers: &HeaderMap,
) -> Result<Vec<(header::HeaderName, HeaderValue)>, Problem> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        // Not from a browser script (a server-side post, a plain HTML form of an
        // older browser): nothing to allow.
        return Ok(Vec::new());
    };
    let allowed = origin
        .to_str()
        .is_ok_and(|origin| form.origins.iter().any(|o| o == origin));
    if !allowed {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "permission_denied",
            "this form does not take submissions from that site (its origins in the configuration)",
        ));
    }
    Ok(vec![
        (header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone()),
        (header::VARY, HeaderValue::from_static("Origin")),
    ])
}

/// `OPTIONS`: a browser's preflight before a script posts the form.
pub(crate) async fn form_preflight(
    State(hub): State<Arc<Hub>>,
    Path((name, form)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let tenant = business(&hub, &name)?;
    let form = form_of(&tenant, &form)?;
    let mut answer = StatusCode::NO_CONTENT.into_response();
    for (name, value) in cors(&form, &headers)? {
        answer.headers_mut().insert(name, value);
    }
    let allow = answer.headers_mut();
    allow.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("POST"),
    );
    allow.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Content-Type, X-Form-Token"),
    );
    allow.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    Ok(answer)
}

/// `POST`: one submission of a public web form.
pub(crate) async fn form(
    State(hub): State<Arc<Hub>>,
    Path((name, form_id)): Path<(String, String)>,
    Peer(address): Peer,
    headers: HeaderMap,
    Body(body): Body,
) -> Response {
    let tenant = match business(&hub, &name) {
        Ok(tenant) => tenant,
        Err(problem) => return problem.into_response(),
    };
    let form = match form_of(&tenant, &form_id) {
        Ok(form) => form,
        Err(problem) => return problem.into_response(),
    };
    let allow = match cors(&form, &headers) {
        Ok(allow) => allow,
        Err(problem) => return problem.into_response(),
    };
    let mut answer = match submit(&tenant, &form_id, &form, address, &headers, body).await {
        Ok(answer) => answer,
        Err(problem) => problem.into_response(),
    };
    for (name, value) in allow {
        answer.headers_mut().insert(name, value);
    }
    answer
}

async fn submit(
    tenant: &Arc<Tenant>,
    form_id: &str,
    form: &FormConfig,
    address: Option<SocketAddr>,
    headers: &HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, Problem> {
    let ip = address.map_or_else(|| "unknown".to_string(), |at| at.ip().to_string());
    let limit = form.rate_limit.map_or(FORM_RATE, Into::into);
    tenant.take_token(&format!("form {form_id} {ip}"), limit)?;
    let urlencoded = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|kind| kind.starts_with("application/x-www-form-urlencoded"));
    let mut fields = if urlencoded {
        form_urlencoded::parse(&body)
            .map(|(name, value)| (name.into_owned(), value.into_owned()))
            .collect::<BTreeMap<String, String>>()
    } else {
        let text = utf8(body)?;
        let object: Map<String, Value> =
            serde_json::from_str(&text).map_err(|err| CrmError::Malformed {
                path: "body".into(),
                reason: format!("a form is urlencoded or a JSON object of fields: {err}"),
            })?;
        object
            .into_iter()
            .map(|(name, value)| match value {
                Value::String(text) => (name, text),
                other => (name, other.to_string()),
            })
            .collect()
    };
    let token = fields.remove("_token").or_else(|| {
        headers
            .get("x-form-token")
            .and_then(|value| value.to_str().ok())
            .map(str::to_string)
    });
    if token.as_deref() != Some(form.token.as_str()) {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "permission_denied",
            "the form's token is missing or wrong (_token or X-Form-Token)",
        ));
    }
    let honeypot = form.honeypot.as_deref().unwrap_or("website");
    let caught = fields
        .remove(honeypot)
        .is_some_and(|value| !value.trim().is_empty());
    let received = accepted(form, urlencoded);
    if caught {
        // Answered as if taken, so a bot learns nothing; nothing is stored.
        tracing::info!(form = form_id, %ip, "a form submission filled the honeypot: dropped");
        return Ok(received);
    }
    let utm: BTreeMap<String, String> = fields
        .iter()
        .filter(|(name, _)| name.starts_with("utm_"))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    fields.retain(|name, _| !name.starts_with("utm_"));
    let page = headers
        .get(header::REFERER)
        .and_then(|value| value.to_str().ok())
        .map(str::to_string);
    let command = json!({"type": "receive_form", "form": form_id, "fields": fields,
                         "page": page, "utm": utm})
    .to_string();
    tenant
        .run(move |crm, now| crm.execute_json("system", &now.to_rfc3339(), &command))
        .await?;
    tenant.changed();
    Ok(received)
}

/// What a taken submission is answered with: a `303` to the thank-you page for an
/// ordinary form post when one is configured, else `202 {"received": true}`.
fn accepted(form: &FormConfig, urlencoded: bool) -> Response {
    match (&form.redirect, urlencoded) {
        (Some(to), true) => match HeaderValue::from_str(to) {
            Ok(location) => (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response(),
            Err(_) => json_text(StatusCode::ACCEPTED, json!({"received": true}).to_string()),
        },
        _ => json_text(StatusCode::ACCEPTED, json!({"received": true}).to_string()),
    }
}

/// `POST /v1/intake/{business}/calls`: a call from the PBX, signed.
pub(crate) async fn call(
    State(hub): State<Arc<Hub>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, Problem> {
    let tenant = business(&hub, &name)?;
    let Some(secret) = tenant.intake().pbx_secret.clone() else {
        return Err(CrmError::not_found("PBX webhook of business", &name).into());
    };
    let text = utf8(body)?;
    verify(&secret, &headers, &text, tenant.now())?;
    let mut command: Map<String, Value> =
        serde_json::from_str(&text).map_err(|err| CrmError::Malformed {
            path: "body".into(),
            reason: format!("a call is {{\"call\": …}} or {{\"asterisk_cdr\": …}}: {err}"),
        })?;
    command.insert("type".into(), "receive_call".into());
    let command = Value::Object(command).to_string();
    let outcome = tenant
        .run(move |crm, now| crm.execute_json("system", &now.to_rfc3339(), &command))
        .await?;
    tenant.changed();
    Ok(json_text(StatusCode::OK, outcome))
}

/// Checks a Standard Webhooks signature made with `secret` (`whsec_…`) over the
/// request, its timestamp within five minutes of `now`.
fn verify(
    secret: &str,
    headers: &HeaderMap,
    body: &str,
    now: chrono::DateTime<Utc>,
) -> Result<(), Problem> {
    let refused = |why: &str| {
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            format!("the PBX's signature: {why} (Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature)"),
        )
    };
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let (Some(id), Some(timestamp), Some(signatures)) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    ) else {
        return Err(refused("missing"));
    };
    let sent: i64 = timestamp
        .parse()
        .map_err(|_| refused("the timestamp is not a number"))?;
    if (now.timestamp() - sent).abs() > TOLERANCE_SECONDS {
        return Err(refused("the timestamp is more than five minutes away"));
    }
    let key = secret
        .strip_prefix("whsec_")
        .and_then(|encoded| {
            base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .ok()
        })
        .ok_or_else(|| refused("the configured secret is not whsec_ and base64"))?;
    let signed = format!("{id}.{timestamp}.{body}");
    let matches = signatures.split(' ').any(|signature| {
        let Some(given) = signature.strip_prefix("v1,").and_then(|encoded| {
            base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .ok()
        }) else {
            return false;
        };
        Hmac::<Sha256>::new_from_slice(&key).is_ok_and(|mut mac| {
            mac.update(signed.as_bytes());
            // Constant time, so the signature cannot be guessed byte by byte.
            mac.verify_slice(&given).is_ok()
        })
    });
    if matches {
        Ok(())
    } else {
        Err(refused("it does not match"))
    }
}

/// `POST /v1/intake/email`: a raw message, uploaded with an admin's key.
pub(crate) async fn email(
    Caller { tenant, user }: Caller,
    Body(body): Body,
) -> Result<Response, Problem> {
    let command = json!({
        "type": "receive_email",
        "raw_base64": base64::engine::general_purpose::STANDARD.encode(&body),
        "mailbox": tenant.intake().mailbox,
    })
    .to_string();
    let outcome = tenant
        .run(move |crm, now| crm.execute_json(&user.to_string(), &now.to_rfc3339(), &command))
        .await?;
    tenant.changed();
    Ok(json_text(StatusCode::OK, outcome))
}
