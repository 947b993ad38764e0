import type { Session } from 'nestjs-sessionkit';

export interface CartItem {
  sku: string;
  qty: number;
}

/** What the sample keeps in a session. */
export interface SampleData {
  userId: number;
  cart: CartItem[];
  visits: number;
}

/**
 * The sample's session handle: `get()`/`set()` are checked against {@link SampleData}.
 * (An app can instead declare `SessionData` once with `declare module 'nestjs-sessionkit'`;
 * the sample types its handlers one by one so that the library's own tests, which import it,
 * keep their untyped sessions.)
 */
export type AppSession = Session<SampleData>;
