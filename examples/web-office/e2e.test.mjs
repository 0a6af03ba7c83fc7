// The office page in a real browser (issue 18): Debian's Chromium driven by
// playwright-core against crm-server serving the page, on 127.0.0.1 only. A visitor
// requests a measurement; the manager sees the deal and the call task, moves the card,
// the clock is fast-forwarded and the late call is escalated; the server stops, the
// manager keeps working, the tab crashes and a new one still has the work, the server
// comes back and a second browser sees it; a reload finds everything still there. Screenshots go to target/e2e/.
// Then every shared scenario file runs in the page (parity with Rust, Python, Node and
// the JVM): on the office build, moving to the full build where a scenario needs it.
//   node --test examples/web-office/e2e.test.mjs   (scripts/test-all: the browser suite)
import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { startDemo } from "./demo-server.mjs";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const require = createRequire(join(ROOT, ".tools/package.json"));
const { chromium } = require("playwright-core");
const SHOTS = join(ROOT, "target/e2e");
const PORT = 18000 + (process.pid % 1000);
// Generous: CI machines have two cores, and a crashed renderer takes a while to let go.
const TIMEOUT = 45_000;

let demo;
let browser;

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  demo = await startDemo({ port: PORT, dir: join(ROOT, "target/web-office-e2e") });
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
      "--disable-sync", "--no-first-run"],
  });
});

after(async () => {
  await browser?.close();
  await demo?.stop();
});

async function signIn(context, key) {
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  const problems = [];
  page.on("pageerror", (error) => problems.push(error.message));
  await page.goto(`${demo.url}/`);
  await page.fill("#sign-in input[name=key]", key);
  await page.click("#sign-in button");
  await page.waitForSelector("#office:not([hidden])");
  // The page is kept for offline use once its service worker is active.
  await page.evaluate(() => navigator.serviceWorker.ready);
  page.problems = problems;
  return page;
}

const pendingCount = (page) => page.getAttribute("#pending-count", "data-pending").then(Number);
async function waitSynced(page) {
  try {
    await page.waitForFunction(() => document.querySelector("#pending-count")?.dataset.pending === "0"
      && document.querySelector("#status")?.dataset.online === "true", null, { timeout: TIMEOUT });
  } catch (error) {
    const state = await page.evaluate(() => ({
      status: document.querySelector("#status")?.textContent,
      pending: window.okna?.pending(),
      lastError: String(window.okna?.status.lastError),
      error: document.querySelector("#error")?.textContent,
    }));
    throw new Error(`not synced: ${JSON.stringify(state)}`, { cause: error });
  }
}

// The shop's public form, as a visitor fills it in and sends it: the thank-you page.
async function requestMeasurement(fields) {
  const form = await (await browser.newContext()).newPage();
  await form.goto(`${demo.url}/form.html`);
  for (const [name, value] of Object.entries(fields)) await form.fill(`[name=${name}]`, value);
  await Promise.all([form.waitForURL(/thanks\.html$/), form.click("#measure button")]);
  assert.match(await form.textContent("#thanks"), /Thank you/);
  return form;
}

