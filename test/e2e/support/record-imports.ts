/**
 * Preloaded with `node --import` (NODE_OPTIONS): appends every module URL this process resolves
 * under `@opentelemetry/` to the file `$VK_RECORD_IMPORTS`, so a test can tell whether the
 * OpenTelemetry SDK was loaded at all.
 */
import { appendFileSync } from 'node:fs';
import { registerHooks } from 'node:module';

const out = process.env.VK_RECORD_IMPORTS;
if (out) {
  registerHooks({
    resolve(specifier, context, nextResolve) {
      const resolved = nextResolve(specifier, context);
      if (resolved.url.includes('/@opentelemetry/')) appendFileSync(out, `${resolved.url}\n`);
      return resolved;
    },
  });
}
