import { Module } from '@nestjs/common';
import { SessionModule } from 'nestjs-sessionkit';
import { AuthController } from './auth.controller.js';

@Module({
  // Plain HTTP in tests, so the cookie cannot be Secure.
  imports: [SessionModule.forRoot({ secret: 'consumer-secret-that-is-long-enough-123', cookie: { secure: false } })],
  controllers: [AuthController],
})
export class AppModule {}
