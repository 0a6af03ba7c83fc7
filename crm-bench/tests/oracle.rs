//! The oracle: a generated history is loaded into SQLite as plain tables (deals, stage
//! history, payments, tasks, activities; business days precomputed in the calendar's
//! time zone, money in minor units), every report is computed again in SQL, and the
//! engine's incremental answer must equal it exactly — for the whole history, and for
//! half a year of one department.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use crm_bench::sql::{self, Filter};
use crm_core::*;
use rusqlite::Connection;
use serde_json::{json, Map, Value};

const DEALS: u64 = 3_000;

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
    let [created, reached, lost] = sql::funnel(filter, pipeline);
    let created = int(&rows(db, &created)[0][0]);
    let reached = rows(db, &reached);
    let lost = rows(db, &lost);
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
    let [won, paid] = sql::revenue(filter);
    let (won, paid) = (rows(db, &won), rows(db, &paid));
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
    let closed = rows(db, &sql::win_rate(filter));
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
    let open = rows(db, &sql::forecast());
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
    let owners = durations_by(db, &sql::cycle(filter));
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
    let visits = rows(db, &sql::stage_time(filter));
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
    let [created, won] = sql::sources(filter);
    let (created, won) = (rows(db, &created), rows(db, &won));
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
        let empty = json!({"owner": id, "user": id, "new_deals": 0, "first_contact": null, "tasks_done": 0, "tasks_late": 0,
                           "late_share": null, "overdue_now": 0, "activities": {}});
        empty.as_object().unwrap().clone()
    })
}

fn check_sla(db: &Connection, filter: &Filter, now: DateTime<Utc>) -> Value {
    let mut users: BTreeMap<i64, Map<String, Value>> = BTreeMap::new();
    let [new_deals, firsts, tasks, overdue, activities] = sql::sla(filter, now);
    for row in rows(db, &new_deals) {
        sla_row(&mut users, &string(&row[0])).insert("new_deals".into(), json!(int(&row[1])));
    }
    let mut first_contact: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for row in rows(db, &firsts) {
        first_contact
            .entry(string(&row[0]).as_str().unwrap().into())
            .or_default()
            .push(int(&row[1]));
    }
    for (owner, seconds) in first_contact {
        sla_row(&mut users, &json!(owner)).insert("first_contact".into(), summary(seconds));
    }
    for row in rows(db, &tasks) {
        let entry = sla_row(&mut users, &string(&row[0]));
        entry.insert("tasks_done".into(), json!(int(&row[1])));
        entry.insert("tasks_late".into(), json!(int(&row[2])));
        entry.insert("late_share".into(), percent(int(&row[2]), int(&row[1])));
    }
    for row in rows(db, &overdue) {
        sla_row(&mut users, &string(&row[0])).insert("overdue_now".into(), json!(int(&row[1])));
    }
    for row in rows(db, &activities) {
        let entry = sla_row(&mut users, &string(&row[0]));
        entry["activities"][string(&row[1]).as_str().unwrap()] = json!(int(&row[2]));
    }
    json!({"report": "sla", "rows": users.into_values().map(Value::Object).collect::<Vec<_>>()})
}

fn check_clients(db: &Connection, filter: &Filter) -> Value {
    let visits = rows(db, &sql::clients(filter));
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
    let db = sql::load(state).unwrap();
    let admin: Actor = "usr-1-1".parse().unwrap();
    let sales = state.pipelines().keys().next().unwrap().to_string();
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
        // Edges inside months: whole months from the monthly figures, days around them.
        Filter {
            from: "2025-03-17",
            to: "2026-02-09",
            department: None,
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
    assert!(state.deals().len() as u64 == DEALS && state.activities().len() > 4 * DEALS as usize);
}
