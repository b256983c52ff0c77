import { Logger, type NestApplicationOptions } from '@nestjs/common';
import { ExpressAdapter } from '@nestjs/platform-express';
import type { Express } from 'express';
import * as http from 'node:http';
import { Socket } from 'node:net';

/**
 * Express gives every request and response Express's prototypes with `Object.setPrototypeOf(req,
 * app.request)`. In V8 each such change makes new hidden classes in the old generation, which then
 * point into the young one: with this project's Express 5, 8,000 sequential GETs of `/healthz`
 * left 4-5 MB of old-generation garbage per young-generation GC and made each of those GCs take 3 to
 * 13 ms instead of 0.2 ms (a pause that any request in flight waits out), and took 1.8 times as
 * long as with the fix.
 *
 * This adapter has Node's HTTP server create requests and responses with those prototypes from the
 * start (`http.createServer({IncomingMessage, ServerResponse})`), so Express's setPrototypeOf finds
 * them in place and changes nothing. HTTPS and Nest's connection tracking keep Nest's own server.
 *
 * It relies on Nest's `initHttpServer`/`httpServer` and on Express's `app.request`/`app.response`
 * being the prototypes Express sets: a start-up self-check (`checkPrebuiltPrototypes`) builds a
 * request and a response as the server will and keeps Nest's own server, with one warning, when they
 * do not come out with those prototypes.
 */
export class ExpressAdapterWithPrototypes extends ExpressAdapter {
  private readonly log = new Logger('HttpServer');
  /** After start-up: true when our server is in use, false when the self-check kept Nest's own. */
  prebuiltPrototypes = false;

  constructor(private readonly selfCheck: typeof checkPrebuiltPrototypes = checkPrebuiltPrototypes) {
    super();
  }

  override initHttpServer(options: NestApplicationOptions): void {
    super.initHttpServer(options);
    if (options?.httpsOptions || options?.forceCloseConnections) return;
    const app = this.getInstance<Express>();
    const IncomingMessage = withPrototype(http.IncomingMessage, app.request);
    const ServerResponse = withPrototype(http.ServerResponse, app.response);
    const failure = this.httpServer ? this.selfCheck(app, IncomingMessage, ServerResponse) : "Nest's adapter has no httpServer";
    if (failure !== null) {
      this.log.warn(`keeping Nest's own HTTP server (requests change prototype in Express): ${failure}`);
      return;
    }
    this.httpServer = http.createServer({ IncomingMessage, ServerResponse }, app);
    this.prebuiltPrototypes = true;
  }
}

/**
 * Start-up self-check: a request and a response built by the given constructors (as Node's server
 * will build them) already have the prototypes Express gives them (`app.request`, `app.response`,
 * which must chain to Node's), and the constructors did their work. Null when so, else the reason.
 */
export function checkPrebuiltPrototypes(
  app: Pick<Express, 'request' | 'response'>,
  IncomingMessage: typeof http.IncomingMessage,
  ServerResponse: typeof http.ServerResponse,
): string | null {
  if (!(app.request instanceof http.IncomingMessage) || !(app.response instanceof http.ServerResponse))
    return "Express's app.request/app.response do not inherit from Node's request and response";
  const socket = new Socket();
  try {
    const req = new IncomingMessage(socket);
    const res = new ServerResponse(req);
    if (Object.getPrototypeOf(req) !== app.request || Object.getPrototypeOf(res) !== app.response) return "a request or response is not born with Express's prototype";
    if (req.socket !== socket || res.req !== req) return "Node's constructors did not initialise the request or response";
    return null;
  } catch (err) {
    return `building a request failed: ${err instanceof Error ? err.message : String(err)}`;
  } finally {
    socket.destroy();
  }
}

/** A constructor of `base` objects whose prototype is `proto` (which must inherit from base.prototype). */
export function withPrototype<T>(base: T, proto: object): T {
  // Node's IncomingMessage and ServerResponse are plain constructor functions, callable on `this`.
  const construct = base as unknown as (this: object, ...args: unknown[]) => void;
  function Prebuilt(this: object, ...args: unknown[]) {
    construct.apply(this, args);
  }
  Prebuilt.prototype = proto;
  return Prebuilt as unknown as T;
}
