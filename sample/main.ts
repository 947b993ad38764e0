import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { AppModule } from './app.module.js';

async function main(): Promise<void> {
  const platform = process.env.PLATFORM === 'fastify' ? 'fastify' : 'express';
  // Before the app: SessionModule looks for the SDK's meter provider when it starts.
  const telemetry = process.env.OTEL_CONSOLE === '1' ? await import('./telemetry.js') : undefined;
  const stopTelemetry = telemetry?.startConsoleTelemetry();
  const app = await NestFactory.create(AppModule, platform === 'fastify' ? new FastifyAdapter() : new ExpressAdapter());
  app.enableShutdownHooks();
  if (telemetry !== undefined) {
    app.use(telemetry.requestSpan);
    process.once('beforeExit', () => void stopTelemetry?.());
  }
  const port = Number(process.env.PORT ?? 3000);
  await app.listen(port, process.env.HOST ?? '127.0.0.1');
  new Logger('Sample').log(`Listening on http://localhost:${port} (${platform}, ${process.env.REDIS_URL ? 'Redis' : 'in-memory'} sessions). GET / says what to try.`);
}

void main();
