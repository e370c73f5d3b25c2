// The one event of the tests' chat app: a numbered message, so that a client can
// check it has every event once, in order; `pad` makes events as large as a test needs.

import { Type } from '@sinclair/typebox'

export const Message = Type.Object({ n: Type.Integer(), from: Type.String(), pad: Type.Optional(Type.String()) })
