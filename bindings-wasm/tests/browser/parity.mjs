// The shared scenario files in the browser (examples/web-office/e2e.test.mjs hands each
// one over): the office build first, the full build fetched only for a scenario that
// needs it, and the run moved to it as the package's Office does. Served from
// examples/web-office/vendor/crm-core/tests/ (examples/web-office/build copies it).
import { load, loadFull, needsFullBuild } from "../js/browser.js";
import { runScenario } from "./scenario_runner.mjs";

const check = {
  ok(value, message) { if (!value) throw new Error(message); },
  equal(actual, expected, message) {
    if (actual !== expected) throw new Error(`${message}: ${JSON.stringify(actual)} !== ${JSON.stringify(expected)}`);
  },
  deepEqual(actual, expected, message) {
    if (JSON.stringify(actual) !== JSON.stringify(expected)) {
      throw new Error(`${message}: ${JSON.stringify(actual)} differs from ${JSON.stringify(expected)}`);
    }
  },
};

window.runScenario = async (file, scenario) => {
  const office = await load();
  const full = scenario.steps.some(needsFullBuild) ? await loadFull() : undefined;
  return runScenario(file, scenario, { Crm: office.Crm, Replica: office.Replica, check, full, needsFull: needsFullBuild });
};
document.querySelector("#ready").textContent = "ready";
