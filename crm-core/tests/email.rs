//! E-mail intake from raw messages: matching, threads, duplicates, charsets, junk.

use serde_json::{json, Value};

use crm_core::*;

mod common;
use common::{base64, run_all, sales_team};

const ADMIN: &str = "usr-1-1";
const NOW: &str = "2026-11-27T12:00:00Z";

/// An admin, a manager (usr-1-3), a pipeline (pip-1-4), intake `settings`, and the
/// client Petra (con-1-8) with an open deal (deal-1-9).
fn shop(settings: Value) -> Crm {
    let mut crm = Crm::new(ReplicaId::new(1).unwrap(), CrmOptions::default()).unwrap();
    sales_team(&mut crm, NOW);
    let steps = vec![
        (
            ADMIN,
            json!({"type": "create_pipeline", "name": "Windows",
            "stages": [{"name": "New"}, {"name": "Won", "kind": "won"}, {"name": "Lost", "kind": "lost"}]}),
        ),
        (ADMIN, settings),
        (
            "usr-1-3",
            json!({"type": "create_contact", "name": "Petra Schulz", "emails": ["petra@example.de"]}),
        ),
        (
            "usr-1-3",
            json!({"type": "create_deal", "title": "Windows", "pipeline": "pip-1-4", "contact": "con-1-8"}),
        ),
    ];
    run_all(&mut crm, NOW, steps);
    crm
}

fn receive(crm: &mut Crm, message: Value) -> Result<Vec<String>, CrmError> {
    let mut command = message;
    command["type"] = json!("receive_email");
    let outcome: Value =
        serde_json::from_str(&crm.execute_json("system", NOW, &command.to_string())?).unwrap();
    Ok(common::event_types(&outcome))
}

fn last_activity(crm: &Crm) -> &Activity {
    crm.state().activities().values().last().unwrap()
}

const FROM_PETRA: &str = "From: Petra Schulz <Petra@Example.de>\r\n\
To: Okna <sales@okna.example>\r\n\
Subject: =?UTF-8?B?RmVuc3RlciBmw7xyIGRpZSBLw7xjaGU=?=\r\n\
Date: Fri, 27 Nov 2026 10:15:00 +0100\r\n\
Message-ID: <m1@example.de>\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Guten Tag, wann kommt der Vermesser?\r\n";

#[test]
fn a_client_message_lands_on_the_open_deal_once() {
    let mut crm = shop(json!({"type": "configure_intake", "owner": "usr-1-3"}));
    assert_eq!(
        receive(&mut crm, json!({"raw": FROM_PETRA})).unwrap(),
        ["activity_logged"]
    );
    let logged = last_activity(&crm);
    assert_eq!(logged.kind, ActivityKind::Email);
    assert_eq!(logged.direction, Some(Direction::Inbound));
    assert_eq!(logged.link, AnyId::DealId("deal-1-9".parse().unwrap()));
    assert_eq!(
        logged.subject.as_deref(),
        Some("Fenster für die Küche"),
        "encoded word decoded"
    );
    assert_eq!(
        logged.body.as_deref(),
        Some("Guten Tag, wann kommt der Vermesser?")
    );
    assert_eq!(
        logged.occurred_at.to_rfc3339(),
        "2026-11-27T09:15:00+00:00",
        "Date header, in UTC"
    );
    assert_eq!(logged.external_id.as_deref(), Some("<m1@example.de>"));
    assert_eq!(
        receive(&mut crm, json!({"raw": FROM_PETRA})).unwrap(),
        Vec::<String>::new(),
        "same Message-ID"
    );
}

