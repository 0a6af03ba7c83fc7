//! Spreadsheet import of companies, deals, tasks and activities: the same file reading,
//! column mapping, dry run and all-or-nothing apply as contacts, with what a migration
//! needs on top — names instead of IDs (a stage, pipeline, owner, contact, company or
//! deal by its name), and each row at its own time (a deal created in 2023 and won in
//! 2024 is created and won then, as a history import, so that reports see it where it
//! happened and no timer fires for the past).
//!
//! A row becomes one or two steps: the record's creation, at its `created_at` (or the
//! earliest time the row gives, or now), and, for a deal closed or a task completed,
//! the close at its own time. The engine runs the steps in time order
//! (`crate::engine`), each through the ordinary command handler; the first refusal
//! leaves everything as it was. Rows refer only to records already in the CRM (import
//! companies, then contacts, then deals, then tasks and activities), so a dry run can
//! check every row against the state as it is.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use rust_decimal::Decimal;
use serde_json::Value;

use super::{map_columns, presets, reason, table, Source};
use crate::common::error::CrmError;
use crate::common::id::{AnyId, CompanyId, ContactId, DealId, StageId, UserId};
use crate::common::money::Money;
use crate::common::normalize::{fold_company, fold_name};
use crate::common::validate;
use crate::decide::history::{Step, StepAction};
use crate::decide::Ctx;
use crate::model::activity::{ActivityKind, Direction, NewActivity};
use crate::model::command::{Command, DealMove};
use crate::model::company::NewCompany;
use crate::model::deal::NewDeal;
use crate::model::import::{ImportKind, ImportProblem, RecordImport, RecordImportCheck};
use crate::model::pipeline::{Pipeline, StageKind};
use crate::model::task::NewTask;
use crate::model::task::TaskCompletion;

/// The targets of each kind, as the mapping names them (the custom prefix aside).
fn targets(kind: ImportKind) -> &'static [&'static str] {
    match kind {
        ImportKind::Companies => &[
            "name",
            "phone",
            "email",
            "website",
            "address",
            "source",
            "tags",
            "owner",
            "created_at",
        ],
        ImportKind::Deals => &[
            "title",
            "amount",
            "currency",
            "pipeline",
            "stage",
            "owner",
            "contact",
            "company",
            "source",
            "tags",
            "expected_close",
            "lost_reason",
            "created_at",
            "closed_at",
            "close_date",
        ],
        ImportKind::Tasks => &[
            "title",
            "kind",
            "description",
            "assignee",
            "due",
            "status",
            "completed_at",
            "deal",
            "contact",
            "company",
            "created_at",
        ],
        ImportKind::Activities => &[
            "kind",
            "subject",
            "body",
            "author",
            "at",
            "direction",
            "duration",
            "outcome",
            "deal",
            "contact",
            "company",
        ],
    }
}

/// The prefix of custom-field targets (`deal.<key>`), for the kinds that have them.
fn custom_prefix(kind: ImportKind) -> Option<&'static str> {
    match kind {
        ImportKind::Companies => Some("company."),
        ImportKind::Deals => Some("deal."),
        ImportKind::Tasks | ImportKind::Activities => None,
    }
}

fn is_target(kind: ImportKind, text: &str) -> bool {
    text == "ignore"
        || targets(kind).contains(&text)
        || custom_prefix(kind)
            .and_then(|prefix| text.strip_prefix(prefix))
            .is_some_and(|key| !key.is_empty())
}

/// One row's cells by target.
struct Cells<'r> {
    line: usize,
    values: BTreeMap<&'r str, String>,
    /// The column each target came from, to name it in a problem.
    columns: BTreeMap<&'r str, &'r str>,
    custom: BTreeMap<String, Value>,
    problems: Vec<ImportProblem>,
}

impl<'r> Cells<'r> {
    fn get(&self, target: &str) -> Option<&str> {
        self.values.get(target).map(String::as_str)
    }

    fn problem(&mut self, target: &str, message: impl Into<String>) {
        self.problems.push(ImportProblem {
            row: self.line,
            column: self.columns.get(target).map(|column| column.to_string()),
            message: message.into(),
        });
    }

    /// An optional cell turned into a value: `None` when it is empty, or when it is
    /// wrong (a problem named by its column, so that a row reports every problem).
    fn optional<T>(
        &mut self,
        target: &str,
        read: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        self.parse(target, read)
    }

