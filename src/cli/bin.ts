/** Entry point of the `virtual-kubelet` executable. */
import { main } from './main.ts';

const code = await main(process.argv.slice(2));
process.exitCode = code;
// Everything has been closed; if a stray handle still holds the loop open, do not hang on it.
setTimeout(() => process.exit(code), 2000).unref();
