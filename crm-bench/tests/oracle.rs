//! The oracle: a generated history is loaded into SQLite as plain tables (deals, stage
//! history, payments, tasks, activities; business days precomputed in the calendar's
//! time zone, money in minor units), every report is computed again in SQL, and the
//! engine's incremental answer must equal it exactly — for the whole history, and for
//! half a year of one department.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use crm_core::*;
use rusqlite::{params, Connection};
use serde_json::{json, Map, Value};

const DEALS: u64 = 3_000;

/// Which slice of the data a report covers.
struct Filter {
    from: &'static str,
    to: &'static str,
    department: Option<&'static str>,
}

impl Filter {
    fn request(&self, kind: ReportKind) -> ReportRequest {
        let mut request = ReportRequest::new(kind);
        request.from = Some(self.from.parse().unwrap());
        request.to = Some(self.to.parse().unwrap());
        request.department = self.department.map(|d| d.parse().unwrap());
        request
    }

    /// SQL: `column` is an owner in scope.
    fn owner(&self, column: &str) -> String {
        match self.department {
            Some(department) => {
                format!("{column} IN (SELECT id FROM users WHERE department = '{department}')")
            }
            None => "1".into(),
        }
    }

    /// SQL: `column` is a business day in the period.
    fn day(&self, column: &str) -> String {
        format!("{column} BETWEEN '{}' AND '{}'", self.from, self.to)
    }
}

fn day(zone: chrono_tz::Tz, at: DateTime<Utc>) -> String {
    at.with_timezone(&zone).date_naive().to_string()
}

fn minor(money: &Money) -> i64 {
    let mut amount = money.amount();
    amount.rescale(2);
    i64::try_from(amount.mantissa()).unwrap()
}

/// serde's name for an enum value, e.g. `"won"`.
macro_rules! text {
    ($value:expr) => {
        serde_json::to_value(&$value)
            .unwrap()
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
}

/// The state as relational tables.
fn load(state: &State) -> Connection {
    let db = Connection::open_in_memory().unwrap();
    db.execute_batch(
        "CREATE TABLE users (id TEXT PRIMARY KEY, department TEXT);
         CREATE TABLE stages (id TEXT PRIMARY KEY, pipeline TEXT, pipeline_seq INTEGER, position INTEGER, kind TEXT, probability INTEGER, name TEXT);
         CREATE TABLE deals (id TEXT PRIMARY KEY, seq INTEGER, pipeline TEXT, owner TEXT, status TEXT, contact TEXT,
             created_at INTEGER, created_day TEXT, closed_at INTEGER, closed_day TEXT,
             amount_minor INTEGER, currency TEXT, source TEXT, lost_reason TEXT, close_month TEXT);
         CREATE TABLE history (deal TEXT, idx INTEGER, stage TEXT, at INTEGER, day TEXT);
         CREATE TABLE payments (deal TEXT, amount_minor INTEGER, currency TEXT, day TEXT);
         CREATE TABLE tasks (id TEXT, assignee TEXT, status TEXT, due INTEGER, closed_at INTEGER, closed_day TEXT, link TEXT);
         CREATE TABLE activities (id TEXT, logged_by TEXT, kind TEXT, direction TEXT, link TEXT, occurred_at INTEGER, day TEXT);
         CREATE INDEX history_deal ON history (deal, idx);
         CREATE INDEX deals_contact ON deals (contact);",
    )
    .unwrap();
    let zone = state.calendar.time_zone;
    for user in state.users.values() {
        db.execute(
            "INSERT INTO users VALUES (?1, ?2)",
            params![user.id.to_string(), user.department.map(|d| d.to_string())],
        )
        .unwrap();
    }
    for pipeline in state.pipelines.values() {
        for (position, stage) in pipeline.stages.iter().enumerate() {
            db.execute(
                "INSERT INTO stages VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    stage.id.to_string(),
                    pipeline.id.to_string(),
                    pipeline.id.seq() as i64,
                    position as i64,
                    text!(stage.kind),
                    stage.probability,
                    stage.name
                ],
            )
            .unwrap();
        }
    }
    for deal in state.deals.values() {
        let amount = deal.fields.amount.as_ref();
        db.execute(
            "INSERT INTO deals VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            params![
                deal.id.to_string(), deal.id.seq() as i64, deal.pipeline.to_string(), deal.owner.to_string(), text!(deal.status),
                deal.fields.contact.map(|c| c.to_string()), deal.created_at.timestamp(), day(zone, deal.created_at),
                deal.closed_at.map(|at| at.timestamp()), deal.closed_at.map(|at| day(zone, at)),
                amount.map(minor), amount.map(|m| m.currency().code()), deal.fields.source, deal.lost_reason,
                deal.fields.expected_close.map(|d| format!("{}-01", &d.to_string()[..7])),
            ],
        )
        .unwrap();
        for (idx, change) in deal.stage_history.iter().enumerate() {
            db.execute(
                "INSERT INTO history VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    deal.id.to_string(),
                    idx as i64,
                    change.to.to_string(),
                    change.at.timestamp(),
                    day(zone, change.at)
                ],
            )
            .unwrap();
        }
        for payment in &deal.payments {
            db.execute(
                "INSERT INTO payments VALUES (?1, ?2, ?3, ?4)",
                params![
                    deal.id.to_string(),
                    minor(&payment.amount),
                    payment.amount.currency().code(),
                    day(zone, payment.paid_at)
                ],
            )
            .unwrap();
        }
    }
    for task in state.tasks.values() {
        db.execute(
            "INSERT INTO tasks VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                task.id.to_string(),
                task.assignee.to_string(),
                text!(task.status),
                task.due.map(|d| d.timestamp()),
                task.closed_at.map(|at| at.timestamp()),
                task.closed_at.map(|at| day(zone, at)),
                task.link.map(|l| l.to_string())
            ],
        )
        .unwrap();
    }
    for activity in state.activities.values() {
        db.execute(
            "INSERT INTO activities VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                activity.id.to_string(),
                activity.logged_by.to_string(),
                text!(activity.kind),
                activity.direction.as_ref().map(|d| text!(d)),
                activity.link.to_string(),
                activity.occurred_at.timestamp(),
                day(zone, activity.occurred_at)
            ],
        )
        .unwrap();
    }
    db
}