    /// A cell turned into a value, or a problem named by its column.
    fn parse<T>(
        &mut self,
        target: &str,
        read: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let cell = self.get(target)?.to_string();
        match read(&cell) {
            Ok(value) => Some(value),
            Err(message) => {
                self.problem(target, message);
                None
            }
        }
    }
}

/// The names the rows refer to, resolved against what the importing user may read.
struct Lookup<'s> {
    ctx: &'s Ctx<'s>,
    users: BTreeMap<String, Vec<UserId>>,
    contacts: BTreeMap<String, Vec<ContactId>>,
    companies: BTreeMap<String, Vec<CompanyId>>,
    deals: BTreeMap<String, Vec<DealId>>,
}

impl<'s> Lookup<'s> {
    fn new(ctx: &'s Ctx<'s>, kind: ImportKind) -> Self {
        let state = ctx.state;
        let readable = |id: AnyId| ctx.access.can_read(id);
        let mut users: BTreeMap<String, Vec<UserId>> = BTreeMap::new();
        for user in state.users.values() {
            users
                .entry(fold_name(&user.name))
                .or_default()
                .push(user.id);
            if let Some(email) = &user.email {
                users.entry(email.to_lowercase()).or_default().push(user.id);
            }
        }
        let mut contacts: BTreeMap<String, Vec<ContactId>> = BTreeMap::new();
        let mut companies: BTreeMap<String, Vec<CompanyId>> = BTreeMap::new();
        let mut deals: BTreeMap<String, Vec<DealId>> = BTreeMap::new();
        // Companies are looked up by every kind but their own (which matches by name
        // only to say nothing; a company import does not deduplicate).
        if kind != ImportKind::Companies {
            for contact in state.contacts.values() {
                if contact.merged_into.is_some() || !readable(contact.id.into()) {
                    continue;
                }
                let fields = &contact.fields;
                let keys = std::iter::once(fold_name(&fields.name))
                    .chain(fields.phones.iter().cloned())
                    .chain(fields.emails.iter().cloned());
                for key in keys {
                    contacts.entry(key).or_default().push(contact.id);
                }
            }
            for company in state.companies.values() {
                if company.merged_into.is_none() && readable(company.id.into()) {
                    let key = fold_company(&company.fields.name);
                    companies.entry(key).or_default().push(company.id);
                }
            }
        }
        if matches!(kind, ImportKind::Tasks | ImportKind::Activities) {
            for deal in state.deals.values() {
                if readable(deal.id.into()) {
                    let key = fold_name(&deal.fields.title);
                    deals.entry(key).or_default().push(deal.id);
                }
            }
        }
        Self {
            ctx,
            users,
            contacts,
            companies,
            deals,
        }
    }

    fn user(&self, cell: &str) -> Result<UserId, String> {
        let key = if cell.contains('@') {
            cell.trim().to_lowercase()
        } else {
            fold_name(cell)
        };
        one(self.users.get(&key), "user", cell)
    }

    fn contact(&self, cell: &str) -> Result<ContactId, String> {
        let key = if let Ok(phone) = validate::phone("contact", cell, self.ctx.region) {
            phone
        } else if let Ok(email) = validate::email("contact", cell) {
            email
        } else {
            fold_name(cell)
        };
        one(self.contacts.get(&key), "contact", cell)
    }

    fn company(&self, cell: &str) -> Result<CompanyId, String> {
        one(self.companies.get(&fold_company(cell)), "company", cell)
    }

    fn deal(&self, cell: &str) -> Result<DealId, String> {
        one(self.deals.get(&fold_name(cell)), "deal", cell)
    }

    /// The pipeline a deal row goes into: the one named, or the only one.
    fn pipeline(&self, cell: Option<&str>) -> Result<&'s Pipeline, String> {
        let pipelines = &self.ctx.state.pipelines;
        match cell {
            Some(name) => {
                let folded = fold_name(name);
                pipelines
                    .values()
                    .find(|pipeline| fold_name(&pipeline.name) == folded)
                    .ok_or_else(|| {
                        let names: Vec<&str> =
                            pipelines.values().map(|p| p.name.as_str()).collect();
                        format!("no pipeline is named {name:?} ({})", names.join(", "))
                    })
            }
            None => match pipelines.values().collect::<Vec<_>>().as_slice() {
                [only] => Ok(only),
                _ => Err("there is not exactly one pipeline: map a column to `pipeline`".into()),
            },
        }
    }
}

