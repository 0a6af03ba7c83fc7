// The binding's own findings of the hardening issue: what JSON would quietly turn into
// null, lone surrogates, and counts that mean the same on every platform.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Crm } from "./load.mjs";

const NOW = new Date("2026-11-27T09:00:00Z");

function shopWithDeal() {
  const crm = new Crm(4, { default_region: "DE" });
  const admin = crm.execute("system", NOW, { type: "create_user", name: "Olga", role: "admin" }).created;
  const manager = crm.execute(admin, NOW, { type: "create_user", name: "Ivan", role: "manager" }).created;
  const pipeline = crm.createPipeline(admin, NOW, { name: "Windows", stages: [{ name: "New" }] });
  const deal = crm.createDeal(manager, NOW, {
    title: "Windows", pipeline, amount: { amount: "100.00", currency: "EUR" },
  });
  return { crm, manager, deal };
}

function refused(fn, code, pattern) {
  assert.throws(fn, (err) => {
    assert.equal(err.code, code, err.message);
    assert.match(err.message, pattern);
    return true;
  });
}

test("NaN, Infinity and invalid Dates are refused, not sent as null (finding 12)", () => {
  const { crm, manager, deal } = shopWithDeal();
  const before = crm.lastSeq;
  for (const bad of [NaN, Infinity, -Infinity]) {
    refused(() => crm.execute(manager, NOW, { type: "update_deal", id: deal, patch: { amount: bad } }),
      "validation", /command\.patch\.amount: .* not a number JSON can carry/);
  }
  refused(() => crm.execute(manager, NOW, { type: "update_deal", id: deal, patch: { expected_close: new Date("nonsense") } }),
    "validation", /command\.patch\.expected_close: is an invalid Date/);
  refused(() => crm.execute(manager, NOW, { type: "create_contact", name: "A", custom: { score: [1, NaN] } }),
    "validation", /command\.custom\.score\[1\]/);
  assert.equal(crm.lastSeq, before);
  assert.deepEqual(crm.query(manager, NOW, { type: "get", id: deal }).amount, { amount: "100.00", currency: "EUR" });
});

test("a lone surrogate is refused by executeJson as by execute, naming the field (finding 12)", () => {
  const { crm, manager } = shopWithDeal();
  const before = crm.lastSeq;
  const name = "Anna \uD800 Schmidt";
  refused(() => crm.execute(manager, NOW, { type: "create_contact", name }), "malformed", /command\.name/);
  refused(() => crm.executeJson(manager, NOW.toISOString(), JSON.stringify({ type: "create_contact", name }).replace("\\ud800", "\uD800")),
    "malformed", /command\.name: holds a lone surrogate/);
  refused(() => crm.executeJson(manager, NOW.toISOString(), `{"type": "create_contact", "name": "${name}"}`),
    "malformed", /command\.name: holds a lone surrogate/);
  assert.equal(crm.lastSeq, before);
  // A real replacement character, or a whole pair, is text like any other.
  crm.executeJson(manager, NOW.toISOString(), JSON.stringify({ type: "create_contact", name: "\uFFFD \uD83D\uDE00" }));
  assert.equal(crm.lastSeq, before + 1);
});

test("offsets and limits beyond 2^32-1 get the same answer as natively (finding 12)", () => {
  const { crm, manager } = shopWithDeal();
  refused(() => crm.query(manager, NOW, { type: "list_deals", offset: 2 ** 32 }), "malformed",
    /query\.offset: 4294967296 is above 4294967295/);
  refused(() => crm.query(manager, NOW, { type: "list_deals", limit: 2 ** 40 }), "malformed",
    /query\.limit: 1099511627776 is above 4294967295/);
  refused(() => crm.query(manager, NOW, { type: "list_deals", limit: 5000 }), "too_large", /limit/);
  assert.equal(crm.query(manager, NOW, { type: "list_deals", offset: 2 ** 32 - 1 }).items.length, 0);
  assert.deepEqual(crm.warnings(), []);
});

test("a spreadsheet claiming billions of cells is refused, not `RuntimeError: unreachable` (finding 1)", async () => {
  const { readFileSync } = await import("node:fs");
  const { crm, manager } = shopWithDeal();
  const far = readFileSync(new URL("../../fuzz/regressions/import_spreadsheet/finding-1-a1-xfd1048576.xlsx", import.meta.url));
  refused(() => crm.query(manager, NOW, { type: "check_import", spreadsheet_base64: far.toString("base64") }),
    "too_large", /spreadsheet_base64 \(rows\)/);
});
