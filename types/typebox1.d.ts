// typebox 1.x, an optional peer, computes its schemas' payload types with its own
// `Static`: this file is the one place the published typings import it. A project
// without typebox 1.x must still compile with `skipLibCheck: false`, so the import
// is allowed to fail (@ts-ignore); its names are then `any`, which `Installed` reads
// as "not installed", and the payload type becomes `never` (no typebox 1.x schema can
// exist in that project). Hand-written, copied as it is to dist/*/types/ by the build.

// @ts-ignore TS2307 where typebox 1.x is not installed
import type { Static, TSchema } from 'typebox' with { 'resolution-mode': 'import' }

/** Whether typebox 1.x's typings resolved: an unresolved import is `any`. */
type Installed = 0 extends 1 & TSchema ? false : true

/** The payload type of a typebox 1.x schema (its `Static`); `never` without typebox 1.x. */
export type TypeBox1Static<Schema> = Installed extends true ? Static<Schema & TSchema> : never
