//! Spreadsheet import of contacts: CSV (the `csv` crate) or XLSX/ODS (`calamine`, within
//! the budgets of [`sheet`]),
//! a column mapping (guessed from the headers where not given, shown by the dry run
//! for the user to confirm), every row validated, the duplicate policy applied, and
//! then all rows in one batch — or none, with every problem named by row and column.

use crate::model::import::*;
use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::common::error::CrmError;
use crate::common::id::{AnyId, CompanyId, ContactId};
use crate::common::normalize::fold_company;
use crate::common::validate;
use crate::decide::Ctx;
use crate::event::Event;
use crate::model::company::NewCompany;
use crate::model::contact::NewContact;
use crate::model::intake::{DuplicatePolicy, POSSIBLE_DUPLICATE_TAG};

mod presets;
pub(crate) mod records;
#[cfg(feature = "spreadsheets")]
pub(crate) mod sheet;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Target {
    Name,
    Phone,
    Email,
    Company,
    Position,
    Address,
    Source,
    Tags,
    Custom(String),
    Ignore,
}

fn target(text: &str) -> Option<Target> {
    Some(match text {
        "name" => Target::Name,
        "phone" => Target::Phone,
        "email" => Target::Email,
        "company" => Target::Company,
        "position" => Target::Position,
        "address" => Target::Address,
        "source" => Target::Source,
        "tags" => Target::Tags,
        "ignore" => Target::Ignore,
        other => Target::Custom(other.strip_prefix("contact.")?.to_string()),
    })
}

/// The usual headers of contact lists (English, German, Russian, French).
fn guess(header: &str) -> Option<&'static str> {
    let folded = crate::common::normalize::fold_name(header);
    Some(match folded.as_str() {
        "name" | "full name" | "contact" | "contact name" | "fio" | "фио" | "имя" | "nom"
        | "kontakt" => "name",
        "phone" | "telephone" | "tel" | "mobile" | "phone number" | "telefon" | "телефон"
        | "телефоны" | "mobil" | "phones" => "phone",
        "email"
        | "e mail"
        | "mail"
        | "email address"
        | "почта"
        | "электронная почта"
        | "courriel"
        | "emails" => "email",
        "company"
        | "organisation"
        | "organization"
        | "firma"
        | "unternehmen"
        | "компания"
        | "организация"
        | "societe"
        | "entreprise" => "company",
        "position" | "title" | "job title" | "role" | "должность" | "poste" => "position",
        "address" | "adresse" | "адрес" | "city" | "stadt" | "город" => "address",
        "source" | "quelle" | "источник" => "source",
        "tags" | "tag" | "labels" | "теги" => "tags",
        _ => return None,
    })
}

/// Where an import's rows come from: CSV text or a spreadsheet's bytes in base64.
pub(crate) struct Source<'a> {
    pub csv: Option<&'a str>,
    pub spreadsheet_base64: Option<&'a str>,
    pub sheet: Option<&'a str>,
}

/// The rows of the file as text, the header row first.
fn read(source: &Source<'_>) -> Result<Vec<Vec<String>>, CrmError> {
    match (source.csv, source.spreadsheet_base64) {
        (Some(text), None) => read_csv(text),
        (None, Some(encoded)) => read_spreadsheet(encoded, source.sheet),
        _ => Err(CrmError::validation(
            "csv",
            "give exactly one of `csv` (text) and `spreadsheet_base64` (XLSX or ODS)",
        )),
    }
}

/// The header row and the data rows of the file.
pub(crate) fn table(source: &Source<'_>) -> Result<(Vec<String>, Vec<Vec<String>>), CrmError> {
    let mut rows = read(source)?.into_iter();
    let header = rows
        .next()
        .ok_or_else(|| CrmError::validation("csv", "the file is empty"))?;
    Ok((header, rows.collect()))
}

