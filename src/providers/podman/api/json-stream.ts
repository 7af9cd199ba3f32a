/**
 * Podman's streaming endpoints (events, pull progress, streamed stats) write one JSON document
 * per line with Go's `json.Encoder`; this reads them one at a time as they arrive.
 */

/** Yields each non-empty line of a byte stream (without its newline) as soon as it is complete. */
export async function* textLines(source: AsyncIterable<Buffer | string>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let pending = '';
  for await (const chunk of source) {
    pending += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    let newline = pending.indexOf('\n');
    while (newline >= 0) {
      const line = pending.slice(0, newline).trim();
      pending = pending.slice(newline + 1);
      if (line) yield line;
      newline = pending.indexOf('\n');
    }
  }
  pending += decoder.decode();
  if (pending.trim()) yield pending.trim();
}

/** Yields each JSON document of a newline-delimited stream; throws on a line that is not JSON. */
export async function* jsonLines<T>(source: AsyncIterable<Buffer | string>): AsyncGenerator<T> {
  for await (const line of textLines(source)) yield parseJsonLine<T>(line);
}

export function parseJsonLine<T>(line: string): T {
  try {
    return JSON.parse(line) as T;
  } catch (error) {
    throw new TypeError(`Podman sent a line that is not JSON: ${line.slice(0, 200)}`, { cause: error });
  }
}
