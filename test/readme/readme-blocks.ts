/** A ```ts block of the README. */
export interface ReadmeBlock {
  /**
   * The file the block is type-checked as: the name in its first line (`// app.module.ts`), or one
   * made from its line; a CommonJS block's is under `commonjs/`.
   */
  file: string;
  /** The file name its first line gives (`main.ts` for `// main.ts (Fastify)`), if any. */
  name: string | undefined;
  /** A CommonJS file: its first line says so (`// main.ts (CommonJS)`). */
  commonjs: boolean;
  /** The README line of the block's first code line (1-based). */
  line: number;
  code: string;
}

/** An HTML comment on the line before a block (blank lines between allowed) that leaves it out of the check. */
export const SKIP_MARKER = '<!-- readme-check: skip -->';

const NAMED = /^\/\/ ([\w.-]+\.ts)\b(.*)/;

/**
 * The README's TypeScript blocks (```ts and ```typescript), minus the ones marked with
 * {@link SKIP_MARKER}. A block whose first line names a file (`// auth.controller.ts`) is written
 * under that name, so other blocks can import it (`./auth.controller.js`); a name already taken
 * by an earlier block, and an unnamed block, get a name made from the block's line. A block whose
 * first line says `(CommonJS` goes to `commonjs/` under its own name: it is checked as CommonJS,
 * beside the other blocks, which it may import (`./app.module`).
 */
export function readmeBlocks(markdown: string): ReadmeBlock[] {
  const lines = markdown.split('\n');
  const blocks: ReadmeBlock[] = [];
  const taken = new Set<string>();
  let previous = '';
  for (let i = 0; i < lines.length; i++) {
    const fence = /^(\s*)(`{3,})(\S*)/.exec(lines[i]!);
    if (!fence) {
      if (lines[i]!.trim() !== '') previous = lines[i]!.trim();
      continue;
    }
    const [, indent, ticks, lang] = fence;
    const start = i + 1;
    let end = start;
    while (end < lines.length && !lines[end]!.trimStart().startsWith(ticks!)) end++;
    i = end;
    const skipped = previous === SKIP_MARKER;
    previous = '';
    if ((lang !== 'ts' && lang !== 'typescript') || skipped) continue;
    const code = lines
      .slice(start, end)
      .map((l) => (l.startsWith(indent!) ? l.slice(indent!.length) : l))
      .join('\n');
    const [, name, note = ''] = NAMED.exec(code) ?? [];
    const commonjs = note.includes('(CommonJS');
    const key = commonjs ? `commonjs/${name}` : name;
    const file = name && !taken.has(key!) ? key! : `${commonjs ? 'commonjs/' : ''}block-${start + 1}${name ? `-${name}` : '.ts'}`;
    if (key) taken.add(key);
    blocks.push({ file, name, commonjs, line: start + 1, code: `${code}\n` });
  }
  return blocks;
}

/**
 * The blocks of one section: from the heading line `heading` (`'## Quick start'`, `'### On Fastify'`)
 * to the next heading of any level.
 */
export function sectionBlocks(markdown: string, heading: string): ReadmeBlock[] {
  const lines = markdown.split('\n');
  const start = lines.indexOf(heading);
  if (start < 0) throw new Error(`The README has no heading "${heading}".`);
  let end = start + 1;
  let fenced = false;
  for (; end < lines.length; end++) {
    if (/^\s*```/.test(lines[end]!)) fenced = !fenced;
    else if (!fenced && /^#{1,6} /.test(lines[end]!)) break;
  }
  return readmeBlocks(markdown).filter((b) => b.line > start + 1 && b.line <= end);
}
