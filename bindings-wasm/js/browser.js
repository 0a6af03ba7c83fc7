// The browser entry of the `crm-core` package (docs/javascript.md). The office build
// (the engine without e-mail parsing and spreadsheets) loads first; the full build is
// fetched only when a page needs it, and gives the same results as every other build.

import initOffice, * as officeBuild from "../pkg/web/crm_core.js";

export { CrmError, CODES } from "./errors.js";
export { ReplicaStore, persistStorage } from "./store.js";
export { Office, needsFullBuild } from "./office.js";

let office = null;
let full = null;

/**
 * Loads the office build once: `{Crm, Replica}`.
 * @param {{wasm?: string | URL | Response | BufferSource}} [options] where the .wasm is, if not beside the module
 */
export async function load(options = {}) {
  office ??= initOffice(options.wasm === undefined ? undefined : { module_or_path: options.wasm }).then(() => officeBuild);
  return office;
}

/** Loads the full build once (raw e-mail, XLSX/ODS import, XLSX export): `{Crm, Replica}`. */
export async function loadFull(options = {}) {
  full ??= import("../pkg/web-full/crm_core.js").then(async (build) => {
    await build.default(options.wasm === undefined ? undefined : { module_or_path: options.wasm });
    return build;
  });
  return full;
}
