// Replicas on one authority from JavaScript (docs/sync.md): a tab's offline work runs at
// once, the office (a Node authority) runs it once as the connection's user, its rule
// fires once, and a refused command waits for its user.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Crm, Replica } from "./load.mjs";

const NOW = new Date("2026-12-01T08:00:00Z");
const LATER = "2026-12-01T08:10:00Z";

function office() {
  const crm = new Crm(1);
  const admin = crm.execute("system", NOW, { type: "create_user", name: "Olga", role: "admin" }).created;
  const manager = crm.execute(admin, NOW, { type: "create_user", name: "Anton", role: "manager" }).created;
  crm.execute(admin, NOW, {
    type: "define_rules",
    rules: [{ key: "price", when: { type: "task_completed", kind: "measure" },
      then: [{ type: "create_task", title: "Price the job", due_in: "1d" }] }],
  });
  return { crm, admin, manager };
}

test("offline work is pushed once and pulled back with what the rules did", () => {
  const { crm, admin } = office();
  let tab = new Replica(7);
  tab.receivePull(crm.pull(admin, tab.cursor));
  const contact = tab.execute(admin, LATER, { type: "create_contact", name: "Anna" }).created;
  assert.equal(contact, "con-7-1");
  const task = tab.execute(admin, LATER, { type: "create_task", title: "Measure", kind: "measure", link: contact }).created;
  tab.execute(admin, LATER, { type: "complete_task", id: task });
  assert.deepEqual(tab.pending().map((p) => p.command.seq), [1, 2, 3]);
  // Stored before sending (a reload of the tab restores it), then pushed twice.
  tab = Replica.restore(tab.events(), tab.log());
  const batch = tab.pushBatch();
  const answer = crm.push(admin, LATER, batch);
  assert.equal(crm.push(admin, LATER, batch), answer, "a batch delivered twice changes nothing");
  assert.deepEqual(JSON.parse(answer).results.map((r) => r.result), ["accepted", "accepted", "accepted"]);
  tab.receivePushResult(answer);
  tab.receivePull(crm.pull(admin, tab.cursor));
  assert.deepEqual(tab.pending(), []);
  const titles = tab.query(admin, LATER, { type: "list_tasks" }).items.map((t) => t.title).sort();
  assert.deepEqual(titles, ["Measure", "Price the job"]);
});

test("a refused command waits for its user; the connection decides who runs it", () => {
  const { crm, admin, manager } = office();
  const tab = new Replica(8);
  tab.receivePull(crm.pull(admin, tab.cursor));
  tab.execute(admin, NOW, { type: "define_rules", rules: [] });
  const answer = crm.push(manager, NOW, tab.pushBatch(10));
  assert.equal(JSON.parse(answer).results[0].code, "permission_denied");
  tab.receivePushResult(answer);
  const [rejected] = tab.rejected();
  assert.equal(rejected.command.command.type, "define_rules");
  assert.equal(tab.discard(1).code, "permission_denied");
  assert.throws(() => tab.discard(1), { code: "not_found" });
  // A manager's pull is his view: a replica of it holds his clients, not the office's,
  // and a replica of the whole journal does not take it.
  crm.execute(admin, NOW, { type: "create_contact", name: "Olga's client" });
  const mine = crm.execute(admin, NOW, { type: "create_contact", name: "Anton's client", owner: manager }).created;
  const view = crm.pull(manager, 0);
  assert.equal(JSON.parse(view).view.user, manager);
  const desk = new Replica(9);
  desk.receivePull(view);
  assert.deepEqual(desk.query(manager, NOW, { type: "list_contacts" }).items.map((c) => c.id), [mine]);
  assert.equal(Replica.restore(desk.events(), desk.log()).query(manager, NOW, { type: "list_contacts" }).total, 1);
  assert.throws(() => tab.receivePull(view), { code: "validation" });
  assert.throws(() => crm.pull(manager, 1000), { code: "validation" });
  // A person erased at the office is forgotten by the tab: its events are rewritten,
  // and `scrubs` tells the host to store them whole again.
  const dora = crm.execute(admin, LATER, { type: "create_contact", name: "Dorothea Quist" }).created;
  const laptop = new Replica(10);
  laptop.receivePull(crm.pull(admin, laptop.cursor));
  assert.match(JSON.stringify(laptop.events()), /Quist/);
  crm.execute(admin, "2026-12-01T08:20:00Z", { type: "erase_contact", id: dora });
  laptop.receivePull(crm.pull(admin, laptop.cursor));
  assert.equal(laptop.scrubs, 1);
  assert.doesNotMatch(JSON.stringify(laptop.events()), /Quist/);
  assert.throws(() => crm.push(admin, NOW, "{"), { code: "malformed" });
});
