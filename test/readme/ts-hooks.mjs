// Node module hooks that run TypeScript as the README's apps are written: `.ts` files compiled by
// swc (legacy decorators with the metadata Nest's DI reads), `./x.js` imports resolved to `./x.ts`,
// and 'nestjs-sessionkit' mapped to the library's sources. Registered by ts-register.mjs.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import swc from '@swc/core';

const library = new URL('../../lib/', import.meta.url);
const entries = { 'nestjs-sessionkit': 'index.ts', 'nestjs-sessionkit/testing': 'testing/index.ts', 'nestjs-sessionkit/terminus': 'terminus.ts' };

export async function resolve(specifier, context, next) {
  if (specifier in entries) return { url: new URL(entries[specifier], library).href, shortCircuit: true };
  if (/^\.{1,2}\//.test(specifier) && specifier.endsWith('.js') && context.parentURL?.endsWith('.ts')) {
    const ts = new URL(specifier.replace(/\.js$/, '.ts'), context.parentURL);
    if (existsSync(fileURLToPath(ts))) return { url: ts.href, shortCircuit: true };
  }
  return next(specifier, context);
}

export async function load(url, context, next) {
  if (!url.startsWith('file:') || !url.endsWith('.ts')) return next(url, context);
  const file = fileURLToPath(url);
  const { code } = await swc.transform(readFileSync(file, 'utf8'), {
    filename: file,
    sourceMaps: 'inline',
    jsc: {
      target: 'es2022',
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true, useDefineForClassFields: false },
    },
    module: { type: 'es6' },
  });
  return { format: 'module', source: code, shortCircuit: true };
}
