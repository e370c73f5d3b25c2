// Plugin and per-stream options to the settings one stream runs with.
// Checked once at registration, and per stream only when a stream overrides them.

import type { SseFailure, SseOptions, SseStreamOptions, SseInvalidEventPolicy } from '../types/index.js'
import { FST_SSE_INVALID_OPTION } from './errors.js'
import { isNonNegativeInteger } from './wire.js'

export interface StreamSettings {
  readonly heartbeatInterval: number
  readonly retry: number | undefined
  readonly validate: boolean
  readonly onInvalidEvent: SseInvalidEventPolicy
  readonly sendTimeout: number
  readonly endMarker: boolean
  readonly done: string | undefined
  readonly failure: SseFailure | undefined
}

/** What only a registration sets. */
export interface PluginSettings {
  readonly maxStreams: number
  readonly streams: StreamSettings
}

const DEFAULTS: StreamSettings = {
  heartbeatInterval: 15_000,
  retry: undefined,
  validate: true,
  onInvalidEvent: 'end',
  sendTimeout: 60_000, // nginx's send_timeout
  endMarker: true,
  done: undefined,
  failure: undefined
}

/** The longest delay a Node timer takes. */
const MAX_INTERVAL = 2 ** 31 - 1

const SHARED_KEYS = ['heartbeatInterval', 'retry', 'validate', 'onInvalidEvent', 'sendTimeout', 'endMarker']
const PLUGIN_KEYS = new Set([...SHARED_KEYS, 'maxStreams'])
const STREAM_KEYS = new Set([...SHARED_KEYS, 'done', 'failure'])

export function pluginSettings (options: SseOptions | undefined): PluginSettings {
  checkKeys(options, PLUGIN_KEYS)
  const maxStreams = options?.maxStreams
  if (maxStreams !== undefined && !isNonNegativeInteger(maxStreams)) {
    throw new FST_SSE_INVALID_OPTION(`maxStreams must be a non-negative integer (0: no limit), got ${String(maxStreams)}`)
  }
  return { maxStreams: maxStreams ?? 0, streams: merge(DEFAULTS, options) }
}

export function streamSettings (defaults: StreamSettings, options: SseStreamOptions | undefined): StreamSettings {
  if (options === undefined) return defaults
  checkKeys(options, STREAM_KEYS)
  return merge(defaults, options)
}

function checkKeys (options: object | undefined | null, allowed: ReadonlySet<string>): void {
  if (options === undefined || options === null) return
  if (typeof options !== 'object') throw new FST_SSE_INVALID_OPTION(`options must be an object, got ${typeof options}`)
  for (const key of Object.keys(options)) {
    if (!allowed.has(key)) throw new FST_SSE_INVALID_OPTION(`unknown option "${key}" (known: ${[...allowed].join(', ')})`)
  }
}

function merge (base: StreamSettings, options: SseStreamOptions | undefined | null): StreamSettings {
  if (options === undefined || options === null) return base
  const { heartbeatInterval, retry, validate, onInvalidEvent, sendTimeout, endMarker, done, failure } = options
  checkMilliseconds('heartbeatInterval', heartbeatInterval)
  checkMilliseconds('sendTimeout', sendTimeout)
  if (retry !== undefined && !isNonNegativeInteger(retry)) {
    throw new FST_SSE_INVALID_OPTION(`retry must be a non-negative integer number of milliseconds, got ${String(retry)}`)
  }
  if (validate !== undefined && typeof validate !== 'boolean') {
    throw new FST_SSE_INVALID_OPTION(`validate must be a boolean, got ${typeof validate}`)
  }
  if (endMarker !== undefined && typeof endMarker !== 'boolean') {
    throw new FST_SSE_INVALID_OPTION(`endMarker must be a boolean, got ${typeof endMarker}`)
  }
  if (onInvalidEvent !== undefined && onInvalidEvent !== 'end' && onInvalidEvent !== 'skip') {
    throw new FST_SSE_INVALID_OPTION(`onInvalidEvent must be 'end' or 'skip', got ${JSON.stringify(onInvalidEvent)}`)
  }
  if (done !== undefined && (typeof done !== 'string' || !done.isWellFormed())) {
    throw new FST_SSE_INVALID_OPTION('done must be a string, such as \'[DONE]\'')
  }
  if (failure !== undefined && typeof failure !== 'function') {
    throw new FST_SSE_INVALID_OPTION(`failure must be a function (error) => event item, got ${typeof failure}`)
  }
  return {
    heartbeatInterval: heartbeatInterval ?? base.heartbeatInterval,
    retry: retry ?? base.retry,
    validate: validate ?? base.validate,
    onInvalidEvent: onInvalidEvent ?? base.onInvalidEvent,
    sendTimeout: sendTimeout ?? base.sendTimeout,
    endMarker: endMarker ?? base.endMarker,
    done: done ?? base.done,
    failure: failure ?? base.failure
  }
}

function checkMilliseconds (name: string, value: unknown): void {
  if (value !== undefined && !(isNonNegativeInteger(value) && value <= MAX_INTERVAL)) {
    throw new FST_SSE_INVALID_OPTION(`${name} must be an integer number of milliseconds from 0 to ${MAX_INTERVAL}, got ${String(value)}`)
  }
}