/// The one record a name stands for: none and several are both problems.
fn one<I: Copy + std::fmt::Display>(
    found: Option<&Vec<I>>,
    what: &str,
    cell: &str,
) -> Result<I, String> {
    match found.map(Vec::as_slice) {
        Some([id]) => Ok(*id),
        Some([first, ..]) => {
            let mut ids: Vec<String> = found
                .into_iter()
                .flatten()
                .map(ToString::to_string)
                .collect();
            ids.dedup();
            if ids.len() == 1 {
                Ok(*first)
            } else {
                Err(format!(
                    "{cell:?} names {} {what}s ({}): give a unique one",
                    ids.len(),
                    ids.join(", ")
                ))
            }
        }
        _ => Err(format!(
            "no {what} is {cell:?} (import {what}s before the records that refer to them)"
        )),
    }
}

/// How a cell's stage text reads when no stage has its name: the words the exports
/// use for a closed deal.
fn closed_kind(cell: &str) -> Option<StageKind> {
    const WON: &[&str] = &[
        "won",
        "closed won",
        "gewonnen",
        "выиграна",
        "успешно реализовано",
        "сделка успешна",
        "успешно",
        "успешная",
    ];
    const LOST: &[&str] = &[
        "lost",
        "closed lost",
        "verloren",
        "проиграна",
        "закрыто и не реализовано",
        "сделка провалена",
        "провалена",
        "отказ",
    ];
    let folded = fold_name(cell);
    let is = |words: &[&str]| words.iter().any(|word| fold_name(word) == folded);
    if is(WON) {
        Some(StageKind::Won)
    } else if is(LOST) {
        Some(StageKind::Lost)
    } else {
        None
    }
}

/// Whether a task's status cell says it is done.
fn is_done(cell: &str) -> bool {
    const DONE: &[&str] = &[
        "done",
        "completed",
        "complete",
        "closed",
        "finished",
        "yes",
        "true",
        "erledigt",
        "abgeschlossen",
        "ja",
        "выполнена",
        "выполнено",
        "завершена",
        "завершено",
        "закрыта",
        "да",
    ];
    let folded = fold_name(cell);
    DONE.iter().any(|word| fold_name(word) == folded)
}

fn activity_kind(cell: &str) -> Result<ActivityKind, String> {
    let folded = fold_name(cell);
    let is = |words: &[&str]| words.iter().any(|word| fold_name(word) == folded);
    if is(&[
        "call",
        "phone call",
        "anruf",
        "звонок",
        "входящий звонок",
        "исходящий звонок",
    ]) {
        Ok(ActivityKind::Call)
    } else if is(&["email", "e-mail", "mail", "письмо", "почта"]) {
        Ok(ActivityKind::Email)
    } else if is(&["meeting", "termin", "treffen", "встреча"]) {
        Ok(ActivityKind::Meeting)
    } else if is(&[
        "note",
        "comment",
        "notiz",
        "примечание",
        "заметка",
        "комментарий",
    ]) {
        Ok(ActivityKind::Note)
    } else {
        Err(format!(
            "{cell:?} is not a kind of activity (call, email, meeting, note)"
        ))
    }
}

fn direction(cell: &str) -> Result<Direction, String> {
    let folded = fold_name(cell);
    let is = |words: &[&str]| words.iter().any(|word| fold_name(word) == folded);
    if is(&[
        "inbound",
        "incoming",
        "in",
        "eingehend",
        "входящий",
        "входящее",
    ]) {
        Ok(Direction::Inbound)
    } else if is(&[
        "outbound",
        "outgoing",
        "out",
        "ausgehend",
        "исходящий",
        "исходящее",
    ]) {
        Ok(Direction::Outbound)
    } else {
        Err(format!("{cell:?} is not a direction (inbound, outbound)"))
    }
}

