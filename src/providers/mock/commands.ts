/**
 * The mock's tiny command set, so the exec and attach protocols can be tested exactly:
 *
 * | command            | does                                                          |
 * |--------------------|---------------------------------------------------------------|
 * | `echo ARGS…`       | prints ARGS on stdout                                         |
 * | `stderr ARGS…`     | prints ARGS on stderr                                         |
 * | `cat [FILE]`       | copies stdin (or FILE) to stdout until EOF                    |
 * | `exit N`           | exits with N                                                  |
 * | `sleep N`          | waits N seconds                                               |
 * | `winsize`          | prints `COLSxROWS` for each terminal resize, until stdin ends |
 * | `test -d/-f PATH`  | exit 0 when PATH is a directory / file                        |
 * | `tar -xmf - [-C D]`| unpacks stdin into the pod's file store (`kubectl cp` to a pod) |
 * | `tar cf - PATH`    | packs PATH to stdout (`kubectl cp` from a pod)                |
 * | `sh -c 'CMD'`      | runs one of the above                                         |
 * | `sh`               | a line-by-line shell of the above (with a TTY it echoes)      |
 *
 * Anything else prints `<cmd>: command not found` and exits 127.
 */
import { posix } from 'node:path';
import type { AttachIO, TerminalSize } from '../../provider/index.ts';
import { readTar, writeTar } from './tar.ts';

/** Files the mock keeps per pod: path → content. Directories exist implicitly. */
export type MockFiles = Map<string, { data: Buffer; mode: number; mtime: Date }>;

const BUILTIN_DIRECTORIES = new Set(['/', '/tmp', '/var', '/etc', '/root', '/home']);

function isDirectory(files: MockFiles, path: string): boolean {
  const clean = posix.resolve('/', path);
  if (BUILTIN_DIRECTORIES.has(clean)) return true;
  const prefix = `${clean}/`;
  for (const file of files.keys()) if (file.startsWith(prefix)) return true;
  return false;
}

/** Splits a command line like a POSIX shell would for simple words and quotes. */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  let current = '';
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      current += line.slice(i + 1, end < 0 ? line.length : end);
      i = end < 0 ? line.length : end;
      inWord = true;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < line.length && line[j] !== '"'; j++)
        current += line[j] === '\\' && j + 1 < line.length ? line[++j] : line[j];
      i = j;
      inWord = true;
    } else if (c === '\\' && i + 1 < line.length) {
      current += line[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(current);
      current = '';
      inWord = false;
    } else {
      current += c;
      inWord = true;
    }
  }
  if (inWord) words.push(current);
  return words;
}

function write(stream: NodeJS.WritableStream | undefined, text: string | Buffer): Promise<void> {
  if (!stream) return Promise.resolve();
  return new Promise((resolve) => {
    if (stream.write(text)) resolve();
    else stream.once('drain', resolve);
  });
}

async function readAll(stdin: AttachIO['stdin']): Promise<Buffer> {
  if (!stdin) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks);
}

