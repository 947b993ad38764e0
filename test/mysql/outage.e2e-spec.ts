import type { Pool } from 'mysql2/promise';
import { MysqlStore } from 'nestjs-sessionkit';
import { adapters } from '../support/app.js';
import { MYSQL_URL, dropTables, newMysqlPool, testTable } from '../support/mysql.js';
import { proxiedOutageTests } from '../support/store-outage.js';

describe.each(adapters)('MySQL / MariaDB outage (%s)', (adapter) => {
  const table = testTable(`outage_${adapter}`);
  const target = new URL(MYSQL_URL);
  let pool: Pool | undefined;
  let admin: Pool;
  const count = async (where: string): Promise<number> => {
    const [rows] = await admin.query(`SELECT COUNT(*) AS n FROM \`${table}\` WHERE ${where}`);
    return (rows as { n: number }[])[0]!.n;
  };

  beforeAll(() => {
    admin = newMysqlPool({ connectionLimit: 1 });
  });
  proxiedOutageTests(adapter, {
    target: { host: target.hostname, port: Number(target.port || 3306) },
    newStore: (port, statementTimeout) => {
      const proxied = new URL(MYSQL_URL);
      proxied.port = String(port);
      pool = newMysqlPool({ uri: proxied.toString(), connectionLimit: 5 });
      return new MysqlStore({ pool, table, createTable: true, statementTimeout });
    },
    countRefusedWrites: async () => ({ during: await count(`JSON_CONTAINS_PATH(data, 'one', '$.during')`), logins: await count(`user_key = '10'`) }),
    cleanUp: async () => {
      try {
        await pool?.end().catch(() => {});
        await dropTables(admin, table);
      } finally {
        await admin.end();
      }
    },
  });
});