fn rows(db: &Connection, sql: &str) -> Vec<Vec<rusqlite::types::Value>> {
    let mut statement = db.prepare(sql).unwrap_or_else(|err| panic!("{err}: {sql}"));
    let columns = statement.column_count();
    statement
        .query_map([], |row| {
            (0..columns)
                .map(|i| row.get::<_, rusqlite::types::Value>(i))
                .collect()
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn int(value: &rusqlite::types::Value) -> i64 {
    match value {
        rusqlite::types::Value::Integer(n) => *n,
        rusqlite::types::Value::Null => 0,
        other => panic!("not an integer: {other:?}"),
    }
}

fn string(value: &rusqlite::types::Value) -> Value {
    match value {
        rusqlite::types::Value::Text(text) => json!(text),
        rusqlite::types::Value::Null => Value::Null,
        other => panic!("not text: {other:?}"),
    }
}

fn money(minor: i64) -> Decimal {
    Decimal::new(minor, 2)
}

fn percent(part: i64, whole: i64) -> Value {
    if whole == 0 {
        return Value::Null;
    }
    let mut value = (Decimal::from(part) * Decimal::ONE_HUNDRED / Decimal::from(whole)).round_dp(1);
    value.rescale(1);
    json!(value.to_string())
}

fn average(total_minor: i64, count: i64) -> String {
    let mut value = (money(total_minor) / Decimal::from(count)).round_dp(2);
    value.rescale(2);
    value.to_string()
}

/// Count, mean and median of durations, as the reports give them.
fn summary(mut seconds: Vec<i64>) -> Value {
    if seconds.is_empty() {
        return Value::Null;
    }
    seconds.sort_unstable();
    let count = seconds.len();
    let total: i64 = seconds.iter().sum();
    let mean = (Decimal::from(total) / Decimal::from(count as i64)).round_dp(0);
    let median = ((Decimal::from(seconds[(count - 1) / 2]) + Decimal::from(seconds[count / 2]))
        / Decimal::TWO)
        .round_dp(0);
    json!({"count": count, "mean_seconds": mean.to_string(), "median_seconds": median.to_string()})
}

/// `{currency: amount}` from (currency, minor) pairs.
fn sums(pairs: impl IntoIterator<Item = (String, i64)>) -> Value {
    let mut totals: BTreeMap<String, i64> = BTreeMap::new();
    for (currency, amount) in pairs {
        *totals.entry(currency).or_default() += amount;
    }
    Value::Object(
        totals
            .into_iter()
            .map(|(c, m)| (c, json!(money(m).to_string())))
            .collect::<Map<_, _>>(),
    )
}

fn expect_equal(kind: ReportKind, engine: Value, sql: Value) {
    assert!(
        engine == sql,
        "{kind:?} differs\n engine: {engine}\n    sql: {sql}"
    );
}

fn check_funnel(db: &Connection, filter: &Filter, pipeline: &str) -> Value {
    let scope = format!(
        "pipeline = '{pipeline}' AND {} AND {}",
        filter.day("created_day"),
        filter.owner("owner")
    );
    let created = int(&rows(db, &format!("SELECT COUNT(*) FROM deals WHERE {scope}"))[0][0]);
    let reached = rows(db, &format!(
        "WITH d AS (SELECT id, status FROM deals WHERE {scope}),
              furthest AS (SELECT h.deal, MAX(s.position) AS pos FROM history h JOIN stages s ON s.id = h.stage
                           WHERE s.kind = 'open' AND h.deal IN (SELECT id FROM d) GROUP BY h.deal)
         SELECT s.id, s.name, s.kind,
                CASE s.kind WHEN 'open' THEN (SELECT COUNT(*) FROM d LEFT JOIN furthest f ON f.deal = d.id
                                             WHERE d.status = 'won' OR f.pos >= s.position)
                            WHEN 'won' THEN (SELECT COUNT(*) FROM d WHERE status = 'won')
                            ELSE (SELECT COUNT(*) FROM d WHERE status = 'lost') END
         FROM stages s WHERE s.pipeline = '{pipeline}' ORDER BY s.position"));
    let lost = rows(db, &format!(
        "SELECT (SELECT h.stage FROM history h WHERE h.deal = d.id ORDER BY h.idx DESC LIMIT 1 OFFSET 1), lost_reason, COUNT(*)
         FROM deals d WHERE {scope} AND status = 'lost' GROUP BY 1, 2 ORDER BY 3 DESC, 2"));
    let mut previous: Option<i64> = None;
    let stages: Vec<Value> = reached
        .iter()
        .map(|row| {
            let (stage, kind, count) = (string(&row[0]), string(&row[2]), int(&row[3]));
            let conversion = if kind == "lost" { Value::Null } else { previous.map_or(Value::Null, |p| percent(count, p)) };
            if kind == "open" {
                previous = Some(count);
            }
            let reasons: Vec<Value> = lost.iter().filter(|l| string(&l[0]) == stage)
                .map(|l| json!({"reason": string(&l[1]), "count": int(&l[2])})).collect();
            json!({"stage": stage, "name": string(&row[1]), "kind": kind, "reached": count, "conversion": conversion, "lost": reasons})
        })
        .collect();
    json!({"report": "funnel", "pipeline": pipeline, "created": created, "stages": stages})
}

/// Won deals, won amounts and payments of one owner in one month.
type Period = (i64, Vec<(String, i64)>, Vec<(String, i64)>);

/// An owner's ID, won and lost counts, and (currency, total, count) of won amounts.
type OwnerTotals = (String, i64, i64, Vec<(String, i64, i64)>);

fn check_revenue(db: &Connection, filter: &Filter) -> Value {
    let won = rows(db, &format!(
        "SELECT substr(closed_day, 1, 7) || '-01', owner, currency, COUNT(*), SUM(amount_minor) FROM deals
         WHERE status = 'won' AND {} AND {} GROUP BY 1, 2, 3", filter.day("closed_day"), filter.owner("owner")));
    let paid = rows(db, &format!(
        "SELECT substr(p.day, 1, 7) || '-01', d.owner, p.currency, SUM(p.amount_minor) FROM payments p JOIN deals d ON d.id = p.deal
         WHERE {} AND {} GROUP BY 1, 2, 3", filter.day("p.day"), filter.owner("d.owner")));
    let mut periods: BTreeMap<(String, i64, String), Period> = BTreeMap::new();
    let key = |period: &Value, owner: &Value| {
        let owner = owner.as_str().unwrap().to_string();
        let seq: i64 = owner.rsplit('-').next().unwrap().parse().unwrap();
        (period.as_str().unwrap().to_string(), seq, owner)
    };
    for row in &won {
        let entry = periods
            .entry(key(&string(&row[0]), &string(&row[1])))
            .or_default();
        entry.0 += int(&row[3]);
        entry
            .1
            .push((string(&row[2]).as_str().unwrap().into(), int(&row[4])));
    }
    for row in &paid {
        let entry = periods
            .entry(key(&string(&row[0]), &string(&row[1])))
            .or_default();
        entry
            .2
            .push((string(&row[2]).as_str().unwrap().into(), int(&row[3])));
    }
    let rows: Vec<Value> = periods.into_iter().map(|((period, _, owner), (count, won, paid))| {
        json!({"period": period, "owner": owner, "won": count, "won_amount": sums(won), "paid": sums(paid)})
    }).collect();
    json!({"report": "revenue", "by": "month", "rows": rows})
}

fn check_win_rate(db: &Connection, filter: &Filter) -> Value {
    let closed = rows(db, &format!(
        "SELECT CAST(substr(owner, 7) AS INTEGER), owner, status, currency, COUNT(*), SUM(amount_minor) FROM deals
         WHERE status IN ('won', 'lost') AND {} AND {} GROUP BY 1, 2, 3, 4 ORDER BY 1", filter.day("closed_day"), filter.owner("owner")));
    let mut owners: BTreeMap<i64, OwnerTotals> = BTreeMap::new();
    for row in &closed {
        let entry = owners
            .entry(int(&row[0]))
            .or_insert_with(|| (string(&row[1]).as_str().unwrap().into(), 0, 0, Vec::new()));
        if string(&row[2]) == "won" {
            entry.1 += int(&row[4]);
            entry.3.push((
                string(&row[3]).as_str().unwrap().into(),
                int(&row[5]),
                int(&row[4]),
            ));
        } else {
            entry.2 += int(&row[4]);
        }
    }
    let row = |owner: Value, won: i64, lost: i64, amounts: &[(String, i64, i64)]| {
        let mut per: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
        for (currency, total, count) in amounts {
            let entry = per.entry(currency).or_default();
            entry.0 += total;
            entry.1 += count;
        }
        json!({"owner": owner, "won": won, "lost": lost, "win_rate": percent(won, won + lost),
               "won_amount": sums(per.iter().map(|(c, (t, _))| (c.to_string(), *t))),
               "average_won": per.iter().map(|(c, (t, n))| (c.to_string(), json!(average(*t, *n)))).collect::<Map<_, _>>()})
    };
    let all: Vec<(String, i64, i64)> = owners.values().flat_map(|o| o.3.clone()).collect();
    let (won, lost) = owners.values().fold((0, 0), |(w, l), o| (w + o.1, l + o.2));
    let rows: Vec<Value> = owners
        .values()
        .map(|(owner, won, lost, amounts)| row(json!(owner), *won, *lost, amounts))
        .collect();
    json!({"report": "win_rate", "rows": rows, "total": row(Value::Null, won, lost, &all)})
}

fn check_forecast(db: &Connection) -> Value {
    let open = rows(db,
        "SELECT d.pipeline, d.close_month, s.position, s.id, s.name, s.probability, d.currency, COUNT(*), SUM(d.amount_minor)
         FROM deals d JOIN stages s ON s.id = (SELECT stage FROM history h WHERE h.deal = d.id ORDER BY idx DESC LIMIT 1)
         WHERE d.status = 'open' GROUP BY 1, 2, 3, 7 ORDER BY s.pipeline_seq, 2, 3, 7");
    let mut out: Vec<Value> = Vec::new();
    let mut last: Option<(Value, Value, i64)> = None;
    for row in &open {
        let key = (string(&row[0]), string(&row[1]), int(&row[2]));
        let probability = int(&row[5]);
        let (currency, count, total) = (
            string(&row[6]).as_str().unwrap().to_string(),
            int(&row[7]),
            int(&row[8]),
        );
        // Weighted: the total × probability, rounded half to even to whole cents.
        let weighted =
            (money(total) * Decimal::from(probability) / Decimal::ONE_HUNDRED).round_dp(2);
        let mut weighted = weighted;
        weighted.rescale(2);
        if last.as_ref() != Some(&key) {
            out.push(json!({"pipeline": key.0, "close_month": key.1, "stage": string(&row[3]), "stage_name": string(&row[4]),
                "probability": probability, "count": 0, "amount": {}, "weighted": {}}));
            last = Some(key);
        }
        let entry = out.last_mut().unwrap();
        entry["count"] = json!(entry["count"].as_i64().unwrap() + count);
        entry["amount"][&currency] = json!(money(total).to_string());
        entry["weighted"][&currency] = json!(weighted.to_string());
    }
    json!({"report": "forecast", "rows": out})
}

fn durations_by(db: &Connection, sql: &str) -> BTreeMap<(i64, String), Vec<i64>> {
    let mut groups: BTreeMap<(i64, String), Vec<i64>> = BTreeMap::new();
    for row in rows(db, sql) {
        groups
            .entry((int(&row[0]), string(&row[1]).as_str().unwrap().to_string()))
            .or_default()
            .push(int(&row[2]));
    }
    groups
}

fn check_cycle(db: &Connection, filter: &Filter) -> Value {
    let owners = durations_by(
        db,
        &format!(
            "SELECT CAST(substr(owner, 7) AS INTEGER), owner, closed_at - created_at FROM deals
         WHERE status = 'won' AND {} AND {}",
            filter.day("closed_day"),
            filter.owner("owner")
        ),
    );
    let all: Vec<i64> = owners.values().flatten().copied().collect();
    let rows: Vec<Value> = owners
        .into_iter()
        .map(|((_, owner), seconds)| {
            let mut row = summary(seconds);
            row["owner"] = json!(owner);
            row
        })
        .collect();
    json!({"report": "cycle", "rows": rows, "total": summary(all)})
}

fn check_stage_time(db: &Connection, filter: &Filter) -> Value {
    let visits = rows(db, &format!(
        "WITH v AS (SELECT h.deal, h.stage, h.at, LEAD(h.at) OVER w AS next_at, LEAD(h.day) OVER w AS next_day
                    FROM history h WINDOW w AS (PARTITION BY h.deal ORDER BY h.idx))
         SELECT s.pipeline_seq * 1000 + s.position, s.id, v.next_at - v.at, s.pipeline, s.name FROM v
         JOIN stages s ON s.id = v.stage JOIN deals d ON d.id = v.deal
         WHERE v.next_at IS NOT NULL AND {} AND {}", filter.day("v.next_day"), filter.owner("d.owner")));
    let mut stages: BTreeMap<i64, (Value, Value, Value, Vec<i64>)> = BTreeMap::new();
    for row in &visits {
        let entry = stages.entry(int(&row[0])).or_insert_with(|| {
            (
                string(&row[3]),
                string(&row[1]),
                string(&row[4]),
                Vec::new(),
            )
        });
        entry.3.push(int(&row[2]));
    }
    let rows: Vec<Value> = stages
        .into_values()
        .map(|(pipeline, stage, name, seconds)| {
            let mut row = summary(seconds);
            row["pipeline"] = pipeline;
            row["stage"] = stage;
            row["name"] = name;
            row
        })
        .collect();
    json!({"report": "stage_time", "rows": rows})
}

fn check_sources(db: &Connection, filter: &Filter) -> Value {
    let scope = format!(
        "{} AND {}",
        filter.day("created_day"),
        filter.owner("owner")
    );
    let created = rows(db, &format!("SELECT source, COUNT(*), SUM(status = 'won') FROM deals WHERE {scope} GROUP BY 1 ORDER BY 1"));
    let won = rows(db, &format!("SELECT source, currency, SUM(amount_minor) FROM deals WHERE {scope} AND status = 'won' GROUP BY 1, 2"));
    let rows: Vec<Value> = created.iter().map(|row| {
        let source = string(&row[0]);
        let amounts = won.iter().filter(|w| string(&w[0]) == source).map(|w| (string(&w[1]).as_str().unwrap().to_string(), int(&w[2])));
        json!({"source": source, "created": int(&row[1]), "won": int(&row[2]), "conversion": percent(int(&row[2]), int(&row[1])),
               "won_amount": sums(amounts)})
    }).collect();
    json!({"report": "sources", "rows": rows})
}

/// The SLA row of user `id`, created empty on first use.
fn sla_row<'a>(
    users: &'a mut BTreeMap<i64, Map<String, Value>>,
    id: &Value,
) -> &'a mut Map<String, Value> {
    let id = id.as_str().unwrap().to_string();
    let seq: i64 = id.rsplit('-').next().unwrap().parse().unwrap();
    users.entry(seq).or_insert_with(|| {
        let empty = json!({"user": id, "new_deals": 0, "first_contact": null, "tasks_done": 0, "tasks_late": 0,
                           "late_share": null, "overdue_now": 0, "activities": {}});
        empty.as_object().unwrap().clone()
    })
}

fn check_sla(db: &Connection, filter: &Filter, now: DateTime<Utc>) -> Value {
    let mut users: BTreeMap<i64, Map<String, Value>> = BTreeMap::new();
    let deal_scope = format!(
        "{} AND {}",
        filter.day("d.created_day"),
        filter.owner("d.owner")
    );
    for row in rows(
        db,
        &format!("SELECT d.owner, COUNT(*) FROM deals d WHERE {deal_scope} GROUP BY 1"),
    ) {
        sla_row(&mut users, &string(&row[0])).insert("new_deals".into(), json!(int(&row[1])));
    }
    // First contact: the earliest outbound call, e-mail or meeting, or completed task, on
    // the deal or its client, from the deal's creation on.
    let firsts = rows(db, &format!(
        "SELECT d.owner, MIN(t.at) - d.created_at FROM deals d JOIN (
             SELECT link, occurred_at AS at FROM activities
             WHERE kind IN ('call', 'email', 'meeting') AND (direction IS NULL OR direction != 'inbound')
             UNION ALL SELECT link, closed_at FROM tasks WHERE status = 'done') t
           ON (t.link = d.id OR t.link = d.contact) AND t.at >= d.created_at
         WHERE {deal_scope} GROUP BY d.id"));
    let mut first_contact: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for row in &firsts {
        first_contact
            .entry(string(&row[0]).as_str().unwrap().into())
            .or_default()
            .push(int(&row[1]));
    }
    for (owner, seconds) in first_contact {
        sla_row(&mut users, &json!(owner)).insert("first_contact".into(), summary(seconds));
    }
    for row in rows(db, &format!(
        "SELECT assignee, COUNT(*), SUM(closed_at > due) FROM tasks WHERE status = 'done' AND {} AND {} GROUP BY 1",
        filter.day("closed_day"), filter.owner("assignee"))) {
        let entry = sla_row(&mut users, &string(&row[0]));
        entry.insert("tasks_done".into(), json!(int(&row[1])));
        entry.insert("tasks_late".into(), json!(int(&row[2])));
        entry.insert("late_share".into(), percent(int(&row[2]), int(&row[1])));
    }
    for row in rows(
        db,
        &format!(
        "SELECT assignee, COUNT(*) FROM tasks WHERE status = 'open' AND due < {} AND {} GROUP BY 1",
        now.timestamp(), filter.owner("assignee")),
    ) {
        sla_row(&mut users, &string(&row[0])).insert("overdue_now".into(), json!(int(&row[1])));
    }
    for row in rows(db, &format!(
        "SELECT logged_by, kind, COUNT(*) FROM activities WHERE logged_by LIKE 'usr-%' AND {} AND {} GROUP BY 1, 2",
        filter.day("day"), filter.owner("logged_by"))) {
        let entry = sla_row(&mut users, &string(&row[0]));
        entry["activities"][string(&row[1]).as_str().unwrap()] = json!(int(&row[2]));
    }
    json!({"report": "sla", "rows": users.into_values().map(Value::Object).collect::<Vec<_>>()})
}

fn check_clients(db: &Connection, filter: &Filter) -> Value {
    let visits = rows(db, &format!(
        "WITH v AS (SELECT id, contact, owner, currency, amount_minor, closed_day,
                    closed_at - LAG(closed_at) OVER (PARTITION BY contact ORDER BY closed_at, seq) AS gap
                    FROM deals WHERE status = 'won' AND contact IS NOT NULL)
         SELECT contact, currency, amount_minor, gap FROM v WHERE {} AND {}", filter.day("closed_day"), filter.owner("owner")));
    let clients: std::collections::BTreeSet<String> = visits
        .iter()
        .map(|v| string(&v[0]).as_str().unwrap().to_string())
        .collect();
    let mut per: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for visit in &visits {
        let entry = per
            .entry(string(&visit[1]).as_str().unwrap().into())
            .or_default();
        entry.0 += int(&visit[2]);
        entry.1 += 1;
    }
    let gaps: Vec<i64> = visits
        .iter()
        .filter(|v| v[3] != rusqlite::types::Value::Null)
        .map(|v| int(&v[3]))
        .collect();
    let per_client = if clients.is_empty() {
        Value::Null
    } else {
        let mut ratio =
            (Decimal::from(visits.len() as i64) / Decimal::from(clients.len() as i64)).round_dp(2);
        ratio.rescale(2);
        json!(ratio.to_string())
    };
    json!({"report": "clients", "visits": visits.len(), "clients": clients.len(),
           "revenue": sums(per.iter().map(|(c, (t, _))| (c.clone(), *t))),
           "average_bill": per.iter().map(|(c, (t, n))| (c.clone(), json!(average(*t, *n)))).collect::<Map<_, _>>(),
           "visits_per_client": per_client, "between_visits": summary(gaps)})
}

#[test]
fn every_report_equals_sql_over_the_same_data() {
    let shop = crm_bench::load(DEALS, 42).unwrap();
    let state = shop.crm.state();
    let db = load(state);
    let admin: Actor = "usr-1-1".parse().unwrap();
    let sales = state.pipelines.keys().next().unwrap().to_string();
    let filters = [
        Filter {
            from: "2000-01-01",
            to: "2100-01-01",
            department: None,
        },
        Filter {
            from: "2026-01-01",
            to: "2026-06-30",
            department: Some("dep-1-2"),
        },
    ];
    for filter in &filters {
        let engine = |kind: ReportKind, pipeline: Option<&str>| {
            let mut request = filter.request(kind);
            request.pipeline = pipeline.map(|p| p.parse().unwrap());
            serde_json::to_value(shop.crm.report(admin, shop.now, &request).unwrap()).unwrap()
        };
        expect_equal(
            ReportKind::Funnel,
            engine(ReportKind::Funnel, Some(&sales)),
            check_funnel(&db, filter, &sales),
        );
        expect_equal(
            ReportKind::Revenue,
            engine(ReportKind::Revenue, None),
            check_revenue(&db, filter),
        );
        expect_equal(
            ReportKind::WinRate,
            engine(ReportKind::WinRate, None),
            check_win_rate(&db, filter),
        );
        expect_equal(
            ReportKind::Cycle,
            engine(ReportKind::Cycle, None),
            check_cycle(&db, filter),
        );
        expect_equal(
            ReportKind::StageTime,
            engine(ReportKind::StageTime, None),
            check_stage_time(&db, filter),
        );
        expect_equal(
            ReportKind::Sources,
            engine(ReportKind::Sources, None),
            check_sources(&db, filter),
        );
        expect_equal(
            ReportKind::Sla,
            engine(ReportKind::Sla, None),
            check_sla(&db, filter, shop.now),
        );
        expect_equal(
            ReportKind::Clients,
            engine(ReportKind::Clients, None),
            check_clients(&db, filter),
        );
    }
    let forecast = serde_json::to_value(
        shop.crm
            .report(admin, shop.now, &ReportRequest::new(ReportKind::Forecast))
            .unwrap(),
    )
    .unwrap();
    expect_equal(ReportKind::Forecast, forecast, check_forecast(&db));
    // The data is not trivial: every report has rows to compare.
    assert!(state.deals.len() as u64 == DEALS && state.activities.len() > 4 * DEALS as usize);
}
