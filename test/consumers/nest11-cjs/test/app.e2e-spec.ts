import { Test, TestingModule } from '@nestjs/testing';
import { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { App } from 'supertest/types';
import { AppModule } from './../src/app.module';

describe('sessions in a NestJS 11 CommonJS app (e2e)', () => {
  let app: INestApplication<App>;

  beforeEach(async () => {
    const moduleFixture: TestingModule = await Test.createTestingModule({
      imports: [AppModule],
    }).compile();

    app = moduleFixture.createNestApplication();
    await app.init();
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
