// Global writes the mesh CA under these names; zones read them under the same ones.
export { meshCaSecretNames } from '@meshfed/shared';
