// The region a premium find is restricted to (docs/protocol.md, `match.find`'s `region`): anywhere, the country of
// the account's phone number, or a radius around the stored location. Remembered in this browser like the interest
// mode; the server decides who may use it (`premium_required`) and refuses a radius without a location
// (`location_required`).

const KEY = 'tanis.region';
export const REGIONS = ['anywhere', 'country', 'radius'];
export const RADIUS_KM = { min: 1, max: 20_000, initial: 50 };

/** `{kind: 'anywhere'|'country'|'radius', km}`, as last chosen. */
export function regionChoice() {
  try {
    const saved = JSON.parse(localStorage.getItem(KEY) ?? 'null');
    if (REGIONS.includes(saved?.kind)) return { kind: saved.kind, km: clampKm(saved.km) };
  } catch {
    // A value this page did not write: start over.
  }
  return { kind: 'anywhere', km: RADIUS_KM.initial };
}

export function setRegionChoice(choice) {
  localStorage.setItem(KEY, JSON.stringify({ kind: choice.kind, km: clampKm(choice.km) }));
}

/**
 * The `region` field of `match.find` for a choice, or undefined for none: only premium users ask for one, and a
 * radius only with a stored location (else the choice reads as anywhere, and the lobby says why).
 */
export function regionField(choice, { premium, hasLocation }) {
  if (!premium) return undefined;
  if (choice.kind === 'country') return 'country';
  if (choice.kind === 'radius' && hasLocation) return { radius_km: clampKm(choice.km) };
  return undefined;
}

function clampKm(km) {
  const n = Math.round(Number(km));
  return Number.isFinite(n) ? Math.min(RADIUS_KM.max, Math.max(RADIUS_KM.min, n)) : RADIUS_KM.initial;
}
