/**
 * `nestjs-sessionkit/testing`: the store contract as a Jest suite, for authors of session stores.
 * A separate entry point, so an app that imports `nestjs-sessionkit` never loads Jest.
 */
export { describeSessionStoreContract, type OptionalStoreMethod, type SessionStoreCapabilities, type SessionStoreContractOptions } from './session-store.contract.js';
