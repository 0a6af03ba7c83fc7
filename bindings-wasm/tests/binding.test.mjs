// The JavaScript boundary: names, types, Date handling and Error objects.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Crm } from "./load.mjs";

const NOW = new Date("2026-11-27T09:00:00Z");

function shop() {
  const crm = new Crm(4, { default_region: "DE" });
  const admin = crm.execute("system", NOW, { type: "create_user", name: "Olga", role: "admin" }).created;
  const manager = crm.execute(admin, NOW, { type: "create_user", name: "Ivan", role: "manager" }).created;
  const pipeline = crm.createPipeline(admin, NOW, {
    name: "Windows",
    stages: [{ name: "New" }, { name: "Done", kind: "won" }, { name: "Lost", kind: "lost" }],
    lost_reasons: ["Too expensive"],
  });
  return { crm, admin, manager, pipeline };
}

test("a deal moves through the pipeline with exact string amounts", () => {
  const { crm, manager, pipeline } = shop();
  const contact = crm.createContact(manager, NOW, { name: "Petra", phones: ["030 1234567"] });
  const deal = crm.createDeal(manager, "2026-11-27T10:00:00+01:00", {
    title: "Three windows", pipeline, contact, amount: { amount: "1499.99", currency: "EUR" },
  });
  const [stage] = crm.query(manager, NOW, { type: "get", id: pipeline }).stages.filter((s) => s.kind === "lost");
  crm.moveDeal(manager, new Date("2026-11-28T09:00:00Z"), deal, stage.id, "Too expensive");
  const [lost] = crm.listDeals(manager, { status: "lost" });
  assert.equal(lost.id, deal);
  assert.deepEqual(lost.amount, { amount: "1499.99", currency: "EUR" });
  assert.equal(lost.lost_reason, "Too expensive");
  assert.equal(lost.closed_at, "2026-11-28T09:00:00Z");
  assert.deepEqual(crm.query(manager, NOW, { type: "get", id: contact }).phones, ["+49301234567"]);
  assert.equal(crm.listDeals(manager).length, 1);
});

test("errors are Error objects with name, code and the field at fault", () => {
  const { crm, manager } = shop();
  const expectError = (fn, name, code, pattern, field) => {
    assert.throws(fn, (err) => {
      assert.ok(err instanceof Error, "an Error, not a thrown string");
      assert.equal(err.name, name);
      assert.equal(err.code, code);
      assert.match(err.message, pattern);
      if (field !== undefined) assert.equal(err.field, field);
      return true;
    });
  };
  expectError(() => crm.createPipeline(manager, NOW, { name: "Mine", stages: [{ name: "A" }] }),
    "PermissionDeniedError", "permission_denied", /admins only/);
  expectError(() => crm.createContact(manager, NOW, { name: "A", phones: ["12"] }),
    "ValidationError", "validation", /phones\[0\]: "12"/, "phones[0]");
  expectError(() => crm.createContact(manager, NOW, { name: "A", emails: [1] }),
    "MalformedError", "malformed", /contact\.emails\[0\]/, "contact.emails[0]");
  expectError(() => crm.createDeal(manager, NOW, { title: "x", pipeline: "pip-4-99" }),
    "NotFoundError", "not_found", /pip-4-99/);
  expectError(() => crm.createContact(manager, new Date("nope"), { name: "A" }),
    "ValidationError", "validation", /now/);
  expectError(() => crm.createContact(manager, 42, { name: "A" }), "ValidationError", "validation", /now/);
  expectError(() => new Crm(1.5), "ValidationError", "validation", /replica_id/);
  expectError(() => new Crm(1, { default_region: "Atlantis" }), "ValidationError", "validation", /Atlantis/);
  assert.equal(crm.listDeals(manager).length, 0);
});

test("exported events replay to the same state", () => {
  const { crm, manager, pipeline } = shop();
  crm.createDeal(manager, NOW, { title: "Door", pipeline });
  const events = crm.events();
  assert.deepEqual(events.map((e) => e.seq), [...Array(crm.lastSeq).keys()].map((i) => i + 1));
  assert.equal(typeof events[0].seq, "number");
  const copy = Crm.replay(4, events, { default_region: "DE" });
  assert.deepEqual(copy.listDeals(manager), crm.listDeals(manager));
  assert.deepEqual(crm.events(crm.lastSeq).length, 1);
});

