import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { cleanups } from './cleanup.js';

const ADMIN_URL = process.env.MESHFED_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/**
 * A database of its own for one test, so suites run in parallel and leave nothing behind: it is
 * registered for cleanup (dropped after the file's tests) as soon as it exists.
 */
export async function createTestDatabase(): Promise<{ url: string; name: string; drop(): Promise<void> }> {
  const name = `meshfed_t_${randomBytes(6).toString('hex')}`;
  const drop = async () => {
    const c = new pg.Client({ connectionString: ADMIN_URL });
    await c.connect();
    try {
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    } finally {
      await c.end();
    }
  };
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
    cleanups.push(drop);
  } finally {
    await admin.end();
  }
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return { url: url.toString(), name, drop };
}
