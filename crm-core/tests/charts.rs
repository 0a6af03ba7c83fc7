//! Charts: every report of a demo shop drawn as SVG, parsed back with an XML parser and
//! checked against its series — bars per label and series, points per line, legend
//! entries, axis labels, escaped names. The pictures in docs/img are these charts; a
//! test fails when they drift (regenerate: `UPDATE_DOCS=1 cargo test -p crm-core --test charts`).

use chrono::{DateTime, Duration, Utc};
use crm_core::*;
use crm_core::{Chart, ChartKind};
use serde_json::{json, Value};

const ADMIN: &str = "usr-1-1";

fn at(text: &str) -> DateTime<Utc> {
    parse_now(text).unwrap()
}

fn run(crm: &mut Crm, actor: &str, now: DateTime<Utc>, command: Value) -> Value {
    let outcome = crm
        .execute_json(actor, &now.to_rfc3339(), &command.to_string())
        .unwrap_or_else(|err| panic!("{command}: {err}"));
    serde_json::from_str(&outcome).unwrap()
}

/// A window shop's autumn: 48 deals over three managers, moved, won, lost, paid, with
/// a call task and often a call each. Deterministic, so the pictures are too.
fn demo() -> (Crm, DateTime<Utc>) {
    let mut crm = Crm::new(ReplicaId::new(1).unwrap(), CrmOptions::default()).unwrap();
    let start = at("2026-09-01T07:00:00Z");
    let setup = [
        json!({"type": "create_user", "name": "Olga", "role": "admin"}),
        json!({"type": "create_department", "name": "Sales"}),
        json!({"type": "create_user", "name": "Rita", "role": "head_of_department", "department": "dep-1-2"}),
        json!({"type": "create_user", "name": "Ivan", "role": "manager", "department": "dep-1-2"}),
        json!({"type": "create_user", "name": "Anna", "role": "manager", "department": "dep-1-2"}),
        json!({"type": "create_user", "name": "Petr", "role": "manager", "department": "dep-1-2"}),
        json!({"type": "set_calendar", "time_zone": "Europe/Berlin", "working_days": ["mon", "tue", "wed", "thu", "fri"],
               "hours": [{"from": "09:00", "to": "18:00"}]}),
        json!({"type": "create_pipeline", "name": "Windows", "lost_reasons": ["Too expensive", "No answer", "Chose a competitor"],
               "stages": [{"name": "New"}, {"name": "Measured"}, {"name": "Offer"}, {"name": "Contract"},
                          {"name": "Won", "kind": "won"}, {"name": "Lost", "kind": "lost"}]}),
    ];
    for (index, command) in setup.into_iter().enumerate() {
        run(
            &mut crm,
            if index == 0 { "system" } else { ADMIN },
            start,
            command,
        );
    }
    let pipeline = "pip-1-7";
    let stage = |n: u64| format!("stg-1-{}", 8 + n);
    let owners = ["usr-1-4", "usr-1-5", "usr-1-6"];
    let sources = ["website", "phone", "referral"];
    let reasons = ["Too expensive", "No answer", "Chose a competitor"];
    // Each deal's life is planned first and everything runs in time order (commands are
    // recorded in time order); "$deal" and "$task" stand for the deal's IDs.
    let mut plan: Vec<(DateTime<Utc>, usize, usize, &str, Value)> = Vec::new();
    for i in 0..48u64 {
        let owner = owners[(i % 3) as usize];
        let created = start + Duration::days(i as i64 * 2) + Duration::hours((i % 5) as i64);
        let currency = if i % 7 == 0 { "USD" } else { "EUR" };
        let amount = format!("{}.00", 500 + (i * 137) % 2_000);
        let mut life = vec![
            (
                created,
                json!({"type": "create_deal", "title": format!("Windows #{}", i + 1),
                "pipeline": pipeline, "amount": {"amount": amount, "currency": currency}, "source": sources[(i % 3) as usize],
                "expected_close": (created + Duration::days(30 + (i % 4) as i64 * 20)).date_naive()}),
            ),
            (
                created,
                json!({"type": "create_task", "title": "First call", "kind": "call",
                "link": "$deal", "due": created + Duration::hours(1)}),
            ),
            (
                created + Duration::minutes(20 + (i % 4) as i64 * 30),
                json!({"type": "complete_task", "id": "$task", "outcome": "reached"}),
            ),
        ];
        let path: &[u64] = match i % 6 {
            0 => &[],
            1 => &[1],
            2 => &[1, 2, 5],
            3 => &[1, 2, 3],
            _ => &[1, 2, 3, 4],
        };
        let mut when = created;
        for (step, next) in path.iter().enumerate() {
            when += Duration::hours(20 + ((i + step as u64) % 5) as i64 * 17);
            let mut command = json!({"type": "move_deal", "id": "$deal", "stage": stage(*next)});
            if *next == 5 {
                command["lost_reason"] = json!(reasons[(i % 3) as usize]);
            }
            life.push((when, command));
        }
        if path.last() == Some(&4) {
            life.push((
                when + Duration::days(2),
                json!({"type": "record_payment", "deal": "$deal",
                "amount": {"amount": amount, "currency": currency}}),
            ));
        }
        for (at, command) in life {
            plan.push((at, plan.len(), i as usize, owner, command));
        }
    }
    plan.sort_by_key(|(at, order, ..)| (*at, *order));
    let mut ids: Vec<(String, String)> = vec![(String::new(), String::new()); 48];
    for (at, _, deal, owner, command) in plan {
        let text = command
            .to_string()
            .replace("\"$deal\"", &format!("\"{}\"", ids[deal].0))
            .replace("\"$task\"", &format!("\"{}\"", ids[deal].1));
        let outcome = run(&mut crm, owner, at, serde_json::from_str(&text).unwrap());
        let created = outcome["created"].as_str().unwrap_or_default().to_string();
        match command["type"].as_str() {
            Some("create_deal") => ids[deal].0 = created,
            Some("create_task") => ids[deal].1 = created,
            _ => {}
        }
    }
    (crm, at("2026-12-20T09:00:00Z"))
}