function waitFor(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

export interface CommandContext {
  io: AttachIO;
  files: MockFiles;
  signal: AbortSignal;
  /** Called for every terminal size the client reports (the mock records them). */
  onResize?: (size: TerminalSize) => void;
}

/** Runs one mock command; resolves with its exit code. */
export async function runCommand(argv: string[], context: CommandContext): Promise<number> {
  const { io, files, signal } = context;
  const [command = '', ...args] = argv;
  switch (command) {
    case 'echo':
      await write(io.stdout, `${args.join(' ')}\n`);
      return 0;
    case 'stderr':
      await write(io.stderr ?? io.stdout, `${args.join(' ')}\n`);
      return 0;
    case 'exit': {
      const code = Number(args[0] ?? 0);
      return Number.isInteger(code) ? ((code % 256) + 256) % 256 : 2;
    }
    case 'true':
      return 0;
    case 'false':
      return 1;
    case 'sleep':
      await waitFor(Number(args[0] ?? 0) * 1000, signal);
      return 0;
    case 'cat': {
      if (args.length > 0) {
        for (const name of args) {
          const file = files.get(posix.resolve('/', name));
          if (!file) {
            await write(io.stderr ?? io.stdout, `cat: ${name}: No such file or directory\n`);
            return 1;
          }
          await write(io.stdout, file.data);
        }
        return 0;
      }
      if (!io.stdin) return 0;
      for await (const chunk of io.stdin) {
        if (signal.aborted) break;
        await write(io.stdout, chunk as Buffer);
      }
      return 0;
    }
    case 'winsize': {
      const sizes: TerminalSize[] = [];
      let wake: (() => void) | undefined;
      io.onResize((size) => {
        sizes.push(size);
        wake?.();
      });
      let ended = !io.stdin;
      io.stdin?.on('end', () => {
        ended = true;
        wake?.();
      });
      io.stdin?.resume();
      while (!ended && !signal.aborted) {
        for (const size of sizes.splice(0)) await write(io.stdout, `${size.width}x${size.height}\r\n`);
        if (ended) break;
        await new Promise<void>((resolve) => {
          wake = resolve;
          signal.addEventListener('abort', () => resolve(), { once: true });
        });
        wake = undefined;
      }
      for (const size of sizes.splice(0)) await write(io.stdout, `${size.width}x${size.height}\r\n`);
      return 0;
    }
    case 'test': {
      const [flag, path = ''] = args;
      if (flag === '-d') return isDirectory(files, path) ? 0 : 1;
      if (flag === '-f' || flag === '-e')
        return files.has(posix.resolve('/', path)) || (flag === '-e' && isDirectory(files, path)) ? 0 : 1;
      return 2;
    }
    case 'tar':
      return runTar(args, context);
    case 'sh':
      if (args[0] === '-c') return runCommand(splitWords(args[1] ?? ''), context);
      return runShell(context);
    default:
      await write(io.stderr ?? io.stdout, `${command}: command not found\n`);
      return 127;
  }
}

async function runTar(args: string[], context: CommandContext): Promise<number> {
  const { io, files } = context;
  const flags = args.filter((a) => a.startsWith('-') || /^[cxtvfmz]+$/.test(a)).join('');
  let directory = '/';
  const operands: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === '-C') directory = args[++i] ?? '/';
    else if (arg === '-' || arg.startsWith('-') || /^[cxtvfmz]+$/.test(arg)) continue;
    else operands.push(arg);
  }
  try {
    if (flags.includes('x')) {
      for (const entry of readTar(await readAll(io.stdin))) {
        if (entry.type !== '0' && entry.type !== '\0') continue;
        files.set(posix.resolve(directory, entry.name), { data: entry.data, mode: entry.mode, mtime: entry.mtime });
      }
      return 0;
    }
    if (flags.includes('c')) {
      const entries = [];
      for (const operand of operands) {
        const path = posix.resolve(directory, operand);
        const matches = [...files.entries()].filter(([name]) => name === path || name.startsWith(`${path}/`));
        if (matches.length === 0) {
          await write(io.stderr ?? io.stdout, `tar: ${operand}: Cannot stat: No such file or directory\n`);
          return 2;
        }
        for (const [name, file] of matches) {
          entries.push({
            name: name.replace(/^\/+/, ''),
            data: file.data,
            mode: file.mode,
            mtime: file.mtime,
            type: '0',
          });
        }
      }
      await write(io.stdout, writeTar(entries));
      return 0;
    }
  } catch (error) {
    await write(io.stderr ?? io.stdout, `tar: ${(error as Error).message}\n`);
    return 2;
  }
  await write(io.stderr ?? io.stdout, 'tar: unsupported mode\n');
  return 2;
}

/** `sh` without -c: reads lines and runs them; with a TTY it echoes what is typed, as a terminal does. */
async function runShell(context: CommandContext): Promise<number> {
  const { io } = context;
  if (!io.stdin) return 0;
  const prompt = '$ ';
  await write(io.stdout, prompt);
  let line = '';
  for await (const chunk of io.stdin) {
    for (const ch of (chunk as Buffer).toString('utf8')) {
      if (ch === '\r' || ch === '\n') {
        if (io.tty) await write(io.stdout, '\r\n');
        const words = splitWords(line);
        line = '';
        if (words[0] === 'exit') return Number(words[1] ?? 0) || 0;
        if (words.length > 0) {
          const shellIo: AttachIO = { ...io, stdin: undefined };
          await runCommand(words, { ...context, io: shellIo });
        }
        await write(io.stdout, prompt);
      } else if (ch === '\u0004' && line === '') {
        return 0;
      } else if (ch === '\u007f') {
        if (line.length > 0) {
          line = line.slice(0, -1);
          if (io.tty) await write(io.stdout, '\b \b');
        }
      } else {
        line += ch;
        if (io.tty) await write(io.stdout, ch);
      }
    }
  }
  return 0;
}
