/**
 * `npm run image`: builds the package, then the OCI image `localhost/virtual-kubelet:<version>`
 * into the machine's Podman store, and prints its reference and size.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { errorMessage } from '../../src/errors.ts';
import { HarnessError } from '../kube/binaries.ts';
import { buildImage } from './image.ts';
import { REPO_ROOT } from './rootfs.ts';

try {
  process.stderr.write('image: building the package (tsc -p tsconfig.build.json)\n');
  execFileSync(
    process.execPath,
    [join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'],
    {
      cwd: REPO_ROOT,
      stdio: 'inherit',
    },
  );
  const image = await buildImage();
  process.stderr.write(
    `image: built ${image.reference} (${image.id.slice(0, 12)}), ${(image.sizeBytes / 1e6).toFixed(1)} MB\n`,
  );
  process.stdout.write(`${image.reference}\n`);
} catch (error) {
  process.stderr.write(`image: ${error instanceof HarnessError ? error.message : errorMessage(error)}\n`);
  process.exitCode = 1;
}
