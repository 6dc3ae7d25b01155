import { MAX_NAME_LENGTH } from '@meshfed/shared';

export { MESH_CA_BACKEND_LABEL, MESH_CA_LABEL, meshCaSecretNames } from '@meshfed/shared';

/** Longest resource name the store accepts. */
export const MAX_SECRET_NAME = MAX_NAME_LENGTH;
