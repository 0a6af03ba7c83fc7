/** What `ReplicaStore` keeps besides the replica's own JSON texts. */
export interface ReplicaMeta {
  replicaId: number;
  user: string;
  /** Grows with every save; a tab with an older one reloads. */
  version: number;
  /** Whether the copy runs on the full build (it needed e-mail or spreadsheets once). */
  full: boolean;
}

/** A replica kept in IndexedDB: events, log and metadata, written in one transaction. */
export declare class ReplicaStore {
  static open(name?: string): Promise<ReplicaStore>;
  load(): Promise<{ meta: ReplicaMeta; events: string; log: string } | null>;
  meta(): Promise<ReplicaMeta | null>;
  save(meta: ReplicaMeta, log: string, events?: string): Promise<void>;
  clear(): Promise<void>;
  close(): void;
}

/** Asks the browser to keep this site's storage under pressure; whether it agreed. */
export declare function persistStorage(): Promise<boolean>;