/// Each column's target: as mapped by hand, else guessed (or `ignore`). A hand mapping
/// naming a column the file lacks, or a target `is_target` refuses, is an error; the
/// targets used and the guessed headers are written into `mapping` and `guessed`.
pub(crate) fn map_columns(
    header: &[String],
    given: &BTreeMap<String, String>,
    is_target: impl Fn(&str) -> bool,
    targets: &str,
    guess: impl Fn(&str) -> Option<&'static str>,
    mapping: &mut BTreeMap<String, String>,
    guessed: &mut Vec<String>,
) -> Result<Vec<String>, CrmError> {
    for (column, text) in given {
        if !header.contains(column) {
            return Err(CrmError::validation(
                format!("mapping.{column}"),
                format!("the file has no column {column:?} ({})", header.join(", ")),
            ));
        }
        if !is_target(text) {
            return Err(CrmError::validation(
                format!("mapping.{column}"),
                format!("{text:?} is not a target ({targets})"),
            ));
        }
    }
    let mut used = Vec::with_capacity(header.len());
    for column in header {
        let text = match given.get(column) {
            Some(text) => text.clone(),
            None => match guess(column) {
                Some(guessed_target) => {
                    if guessed_target != "ignore" {
                        guessed.push(column.clone());
                    }
                    guessed_target.to_string()
                }
                None => "ignore".to_string(),
            },
        };
        mapping.insert(column.clone(), text.clone());
        used.push(text);
    }
    Ok(used)
}

fn read_csv(text: &str) -> Result<Vec<Vec<String>>, CrmError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // The delimiter the header row uses most: Excel writes `;` where `,` is a decimal mark.
    let header = text.lines().next().unwrap_or_default();
    let delimiter = [b',', b';', b'\t']
        .into_iter()
        .max_by_key(|d| header.bytes().filter(|b| b == d).count())
        .unwrap_or(b',');
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut rows = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let record = record
            .map_err(|err| CrmError::validation("csv", format!("row {}: {err}", index + 1)))?;
        rows.push(record.iter().map(str::to_string).collect());
        if rows.len() > MAX_ROWS + 1 {
            return Err(CrmError::too_large("csv", MAX_ROWS, rows.len() - 1));
        }
    }
    Ok(rows)
}

#[cfg(not(feature = "spreadsheets"))]
fn read_spreadsheet(_: &str, _: Option<&str>) -> Result<Vec<Vec<String>>, CrmError> {
    Err(CrmError::validation(
        "spreadsheet_base64",
        "this build reads CSV only (crm-core without its `spreadsheets` feature): save the sheet as CSV",
    ))
}

#[cfg(feature = "spreadsheets")]
fn read_spreadsheet(encoded: &str, sheet: Option<&str>) -> Result<Vec<Vec<String>>, CrmError> {
    use base64::Engine as _;
    let compact: Vec<u8> = encoded
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&compact)
        .map_err(|_| CrmError::validation("spreadsheet_base64", "is not valid base64"))?;
    sheet::read(bytes, sheet)
}

/// One row, read and checked.
struct Row {
    line: usize,
    contact: NewContact,
    company: Option<String>,
}

