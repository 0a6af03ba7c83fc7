// A replica of a crm-server business in a browser tab (docs/javascript.md): commands
// run at once on the local copy and wait in IndexedDB until the server has decided
// them; sync runs at start, after each command, when the browser comes back online,
// every `pollSeconds`, and with backoff after a failure. Tabs of one browser share the
// copy: a Web Lock serialises changes, a BroadcastChannel tells the others to reload,
// and only one tab syncs at a time, so no command is sent by two tabs.

import { CrmError } from "./errors.js";
import { ReplicaStore, persistStorage } from "./store.js";

const FULL_BUILD_ONLY = /"type":\s*"receive_email"|"spreadsheet_base64"|"format":\s*"xlsx"/;

/**
 * Whether a command, query or batch (an object or its JSON text) needs the full build:
 * a raw e-mail, an XLSX/ODS file to import, an XLSX export.
 */
export function needsFullBuild(input) {
  return FULL_BUILD_ONLY.test(typeof input === "string" ? input : JSON.stringify(input) ?? "");
}

export class Office extends EventTarget {
  #engine; #loadFull; #store; #replica; #meta; #server; #key; #fetch; #now;
  #channel; #name; #lockName; #timer = null; #backoff = 0; #closed = false; #maxBackoffMs = 30_000;
  /** `{online, syncing, lastSync, lastError}`, as the page shows it. */
  status = { online: true, syncing: false, lastSync: null, lastError: null };