fn request(kind: ReportKind) -> ReportRequest {
    let mut request = ReportRequest::new(kind);
    if kind == ReportKind::Revenue {
        request.by = Some(Bucket::Week);
    }
    request
}

fn name(kind: ReportKind) -> String {
    serde_json::to_value(kind)
        .unwrap()
        .as_str()
        .unwrap()
        .replace('_', "-")
}

/// The SVG parsed, and its chart's series checked against what was drawn.
fn check(chart: &Chart, svg: &str) {
    let document = roxmltree::Document::parse(svg).unwrap_or_else(|err| panic!("{err}: {svg}"));
    let root = document.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(root.attribute("viewBox"), Some("0 0 720 400"));
    let texts = |class: &str| -> Vec<String> {
        root.descendants()
            .filter(|node| node.attribute("class") == Some(class))
            .map(|node| node.text().unwrap_or_default().to_string())
            .collect()
    };
    let count = |class: &str| {
        root.descendants()
            .filter(|node| node.attribute("class") == Some(class))
            .count()
    };
    assert_eq!(texts("title"), vec![chart.title.clone()]);
    let cells = chart.labels.len() * chart.series.len();
    match chart.kind {
        ChartKind::Funnel => {
            assert_eq!(count("bar"), chart.labels.len());
            let expected: Vec<String> = chart
                .labels
                .iter()
                .zip(&chart.series[0].values)
                .map(|(label, value)| format!("{label}: {value}"))
                .collect();
            assert_eq!(texts("label"), expected);
        }
        ChartKind::Bars => {
            assert_eq!(count("bar"), cells, "{svg}");
            let first = root
                .descendants()
                .find(|node| node.attribute("class") == Some("bar"))
                .unwrap();
            let tooltip = first.first_element_child().unwrap().text().unwrap();
            assert_eq!(
                tooltip,
                format!(
                    "{}: {} {}",
                    chart.series[0].name, chart.labels[0], chart.series[0].values[0]
                )
            );
        }
        ChartKind::Lines => {
            assert_eq!(count("line"), chart.series.len());
            assert_eq!(count("point"), cells);
        }
    }
    if chart.kind != ChartKind::Funnel {
        let legend: Vec<String> = root
            .descendants()
            .filter(|node| node.attribute("class") == Some("legend"))
            .map(|group| {
                group
                    .descendants()
                    .find(|n| n.has_tag_name("text"))
                    .unwrap()
                    .text()
                    .unwrap()
                    .to_string()
            })
            .collect();
        let names: Vec<String> = chart
            .series
            .iter()
            .map(|series| series.name.clone())
            .collect();
        assert_eq!(legend, names);
        let labels = texts("label");
        assert_eq!(labels.len(), chart.labels.len());
        for (drawn, label) in labels.iter().zip(&chart.labels) {
            assert!(
                label.starts_with(drawn.trim_end_matches('…')),
                "{drawn} for {label}"
            );
        }
        assert_eq!(count("tick"), 5);
    }
}

