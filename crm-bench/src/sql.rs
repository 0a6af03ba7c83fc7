//! The same data as relational tables, and every report as SQL — the oracle test checks
//! the engine against these answers, the benchmark times them (SQLite here, DuckDB via
//! its Python package on CSV exports of the same tables). Business days are computed
//! while loading, in the calendar's time zone (SQL has no IANA zones); money is in
//! minor units, so sums are exact integers. The SQL is written to run unchanged on
//! both databases.

use std::path::Path;

use chrono::{DateTime, Utc};
use crm_core::{Money, ReportKind, ReportRequest, State};
use rusqlite::{params, Connection};

/// Which slice of the data a report covers: a period of business days and, optionally,
/// one department's owners.
#[derive(Clone, Debug)]
pub struct Filter {
    pub from: &'static str,
    pub to: &'static str,
    pub department: Option<&'static str>,
}

impl Filter {
    /// The whole history.
    pub const ALL: Filter = Filter {
        from: "2000-01-01",
        to: "2100-01-01",
        department: None,
    };

    /// The engine's request for the same slice.
    pub fn request(&self, kind: ReportKind) -> ReportRequest {
        let mut request = ReportRequest::new(kind);
        request.from = self.from.parse().ok();
        request.to = self.to.parse().ok();
        request.department = self.department.and_then(|d| d.parse().ok());
        request
    }

    /// `column` is an owner in scope.
    fn owner(&self, column: &str) -> String {
        match self.department {
            Some(department) => {
                format!("{column} IN (SELECT id FROM users WHERE department = '{department}')")
            }
            None => "1 = 1".into(),
        }
    }

    /// `column` is a business day in the period.
    fn day(&self, column: &str) -> String {
        format!("{column} BETWEEN '{}' AND '{}'", self.from, self.to)
    }
}

/// The tables, in creation order, with their columns.
pub const TABLES: [(&str, &str); 7] = [
    ("users", "id TEXT PRIMARY KEY, department TEXT"),
    ("stages", "id TEXT PRIMARY KEY, pipeline TEXT, pipeline_seq INTEGER, position INTEGER, kind TEXT, probability INTEGER, name TEXT"),
    ("deals", "id TEXT PRIMARY KEY, seq INTEGER, pipeline TEXT, owner TEXT, status TEXT, contact TEXT, \
               created_at BIGINT, created_day TEXT, closed_at BIGINT, closed_day TEXT, amount_minor BIGINT, \
               currency TEXT, source TEXT, lost_reason TEXT, close_month TEXT"),
    ("history", "deal TEXT, idx INTEGER, stage TEXT, entered_at BIGINT, day TEXT"),
    ("payments", "deal TEXT, amount_minor BIGINT, currency TEXT, day TEXT"),
    ("tasks", "id TEXT, assignee TEXT, status TEXT, due BIGINT, closed_at BIGINT, closed_day TEXT, link TEXT"),
    ("activities", "id TEXT, logged_by TEXT, kind TEXT, direction TEXT, link TEXT, occurred_at BIGINT, day TEXT"),
];

/// Indexes for the report queries (a fair comparison: SQLite indexed, as a real
/// relational CRM would be).
pub const INDEXES: &str = "CREATE INDEX history_deal ON history (deal, idx);
     CREATE INDEX deals_contact ON deals (contact);
     CREATE INDEX deals_created ON deals (created_day);
     CREATE INDEX deals_closed ON deals (closed_day);
     CREATE INDEX payments_day ON payments (day);
     CREATE INDEX tasks_closed ON tasks (closed_day);
     CREATE INDEX tasks_open ON tasks (status, due);
     CREATE INDEX activities_day ON activities (day);
     CREATE INDEX activities_link ON activities (link);
     CREATE INDEX tasks_link ON tasks (link);";

/// serde's name for an enum value, e.g. `"won"`.
macro_rules! name {
    ($value:expr) => {
        serde_json::to_value(&$value)
            .ok()
            .and_then(|value| value.as_str().map(str::to_string))
            .unwrap_or_default()
    };
}

fn day(zone: chrono_tz::Tz, at: DateTime<Utc>) -> String {
    at.with_timezone(&zone).date_naive().to_string()
}

/// An amount in hundredths (every currency here has two decimals).
fn minor(money: &Money) -> i64 {
    let mut amount = money.amount();
    amount.rescale(2);
    i64::try_from(amount.mantissa()).unwrap_or(i64::MAX)
}

