import { AlreadyExistsError, VersionConflictError } from '../errors/api-error.js';
import type { ResourceKey } from '../resources/resource.js';
import type { ResourceStore } from '../store/resource-store.js';
import type { Logger } from '../telemetry/logger.js';
import { ADMIN_GROUP } from '../resources/access-role.js';
import { MAX_USER_TOKEN_VALIDITY_MS, type UserTokens, UserTokenError } from './user-token.js';

/** Kuma's name: the GlobalSecret that holds the admin user token, served only to loopback. */
export const ADMIN_TOKEN_SECRET = 'admin-user-token';
const KEY: ResourceKey = { type: 'GlobalSecret', name: ADMIN_TOKEN_SECRET };
const ATTEMPTS = 5;

/**
 * The admin user token (group mesh-system:admin), created at first start and kept in the store so
 * every replica and restart serves the same one. One that no longer verifies (revoked, expired, its
 * key removed) is replaced, so an operator on the host can always get a working one.
 */
export async function loadOrCreateAdminToken(store: ResourceStore, tokens: UserTokens, log?: Logger): Promise<void> {
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const existing = await store.get(KEY);
    if (existing && typeof existing.spec.data === 'string') {
      const token = Buffer.from(existing.spec.data, 'base64').toString('utf8');
      try {
        await tokens.verify(token);
        return;
      } catch (err) {
        if (!(err instanceof UserTokenError)) throw err;
        log?.warn({ reason: err.reason }, 'the stored admin user token no longer verifies: replacing it');
      }
    }
    const { token, id } = await tokens.issue({ name: 'admin', groups: [ADMIN_GROUP], validForMs: MAX_USER_TOKEN_VALIDITY_MS });
    try {
      await store.commit([{ op: 'put', resource: { ...KEY, labels: {}, spec: { data: Buffer.from(token).toString('base64') } }, expectedVersion: existing?.version ?? null }]);
    } catch (err) {
      if (err instanceof AlreadyExistsError || err instanceof VersionConflictError) continue;
      throw err;
    }
    log?.info({ jti: id }, 'created the admin user token');
    return;
  }
  throw new Error(`GlobalSecret "${ADMIN_TOKEN_SECRET}" could be neither created nor read after ${ATTEMPTS} attempts`);
}

/** The stored admin token, for the loopback-only route; undefined before the first start wrote it. */
export async function readAdminToken(store: ResourceStore): Promise<string | undefined> {
  const existing = await store.get(KEY);
  return typeof existing?.spec.data === 'string' ? Buffer.from(existing.spec.data, 'base64').toString('utf8') : undefined;
}
