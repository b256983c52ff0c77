import { Controller, Get, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import express from 'express';
import { IncomingMessage, ServerResponse } from 'node:http';
import request from 'supertest';
import { checkPrebuiltPrototypes, ExpressAdapterWithPrototypes, withPrototype } from '../../src/common/express-adapter';
import { TestStack, taskYaml } from '../support/test-app';

/**
 * Express sets its prototypes on every request and response (Object.setPrototypeOf), which in V8
 * makes per-request hidden classes in the old generation and slows every young-generation GC
 * (src/common/express-adapter.ts). The server must create them with those prototypes already.
 */
describe('HTTP server: requests and responses are born with Express prototypes', () => {
  let s: TestStack;
  const changes: string[] = [];
  const original = Object.setPrototypeOf;
  beforeAll(async () => {
    s = await new TestStack().start();
    Object.setPrototypeOf = ((o: object, proto: object | null) => {
      if ((o instanceof IncomingMessage || o instanceof ServerResponse) && Object.getPrototypeOf(o) !== proto) changes.push(o.constructor?.name ?? '?');
      return original(o, proto);
    }) as typeof Object.setPrototypeOf;
  });
  afterAll(async () => {
    Object.setPrototypeOf = original;
    await s.stop();
  });

  it('no request or response changes prototype, and the routes still work', async () => {
    changes.length = 0;
    expect((await s.http().get('/healthz')).body).toEqual({ ok: true });
    const submitted = await s.submit(taskYaml({ name: 'proto' }));
    expect(submitted.status).toBe(200);
    const got = await s.http().get(`/api/v1/tasks/${submitted.body.tasks[0].task_id}`);
    expect(got.status).toBe(200);
    expect(got.body.name).toBe('proto');
    expect(got.headers['content-type']).toMatch(/^application\/json/);
    expect((await s.http().get('/api/v1/tasks/nope')).status).toBe(404);
    expect(changes).toEqual([]);
    expect((s.app.getHttpAdapter() as ExpressAdapterWithPrototypes).prebuiltPrototypes).toBe(true);
  });

  it("a server whose start-up self-check fails is Nest's own: it serves, and Express changes the prototypes", async () => {
    @Controller()
    class PingController {
      @Get('ping')
      ping() {
        return { pong: true };
      }
    }
    @Module({ controllers: [PingController] })
    class PingModule {}
    const seen: string[] = [];
    const adapter = new ExpressAdapterWithPrototypes((...args) => {
      seen.push(checkPrebuiltPrototypes(...args) ?? 'passed');
      return 'doctored';
    });
    const app = await NestFactory.create(PingModule, adapter, { logger: false });
    await app.init();
    try {
      changes.length = 0;
      expect((await request(app.getHttpServer()).get('/ping')).body).toEqual({ pong: true });
      expect(seen).toEqual(['passed']);
      expect(adapter.prebuiltPrototypes).toBe(false);
      expect(changes).toEqual(expect.arrayContaining(['IncomingMessage', 'ServerResponse']));
    } finally {
      await app.close();
    }
  });
});

describe("checkPrebuiltPrototypes (the HTTP server's start-up self-check)", () => {
  const app = express();

  it("passes for constructors that build requests and responses with Express's prototypes", () => {
    expect(checkPrebuiltPrototypes(app, withPrototype(IncomingMessage, app.request), withPrototype(ServerResponse, app.response))).toBeNull();
  });

  it("fails for Node's plain constructors (Express would change every prototype)", () => {
    expect(checkPrebuiltPrototypes(app, IncomingMessage, ServerResponse)).toMatch(/not born with Express's prototype/);
  });

  it("fails when Express's prototypes are not Node's request and response (a doctored app)", () => {
    const doctored = { request: {}, response: {} } as unknown as typeof app;
    expect(checkPrebuiltPrototypes(doctored, withPrototype(IncomingMessage, doctored.request), withPrototype(ServerResponse, doctored.response))).toMatch(/do not inherit/);
  });

  it("fails when the constructors skip Node's initialisation", () => {
    const hollow = <T>(proto: object): T => {
      function Hollow() {}
      Hollow.prototype = proto;
      return Hollow as unknown as T;
    };
    expect(checkPrebuiltPrototypes(app, hollow(app.request), hollow(app.response))).toMatch(/did not initialise/);
  });
});
