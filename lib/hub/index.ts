// fastify-typed-sse/hub: one event to many clients, with replay. Wiring only:
// the hub is in hub.ts, the embedded engine in memory.ts, the engine interface
// every engine implements in engine.ts.

export { createHub, HubReset } from './hub.js'
export type { Hub, HubEvents, HubEventSchemas, HubHealth, HubOptions, HubPublishItem, HubResetData, HubStreamItem, HubSubscription, SubscribeOptions } from './hub.js'
export { memoryEngine } from './memory.js'
export type { MemoryEngineOptions } from './memory.js'
export { ZERO_ID } from './engine.js'
export type { EngineEntry, EngineHealth, EngineListener, EnginePage, HubEngine, LiveEntry } from './engine.js'
export { compareIds, isId } from './ids.js'
