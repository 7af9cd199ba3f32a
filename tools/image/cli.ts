/**
 * `npm run image`: builds the package (unless dist/ is current), then the OCI image
 * `localhost/virtual-kubelet:<version>` into the machine's Podman store, and prints its reference
 * and size.
 */
import { errorMessage } from '../../src/errors.ts';
import { HarnessError } from '../kube/binaries.ts';
import { buildPackage } from '../start/build.ts';
import { buildImage } from './image.ts';
import { REPO_ROOT } from './rootfs.ts';

const log = (line: string) => process.stderr.write(`image: ${line}\n`);
try {
  await buildPackage(REPO_ROOT, log);
  const image = await buildImage({ log });
  log(`built ${image.reference} (${image.id.slice(0, 12)}), ${(image.sizeBytes / 1e6).toFixed(1)} MB`);
  process.stdout.write(`${image.reference}\n`);
} catch (error) {
  log(error instanceof HarnessError ? error.message : errorMessage(error));
  process.exitCode = 1;
}
