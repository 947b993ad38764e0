import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module';

async function bootstrap() {
  const app = await NestFactory.create(AppModule, { logger: false });
  // `--check`: the compiled app starts and stops, which is all the packaging run needs.
  if (process.argv.includes('--check')) {
    await app.init();
    await app.close();
    return;
  }
  await app.listen(process.env.PORT ?? 3000);
}
void bootstrap();
