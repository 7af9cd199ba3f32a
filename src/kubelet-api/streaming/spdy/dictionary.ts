/**
 * The zlib dictionary that primes SPDY/3 header compression.
 *
 * The bytes are those of section 2.6.10.1 of the SPDY/3 draft
 * (`draft-mbelshe-httpbis-spdy-00`, "SPDY Protocol — Draft 3"), the same bytes Go's
 * `moby/spdystream` (`spdy/dictionary.go`) primes its compressor with. Both ends of a
 * connection must use exactly these 1,423 bytes or the first header block fails to inflate:
 * the zlib stream names the dictionary by its Adler-32 (0xe3c6a7c2), which
 * `dictionary.test.ts` checks together with the length and a SHA-256.
 *
 * The draft writes the dictionary as a byte table; it is rebuilt here from its two parts so it
 * can be read: HTTP words each prefixed by a 32-bit big-endian length (the shape of a header
 * name in a name/value block), then a run of common values with no separators.
 */

/** Header names and values of the first part, each written as `u32 length, bytes`. */
const lengthPrefixedWords = [
  'options',
  'head',
  'post',
  'put',
  'delete',
  'trace',
  'accept',
  'accept-charset',
  'accept-encoding',
  'accept-language',
  'accept-ranges',
  'age',
  'allow',
  'authorization',
  'cache-control',
  'connection',
  'content-base',
  'content-encoding',
  'content-language',
  'content-length',
  'content-location',
  'content-md5',
  'content-range',
  'content-type',
  'date',
  'etag',
  'expect',
  'expires',
  'from',
  'host',
  'if-match',
  'if-modified-since',
  'if-none-match',
  'if-range',
  'if-unmodified-since',
  'last-modified',
  'location',
  'max-forwards',
  'pragma',
  'proxy-authenticate',
  'proxy-authorization',
  'range',
  'referer',
  'retry-after',
  'server',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'user-agent',
  'vary',
  'via',
  'warning',
  'www-authenticate',
  'method',
  'get',
  'status',
  '200 OK',
  'version',
  'HTTP/1.1',
  'url',
  'public',
  'set-cookie',
  'keep-alive',
  'origin',
];

/** The second part: status codes, reason phrases, dates and content types, back to back. */
const trailingText =
  '100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505' +
  '203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request' +
  '401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented' +
  '503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 ' +
  'Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,' +
  'application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=' +
  'gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.';

function buildDictionary(): Buffer {
  const parts: Buffer[] = [];
  for (const word of lengthPrefixedWords) {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(word.length);
    parts.push(length, Buffer.from(word, 'latin1'));
  }
  parts.push(Buffer.from(trailingText, 'latin1'));
  return Buffer.concat(parts);
}

/**
 * The SPDY/3 header-compression dictionary (1,423 bytes, Adler-32 0xe3c6a7c2), for
 * `zlib.createDeflate({ dictionary })` and `zlib.createInflate({ dictionary })`.
 * Treat it as read-only: it is shared by every connection.
 */
export const SPDY3_DICTIONARY: Buffer = buildDictionary();
