/** Every code the engine gives. */
export declare const CODES: readonly ["validation", "malformed", "too_large", "not_found", "permission_denied",
  "conflict", "currency_mismatch", "overflow", "storage"];
export type EngineCode = (typeof CODES)[number];

/** Every error crm-core throws (`instanceof CrmError`), and crm-server's problems. */
export declare class CrmError extends Error {
  constructor(code: string, message: string, field?: string);
  /** A stable code: one of CODES, or a server's own (`unauthorized`, `rate_limited`, `no_route`, ...). */
  code: EngineCode | (string & {});
  /** The JSON path of the value at fault (`phones[0]`), when the error names one. */
  field?: string;
  /** The HTTP status, for an error made from a server's answer. */
  status?: number;
  static fromProblem(problem: { code?: string; detail?: string; title?: string; field?: string } | null, status: number): CrmError;
}
