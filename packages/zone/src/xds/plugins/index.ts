import { meshTimeoutPlugin } from './mesh-timeout.js';
import { meshTrafficPermissionPlugin } from './mesh-traffic-permission.js';
import type { PolicyKind } from '../rules/index.js';
import type { PolicyPlugin } from './types.js';

export type { InboundDraft, OutboundDraft, PluginContext, PolicyPlugin, SidecarDraft } from './types.js';

/**
 * Every policy plugin, in the order they apply (Kuma applies its plugins in a fixed order too): each
 * one changes only its own fields of the drafts, so the order matters only between filters inserted
 * into the same chain (traffic permission comes before any other filter of an inbound).
 */
export type AnyPolicyPlugin = { [K in PolicyKind]: PolicyPlugin<K> }[PolicyKind];

export const PLUGINS: readonly AnyPolicyPlugin[] = [meshTrafficPermissionPlugin, meshTimeoutPlugin];
