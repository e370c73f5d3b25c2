// What every schema kind compiles to: one check of a payload, and the errors of a
// payload that failed it. The adapters (schema-typebox.ts, schema-standard.ts)
// produce it and schemas.ts consumes it, so the module graph runs one way.

/** A kind's compiled check of a payload. */
export interface SchemaCheck {
  /** One compiled check of a payload; runs once per event. */
  check (data: unknown): boolean
  /** Why a payload fails (called only after `check` said no), for the log. */
  errors (data: unknown): SchemaError[]
}

export interface SchemaError {
  path: string
  message: string
}
