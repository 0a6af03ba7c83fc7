// The window shop written only with the generated types: every command and every query
// of the engine, checked by `tsc --strict` and run by `typed_window_shop.test.mjs` (compiled
// by tests/tsconfig.run.json). A command typed wrong — a misspelt field, a number where
// an amount string belongs — fails the type check before it can fail the engine.
import { Crm, type Command, type Outcome } from "crm-core";

const T0 = "2026-11-30T06:00:00Z";
const LATER = "2026-11-30T08:00:00Z";

function check(condition: boolean, what: string): void {
  if (!condition) throw new Error(`window shop: ${what}`);
}

function created(outcome: Outcome): string {
  if (outcome.created === undefined) throw new Error("the command created nothing");
  return outcome.created;
}

export function windowShop(): void {
  const crm = new Crm(1, { default_region: "RU" });
  const run = (actor: string, now: string, command: Command): Outcome => crm.execute(actor, now, command);

  const admin = created(run("system", T0, { type: "create_user", name: "Olga", role: "admin" }));
  const sales = created(run(admin, T0, { type: "create_department", name: "Sales" }));
  const head = created(run(admin, T0, {
    type: "create_user", name: "Irina", role: "head_of_department", department: sales, email: "irina@okna.example",
  }));
  const anton = created(run(admin, T0, { type: "create_user", name: "Anton", role: "manager", department: sales }));
  const boris = created(run(admin, T0, { type: "create_user", name: "Boris", role: "manager", department: sales }));
  const misha = created(run(admin, T0, {
    type: "create_user", name: "Misha", role: "specialist", specialty: "measurer", department: sales,
  }));
  run(admin, T0, { type: "update_user", id: anton, patch: { email: "anton@okna.example" } });

  run(admin, T0, {
    type: "set_calendar", time_zone: "Europe/Moscow", working_days: ["mon", "tue", "wed", "thu", "fri"],
    hours: [{ from: "09:00", to: "18:00" }], holidays: ["2026-12-31"],
  });
  run(admin, T0, { type: "define_field", entity: "task", key: "width_mm", label: "Width, mm", kind: "number" });
  const pipeline = created(run(admin, T0, {
    type: "create_pipeline", name: "Windows", lost_reasons: ["Too expensive"],
    stages: [{ name: "New request", sla_hours: 2 }, { name: "Measurement" }, { name: "Offer" },
      { name: "Done", kind: "won" }, { name: "Lost", kind: "lost" }],
  }));
  const stored = crm.query(admin, T0, { type: "get", id: pipeline });
  if (stored.record !== "pipeline") throw new Error("not a pipeline");
  const [measurement, offer, done] = [stored.stages[1]!.id, stored.stages[2]!.id, stored.stages[3]!.id];
  run(admin, T0, {
    type: "define_template", key: "offer", name: "Offer", format: "markdown",
    source: "# Offer: {{ deal.title }} for {{ contact.name }}",
  });
  run(admin, T0, {
    type: "define_rules", rules: [{
      key: "call-web-lead",
      when: { type: "inbound", channel: "web_form" },
      then: [{ type: "create_task", title: "Call the new lead", kind: "call", due_in: "15m" }],
    }],
  });
  run(admin, T0, {
    type: "configure_intake", owner: anton, pipeline, forms: { order: { fields: { name: "name", phone: "phone" } } },
  });

  // Intake: a web form, a call, an e-mail, a spreadsheet.
  const form = run("system", T0, {
    type: "receive_form", form: "order", fields: { name: "Pyotr Ivanov", phone: "+7 916 123-45-67" },
  });
  const leadCreated = form.events.map((envelope) => envelope.event).find((event) => event.type === "deal_created");
  if (leadCreated?.type !== "deal_created") throw new Error("the form made no deal");
  const lead = leadCreated.deal.id;
  run("system", T0, {
    type: "receive_call", call: {
      direction: "inbound", from: "+7 916 123-45-67", to: "+7 495 000-00-00", started_at: T0,
      ended_at: "2026-11-30T06:01:00Z", outcome: "answered",
    },
  });
  const mail = "From: Anna <anna@example.com>\r\nTo: shop@okna.example\r\nSubject: Windows\r\n"
    + "Message-ID: <1@example.com>\r\n\r\nHello";
  run("system", T0, { type: "receive_email", raw: mail, mailbox: ["shop@okna.example"] });
  const sheet = "name,phone\nVera Petrova,+7 916 000-00-01\n";
  const dryRun = crm.query(anton, T0, { type: "check_import", csv: sheet });
  check(dryRun.contacts === 1 && dryRun.problems.length === 0, "the import's dry run");
  run(anton, T0, { type: "import_contacts", csv: sheet });

  // The everyday records.
  const firm = created(run(anton, T0, { type: "create_company", name: "Okna Plus" }));
  const twin = created(run(anton, T0, { type: "create_company", name: "OKNA Plus" }));
  run(anton, T0, { type: "update_company", id: firm, patch: { website: "https://okna.example" } });
  run(anton, T0, { type: "merge_companies", into: firm, from: twin });
  run(anton, T0, { type: "unmerge_companies", id: twin });
  const client = created(run(anton, T0, {
    type: "create_contact", name: "Pavel Sidorov", phones: ["+7 916 555-55-55"], company: firm, consent: { email: true },
  }));
  const double = created(run(anton, T0, { type: "create_contact", name: "P. Sidorov", phones: ["+7 916 555-55-55"] }));
  run(anton, T0, { type: "update_contact", id: client, patch: { address: "ul. Lenina 5" } });
  const pairs = crm.query(anton, T0, { type: "find_duplicates", contact: client });
  check(pairs.pairs.length === 1 && pairs.pairs[0]!.b === double, "the duplicate is found");
  run(anton, T0, { type: "merge_contacts", into: client, from: double });
  run(anton, T0, { type: "unmerge_contacts", id: double });

  const deal = created(run(anton, T0, {
    type: "create_deal", title: "3 windows", pipeline, contact: client,
    amount: { amount: "70000.00", currency: "RUB" }, expected_close: "2026-12-20",
  }));
  run(anton, T0, { type: "update_deal", id: deal, patch: { tags: ["flat"] } });
  run(anton, T0, { type: "move_deal", id: deal, stage: measurement });
  const visit = created(run(anton, T0, {
    type: "create_task", title: "Measure", kind: "measurement", assignee: anton, link: deal, due: "2026-12-01T06:00:00Z",
  }));
  run(anton, T0, { type: "reassign_task", id: visit, assignee: misha });
  run(misha, T0, { type: "complete_task", id: visit, outcome: "measured", fields: { width_mm: 1450 } });
  const spare = created(run(anton, T0, { type: "create_task", title: "Spare visit", link: deal }));
  run(anton, T0, { type: "cancel_task", id: spare, reason: "not needed" });
  run(anton, T0, {
    type: "log_activity", kind: "call", direction: "outbound", link: deal, subject: "Agreed the price",
    duration_seconds: 120,
  });
  run(anton, T0, {
    type: "set_line_items", deal, items: [{
      product: "PVC window", quantity: "3", unit_price: { amount: "24500.00", currency: "RUB" }, discount_percent: "5",
    }],
  });
  run(anton, T0, { type: "move_deal", id: deal, stage: offer });
  const document = created(run(anton, T0, { type: "render_document", template: "offer", record: deal }));
  check(crm.query(anton, T0, { type: "rerender", id: document }).identical, "the offer renders the same again");
  run(anton, T0, { type: "record_payment", deal, amount: { amount: "69825.00", currency: "RUB" }, paid_at: T0 });
  run(anton, T0, { type: "move_deal", id: deal, stage: done });
  run(admin, T0, { type: "assign_owner", record: client, owner: boris });

  // Time passes: the call task is overdue; the host delivers and acknowledges effects.
  run("system", LATER, { type: "tick" });
  const effects = crm.query(admin, LATER, { type: "outbox" });
  run("system", LATER, { type: "ack_effects", ids: effects.items.map((effect) => effect.id) });
  check(crm.query(admin, LATER, { type: "outbox" }).total === 0, "every effect acknowledged");
  const wakeup = crm.query(admin, LATER, { type: "next_wakeup" }).next_wakeup;
  check(wakeup === null || wakeup > LATER, "the next wake-up is in the future");

  // Every query, each answering its own type.
  const theDeal = crm.query(anton, LATER, { type: "get", id: deal });
  if (theDeal.record !== "deal") throw new Error("not a deal");
  check(theDeal.status === "won" && theDeal.amount?.amount === "69825.00", "the deal is won at the line items' total");
  check(crm.query(boris, LATER, { type: "list_contacts", owner: boris }).total === 1, "Boris owns the client");
  check(crm.query(anton, LATER, { type: "list_companies" }).total >= 1, "companies");
  check(crm.query(anton, LATER, { type: "list_deals", status: "won" }).items[0]?.id === deal, "the won deal");
  check(crm.query(misha, LATER, { type: "list_tasks", assignee: misha }).total === 1, "Misha's task");
  check(crm.query(anton, LATER, { type: "list_activities", link: deal }).total >= 1, "the call is logged");
  check(crm.query(admin, LATER, { type: "list_users" }).total === 5, "five users");
  check(crm.query(admin, LATER, { type: "list_departments" }).total === 1, "one department");
  check(crm.query(admin, LATER, { type: "list_pipelines" }).items[0]?.id === pipeline, "the pipeline");
  check(crm.query(admin, LATER, { type: "list_fields" }).total === 1, "one custom field");
  const timeline = crm.query(anton, LATER, { type: "timeline", id: deal });
  check(timeline[0]?.at === T0, "the timeline's newest event");
  const [explained] = crm.query(admin, LATER, { type: "explain", id: lead });
  check(explained?.fired.map((fired) => fired.rule).join() === "call-web-lead", "the rule that fired");
  check(crm.query(admin, LATER, { type: "list_rules" }).rules[0]?.key === "call-web-lead", "the rules");
  check(crm.query(admin, LATER, { type: "calendar" }).time_zone === "Europe/Moscow", "the calendar");
  check(crm.query(admin, LATER, { type: "list_templates" }).total === 1, "the template");
  check(crm.query(admin, LATER, { type: "client_stats", id: client }).visits === 1, "one visit");
  const exported = crm.query(anton, LATER, { type: "export", entity: "deals" });
  check((exported.csv ?? "").startsWith("id,"), "the CSV export");
  const revenue = crm.query(head, LATER, { type: "report", report: "revenue", by: "month" });
  if (revenue.report !== "revenue") throw new Error("not the revenue report");
  check(revenue.rows[0]?.won_amount["RUB"] === "69825.00", "the revenue");
  check(crm.query(head, LATER, { type: "chart", report: "funnel", pipeline }).svg.startsWith("<svg"), "the chart");

  // Handing over and leaving.
  run(admin, LATER, { type: "reassign_owner", from: boris, to: anton });
  run(admin, LATER, { type: "deactivate_user", id: boris });
  const owner = crm.query(admin, LATER, { type: "get", id: client });
  check(owner.record === "contact" && owner.owner === anton, "the client went back to Anton");
}
