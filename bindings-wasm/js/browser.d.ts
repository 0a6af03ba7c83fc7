export type * from "../pkg/web/crm_core.js";
export { CrmError, CODES } from "./errors.js";
export { ReplicaStore, persistStorage } from "./store.js";
export type { ReplicaMeta } from "./store.js";
export { Office, needsFullBuild } from "./office.js";
export type { OfficeOptions, OfficeStatus, Engine } from "./office.js";

type Build = typeof import("../pkg/web/crm_core.js");
type WasmSource = string | URL | Response | BufferSource;
/** Loads the office build once (the engine without e-mail parsing and spreadsheets). */
export declare function load(options?: { wasm?: WasmSource }): Promise<Build>;
/** Loads the full build once (raw e-mail, XLSX/ODS import, XLSX export). */
export declare function loadFull(options?: { wasm?: WasmSource }): Promise<Build>;
