import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { AppModule } from './app.module.js';

const app = await NestFactory.create<NestFastifyApplication>(AppModule, new FastifyAdapter(), { logger: false });
// `--check`: the compiled app starts and stops, which is all the packaging run needs.
if (process.argv.includes('--check')) {
  await app.init();
  await app.close();
} else {
  await app.listen(process.env.PORT ?? 3000);
}
