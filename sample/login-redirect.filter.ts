import { type ArgumentsHost, Catch, UnauthorizedException } from '@nestjs/common';
import { BaseExceptionFilter } from '@nestjs/core';
import { type PageRequest, type PageResponse, wantsHtml } from './html.js';

/**
 * Sends a browser that `SessionGuard` refuses to the login page; API clients keep Nest's
 * standard 401 JSON answer.
 */
@Catch(UnauthorizedException)
export class LoginRedirectFilter extends BaseExceptionFilter {
  override catch(exception: UnauthorizedException, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    if (!wantsHtml(http.getRequest<PageRequest>())) return super.catch(exception, host);
    const res = http.getResponse<PageResponse & { send(): unknown }>();
    res.status(303);
    res.header('Location', '/login?refused=1');
    res.send();
  }
}
