// Preloaded (`node --expose-gc --import`) into a zone CP that `npm run bench -- proxyless` starts: answers
// the bench's questions about the process's own memory and CPU over the IPC channel the bench opened,
// and nothing else; the zone's code is untouched. Plain JS: the zone runs as shipped, without tsx.
// `usage-gc` runs two full collections first, so that heap figures are what is live, not garbage.
process.on('message', (m) => {
  if (typeof m?.id !== 'number') return;
  if (m.cmd === 'usage-gc' && typeof globalThis.gc === 'function') {
    globalThis.gc();
    globalThis.gc();
  }
  const mem = process.memoryUsage();
  const cpu = process.cpuUsage();
  process.send?.({ id: m.id, value: { rss: mem.rss, heapUsed: mem.heapUsed, external: mem.external, cpuMs: (cpu.user + cpu.system) / 1000 } });
});
// The channel must not keep a zone alive that is stopping (SIGTERM ends it when its servers close).
process.channel?.unref();
