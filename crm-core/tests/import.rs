//! Importing contacts from CSV and XLSX: guessed mappings, every problem by row and
//! column, all or nothing, duplicates by policy, rules only when asked.

use serde_json::{json, Value};

use crm_core::*;

mod common;
use common::{base64, contact_named, german_crm, run_all, sales_team};

const ADMIN: &str = "usr-1-1";
const MANAGER: &str = "usr-1-3";
const NOW: &str = "2026-11-27T09:00:00Z";

/// An admin, a manager, the company "OKNA" (com-1-4) and Petra (con-1-5), phone +4930123456.
fn shop() -> Crm {
    let mut crm = german_crm();
    sales_team(&mut crm, NOW);
    let steps = vec![
        (MANAGER, json!({"type": "create_company", "name": "OKNA"})),
        (
            MANAGER,
            json!({"type": "create_contact", "name": "Petra", "phones": ["+49 30 123456"]}),
        ),
        (
            ADMIN,
            json!({"type": "define_rules", "rules": [{"key": "welcome", "when": {"type": "record_created", "record": "contact"},
            "then": [{"type": "create_task", "title": "Welcome {{ contact.name }}", "due_in": "1d"}]}]}),
        ),
    ];
    run_all(&mut crm, NOW, steps);
    crm
}

fn check(crm: &Crm, input: Value) -> Value {
    let mut query = input;
    query["type"] = json!("check_import");
    serde_json::from_str(&crm.query_json(MANAGER, NOW, &query.to_string()).unwrap()).unwrap()
}

fn import(crm: &mut Crm, input: Value) -> Result<Value, CrmError> {
    let mut command = input;
    command["type"] = json!("import_contacts");
    Ok(serde_json::from_str(&crm.execute_json(MANAGER, NOW, &command.to_string())?).unwrap())
}

const GERMAN_EXCEL: &str = "\u{feff}Name;Telefon;E-Mail;Firma;Notiz\r\n\
Jürgen Müller;040 7654321;jm@firma.de;Fenster Nord KG;VIP\r\n\
Anna Petrova;keine;anna@;Okna GmbH;\r\n\
;030 555;;;\r\n\
Boris Ivanov;+7 495 1234567;boris@example.ru;okna;\r\n";

#[test]
fn the_dry_run_guesses_columns_and_names_every_problem_by_row_and_column() {
    let crm = shop();
    let report = check(&crm, json!({"csv": GERMAN_EXCEL}));
    assert_eq!(report["rows"], 4);
    assert_eq!(
        report["mapping"],
        json!({"Name": "name", "Telefon": "phone", "E-Mail": "email", "Firma": "company", "Notiz": "ignore"})
    );
    assert_eq!(
        report["guessed"],
        json!(["Name", "Telefon", "E-Mail", "Firma"])
    );
    assert_eq!(
        report["problems"],
        json!([
            {"row": 3, "column": "Telefon", "message": "\"keine\" is not a phone number"},
            {"row": 3, "column": "E-Mail", "message": "\"anna@\" is not an e-mail address"},
            {"row": 4, "message": "the name is empty"}
        ])
    );
}

#[test]
fn an_import_with_problems_imports_nothing() {
    let mut crm = shop();
    let before = crm.state().last_seq();
    let error = import(&mut crm, json!({"csv": GERMAN_EXCEL})).unwrap_err();
    assert_eq!(error.code(), "validation");
    assert!(
        error
            .to_string()
            .contains("3 problem(s), nothing imported; the first: row 3, column \"Telefon\""),
        "{error}"
    );
    assert_eq!(crm.state().last_seq(), before);
}

#[test]
fn a_clean_import_creates_contacts_and_companies_in_one_batch_without_rules() {
    let mut crm = shop();
    let csv = "Name,Phone,Email,Company,Tags\n\
Jürgen Müller,040 7654321,jm@firma.de,Fenster Nord KG,\"vip, north\"\n\
Anna Petrova,,anna@example.de,Okna GmbH,\n\
Petra S.,030 123456,,,\n";
    let report = check(&crm, json!({"csv": csv}));
    assert_eq!(report["contacts"], 2, "{report}");
    assert_eq!(
        report["companies"],
        json!(["Fenster Nord KG"]),
        "\"Okna GmbH\" is OKNA"
    );
    assert_eq!(
        report["duplicates"],
        json!([{"row": 4, "contact": "con-1-5"}])
    );
    let outcome = import(&mut crm, json!({"csv": csv})).unwrap();
    let types = common::event_types(&outcome);
    assert_eq!(
        types,
        ["company_created", "contact_created", "contact_created"],
        "no rules ran"
    );
    assert!(outcome["events"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["actor"] == MANAGER));
    let anna = contact_named(&crm, "Anna Petrova");
    assert_eq!(anna.fields.company, Some("com-1-4".parse().unwrap()));
    let jurgen = contact_named(&crm, "Jürgen Müller");
    assert_eq!(jurgen.fields.phones, ["+49407654321"]);
    assert_eq!(
        jurgen.fields.tags.iter().collect::<Vec<_>>(),
        ["north", "vip"]
    );
}

