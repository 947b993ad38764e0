import { createRequire } from 'node:module';
import { jest } from '@jest/globals';

/**
 * Lets `@nestjs/mercurius` load under Jest on Node before 24.9. mercurius `require()`s
 * @fastify/static, which `require()`s content-disposition 3, an ES module, and Jest can only
 * `require()` an ES module from Node 24.9 on. So the module is imported here through Jest's ESM
 * loader and handed to that `require()` as a module mock (the same module, not a stand-in:
 * content-disposition 2, the last CommonJS one, lacks the `create` that @fastify/static calls).
 * Await it before `@nestjs/mercurius` is first imported: import such fixtures dynamically after.
 */
export async function loadMercuriusUnderJest(): Promise<void> {
  const require = createRequire(import.meta.url);
  const fastifyStatic = createRequire(require.resolve('mercurius')).resolve('@fastify/static');
  const path = createRequire(fastifyStatic).resolve('content-disposition');
  const contentDisposition: unknown = await import(path);
  // Called through an alias: the compiler hoists `jest.mock()` calls above everything else.
  const mocks = jest;
  mocks.mock(path, () => contentDisposition);
}
