import 'nestjs-sessionkit';

export interface CartItem {
  sku: string;
  qty: number;
}

// Declared once: session.get()/set() are now type-checked against these keys.
declare module 'nestjs-sessionkit' {
  interface SessionData {
    userId: number;
    cart: CartItem[];
    visits: number;
  }
}
