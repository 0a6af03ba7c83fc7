// The window shop's office page: the crm-core engine running in the browser on a
// replica of the shop's crm-server business (docs/javascript.md walks through it).
import { load, loadFull, Office, CrmError } from "./vendor/crm-core/js/browser.js";

const $ = (selector) => document.querySelector(selector);
const KEY = "okna-office-key";
let office = null;
// The demo clock: how far the server's clock is ahead of this machine's.
let aheadMs = Number(localStorage.getItem("okna-ahead-ms") ?? 0);
const now = () => new Date(Date.now() + aheadMs);
let openDeal = null;
// Open tasks the server's history shows escalated (the history lives at the server).
const escalated = new Set();

// A query the server answers: a record's history and "why" live there, not in the copy.
async function serverQuery(query) {
  const response = await fetch("/v1/queries", {
    method: "POST",
    headers: { authorization: `Bearer ${localStorage.getItem(KEY)}`, "content-type": "application/json" },
    body: JSON.stringify(query),
  });
  const answer = await response.json();
  if (!response.ok) throw CrmError.fromProblem(answer, response.status);
  return answer;
}

const wasEscalated = (history) => history.some((item) =>
  item.event?.type === "rules_evaluated" && item.event.fired?.some((rule) => rule.startsWith("escalate")));

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

function money(amount) {
  return amount ? `${amount.amount} ${amount.currency}` : "—";
}

function local(instant) {
  return instant ? new Date(instant).toLocaleString() : "—";
}

function showError(error) {
  $("#error").textContent = error instanceof CrmError
    ? `${error.message}${error.field ? ` (${error.field})` : ""}` : String(error);
}

async function act(command) {
  try {
    $("#error").textContent = "";
    await office.execute(command);
  } catch (error) {
    showError(error);
  }
}

function renderStatus() {
  const { online, syncing, lastError } = office.status;
  const pending = office.pending().length;
  $("#status").dataset.online = String(online);
  $("#status").textContent = online ? (syncing ? "syncing…" : "online") : "offline — working on this device";
  $("#pending-count").textContent = pending ? `${pending} change(s) waiting to be sent` : "all changes sent";
  $("#pending-count").dataset.pending = String(pending);
  if (lastError && online) showError(lastError);
  $("#clock").textContent = `now: ${now().toLocaleString()}`;
}

function renderRejected() {
  const rejected = office.rejected();
  $("#rejected").hidden = rejected.length === 0;
  $("#rejected ul").replaceChildren(...rejected.map((item) => element("li", { class: "refusal" },
    `${item.command.command.type}: ${item.message} `,
    element("button", { onclick: () => office.discard(item.command.seq) }, "Dismiss"))));
}

function contactName(id) {
  try {
    return id ? office.query({ type: "get", id }).name : "";
  } catch {
    return ""; // not in this user's view
  }
}

function renderBoard(users) {
  const [pipeline] = office.query({ type: "list_pipelines" }).items;
  if (!pipeline) return;
  const deals = office.query({ type: "list_deals", limit: 500 }).items;
  const columns = pipeline.stages.map((stage) => {
    const cards = deals.filter((deal) => deal.stage === stage.id).map((deal) => {
      const select = element("select", { "aria-label": "stage" },
        ...pipeline.stages.map((s) => element("option", s.id === stage.id ? { value: s.id, selected: "" } : { value: s.id }, s.name)));
      return element("div", { class: "card", "data-deal": deal.id, onclick: (event) => {
        if (event.target.closest("select, button")) return;
        openDeal = deal.id;
        renderDeal();
      } },
      element("strong", {}, deal.title), element("br"),
      contactName(deal.contact), element("br"),
      `${money(deal.amount)} · ${users.get(deal.owner) ?? "no owner"}`, element("br"),
      select, element("button", { class: "move", onclick: () => act({ type: "move_deal", id: deal.id, stage: select.value }) }, "Move"));
    });
    return element("div", { class: "column", "data-stage": stage.name }, element("h3", {}, stage.name), ...cards);
  });
  $("#board").replaceChildren(...columns);
}

function renderTasks() {
  const tasks = office.query({ type: "list_tasks", assignee: office.user, status: "open", limit: 200 }).items;
  const at = now();
  $("#tasks").replaceChildren(...tasks.map((task) => {
    const overdue = task.due && new Date(task.due) < at;
    return element("li", { class: overdue ? "task overdue" : "task", "data-task": task.id },
      `${task.title} — due ${local(task.due)}${overdue ? " (overdue)" : ""}${escalated.has(task.id) ? " · escalated to the head" : ""} `,
      element("button", { class: "complete", onclick: () => act({ type: "complete_task", id: task.id, outcome: "reached" }) }, "Done"));
  }));
}

