// `node --import ./test/readme/ts-register.mjs app/main.ts` runs a README app from its TypeScript.
import { register } from 'node:module';

register('./ts-hooks.mjs', import.meta.url);
