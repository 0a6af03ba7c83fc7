// Starts crm-server for the office page's demo: a window shop's business (the team,
// calendar, pipeline and rules of examples/window_shop/setup.json, and a public
// "request a measurement" form), the page served beside the API, and a demo clock.
//   node examples/web-office/demo-server.mjs [port]     (scripts: examples/web-office/serve)
// The end-to-end test imports startDemo() and stops the server by its pid.
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync, createWriteStream } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, "../..");
export const FORM_TOKEN = "pub-okna-measure";

async function call(url, key, method, path, body) {
  const response = await fetch(url + path, {
    method,
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = await response.json();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(answer)}`);
  return answer;
}

// The shop as the reference process configures it, then its form and one key per person.
async function seed(url, adminKey) {
  const { setup } = JSON.parse(readFileSync(join(ROOT, "examples/window_shop/setup.json"), "utf8"));
  // The server made the first admin itself (usr-1-1): the rest runs as that admin.
  for (const { command } of setup.slice(1)) await call(url, adminKey, "POST", "/v1/commands", command);
  await call(url, adminKey, "POST", "/v1/commands",
    { type: "define_field", entity: "deal", key: "windows", label: "Windows", kind: "number" });
  const users = (await call(url, adminKey, "POST", "/v1/queries", { type: "list_users" })).items;
  const id = (name) => users.find((user) => user.name === name).id;
  const [pipeline] = (await call(url, adminKey, "POST", "/v1/queries", { type: "list_pipelines" })).items;
  await call(url, adminKey, "POST", "/v1/commands", {
    type: "configure_intake", owner: id("Anton Manager"), pipeline: pipeline.id,
    forms: { measure: { fields: { name: "name", phone: "phone", email: "email", windows: "deal.windows" } } },
  });
  // By role for people, and by user ID for a test that finds whose a task is (web leads
  // go to the managers in turn).
  const keys = { admin: adminKey, byUser: {} };
  for (const [who, name] of [["manager", "Anton Manager"], ["manager2", "Boris Manager"], ["head", "Irina Head"]]) {
    keys[who] = (await call(url, adminKey, "POST", "/v1/keys", { user: id(name) })).key;
    keys.byUser[id(name)] = keys[who];
  }
  return keys;
}

async function healthy(url, child) {
  for (let attempt = 0; attempt < 200; attempt++) {
    if (child.exitCode !== null) throw new Error(`crm-server exited with ${child.exitCode}`);
    try {
      if ((await fetch(url + "/health")).ok) return;
    } catch { /* not listening yet */ }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error("crm-server did not answer /health within 10 s");
}

/** Starts a fresh demo business on 127.0.0.1:`port`: `{url, keys, pid, stop()}`. */
export async function startDemo({ port = 8088, dir = join(ROOT, "target/web-office"), fresh = true } = {}) {
  if (fresh) rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const url = `http://127.0.0.1:${port}`;
  const config = join(dir, "crm-server.toml");
  writeFileSync(config, [
    `listen = "127.0.0.1:${port}"`,
    `web = ${JSON.stringify(HERE)}`,
    "demo_clock = true",
    "[tenants.default]",
    `data = ${JSON.stringify(join(dir, "shop.sqlite"))}`,
    "[tenants.default.options]",
    'default_region = "RU"',
    "[tenants.default.intake.forms.measure]",
    `token = "${FORM_TOKEN}"`,
    `redirect = "${url}/thanks.html"`,
    `origins = ["${url}"]`,
    "rate_limit = { per_minute = 600, burst = 100 }",
    "",
  ].join("\n"));
  const log = join(dir, "crm-server.log");
  const binary = join(ROOT, "target/debug/crm-server");
  const start = () => {
    const child = spawn(binary, ["--config", config], { stdio: ["ignore", "pipe", "pipe"] });
    // Always read what it writes (an unread pipe would stall it), into the log.
    const sink = createWriteStream(log, { flags: "a" });
    child.stdout.pipe(sink);
    child.stderr.pipe(sink);
    return child;
  };
  let child = start();
  await healthy(url, child);
  let keys;
  const keysFile = join(dir, "keys.json");
  if (fresh) {
    const firstKey = readFileSync(log, "utf8").match(/first admin API key of default[^:]*: (crm_[0-9a-f]{64})/)?.[1];
    if (!firstKey) throw new Error(`no first admin key in ${log}`);
    keys = await seed(url, firstKey);
    writeFileSync(keysFile, JSON.stringify(keys, null, 1));
  } else {
    keys = JSON.parse(readFileSync(keysFile, "utf8"));
  }
  const demo = {
    url, keys,
    get pid() { return child.pid; },
    /** Stops the server (SIGTERM by pid) and waits for it to exit. */
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      process.kill(child.pid, "SIGTERM");
      await exited;
    },
    /** Starts it again on the same data and port. */
    async restart() {
      child = start();
      await healthy(url, child);
    },
  };
  return demo;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const demo = await startDemo({ port: Number(process.argv[2] ?? 8088) });
  console.log(`office page:  ${demo.url}/            (sign in with a key below)`);
  console.log(`public form:  ${demo.url}/form.html`);
  console.log(`keys:         ${JSON.stringify(demo.keys, null, 1)}`);
  console.log("stop with Ctrl-C");
  process.on("SIGINT", async () => { await demo.stop(); process.exit(0); });
}
