// One scenario file (tests/scenarios/*.json) run through the JS binding: by Node's
// test (scenarios.test.mjs) on the Node build, and in Chromium (examples/web-office's
// parity page) on the browser's office build, which moves to the full build for the
// steps that need it, as the package does.

// Objects by key (extra keys allowed), arrays element-wise with equal length, scalars equal.
export function contains(expected, actual) {
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

/**
 * Runs `scenario` (file `file`) with the build's `Crm` and `Replica`; `check` is
 * node:assert or the page's own; `full`, when given, is the full build the run moves
 * to (replaying the events and logs so far) before the first step `needsFull` says needs it.
 */
export function runScenario(file, scenario, { Crm, Replica, check, full, needsFull }) {
  // The raw JSON entry points, so every language sends the same bytes to the core.
  let crm = new Crm(scenario.replica, scenario.options);
  // Replicas of it by name (docs/sync.md), for scenarios that sync.
  const replicas = Object.fromEntries(
    Object.entries(scenario.replicas ?? {}).map(([name, id]) => [name, new Replica(id, scenario.options)]));
  let moved = full === undefined;
  let now = "";
  scenario.steps.forEach((step, index) => {
    const here = `${file} step ${index}`;
    if (!moved && needsFull(step)) {
      crm = full.Crm.replay(scenario.replica, crm.events(), scenario.options);
      for (const name of Object.keys(replicas)) {
        replicas[name] = full.Replica.restore(replicas[name].events(), replicas[name].log());
      }
      moved = true;
    }
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
      check.ok(expect.error, `${here}: unexpected ${err.code}: ${err.message}`);
      check.equal(err.code, expect.error.code, `${here}: ${err.message}`);
      check.ok(err.message.includes(expect.error.contains ?? ""), `${here}: ${err.message}`);
      return;
    }
    check.ok(!expect.error, `${here}: expected ${JSON.stringify(expect.error)}, got success`);
    const result = JSON.parse(output);
    if ("created" in expect) check.deepEqual(result.created, expect.created, here);
    if ("events" in expect) check.deepEqual(result.events.map((e) => e.event.type), expect.events, here);
    if ("result" in expect) {
      check.ok(contains(expect.result, result), `${here}: expected ${JSON.stringify(expect.result)}, got ${JSON.stringify(result)}`);
    }
  });
  return { movedToFull: moved && full !== undefined };
}
