const UNITS: readonly (readonly [suffix: string, seconds: number])[] = [
  ['y', 365 * 86400],
  ['d', 86400],
  ['h', 3600],
  ['m', 60],
  ['s', 1],
];

/** How long ago `time` was, in the largest whole unit: `5s`, `3m`, `2h`, `4d`, `1y`; `-` when unknown. */
export function humanizeAge(time: string | undefined, now: number): string {
  if (time === undefined) return '-';
  const then = Date.parse(time);
  if (Number.isNaN(then)) return '-';
  const seconds = Math.max(0, Math.floor((now - then) / 1000));
  for (const [suffix, size] of UNITS) {
    if (seconds >= size) return `${Math.floor(seconds / size)}${suffix}`;
  }
  return '0s';
}
