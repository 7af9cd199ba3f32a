#!/usr/bin/env -S node --max-semi-space-size=16
// The published executable: runs the compiled CLI from dist/.
//
// --max-semi-space-size: on a machine with a lot of memory V8 lets the young generation grow to
// 128 MiB, which a virtual kubelet (a steady stream of small watch events) fills with garbage
// that sits in its RSS; 16 MiB semi-spaces cost under a second of CPU for ten thousand pods and
// keep about 100 MiB off the resident size. (Node flags come from this line only when the file is
// run as an executable; `node bin/virtual-kubelet.js` must pass them itself.)
import '../dist/cli/bin.js';