// Which overdue tasks were escalated: asked of the server when online (each task once
// it is overdue), shown on the task list.
async function checkEscalations() {
  const at = now();
  const overdue = office.query({ type: "list_tasks", assignee: office.user, status: "open", limit: 200 }).items
    .filter((task) => task.due && new Date(task.due) < at && !escalated.has(task.id));
  for (const task of overdue) {
    try {
      if (wasEscalated(await serverQuery({ type: "timeline", id: task.id, limit: 50 }))) escalated.add(task.id);
    } catch { return; /* offline: asked again after the next sync */ }
  }
  if (overdue.some((task) => escalated.has(task.id))) renderTasks();
}

async function renderDeal() {
  if (!openDeal) return;
  $("#deal").hidden = false;
  const deal = office.query({ type: "get", id: openDeal });
  const head = [element("h3", {}, deal.title), element("p", {}, `${money(deal.amount)} · status ${deal.status}`)];
  $("#deal-body").replaceChildren(...head, element("p", {}, "history: asking the server…"));
  try {
    const [timeline, why] = await Promise.all([
      serverQuery({ type: "timeline", id: openDeal, limit: 100 }),
      serverQuery({ type: "explain", id: openDeal }),
    ]);
    $("#deal-body").replaceChildren(...head,
      element("h4", {}, "Timeline"),
      element("ol", { id: "timeline" }, ...timeline.map((item) =>
        element("li", {}, `${local(item.at)} ${item.event?.type ?? ""}${item.rule ? ` (rule ${item.rule})` : ""}`))),
      element("h4", {}, "Why did this happen"),
      element("ul", { id: "explain" }, ...why.map((step) =>
        element("li", {}, `${local(step.at)} ${step.on ?? step.event ?? ""}: ${step.fired.map((f) => f.rule).join(", ") || "no rule fired"}`))));
  } catch (error) {
    $("#deal-body").replaceChildren(...head, element("p", {}, `history needs the server: ${error.message}`));
  }
}

function renderReports() {
  const figures = ["funnel", "revenue", "sla"].map((report) => {
    try {
      const { svg } = office.chart({ report });
      const figure = element("figure", { "data-report": report }, element("figcaption", {}, report));
      figure.insertAdjacentHTML("beforeend", svg); // the engine's SVG: escaped text, no scripts
      return figure;
    } catch (error) {
      return element("p", {}, `${report}: ${error.message}`);
    }
  });
  $("#reports").replaceChildren(...figures);
}

function render() {
  $("#error").textContent = "";
  try {
    const users = new Map(office.query({ type: "list_users", limit: 500 }).items.map((u) => [u.id, u.name]));
    renderStatus();
    renderRejected();
    renderBoard(users);
    renderTasks();
    renderReports();
  } catch (error) {
    showError(error);
  }
}

async function fastForward() {
  const response = await fetch("/v1/demo/clock", {
    method: "POST",
    headers: { authorization: `Bearer ${localStorage.getItem(KEY)}`, "content-type": "application/json" },
    body: JSON.stringify({ minutes: 24 * 60 }),
  });
  const answer = await response.json();
  if (!response.ok) return showError(CrmError.fromProblem(answer, response.status));
  aheadMs = new Date(answer.now).getTime() - Date.now();
  localStorage.setItem("okna-ahead-ms", String(aheadMs));
  // The server's timekeeper fires what fell due; pull it soon after.
  setTimeout(() => office.sync().then(checkEscalations), 500);
  render();
}

async function start(key) {
  $("#sign-in").hidden = true;
  try {
    office = await Office.open({ engine: await load(), loadFull, key, now, pollSeconds: 2, retryMaxSeconds: 2 });
  } catch (error) {
    $("#sign-in").hidden = false;
    return showError(error);
  }
  $("#office").hidden = false;
  $("#fast-forward").hidden = false;
  $("#sign-out").hidden = false;
  office.addEventListener("change", () => {
    render();
    checkEscalations();
  });
  office.addEventListener("status", renderStatus);
  window.okna = office; // for the end-to-end test and the curious
  render();
  checkEscalations();
}

$("#sign-in").addEventListener("submit", (event) => {
  event.preventDefault();
  const key = new FormData(event.target).get("key").trim();
  localStorage.setItem(KEY, key);
  start(key);
});
$("#fast-forward").addEventListener("click", fastForward);
$("#sign-out").addEventListener("click", async () => {
  await office.forget();
  localStorage.removeItem(KEY);
  location.reload();
});

// The page itself, kept for when the server is away (sw.js); the data is the Office's.
navigator.serviceWorker?.register("sw.js").catch((error) => console.warn("no offline page:", error));

const saved = localStorage.getItem(KEY);
if (saved) start(saved);
else $("#sign-in").hidden = false;
