import { BadRequestError, type Resource } from '@meshfed/shared';

/**
 * ZoneIngress and ZoneEgress carry the zone they run in; the zone CP fills it in (the documents call
 * it auto-generated) and refuses a resource that claims another zone.
 */
export function stampZone(zone: string) {
  return (r: Resource): Resource => {
    if (r.type !== 'ZoneIngress' && r.type !== 'ZoneEgress') return r;
    const claimed = r.spec.zone;
    if (claimed !== undefined && claimed !== zone) {
      throw new BadRequestError('Invalid resource', `${r.type} "${r.name}" claims zone "${String(claimed)}" but this is zone "${zone}"`, [
        { field: 'zone', message: `must be "${zone}" or absent` },
      ]);
    }
    return { ...r, spec: { ...r.spec, zone } };
  };
}
