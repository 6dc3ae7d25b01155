import { BadRequestError, LABEL_ORIGIN, LABEL_ZONE, type Resource } from '@meshfed/shared';

/**
 * What a zone CP adds to what users apply to it. ZoneIngress and ZoneEgress carry the zone they run
 * in (the documents call it auto-generated); a resource claiming another zone is refused. A federated
 * zone also labels its own resources `kuma.io/origin: zone` and `kuma.io/zone: <zone>`, as Kuma does.
 */
export function stampZone(zone: string, federated: boolean) {
  return (r: Resource): Resource => {
    let out = r;
    if (r.type === 'ZoneIngress' || r.type === 'ZoneEgress') {
      const claimed = r.spec.zone;
      if (claimed !== undefined && claimed !== zone) {
        throw new BadRequestError('Invalid resource', `${r.type} "${r.name}" claims zone "${String(claimed)}" but this is zone "${zone}"`, [
          { field: 'zone', message: `must be "${zone}" or absent` },
        ]);
      }
      out = { ...out, spec: { ...out.spec, zone } };
    }
    if (federated) out = { ...out, labels: { ...out.labels, [LABEL_ORIGIN]: 'zone', [LABEL_ZONE]: zone } };
    return out;
  };
}
