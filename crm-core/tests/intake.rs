//! Intake adapters beyond the shared scenario: duplicate policies, unknown callers,
//! Asterisk's local times across the autumn clock change, and junk of every size.

use serde_json::{json, Value};

use crm_core::*;

mod common;
use common::{german_crm, run_all, sales_team};

const ADMIN: &str = "usr-1-1";

/// A Berlin shop with a manager (usr-1-3), a pipeline (pip-1-4) and intake `settings`.
fn shop(settings: Value) -> Crm {
    let mut crm = german_crm();
    sales_team(&mut crm, "2026-10-25T12:00:00Z");
    let steps = vec![
        (
            ADMIN,
            json!({"type": "create_pipeline", "name": "Windows",
            "stages": [{"name": "New"}, {"name": "Won", "kind": "won"}, {"name": "Lost", "kind": "lost"}]}),
        ),
        (
            ADMIN,
            json!({"type": "set_calendar", "time_zone": "Europe/Berlin",
            "working_days": ["mon", "tue", "wed", "thu", "fri"], "hours": [{"from": "09:00", "to": "18:00"}]}),
        ),
        (ADMIN, settings),
    ];
    run_all(&mut crm, "2026-10-25T12:00:00Z", steps);
    crm
}

fn run(crm: &mut Crm, actor: &str, command: Value) -> Result<Vec<String>, CrmError> {
    let outcome = crm.execute_json(actor, "2026-10-25T12:00:00Z", &command.to_string())?;
    let outcome: Value = serde_json::from_str(&outcome).unwrap();
    Ok(common::event_types(&outcome))
}

fn form(phone: &str, name: &str) -> Value {
    json!({"type": "receive_form", "form": "contact", "fields": {"name": name, "phone": phone}})
}

#[test]
fn duplicate_policies_attach_flag_or_refuse() {
    let mut attach =
        shop(json!({"type": "configure_intake", "owner": "usr-1-3", "pipeline": "pip-1-4"}));
    run(&mut attach, "system", form("030 1234567", "Petra")).unwrap();
    let events = run(&mut attach, "system", form("+49 30 1234567", "Petra S.")).unwrap();
    assert_eq!(events, ["activity_logged"], "attached to the open deal");
    assert_eq!(attach.state().contacts().len(), 1);

    let mut flag = shop(
        json!({"type": "configure_intake", "owner": "usr-1-3", "on_duplicate": "create_and_flag"}),
    );
    run(&mut flag, "system", form("030 1234567", "Petra")).unwrap();
    let events = run(&mut flag, "system", form("030 1234567", "Petra S.")).unwrap();
    assert_eq!(
        events,
        ["contact_created", "activity_logged"],
        "no pipeline: no deal"
    );
    let flagged = flag.state().contacts().values().last().unwrap();
    assert!(flagged.fields.tags.contains("possible-duplicate"));

    let mut reject =
        shop(json!({"type": "configure_intake", "owner": "usr-1-3", "on_duplicate": "reject"}));
    run(&mut reject, "system", form("030 1234567", "Petra")).unwrap();
    let journal = reject.state().last_seq();
    let error = run(&mut reject, "system", form("030 1234567", "Petra S.")).unwrap_err();
    assert!(
        error.to_string().contains("matches contact con-1-"),
        "{error}"
    );
    assert_eq!(
        reject.state().last_seq(),
        journal,
        "a refused request records nothing"
    );
}

#[test]
fn intake_without_an_owner_says_what_to_configure() {
    let mut crm = shop(json!({"type": "configure_intake", "pipeline": "pip-1-4"}));
    let error = run(&mut crm, "system", form("030 1234567", "Petra")).unwrap_err();
    assert_eq!(error.code(), "validation");
    assert!(error.to_string().contains("intake.owner"), "{error}");
}

#[test]
fn unknown_callers_can_be_left_unlogged() {
    let mut crm = shop(
        json!({"type": "configure_intake", "owner": "usr-1-3", "ignore_unknown_callers": true}),
    );
    let call = json!({"type": "receive_call", "call": {"direction": "inbound", "from": "+49 171 5550101",
        "to": "+49301110000", "started_at": "2026-10-25T11:00:00Z", "outcome": "missed"}});
    assert_eq!(run(&mut crm, "system", call).unwrap(), Vec::<String>::new());
    assert!(crm.state().contacts().is_empty());
}

fn cdr(start: &str, disposition: &str, application: &str) -> Value {
    json!({"type": "receive_call", "asterisk_cdr": {"Source": "+49 171 5550101", "Destination": "+49301110000",
        "StartTime": start, "Disposition": disposition, "LastApplication": application}})
}

