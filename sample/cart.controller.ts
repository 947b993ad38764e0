import { BadRequestException, Body, Controller, Delete, Get, HttpCode, Post, Req, Res } from '@nestjs/common';
import { Session } from 'nestjs-sessionkit';
import { type PageRequest, type PageResponse, html, isForm, page, seeOther, wantsHtml } from './html.js';
import type { AppSession, CartItem } from './session-data.js';
import { UsersService } from './users.service.js';

/** What the cart page offers; the JSON API takes any SKU. */
const CATALOG = [
  { sku: 'book-1', name: 'A book about sessions' },
  { sku: 'mug-1', name: 'A mug' },
  { sku: 'sticker-1', name: 'A sticker' },
];

/** A cart kept in the session: works before login, and survives it (regenerate keeps data). */
@Controller('cart')
export class CartController {
  constructor(private readonly users: UsersService) {}

  @Get()
  get(@Session() session: AppSession, @Req() req: PageRequest, @Res({ passthrough: true }) res: PageResponse) {
    const items = session.get('cart') ?? [];
    if (!wantsHtml(req)) return { items };
    const rows = items.map((item) => html`<tr><td>${item.sku}</td><td>${item.qty}</td></tr>`);
    const options = CATALOG.map((p) => html`<option value="${p.sku}">${p.name}</option>`);
    return page(
      res,
      'Cart',
      html`${items.length ? html`<table><thead><tr><th>SKU</th><th>quantity</th></tr></thead><tbody>${rows}</tbody></table>` : html`<p>The cart is empty.</p>`}
<form class="stack" method="post" action="/cart">
  <label>Product <select name="sku">${options}</select></label>
  <label>Quantity <input name="qty" type="number" min="1" value="1"></label>
  <button>Add to cart</button>
</form>
${items.length ? html`<p><form method="post" action="/cart/clear"><button>Empty the cart</button></form></p>` : ''}`,
      { user: this.users.byId(session.get('userId') ?? 0)?.name, flash: { error: session.flash('error') } },
    );
  }

  @Post()
  add(@Session() session: AppSession, @Body() body: { sku?: unknown; qty?: unknown }, @Req() req: PageRequest, @Res({ passthrough: true }) res: PageResponse) {
    const form = isForm(req);
    const { sku, qty = 1 } = body ?? {};
    // A form sends every field as text.
    const count = form && typeof qty === 'string' ? Number(qty) : qty;
    if (typeof sku !== 'string' || sku === '' || typeof count !== 'number' || !Number.isInteger(count) || count < 1) {
      if (!form) throw new BadRequestException('Send { "sku": "book-1", "qty": 1 }.');
      session.flash('error', 'Pick a product and a whole quantity of at least 1.');
      return seeOther(res, '/cart');
    }
    const cart: CartItem[] = session.get('cart') ?? [];
    const line = cart.find((item) => item.sku === sku);
    if (line) line.qty += count; // changed in place: the session still saves it
    else cart.push({ sku, qty: count });
    session.set('cart', cart);
    return form ? seeOther(res, '/cart') : { items: cart };
  }

  @Delete()
  clear(@Session() session: AppSession) {
    session.delete('cart');
    return { items: [] };
  }

  /** The form version of `DELETE /cart` (HTML forms only send GET and POST). */
  @Post('clear')
  @HttpCode(200)
  clearForm(@Session() session: AppSession, @Res({ passthrough: true }) res: PageResponse) {
    session.delete('cart');
    return seeOther(res, '/cart');
  }
}