test("a measurement request becomes a deal and a task, worked on online and offline", async () => {
  const form = await requestMeasurement({ name: "Petra Schulz", phone: "+7 495 123-45-67",
    email: "petra@example.de", windows: "3", message: "Three windows, 2nd floor" });
  await form.screenshot({ path: join(SHOTS, "1-form-sent.png") });

  // The manager's office: the deal on the board, the call in the task list.
  const desk = await browser.newContext();
  let page = await signIn(desk, demo.keys.manager);
  const card = page.locator(".column[data-stage='New request'] .card", { hasText: "Petra" });
  await card.waitFor();
  const task = page.locator("#tasks .task", { hasText: "Call Petra" });
  await task.waitFor();
  await page.screenshot({ path: join(SHOTS, "2-board.png"), fullPage: true });

  // Move the card; the move is sent.
  await card.locator("select").selectOption({ label: "Clarify" });
  await card.locator("button.move").click();
  await page.locator(".column[data-stage='Clarify'] .card", { hasText: "Petra" }).waitFor();
  await waitSynced(page);

  // Days later (the call is due in working time: a weekend may come first) the call
  // is overdue and the rule has told the head of department.
  const escalation = page.locator("#tasks .task.overdue", { hasText: "escalated to the head" });
  for (let day = 0; day < 5 && !(await escalation.count()); day++) {
    await page.click("#fast-forward");
    await escalation.waitFor({ timeout: 3_000 }).catch(() => {});
  }
  await escalation.waitFor();
  await page.locator(".column[data-stage='Clarify'] .card", { hasText: "Petra" }).click();
  await page.locator("#timeline li").first().waitFor();
  await page.screenshot({ path: join(SHOTS, "3-escalated.png"), fullPage: true });

  // A second tab of the same browser shares the copy.
  const tab = await desk.newPage();
  tab.setDefaultTimeout(TIMEOUT);
  await tab.goto(`${demo.url}/`);
  await tab.waitForSelector("#office:not([hidden])");

  // The server stops; the manager keeps working on this device.
  await demo.stop();
  await page.locator("#tasks .task", { hasText: "Call Petra" }).locator("button.complete").click();
  await page.waitForFunction(() => document.querySelector("#status")?.dataset.online === "false", null, { timeout: TIMEOUT });
  assert.equal(await pendingCount(page), 1, "the completed call waits to be sent");
  await tab.waitForFunction(() => document.querySelector("#pending-count")?.dataset.pending === "1", null, { timeout: TIMEOUT });
  assert.equal(await page.locator("#tasks .task", { hasText: "Call Petra" }).count(), 0);
  await page.screenshot({ path: join(SHOTS, "4-offline.png"), fullPage: true });

  // The tab crashes (its renderer killed) before the server is back: the completed call
  // was saved before the page was told, so a new tab finds it still waiting.
  const crashed = page.waitForEvent("crash");
  // Not awaited: the answer dies with the renderer.
  desk.newCDPSession(page).then((session) => session.send("Page.crash")).catch(() => {});
  await crashed;
  page = await desk.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.problems = [];
  page.on("pageerror", (error) => page.problems.push(error.message));
  await page.goto(`${demo.url}/`);
  await page.waitForSelector("#office:not([hidden])").catch(async (error) => {
    const shown = await page.evaluate(async () => {
      const within = (promise) => Promise.race([promise.then((v) => JSON.stringify(v) ?? "ok", (e) => "error " + e),
        new Promise((resolve) => setTimeout(() => resolve("hangs"), 3000))]);
      const dbs = await indexedDB.databases();
      const open = within(new Promise((resolve, reject) => {
        const r = indexedDB.open(dbs[0].name, 1); r.onsuccess = () => resolve("opened"); r.onerror = () => reject(r.error);
        r.onblocked = () => resolve("blocked");
      }));
      return { error: document.querySelector("#error")?.textContent, signIn: !document.querySelector("#sign-in")?.hidden,
        dbs, open: await open, persist: await within(navigator.storage.persist()), locks: await within(navigator.locks.query()) };
    });
    throw new Error(`the new tab did not open the office: ${JSON.stringify(shown)}`, { cause: error });
  });
  await page.waitForFunction(() => document.querySelector("#pending-count")?.dataset.pending === "1", null, { timeout: TIMEOUT });

  // The server is back: the page sends the work, and another browser sees it.
  await demo.restart();
  await waitSynced(page);
  assert.deepEqual(await page.evaluate(() => window.okna.rejected()), []);
  const office2 = await browser.newContext();
  const head = await signIn(office2, demo.keys.head);
  await head.waitForFunction(() => {
    const tasks = window.okna.query({ type: "list_tasks", status: "done" }).items;
    return tasks.some((task) => task.title.startsWith("Call Petra"));
  }, null, { timeout: TIMEOUT });
  await head.locator(".column[data-stage='Clarify'] .card", { hasText: "Petra" }).waitFor();
  await head.screenshot({ path: join(SHOTS, "5-second-browser.png"), fullPage: true });

  // A reload finds everything where it was, without asking the server first.
  await page.reload();
  await page.waitForSelector("#office:not([hidden])");
  await page.locator(".column[data-stage='Clarify'] .card", { hasText: "Petra" }).waitFor();
  assert.equal(await pendingCount(page), 0);
  await page.screenshot({ path: join(SHOTS, "6-reloaded.png"), fullPage: true });

  for (const p of [page, tab, head]) assert.deepEqual(p.problems ?? [], [], "no uncaught errors in the page");
});

