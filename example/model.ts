// A stand-in for a language model, so the chat demo needs no network and no keys:
// the reply is deterministic text derived from the prompt, handed out token by
// token with the pacing of a model (a pause before the first token, then a
// steady rate with some jitter).

import { pause } from './pause.js'

const SENTENCES = [
  'Server-Sent Events keep one HTTP response open and write each event as a few lines of text.',
  'The browser reconnects on its own and tells the server the id of the last event it saw.',
  'Every event here was checked against its TypeBox schema before a byte of it was written.',
  'A POST route streams the same way as a GET route, which is how chat APIs send their tokens.',
  'Press Stop and the request is aborted, which finalizes the token generator on the server.',
  'Behind a proxy, an idle stream stays open because it gets a heartbeat comment now and then.',
  'Over HTTP/2 every stream shares one connection, so the limit of six per host goes away.',
  'Each token is an unnamed event with a small JSON payload, and the stream ends with [DONE].'
]

const SENTENCES_PER_REPLY = 4
const LONGEST_TOKEN = 6

/** The full reply to a prompt: the same prompt always gets the same text. */
export function replyFor (prompt: string): string {
  const topic = prompt.trim().replace(/\s+/g, ' ')
  const quoted = topic.length > 80 ? `${[...topic].slice(0, 77).join('')}...` : topic
  const remaining = [...SENTENCES]
  const picked: string[] = []
  let seed = hash(topic)
  for (let i = 0; i < SENTENCES_PER_REPLY; i++) {
    picked.push(remaining.splice(seed % remaining.length, 1)[0] as string)
    seed = hash(String(seed))
  }
  return `You asked: "${quoted}". ${picked.join(' ')}`
}

/**
 * Splits text the way a model's tokenizer output looks: each word with its
 * leading space, long words in pieces. Joining the tokens gives back the text.
 */
export function tokensOf (text: string): string[] {
  const tokens: string[] = []
  for (const word of text.match(/\s*\S+/g) ?? []) {
    const characters = [...word] // code points: never split a surrogate pair
    for (let i = 0; i < characters.length; i += LONGEST_TOKEN) {
      tokens.push(characters.slice(i, i + LONGEST_TOKEN).join(''))
    }
  }
  return tokens
}

export interface GenerateOptions {
  /** The mean pause between tokens; the first token takes four times as long. `0` streams at once. */
  tokenDelayMs: number
  /** Stops the generator, also in the middle of a pause. */
  signal: AbortSignal
}

/** Yields the reply to `prompt` token by token, paced like a model. */
export async function * generateTokens (prompt: string, { tokenDelayMs, signal }: GenerateOptions): AsyncGenerator<string> {
  const tokens = tokensOf(replyFor(prompt))
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i] as string
    const jitter = 0.5 + (hash(token + i) % 100) / 100
    const delay = Math.round(tokenDelayMs * (i === 0 ? 4 : jitter))
    if (delay > 0 && !await pause(delay, signal)) return
    if (signal.aborted) return
    yield token
  }
}

/** FNV-1a: a small, stable string hash. */
function hash (text: string): number {
  let value = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    value ^= text.charCodeAt(i)
    value = Math.imul(value, 0x01000193) >>> 0
  }
  return value
}
