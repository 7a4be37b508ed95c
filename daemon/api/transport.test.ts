import { afterEach, describe, expect, it } from 'vitest';
import { createServer } from 'node:net';
import { link, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { ApiCallError, connectMessenger } from './client.ts';
import { FakeBackend } from './fake-backend.ts';
import { createApiServer } from './server.ts';
import { isAuthorized } from './auth.ts';
import { loadOrCreateTokenFile } from './token-file.ts';
import { silentLogger, startTestApi, type TestApi } from './test-server.ts';

const TOKEN = 'correct-horse-battery-staple-0123456789';
const require = createRequire(import.meta.url);

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function started(options: Parameters<typeof startTestApi>[0] = {}): Promise<TestApi> {
  const api = await startTestApi(options);
  cleanups.push(api.cleanup);
  return api;
}

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ratchetd-api-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function loadService(path: string, pkg: string[], name: string): grpc.ServiceClientConstructor {
  const definition = grpc.loadPackageDefinition(protoLoader.loadSync(path, { keepCase: true, defaults: true, enums: String }));
  let node: unknown = definition;
  for (const part of pkg) node = (node as grpc.GrpcObject)[part];
  return (node as grpc.GrpcObject)[name] as grpc.ServiceClientConstructor;
}

function healthCheck(target: string, service: string, metadata = new grpc.Metadata()): Promise<string> {
  const Health = loadService(healthProtoPath, ['grpc', 'health', 'v1'], 'Health');
  const client = new Health(target, grpc.credentials.createInsecure());
  return new Promise<string>((done, fail) => {
    (client as unknown as { Check: grpc.requestCallback<unknown> & ((...a: unknown[]) => void) }).Check(
      { service },
      metadata,
      (err: grpc.ServiceError | null, res?: { status: string }) => (err ? fail(err) : done(String(res?.status))),
    );
  }).finally(() => client.close());
}

function listServices(target: string): Promise<string[]> {
  const reflectionProto = join(require.resolve('@grpc/reflection/package.json'), '..', 'build/proto/grpc/reflection/v1/reflection.proto');
  const Reflection = loadService(reflectionProto, ['grpc', 'reflection', 'v1'], 'ServerReflection');
  const client = new Reflection(target, grpc.credentials.createInsecure());
  return new Promise<string[]>((done, fail) => {
    const call = (client as unknown as { ServerReflectionInfo: () => grpc.ClientDuplexStream<object, { list_services_response?: { service: { name: string }[] } }> }).ServerReflectionInfo();
    call.on('data', (res) => {
      done((res.list_services_response?.service ?? []).map((s: { name: string }) => s.name));
      call.end();
    });
    call.on('error', fail);
    call.write({ list_services: '' });
  }).finally(() => client.close());
}

describe('health and reflection', () => {
  it('reports SERVING for the server and the Messenger service', async () => {
    const api = await started();
    expect(await healthCheck(`unix:${api.socketPath}`, '')).toBe('SERVING');
    expect(await healthCheck(`unix:${api.socketPath}`, 'ratchetd.v1.Messenger')).toBe('SERVING');
  });

  it('lists ratchetd.v1.Messenger through server reflection', async () => {
    const api = await started();
    const services = await listServices(`unix:${api.socketPath}`);
    expect(services).toContain('ratchetd.v1.Messenger');
  });
});

describe('TCP with a bearer token', () => {
  it('refuses calls without a token or with a wrong one, for every service', async () => {
    const api = await started({ tcp: { token: TOKEN } });
    const address = api.listening.tcp?.address ?? '';
    expect(api.listening.tcp?.host).toBe('127.0.0.1');
    expect(api.listening.tcp?.port).toBeGreaterThan(0);
    for (const token of [undefined, 'wrong-token-wrong-token-wrong', `${TOKEN}x`]) {
      const client = connectMessenger({ tcp: address, ...(token === undefined ? {} : { token }) });
      const err = await client.getIdentity().catch((e: unknown) => e);
      client.close();
      expect(err).toBeInstanceOf(ApiCallError);
      expect((err as ApiCallError).code).toBe(grpc.status.UNAUTHENTICATED);
      expect((err as ApiCallError).message).not.toContain(TOKEN);
    }
    await expect(healthCheck(address, '')).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    const client = connectMessenger({ tcp: address });
    const stream = client.receive();
    await expect(stream.next()).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    client.close();
    expect(api.backend.subscriberCount).toBe(0);
  });

  it('serves calls with the right token', async () => {
    const api = await started({ tcp: { token: TOKEN } });
    const address = api.listening.tcp?.address ?? '';
    const client = connectMessenger({ tcp: address, token: TOKEN });
    expect((await client.getIdentity()).userId).toBe(api.backend.identity.userId);
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${TOKEN}`);
    expect(await healthCheck(address, '', md)).toBe('SERVING');
    client.close();
  });

  it('SendStream (MessengerClient.send): refuses every send without the right token, serves them with it', async () => {
    const api = await started({ tcp: { token: TOKEN } });
    const address = api.listening.tcp?.address ?? '';
    const peer = api.backend.addPeer();
    for (const token of [undefined, 'wrong-token-wrong-token-wrong']) {
      const client = connectMessenger({ tcp: address, ...(token === undefined ? {} : { token }) });
      const errors = await Promise.all([1, 2, 3].map((i) => client.send({ to: peer, body: `x${i}` }).catch((e: unknown) => e)));
      client.close();
      for (const err of errors) {
        expect(err).toBeInstanceOf(ApiCallError);
        expect((err as ApiCallError).code).toBe(grpc.status.UNAUTHENTICATED);
        expect((err as ApiCallError).errorCode).toBe('Unauthenticated');
        expect((err as ApiCallError).message).not.toContain(TOKEN);
      }
    }
    expect(api.backend.sent).toHaveLength(0);
    const client = connectMessenger({ tcp: address, token: TOKEN });
    const results = await Promise.all([1, 2, 3].map((i) => client.send({ to: peer, body: `y${i}` })));
    expect(client.sendStreamOpen).toBe(true);
    client.close();
    expect(api.backend.sent.map((s) => s.messageId)).toEqual(results.map((r) => r.messageId));
  });

  it('keeps the Unix socket free of the token requirement', async () => {
    const api = await started({ tcp: { token: TOKEN } });
    expect((await api.client.getIdentity()).userId).toBe(api.backend.identity.userId);
  });

  it('refuses to start with a short token', () => {
    expect(() => createApiServer({ backend: new FakeBackend(), tcp: { port: 0, token: 'short' }, logger: silentLogger })).toThrow(/at least 16/);
  });

  it('isAuthorized accepts only the exact Bearer token', () => {
    expect(isAuthorized(`Bearer ${TOKEN}`, TOKEN)).toBe(true);
    expect(isAuthorized(`bearer ${TOKEN}`, TOKEN)).toBe(true);
    expect(isAuthorized(TOKEN, TOKEN)).toBe(false);
    expect(isAuthorized(`Bearer ${TOKEN.slice(1)}`, TOKEN)).toBe(false);
    expect(isAuthorized('Bearer ', TOKEN)).toBe(false);
    expect(isAuthorized(undefined, TOKEN)).toBe(false);
    expect(isAuthorized(Buffer.from(`Bearer ${TOKEN}`), TOKEN)).toBe(false);
  });

  it('creates a missing token file with mode 0600 and reads it back', async () => {
    const dir = await tempDir();
    const path = join(dir, 'token');
    const first = await loadOrCreateTokenFile(path);
    expect(first.created).toBe(true);
    expect(first.token.length).toBeGreaterThanOrEqual(40);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const second = await loadOrCreateTokenFile(path);
    expect(second).toEqual({ token: first.token, created: false });
    expect((await readFile(path, 'utf8')).trim()).toBe(first.token);
    await writeFile(path, 'short\n');
    await expect(loadOrCreateTokenFile(path)).rejects.toThrow(/fewer than 16/);
  });
});

describe('the socket path', () => {
  it('refuses a path held by a live server', async () => {
    const api = await started();
    const second = createApiServer({ backend: new FakeBackend(), socketPath: api.socketPath, logger: silentLogger });
    await expect(second.start()).rejects.toMatchObject({ code: 'SocketInUse' });
    expect((await api.client.getIdentity()).userId).toBe(api.backend.identity.userId);
  });

  it('refuses a path that is not a socket', async () => {
    const dir = await tempDir();
    const path = join(dir, 'api.sock');
    await writeFile(path, 'precious');
    const server = createApiServer({ backend: new FakeBackend(), socketPath: path, logger: silentLogger });
    await expect(server.start()).rejects.toMatchObject({ code: 'SocketInUse' });
    expect(await readFile(path, 'utf8')).toBe('precious');
  });

  it('replaces a stale socket left by a dead server', async () => {
    const dir = await tempDir();
    const path = join(dir, 'api.sock');
    // A socket file nobody listens on: listen, hard-link the socket file, close (which unlinks the original).
    const holder = createServer();
    await new Promise<void>((r) => holder.listen(join(dir, 'orig.sock'), r));
    await link(join(dir, 'orig.sock'), path);
    await new Promise<void>((r) => holder.close(() => r()));
    expect((await stat(path)).isSocket()).toBe(true);
    const backend = new FakeBackend();
    const server = createApiServer({ backend, socketPath: path, logger: silentLogger });
    cleanups.push(() => server.close());
    expect((await server.start()).socket).toBe(path);
    const client = connectMessenger({ socketPath: path });
    expect((await client.getIdentity()).userId).toBe(backend.identity.userId);
    client.close();
    expect((await stat(path)).mode & 0o777).toBe(0o600);
  });

  it('refuses a socket in a missing directory with a clear message', async () => {
    const dir = await tempDir();
    const server = createApiServer({ backend: new FakeBackend(), socketPath: join(dir, 'missing', 'api.sock'), logger: silentLogger });
    await expect(server.start()).rejects.toThrow(/does not exist/);
  });
});
