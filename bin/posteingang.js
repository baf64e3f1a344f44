#!/usr/bin/env node
// Runs the TypeScript CLI in this process through tsx's loader (a dependency), so a clone needs
// no build step and signals (SIGTERM from systemd or docker) reach the gateway directly.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