/// Seconds, or `m:ss`, or `h:mm:ss`.
fn duration(cell: &str) -> Result<u32, String> {
    let parts: Result<Vec<u32>, _> = cell.trim().split(':').map(str::parse::<u32>).collect();
    let seconds = match parts.as_deref() {
        Ok([s]) => Some(u64::from(*s)),
        Ok([m, s]) if *s < 60 => Some(u64::from(*m) * 60 + u64::from(*s)),
        Ok([h, m, s]) if *m < 60 && *s < 60 => {
            Some(u64::from(*h) * 3600 + u64::from(*m) * 60 + u64::from(*s))
        }
        _ => None,
    };
    seconds
        .and_then(|s| u32::try_from(s).ok())
        .ok_or_else(|| format!("{cell:?} is not a duration (seconds, m:ss or h:mm:ss)"))
}

/// An amount as spreadsheets write it: `1 250,50`, `1,250.50`, `1250.5`, `₽ 1250`.
fn amount(cell: &str) -> Result<Decimal, String> {
    let kept: String = cell
        .chars()
        .filter(|c| c.is_ascii_digit() || matches!(c, ',' | '.' | '-'))
        .collect();
    // The last of `,` and `.` is the decimal mark when two or fewer digits follow it;
    // every other one groups thousands.
    let mark = kept
        .rfind([',', '.'])
        .filter(|at| kept.len() - at - 1 <= 2 && kept.len() - at - 1 > 0);
    let normal: String = kept
        .char_indices()
        .filter_map(|(at, c)| match c {
            ',' | '.' if Some(at) == mark => Some('.'),
            ',' | '.' => None,
            other => Some(other),
        })
        .collect();
    normal
        .parse::<Decimal>()
        .map_err(|_| format!("{cell:?} is not an amount"))
}

/// A time as spreadsheets write it, in the business's time zone unless it says its
/// own: ISO 8601 (`2024-03-15T14:30:00Z`), `2024-03-15 14:30[:00]`, `15.03.2024
/// [14:30[:00]]`, `2024-03-15`. A date alone is the start of that day, or its last
/// second when `end_of_day` (a due date).
fn time(ctx: &Ctx<'_>, cell: &str, end_of_day: bool) -> Result<DateTime<Utc>, String> {
    let cell = cell.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(cell) {
        return Ok(at.with_timezone(&Utc));
    }
    const WITH_TIME: &[&str] = &[
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%d.%m.%Y %H:%M:%S",
        "%d.%m.%Y %H:%M",
    ];
    let local = WITH_TIME
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(cell, format).ok())
        .or_else(|| {
            date(cell).ok().map(|day| {
                let at = if end_of_day {
                    NaiveTime::from_hms_opt(23, 59, 59).unwrap_or(NaiveTime::MIN)
                } else {
                    NaiveTime::MIN
                };
                day.and_time(at)
            })
        })
        .ok_or_else(|| {
            format!("{cell:?} is not a time (2024-03-15 14:30, 15.03.2024 14:30 or ISO 8601)")
        })?;
    let zone = ctx.state.calendar.time_zone;
    zone.from_local_datetime(&local)
        .earliest()
        // A local time skipped by a clock change: the instant an hour on.
        .or_else(|| {
            zone.from_local_datetime(&(local + chrono::Duration::hours(1)))
                .earliest()
        })
        .map(|at| at.with_timezone(&Utc))
        .ok_or_else(|| format!("{cell:?} does not exist in {zone}"))
}

fn date(cell: &str) -> Result<NaiveDate, String> {
    let cell = cell.trim();
    let day = cell.split([' ', 'T']).next().unwrap_or(cell);
    ["%Y-%m-%d", "%d.%m.%Y", "%Y/%m/%d"]
        .iter()
        .find_map(|format| NaiveDate::parse_from_str(day, format).ok())
        .ok_or_else(|| format!("{cell:?} is not a date (2024-03-15 or 15.03.2024)"))
}

/// A row, read: its steps, the times they happen, and whether it closes something.
struct Planned {
    steps: Vec<Step>,
    closes: bool,
}

