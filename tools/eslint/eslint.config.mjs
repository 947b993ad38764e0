// The repository's ESLint config; the root eslint.config.mjs re-exports it so that its plugins
// resolve from this workspace, which pins the TypeScript version typescript-eslint supports.
import Module, { createRequire } from 'node:module';

// typescript-eslint needs the compiler API that TypeScript 7 (the repository's compiler) no longer
// ships; this workspace pins TypeScript 6 for it. npm hoists some of its helpers (ts-api-utils)
// next to TypeScript 7, so every `typescript` they require is pointed at this workspace's copy.
const typescript = createRequire(import.meta.url).resolve('typescript');
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  return resolve.call(this, request === 'typescript' ? typescript : request, ...rest);
};

const { default: js } = await import('@eslint/js');
const { default: tseslint } = await import('typescript-eslint');

export default tseslint.config(
  { ignores: ['dist/**', 'bench-dist/**', 'sample-dist/**', 'coverage/**', '**/node_modules/**', 'test/consumers/**/dist/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // Nest modules are classes with decorators and no members.
      '@typescript-eslint/no-extraneous-class': 'off',
      'no-console': ['error', { allow: ['warn', 'error'] }],
      eqeqeq: ['error', 'always', { null: 'ignore' }],
    },
  },
  {
    // Plain JavaScript here is Node scripts and CommonJS fixtures.
    files: ['**/*.{js,mjs,cjs}'],
    languageOptions: {
      globals: Object.fromEntries(['process', 'console', 'URL', 'require', 'module', 'setImmediate', 'setTimeout', 'clearTimeout', '__dirname', 'Buffer'].map((name) => [name, 'readonly'])),
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // Test, bench and sample code prints and uses the non-null assertion freely.
    files: ['test/**/*.ts', 'bench/**/*.ts', 'sample/**/*.ts', '**/*.spec.ts'],
    rules: { 'no-console': 'off' },
  },
);
