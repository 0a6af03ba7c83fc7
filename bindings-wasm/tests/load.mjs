// Loads the wasm-bindgen `--target nodejs` build (CommonJS) from ESM tests.
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
export const { Crm, Replica } = require("../pkg/node/crm_core.js");
