/**
 * Terminal resize messages: a stream of JSON objects `{"Width":80,"Height":24}`. client-go
 * writes them with Go's `json.Encoder` (one per line); other clients send one per WebSocket
 * message with no separator, so values are split by their braces, not by newlines.
 *
 * As the kubelet's `handleResizeEvents` (a `json.Decoder` into `TerminalSize{Width, Height
 * uint16}`): keys match case-insensitively, unknown keys are ignored, a missing size is 0, and
 * the first value that does not decode ends resize handling for the session.
 */
import { StringDecoder } from 'node:string_decoder';
import type { TerminalSize } from '../../../provider/contracts.ts';

/** Longest JSON value accepted; a resize message is about 25 bytes. */
const MAX_VALUE_LENGTH = 4096;

/** Splits a byte stream into terminal sizes. */
export class TerminalSizeDecoder {
  #onSize: (size: TerminalSize) => void;
  #utf8 = new StringDecoder('utf8');
  #value = '';
  #depth = 0;
  #inString = false;
  #escaped = false;
  #failure: string | undefined;

  constructor(onSize: (size: TerminalSize) => void) {
    this.#onSize = onSize;
  }

  /** Why decoding stopped, once it has. */
  get failure(): string | undefined {
    return this.#failure;
  }

  /** Feeds bytes; returns false once decoding has stopped (later input is ignored). */
  write(chunk: Buffer): boolean {
    if (this.#failure !== undefined) return false;
    const text = this.#utf8.write(chunk);
    for (let i = 0; i < text.length && this.#failure === undefined; i++) this.#scan(text[i] as string);
    return this.#failure === undefined;
  }

  #scan(char: string): void {
    if (this.#depth === 0) {
      if (char === ' ' || char === '\n' || char === '\r' || char === '\t') return;
      if (char !== '{') {
        this.#failure = `a resize message must be a JSON object, got ${JSON.stringify(char)}`;
        return;
      }
      this.#value = '{';
      this.#depth = 1;
      return;
    }
    this.#value += char;
    if (this.#value.length > MAX_VALUE_LENGTH) {
      this.#failure = `a resize message is longer than ${MAX_VALUE_LENGTH} characters`;
      return;
    }
    if (this.#inString) {
      if (this.#escaped) this.#escaped = false;
      else if (char === '\\') this.#escaped = true;
      else if (char === '"') this.#inString = false;
      return;
    }
    if (char === '"') this.#inString = true;
    else if (char === '{' || char === '[') this.#depth++;
    else if (char === '}' || char === ']') {
      this.#depth--;
      if (this.#depth === 0) this.#emit(this.#value);
    }
  }

  #emit(json: string): void {
    this.#value = '';
    let value: unknown;
    try {
      value = JSON.parse(json);
    } catch (error) {
      this.#failure = `a resize message is not valid JSON: ${(error as Error).message}`;
      return;
    }
    const size = { width: 0, height: 0 };
    for (const [key, field] of Object.entries(value as Record<string, unknown>)) {
      const name = key.toLowerCase();
      if (name !== 'width' && name !== 'height') continue;
      if (field === null) continue;
      if (typeof field !== 'number' || !Number.isInteger(field) || field < 0 || field > 0xffff) {
        this.#failure = `a resize message has an invalid ${key}: ${JSON.stringify(field)}`;
        return;
      }
      size[name] = field;
    }
    this.#onSize(size);
  }
}