#[test]
fn replies_follow_their_thread_and_sent_mail_is_outbound() {
    let mut crm = shop(json!({"type": "configure_intake", "owner": "usr-1-3"}));
    receive(&mut crm, json!({"raw": FROM_PETRA})).unwrap();
    let reply = "From: Anton <sales@okna.example>\r\nTo: petra@example.de\r\n\
Subject: Re: Fenster\r\nMessage-ID: <r1@okna.example>\r\nIn-Reply-To: <m1@example.de>\r\n\
References: <m1@example.de>\r\n\r\nMorgen um 10.\r\n";
    receive(
        &mut crm,
        json!({"raw": reply, "mailbox": ["Sales@Okna.example"]}),
    )
    .unwrap();
    let logged = last_activity(&crm);
    assert_eq!(logged.direction, Some(Direction::Outbound));
    assert_eq!(logged.link, AnyId::DealId("deal-1-9".parse().unwrap()));
}

#[test]
fn unknown_senders_become_leads_only_when_configured() {
    let stranger = "From: =?ISO-8859-1?Q?J=FCrgen_M=FCller?= <jm@firma.de>\r\nSubject: Angebot\r\n\
Message-ID: <s1@firma.de>\r\n\r\nBitte um ein Angebot.\r\n";
    let mut quiet = shop(json!({"type": "configure_intake", "owner": "usr-1-3"}));
    assert_eq!(
        receive(&mut quiet, json!({"raw": stranger})).unwrap(),
        Vec::<String>::new()
    );
    let mut leads = shop(
        json!({"type": "configure_intake", "owner": "usr-1-3", "pipeline": "pip-1-4",
        "leads_from_email": true}),
    );
    assert_eq!(
        receive(&mut leads, json!({"raw": stranger})).unwrap(),
        ["contact_created", "deal_created", "activity_logged"]
    );
    let contact = leads.state().contacts().values().last().unwrap();
    assert_eq!(contact.fields.name, "Jürgen Müller");
    assert_eq!(contact.fields.emails, ["jm@firma.de"]);
    assert_eq!(contact.fields.source.as_deref(), Some("email"));
    let deal = leads.state().deals().values().last().unwrap();
    assert_eq!(deal.fields.title, "E-mail: Angebot");
}

#[test]
fn eight_bit_bodies_in_other_charsets_arrive_as_base64() {
    let mut crm = shop(json!({"type": "configure_intake", "owner": "usr-1-3"}));
    let mut raw = b"From: petra@example.de\r\nSubject: Preis\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\
Content-Transfer-Encoding: 8bit\r\n\r\nGr"
        .to_vec();
    raw.extend([0xFC, b'\xDF', b'e']); // "Grüße" in Latin-1
    let encoded = base64(&raw);
    receive(&mut crm, json!({"raw_base64": encoded})).unwrap();
    assert_eq!(last_activity(&crm).body.as_deref(), Some("Grüße"));
}

#[test]
fn junk_is_refused_naming_the_field_and_changes_nothing() {
    let mut crm = shop(json!({"type": "configure_intake", "owner": "usr-1-3"}));
    let before = crm.state().last_seq();
    for (message, field) in [
        (json!({"raw": "hello, this is not a message"}), "raw"),
        (json!({"raw": ""}), "raw"),
        (json!({}), "raw"),
        (json!({"raw": FROM_PETRA, "raw_base64": "AAAA"}), "raw"),
        (json!({"raw_base64": "!!!not base64!!!"}), "raw_base64"),
        (
            json!({"raw": "From: nobody\r\nSubject: x\r\n\r\nbody"}),
            "from",
        ),
        (
            json!({"raw": FROM_PETRA, "mailbox": ["not an address"]}),
            "mailbox[0]",
        ),
        (
            json!({"raw": "From: a@b.de\r\nContent-Type: multipart/mixed; boundary=\"x\"\r\n\r\n--x\r\nbroken"}),
            "",
        ),
    ] {
        match receive(&mut crm, message.clone()) {
            Err(error) => assert!(error.to_string().contains(field), "{message}: {error}"),
            // A broken MIME body from an unknown sender is parsed as far as it goes and,
            // with no contact and no leads from e-mail, recorded nowhere.
            Ok(events) => assert!(
                events.is_empty() && field.is_empty(),
                "{message}: {events:?}"
            ),
        }
    }
    assert_eq!(crm.state().last_seq(), before);
}