test("work done offline on a call a colleague cancelled meanwhile comes back refused, with the reason", async () => {
  await requestMeasurement({ name: "Ivan Petrov", phone: "+7 495 765-43-21" });

  // The call goes to the next manager in turn: sign in as whoever has it.
  const api = (body) => fetch(`${demo.url}/v1/${body.type === "list_tasks" ? "queries" : "commands"}`, {
    method: "POST", headers: { authorization: `Bearer ${demo.keys.admin}` }, body: JSON.stringify(body),
  }).then((response) => response.json());
  const task = (await api({ type: "list_tasks", status: "open" })).items.find((t) => t.title.startsWith("Call Ivan"));
  const laptop = await browser.newContext();
  const page = await signIn(laptop, demo.keys.byUser[task.assignee]);
  const call = page.locator("#tasks .task", { hasText: "Call Ivan" });
  await call.waitFor();

  // The laptop loses its network; meanwhile the office cancels the call.
  await laptop.setOffline(true);
  await api({ type: "cancel_task", id: task.id, reason: "the client called back himself" });

  // The manager, unaware, marks the call done: it waits, then the server refuses it.
  await call.locator("button.complete").click();
  await page.waitForFunction(() => document.querySelector("#pending-count")?.dataset.pending === "1", null, { timeout: TIMEOUT });
  await laptop.setOffline(false);
  const refusal = page.locator("#rejected:not([hidden]) li.refusal", { hasText: "already cancelled" });
  await refusal.waitFor();
  assert.match(await refusal.textContent(), /complete_task/);
  await page.screenshot({ path: join(SHOTS, "7-refused.png"), fullPage: true });
  await refusal.locator("button").click();
  await page.waitForFunction(() => document.querySelector("#rejected")?.hidden === true, null, { timeout: TIMEOUT });
  assert.deepEqual(await page.evaluate(() => window.okna.rejected()), []);
  assert.deepEqual(page.problems, [], "no uncaught errors in the page");
});

const SCENARIOS = join(ROOT, "tests/scenarios");
const scenarioFiles = readdirSync(SCENARIOS).filter((name) => name.endsWith(".json")).sort();
let parityPage;

test("the scenario files are found for the browser", () => assert.ok(scenarioFiles.length >= 30));

for (const file of scenarioFiles) {
  test(`scenario ${file} in Chromium`, async () => {
    if (!parityPage) {
      parityPage = await (await browser.newContext()).newPage();
      parityPage.setDefaultTimeout(TIMEOUT);
      await parityPage.goto(`${demo.url}/vendor/crm-core/tests/parity.html`);
      await parityPage.waitForFunction(() => document.querySelector("#ready")?.textContent === "ready");
    }
    const text = readFileSync(join(SCENARIOS, file), "utf8");
    const { movedToFull } = await parityPage.evaluate(([name, steps]) => window.runScenario(name, steps), [file, JSON.parse(text)]);
    // E-mail and spreadsheets ran on the full build, everything else on the office build.
    assert.equal(movedToFull, /"receive_email"|"spreadsheet_base64"|"format":\s*"xlsx"/.test(text), file);
  });
}
