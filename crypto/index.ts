/**
 * Picks the libsodium build: `native` (sodium-native, prebuilt) when it loads, else `wasm`
 * (libsodium-wrappers). Both implement the same `Crypto` interface and pass the same tests.
 */
import type { Crypto } from '../core/crypto.ts';

export type CryptoBackend = 'auto' | 'native' | 'wasm';

export interface LoadedCrypto {
  crypto: Crypto;
  backend: 'native' | 'wasm';
}

export async function loadCrypto(preference: CryptoBackend = 'auto'): Promise<LoadedCrypto> {
  if (preference !== 'wasm') {
    try {
      const { createNativeCrypto } = await import('./native.ts');
      return { crypto: createNativeCrypto(), backend: 'native' };
    } catch (e) {
      if (preference === 'native') throw new Error('sodium-native is not available on this machine', { cause: e });
    }
  }
  // Loaded only when needed: instantiating the WASM build costs start-up time and memory.
  const { createSodiumCrypto } = await import('./sodium.ts');
  return { crypto: await createSodiumCrypto(), backend: 'wasm' };
}
