// Runs the shared scenario files (tests/scenarios/*.json) through the JS binding.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { Crm, Replica } from "./load.mjs";
import { runScenario } from "./scenario_runner.mjs";

const dir = fileURLToPath(new URL("../../tests/scenarios/", import.meta.url));
const files = readdirSync(dir).filter((name) => name.endsWith(".json")).sort();

test("the scenarios are found", () => assert.ok(files.length >= 3));

for (const file of files) {
  test(`scenario ${file}`, () => {
    const scenario = JSON.parse(readFileSync(join(dir, file), "utf8"));
    runScenario(file, scenario, { Crm, Replica, check: assert });
  });
}
