// Plugin and per-stream options to the settings one stream runs with.
// Checked once at registration, and per stream only when a stream overrides them.

import type { SseOptions, SseStreamOptions, SseInvalidEventPolicy } from '../types/index.js'
import { FST_SSE_INVALID_OPTION } from './errors.js'
import { isNonNegativeInteger } from './wire.js'

export interface StreamSettings {
  readonly heartbeatInterval: number
  readonly retry: number | undefined
  readonly validate: boolean
  readonly onInvalidEvent: SseInvalidEventPolicy
  readonly done: string | undefined
}

const DEFAULTS: StreamSettings = {
  heartbeatInterval: 15_000,
  retry: undefined,
  validate: true,
  onInvalidEvent: 'end',
  done: undefined
}

/** The longest delay a Node timer takes. */
const MAX_INTERVAL = 2 ** 31 - 1

const PLUGIN_KEYS = new Set(['heartbeatInterval', 'retry', 'validate', 'onInvalidEvent'])
const STREAM_KEYS = new Set([...PLUGIN_KEYS, 'done'])

export function pluginSettings (options: SseOptions | undefined): StreamSettings {
  return merge(DEFAULTS, options, PLUGIN_KEYS)
}

export function streamSettings (defaults: StreamSettings, options: SseStreamOptions | undefined): StreamSettings {
  return options === undefined ? defaults : merge(defaults, options, STREAM_KEYS)
}

function merge (base: StreamSettings, options: SseStreamOptions | undefined, allowed: ReadonlySet<string>): StreamSettings {
  if (options === undefined || options === null) return base
  if (typeof options !== 'object') throw new FST_SSE_INVALID_OPTION(`options must be an object, got ${typeof options}`)
  for (const key of Object.keys(options)) {
    if (!allowed.has(key)) throw new FST_SSE_INVALID_OPTION(`unknown option "${key}" (known: ${[...allowed].join(', ')})`)
  }
  const { heartbeatInterval, retry, validate, onInvalidEvent, done } = options
  if (heartbeatInterval !== undefined && !(isNonNegativeInteger(heartbeatInterval) && heartbeatInterval <= MAX_INTERVAL)) {
    throw new FST_SSE_INVALID_OPTION(`heartbeatInterval must be an integer number of milliseconds from 0 to ${MAX_INTERVAL}, got ${String(heartbeatInterval)}`)
  }
  if (retry !== undefined && !isNonNegativeInteger(retry)) {
    throw new FST_SSE_INVALID_OPTION(`retry must be a non-negative integer number of milliseconds, got ${String(retry)}`)
  }
  if (validate !== undefined && typeof validate !== 'boolean') {
    throw new FST_SSE_INVALID_OPTION(`validate must be a boolean, got ${typeof validate}`)
  }
  if (onInvalidEvent !== undefined && onInvalidEvent !== 'end' && onInvalidEvent !== 'skip') {
    throw new FST_SSE_INVALID_OPTION(`onInvalidEvent must be 'end' or 'skip', got ${JSON.stringify(onInvalidEvent)}`)
  }
  if (done !== undefined && (typeof done !== 'string' || !done.isWellFormed())) {
    throw new FST_SSE_INVALID_OPTION('done must be a string, such as \'[DONE]\'')
  }
  return {
    heartbeatInterval: heartbeatInterval ?? base.heartbeatInterval,
    retry: retry ?? base.retry,
    validate: validate ?? base.validate,
    onInvalidEvent: onInvalidEvent ?? base.onInvalidEvent,
    done: done ?? base.done
  }
}