/// Reads, maps and checks the file; the steps are those of rows without problems.
fn plan(ctx: &Ctx<'_>, input: &RecordImport) -> Result<(RecordImportCheck, Vec<Step>), CrmError> {
    let (header, data) = table(&Source {
        csv: input.csv.as_deref(),
        spreadsheet_base64: input.spreadsheet_base64.as_deref(),
        sheet: input.sheet.as_deref(),
    })?;
    let kind = input.kind;
    let mut check = RecordImportCheck::default();
    let mut names = targets(kind).join(", ");
    if let Some(prefix) = custom_prefix(kind) {
        names.push_str(&format!(", {prefix}<key>"));
    }
    names.push_str(", ignore");
    let mapped = map_columns(
        &header,
        &input.mapping,
        |text| is_target(kind, text),
        &names,
        |column| {
            // A header that names a target (as crm-core's own export writes them,
            // `created_at (Europe/Moscow)` included) means that target.
            let bare = fold_name(column.split(" (").next().unwrap_or(column));
            targets(kind)
                .iter()
                .copied()
                .find(|target| fold_name(target) == bare)
                .or_else(|| presets::guess(input.preset, kind, column))
        },
        &mut check.mapping,
        &mut check.guessed,
    )?;
    let required = match kind {
        ImportKind::Companies => "name",
        ImportKind::Deals | ImportKind::Tasks => "title",
        ImportKind::Activities => "kind",
    };
    if !mapped.iter().any(|target| target == required) {
        check.problems.push(ImportProblem {
            row: 1,
            column: None,
            message: format!("no column is mapped to `{required}`"),
        });
    }
    let owner = ctx.access.owner_for_new(input.owner)?;
    let currency = input
        .currency
        .as_deref()
        .map(|code| code.parse().map_err(|err: CrmError| err.within("currency")))
        .transpose()?;
    let lookup = Lookup::new(ctx, kind);
    let mut steps = Vec::new();
    for (index, row) in data.iter().enumerate() {
        if row.iter().all(|cell| cell.trim().is_empty()) {
            continue;
        }
        check.rows += 1;
        let mut cells = Cells {
            line: index + 2,
            values: BTreeMap::new(),
            columns: BTreeMap::new(),
            custom: BTreeMap::new(),
            problems: Vec::new(),
        };
        for ((column, target), cell) in header.iter().zip(&mapped).zip(row) {
            let cell = cell.trim();
            if cell.is_empty() || target == "ignore" {
                continue;
            }
            if let Some(key) = custom_prefix(kind).and_then(|prefix| target.strip_prefix(prefix)) {
                cells
                    .custom
                    .insert(key.to_string(), Value::String(cell.to_string()));
                cells.columns.insert(target.as_str(), column.as_str());
                continue;
            }
            // Several columns of a list (phones, e-mails, tags) are joined; of any other
            // target the first filled one counts (an export's `stage` before `status`).
            let list = matches!(target.as_str(), "phone" | "email" | "tags");
            cells
                .values
                .entry(target.as_str())
                .and_modify(|joined| {
                    if list {
                        joined.push_str(", ");
                        joined.push_str(cell);
                    }
                })
                .or_insert_with(|| cell.to_string());
            cells
                .columns
                .entry(target.as_str())
                .or_insert(column.as_str());
        }
        let planned = match kind {
            ImportKind::Companies => company_row(ctx, &lookup, owner, &mut cells),
            ImportKind::Deals => deal_row(ctx, &lookup, owner, currency, &mut cells),
            ImportKind::Tasks => task_row(ctx, &lookup, owner, &mut cells),
            ImportKind::Activities => activity_row(ctx, &lookup, &mut cells),
        };
        if let Some(planned) = planned.filter(|_| cells.problems.is_empty()) {
            // The row's own record, decided against the state as it is: owners,
            // rights, custom values and stages are checked as the command would be.
            if let Some(first) = planned.steps.first() {
                if let StepAction::Create(command) = &first.action {
                    let actor = first
                        .actor
                        .map_or(ctx.access.actor(), crate::model::actor::Actor::User);
                    let decided = Ctx::new(ctx.state, actor, first.at, ctx.replica, ctx.region)
                        .and_then(|mut scratch| crate::decide::decide(&mut scratch, command));
                    if let Err(err) = decided {
                        let target = match &err {
                            CrmError::Validation { field, .. } => field
                                .strip_prefix("custom.")
                                .and_then(|key| custom_prefix(kind).map(|p| format!("{p}{key}")))
                                .unwrap_or_else(|| field.clone()),
                            _ => String::new(),
                        };
                        cells.problems.push(ImportProblem {
                            row: cells.line,
                            column: check
                                .mapping
                                .iter()
                                .find(|(_, mapped)| **mapped == target)
                                .map(|(column, _)| column.clone()),
                            message: reason(&err),
                        });
                    }
                }
            }
            if cells.problems.is_empty() {
                check.records += 1;
                check.closed += usize::from(planned.closes);
                check.history |= planned.steps.iter().any(|step| step.at < ctx.now);
                steps.extend(planned.steps);
            }
        }
        check.problems.append(&mut cells.problems);
    }
    // In time order; a row's close never before its creation (each row's own steps
    // are already in order, and the sort keeps equal times in row order).
    steps.sort_by_key(|step| step.at);
    Ok((check, steps))
}

