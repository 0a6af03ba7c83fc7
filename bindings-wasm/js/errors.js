// The class of every error crm-core throws, in the browser and in Node.
//
// The engine throws plain `Error` objects with `name` ("ValidationError"), a stable
// `code` and, when the error is about one value, `field` (its JSON path). `CrmError`
// recognises them (`err instanceof CrmError`) without the wasm build depending on
// this file, and makes the same from an HTTP problem+json answer of crm-server.

/** Every code the engine gives (`CrmError::CODES` in Rust). */
export const CODES = Object.freeze([
  "validation", "malformed", "too_large", "not_found", "permission_denied",
  "conflict", "currency_mismatch", "overflow", "storage",
]);

const ENGINE_CODES = new Set(CODES);

function className(code) {
  return code.split("_").map((part) => part.charAt(0).toUpperCase() + part.slice(1)).join("") + "Error";
}

export class CrmError extends Error {
  /**
   * @param {string} code a stable code: one of CODES, or a server's own (`unauthorized`, `rate_limited`, ...)
   * @param {string} message
   * @param {string} [field] the JSON path of the value at fault
   */
  constructor(code, message, field) {
    super(message);
    this.name = className(code);
    this.code = code;
    if (field) this.field = field;
  }

  /** A crm-server problem+json body (`{code, detail, field}`) as an error. */
  static fromProblem(problem, status) {
    const error = new CrmError(problem?.code ?? "http_" + status, problem?.detail ?? problem?.title ?? `HTTP ${status}`, problem?.field);
    error.status = status;
    return error;
  }

  /** The engine's errors are CrmErrors too: an `Error` whose `code` is one of CODES. */
  static [Symbol.hasInstance](value) {
    return Function.prototype[Symbol.hasInstance].call(CrmError, value)
      || (value instanceof Error && ENGINE_CODES.has(value.code));
  }
}