/// The state as tables in an in-memory SQLite database, indexed.
pub fn load(state: &State) -> rusqlite::Result<Connection> {
    let db = Connection::open_in_memory()?;
    for (table, columns) in TABLES {
        db.execute_batch(&format!("CREATE TABLE {table} ({columns});"))?;
    }
    let zone = state.calendar().time_zone;
    let tx = db.unchecked_transaction()?;
    for user in state.users().values() {
        tx.execute(
            "INSERT INTO users VALUES (?1, ?2)",
            params![user.id.to_string(), user.department.map(|d| d.to_string())],
        )?;
    }
    for pipeline in state.pipelines().values() {
        for (position, stage) in pipeline.stages.iter().enumerate() {
            tx.execute(
                "INSERT INTO stages VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    stage.id.to_string(),
                    pipeline.id.to_string(),
                    pipeline.id.seq() as i64,
                    position as i64,
                    name!(stage.kind),
                    stage.probability,
                    stage.name
                ],
            )?;
        }
    }
    for deal in state.deals().values() {
        let amount = deal.fields.amount.as_ref();
        tx.execute(
            "INSERT INTO deals VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            params![
                deal.id.to_string(),
                deal.id.seq() as i64,
                deal.pipeline.to_string(),
                deal.owner.to_string(),
                name!(deal.status),
                deal.fields.contact.map(|c| c.to_string()),
                deal.created_at.timestamp(),
                day(zone, deal.created_at),
                deal.closed_at.map(|at| at.timestamp()),
                deal.closed_at.map(|at| day(zone, at)),
                amount.map(minor),
                amount.map(|m| m.currency().code()),
                deal.fields.source,
                deal.lost_reason,
                deal.fields
                    .expected_close
                    .map(|d| d.format("%Y-%m-01").to_string()),
            ],
        )?;
        for (idx, change) in deal.stage_history.iter().enumerate() {
            tx.execute(
                "INSERT INTO history VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    deal.id.to_string(),
                    idx as i64,
                    change.to.to_string(),
                    change.at.timestamp(),
                    day(zone, change.at)
                ],
            )?;
        }
        for payment in &deal.payments {
            tx.execute(
                "INSERT INTO payments VALUES (?1, ?2, ?3, ?4)",
                params![
                    deal.id.to_string(),
                    minor(&payment.amount),
                    payment.amount.currency().code(),
                    day(zone, payment.paid_at)
                ],
            )?;
        }
    }
    for task in state.tasks().values() {
        tx.execute(
            "INSERT INTO tasks VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                task.id.to_string(),
                task.assignee.to_string(),
                name!(task.status),
                task.due.map(|d| d.timestamp()),
                task.closed_at.map(|at| at.timestamp()),
                task.closed_at.map(|at| day(zone, at)),
                task.link.map(|l| l.to_string())
            ],
        )?;
    }
    for activity in state.activities().values() {
        tx.execute(
            "INSERT INTO activities VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                activity.id.to_string(),
                activity.logged_by.to_string(),
                name!(activity.kind),
                activity.direction.as_ref().map(|d| name!(d)),
                activity.link.to_string(),
                activity.occurred_at.timestamp(),
                day(zone, activity.occurred_at)
            ],
        )?;
    }
    tx.commit()?;
    db.execute_batch(INDEXES)?;
    Ok(db)
}

/// Every table as `<dir>/<table>.csv` with a header row (for DuckDB).
pub fn export_csv(db: &Connection, dir: &Path) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    for (table, _) in TABLES {
        let mut out =
            std::io::BufWriter::new(std::fs::File::create(dir.join(format!("{table}.csv")))?);
        let mut select = db
            .prepare(&format!("SELECT * FROM {table}"))
            .map_err(std::io::Error::other)?;
        let names: Vec<String> = select.column_names().map(str::to_string).collect();
        writeln!(out, "{}", names.join(","))?;
        let columns = names.len();
        let mut rows = select.query([]).map_err(std::io::Error::other)?;
        while let Some(row) = rows.next().map_err(std::io::Error::other)? {
            let cells: Vec<String> = (0..columns)
                .map(|i| match row.get_ref(i) {
                    Ok(rusqlite::types::ValueRef::Integer(n)) => n.to_string(),
                    Ok(rusqlite::types::ValueRef::Text(text)) => {
                        format!("\"{}\"", String::from_utf8_lossy(text).replace('"', "\"\""))
                    }
                    _ => String::new(),
                })
                .collect();
            writeln!(out, "{}", cells.join(","))?;
        }
        out.flush()?;
    }
    Ok(())
}