/// The creation time of a row: its `created_at`, else the earliest time it gives (a
/// task done last year was created by then), else now.
fn created_at(
    ctx: &Ctx<'_>,
    cells: &mut Cells<'_>,
    others: &[Option<DateTime<Utc>>],
) -> Option<DateTime<Utc>> {
    let given = cells.optional("created_at", |cell| time(ctx, cell, false));
    let at = given
        .or_else(|| others.iter().flatten().min().copied())
        .unwrap_or(ctx.now)
        .min(ctx.now);
    if given.is_some_and(|given| given > ctx.now) {
        cells.problem(
            "created_at",
            "is in the future: an import brings in what has happened",
        );
        return None;
    }
    Some(at)
}

/// A time cell that must not be in the future.
fn past(ctx: &Ctx<'_>, cells: &mut Cells<'_>, target: &str) -> Option<DateTime<Utc>> {
    let at = cells.parse(target, |cell| time(ctx, cell, false))?;
    if at > ctx.now {
        cells.problem(
            target,
            "is in the future: an import brings in what has happened",
        );
        return None;
    }
    Some(at)
}

fn split(cell: Option<&str>) -> Vec<String> {
    cell.map(|cell| {
        cell.split([',', ';'])
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .map(str::to_string)
            .collect()
    })
    .unwrap_or_default()
}

fn company_row(
    ctx: &Ctx<'_>,
    lookup: &Lookup<'_>,
    owner: UserId,
    cells: &mut Cells<'_>,
) -> Option<Planned> {
    let Some(name) = cells.get("name").map(str::to_string) else {
        cells.problem("name", "the name is empty");
        return None;
    };
    let owner = cells
        .optional("owner", |cell| lookup.user(cell))
        .unwrap_or(owner);
    let at = created_at(ctx, cells, &[])?;
    let company = NewCompany {
        name,
        phones: split(cells.get("phone")),
        emails: split(cells.get("email")),
        website: cells.get("website").map(str::to_string),
        address: cells.get("address").map(str::to_string),
        source: cells.get("source").map(str::to_string),
        owner: Some(owner),
        tags: split(cells.get("tags")),
        custom: std::mem::take(&mut cells.custom),
    };
    Some(Planned {
        steps: vec![Step::create(
            at,
            None,
            cells.line,
            Command::CreateCompany(company),
        )],
        closes: false,
    })
}

