//! Export to CSV or XLSX: contacts, companies, deals, tasks or activities the actor may
//! read, one row each, names beside IDs, times in the business time zone (as people read
//! them in a spreadsheet), custom fields as `custom.<key>` columns.

#[cfg(feature = "spreadsheets")]
mod xlsx;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::access::Access;
use crate::common::error::CrmError;
use crate::common::id::{AnyId, UserId};
use crate::common::validate;
use crate::list;
use crate::model::custom_field::{CustomValues, EntityKind};
use crate::model::export::*;
use crate::model::query::{ActivityFilter, CompanyFilter, ContactFilter, DealFilter, TaskFilter};
use crate::state::State;

pub(crate) fn export(
    state: &State,
    access: &Access<'_>,
    request: &ExportRequest,
    now: DateTime<Utc>,
) -> Result<Export, CrmError> {
    let zone = state.calendar.time_zone;
    let time = |at: Option<DateTime<Utc>>| {
        at.map(|at| {
            at.with_timezone(&zone)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_default()
    };
    let user = |id: UserId| {
        state
            .users
            .get(&id)
            .map(|u| u.name.clone())
            .unwrap_or_default()
    };
    let record = |id: Option<AnyId>| id.map(|id| id.to_string()).unwrap_or_default();
    let list = |items: &[String]| items.join("; ");
    let custom_keys = |entity: EntityKind| -> Vec<String> {
        state
            .fields
            .get(&entity)
            .map(|fields| fields.keys().cloned().collect())
            .unwrap_or_default()
    };
    let custom = |values: &CustomValues, keys: &[String]| -> Vec<String> {
        keys.iter()
            .map(|key| match values.get(key).map(serde_json::to_value) {
                Some(Ok(Value::String(text))) => text,
                Some(Ok(Value::Null)) | None => String::new(),
                Some(Ok(other)) => other.to_string(),
                Some(Err(_)) => String::new(),
            })
            .collect()
    };
    let at = format!(" ({zone})");
    let mut header: Vec<String>;
    let mut rows: Vec<Vec<String>> = Vec::new();
    match request.entity {
        ExportEntity::Contacts => {
            let keys = custom_keys(EntityKind::Contact);
            header = [
                "id", "name", "company", "position", "phones", "emails", "address", "source",
                "tags", "owner",
            ]
            .map(String::from)
            .to_vec();
            header.push(format!("created_at{at}"));
            header.extend(keys.iter().map(|key| format!("custom.{key}")));
            for contact in rows_limit(list::matching_contacts(
                state,
                access,
                &ContactFilter::default(),
                None,
            )?)? {
                let f = &contact.fields;
                let company = f.company.and_then(|id| state.companies.get(&id));
                let mut row = vec![
                    contact.id.to_string(),
                    f.name.clone(),
                    company.map(|c| c.fields.name.clone()).unwrap_or_default(),
                    f.position.clone().unwrap_or_default(),
                    list(&f.phones),
                    list(&f.emails),
                    f.address.clone().unwrap_or_default(),
                    f.source.clone().unwrap_or_default(),
                    f.tags.iter().cloned().collect::<Vec<_>>().join("; "),
                    user(contact.owner),
                    time(Some(contact.created_at)),
                ];
                row.extend(custom(&f.custom, &keys));
                rows.push(row);
            }
        }
        ExportEntity::Companies => {
            let keys = custom_keys(EntityKind::Company);
            header = [
                "id", "name", "phones", "emails", "website", "address", "source", "tags", "owner",
            ]
            .map(String::from)
            .to_vec();
            header.push(format!("created_at{at}"));
            header.extend(keys.iter().map(|key| format!("custom.{key}")));
            for company in rows_limit(list::matching_companies(
                state,
                access,
                &CompanyFilter::default(),
            ))? {
                let f = &company.fields;
                let mut row = vec![
                    company.id.to_string(),
                    f.name.clone(),
                    list(&f.phones),
                    list(&f.emails),
                    f.website.clone().unwrap_or_default(),
                    f.address.clone().unwrap_or_default(),
                    f.source.clone().unwrap_or_default(),
                    f.tags.iter().cloned().collect::<Vec<_>>().join("; "),
                    user(company.owner),
                    time(Some(company.created_at)),
                ];
                row.extend(custom(&f.custom, &keys));
                rows.push(row);
            }
        }
        ExportEntity::Deals => {
            let keys = custom_keys(EntityKind::Deal);
            header = [
                "id",
                "title",
                "pipeline",
                "stage",
                "status",
                "amount",
                "currency",
                "contact",
                "company",
                "owner",
                "source",
                "expected_close",
                "lost_reason",
            ]
            .map(String::from)
            .to_vec();
            header.push(format!("created_at{at}"));
            header.push(format!("closed_at{at}"));
            header.extend(keys.iter().map(|key| format!("custom.{key}")));
            for deal in rows_limit(list::matching_deals(state, access, &DealFilter::default()))? {
                let f = &deal.fields;
                let pipeline = state.pipelines.get(&deal.pipeline);
                let stage = pipeline.and_then(|p| p.stage(deal.stage));
                let mut row = vec![
                    deal.id.to_string(),
                    f.title.clone(),
                    pipeline.map(|p| p.name.clone()).unwrap_or_default(),
                    stage.map(|s| s.name.clone()).unwrap_or_default(),
                    validate::json_name(&deal.status),
                    f.amount.map(|m| m.amount().to_string()).unwrap_or_default(),
                    f.amount
                        .map(|m| m.currency().code().to_string())
                        .unwrap_or_default(),
                    f.contact
                        .and_then(|id| state.contacts.get(&id))
                        .map(|c| c.fields.name.clone())
                        .unwrap_or_default(),
                    f.company
                        .and_then(|id| state.companies.get(&id))
                        .map(|c| c.fields.name.clone())
                        .unwrap_or_default(),
                    user(deal.owner),
                    f.source.clone().unwrap_or_default(),
                    f.expected_close.map(|d| d.to_string()).unwrap_or_default(),
                    deal.lost_reason.clone().unwrap_or_default(),
                    time(Some(deal.created_at)),
                    time(deal.closed_at),
                ];
                row.extend(custom(&f.custom, &keys));
                rows.push(row);
            }
        }
        ExportEntity::Tasks => {
            header = ["id", "title", "kind", "status", "assignee", "link"]
                .map(String::from)
                .to_vec();
            header.extend([
                format!("due{at}"),
                format!("created_at{at}"),
                format!("closed_at{at}"),
            ]);
            for task in rows_limit(
                list::matching_tasks(state, access, &TaskFilter::default(), now).into_iter(),
            )? {
                rows.push(vec![
                    task.id.to_string(),
                    task.title.clone(),
                    task.kind.clone(),
                    validate::json_name(&task.status),
                    user(task.assignee),
                    record(task.link),
                    time(task.due),
                    time(Some(task.created_at)),
                    time(task.closed_at),
                ]);
            }
        }
        ExportEntity::Activities => {
            header = [
                "id",
                "kind",
                "direction",
                "subject",
                "link",
                "outcome",
                "duration_seconds",
            ]
            .map(String::from)
            .to_vec();
            header.push(format!("occurred_at{at}"));
            for activity in rows_limit(
                list::matching_activities(state, access, &ActivityFilter::default()).into_iter(),
            )? {
                rows.push(vec![
                    activity.id.to_string(),
                    validate::json_name(&activity.kind),
                    activity
                        .direction
                        .map(|d| validate::json_name(&d))
                        .unwrap_or_default(),
                    activity.subject.clone().unwrap_or_default(),
                    activity.link.to_string(),
                    activity.outcome.clone().unwrap_or_default(),
                    activity
                        .duration_seconds
                        .map(|s| s.to_string())
                        .unwrap_or_default(),
                    time(Some(activity.occurred_at)),
                ]);
            }
        }
    }
    let records = rows.len();
    match request.format {
        ExportFormat::Csv => Ok(Export {
            csv: Some(csv_text(&header, &rows)?),
            xlsx_base64: None,
            rows: records,
        }),
        ExportFormat::Xlsx => Ok(Export {
            csv: None,
            xlsx_base64: Some(xlsx_base64(request.entity, &header, &rows)?),
            rows: records,
        }),
    }
}

fn csv_text(header: &[String], rows: &[Vec<String>]) -> Result<String, CrmError> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let failed = |err: csv::Error| CrmError::Storage {
        reason: format!("could not write the CSV: {err}"),
    };
    writer.write_record(header).map_err(failed)?;
    for row in rows {
        writer.write_record(row).map_err(failed)?;
    }
    let bytes = writer.into_inner().map_err(|err| CrmError::Storage {
        reason: format!("could not write the CSV: {err}"),
    })?;
    String::from_utf8(bytes).map_err(|err| CrmError::Storage {
        reason: format!("the CSV is not UTF-8: {err}"),
    })
}

#[cfg(feature = "spreadsheets")]
fn xlsx_base64(
    entity: ExportEntity,
    header: &[String],
    rows: &[Vec<String>],
) -> Result<String, CrmError> {
    use base64::Engine;
    // Written as numbers, so a spreadsheet sums them; their text is an exact decimal.
    const NUMBER_COLUMNS: [&str; 2] = ["amount", "duration_seconds"];
    let kinds: Vec<xlsx::Cell> = header
        .iter()
        .map(|column| {
            if NUMBER_COLUMNS.contains(&column.as_str()) {
                xlsx::Cell::Number
            } else {
                xlsx::Cell::Text
            }
        })
        .collect();
    let sheet = validate::json_name(&entity);
    let bytes = xlsx::workbook(&sheet, header, rows, &kinds)?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

#[cfg(not(feature = "spreadsheets"))]
fn xlsx_base64(_: ExportEntity, _: &[String], _: &[Vec<String>]) -> Result<String, CrmError> {
    Err(CrmError::validation(
        "format",
        "this build writes CSV only (crm-core without its `spreadsheets` feature)",
    ))
}

/// The most rows one export answers with: what one import can take back.
pub(crate) const MAX_EXPORT_ROWS: usize = crate::model::import::MAX_ROWS;

/// The records to export, refused (`too_large`) when there are more than
/// [`MAX_EXPORT_ROWS`]: a bigger base is exported with a filter, in parts.
fn rows_limit<T>(records: impl Iterator<Item = T>) -> Result<Vec<T>, CrmError> {
    let mut kept = Vec::new();
    for (count, record) in records.enumerate() {
        if count >= MAX_EXPORT_ROWS {
            return Err(CrmError::too_large(
                "export rows",
                MAX_EXPORT_ROWS,
                count + 1,
            ));
        }
        kept.push(record);
    }
    Ok(kept)
}
