/** A ```ts block of the README. */
export interface ReadmeBlock {
  /** The file the block is type-checked as: the name in its first line (`// app.module.ts`), or one made from its line. */
  file: string;
  /** The README line of the block's first code line (1-based). */
  line: number;
  code: string;
}

/** An HTML comment on the line before a block (blank lines between allowed) that leaves it out of the check. */
export const SKIP_MARKER = '<!-- readme-check: skip -->';

const NAMED = /^\/\/ ([\w.-]+\.ts)\b/;

/**
 * The README's TypeScript blocks (```ts and ```typescript), minus the ones marked with
 * {@link SKIP_MARKER}. A block whose first line names a file (`// auth.controller.ts`) is written
 * under that name, so other blocks can import it (`./auth.controller.js`); a name already taken
 * by an earlier block, and an unnamed block, get a name made from the block's line.
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
    const named = NAMED.exec(code)?.[1];
    const file = named && !taken.has(named) ? named : `block-${start + 1}${named ? `-${named}` : '.ts'}`;
    taken.add(file);
    blocks.push({ file, line: start + 1, code: `${code}\n` });
  }
  return blocks;
}
