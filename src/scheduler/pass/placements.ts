import type { Logger } from '@nestjs/common';
import type { StoredPlacement } from '../../contracts/stored-task';

/** Beyond this many tasks the cache starts over (tasks dispatched leave it one by one). */
const MAX_CACHED = 100_000;

/**
 * The placement records (`req` field) of queued tasks, parsed once: a task that waits through many
 * passes is not parsed again on each. A task leaves the cache when it is dispatched.
 */
export class PlacementCache {
  private readonly cache = new Map<string, StoredPlacement>();

  constructor(private readonly log: Logger) {}

  /** Task `id`'s placement, from the cache or parsed from `raw`; null when missing or unreadable (logged). */
  of(id: string, raw: string | null): StoredPlacement | null {
    const cached = this.cache.get(id);
    if (cached) return cached;
    if (!raw) return null;
    try {
      const p = JSON.parse(raw) as StoredPlacement;
      if (this.cache.size > MAX_CACHED) this.cache.clear();
      this.cache.set(id, p);
      return p;
    } catch {
      this.log.warn(`task ${id} has an unreadable placement record; skipped`);
      return null;
    }
  }

  /** The task was dispatched: it will not be placed again under this id. */
  forget(id: string): void {
    this.cache.delete(id);
  }
}
