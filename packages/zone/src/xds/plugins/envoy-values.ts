import { durationToMs } from '@meshfed/shared';
import type { Draft } from '../generate/envoy-parts.js';

/** A policy's duration (`10s`, `1m30s`) as Envoy's google.protobuf.Duration. */
export function envoyDuration(d: string): { seconds: number; nanos?: number } {
  const ms = durationToMs(d);
  const seconds = Math.floor(ms / 1000);
  const nanos = Math.round((ms - seconds * 1000) * 1e6);
  return nanos === 0 ? { seconds } : { seconds, nanos };
}

/**
 * A percentage (`50`, `"12.5"`) as Envoy's FractionalPercent, with the coarsest denominator that holds
 * it exactly (Kuma's ConvertPercentage: whole → HUNDRED, two decimals → TEN_THOUSAND, else MILLION,
 * rounded). Decimal strings are read digit by digit, so "12.34" is 1234/10000, not a float's 123399.99….
 */
export function fractionalPercent(p: number | string): { numerator: number; denominator: 'HUNDRED' | 'TEN_THOUSAND' | 'MILLION' } {
  const text = String(p);
  const m = /^(\d+)(?:\.(\d*?)0*)?$/.exec(text);
  if (!m) return { numerator: Math.round(Number(p) * 10_000), denominator: 'MILLION' };
  const whole = Number(m[1]);
  const frac = m[2] ?? '';
  if (frac === '') return { numerator: whole, denominator: 'HUNDRED' };
  if (frac.length <= 2) return { numerator: whole * 100 + Number(frac.padEnd(2, '0')), denominator: 'TEN_THOUSAND' };
  if (frac.length <= 4) return { numerator: whole * 10_000 + Number(frac.padEnd(4, '0')), denominator: 'MILLION' };
  return { numerator: Math.round(Number(text) * 10_000), denominator: 'MILLION' };
}

/** A percentage (`50`, `"12.5"`) as Envoy's type.v3.Percent (a double in 0-100). */
export function envoyPercent(p: number | string): { value: number } {
  return { value: Number(p) };
}

/** Escapes what is special in a regular expression, for RE2 (Envoy) and JavaScript alike. */
export const escapeRegex = (s: string): string => s.replace(/[\\^$.|?*+()[\]{}]/g, '\\$&');

/** A header match as the policy schemas give it (shared's `headerMatch`: Exact when no type is given). */
export interface HeaderMatch {
  readonly name: string;
  readonly type?: 'Exact' | 'Present' | 'RegularExpression' | 'Absent' | 'Prefix' | undefined;
  readonly value?: string | undefined;
}

/**
 * Kuma's headerMatcher as Envoy's HeaderMatcher. Present and Absent test the header's presence
 * (`present_match: false` means it must be absent). The schema refuses, when the policy is written,
 * a Prefix without a value and a pattern RE2 cannot run, so every matcher built here is valid.
 */
export function headerMatcher(h: HeaderMatch): Draft {
  const value = h.value ?? '';
  switch (h.type ?? 'Exact') {
    case 'Present': return { name: h.name, present_match: true };
    case 'Absent': return { name: h.name, present_match: false };
    case 'Prefix': return { name: h.name, string_match: { prefix: value } };
    case 'RegularExpression': return { name: h.name, string_match: { safe_regex: { regex: value } } };
    default: return { name: h.name, string_match: { exact: value } };
  }
}

type HeaderList = readonly { readonly name: string; readonly value: string }[];

/** Envoy's HeaderValueOption. */
export interface HeaderValueOption {
  header: { key: string; value: string };
  append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' | 'APPEND_IF_EXISTS_OR_ADD';
}

/**
 * A `{set, add}` header modifier as Envoy's HeaderValueOptions: `set` overwrites (or adds), `add`
 * appends (or adds); `set` first, then `add`. Each value is one header, whole: Kuma splits values on
 * commas into one header per piece, and its overwriting pieces then keep only the last one.
 */
export function headerValueOptions(mods: { readonly set?: HeaderList | undefined; readonly add?: HeaderList | undefined } | undefined): HeaderValueOption[] {
  const option = (append_action: HeaderValueOption['append_action']) => (h: HeaderList[number]): HeaderValueOption => ({ header: { key: h.name, value: h.value }, append_action });
  return [...(mods?.set ?? []).map(option('OVERWRITE_IF_EXISTS_OR_ADD')), ...(mods?.add ?? []).map(option('APPEND_IF_EXISTS_OR_ADD'))];
}