fn deal_row(
    ctx: &Ctx<'_>,
    lookup: &Lookup<'_>,
    owner: UserId,
    currency: Option<crate::common::money::Currency>,
    cells: &mut Cells<'_>,
) -> Option<Planned> {
    let Some(title) = cells.get("title").map(str::to_string) else {
        cells.problem("title", "the title is empty");
        return None;
    };
    let pipeline = match lookup.pipeline(cells.get("pipeline")) {
        Ok(pipeline) => pipeline,
        Err(message) => {
            cells.problem("pipeline", message);
            return None;
        }
    };
    // The stage by name; else a closed deal by the exports' words for won and lost.
    let (stage, closing) = match cells.get("stage").map(str::to_string) {
        None => (None, None),
        Some(cell) => {
            let folded = fold_name(&cell);
            let named = pipeline
                .stages
                .iter()
                .find(|stage| fold_name(&stage.name) == folded);
            let stage = named.or_else(|| {
                let kind = closed_kind(&cell)?;
                pipeline
                    .stages
                    .iter()
                    .find(|stage| stage.kind == kind && !stage.archived)
            });
            match stage {
                Some(stage) if stage.kind == StageKind::Open => (Some(stage.id), None),
                Some(stage) => (None, Some((stage.id, stage.kind))),
                None => {
                    let names: Vec<&str> =
                        pipeline.stages.iter().map(|s| s.name.as_str()).collect();
                    cells.problem(
                        "stage",
                        format!(
                            "{cell:?} is not a stage of pipeline {:?} ({})",
                            pipeline.name,
                            names.join(", ")
                        ),
                    );
                    return None;
                }
            }
        }
    };
    let owner = cells
        .optional("owner", |cell| lookup.user(cell))
        .unwrap_or(owner);
    let contact = cells.optional("contact", |cell| lookup.contact(cell));
    let company = cells.optional("company", |cell| lookup.company(cell));
    let currency = cells
        .optional("currency", |cell| {
            cell.trim()
                .to_uppercase()
                .parse()
                .map_err(|err| reason(&err))
        })
        .or(currency);
    let amount = match (cells.optional("amount", amount), currency) {
        (Some(value), Some(currency)) => Some(Money::new(value, currency)),
        (Some(_), None) => {
            cells.problem(
                "amount",
                "has no currency: map a `currency` column or give `currency`",
            );
            None
        }
        (None, _) => None,
    };
    let mut expected_close = cells.optional("expected_close", date);
    let mut closed_at = past(ctx, cells, "closed_at");
    // Bitrix24's one "close date": when a closed deal closed, when an open one should.
    if cells.get("close_date").is_some() {
        if closing.is_some() {
            closed_at = closed_at.or(past(ctx, cells, "close_date"));
        } else {
            expected_close = expected_close.or(cells.optional("close_date", date));
        }
    }
    let lost_reason = cells.get("lost_reason").map(str::to_string);
    let at = created_at(ctx, cells, &[closed_at])?;
    let deal = NewDeal {
        title,
        pipeline: Some(pipeline.id),
        stage,
        contact,
        company,
        owner: Some(owner),
        amount,
        expected_close,
        source: cells.get("source").map(str::to_string),
        tags: split(cells.get("tags")),
        custom: std::mem::take(&mut cells.custom),
    };
    let mut steps = vec![Step::create(
        at,
        None,
        cells.line,
        Command::CreateDeal(deal),
    )];
    if let Some((stage, kind)) = closing {
        let reason = match (kind, lost_reason) {
            (StageKind::Lost, None) if !pipeline.lost_reasons.is_empty() => {
                cells.problem(
                    "lost_reason",
                    format!(
                        "a lost deal needs a reason ({})",
                        pipeline.lost_reasons.join(", ")
                    ),
                );
                return None;
            }
            (StageKind::Lost, None) => Some("imported".to_string()),
            (StageKind::Lost, Some(reason)) => Some(reason),
            _ => None,
        };
        if let Some(text) = &reason {
            if !pipeline.lost_reasons.is_empty() && !pipeline.lost_reasons.contains(text) {
                cells.problem(
                    "lost_reason",
                    format!(
                        "{text:?} is not a lost reason of pipeline {:?} ({})",
                        pipeline.name,
                        pipeline.lost_reasons.join(", ")
                    ),
                );
                return None;
            }
        }
        let close = closed_at.unwrap_or(at);
        if close < at {
            cells.problem("closed_at", "is before the deal was created");
            return None;
        }
        steps.push(Step {
            at: close,
            actor: None,
            row: cells.line,
            action: StepAction::Close {
                stage: Some(stage),
                lost_reason: reason,
            },
        });
    }
    Some(Planned {
        closes: steps.len() > 1,
        steps,
    })
}

/// The record a task or activity row is about: its deal, else contact, else company
/// (`None` when no column names one, or when the one named is not found).
fn link(lookup: &Lookup<'_>, cells: &mut Cells<'_>) -> Option<AnyId> {
    if cells.get("deal").is_some() {
        return cells
            .optional("deal", |cell| lookup.deal(cell))
            .map(AnyId::from);
    }
    if cells.get("contact").is_some() {
        return cells
            .optional("contact", |cell| lookup.contact(cell))
            .map(AnyId::from);
    }
    cells
        .optional("company", |cell| lookup.company(cell))
        .map(AnyId::from)
}

