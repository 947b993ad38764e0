/**
 * The package ships an ES module build and a CommonJS build. An app that loads both (say, its own
 * code by `require` and an ES module dependency by `import`) gets every class twice, and Nest,
 * which injects by class, cannot hand one build's `SessionService` to the other's `SessionGuard`.
 * Tokens (`Symbol.for`) and metadata keys (strings) agree across builds; classes cannot. So the
 * second build to load says so, once, with the way out, instead of leaving a bare DI error.
 */

// CommonJS code runs with `module` and `exports` in scope; an ES module has neither.
const format = typeof module === 'object' && typeof exports === 'object' ? 'CommonJS' : 'ES module';

const LOADED = Symbol.for('nestjs-sessionkit:loaded-builds');
const registry = globalThis as { [LOADED]?: Set<string> };
const loaded = (registry[LOADED] ??= new Set<string>());
loaded.add(format);
if (loaded.size > 1) {
  process.emitWarning(
    'nestjs-sessionkit was loaded both as an ES module and as CommonJS, so its classes exist twice and Nest cannot inject one copy into the other. Load it one way only: `import` it everywhere (ES module app) or `require` it everywhere (CommonJS app).',
    { code: 'NESTJS_SESSIONKIT_DUAL_PACKAGE' },
  );
}

export {};