/// Funnel: deals created in the period in `pipeline`; how many; how many reached each
/// stage (the won stage: won; the lost stage: lost); the lost ones by the stage they were
/// lost from and reason.
pub fn funnel(filter: &Filter, pipeline: &str) -> [String; 3] {
    let scope = format!(
        "pipeline = '{pipeline}' AND {} AND {}",
        filter.day("created_day"),
        filter.owner("owner")
    );
    [
        format!("SELECT COUNT(*) FROM deals WHERE {scope}"),
        format!(
            "WITH d AS (SELECT id, status FROM deals WHERE {scope}),
                  furthest AS (SELECT h.deal, MAX(s.position) AS pos FROM history h JOIN stages s ON s.id = h.stage
                               WHERE s.kind = 'open' AND h.deal IN (SELECT id FROM d) GROUP BY h.deal)
             SELECT s.id, s.name, s.kind,
                    CASE s.kind WHEN 'open' THEN (SELECT COUNT(*) FROM d LEFT JOIN furthest f ON f.deal = d.id
                                                 WHERE d.status = 'won' OR f.pos >= s.position)
                                WHEN 'won' THEN (SELECT COUNT(*) FROM d WHERE status = 'won')
                                ELSE (SELECT COUNT(*) FROM d WHERE status = 'lost') END
             FROM stages s WHERE s.pipeline = '{pipeline}' ORDER BY s.position"
        ),
        format!(
            "WITH back AS (SELECT deal, stage, ROW_NUMBER() OVER (PARTITION BY deal ORDER BY idx DESC) AS steps FROM history)
             SELECT b.stage, d.lost_reason, COUNT(*) AS n FROM deals d JOIN back b ON b.deal = d.id AND b.steps = 2
             WHERE {scope} AND d.status = 'lost' GROUP BY 1, 2 ORDER BY 3 DESC, 2"
        ),
    ]
}

/// Revenue by month: won deals by closing month, owner and currency (count, sum); payments
/// by month, owner and currency.
pub fn revenue(filter: &Filter) -> [String; 2] {
    [
        format!(
            "SELECT substr(closed_day, 1, 7) || '-01', owner, currency, COUNT(*), SUM(amount_minor) FROM deals
             WHERE status = 'won' AND {} AND {} GROUP BY 1, 2, 3",
            filter.day("closed_day"),
            filter.owner("owner")
        ),
        format!(
            "SELECT substr(p.day, 1, 7) || '-01', d.owner, p.currency, SUM(p.amount_minor)
             FROM payments p JOIN deals d ON d.id = p.deal WHERE {} AND {} GROUP BY 1, 2, 3",
            filter.day("p.day"),
            filter.owner("d.owner")
        ),
    ]
}

/// Win rate: closed deals by owner, outcome and currency (count, sum).
pub fn win_rate(filter: &Filter) -> String {
    format!(
        "SELECT CAST(substr(owner, 7) AS INTEGER), owner, status, currency, COUNT(*), SUM(amount_minor) FROM deals
         WHERE status IN ('won', 'lost') AND {} AND {} GROUP BY 1, 2, 3, 4 ORDER BY 1",
        filter.day("closed_day"),
        filter.owner("owner")
    )
}

/// Forecast: open deals by pipeline, expected month, current stage and currency.
pub fn forecast() -> String {
    "WITH current AS (SELECT deal, stage, ROW_NUMBER() OVER (PARTITION BY deal ORDER BY idx DESC) AS steps FROM history)
     SELECT d.pipeline, d.close_month, s.position, s.id, s.name, s.probability, d.currency, COUNT(*), SUM(d.amount_minor)
     FROM deals d JOIN current c ON c.deal = d.id AND c.steps = 1 JOIN stages s ON s.id = c.stage
     WHERE d.status = 'open' GROUP BY 1, 2, 3, 4, 5, 6, 7 ORDER BY MIN(s.pipeline_seq), 2, 3, 7"
        .into()
}

/// Sales cycle: won deals' seconds from creation to winning, by owner.
pub fn cycle(filter: &Filter) -> String {
    format!(
        "SELECT CAST(substr(owner, 7) AS INTEGER), owner, closed_at - created_at FROM deals
         WHERE status = 'won' AND {} AND {}",
        filter.day("closed_day"),
        filter.owner("owner")
    )
}

/// Time in stage: each finished stage visit (ended in the period) with its length.
pub fn stage_time(filter: &Filter) -> String {
    format!(
        "WITH v AS (SELECT h.deal, h.stage, h.entered_at, LEAD(h.entered_at) OVER w AS next_at, LEAD(h.day) OVER w AS next_day
                    FROM history h WINDOW w AS (PARTITION BY h.deal ORDER BY h.idx))
         SELECT s.pipeline_seq * 1000 + s.position, s.id, v.next_at - v.entered_at, s.pipeline, s.name FROM v
         JOIN stages s ON s.id = v.stage JOIN deals d ON d.id = v.deal
         WHERE v.next_at IS NOT NULL AND {} AND {}",
        filter.day("v.next_day"),
        filter.owner("d.owner")
    )
}

