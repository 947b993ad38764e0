import { readFileSync } from 'node:fs';

// Guards the NestJS 11 run itself: if the module mapping in jest.v11.config.ts broke, the
// suites would silently run against NestJS 12 again. (This run is CommonJS, so `require` exists.)
describe('the NestJS 11 run', () => {
  it.each(['common', 'core', 'platform-express', 'platform-fastify', 'testing'])('resolves @nestjs/%s to version 11', (name) => {
    const main = require.resolve(`@nestjs/${name}`);
    const manifest = JSON.parse(readFileSync(main.replace(/(@nestjs\/[^/]+\/).*$/, '$1package.json'), 'utf8')) as { version: string };
    expect(manifest.version).toMatch(/^11\./);
  });
});
