import { writeFileSync } from 'node:fs';

/** Asks the global CP for a zone token (scope zone) and keeps it where the zone reads it. */
export async function writeZoneToken(globalApi: string, zone: string, path: string): Promise<void> {
  const res = await fetch(`${globalApi}/tokens/zone`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ zone, scope: ['zone'], validFor: '720h' }), signal: AbortSignal.timeout(10_000),
  });
  if (!res.ok) throw new Error(`global refused a token for ${zone}: ${res.status} ${await res.text()}`);
  writeFileSync(path, `${(await res.text()).trim()}\n`, { mode: 0o600 });
}

/** Which zones global reports online; waits (bounded) until all are, so the table tells the truth. */
export async function waitForZones(globalApi: string, zones: readonly string[], timeoutMs = 20_000): Promise<Map<string, boolean>> {
  const deadline = Date.now() + timeoutMs;
  let online = new Map<string, boolean>(zones.map((z) => [z, false]));
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${globalApi}/zones+insights`, { signal: AbortSignal.timeout(2000) });
      const body = (await res.json()) as { items?: { name: string; online: boolean }[] };
      online = new Map(zones.map((z) => [z, body.items?.some((i) => i.name === z && i.online) ?? false]));
      if ([...online.values()].every(Boolean)) return online;
    } catch {
      /* global busy or starting: ask again */
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return online;
}