#[test]
fn duplicate_policies_and_rules_on_request() {
    let csv =
        "name,phone\nPetra Again,+4930123456\nNew One,+4930999999\nNew One Twice,030 999999\n";
    let mut reject = shop();
    let error = import(&mut reject, json!({"csv": csv, "on_duplicate": "reject"})).unwrap_err();
    assert!(
        error.to_string().contains("row 2: matches contact con-1-5"),
        "{error}"
    );
    let report = check(&reject, json!({"csv": csv, "on_duplicate": "reject"}));
    assert_eq!(report["problems"][1]["message"], "repeats row 3");

    let mut flag = shop();
    let outcome = import(
        &mut flag,
        json!({"csv": csv, "on_duplicate": "create_and_flag", "run_rules": true}),
    )
    .unwrap();
    let types = common::event_types(&outcome);
    assert_eq!(types.iter().filter(|t| **t == "contact_created").count(), 3);
    assert_eq!(
        types.iter().filter(|t| **t == "task_created").count(),
        3,
        "the welcome rule ran: {types:?}"
    );
    let flagged = flag
        .state()
        .contacts()
        .values()
        .filter(|c| c.fields.tags.contains("possible-duplicate"))
        .count();
    assert_eq!(flagged, 2);
}

#[test]
fn an_xlsx_file_reads_like_the_csv() {
    let mut crm = shop();
    crm.execute_json(
        ADMIN,
        NOW,
        &json!({"type": "define_field", "entity": "contact", "key": "budget",
        "label": "Budget", "kind": "number"})
        .to_string(),
    )
    .unwrap();
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/contacts.xlsx"
    ))
    .unwrap();
    let input =
        json!({"spreadsheet_base64": base64(&bytes), "mapping": {"Budget": "contact.budget"}});
    let report = check(&crm, input.clone());
    assert_eq!(
        report["problems"],
        json!([{"row": 3, "column": "Budget", "message": "expected a whole number, got \"800.5\""}]),
        "a wrong type in a cell, named by its column"
    );
    assert_eq!(
        report["duplicates"],
        json!([{"row": 2, "contact": "con-1-5"}]),
        "4930123456 typed as a number"
    );
    let input = json!({"spreadsheet_base64": base64(&bytes), "mapping": {"Budget": "ignore"}});
    import(&mut crm, input).unwrap();
    let jurgen = contact_named(&crm, "Jürgen Müller");
    assert_eq!(jurgen.fields.phones, ["+49407654321"]);
    let error = import(
        &mut crm,
        json!({"spreadsheet_base64": base64(b"not a workbook")}),
    )
    .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("spreadsheet_base64: is not a readable"),
        "{error}"
    );
    let error = check_error(
        &crm,
        json!({"spreadsheet_base64": base64(&bytes), "sheet": "Missing"}),
    );
    assert!(
        error.contains("\"Missing\" is not a sheet of the file (Kontakte, Notes)"),
        "{error}"
    );
}

#[test]
fn broken_files_and_mappings_are_refused_naming_them() {
    let crm = shop();
    for (input, expected) in [
        (json!({}), "give exactly one of"),
        (json!({"csv": ""}), "the file is empty"),
        (
            json!({"csv": "name\nA", "mapping": {"Nom": "name"}}),
            "mapping.Nom: the file has no column",
        ),
        (
            json!({"csv": "name\nA", "mapping": {"name": "colour"}}),
            "\"colour\" is not a target",
        ),
        (json!({"csv": "a,b\n\"unclosed,1\n"}), ""),
    ] {
        let message = check_error(&crm, input.clone());
        assert!(message.contains(expected), "{input}: {message}");
    }
}

fn check_error(crm: &Crm, input: Value) -> String {
    let mut query = input;
    query["type"] = json!("check_import");
    match crm.query_json(MANAGER, NOW, &query.to_string()) {
        Err(error) => error.to_string(),
        Ok(report) => report,
    }
}

