import { Logger, Module } from '@nestjs/common';
import { SessionModule } from 'nestjs-sessionkit';
import { AuthController } from './auth.controller.js';
import { CartController } from './cart.controller.js';
import { HomeController } from './home.controller.js';
import { SessionStoreProvider } from './session-store.provider.js';
import { UsersService } from './users.service.js';

function sessionSecret(): string {
  const secret = process.env.SESSION_SECRET;
  if (secret) return secret;
  new Logger('Sample').warn('SESSION_SECRET is not set: using a development secret. Never do this in production.');
  return 'development-only-secret-change-me-0123456789';
}

/** Provides the store to SessionModule's factory. */
@Module({ providers: [SessionStoreProvider], exports: [SessionStoreProvider] })
class SessionStoreModule {}

@Module({
  imports: [
    SessionModule.forRootAsync({
      imports: [SessionStoreModule],
      inject: [SessionStoreProvider],
      useFactory: async (stores: SessionStoreProvider) => ({
        secret: sessionSecret(),
        store: await stores.create(),
        // Plain HTTP on localhost in development; Secure cookies everywhere else.
        cookie: { secure: process.env.NODE_ENV === 'production' },
      }),
    }),
  ],
  controllers: [HomeController, AuthController, CartController],
  providers: [UsersService],
})
export class AppModule {}
