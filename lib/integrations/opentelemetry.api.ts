import type * as OtelApi from '@opentelemetry/api';

/** The `@opentelemetry/api` module (internal). */
export type OpenTelemetryApi = typeof OtelApi;

/** The name of the tracer and the meter. */
export const INSTRUMENTATION_NAME = 'nestjs-sessionkit';
/** The package's version, for the tracer and the meter (a unit spec keeps it equal to package.json's). */
export const INSTRUMENTATION_VERSION = '0.1.0';

let loading: Promise<OpenTelemetryApi | undefined> | undefined;

/**
 * `@opentelemetry/api` if the app has it installed, else `undefined` (internal). It is an optional
 * peer dependency, so no module of the package imports it statically: this dynamic import is the
 * only load, done once, when `SessionModule` starts (the CommonJS build turns it into a `require`).
 */
export function loadOpenTelemetry(): Promise<OpenTelemetryApi | undefined> {
  loading ??= import('@opentelemetry/api').then(
    (module) => (typeof module.createContextKey === 'function' ? module : undefined),
    () => undefined,
  );
  return loading;
}
