/**
 * Secrets in stored task documents (a RAG template's `api_key`, a model hub `hf_token`): the worker
 * gets the document as submitted (the dispatch), every API answer and log line gets a copy with
 * their values replaced by MASK. Pure, Nest-free.
 */

/** What a secret's value is shown as. */
export const MASK = '***';

/** Words that make a key a secret when it ends with them: `token`, `hf_token`, `accessToken`, `db_password`, `client_secret`. */
const SECRET_LAST_WORDS = new Set(['token', 'password', 'passwd', 'passphrase', 'secret', 'apikey', 'credential', 'credentials']);
/** Every key isSecretKey accepts contains one of these (case-insensitively). */
const MAY_BE_SECRET = /token|pass|secret|key|credential/i;
/** `<word> key` endings that are secrets: `api_key`, `apiKey`, `secret-key`, `private_key`, `access_key`. */
const SECRET_KEY_PREFIXES = new Set(['api', 'secret', 'private', 'access', 'signing', 'encryption']);

/**
 * Whether a mapping key names a secret, case-insensitively, in any of snake_case, kebab-case,
 * camelCase or plain lower case: the last word is one of SECRET_LAST_WORDS, or the last two are
 * `<api|secret|private|access|...> key`. A key such as `max_tokens`, `tokenizer` or `token_count` is not.
 */
export function isSecretKey(key: string): boolean {
  // Nearly every key has none of the words a secret ends with: answered without splitting it.
  if (!MAY_BE_SECRET.test(key)) return false;
  const words = key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
  const last = words.at(-1);
  if (last === undefined) return false;
  if (SECRET_LAST_WORDS.has(last)) return true;
  if (last.endsWith('apikey') || last.endsWith('password') || last.endsWith('secret')) return true;
  return last === 'key' && words.length >= 2 && SECRET_KEY_PREFIXES.has(words[words.length - 2]);
}

/**
 * A copy of `value` in which the value of every secret key (isSecretKey), at any depth, in mappings
 * and in mappings inside lists, is MASK (whatever it was: a string, a number, a mapping). The input
 * is not changed; parts without secrets are shared, not copied. Iterative: a deep document cannot
 * overflow the stack.
 */
export function maskSecrets<T>(value: T): T {
  if (typeof value !== 'object' || value === null) return value;
  return maskNode(value) as T;
}

function maskNode(root: object): unknown {
  // Post-order without recursion: children first, then each parent is rebuilt only if a child changed.
  type Frame = { node: Record<string, unknown> | unknown[]; keys: (string | number)[]; i: number; out: Map<string | number, unknown> | null };
  const frame = (node: Record<string, unknown> | unknown[]): Frame => ({ node, keys: Array.isArray(node) ? node.map((_, i) => i) : Object.keys(node), i: 0, out: null });
  const stack: Frame[] = [frame(root as Record<string, unknown>)];
  let result: unknown = root;
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    if (top.i < top.keys.length) {
      const k = top.keys[top.i];
      const v = (top.node as Record<string | number, unknown>)[k];
      if (typeof k === 'string' && isSecretKey(k) && v !== undefined) {
        (top.out ??= new Map()).set(k, MASK);
        top.i++;
      } else if (typeof v === 'object' && v !== null) {
        stack.push(frame(v as Record<string, unknown>));
      } else {
        top.i++;
      }
      continue;
    }
    stack.pop();
    let built: unknown = top.node;
    if (top.out) {
      if (Array.isArray(top.node)) {
        const arr = top.node.slice();
        for (const [k, v] of top.out) arr[k as number] = v;
        built = arr;
      } else {
        const obj: Record<string, unknown> = {};
        // defineProperty: a key `__proto__` (JSON.parse makes it an own key) stays a key.
        for (const k of Object.keys(top.node))
          Object.defineProperty(obj, k, {
            value: top.out.has(k) ? top.out.get(k) : (top.node as Record<string, unknown>)[k],
            enumerable: true,
            writable: true,
            configurable: true,
          });
        built = obj;
      }
    }
    const parent = stack[stack.length - 1];
    if (!parent) {
      result = built;
    } else {
      if (built !== top.node) (parent.out ??= new Map()).set(parent.keys[parent.i], built);
      parent.i++;
    }
  }
  return result;
}
