/**
 * The few ASN.1 DER encoders that X.509 certificates and PKCS#10 requests need.
 *
 * Every function returns the complete tag-length-value encoding of one element, so
 * structures are built by nesting calls: `sequence(integer(2n), utf8String('x'))`.
 */

/** Encodes the length octets of a DER element (short form below 128, long form above). */
function encodeLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const octets: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) octets.unshift(rest & 0xff);
  return Buffer.from([0x80 | octets.length, ...octets]);
}

/** An element with the given tag byte and content octets. */
export function element(tag: number, content: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([tag]), encodeLength(content.length), content]);
}

export function sequence(...children: Uint8Array[]): Buffer {
  return element(0x30, Buffer.concat(children));
}

export function set(...children: Uint8Array[]): Buffer {
  return element(0x31, Buffer.concat(children));
}

/** A non-negative INTEGER, from a bigint or from unsigned big-endian bytes. */
export function integer(value: bigint | Uint8Array): Buffer {
  let bytes: Buffer;
  if (typeof value === 'bigint') {
    if (value < 0n) throw new RangeError('negative integers are not needed here');
    const hex = value.toString(16);
    bytes = Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex');
  } else {
    bytes = Buffer.from(value);
  }
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  bytes = bytes.subarray(start);
  // A leading bit of 1 would make the integer negative: prefix a zero octet.
  if ((bytes[0] ?? 0) & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return element(0x02, bytes.length ? bytes : Buffer.from([0]));
}

export function boolean(value: boolean): Buffer {
  return element(0x01, Buffer.from([value ? 0xff : 0x00]));
}

export function nullValue(): Buffer {
  return element(0x05, Buffer.alloc(0));
}

/** An OBJECT IDENTIFIER from its dotted form, e.g. `2.5.4.3`. */
export function objectIdentifier(dotted: string): Buffer {
  const arcs = dotted.split('.').map((arc) => BigInt(arc));
  const [first = 0n, second = 0n, ...rest] = arcs;
  const octets: number[] = [];
  for (const arc of [first * 40n + second, ...rest]) {
    const group: number[] = [Number(arc & 0x7fn)];
    for (let value = arc >> 7n; value > 0n; value >>= 7n) group.unshift(Number((value & 0x7fn) | 0x80n));
    octets.push(...group);
  }
  return element(0x06, Buffer.from(octets));
}

export function utf8String(value: string): Buffer {
  return element(0x0c, Buffer.from(value, 'utf8'));
}

export function ia5String(value: string): Buffer {
  return element(0x16, Buffer.from(value, 'ascii'));
}

export function octetString(value: Uint8Array): Buffer {
  return element(0x04, value);
}

/** A BIT STRING whose content is whole octets (no unused bits). */
export function bitString(value: Uint8Array): Buffer {
  return element(0x03, Buffer.concat([Buffer.from([0]), value]));
}

/**
 * A BIT STRING of named flags (as in KeyUsage), where flag n is bit n counted from the most
 * significant bit of the first octet. DER requires trailing zero bits to be dropped.
 */
export function namedBitString(bits: readonly number[]): Buffer {
  if (bits.length === 0) return element(0x03, Buffer.from([0]));
  const highest = Math.max(...bits);
  const octets = Buffer.alloc(Math.floor(highest / 8) + 1);
  for (const bit of bits) octets[bit >> 3] = (octets[bit >> 3] ?? 0) | (0x80 >> (bit & 7));
  const unusedBits = 7 - (highest & 7);
  return element(0x03, Buffer.concat([Buffer.from([unusedBits]), octets]));
}

/** UTCTime before 2050 and GeneralizedTime from 2050 on, as RFC 5280 requires. */
export function time(date: Date): Buffer {
  const iso = date.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = iso.slice(0, 19).replace(/[-:T]/g, '');
  if (date.getUTCFullYear() < 2050) return element(0x17, Buffer.from(`${digits.slice(2)}Z`, 'ascii'));
  return element(0x18, Buffer.from(`${digits}Z`, 'ascii'));
}

/** A context-specific tag: `[n]` constructed (explicit) or primitive (implicit). */
export function contextTag(tagNumber: number, content: Uint8Array, constructed: boolean): Buffer {
  return element((constructed ? 0xa0 : 0x80) | tagNumber, content);
}
