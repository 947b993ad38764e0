import type { NextFunction } from 'express';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { context, metrics, trace } from '@opentelemetry/api';
import { ConsoleMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { ConsoleSpanExporter, NodeTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-node';

/**
 * Starts an OpenTelemetry SDK that prints spans as they end and metrics every 30 seconds (what
 * `OTEL_CONSOLE=1` turns on). It must run before the Nest app is created: the session library
 * looks for a meter provider when `SessionModule` starts. A real app would use `@opentelemetry/sdk-node`
 * with an OTLP exporter and the HTTP instrumentation instead, and would not need {@link requestSpan}.
 */
export function startConsoleTelemetry(): () => Promise<void> {
  // register() also installs the AsyncLocalStorage context manager that carries the active span.
  const tracing = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(new ConsoleSpanExporter())] });
  tracing.register();
  const meters = new MeterProvider({ readers: [new PeriodicExportingMetricReader({ exporter: new ConsoleMetricExporter(), exportIntervalMillis: 30_000 })] });
  metrics.setGlobalMeterProvider(meters);
  return async () => {
    await tracing.shutdown();
    await meters.shutdown();
  };
}

/**
 * A span around each request, standing in for the HTTP instrumentation's server span, so that the
 * session spans of one request share a trace and a parent.
 */
export function requestSpan(req: IncomingMessage, res: ServerResponse, next: NextFunction): void {
  const span = trace.getTracer('sample').startSpan(`${req.method ?? 'GET'} ${(req.url ?? '/').split('?')[0]}`);
  res.on('close', () => span.end());
  context.with(trace.setSpan(context.active(), span), next);
}
