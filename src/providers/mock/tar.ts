/**
 * Just enough tar for `kubectl cp` against the mock: read the archive kubectl sends (`tar -xmf -`,
 * ustar or PAX headers as Go's archive/tar writes them) and write one back (`tar cf - PATH`).
 */

const BLOCK = 512;

export interface TarEntry {
  /** Path inside the archive, without a leading slash. */
  name: string;
  data: Buffer;
  mode: number;
  mtime: Date;
  /** '0' regular file, '5' directory, '2' symlink… */
  type: string;
}

function field(header: Buffer, offset: number, length: number): string {
  const raw = header.subarray(offset, offset + length);
  const end = raw.indexOf(0);
  return raw.subarray(0, end < 0 ? length : end).toString('utf8');
}

function octal(header: Buffer, offset: number, length: number): number {
  // GNU base-256 encoding for large numbers: top bit of the first byte set.
  if (((header[offset] ?? 0) & 0x80) !== 0) {
    let value = 0;
    for (let i = offset + 1; i < offset + length; i++) value = value * 256 + (header[i] ?? 0);
    return value;
  }
  const text = field(header, offset, length).trim();
  return text ? Number.parseInt(text, 8) : 0;
}

/** PAX extended header records: `<len> key=value\n`. */
function parsePax(data: Buffer): Map<string, string> {
  const records = new Map<string, string>();
  let offset = 0;
  while (offset < data.length) {
    const space = data.indexOf(0x20, offset);
    if (space < 0) break;
    const length = Number(data.subarray(offset, space).toString('ascii'));
    if (!Number.isFinite(length) || length <= 0) break;
    const record = data.subarray(space + 1, offset + length - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq > 0) records.set(record.slice(0, eq), record.slice(eq + 1));
    offset += length;
  }
  return records;
}

/** Reads every entry of an uncompressed tar archive. Throws on a truncated or corrupt archive. */
export function readTar(archive: Buffer): TarEntry[] {
  const entries: TarEntry[] = [];
  let offset = 0;
  let pax = new Map<string, string>();
  let longName: string | undefined;
  while (offset + BLOCK <= archive.length) {
    const header = archive.subarray(offset, offset + BLOCK);
    if (header.every((b) => b === 0)) break;
    let checksum = 0;
    for (let i = 0; i < BLOCK; i++) checksum += i >= 148 && i < 156 ? 0x20 : (header[i] as number);
    if (checksum !== octal(header, 148, 8)) throw new Error('tar: header checksum mismatch');
    const type = field(header, 156, 1) || '0';
    const size = pax.has('size') ? Number(pax.get('size')) : octal(header, 124, 12);
    const dataStart = offset + BLOCK;
    if (dataStart + size > archive.length) throw new Error('tar: unexpected end of archive');
    const data = archive.subarray(dataStart, dataStart + size);
    offset = dataStart + Math.ceil(size / BLOCK) * BLOCK;
    if (type === 'x') {
      pax = parsePax(data);
      continue;
    }
    if (type === 'g') continue;
    if (type === 'L') {
      longName = data.toString('utf8').replace(/\0+$/, '');
      continue;
    }
    const prefix = field(header, 345, 155);
    const baseName = field(header, 0, 100);
    const name = pax.get('path') ?? longName ?? (prefix ? `${prefix}/${baseName}` : baseName);
    entries.push({
      name: name.replace(/^\/+/, ''),
      data: Buffer.from(data),
      mode: octal(header, 100, 8),
      mtime: new Date(octal(header, 136, 12) * 1000),
      type,
    });
    pax = new Map();
    longName = undefined;
  }
  return entries;
}

function writeField(header: Buffer, offset: number, length: number, value: string): void {
  header.write(value.slice(0, length), offset, length, 'utf8');
}

function writeOctal(header: Buffer, offset: number, length: number, value: number): void {
  writeField(header, offset, length, `${value.toString(8).padStart(length - 1, '0')}\0`);
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let length = body.length + 1;
  while (`${length}${body}`.length !== length) length = `${length}${body}`.length;
  return `${length}${body}`;
}

function header(name: string, size: number, mode: number, mtime: Date, type: string): Buffer {
  const block = Buffer.alloc(BLOCK);
  writeField(block, 0, 100, name);
  writeOctal(block, 100, 8, mode);
  writeOctal(block, 108, 8, 0);
  writeOctal(block, 116, 8, 0);
  writeOctal(block, 124, 12, size);
  writeOctal(block, 136, 12, Math.floor(mtime.getTime() / 1000));
  block.fill(0x20, 148, 156);
  writeField(block, 156, 1, type);
  writeField(block, 257, 6, 'ustar\0');
  writeField(block, 263, 2, '00');
  let checksum = 0;
  for (const byte of block) checksum += byte;
  writeField(block, 148, 8, `${checksum.toString(8).padStart(6, '0')}\0 `);
  return block;
}

function padding(size: number): Buffer {
  return Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);
}

/** Writes an uncompressed ustar archive (with a PAX header for names over 100 bytes). */
export function writeTar(entries: readonly TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    let name = entry.name;
    if (Buffer.byteLength(name) >= 100) {
      const pax = Buffer.from(paxRecord('path', name));
      parts.push(header('PaxHeader', pax.length, 0o644, entry.mtime, 'x'), pax, padding(pax.length));
      name = name.slice(-99);
    }
    parts.push(
      header(name, entry.data.length, entry.mode, entry.mtime, entry.type),
      entry.data,
      padding(entry.data.length),
    );
  }
  parts.push(Buffer.alloc(BLOCK * 2));
  return Buffer.concat(parts);
}
