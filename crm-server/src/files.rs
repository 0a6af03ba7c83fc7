//! Reports, exports and imports as files and jobs (docs/server.md, "Reports, exports,
//! imports"): a report as JSON, CSV or an SVG chart; a list exported as CSV or XLSX;
//! a spreadsheet imported in the background, checked first, all or nothing.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use crm_core::CrmError;
use serde_json::{json, Map, Value};

use crate::exchange::{json_text, utf8, Body, Caller, Path, Query};
use crate::guard::lock;
use crate::problem::Problem;
use crate::resources::query_fields;
use crate::tenant::Tenant;

/// `GET /v1/reports/{report}?format=json|csv|svg&from=…&to=…&by=…`: the engine's
/// `report` (or, as SVG, its `chart`), each parameter a field of the request.
pub(crate) async fn report(
    Caller { tenant, user }: Caller,
    Path(kind): Path<String>,
    Query(mut params): Query<HashMap<String, String>>,
) -> Result<Response, Problem> {
    let format = params.remove("format").unwrap_or_else(|| "json".into());
    let entry = match format.as_str() {
        "json" | "csv" => "report",
        "svg" => "chart",
        other => return Err(malformed("format", format!("{other:?}: json, csv or svg"))),
    };
    let mut query = query_fields(params);
    query.insert("type".into(), entry.into());
    query.insert("report".into(), kind.clone().into());
    let query = Value::Object(query).to_string();
    let answer = tenant
        .run(move |crm, now| crm.query_json(&user.to_string(), &now.to_rfc3339(), &query))
        .await?;
    match format.as_str() {
        "csv" => {
            let report: Value = parse(&answer)?;
            Ok(file(
                "text/csv; charset=utf-8",
                &format!("{kind}.csv"),
                csv_of(&report)?.into_bytes(),
            ))
        }
        "svg" => {
            let drawing: Value = parse(&answer)?;
            let svg = drawing["svg"].as_str().unwrap_or_default().to_string();
            Ok(([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
        }
        _ => Ok(json_text(StatusCode::OK, answer)),
    }
}

/// `GET /v1/exports/{entity}?format=csv|xlsx`: the records the key's user may read.
pub(crate) async fn export(
    Caller { tenant, user }: Caller,
    Path(entity): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, Problem> {
    let format = params
        .get("format")
        .cloned()
        .unwrap_or_else(|| "csv".into());
    let query = json!({"type": "export", "entity": entity, "format": format}).to_string();
    let answer = tenant
        .run(move |crm, now| crm.query_json(&user.to_string(), &now.to_rfc3339(), &query))
        .await?;
    let export: Value = parse(&answer)?;
    if let Some(csv) = export["csv"].as_str() {
        return Ok(file(
            "text/csv; charset=utf-8",
            &format!("{entity}.csv"),
            csv.as_bytes().to_vec(),
        ));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(export["xlsx_base64"].as_str().unwrap_or_default())
        .map_err(|err| CrmError::Storage {
            reason: format!("the export's XLSX is not base64: {err}"),
        })?;
    Ok(file(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        &format!("{entity}.xlsx"),
        bytes,
    ))
}

/// `POST /v1/imports?dry_run=true`: the body is `import_records`' input (`kind`, `csv`
/// or `spreadsheet_base64`, `mapping`, …). Answers `202` with the job at once; the job
/// checks the file (`check_record_import`), then — unless a dry run, and only if every
/// row is sound — imports it all in one batch (`import_records`).
pub(crate) async fn start_import(
    Caller { tenant, user }: Caller,
    Query(params): Query<HashMap<String, String>>,
    Body(body): Body,
) -> Result<Response, Problem> {
    let dry_run = params.get("dry_run").is_some_and(|value| value == "true");
    let text = utf8(body)?;
    let mut input: Map<String, Value> = serde_json::from_str(&text).map_err(|err| {
        malformed(
            "body",
            format!("the import's input is a JSON object: {err}"),
        )
    })?;
    let id = lock(tenant.jobs()).start(user);
    let worker = Arc::clone(&tenant);
    tokio::spawn(async move {
        input.insert("type".into(), "check_record_import".into());
        let check = Value::Object(input.clone()).to_string();
        let checked = worker
            .run(move |crm, now| crm.query_json(&user.to_string(), &now.to_rfc3339(), &check))
            .await
            .and_then(|answer| parse(&answer).map_err(Problem::from));
        let check = match checked {
            Ok(check) => check,
            Err(problem) => return finish(&worker, id, None, Err(problem)),
        };
        let sound = check["problems"].as_array().is_none_or(Vec::is_empty);
        if dry_run || !sound {
            let mut jobs = lock(worker.jobs());
            if let Some(job) = jobs.get_mut(id) {
                job.status = if sound { "checked" } else { "failed" };
                if !sound {
                    job.problem = Some(
                        json!({"code": "validation", "detail": "some rows have problems (check.problems); nothing was imported"}),
                    );
                }
                job.check = Some(check);
            }
            return;
        }
        if let Some(job) = lock(worker.jobs()).get_mut(id) {
            job.status = "importing";
            job.check = Some(check.clone());
        }
        input.insert("type".into(), "import_records".into());
        let command = Value::Object(input).to_string();
        let imported = worker
            .run(move |crm, now| crm.execute_json(&user.to_string(), &now.to_rfc3339(), &command))
            .await
            .and_then(|answer| parse(&answer).map_err(Problem::from));
        worker.changed();
        finish(&worker, id, Some(check), imported);
    });
    let mut answer = json_text(
        StatusCode::ACCEPTED,
        json!({"id": id, "status": "checking"}).to_string(),
    );
    if let Ok(location) = HeaderValue::from_str(&format!("/v1/imports/{id}")) {
        answer.headers_mut().insert(header::LOCATION, location);
    }
    Ok(answer)
}

/// Records how a job ended.
fn finish(tenant: &Tenant, id: u64, check: Option<Value>, result: Result<Value, Problem>) {
    let mut jobs = lock(tenant.jobs());
    let Some(job) = jobs.get_mut(id) else {
        return;
    };
    if check.is_some() {
        job.check = check;
    }
    match result {
        Ok(mut outcome) => {
            // The events are in the change feed; the job says what was made.
            let events = outcome["events"].as_array().map_or(0, Vec::len);
            if let Some(fields) = outcome.as_object_mut() {
                fields.remove("events");
                fields.insert("events_stored".into(), events.into());
            }
            job.status = "done";
            job.outcome = Some(outcome);
        }
        Err(problem) => {
            job.status = "failed";
            job.problem = Some(
                json!({"code": problem.code, "detail": problem.detail, "field": problem.field}),
            );
        }
    }
}

/// `GET /v1/imports/{id}`: a job of the key's user (or any job, for an admin).
pub(crate) async fn import_status(
    Caller { tenant, user }: Caller,
    Path(id): Path<u64>,
) -> Result<Response, Problem> {
    let job = lock(tenant.jobs()).get(id).cloned();
    let job = match job {
        Some(job) if job.user == user => job,
        Some(job) => {
            tenant
                .require_admin(user, "see another user's import")
                .await?;
            job
        }
        None => return Err(CrmError::not_found("import", id).into()),
    };
    Ok(json_text(StatusCode::OK, job.view(id).to_string()))
}

/// A report's rows as CSV: its list of rows (`rows`, a funnel's `stages`, the rotting
/// `deals`; a summary is one row), nested fields as dotted columns
/// (`amount.amount`, `amount.currency`), lists as JSON text.
fn csv_of(report: &Value) -> Result<String, Problem> {
    let rows: Vec<&Value> = ["rows", "stages", "deals"]
        .iter()
        .find_map(|key| report.get(*key).and_then(Value::as_array))
        .map_or_else(|| vec![report], |rows| rows.iter().collect());
    let mut columns: Vec<String> = Vec::new();
    let mut flat_rows = Vec::new();
    for row in rows {
        let mut flat = Vec::new();
        flatten("", row, &mut flat);
        for (column, _) in &flat {
            if !columns.contains(column) && column != "report" {
                columns.push(column.clone());
            }
        }
        flat_rows.push(flat.into_iter().collect::<HashMap<String, String>>());
    }
    let mut out = csv::Writer::from_writer(Vec::new());
    let write = |err: csv::Error| {
        Problem::from(CrmError::Storage {
            reason: format!("cannot write the CSV: {err}"),
        })
    };
    out.write_record(&columns).map_err(write)?;
    for row in flat_rows {
        out.write_record(
            columns
                .iter()
                .map(|c| row.get(c).map_or("", String::as_str)),
        )
        .map_err(write)?;
    }
    let bytes = out.into_inner().map_err(|err| CrmError::Storage {
        reason: format!("cannot write the CSV: {err}"),
    })?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(fields) => {
            for (name, inner) in fields {
                let column = if prefix.is_empty() {
                    name.clone()
                } else {
                    format!("{prefix}.{name}")
                };
                flatten(&column, inner, out);
            }
        }
        Value::Null => out.push((prefix.to_string(), String::new())),
        Value::String(text) => out.push((prefix.to_string(), text.clone())),
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

fn file(content_type: &'static str, name: &str, bytes: Vec<u8>) -> Response {
    let disposition = format!("attachment; filename=\"{name}\"");
    let mut response = ([(header::CONTENT_TYPE, content_type)], bytes).into_response();
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

fn parse(text: &str) -> Result<Value, CrmError> {
    serde_json::from_str(text).map_err(|err| CrmError::Storage {
        reason: format!("the engine's answer is not JSON: {err}"),
    })
}

fn malformed(path: &str, reason: String) -> Problem {
    CrmError::Malformed {
        path: path.into(),
        reason,
    }
    .into()
}