/// Reads, maps and checks the file against the state; `rows` are the importable rows.
fn plan(ctx: &Ctx<'_>, input: &ContactImport) -> Result<(ImportCheck, Vec<Row>), CrmError> {
    let (header, data) = table(&Source {
        csv: input.csv.as_deref(),
        spreadsheet_base64: input.spreadsheet_base64.as_deref(),
        sheet: input.sheet.as_deref(),
    })?;
    let mut check = ImportCheck::default();
    let targets: Vec<Target> = map_columns(
        &header,
        &input.mapping,
        |text| target(text).is_some(),
        "name, phone, email, company, position, address, source, tags, contact.<key>, ignore",
        guess,
        &mut check.mapping,
        &mut check.guessed,
    )?
    .iter()
    .map(|text| target(text).unwrap_or(Target::Ignore))
    .collect();
    if !targets.contains(&Target::Name) {
        check.problems.push(ImportProblem {
            row: 1,
            column: None,
            message: "no column is mapped to `name`".into(),
        });
    }
    let owner = ctx.access.owner_for_new(input.owner)?;
    let mut rows = Vec::new();
    for (index, cells) in data.iter().enumerate() {
        let line = index + 2;
        if cells.iter().all(|cell| cell.trim().is_empty()) {
            continue;
        }
        check.rows += 1;
        let mut contact = NewContact {
            owner: Some(owner),
            ..NewContact::default()
        };
        let mut company = None;
        let problems_before = check.problems.len();
        for (column, (target, cell)) in header.iter().zip(targets.iter().zip(cells)) {
            let cell = cell.trim();
            if cell.is_empty() {
                continue;
            }
            let problem = |message: String| ImportProblem {
                row: line,
                column: Some(column.clone()),
                message,
            };
            let checked = match target {
                Target::Name => validate::name(column, cell).map(|name| contact.name = name),
                Target::Phone => cell
                    .split([',', ';'])
                    .filter(|part| !part.trim().is_empty())
                    .try_for_each(|part| {
                        validate::phone(column, part, ctx.region).map(|p| contact.phones.push(p))
                    }),
                Target::Email => cell
                    .split([',', ';'])
                    .filter(|part| !part.trim().is_empty())
                    .try_for_each(|part| {
                        validate::email(column, part).map(|e| contact.emails.push(e))
                    }),
                Target::Company => validate::name(column, cell).map(|name| company = Some(name)),
                Target::Position => validate::optional_name(column, Some(cell))
                    .map(|position| contact.position = position),
                Target::Address => validate::optional_text(column, Some(cell))
                    .map(|address| contact.address = address),
                Target::Source => validate::optional_name(column, Some(cell))
                    .map(|source| contact.source = source),
                Target::Tags => {
                    let tags = cell
                        .split([',', ';'])
                        .map(str::trim)
                        .filter(|tag| !tag.is_empty());
                    contact.tags.extend(tags.map(str::to_string));
                    Ok(())
                }
                Target::Custom(key) => {
                    contact
                        .custom
                        .insert(key.clone(), Value::String(cell.to_string()));
                    Ok(())
                }
                Target::Ignore => Ok(()),
            };
            if let Err(err) = checked {
                check.problems.push(problem(reason(&err)));
            }
        }
        if contact.name.is_empty() {
            check.problems.push(ImportProblem {
                row: line,
                column: None,
                message: "the name is empty".into(),
            });
        }
        if check.problems.len() > problems_before {
            continue;
        }
        rows.push(Row {
            line,
            contact,
            company,
        });
    }
    Ok((check, rows))
}

/// An error's message without the field name the cell's column already gives.
pub(crate) fn reason(err: &CrmError) -> String {
    match err {
        CrmError::Validation { reason, .. } => reason.clone(),
        other => other.to_string(),
    }
}

/// Applies the duplicate policy to the planned rows: which are imported.
fn deduplicate(
    ctx: &Ctx<'_>,
    input: &ContactImport,
    check: &mut ImportCheck,
    rows: Vec<Row>,
) -> Vec<Row> {
    // Only contacts the importing user may read count as matches: a row is never
    // answered with the ID (or the existence) of someone else's contact.
    let mut existing: BTreeMap<&str, ContactId> = BTreeMap::new();
    for contact in ctx
        .state
        .contacts
        .values()
        .filter(|c| c.merged_into.is_none())
        .filter(|c| ctx.access.can_read(AnyId::ContactId(c.id)))
    {
        for key in contact.fields.phones.iter().chain(&contact.fields.emails) {
            existing.entry(key.as_str()).or_insert(contact.id);
        }
    }
    let mut earlier: BTreeMap<String, usize> = BTreeMap::new();
    let mut kept = Vec::new();
    for mut row in rows {
        let keys: Vec<String> = row
            .contact
            .phones
            .iter()
            .chain(&row.contact.emails)
            .cloned()
            .collect();
        let contact = keys
            .iter()
            .find_map(|key| existing.get(key.as_str()).copied());
        let same_as_row = keys.iter().find_map(|key| earlier.get(key).copied());
        for key in keys {
            earlier.entry(key).or_insert(row.line);
        }
        if contact.is_none() && same_as_row.is_none() {
            kept.push(row);
            continue;
        }
        check.duplicates.push(ImportDuplicate {
            row: row.line,
            contact,
            same_as_row,
        });
        match input.on_duplicate {
            DuplicatePolicy::Attach => {}
            DuplicatePolicy::CreateAndFlag => {
                row.contact.tags.push(POSSIBLE_DUPLICATE_TAG.to_string());
                kept.push(row);
            }
            DuplicatePolicy::Reject => check.problems.push(ImportProblem {
                row: row.line,
                column: None,
                message: match contact {
                    Some(id) => format!("matches contact {id}"),
                    None => format!("repeats row {}", same_as_row.unwrap_or_default()),
                },
            }),
        }
    }
    kept
}