fn task_row(
    ctx: &Ctx<'_>,
    lookup: &Lookup<'_>,
    owner: UserId,
    cells: &mut Cells<'_>,
) -> Option<Planned> {
    let Some(title) = cells.get("title").map(str::to_string) else {
        cells.problem("title", "the title is empty");
        return None;
    };
    let assignee = cells
        .optional("assignee", |cell| lookup.user(cell))
        .unwrap_or(owner);
    let due = cells.optional("due", |cell| time(ctx, cell, true));
    let completed_at = past(ctx, cells, "completed_at");
    let done = completed_at.is_some() || cells.get("status").is_some_and(is_done);
    let link = link(lookup, cells);
    let at = created_at(ctx, cells, &[completed_at])?;
    let task = NewTask {
        title,
        kind: cells.get("kind").map(str::to_string),
        description: cells.get("description").map(str::to_string),
        assignee: Some(assignee),
        due,
        link,
        repeat: None,
    };
    let mut steps = vec![Step::create(
        at,
        None,
        cells.line,
        Command::CreateTask(task),
    )];
    if done {
        let close = completed_at.unwrap_or(at);
        if close < at {
            cells.problem("completed_at", "is before the task was created");
            return None;
        }
        steps.push(Step {
            at: close,
            actor: Some(assignee),
            row: cells.line,
            action: StepAction::Close {
                stage: None,
                lost_reason: None,
            },
        });
    }
    Some(Planned {
        closes: done,
        steps,
    })
}

fn activity_row(ctx: &Ctx<'_>, lookup: &Lookup<'_>, cells: &mut Cells<'_>) -> Option<Planned> {
    let links = ["deal", "contact", "company"];
    if !links.iter().any(|target| cells.get(target).is_some()) {
        cells.problem(
            "deal",
            "an activity is about a deal, contact or company: none is given",
        );
    }
    let link = link(lookup, cells);
    let kind = cells.optional("kind", activity_kind);
    let author = cells.optional("author", |cell| lookup.user(cell));
    let at = past(ctx, cells, "at").unwrap_or(ctx.now);
    let direction = cells.optional("direction", direction);
    let duration_seconds = cells.optional("duration", duration);
    let Some(kind) = kind else {
        if cells.get("kind").is_none() {
            cells.problem("kind", "the kind is empty");
        }
        return None;
    };
    let link = link?;
    let activity = NewActivity {
        kind,
        link,
        direction,
        subject: cells.get("subject").map(str::to_string),
        body: cells.get("body").map(str::to_string),
        duration_seconds,
        outcome: cells.get("outcome").map(str::to_string),
        occurred_at: Some(at),
    };
    Some(Planned {
        steps: vec![Step::create(
            at,
            author,
            cells.line,
            Command::LogActivity(activity),
        )],
        closes: false,
    })
}

/// Answers the `check_record_import` query.
pub(crate) fn check(ctx: &Ctx<'_>, input: &RecordImport) -> Result<RecordImportCheck, CrmError> {
    Ok(check_and_plan(ctx, input)?.0)
}

/// The steps of [`crate::Command::ImportRecords`]; any problem refuses the whole import.
pub(crate) fn steps(ctx: &Ctx<'_>, input: &RecordImport) -> Result<Vec<Step>, CrmError> {
    let (check, steps) = check_and_plan(ctx, input)?;
    super::refuse_on_problems(&check.problems, "check_record_import")?;
    if check.history {
        ctx.access
            .require_admin("import records at their past times")?;
    }
    Ok(steps)
}

fn check_and_plan(
    ctx: &Ctx<'_>,
    input: &RecordImport,
) -> Result<(RecordImportCheck, Vec<Step>), CrmError> {
    ctx.access.require_sales_role("import records")?;
    plan(ctx, input)
}

/// The follow-up command of a row once its record exists: a deal moved to its closing
/// stage, or a task completed.
pub(crate) fn close(
    id: AnyId,
    stage: Option<StageId>,
    lost_reason: Option<String>,
) -> Option<Command> {
    match (id, stage) {
        (AnyId::DealId(id), Some(stage)) => Some(Command::MoveDeal(DealMove {
            id,
            stage,
            lost_reason,
        })),
        (AnyId::TaskId(id), None) => Some(Command::CompleteTask(TaskCompletion {
            id,
            outcome: None,
            fields: BTreeMap::new(),
        })),
        _ => None,
    }
}