/// Sources: deals created in the period by source (created, won), and won sums.
pub fn sources(filter: &Filter) -> [String; 2] {
    let scope = format!(
        "{} AND {}",
        filter.day("created_day"),
        filter.owner("owner")
    );
    [
        format!(
            "SELECT source, COUNT(*), SUM(CASE WHEN status = 'won' THEN 1 ELSE 0 END) FROM deals
             WHERE {scope} GROUP BY 1 ORDER BY 1 NULLS FIRST"
        ),
        format!(
            "SELECT source, currency, SUM(amount_minor) FROM deals WHERE {scope} AND status = 'won' GROUP BY 1, 2"
        ),
    ]
}

/// SLA: new deals per owner; each new deal's time to first outreach (an outbound call,
/// e-mail or meeting, or a completed task, on the deal or its client); tasks done and
/// late per assignee; open tasks overdue at `now`; activities per user and kind.
pub fn sla(filter: &Filter, now: DateTime<Utc>) -> [String; 5] {
    let deals = format!(
        "{} AND {}",
        filter.day("d.created_day"),
        filter.owner("d.owner")
    );
    [
        format!("SELECT d.owner, COUNT(*) FROM deals d WHERE {deals} GROUP BY 1"),
        format!(
            "WITH outreach AS (SELECT link, occurred_at AS happened FROM activities
                               WHERE kind IN ('call', 'email', 'meeting') AND (direction IS NULL OR direction <> 'inbound')
                               UNION ALL SELECT link, closed_at FROM tasks WHERE status = 'done'),
                  d AS (SELECT id, owner, contact, created_at FROM deals d WHERE {deals}),
                  touches AS (SELECT d.id, d.owner, d.created_at, o.happened FROM d JOIN outreach o ON o.link = d.id
                              UNION ALL
                              SELECT d.id, d.owner, d.created_at, o.happened FROM d JOIN outreach o ON o.link = d.contact)
             SELECT owner, MIN(happened) - created_at FROM touches WHERE happened >= created_at
             GROUP BY id, owner, created_at"
        ),
        format!(
            "SELECT assignee, COUNT(*), SUM(CASE WHEN closed_at > due THEN 1 ELSE 0 END) FROM tasks
             WHERE status = 'done' AND {} AND {} GROUP BY 1",
            filter.day("closed_day"),
            filter.owner("assignee")
        ),
        format!(
            "SELECT assignee, COUNT(*) FROM tasks WHERE status = 'open' AND due < {} AND {} GROUP BY 1",
            now.timestamp(),
            filter.owner("assignee")
        ),
        format!(
            "SELECT logged_by, kind, COUNT(*) FROM activities WHERE logged_by LIKE 'usr-%' AND {} AND {} GROUP BY 1, 2",
            filter.day("day"),
            filter.owner("logged_by")
        ),
    ]
}

/// Clients: won deals with a contact closed in the period, each with the seconds since
/// the client's previous won deal (by closing time, then ID).
pub fn clients(filter: &Filter) -> String {
    format!(
        "WITH v AS (SELECT id, contact, owner, currency, amount_minor, closed_day,
                    closed_at - LAG(closed_at) OVER (PARTITION BY contact ORDER BY closed_at, seq) AS gap
                    FROM deals WHERE status = 'won' AND contact IS NOT NULL)
         SELECT contact, currency, amount_minor, gap FROM v WHERE {} AND {}",
        filter.day("closed_day"),
        filter.owner("owner")
    )
}

/// Rotting deals: open deals whose current stage was entered at or before `cutoff`.
pub fn rotting(cutoff: DateTime<Utc>) -> String {
    format!(
        "SELECT d.id, MAX(h.entered_at) AS since FROM deals d JOIN history h ON h.deal = d.id
         WHERE d.status = 'open' GROUP BY d.id, d.seq HAVING MAX(h.entered_at) <= {} ORDER BY since, d.seq LIMIT 1000",
        cutoff.timestamp()
    )
}

/// The statements that answer `kind` for `filter` (what the benchmark times).
pub fn statements(
    kind: ReportKind,
    filter: &Filter,
    pipeline: &str,
    now: DateTime<Utc>,
) -> Vec<String> {
    match kind {
        ReportKind::Funnel => funnel(filter, pipeline).to_vec(),
        ReportKind::Revenue => revenue(filter).to_vec(),
        ReportKind::WinRate => vec![win_rate(filter)],
        ReportKind::Forecast => vec![forecast()],
        ReportKind::Cycle => vec![cycle(filter)],
        ReportKind::StageTime => vec![stage_time(filter)],
        ReportKind::Sources => sources(filter).to_vec(),
        ReportKind::Rotting => vec![rotting(now - chrono::Duration::days(14))],
        ReportKind::Sla => sla(filter, now).to_vec(),
        ReportKind::Clients => vec![clients(filter)],
    }
}
