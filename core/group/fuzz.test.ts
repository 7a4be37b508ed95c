/**
 * Every decoder of groups fed arbitrary bytes, and single-byte corruptions and truncations of valid
 * samples: each returns or throws a DecodeError, nothing else (fast-check, seed 42).
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, it } from 'vitest';
import { createNativeCrypto } from '../../crypto/native.ts';
import type { Crypto } from '../crypto.ts';
import { fromHex } from '../bytes.ts';
import { decodeGroupEnvelope } from '../envelope.ts';
import { fuzzDecoder } from '../handshake-vectors/test-helpers.ts';
import { decodeGroupContent } from './content.ts';
import { decodeMemberDelivery, encodeMemberDelivery } from './delivery.ts';
import { decodeDistribution } from './distribution.ts';
import { decodeMembership } from './membership.ts';
import { parseGroupMessage } from './message.ts';
import { decodeGroupPlaintext } from './plaintext.ts';
import { decodeSenderChains, encodeSenderChains } from './receiver-chain.ts';
import { decodeOwnSenderKey, encodeOwnSenderKey } from './sender-key.ts';
import { decodeSeqLog, encodeSeqLog, recordSeq, startSeqLog } from './seq-log.ts';
import { decodeGroupView, encodeGroupView } from './view.ts';
import { GroupSim } from './test-sim.ts';
import { identities, T0 } from './test-fixtures.ts';
import type { GroupVectors } from './vectors/build-group-vectors.ts';

const V = JSON.parse(readFileSync(new URL('./vectors/group-vectors.json', import.meta.url), 'utf8')) as GroupVectors;
let crypto: Crypto;
let sim: GroupSim;
beforeAll(() => {
  crypto = createNativeCrypto();
  const people = identities(crypto, 3);
  sim = new GroupSim(crypto, people, T0);
  sim.create(people[0]!.userId, [people[1]!.userId, people[2]!.userId]);
  sim.drain();
  for (const p of people) sim.send(p.userId, new TextEncoder().encode('fuzz'));
  sim.drain();
});

describe('groups decoders (fuzz, seed 42)', () => {
  it('wire formats: copy envelope, group message, plaintext, distribution, membership, every content kind', () => {
    fuzzDecoder(decodeGroupEnvelope, [fromHex(V.copyEnvelope)]);
    fuzzDecoder(parseGroupMessage, [fromHex(V.groupMessage)]);
    fuzzDecoder(decodeGroupPlaintext, [fromHex(V.groupPlaintext)]);
    fuzzDecoder(decodeDistribution, [fromHex(V.distribution)]);
    fuzzDecoder(decodeMembership, [fromHex(V.membershipV1), fromHex(V.membershipV2)]);
    fuzzDecoder(decodeGroupContent, Object.values(V.contents).map(fromHex));
  });

  it('stored records: view (signature re-checked), own sender key, sender chains, seq log, member delivery', () => {
    const u = [...sim.users.values()][1]!;
    fuzzDecoder((b) => decodeGroupView(crypto, b), [encodeGroupView(u.view!)], 500);
    fuzzDecoder((b) => decodeOwnSenderKey(crypto, b), [encodeOwnSenderKey(u.senderKey!)], 500);
    fuzzDecoder(decodeSenderChains, [...u.chains.values()].map(encodeSenderChains));
    fuzzDecoder(decodeSeqLog, [encodeSeqLog(recordSeq(startSeqLog(3), 9).next)]);
    fuzzDecoder(decodeMemberDelivery, [encodeMemberDelivery({ keyId: 5, deliveredUpTo: 9 })]);
  });
});
