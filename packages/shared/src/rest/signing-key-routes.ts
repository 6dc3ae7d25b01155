import type { FastifyInstance } from 'fastify';
import type { SigningKeyRing } from '../auth/signing-key-ring.js';
import { BadRequestError } from '../errors/api-error.js';
import { type RotatableTokenKind, type SigningKeyInfo, type SigningKeyList, SigningKeySerialSchema, signingKeysPath } from '../resources/signing-key-info.js';
import { access } from './access.js';

/** What READ is asked on: keys are no resource kind, and their listing carries no key material. */
export const SIGNING_KEY_ACCESS_TYPE = 'SigningKey';

const readAccess = access({ action: 'READ', type: SIGNING_KEY_ACCESS_TYPE });
const manageAccess = access({ action: 'MANAGE_SIGNING_KEYS' });

/**
 * Serves the rotation of one kind of token's signing keys:
 * - `GET /tokens/<kind>/signing-keys`: every present serial with its kid and creation time;
 * - `POST` of the same path: adds serial max+1, which signs from then on (201, the new key);
 * - `DELETE …/{serial}`: removes it; its tokens are refused and the streams they opened end (200, the removed key).
 */
export function registerSigningKeyRoutes(app: FastifyInstance, kind: RotatableTokenKind, ring: SigningKeyRing): void {
  const path = signingKeysPath(kind);
  app.get(path, readAccess, async (): Promise<SigningKeyList> => {
    // A key another replica just added or removed is seen once its event is applied.
    await ring.idle();
    return { items: ring.info() };
  });
  app.post(path, manageAccess, async (_request, reply): Promise<SigningKeyInfo> => {
    const added = await ring.add();
    return reply.status(201).send(added);
  });
  app.delete<{ Params: { serial: string } }>(`${path}/:serial`, manageAccess, async (request): Promise<SigningKeyInfo> => {
    const serial = SigningKeySerialSchema.safeParse(request.params.serial);
    if (!serial.success) {
      throw new BadRequestError('Invalid request', `"${request.params.serial.slice(0, 32)}" is not a signing key serial`, [{ field: 'serial', message: serial.error.issues[0]!.message }]);
    }
    return ring.remove(serial.data);
  });
}

/**
 * A federated zone holds no zone-token signing key: global signs its zone tokens, and only global can
 * rotate those keys. Every signing-key route for zone tokens says so instead of a bare 404.
 */
export function refuseZoneSigningKeys(app: FastifyInstance): void {
  const path = signingKeysPath('zone');
  const refuse = async () => {
    throw new BadRequestError(
      'Not kept here',
      'zone token signing keys are kept by the global control plane: this zone is federated. Run "meshfed signing-keys list|add|remove zone-token --cp <global API URL>"',
    );
  };
  app.get(path, readAccess, refuse);
  app.post(path, manageAccess, refuse);
  app.delete(`${path}/:serial`, manageAccess, refuse);
}
