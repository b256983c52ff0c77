import type { Redis } from 'ioredis';

/**
 * The whole key space of a test's Redis, for the retention tests: every key name, and the members of
 * every set and zset (what a removal must leave as it found it).
 */
export async function keySpace(redis: Redis): Promise<Map<string, string[]>> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'COUNT', 1000);
    keys.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  const out = new Map<string, string[]>();
  for (const k of keys.sort()) {
    const type = await redis.type(k);
    out.set(k, type === 'zset' ? await redis.zrange(k, '0', '-1') : type === 'set' ? (await redis.smembers(k)).sort() : []);
  }
  return out;
}

/** Keys, and set or zset members, that mention one of `ids`. */
export async function traces(redis: Redis, ids: string[]): Promise<string[]> {
  const found: string[] = [];
  for (const [k, members] of await keySpace(redis)) {
    if (ids.some((id) => k.includes(id))) found.push(k);
    for (const m of members) if (ids.includes(m)) found.push(`${k} ∋ ${m}`);
  }
  return found;
}
