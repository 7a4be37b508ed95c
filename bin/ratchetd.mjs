#!/usr/bin/env node
// The `ratchetd` executable: runs the TypeScript entry point through tsx (no build step).
import { register } from 'tsx/esm/api';

register();
await import('../daemon/cli/main.ts');
