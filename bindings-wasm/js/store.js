// A replica kept in the browser's IndexedDB (docs/javascript.md): its canonical events,
// its log (pending and refused commands, sequences, clock) and a little metadata, all
// written in one transaction with strict durability, so a reload or a crashed tab
// finds either the state before a command or the state after it, never half.

const STORE = "replica";

function done(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

function finished(transaction) {
  return new Promise((resolve, reject) => {
    transaction.oncomplete = () => resolve();
    transaction.onerror = () => reject(transaction.error);
    transaction.onabort = () => reject(transaction.error ?? new Error("IndexedDB transaction aborted"));
  });
}

export class ReplicaStore {
  #db;

  constructor(db) {
    this.#db = db;
  }

  /** Opens (and makes, the first time) the database `name`. */
  static async open(name = "crm-core") {
    const request = indexedDB.open(name, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    return new ReplicaStore(await done(request));
  }

  /** What was saved: `{meta, events, log}` (events and log as the engine's JSON text), or null. */
  async load() {
    const transaction = this.#db.transaction(STORE, "readonly");
    const store = transaction.objectStore(STORE);
    const [meta, events, log] = await Promise.all(["meta", "events", "log"].map((key) => done(store.get(key))));
    return meta === undefined ? null : { meta, events, log };
  }

  /** The metadata alone (cheap: tells a tab whether another one saved since). */
  async meta() {
    const transaction = this.#db.transaction(STORE, "readonly");
    return (await done(transaction.objectStore(STORE).get("meta"))) ?? null;
  }

  /** Saves all three at once; `events` may be omitted when they did not change. */
  async save(meta, log, events) {
    const transaction = this.#db.transaction(STORE, "readwrite", { durability: "strict" });
    const store = transaction.objectStore(STORE);
    store.put(meta, "meta");
    store.put(log, "log");
    if (events !== undefined) store.put(events, "events");
    await finished(transaction);
  }

  /** Forgets the replica (signing out). */
  async clear() {
    const transaction = this.#db.transaction(STORE, "readwrite", { durability: "strict" });
    transaction.objectStore(STORE).clear();
    await finished(transaction);
  }

  close() {
    this.#db.close();
  }
}

/** Asks the browser not to evict this site's storage under pressure; whether it agreed. */
export async function persistStorage() {
  return (await globalThis.navigator?.storage?.persist?.()) ?? false;
}
