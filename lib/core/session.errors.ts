import { ServiceUnavailableException } from '@nestjs/common';

/**
 * The session store failed or did not answer in time. Nest answers `503 Service Unavailable`;
 * the request's changes were not saved and the handler did not run with an empty session.
 */
export class SessionStoreUnavailableException extends ServiceUnavailableException {
  constructor(operation: 'read' | 'write', options?: { cause?: unknown }) {
    super(
      `The session store could not ${operation === 'read' ? 'load' : 'save'} the session. Please try again shortly.`,
      { cause: options?.cause, description: 'Session store unavailable' },
    );
  }
}
