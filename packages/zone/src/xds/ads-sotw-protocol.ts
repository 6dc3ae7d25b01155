import { adsCodec, xdsKindOf } from '@meshfed/shared';
import { type AdsStep, EMPTY_STEP, type StreamProtocol } from './ads-protocol.js';
import type { XdsSnapshot } from './snapshot.js';
import { SotwSession } from './sotw-session.js';

/** State-of-the-world ADS on one stream: a SotwSession reading the proxy's current snapshot. */
export function sotwProtocol(current: () => XdsSnapshot | undefined): StreamProtocol {
  const session = new SotwSession({ current });
  return {
    onFrame: (frame): AdsStep => {
      const req = adsCodec.decodeRequest(frame);
      if (!req.ok) return { ...EMPTY_STEP, ignored: { kind: 'garbage', detail: req.error } };
      const outcome = session.handleRequest(req.value);
      if (outcome.kind === 'rejected') return { ...EMPTY_STEP, ignored: { kind: 'unknown-type', detail: outcome.detail } };
      // Envoy answers every response, superseded ones too: a stale nonce is normal here, not an error.
      if (outcome.kind === 'stale') return EMPTY_STEP;
      const type = xdsKindOf(req.value.type_url ?? '');
      return { out: outcome.out, answers: outcome.answer ? [outcome.answer] : [], refusedToSend: [], ...(type ? { type } : {}) };
    },
    // SotW never holds a push back: every change is answered at once.
    onChange: () => ({ ...EMPTY_STEP, out: session.changed() }),
    oldestUnacked: () => session.oldestUnacked(),
  };
}
