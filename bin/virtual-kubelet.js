#!/usr/bin/env node
// The published executable: runs the compiled CLI from dist/.
import '../dist/cli/bin.js';
