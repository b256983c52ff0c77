/**
 * Structural helpers for the plain data that YAML documents turn into.
 * Pure: inputs are never mutated and results never share structure with them.
 */

export type PlainObject = Record<string, unknown>;

/** A mapping as produced by YAML/JSON parsing (not an array, not a class instance). */
export function isPlainObject(value: unknown): value is PlainObject {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Deep copy of plain data (mappings and arrays are copied, everything else is kept as is). */
export function cloneJson<T>(value: T): T {
  if (Array.isArray(value)) return value.map((item) => cloneJson(item)) as T;
  if (!isPlainObject(value)) return value;
  const copy: PlainObject = {};
  for (const [key, item] of Object.entries(value)) setOwn(copy, key, cloneJson(item));
  return copy as T;
}

/**
 * `over` merged onto `base`: mappings merge key by key, recursively; anything
 * else (arrays, scalars, null) in `over` replaces what `base` has. This is the
 * stage semantics of TASK-SPEC section 2, so a stage can drop an inherited
 * block by setting it to null, and a list is never concatenated.
 */
export function deepMerge(base: PlainObject, over: PlainObject): PlainObject {
  const merged = cloneJson(base);
  for (const [key, overValue] of Object.entries(over)) {
    const baseValue = Object.hasOwn(merged, key) ? merged[key] : undefined;
    const value = isPlainObject(baseValue) && isPlainObject(overValue) ? deepMerge(baseValue, overValue) : cloneJson(overValue);
    setOwn(merged, key, value);
  }
  return merged;
}

/**
 * Assignment that creates an own property even for the key `__proto__`, which
 * YAML happily produces; a plain `obj[key] = v` would change the prototype instead.
 * Keys that Object.prototype does not have (nearly all) take the plain assignment,
 * several times faster than defineProperty.
 */
function setOwn(target: PlainObject, key: string, value: unknown): void {
  if (key in Object.prototype) Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}
