import type { Command, Query, QueryAnswers, Outcome, Now, ReportRequest, Report, Drawing } from "../pkg/web/crm_core.js";
import type { CrmError } from "./errors.js";

/** The wasm module's classes, as `load()` and `loadFull()` give them. */
export interface Engine {
  Replica: typeof import("../pkg/web/crm_core.js").Replica;
}

export interface OfficeOptions {
  engine: Engine;
  /** Loads the full build when a command needs it (`loadFull` of the package). */
  loadFull?: () => Promise<Engine>;
  /** The API key: the server knows whose it is. */
  key: string;
  /** The server's origin; "" (the default) is this page's. */
  server?: string;
  /** The IndexedDB database and BroadcastChannel name; by default one per key. */
  name?: string;
  /** The clock commands are stamped with. */
  now?: () => Date;
  fetch?: typeof globalThis.fetch;
  /** How often to pull what others changed, in seconds (default 10). */
  pollSeconds?: number;
  /** The longest wait between tries while the server cannot be reached (1 s doubling; default 30). */
  retryMaxSeconds?: number;
}

export interface OfficeStatus {
  online: boolean;
  syncing: boolean;
  lastSync: Date | null;
  lastError: CrmError | Error | null;
}

/** Whether a command, query or batch (or its JSON text) needs the full build (raw e-mail, XLSX/ODS files). */
export declare function needsFullBuild(input: unknown): boolean;

/** A replica of a crm-server business in a browser tab, kept in IndexedDB and synced. */
export declare class Office extends EventTarget {
  static open(options: OfficeOptions): Promise<Office>;
  readonly user: string;
  readonly replicaId: number;
  /** Whether the browser agreed to keep the storage (`navigator.storage.persist()`). */
  persisted: boolean;
  status: OfficeStatus;
  pollSeconds: number;
  execute(command: Command): Promise<Outcome>;
  query<Q extends Query>(query: Q): QueryAnswers[Q["type"]];
  report(request: ReportRequest): Report;
  chart(request: ReportRequest): Drawing;
  pending(): Array<{ command: { seq: number; command: Command } }>;
  rejected(): Array<{ command: { seq: number; command: Command }; code: string; field?: string; message: string }>;
  retry(seq: number): Promise<unknown>;
  discard(seq: number): Promise<unknown>;
  /** "busy": another tab of this browser is syncing the copy; "failed": retried with backoff. */
  sync(): Promise<"synced" | "busy" | "failed">;
  close(): void;
  forget(): Promise<void>;
}
