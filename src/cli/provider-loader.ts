/**
 * Resolves `--provider`: built-in providers are registered by name; anything else is loaded from a
 * module path or an npm package that exports a {@link ProviderFactory} (default export, or a named
 * export `createProvider`).
 */
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError, errorMessage } from '../errors.ts';
import type { ProviderFactory } from '../provider/factory.ts';

/** Resolves `--provider`: a built-in name, a path (`./x.js`, `/abs/x.js`), or an npm package name. */
export async function loadProviderFactory(
  name: string,
  /** Built-in providers by name, each loaded only when chosen. */
  builtins: Readonly<Record<string, () => Promise<ProviderFactory>>>,
): Promise<ProviderFactory> {
  const builtin = Object.hasOwn(builtins, name) ? builtins[name] : undefined;
  if (builtin) return builtin();
  const looksLikePath = name.startsWith('.') || isAbsolute(name) || /\.[cm]?[jt]s$/.test(name);
  const specifier = looksLikePath ? pathToFileURL(resolve(name)).href : name;
  let module: Record<string, unknown>;
  try {
    module = (await import(specifier)) as Record<string, unknown>;
  } catch (error) {
    const known = Object.keys(builtins).join(', ');
    throw new ConfigError(
      `unknown provider "${name}": not a built-in (${known}) and it could not be loaded as a module: ${errorMessage(error)}`,
      { cause: error },
    );
  }
  const factory = module.createProvider ?? module.default;
  if (typeof factory !== 'function') {
    throw new ConfigError(`provider module "${name}" exports neither a default function nor createProvider`);
  }
  return factory as ProviderFactory;
}
