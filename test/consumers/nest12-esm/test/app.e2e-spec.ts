import { Test } from '@nestjs/testing';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import request from 'supertest';
import { AppModule } from '../src/app.module.js';

describe('sessions in a NestJS 12 ES module app on Fastify (e2e)', () => {
  let app: NestFastifyApplication;

  beforeEach(async () => {
    const moduleFixture = await Test.createTestingModule({ imports: [AppModule] }).compile();
    app = moduleFixture.createNestApplication<NestFastifyApplication>(new FastifyAdapter());
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
  });

  afterEach(async () => {
    await app.close();
  });

  it('logs in, reads the stored user on a guarded route, and logs out', async () => {
    const agent = request.agent(app.getHttpServer());
    await agent.get('/me').expect(401);
    await agent.post('/login').send({ userId: 42 }).expect(201);
    await agent.get('/me').expect(200).expect({ userId: 42 });
    await agent.post('/logout').expect(201);
    await agent.get('/me').expect(401);
  });
});
