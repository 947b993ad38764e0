import type { Pool } from 'pg';
import { PostgresStore } from 'nestjs-sessionkit';
import { adapters } from '../support/app.js';
import { DATABASE_URL, dropSchema, newPool, testSchema } from '../support/postgres.js';
import { proxiedOutageTests } from '../support/store-outage.js';

describe.each(adapters)('PostgreSQL outage (%s)', (adapter) => {
  const schema = testSchema(`outage_${adapter}`);
  const target = new URL(DATABASE_URL);
  let pool: Pool | undefined;
  let admin: Pool;
  const count = async (where: string): Promise<number> =>
    (await admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${schema}".sessions WHERE ${where}`)).rows[0]!.n;

  beforeAll(() => {
    admin = newPool({ max: 1 });
  });
  proxiedOutageTests(adapter, {
    target: { host: target.hostname, port: Number(target.port || 5432) },
    newStore: (port, statementTimeout) => {
      const proxied = new URL(DATABASE_URL);
      proxied.port = String(port);
      pool = newPool({ connectionString: proxied.toString(), max: 5 });
      return new PostgresStore({ pool, schema, createTable: true, statementTimeout });
    },
    countRefusedWrites: async () => ({ during: await count(`data ? 'during'`), logins: await count(`user_key = '10'`) }),
    cleanUp: async () => {
      try {
        await pool?.end();
        await dropSchema(admin, schema);
      } finally {
        await admin.end();
      }
    },
  });
});
