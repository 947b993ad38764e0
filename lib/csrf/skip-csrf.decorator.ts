import { SetMetadata } from '@nestjs/common';

/** Metadata key set by {@link SkipCsrf} (internal). */
export const SKIP_CSRF = Symbol('nestjs-sessionkit.skip-csrf');

/**
 * Exempts a route, or every route of a controller, from {@link CsrfGuard}: for callers that
 * cannot hold a session token, such as webhooks authenticated by their own signature.
 */
export const SkipCsrf = (): MethodDecorator & ClassDecorator => SetMetadata(SKIP_CSRF, true);
