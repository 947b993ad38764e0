import { BadRequestException, Body, Controller, Delete, Get, Post } from '@nestjs/common';
import { Session } from 'nestjs-sessionkit';
import type { CartItem } from './session-data.js';

/** A cart kept in the session: works before login, and survives it (regenerate keeps data). */
@Controller('cart')
export class CartController {
  @Get()
  get(@Session('cart') cart: CartItem[] | undefined) {
    return { items: cart ?? [] };
  }

  @Post()
  add(@Session() session: Session, @Body() body: { sku?: unknown; qty?: unknown }) {
    const { sku, qty = 1 } = body ?? {};
    if (typeof sku !== 'string' || typeof qty !== 'number' || !Number.isInteger(qty) || qty < 1) {
      throw new BadRequestException('Send { "sku": "book-1", "qty": 1 }.');
    }
    const cart = session.get('cart') ?? [];
    const line = cart.find((item) => item.sku === sku);
    if (line) line.qty += qty; // changed in place: the session still saves it
    else cart.push({ sku, qty });
    session.set('cart', cart);
    return { items: cart };
  }

  @Delete()
  clear(@Session() session: Session) {
    session.delete('cart');
    return { items: [] };
  }
}
