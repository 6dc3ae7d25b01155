/**
 * From stored resources to the parsed policies the matching step takes. A policy its schema rejects
 * (stored by bypassing validation, or from a newer peer) is left out and reported, never thrown.
 */
import { LABEL_DISPLAY_NAME } from '@meshfed/shared';
import { type AnyPolicy, descriptorOf, isPolicyKind } from './policy-kinds.js';

export interface StoredPolicy {
  readonly type: string;
  readonly name: string;
  readonly mesh?: string | undefined;
  readonly labels?: Readonly<Record<string, string>> | undefined;
  /** The resource body without its meta: `{ spec: { targetRef, from, to } }`. */
  readonly spec: unknown;
}

export interface ParsedPolicies {
  readonly policies: AnyPolicy[];
  readonly problems: string[];
}

export function parsePolicies(stored: readonly StoredPolicy[]): ParsedPolicies {
  const policies: AnyPolicy[] = [];
  const problems: string[] = [];
  for (const s of stored) {
    if (!isPolicyKind(s.type) || s.mesh === undefined) continue;
    const r = descriptorOf(s.type).spec.safeParse(s.spec);
    if (!r.success) {
      const issue = r.error.issues[0];
      problems.push(`${s.type} ${s.labels?.[LABEL_DISPLAY_NAME] ?? s.name}: invalid: ${issue ? `${issue.path.map(String).join('.')}: ${issue.message}` : 'invalid'}`);
      continue;
    }
    policies.push({ type: s.type, name: s.name, mesh: s.mesh, labels: s.labels ?? {}, spec: (r.data as { spec: unknown }).spec } as AnyPolicy);
  }
  return { policies, problems };
}
