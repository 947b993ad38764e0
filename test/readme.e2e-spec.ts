import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { transformSync } from 'esbuild';
import { SKIP_MARKER, readmeBlocks } from './readme/readme-blocks.js';

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

  // Every TypeScript block of the README compiles as written, in one program as one app would
  // (with 'nestjs-sessionkit' mapped to lib/), under the project's strict settings.
  it('type-checks every TypeScript block', () => {
    const blocks = readmeBlocks(readme);
    const dir = `${root}node_modules/.cache/readme-check/`;
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    for (const block of blocks) writeFileSync(dir + block.file, block.code);
    writeFileSync(`${dir}package.json`, JSON.stringify({ type: 'module' }));
    writeFileSync(
      `${dir}tsconfig.json`,
      JSON.stringify({
        extends: `${root}tsconfig.json`,
        compilerOptions: { noEmit: true, types: ['node', 'jest'], paths: { 'nestjs-sessionkit': [`${root}lib/index.ts`], 'nestjs-sessionkit/*': [`${root}lib/*.ts`, `${root}lib/*/index.ts`] } },
        include: ['*.ts'],
      }),
    );
    const tsc = spawnSync(process.execPath, [`${root}node_modules/typescript/bin/tsc`, '-p', `${dir}tsconfig.json`, '--pretty', 'false'], { encoding: 'utf8' });
    // Errors point at README lines: "README.md:123 (auth.controller.ts:4,5): error TS...".
    const errors = `${tsc.stdout}${tsc.stderr}`.replace(/^(?:.*\/)?([\w.-]+\.ts)\((\d+),(\d+)\)/gm, (match, file: string, line: string, col: string) => {
      const block = blocks.find((b) => b.file === file);
      return block ? `README.md:${block.line + Number(line) - 1} (${file}:${line},${col})` : match;
    });
    expect(errors).toBe('');
    expect(tsc.status).toBe(0);
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