#[test]
fn every_report_draws_as_valid_svg_matching_its_series() {
    let (crm, now) = demo();
    let admin: Actor = ADMIN.parse().unwrap();
    let update = std::env::var("UPDATE_DOCS").is_ok();
    for kind in ReportKind::ALL {
        let drawing = crm.chart(admin, now, &request(kind)).unwrap();
        assert!(
            !drawing.chart.labels.is_empty(),
            "{kind:?} has nothing to draw"
        );
        check(&drawing.chart, &drawing.svg);
        let path = format!(
            "{}/../docs/img/report-{}.svg",
            env!("CARGO_MANIFEST_DIR"),
            name(kind)
        );
        if update {
            std::fs::write(&path, &drawing.svg).unwrap();
        } else {
            let committed = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                committed == drawing.svg,
                "{path} is out of date: UPDATE_DOCS=1 cargo test -p crm-core --test charts"
            );
        }
    }
}

#[test]
fn names_are_escaped_and_an_empty_report_says_so() {
    let mut crm = Crm::new(ReplicaId::new(1).unwrap(), CrmOptions::default()).unwrap();
    let now = at("2026-11-27T09:00:00Z");
    run(
        &mut crm,
        "system",
        now,
        json!({"type": "create_user", "name": "Olga", "role": "admin"}),
    );
    let admin: Actor = ADMIN.parse().unwrap();
    let empty = crm
        .chart(admin, now, &ReportRequest::new(ReportKind::WinRate))
        .unwrap();
    let document = roxmltree::Document::parse(&empty.svg).unwrap();
    assert!(document
        .descendants()
        .any(|n| n.attribute("class") == Some("empty") && n.text() == Some("No data")));

    run(
        &mut crm,
        ADMIN,
        now,
        json!({"type": "create_user", "name": "Ivan <&> \"Boss\"", "role": "manager"}),
    );
    run(
        &mut crm,
        ADMIN,
        now,
        json!({"type": "create_pipeline", "name": "P", "stages": [{"name": "New"}, {"name": "Won", "kind": "won"}, {"name": "Lost", "kind": "lost"}]}),
    );
    run(
        &mut crm,
        "usr-1-2",
        now,
        json!({"type": "create_deal", "title": "D", "pipeline": "pip-1-3"}),
    );
    run(
        &mut crm,
        "usr-1-2",
        now,
        json!({"type": "move_deal", "id": "deal-1-7", "stage": "stg-1-5"}),
    );
    let drawing = crm
        .chart(admin, now, &ReportRequest::new(ReportKind::WinRate))
        .unwrap();
    check(&drawing.chart, &drawing.svg);
    assert!(drawing.svg.contains("Ivan &lt;&amp;&gt; &quot;Boss&quot;"));
    let document = roxmltree::Document::parse(&drawing.svg).unwrap();
    let label = document
        .descendants()
        .find(|n| n.attribute("class") == Some("label"))
        .unwrap();
    assert_eq!(label.text(), Some("Ivan <&> \"Boss\""));
}