  constructor(fields) {
    super();
    [this.#engine, this.#loadFull, this.#store, this.#replica, this.#meta, this.#server, this.#key,
      this.#fetch, this.#now, this.#name] = fields;
    this.#lockName = `crm-core:${this.#name}`;
  }

  /**
   * Opens the office for the holder of an API key: the copy kept in this browser, or,
   * the first time, a new replica enrolled with the server (which must then be reachable).
   * @param {object} options
   * @param {{Replica: Function}} options.engine the loaded wasm module (`await load()`)
   * @param {() => Promise<{Replica: Function}>} [options.loadFull] loads the full build
   * @param {string} options.key the API key (the server knows whose it is)
   * @param {string} [options.server] the server's origin ("" = this page's)
   * @param {string} [options.name] the database and channel name; by default one per
   *   key (`crm-core-` and the start of the key's SHA-256), so that two people signing
   *   in on one browser never share a copy
   * @param {() => Date} [options.now] the clock (the demo moves it)
   * @param {number} [options.pollSeconds] how often to pull others' changes (default 10)
   * @param {number} [options.retryMaxSeconds] the longest wait between tries while the
   *   server cannot be reached (from 1 s, doubling; default 30)
   */
  static async open({ engine, loadFull, key, server = "", name, now = () => new Date(),
    fetch = globalThis.fetch.bind(globalThis), pollSeconds = 10, retryMaxSeconds = 30 }) {
    name ??= `crm-core-${(await sha256(key)).slice(0, 16)}`;
    const store = await ReplicaStore.open(name);
    let saved = await store.load();
    if (saved === null) {
      const answer = await request(fetch, server, key, "POST", "/v1/sync/replicas");
      const replica = new engine.Replica(answer.replica_id);
      const meta = { replicaId: answer.replica_id, user: answer.user, version: 1, full: false };
      await store.save(meta, replica.log(), replica.events());
      saved = { meta, events: replica.events(), log: replica.log() };
      replica.free();
    }
    const fresh = saved.meta.version === 1;
    const office = new Office([engine, loadFull, store, null, saved.meta, server, key, fetch, now, name]);
    await office.#restore(saved);
    office.#channel = new BroadcastChannel(office.#lockName);
    office.#channel.onmessage = () => office.#refresh().catch((error) => office.#failed(error));
    globalThis.addEventListener?.("online", office.#wake);
    // Asked, not awaited: a browser may take its time (or a prompt) to decide, and the
    // office opens meanwhile; `persisted` says what it decided.
    office.persisted = false;
    persistStorage().then((granted) => { office.persisted = granted; }, () => {});
    office.pollSeconds = pollSeconds;
    office.#maxBackoffMs = retryMaxSeconds * 1000;
    // A new copy is empty until its first pull: wait for it. A kept one opens at once
    // (offline too) and syncs behind.
    if (fresh) await office.sync();
    office.#schedule(fresh ? pollSeconds * 1000 : 0);
    return office;
  }

  /** The user the key acts as, and this copy's replica id. */
  get user() { return this.#meta.user; }
  get replicaId() { return this.#meta.replicaId; }

  /** Runs a command here at once; it is kept and sent to the server. Returns the outcome. */
  async execute(command) {
    if (needsFullBuild(command)) await this.#useFullBuild();
    const outcome = await this.#change(() => this.#replica.execute(this.user, this.#now(), command));
    this.#schedule(0);
    return outcome;
  }

  /** Any query, answered from this copy (the server's state and the pending commands). */
  query(query) { return this.#replica.query(this.user, this.#now(), query); }
  /** A report (docs/reports.md) or its chart (`{chart, svg}`), drawn from this copy. */
  report(request) { return this.query({ ...request, type: "report" }); }
  chart(request) { return this.query({ ...request, type: "chart" }); }
  /** Commands waiting for the server, and those it refused (with `code`, `field`, `message`). */
  pending() { return this.#replica.pending(); }
  rejected() { return this.#replica.rejected(); }
  /** Sends a refused command again, as a new pending command. */
  async retry(seq) { const out = await this.#change(() => this.#replica.retry(seq, this.#now())); this.#schedule(0); return out; }
  /** Gives a refused command up. */
  async discard(seq) { return this.#change(() => this.#replica.discard(seq)); }

  /**
   * Pushes what waits and pulls what changed, now: "synced", "busy" (another tab of
   * this browser is syncing the same copy) or "failed" (tried again with backoff).
   */
  async sync() {
    // One tab at a time: another tab syncing is as good as this one doing it.
    return navigator.locks.request(`${this.#lockName}:sync`, { ifAvailable: true }, async (lock) => {
      if (lock === null) return "busy";
      this.status.syncing = true;
      this.#emit("status");
      try {
        await this.#refresh();
        if (this.#replica.pending().length > 0) {
          const batch = this.#replica.pushBatch(1000);
          const answer = await request(this.#fetch, this.#server, this.#key, "POST", "/v1/sync/push", batch);
          await this.#change(() => this.#replica.receivePushResult(JSON.stringify(answer)));
        }
        for (;;) {
          const batch = await request(this.#fetch, this.#server, this.#key, "GET", `/v1/sync/pull?cursor=${this.#replica.cursor}`);
          await this.#change(() => this.#replica.receivePull(JSON.stringify(batch)), true);
          if (!batch.more) break;
        }
        Object.assign(this.status, { online: true, lastSync: new Date(), lastError: null });
        this.#backoff = 0;
        return "synced";
      } catch (error) {
        this.#failed(error);
        return "failed";
      } finally {
        this.status.syncing = false;
        this.#emit("status");
      }
    });
  }

  /** Stops syncing and closes the database (the copy stays for the next visit). */
  close() {
    this.#closed = true;
    clearTimeout(this.#timer);
    globalThis.removeEventListener?.("online", this.#wake);
    this.#channel.close();
    this.#store.close();
  }

  /** Forgets this browser's copy (signing out), pending commands included. */
  async forget() {
    this.close();
    const store = await ReplicaStore.open(this.#name);
    await store.clear();
    store.close();
  }

  // A change: under the lock shared by the tabs, on the newest copy, saved before the
  // other tabs are told and before the answer is given.
  async #change(work, eventsChanged = false) {
    return navigator.locks.request(this.#lockName, async () => {
      await this.#refresh();
      const [scrubs, cursor, log] = [this.#replica.scrubs, this.#replica.cursor, this.#replica.log()];
      const result = work();
      const newLog = this.#replica.log();
      const withEvents = (eventsChanged && this.#replica.cursor !== cursor) || this.#replica.scrubs !== scrubs;
      // A pull that brought nothing changes nothing: no save, no re-render.
      const always = eventsChanged === "always";
      if (!always && !withEvents && newLog === log && this.#replica.cursor === cursor) return result;
      const meta = { ...this.#meta, version: this.#meta.version + 1 };
      await this.#store.save(meta, newLog, withEvents || always ? this.#replica.events() : undefined);
      this.#meta = meta;
      this.#channel?.postMessage(meta.version);
      this.#emit("change");
      return result;
    });
  }

  // Reloads the copy if another tab saved a newer one.
  async #refresh() {
    const meta = await this.#store.meta();
    if (meta !== null && meta.version > this.#meta.version) {
      await this.#restore(await this.#store.load());
      this.#emit("change");
    }
  }

  async #restore(saved) {
    this.#meta = saved.meta;
    if (saved.meta.full && this.#loadFull) this.#engine = await this.#loadFull();
    this.#replica?.free();
    this.#replica = this.#engine.Replica.restore(saved.events, saved.log);
  }

  // The first command that needs e-mail or spreadsheets loads the full build and moves
  // the copy into it (the same events and log: the same state).
  async #useFullBuild() {
    if (this.#meta.full) return;
    if (!this.#loadFull) throw new CrmError("validation", "this page did not give the office a full build to load (loadFull)");
    this.#engine = await this.#loadFull();
    await this.#change(() => {
      const events = this.#replica.events();
      const log = this.#replica.log();
      this.#replica.free();
      this.#replica = this.#engine.Replica.restore(events, log);
      this.#meta = { ...this.#meta, full: true };
    }, "always");
  }

  #failed(error) {
    // An answer from the server (a CrmError) means it is reachable; anything else
    // (a failed fetch, a timeout) means it is not.
    Object.assign(this.status, { online: error instanceof CrmError, lastError: error });
    this.#backoff = Math.min(this.#maxBackoffMs, this.#backoff === 0 ? 1000 : this.#backoff * 2);
    this.#schedule(this.#backoff);
    this.#emit("status");
  }

  #wake = () => {
    this.#backoff = 0;
    this.#schedule(0);
  };

  #schedule(delayMs) {
    if (this.#closed) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(async () => {
      // A failure has scheduled its own retry, with backoff.
      if ((await this.sync()) !== "failed") this.#schedule(this.pollSeconds * 1000);
    }, delayMs);
  }

  #emit(type) {
    this.dispatchEvent(new Event(type));
  }
}

async function sha256(text) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

// One call to crm-server: the JSON answer, or a CrmError from its problem+json. A
// network failure stays a TypeError (the page is offline).
async function request(fetch, server, key, method, path, body) {
  const response = await fetch(server + path, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body,
    signal: AbortSignal.timeout(15_000),
  });
  const text = await response.text();
  let parsed = null;
  try { parsed = text ? JSON.parse(text) : null; } catch { /* not JSON: a proxy's page */ }
  if (!response.ok) throw CrmError.fromProblem(parsed, response.status);
  return parsed;
}
