//! A small window shop: an admin, a sales department with a head and two managers,
//! a measurer, and the standard pipeline.
#![allow(dead_code)]

use chrono::{DateTime, Duration, Utc};
use crm_core::*;

pub fn t0() -> DateTime<Utc> {
    "2026-11-27T09:00:00Z".parse().unwrap()
}

pub fn at(minutes: i64) -> DateTime<Utc> {
    t0() + Duration::minutes(minutes)
}

/// `t`, or the time of the last event if that is later: helpers with fixed times keep
/// commands in time order whatever ran before them.
pub fn not_before<J: Journal>(crm: &Crm<J>, t: DateTime<Utc>) -> DateTime<Utc> {
    crm.state().last_at().map_or(t, |last| last.max(t))
}

pub struct Shop {
    pub crm: Crm,
    pub admin: UserId,
    pub head: UserId,
    pub anna: UserId,
    pub boris: UserId,
    pub measurer: UserId,
    pub other_head: UserId,
    pub pipeline: PipelineId,
    pub stages: Vec<StageId>,
}

pub fn created<T: TryFrom<AnyId, Error = CrmError>>(outcome: Outcome) -> T {
    outcome.created_id().unwrap()
}

pub fn user(
    crm: &mut Crm,
    actor: Actor,
    name: &str,
    role: Role,
    department: Option<DepartmentId>,
) -> UserId {
    let input = NewUser {
        name: name.into(),
        email: None,
        role,
        department,
        specialty: None,
    };
    created(
        crm.execute(actor, t0(), &Command::CreateUser(input))
            .unwrap(),
    )
}

/// An empty CRM on replica 1 for a German business (phones without a country code
/// are read as German numbers).
pub fn german_crm() -> Crm {
    Crm::new(
        ReplicaId::new(1).unwrap(),
        CrmOptions {
            default_region: Some("DE".into()),
            ..CrmOptions::default()
        },
    )
    .unwrap()
}

/// Runs JSON commands in order at `now`; a refusal fails the test naming the command.
pub fn run_all<J: Journal>(crm: &mut Crm<J>, now: &str, steps: Vec<(&str, serde_json::Value)>) {
    for (actor, command) in steps {
        crm.execute_json(actor, now, &command.to_string())
            .unwrap_or_else(|err| panic!("{command}: {err}"));
    }
}

/// The admin Olga (usr-1-1), the Sales department (dep-1-2) and its manager Anton
/// (usr-1-3), created at `now`.
pub fn sales_team<J: Journal>(crm: &mut Crm<J>, now: &str) {
    let steps = vec![
        (
            "system",
            serde_json::json!({"type": "create_user", "name": "Olga", "role": "admin"}),
        ),
        (
            "usr-1-1",
            serde_json::json!({"type": "create_department", "name": "Sales"}),
        ),
        (
            "usr-1-1",
            serde_json::json!({"type": "create_user", "name": "Anton", "role": "manager",
            "department": "dep-1-2"}),
        ),
    ];
    run_all(crm, now, steps);
}

/// The contact with this name (the test knows there is one).
pub fn contact_named<'c>(crm: &'c Crm, name: &str) -> &'c Contact {
    crm.state()
        .contacts()
        .values()
        .find(|contact| contact.fields.name == name)
        .unwrap_or_else(|| panic!("no contact named {name:?}"))
}

/// Standard base64 with padding, written out here so that tests check the engine's
/// decoder against an independent encoder.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            out.push(if i <= chunk.len() {
                ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}

impl Shop {
    pub fn new() -> Shop {
        let mut crm = german_crm();
        let system = Actor::System;
        let admin = user(&mut crm, system, "Admin", Role::Admin, None);
        let dept = |crm: &mut Crm, name: &str| -> DepartmentId {
            created(
                crm.execute(
                    system,
                    t0(),
                    &Command::CreateDepartment(NewDepartment { name: name.into() }),
                )
                .unwrap(),
            )
        };
        let sales = dept(&mut crm, "Sales");
        let wholesale = dept(&mut crm, "Wholesale");
        let head = user(
            &mut crm,
            system,
            "Helga Head",
            Role::HeadOfDepartment,
            Some(sales),
        );
        let anna = user(&mut crm, system, "Anna Manager", Role::Manager, Some(sales));
        let boris = user(
            &mut crm,
            system,
            "Boris Manager",
            Role::Manager,
            Some(sales),
        );
        let measurer = user(&mut crm, system, "Mike Measurer", Role::Specialist, None);
        let other_head = user(
            &mut crm,
            system,
            "Otto Head",
            Role::HeadOfDepartment,
            Some(wholesale),
        );
        let pipeline = NewPipeline {
            name: "Windows".into(),
            stages: vec![
                NewStage::open("New request"),
                NewStage::open("Measurement"),
                NewStage::open("Agreement"),
                NewStage::won("Done"),
                NewStage::lost("Lost"),
            ],
            lost_reasons: vec!["Too expensive".into(), "No answer".into()],
        };
        let outcome = crm
            .execute(Actor::User(admin), t0(), &Command::CreatePipeline(pipeline))
            .unwrap();
        let pipeline: PipelineId = created(outcome);
        let stages = crm.state().pipelines()[&pipeline]
            .stages
            .iter()
            .map(|s| s.id)
            .collect();
        Shop {
            crm,
            admin,
            head,
            anna,
            boris,
            measurer,
            other_head,
            pipeline,
            stages,
        }
    }

