// typedEventSource(source, events): a native EventSource's events, decoded and
// checked like eventStream's, each name with its own typed listener.

import { eventDecoders } from './decode.js'
import { streamError } from './errors.js'
import type { EventSourceLike, SseClientEvents, SseSchemaCheck, TypedEventSource, TypedEventSourceOptionsArgument } from './types.js'

type MessageLike = { data: string, lastEventId: string }
/** What JavaScript callers may pass; the run time checks what the types require of TypeScript callers. */
type LooseOptions = { validate?: boolean | SseSchemaCheck, onError?: (error: Error) => void }

export function typedEventSource<Events extends SseClientEvents, Source extends EventSourceLike> (
  source: Source,
  events: Events,
  ...options: TypedEventSourceOptionsArgument<Events>
): TypedEventSource<Events, Source>
export function typedEventSource (source: EventSourceLike, events: SseClientEvents, options: LooseOptions = {}): TypedEventSource<SseClientEvents> {
  const { validate = true, onError = rethrow } = options
  const decoders = eventDecoders(events, validate)
  // The source finished (the server's end marker): close, or EventSource would reconnect and run it again.
  source.addEventListener('end', (message) => { if (message.data === '[DONE]') source.close() })
  // The server's failure event ends the stream: no reconnect, as with eventStream.
  source.addEventListener('stream-error', (message) => {
    source.close()
    onError(streamError(message.data))
  })
  return {
    source,
    on (name, listener) {
      const accept = decoders.get(name)
      if (accept === undefined) throw new TypeError(`event ${JSON.stringify(name)} is not in events`)
      const deliver = (message: MessageLike): void => {
        let data: unknown
        try {
          data = accept(message.data)
        } catch (error) {
          return onError(error as Error)
        }
        if (data instanceof Promise) data.then(data => listener(data, message), onError)
        else listener(data as never, message)
      }
      source.addEventListener(name, deliver)
      return () => source.removeEventListener(name, deliver)
    }
  }
}

function rethrow (error: Error): never {
  throw error
}