test("rules, timers and the outbox", () => {
  const { crm, admin, manager } = shop();
  crm.execute(admin, NOW, {
    type: "define_rules",
    rules: [
      { key: "call", when: { type: "record_created", record: "contact" },
        then: [{ type: "create_task", title: "Call {{ contact.name }}", kind: "call", due_in: "15m" }] },
      { key: "late", when: { type: "task_overdue" }, then: [{ type: "notify", to: "assignee", text: "Late: {{ task.title }}" }] },
    ],
  });
  const contact = crm.createContact(manager, NOW, { name: "Anna" });
  assert.equal(crm.nextWakeup(), "2026-11-27T09:15:00+00:00");
  assert.deepEqual(crm.tick(new Date("2026-11-27T09:10:00Z")).events, []);
  const fired = crm.tick("2026-11-27T10:00:00Z");
  assert.deepEqual(fired.events.map((e) => e.event.type), ["task_overdue", "rules_evaluated", "effect_queued"]);
  assert.equal(fired.events[2].rule, "late");
  const effects = crm.drainOutbox();
  assert.deepEqual(effects.map((e) => [e.kind, e.to, e.text]), [["notification", manager, "Late: Call Anna"]]);
  // Acknowledged after the tick that queued it: commands are recorded in time order.
  const delivered = "2026-11-27T10:00:00Z";
  assert.equal(crm.ack(delivered, [effects[0].id]).events[0].event.type, "effects_acknowledged");
  assert.deepEqual(crm.drainOutbox(), []);
  assert.deepEqual(crm.ack(delivered, [effects[0].id]).events, []);
  // The form with an actor, like every other call: admins and the system acknowledge.
  assert.throws(() => crm.ackAs(manager, delivered, [effects[0].id]), { code: "permission_denied" });
  assert.deepEqual(crm.ackAs(admin, delivered, [effects[0].id]).events, []);
  const explained = crm.query(manager, NOW, { type: "explain", id: contact });
  assert.deepEqual(explained.map((e) => e.on), ["record_created", "task_overdue"]);
  assert.equal(crm.nextWakeup(), undefined);
  assert.throws(
    () => crm.execute(admin, NOW, { type: "define_rules", rules: [{ key: "x", when: { type: "deal_won" }, then: [{ type: "create_task", title: "x", due_in: "soon" }] }] }),
    (err) => err.code === "malformed" && /rules\[0\]\.then\[0\]\.due_in/.test(err.message),
  );
});

test("events exported since a cursor import into another engine", () => {
  const { crm, manager } = shop();
  const copy = Crm.replay(4, crm.events(), { default_region: "DE" });
  const cursor = crm.lastSeq;
  crm.createContact(manager, NOW, { name: "Added in the first tab" });
  copy.importEvents(crm.events(cursor + 1));
  assert.equal(copy.lastSeq, crm.lastSeq);
  assert.deepEqual(copy.query(manager, NOW, { type: "list_contacts" }), crm.query(manager, NOW, { type: "list_contacts" }));
  assert.throws(() => copy.importEvents(crm.events(1)), (err) => err.code === "validation" && /events\[0\]/.test(err.message));
});

test("reports: typed request in, rows out, typed errors", () => {
  const { crm, admin, manager, pipeline } = shop();
  const deal = crm.createDeal(manager, NOW, {
    title: "Three windows", pipeline, amount: { amount: "1499.99", currency: "EUR" }, source: "website",
  });
  const [won] = crm.query(manager, NOW, { type: "get", id: pipeline }).stages.filter((s) => s.kind === "won");
  crm.moveDeal(manager, "2026-11-28T09:00:00Z", deal, won.id);
  const revenue = crm.report(admin, NOW, { report: "revenue", by: "month", from: "2026-11-01" });
  assert.deepEqual(revenue.rows, [
    { period: "2026-11-01", owner: manager, won: 1, won_amount: { EUR: "1499.99" }, paid: {} },
  ]);
  const sources = crm.report(manager, NOW, { report: "sources" });
  assert.deepEqual(sources.rows.map((r) => [r.source, r.created, r.won, r.conversion]), [["website", 1, 1, "100.0"]]);
  assert.throws(() => crm.report(admin, NOW, { report: "funnel", pipeline: "pip-4-99" }), (err) => err.code === "not_found");
  assert.throws(() => crm.report(admin, NOW, { report: "pie" }), (err) => err.code === "malformed" && /request/.test(err.message));
  const drawing = crm.chart(admin, NOW, { report: "sources" });
  assert.deepEqual(drawing.chart.series.map((s) => [s.name, s.values]), [["Leads", ["1"]], ["Won", ["1"]]]);
  assert.match(drawing.svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.equal((drawing.svg.match(/class="bar"/g) || []).length, 2);
});

test("the package's CrmError class recognises the engine's errors and the server's problems", async () => {
  const { CrmError, CODES } = await import("../js/errors.js");
  const { crm, manager } = shop();
  assert.throws(() => crm.createContact(manager, NOW, { name: "A", phones: ["12"] }), (err) => {
    assert.ok(err instanceof CrmError);
    assert.equal(err.field, "phones[0]");
    return true;
  });
  assert.ok(!(new Error("plain") instanceof CrmError));
  assert.ok(!({ code: "validation" } instanceof CrmError), "not an Error");
  const problem = CrmError.fromProblem({ code: "rate_limited", detail: "slow down" }, 429);
  assert.ok(problem instanceof CrmError);
  assert.deepEqual([problem.name, problem.code, problem.status, problem.message],
    ["RateLimitedError", "rate_limited", 429, "slow down"]);
  assert.equal(CrmError.fromProblem(null, 502).code, "http_502");
  assert.ok(CODES.includes("currency_mismatch") && CODES.length === 9);
});