    /// Every user of the shop, the admin first.
    pub fn users(&self) -> Vec<UserId> {
        vec![
            self.admin,
            self.head,
            self.anna,
            self.boris,
            self.measurer,
            self.other_head,
        ]
    }

    pub fn contact(&mut self, owner: UserId, name: &str) -> ContactId {
        let input = NewContact {
            name: name.into(),
            phones: vec!["030 1234567".into()],
            ..NewContact::default()
        };
        created(
            self.crm
                .execute(
                    Actor::User(owner),
                    not_before(&self.crm, at(1)),
                    &Command::CreateContact(input),
                )
                .unwrap(),
        )
    }

    pub fn deal(&mut self, owner: UserId, contact: Option<ContactId>, amount: &str) -> DealId {
        let input = NewDeal {
            title: "Three windows".into(),
            pipeline: Some(self.pipeline),
            contact,
            amount: Some(Money::parse(amount, "EUR").unwrap()),
            ..NewDeal::default()
        };
        created(
            self.crm
                .execute(
                    Actor::User(owner),
                    not_before(&self.crm, at(2)),
                    &Command::CreateDeal(input),
                )
                .unwrap(),
        )
    }

    pub fn task_for(
        &mut self,
        actor: UserId,
        assignee: UserId,
        link: AnyId,
        due_minutes: i64,
    ) -> TaskId {
        let input = NewTask {
            title: "Take measurements".into(),
            kind: Some("measurement".into()),
            assignee: Some(assignee),
            due: Some(at(due_minutes)),
            link: Some(link),
            ..NewTask::default()
        };
        created(
            self.crm
                .execute(
                    Actor::User(actor),
                    not_before(&self.crm, at(3)),
                    &Command::CreateTask(input),
                )
                .unwrap(),
        )
    }

    /// The state and journal as JSON text, to check "nothing changed" byte for byte.
    pub fn snapshot(&self) -> (String, String) {
        (
            serde_json::to_string(self.crm.state()).unwrap(),
            serde_json::to_string(self.crm.journal().events()).unwrap(),
        )
    }
}

/// The event types of a command's outcome (its JSON), in order.
pub fn event_types(outcome: &serde_json::Value) -> Vec<String> {
    outcome["events"]
        .as_array()
        .expect("an outcome has events")
        .iter()
        .map(|e| {
            e["event"]["type"]
                .as_str()
                .expect("every event has a type")
                .to_string()
        })
        .collect()
}

/// A ZIP container holding `entries` (name, text), stored as deflate.
pub fn zip_of(entries: &[(&str, &str)]) -> Vec<u8> {
    use std::io::Write;
    let mut out = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut out);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, text) in entries {
        zip.start_file(*name, options).unwrap();
        zip.write_all(text.as_bytes()).unwrap();
    }
    zip.finish().unwrap();
    out.into_inner()
}

/// The smallest XLSX calamine reads: one sheet named "Sheet1" with `sheet_data`
/// (the `<row>` elements).
pub fn xlsx_with(sheet_data: &str) -> Vec<u8> {
    let sheet = format!(
        r#"<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>{sheet_data}</sheetData></worksheet>"#
    );
    zip_of(&[
        (
            "[Content_Types].xml",
            r#"<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#,
        ),
        (
            "_rels/.rels",
            r#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#,
        ),
        (
            "xl/workbook.xml",
            r#"<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>"#,
        ),
        (
            "xl/_rels/workbook.xml.rels",
            r#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#,
        ),
        ("xl/worksheets/sheet1.xml", &sheet),
    ])
}

/// An XLSX text cell.
pub fn xlsx_cell(reference: &str, text: &str) -> String {
    format!(r#"<c r="{reference}" t="inlineStr"><is><t>{text}</t></is></c>"#)
}

/// The smallest ODS calamine reads: one table named "Sheet1" with `rows` (the
/// `<table:table-row>` elements).
pub fn ods_with(rows: &str) -> Vec<u8> {
    let content = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body><office:spreadsheet><table:table table:name="Sheet1">{rows}</table:table></office:spreadsheet></office:body></office:document-content>"#
    );
    zip_of(&[
        ("mimetype", "application/vnd.oasis.opendocument.spreadsheet"),
        (
            "META-INF/manifest.xml",
            r#"<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>"#,
        ),
        ("content.xml", &content),
    ])
}

/// An ODS text cell.
pub fn ods_cell(text: &str) -> String {
    format!(
        r#"<table:table-cell office:value-type="string"><text:p>{text}</text:p></table:table-cell>"#
    )
}
