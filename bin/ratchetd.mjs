#!/usr/bin/env node
// The `ratchetd` executable: a bundle of the TypeScript sources, rebuilt when they change, or the
// sources through tsx (bin/entry.mjs says which and why).
import { entryUrl } from './entry.mjs';

await import(await entryUrl());
