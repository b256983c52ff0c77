/**
 * Quantity parsing shared by the task parser (hardware requests) and the
 * worker view (memory reported by workers). Pure functions, no I/O.
 */

/** Power for each size prefix: K = 1, M = 2, ... (base 1000 or 1024 depending on `i`). */
const PREFIX_POWER: Record<string, number> = { k: 1, m: 2, g: 3, t: 4, p: 5 };

/**
 * `<number> [K|M|G|T|P] [i] [B]`, any case, spaces allowed around and between
 * the number and the unit. The `i` (binary) marker needs a prefix before it:
 * "16i" is meaningless and must not parse.
 */
const MEMORY_PATTERN = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*(?:([kmgtp])(i?))?b?\s*$/i;

/** Plain decimal core count, or Kubernetes millicores (`500m`). */
const CPU_PATTERN = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*(m?)\s*$/i;

/**
 * Memory quantity in bytes: a non-negative number of bytes, or a string such
 * as "16Gi", "64GiB", "32GB", "8G", "512Mi", "1.5Gi", "2k" or "1024".
 * `i` means powers of 1024, no `i` powers of 1000. Returns null when the value
 * does not parse, so that callers can refuse it instead of guessing.
 */
export function parseMemoryQuantity(value: unknown): number | null {
  if (typeof value === 'number') return toByteCount(value);
  if (typeof value !== 'string') return null;

  const match = MEMORY_PATTERN.exec(value);
  if (!match) return null;
  const [, amount, prefix, binary] = match;
  const power = prefix ? PREFIX_POWER[prefix.toLowerCase()] : 0;
  const base = binary ? 1024 : 1000;
  return toByteCount(Number(amount) * base ** power);
}

/**
 * Logical CPU cores: a non-negative number, a numeric string ("8", "0.5"), or
 * Kubernetes millicores ("500m" = 0.5). Returns null otherwise.
 */
export function parseCpuQuantity(value: unknown): number | null {
  if (typeof value === 'number') return toCoreCount(value);
  if (typeof value !== 'string') return null;

  const match = CPU_PATTERN.exec(value);
  if (!match) return null;
  const [, amount, milli] = match;
  const cores = Number(amount);
  return toCoreCount(milli ? cores / 1000 : cores);
}

/**
 * Cores; null for negative, non-finite or unsafe amounts: "999…9" (400 digits) is Infinity as a
 * number, which JSON stores as null, i.e. as no CPU requirement at all.
 */
function toCoreCount(cores: number): number | null {
  return Number.isFinite(cores) && cores >= 0 && cores <= Number.MAX_SAFE_INTEGER ? cores : null;
}

/**
 * Whole bytes; null for negative, non-finite, or amounts beyond the range where
 * integers are exact (no machine has 8 PiB of RAM, so this only rejects junk).
 */
function toByteCount(bytes: number): number | null {
  if (!Number.isFinite(bytes) || bytes < 0) return null;
  const rounded = Math.round(bytes);
  return Number.isSafeInteger(rounded) ? rounded : null;
}
