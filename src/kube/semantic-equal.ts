/**
 * Equality as the API server sees it. What we send and what comes back differ in form but not
 * in meaning: the server omits empty values (`omitempty`), fills in empty objects (a container
 * status gains `lastState: {}`), and orders keys its own way. Comparing JSON text would call such
 * a pair different and write the same status twice for every pod.
 */

/** Absent, null, false, 0, '', [] and {} all mean "not set" to the API. */
function isEmpty(value: unknown): boolean {
  return value === false || value === 0 || holdsNothing(value);
}

/**
 * Absent, null, '', [] and an object of nothing but those. Not false or 0: a field that is
 * there with a zero value (`terminated: {exitCode: 0}`) is a set object, unlike `running: {}`.
 */
function holdsNothing(value: unknown): boolean {
  if (value === undefined || value === null || value === '') return true;
  if (Array.isArray(value)) return value.length === 0;
  if (typeof value === 'object') {
    for (const key in value) if (!holdsNothing((value as Record<string, unknown>)[key])) return false;
    return true;
  }
  return false;
}

/** True when `a` and `b` mean the same object to the API: key order and empty values do not count. */
export function semanticallyEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  // Two objects are compared key by key (their zero fields then count as unset); otherwise an
  // empty value equals only another empty value.
  const bothObjects = isObject(a) && isObject(b);
  if (!bothObjects && (isEmpty(a) || isEmpty(b))) return isEmpty(a) && isEmpty(b);
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((item, i) => semanticallyEqual(item, b[i]));
  }
  if (typeof a !== 'object' || typeof b !== 'object') return false;
  const left = a as Record<string, unknown>;
  const right = b as Record<string, unknown>;
  for (const key in left) if (!semanticallyEqual(left[key], right[key])) return false;
  for (const key in right) if (!(key in left) && !isEmpty(right[key])) return false;
  return true;
}

function isObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
