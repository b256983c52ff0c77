import fc from 'fast-check';
import { isSecretKey, MASK, maskSecrets } from './secrets';

describe('secrets in task documents', () => {
  it.each([
    'api_key',
    'apiKey',
    'APIKey',
    'API_KEY',
    'x-api-key',
    'OPENAI_API_KEY',
    'openaiApiKey',
    'token',
    'Token',
    'hf_token',
    'HF_TOKEN',
    'accessToken',
    'access_token',
    'password',
    'db_password',
    'dbPassword',
    'passwd',
    'secret',
    'client_secret',
    'clientSecret',
    'secret_key',
    'private_key',
    'credentials',
  ])('%s is a secret', (k) => {
    expect(isSecretKey(k)).toBe(true);
  });

  it.each(['max_tokens', 'maxTokens', 'tokenizer', 'token_count', 'tokens', 'key', 'keys', 'model', 'secretary', 'password_hint_shown', 'name', ''])('%s is not', (k) => {
    expect(isSecretKey(k)).toBe(false);
  });

  it('masks at any depth, in lists too, whatever the value; the input is unchanged and a document without secrets is returned as is', () => {
    const doc = { spec: { data: [{ rag: { api_key: 'k1', nested: { password: { a: 1 } } } }, 'text'], max_tokens: 5 } };
    const copy = structuredClone(doc);
    expect(maskSecrets(doc)).toEqual({ spec: { data: [{ rag: { api_key: MASK, nested: { password: MASK } } }, 'text'], max_tokens: 5 } });
    expect(doc).toEqual(copy);
    const plain = { spec: { data: [1, { a: 'b' }] } };
    expect(maskSecrets(plain)).toBe(plain);
  });

  it('a key `__proto__` stays an own key; a document nested 100,000 deep does not overflow the stack', () => {
    const parsed = JSON.parse('{"__proto__": {"token": "t"}, "a": 1}');
    const out = maskSecrets(parsed) as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(out, '__proto__')?.value).toEqual({ token: MASK });
    let deep: Record<string, unknown> = { token: 'deep' };
    for (let i = 0; i < 100_000; i++) deep = { d: deep };
    let out2 = maskSecrets(deep) as Record<string, unknown>;
    while ('d' in out2) out2 = out2.d as Record<string, unknown>;
    expect(out2).toEqual({ token: MASK });
  });

  it('over generated JSON: no value under a secret key survives, everything else is kept', () => {
    const key = fc.oneof(fc.constantFrom('api_key', 'hfToken', 'password', 'max_tokens', 'model', 'x'), fc.string({ maxLength: 5 }));
    const value = fc.letrec<{ v: unknown }>((tie) => ({
      v: fc.oneof({ depthSize: 'small' }, fc.string(), fc.integer(), fc.constant(null), fc.array(tie('v'), { maxLength: 3 }), fc.dictionary(key, tie('v'), { maxKeys: 4 })),
    })).v;
    // The oracle, recursive and written the obvious way.
    const oracle = (v: unknown): unknown =>
      Array.isArray(v) ? v.map(oracle) : v !== null && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, isSecretKey(k) ? MASK : oracle(x)])) : v;
    fc.assert(fc.property(value, (v) => expect(maskSecrets(v)).toEqual(oracle(v))));
  });
});