/// Answers the `check_import` query: what the import would do, and every problem.
pub(crate) fn check(ctx: &mut Ctx<'_>, input: &ContactImport) -> Result<ImportCheck, CrmError> {
    Ok(prepare(ctx, input)?.0)
}

/// Handles [`crate::Command::ImportContacts`]: all rows or, with any problem, none.
pub(crate) fn import(ctx: &mut Ctx<'_>, input: &ContactImport) -> Result<Vec<Event>, CrmError> {
    let (check, events) = prepare(ctx, input)?;
    refuse_on_problems(&check.problems, "check_import")?;
    Ok(events)
}

/// An import with any problem imports nothing: the refusal names the first problem
/// and the dry run (`dry_run`) that lists them all.
pub(crate) fn refuse_on_problems(
    problems: &[ImportProblem],
    dry_run: &str,
) -> Result<(), CrmError> {
    let Some(first) = problems.first() else {
        return Ok(());
    };
    let at = match &first.column {
        Some(column) => format!("row {}, column {column:?}", first.row),
        None => format!("row {}", first.row),
    };
    Err(CrmError::validation(
        "import",
        format!(
            "{} problem(s), nothing imported; the first: {at}: {} ({dry_run} lists them all)",
            problems.len(),
            first.message
        ),
    ))
}

/// The check and, when it found no problem, the events of the import.
fn prepare(
    ctx: &mut Ctx<'_>,
    input: &ContactImport,
) -> Result<(ImportCheck, Vec<Event>), CrmError> {
    ctx.access.require_sales_role("import contacts")?;
    let (mut check, rows) = plan(ctx, input)?;
    let rows = deduplicate(ctx, input, &mut check, rows);
    // Rows are linked to companies the importing user may read; another department's
    // company of the same name is not theirs to attach people to.
    let mut companies: BTreeMap<String, CompanyId> = ctx
        .state
        .companies
        .values()
        .filter(|company| company.merged_into.is_none())
        .filter(|company| ctx.access.can_read(AnyId::CompanyId(company.id)))
        .map(|company| (fold_company(&company.fields.name), company.id))
        .collect();
    let mut new_companies = BTreeSet::new();
    let mut events = Vec::new();
    for row in rows {
        let mut company_id = None;
        if let Some(name) = &row.company {
            let key = fold_company(name);
            company_id = match companies.get(&key) {
                Some(id) => Some(*id),
                None => {
                    let created = crate::decide::company::create(
                        ctx,
                        &NewCompany {
                            name: name.clone(),
                            owner: row.contact.owner,
                            ..NewCompany::default()
                        },
                    )?;
                    let Some(Event::CompanyCreated { company }) = created.first() else {
                        return Err(CrmError::Storage {
                            reason: String::from("import: creating a company returned no company"),
                        });
                    };
                    let id = company.id;
                    companies.insert(key, id);
                    new_companies.insert(name.clone());
                    events.extend(created);
                    Some(id)
                }
            };
        }
        match crate::decide::contact::create(ctx, &row.contact) {
            Ok(mut created) => {
                if let Some(Event::ContactCreated { contact }) = created.first_mut() {
                    contact.fields.company = company_id;
                }
                check.contacts += 1;
                events.extend(created);
            }
            Err(err) => {
                // A custom value is checked against its definition here: name the
                // spreadsheet column it came from, not the field.
                let column = match &err {
                    CrmError::Validation { field, .. } => {
                        let mapped = field
                            .strip_prefix("custom.")
                            .map(|key| format!("contact.{key}"));
                        check
                            .mapping
                            .iter()
                            .find(|(_, target)| Some(*target) == mapped.as_ref())
                            .map(|(column, _)| column.clone())
                            .or_else(|| Some(field.clone()))
                    }
                    _ => None,
                };
                check.problems.push(ImportProblem {
                    row: row.line,
                    column,
                    message: reason(&err),
                })
            }
        }
    }
    check.companies = new_companies.into_iter().collect();
    Ok((check, events))
}
