/**
 * Loads proto/ratchetd/v1/messenger.proto for both the server and the client, with the options
 * that shape the JavaScript objects described in wire.ts: field names as in the proto
 * (snake_case), 64-bit integers as numbers, bytes as Buffer, defaults filled in, and the `event`
 * oneof name set on Event objects.
 */
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export const MESSENGER_PROTO_PATH = fileURLToPath(new URL('../../proto/ratchetd/v1/messenger.proto', import.meta.url));
export const MESSENGER_SERVICE_NAME = 'ratchetd.v1.Messenger';

export const PROTO_LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  bytes: Buffer,
  defaults: true,
  oneofs: true,
};

export function loadMessengerPackageDefinition(): protoLoader.PackageDefinition {
  return protoLoader.loadSync(MESSENGER_PROTO_PATH, PROTO_LOADER_OPTIONS);
}

export interface MessengerDefinitions {
  packageDefinition: protoLoader.PackageDefinition;
  service: grpc.ServiceDefinition;
  clientConstructor: grpc.ServiceClientConstructor;
}

export function loadMessengerDefinitions(): MessengerDefinitions {
  const packageDefinition = loadMessengerPackageDefinition();
  const loaded = grpc.loadPackageDefinition(packageDefinition);
  const ns = loaded['ratchetd'] as grpc.GrpcObject | undefined;
  const v1 = ns?.['v1'] as grpc.GrpcObject | undefined;
  const clientConstructor = v1?.['Messenger'] as grpc.ServiceClientConstructor | undefined;
  if (clientConstructor === undefined) throw new Error(`${MESSENGER_SERVICE_NAME} missing from ${MESSENGER_PROTO_PATH}`);
  return { packageDefinition, service: clientConstructor.service, clientConstructor };
}
