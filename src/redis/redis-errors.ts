/**
 * Redis errors that say "not now" rather than "never": the connection is down or timed out, the
 * server is loading, busy, read-only or out of memory. Whatever failed on one of these may succeed
 * when tried again later; any other error (WRONGTYPE, a script error, a JavaScript error while
 * applying) will fail the same way every time.
 */
const TRANSIENT_REPLY = /^(OOM|LOADING|BUSY|MASTERDOWN|READONLY|TRYAGAIN|CLUSTERDOWN|NOREPLICAS|NOSCRIPT)\b/;
const TRANSIENT_CONNECTION =
  /Stream isn't writeable|Connection is closed|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|MaxRetriesPerRequest|Command timed out|Command aborted|Redis is unavailable|Redis did not answer within/i;

export function isTransientRedisError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err.name === 'ReplyError') return TRANSIENT_REPLY.test(err.message);
  return err.name === 'MaxRetriesPerRequestError' || TRANSIENT_CONNECTION.test(err.message);
}
