// Runs the shared scenario files (tests/scenarios/*.json) through the JS binding.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { Crm, Replica } from "./load.mjs";

const dir = fileURLToPath(new URL("../../tests/scenarios/", import.meta.url));
const files = readdirSync(dir).filter((name) => name.endsWith(".json")).sort();

// Objects by key (extra keys allowed), arrays element-wise with equal length, scalars equal.
function contains(expected, actual) {
  if (Array.isArray(expected)) {
    return Array.isArray(actual) && expected.length === actual.length && expected.every((e, i) => contains(e, actual[i]));
  }
  if (expected !== null && typeof expected === "object") {
    return actual !== null && typeof actual === "object" && !Array.isArray(actual)
      && Object.entries(expected).every(([key, value]) => key in actual && contains(value, actual[key]));
  }
  return expected === actual;
}

// A `pull` step: every canonical event after the replica's cursor, then what it still
// waits for — `{cursor, pending, rejected}` as JSON.
function pull(crm, replica, actor) {
  for (;;) {
    const batch = crm.pull(actor, replica.cursor);
    replica.receivePull(batch);
    if (!JSON.parse(batch).more) break;
  }
  return JSON.stringify({ cursor: replica.cursor, pending: replica.pending(), rejected: replica.rejected() });
}

test("the scenarios are found", () => assert.ok(files.length >= 3));

for (const file of files) {
  test(`scenario ${file}`, () => {
    const scenario = JSON.parse(readFileSync(join(dir, file), "utf8"));
    // The raw JSON entry points, so every language sends the same bytes to the core.
    const crm = new Crm(scenario.replica, scenario.options);
    // Replicas of it by name (docs/sync.md), for scenarios that sync.
    const replicas = Object.fromEntries(
      Object.entries(scenario.replicas ?? {}).map(([name, id]) => [name, new Replica(id, scenario.options)]));
    let now = "";
    scenario.steps.forEach((step, index) => {
      const here = `${file} step ${index}`;
      now = step.at ?? now;
      const expect = step.expect ?? {};
      let output;
      try {
        if ("push" in step) {
          const replica = replicas[step.push];
          output = crm.push(step.actor, now, replica.pushBatch(1000));
          replica.receivePushResult(output);
        } else if ("pull" in step) output = pull(crm, replicas[step.pull], step.actor);
        else if ("on" in step) {
          const replica = replicas[step.on];
          if ("discard" in step) output = JSON.stringify(replica.discard(step.discard));
          else if ("retry" in step) output = JSON.stringify(replica.retry(step.retry, now));
          else if ("execute" in step) output = JSON.stringify(replica.execute(step.actor, now, step.execute));
          else output = JSON.stringify(replica.query(step.actor, now, step.query));
        } else if ("batch" in step) {
          output = JSON.stringify(crm.executeBatch(step.actor, now, step.batch, step.idempotency_key));
        } else if ("execute_raw" in step) output = crm.executeJson(step.actor, now, step.execute_raw);
        else if ("execute" in step) output = crm.executeJson(step.actor, now, JSON.stringify(step.execute));
        else output = crm.queryJson(step.actor, now, JSON.stringify(step.query));
      } catch (err) {
        assert.ok(expect.error, `${here}: unexpected ${err.code}: ${err.message}`);
        assert.equal(err.code, expect.error.code, `${here}: ${err.message}`);
        assert.ok(err.message.includes(expect.error.contains ?? ""), `${here}: ${err.message}`);
        return;
      }
      assert.ok(!expect.error, `${here}: expected ${JSON.stringify(expect.error)}, got success`);
      const result = JSON.parse(output);
      if ("created" in expect) assert.deepEqual(result.created, expect.created, here);
      if ("events" in expect) assert.deepEqual(result.events.map((e) => e.event.type), expect.events, here);
      if ("result" in expect) {
        assert.ok(contains(expect.result, result), `${here}: expected ${JSON.stringify(expect.result)}, got ${JSON.stringify(result)}`);
      }
    });
  });
}
