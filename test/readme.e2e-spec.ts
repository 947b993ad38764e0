import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { transformSync } from 'esbuild';
import { type ReadmeBlock, SKIP_MARKER, readmeBlocks } from './readme/readme-blocks.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const readme = readFileSync(`${root}README.md`, 'utf8');

describe('README code', () => {
  it('finds the blocks, names them by their first line, and leaves out marked ones', () => {
    const blocks = readmeBlocks(
      ['```ts', '// a.ts', 'export const a = 1;', '```', SKIP_MARKER, '', '```ts', 'partial(', '```', '```sh', 'npm test', '```', '```ts', 'b();', '```'].join('\n'),
    );
    expect(blocks.map(({ file, line }) => ({ file, line }))).toEqual([
      { file: 'a.ts', line: 2 },
      { file: 'block-14.ts', line: 14 },
    ]);
    expect(readmeBlocks(readme).length).toBeGreaterThan(10);
  });

  it('checks a block whose first line says CommonJS apart, under its own name', () => {
    const blocks = readmeBlocks(['```ts', '// main.ts', 'a;', '```', '```ts', '// main.ts (CommonJS: NestJS 11)', 'b;', '```', '```ts', '// main.ts (Fastify)', 'c;', '```'].join('\n'));
    expect(blocks.map(({ file, name, commonjs }) => ({ file, name, commonjs }))).toEqual([
      { file: 'main.ts', name: 'main.ts', commonjs: false },
      { file: 'commonjs/main.ts', name: 'main.ts', commonjs: true },
      { file: 'block-10-main.ts', name: 'main.ts', commonjs: false },
    ]);
  });

  // Every TypeScript block of the README compiles as written, in one program as one app would
  // (with 'nestjs-sessionkit' mapped to lib/), under the project's strict settings; the CommonJS
  // blocks in a second program, as a CommonJS app (NestJS 11's `nest new`) compiles them.
  it('type-checks every TypeScript block', () => {
    const blocks = readmeBlocks(readme);
    const dir = `${root}node_modules/.cache/readme-check/`;
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(`${dir}commonjs`, { recursive: true });
    const commonjs = blocks.filter((b) => b.commonjs);
    const esm = blocks.filter((b) => !b.commonjs);
    for (const block of blocks) writeFileSync(dir + block.file, block.code);
    // The ES module blocks beside the CommonJS ones, for them to import.
    for (const block of esm) if (!commonjs.some((c) => c.file === `commonjs/${block.file}`)) writeFileSync(`${dir}commonjs/${block.file}`, block.code);
    writeFileSync(`${dir}package.json`, JSON.stringify({ type: 'module' }));
    writeFileSync(`${dir}commonjs/package.json`, JSON.stringify({ type: 'commonjs' }));
    const compilerOptions = {
      noEmit: true,
      types: ['node', 'jest'],
      paths: { 'nestjs-sessionkit': [`${root}lib/index.ts`], 'nestjs-sessionkit/*': [`${root}lib/*.ts`, `${root}lib/*/index.ts`] },
    };
    writeFileSync(`${dir}tsconfig.json`, JSON.stringify({ extends: `${root}tsconfig.json`, compilerOptions, include: ['*.ts'] }));
    writeFileSync(
      `${dir}commonjs/tsconfig.json`,
      JSON.stringify({ extends: `${root}tsconfig.json`, compilerOptions, files: commonjs.map((b) => b.file.slice('commonjs/'.length)), include: [] }),
    );
    expect(commonjs.length).toBeGreaterThan(0);

    const check = (tsconfig: string, program: ReadmeBlock[]): string => {
      const tsc = spawnSync(process.execPath, [`${root}node_modules/typescript/bin/tsc`, '-p', tsconfig, '--pretty', 'false'], { encoding: 'utf8' });
      // Errors point at README lines: "README.md:123 (auth.controller.ts:4,5): error TS...".
      const errors = `${tsc.stdout}${tsc.stderr}`.replace(/^(?:.*\/)?([\w.-]+\.ts)\((\d+),(\d+)\)/gm, (match, file: string, line: string, col: string) => {
        const block = program.find((b) => b.file.replace(/^commonjs\//, '') === file);
        return block ? `README.md:${block.line + Number(line) - 1} (${block.file}:${line},${col})` : match;
      });
      return errors || (tsc.status === 0 ? '' : `tsc exited with ${tsc.status}`);
    };
    expect(check(`${dir}tsconfig.json`, esm)).toBe('');
    const shadowed = new Set(commonjs.map((b) => b.file.slice('commonjs/'.length)));
    expect(check(`${dir}commonjs/tsconfig.json`, [...commonjs, ...esm.filter((b) => !shadowed.has(b.file))])).toBe('');
  }, 180_000);

  // The quick start's login is what people copy: its returnTo check must hold against a planted value.
  it('the login example lets only a path on this site through as returnTo, and leaves the other keys behind', () => {
    const login = readmeBlocks(readme).find((block) => block.file === 'auth.controller.ts')!.code;
    const source = /^function localPath\(.*?^}$/ms.exec(login)![0];
    const localPath = new Function(`${transformSync(source, { loader: 'ts' }).code}; return localPath;`)() as (value: unknown) => string;
    for (const path of ['/', '/orders?page=2', '/a/b#c', '/search?q=%2F%2Fx']) expect(localPath(path)).toBe(path);
    for (const planted of ['https://evil.example/', '//evil.example/', '/\\evil.example', '/\t/evil.example', 'evil', 'javascript:alert(1)', '', 42, null, undefined, ['/']]) {
      expect(localPath(planted)).toBe('/');
    }
    // Before regenerate(): everything but an allow-list is deleted, returnTo included.
    expect(login).toMatch(/KEPT_AT_LOGIN = new Set<string>\(\['cart'\]\)/);
    expect(login.indexOf('session.delete(')).toBeGreaterThan(-1);
    expect(login.indexOf('session.delete(')).toBeLessThan(login.indexOf('await session.regenerate()'));
  });
});
