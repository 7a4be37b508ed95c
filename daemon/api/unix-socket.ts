/**
 * The API's Unix socket: refuses a path held by a live server, removes a stale socket, and binds
 * so that the socket is never reachable with a wider mode than 0600 — the server binds inside a
 * fresh private directory (mode 0700), the socket is chmod-ed to 0600 there, then renamed into
 * place (a bound socket keeps working under its new name).
 */
import { connect } from 'node:net';
import { chmod, lstat, mkdtemp, rename, rm, stat, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { ApiError } from './errors.ts';

/** sockaddr_un.sun_path holds 108 bytes including the terminating NUL on Linux. */
export const MAX_SOCKET_PATH_BYTES = 107;
/** Mode of the API socket: only the daemon's user may connect. */
export const SOCKET_MODE = 0o600;

function isLive(path: string): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ path });
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
  });
}

/** Makes `path` free for a new socket, or throws ApiError('SocketInUse'). */
export async function clearSocketPath(path: string): Promise<void> {
  let info;
  try {
    info = await lstat(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  if (!info.isSocket()) throw new ApiError('SocketInUse', `${path} exists and is not a socket; refusing to replace it`);
  if (await isLive(path)) throw new ApiError('SocketInUse', `${path} is in use by a running server (another daemon?)`);
  await unlink(path);
}

/**
 * Checks early (before a daemon spends time starting) that `path` can take the API socket: short
 * enough, in an existing directory, and free (a stale socket is removed). Returns the absolute path.
 */
export async function checkSocketPath(path: string): Promise<string> {
  const target = resolve(path);
  if (Buffer.byteLength(target) > MAX_SOCKET_PATH_BYTES) {
    throw new ApiError('SocketPathUnusable', `socket path ${target} is longer than ${MAX_SOCKET_PATH_BYTES} bytes; choose a shorter one`);
  }
  const dir = dirname(target);
  const dirInfo = await stat(dir).catch(() => undefined);
  if (dirInfo === undefined || !dirInfo.isDirectory()) throw new ApiError('SocketPathUnusable', `directory ${dir} for the socket does not exist`);
  await clearSocketPath(target);
  return target;
}

/**
 * Binds with `bind(address)` (e.g. a gRPC server's bindAsync) at a private temporary path, then
 * moves the socket to `path` with mode 0600. Returns the absolute path and an inode check for
 * removal at shutdown.
 */
export async function bindUnixSocket(path: string, bind: (address: string) => Promise<void>): Promise<BoundSocket> {
  const target = await checkSocketPath(path);
  const dir = dirname(target);
  const privateDir = await mkdtemp(join(dir, '.rd-')).catch((e: unknown) => {
    throw new ApiError('SocketPathUnusable', `cannot create the socket in ${dir} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }); // mode 0700
  const temporary = join(privateDir, 's');
  try {
    if (Buffer.byteLength(temporary) > MAX_SOCKET_PATH_BYTES) {
      throw new ApiError('SocketPathUnusable', `socket directory ${dir} is too deep for a Unix socket path; choose a shorter one`);
    }
    await bind(`unix:${temporary}`);
    await chmod(temporary, SOCKET_MODE);
    await rename(temporary, target);
  } finally {
    await rm(privateDir, { recursive: true, force: true });
  }
  const { ino } = await lstat(target);
  return { path: target, ino };
}

export interface BoundSocket {
  path: string;
  ino: number;
}

/** Removes the socket file if it is still ours (not replaced by another server meanwhile). */
export async function removeBoundSocket(bound: BoundSocket): Promise<void> {
  try {
    const info = await lstat(bound.path);
    if (info.ino === bound.ino && info.isSocket()) await unlink(bound.path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}