#[test]
fn asterisk_times_are_read_in_the_business_time_zone_across_the_clock_change() {
    let mut crm = shop(json!({"type": "configure_intake", "owner": "usr-1-3"}));
    // 25 October 2026: Berlin goes from 03:00 CEST back to 02:00 CET; 02:30 happens
    // twice and is read as the first (00:30 UTC). Before: UTC+2, after: UTC+1.
    for (local, utc) in [
        ("2026-10-25 01:30:00", "2026-10-24T23:30:00Z"),
        ("2026-10-25 02:30:00", "2026-10-25T00:30:00Z"),
        ("2026-10-25 03:30:00", "2026-10-25T02:30:00Z"),
    ] {
        run(&mut crm, "system", cdr(local, "ANSWERED", "Dial")).unwrap();
        let logged = crm.state().activities().values().last().unwrap();
        assert_eq!(
            logged
                .occurred_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            utc,
            "{local}"
        );
    }
    // 29 March 2026 02:30 does not exist in Berlin.
    let error = run(
        &mut crm,
        "system",
        cdr("2026-03-29 02:30:00", "ANSWERED", "Dial"),
    )
    .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("does not exist in Europe/Berlin"),
        "{error}"
    );
}

#[test]
fn asterisk_dispositions_map_to_outcomes() {
    let mut crm = shop(json!({"type": "configure_intake", "owner": "usr-1-3"}));
    for (disposition, application, outcome) in [
        ("ANSWERED", "Dial", "answered"),
        ("ANSWERED", "VoiceMail", "voicemail"),
        ("NO ANSWER", "Dial", "missed"),
        ("BUSY", "Dial", "busy"),
        ("CONGESTION", "Dial", "missed"),
    ] {
        run(
            &mut crm,
            "system",
            cdr("2026-10-25 12:00:00", disposition, application),
        )
        .unwrap();
        let logged = crm.state().activities().values().last().unwrap();
        assert_eq!(
            logged.outcome.as_deref(),
            Some(outcome),
            "{disposition}/{application}"
        );
    }
    let error = run(
        &mut crm,
        "system",
        cdr("2026-10-25 12:00:00", "HUNG UP", "Dial"),
    )
    .unwrap_err();
    assert!(
        error.to_string().contains("asterisk_cdr.Disposition"),
        "{error}"
    );
}

#[test]
fn junk_is_refused_naming_the_field_and_changes_nothing() {
    let mut crm = shop(json!({"type": "configure_intake", "owner": "usr-1-3"}));
    let before = crm.state().last_seq();
    let many: serde_json::Map<String, Value> =
        (0..51).map(|i| (format!("f{i}"), json!("x"))).collect();
    let huge = "x".repeat(5_001);
    for (command, code, field) in [
        (
            json!({"type": "receive_form", "form": "f", "fields": many}),
            "too_large",
            "fields",
        ),
        (
            json!({"type": "receive_form", "form": "f", "fields": {"phone": "030 1234567", "message": huge}}),
            "too_large",
            "fields.message",
        ),
        (
            json!({"type": "receive_form", "form": "f", "fields": {"email": "a@b.de", "name": "A\u{7}B"}}),
            "validation",
            "fields.name",
        ),
        (
            json!({"type": "receive_form", "form": "", "fields": {"email": "a@b.de"}}),
            "validation",
            "form",
        ),
        (
            json!({"type": "receive_form", "form": "f", "fields": {"email": "a@b.de"}, "utm": {"utm_source": "\u{1b}[31m"}}),
            "validation",
            "utm.utm_source",
        ),
        (
            json!({"type": "receive_call", "call": {"direction": "inbound", "from": "+49 171 5550101", "to": "1",
            "started_at": "2026-10-25T11:00:00Z", "answered_at": "2026-10-25T11:01:00Z",
            "ended_at": "2026-10-25T11:00:00Z", "outcome": "answered"}}),
            "validation",
            "call.ended_at",
        ),
        (
            json!({"type": "receive_call", "call": {"direction": "sideways", "from": "1", "to": "2",
            "started_at": "2026-10-25T11:00:00Z", "outcome": "answered"}}),
            "malformed",
            "direction",
        ),
    ] {
        let error = run(&mut crm, "system", command.clone()).unwrap_err();
        assert_eq!(error.code(), code, "{command}: {error}");
        assert!(error.to_string().contains(field), "{command}: {error}");
    }
    assert_eq!(crm.state().last_seq(), before);
}

#[test]
fn plus_addresses_match_where_the_policy_folds_them() {
    let email_form = |email: &str| json!({"type": "receive_form", "form": "contact", "fields": {"name": "Anna", "email": email}});
    let mut folding = shop(json!({"type": "configure_intake", "owner": "usr-1-3",
        "email": {"fold_plus": ["gmail.com"]}}));
    run(&mut folding, "system", email_form("anna@gmail.com")).unwrap();
    let events = run(&mut folding, "system", email_form("Anna+Shop@GMail.com")).unwrap();
    assert_eq!(events, ["activity_logged"], "the same mailbox");
    let mut strict = shop(json!({"type": "configure_intake", "owner": "usr-1-3"}));
    run(&mut strict, "system", email_form("anna@gmail.com")).unwrap();
    let events = run(&mut strict, "system", email_form("anna+shop@gmail.com")).unwrap();
    assert_eq!(
        events,
        ["contact_created", "activity_logged"],
        "another address"
    );
}