#[test]
fn an_export_imports_again_and_shows_only_what_the_actor_may_read() {
    let mut crm = shop();
    let csv = "Name,Phone,Email,Company\nJürgen Müller,040 7654321;040 1111111,jm@firma.de,\"Fenster, Nord\"\n";
    import(&mut crm, json!({"csv": csv})).unwrap();
    crm.execute_json(
        ADMIN,
        NOW,
        r#"{"type": "create_contact", "name": "Admin's own", "owner": "usr-1-1"}"#,
    )
    .unwrap();
    let export = |actor: &str, entity: &str| -> Value {
        let query = json!({"type": "export", "entity": entity}).to_string();
        serde_json::from_str(&crm.query_json(actor, NOW, &query).unwrap()).unwrap()
    };
    let mine = export(MANAGER, "contacts");
    assert_eq!(
        mine["rows"], 2,
        "the manager's two contacts, not the admin's: {mine}"
    );
    assert_eq!(export(ADMIN, "contacts")["rows"], 3);
    let text = mine["csv"].as_str().unwrap();
    assert!(
        text.starts_with(
            "id,name,company,position,phones,emails,address,source,tags,owner,created_at (UTC)\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("Jürgen Müller,\"Fenster, Nord\",,+49407654321; +49401111111,jm@firma.de,,,,Anton,2026-11-27 09:00:00"),
        "{text}"
    );
    let mut fresh = shop();
    let report = check(
        &fresh,
        json!({"csv": text, "mapping": {"id": "ignore", "owner": "ignore"}}),
    );
    assert_eq!(report["problems"], json!([]), "{report}");
    import(
        &mut fresh,
        json!({"csv": text, "mapping": {"id": "ignore", "owner": "ignore"}}),
    )
    .unwrap();
    let again = contact_named(&fresh, "Jürgen Müller");
    assert_eq!(again.fields.phones, ["+49407654321", "+49401111111"]);
    for entity in ["companies", "deals", "tasks", "activities"] {
        assert!(
            export(MANAGER, entity)["csv"]
                .as_str()
                .unwrap()
                .starts_with("id,"),
            "{entity}"
        );
    }
    let error = crm
        .query_json(MANAGER, NOW, r#"{"type": "export", "entity": "users"}"#)
        .unwrap_err();
    assert_eq!(error.code(), "malformed");

    // The same contacts as a workbook read back through the spreadsheet import.
    let query = json!({"type": "export", "entity": "contacts", "format": "xlsx"}).to_string();
    let workbook: Value =
        serde_json::from_str(&crm.query_json(MANAGER, NOW, &query).unwrap()).unwrap();
    assert_eq!(workbook["rows"], 2);
    assert!(workbook.get("csv").is_none(), "{workbook}");
    let spreadsheet = workbook["xlsx_base64"].as_str().unwrap();
    let mut from_sheet = shop();
    let report = check(
        &from_sheet,
        json!({"spreadsheet_base64": spreadsheet, "mapping": {"id": "ignore", "owner": "ignore"}}),
    );
    assert_eq!(report["problems"], json!([]), "{report}");
    assert_eq!(report["rows"], 2, "{report}");
    import(
        &mut from_sheet,
        json!({"spreadsheet_base64": spreadsheet, "mapping": {"id": "ignore", "owner": "ignore"}}),
    )
    .unwrap();
    let again = contact_named(&from_sheet, "Jürgen Müller");
    assert_eq!(again.fields.phones, ["+49407654321", "+49401111111"]);
    let error = crm
        .query_json(
            MANAGER,
            NOW,
            r#"{"type": "export", "entity": "deals", "format": "pdf"}"#,
        )
        .unwrap_err();
    assert_eq!(error.code(), "malformed");
}

#[test]
fn deal_amounts_are_number_cells_in_a_workbook() {
    let mut crm = shop();
    let run = |crm: &mut Crm, command: Value| {
        let outcome = crm
            .execute_json(ADMIN, NOW, &command.to_string())
            .unwrap_or_else(|err| panic!("{command}: {err}"));
        serde_json::from_str::<Value>(&outcome).unwrap()["created"].clone()
    };
    let pipeline = run(
        &mut crm,
        json!({"type": "create_pipeline", "name": "Sales", "stages": [{"name": "New"}]}),
    );
    run(
        &mut crm,
        json!({"type": "create_deal", "title": "Windows & doors <3 rooms>", "pipeline": pipeline,
               "amount": {"amount": "1500.05", "currency": "EUR"}}),
    );
    let query = json!({"type": "export", "entity": "deals", "format": "xlsx"}).to_string();
    let workbook: Value =
        serde_json::from_str(&crm.query_json(ADMIN, NOW, &query).unwrap()).unwrap();
    let bytes = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        workbook["xlsx_base64"].as_str().unwrap(),
    )
    .unwrap();
    let mut sheets = calamine::open_workbook_auto_from_rs(std::io::Cursor::new(bytes)).unwrap();
    use calamine::Reader;
    assert_eq!(sheets.sheet_names(), ["deals"]);
    let range = sheets.worksheet_range("deals").unwrap();
    let header: Vec<String> = range
        .rows()
        .next()
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    let row: Vec<&calamine::Data> = range.rows().nth(1).unwrap().iter().collect();
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    assert_eq!(
        row[column("title")],
        &calamine::Data::String("Windows & doors <3 rooms>".into())
    );
    assert_eq!(row[column("amount")], &calamine::Data::Float(1500.05));
    assert_eq!(
        row[column("currency")],
        &calamine::Data::String("EUR".into())
    );
}
