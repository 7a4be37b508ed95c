#!/usr/bin/python3
"""A ratchetd echo bot in Python: proof that the local API needs nothing but proto/.

    /usr/bin/python3 bots/python/echo_bot.py --socket /path/to/api.sock

Uses Debian's python3-grpcio, python3-grpc-tools and python3-protobuf (bots/python/install-deps.sh).
Run it with /usr/bin/python3: a pyenv or venv python on PATH will not see Debian's packages.

How the API is loaded: at start-up grpc_tools.protoc compiles proto/ratchetd/v1/messenger.proto
into a FileDescriptorSet in a temp dir; the message classes are built from it at run time and the
calls go through grpc's generic channel API (unary_unary / unary_stream with the method path).
Why not the usual generated *_pb2.py modules: Debian's grpc-tools 1.14 bundles protoc 3.6, whose
generated Python builds descriptors directly; that works with Debian's protobuf 4.21 (C++ backend)
but fails with the upb backend of other protobuf 4.x builds ("Descriptors cannot be created
directly"). A descriptor set is read the same way by every protobuf 3.x-5.x, so this file works
whichever grpcio/protobuf pair is installed.

Semantics, as in the TypeScript SDK: each message is acked only after its echo was sent (a crash in
between means the daemon offers it again; the echo carries an idempotency key derived from the
message id and names that message in reply_to, so the daemon does not send it twice and forgets the
key at the ack); a group message is echoed to its group (Send with group_id); the bot's own
messages are acked and ignored;
the stream is reopened with exponential backoff and jitter when the daemon goes away; SIGINT or
SIGTERM ends it cleanly (exit 0). Prints {"event":"ready","bot":"python-echo","userId":...} on
stdout when it is listening; logs go to stderr.
"""
import argparse
import json
import os
import random
import signal
import sys
import tempfile
import threading

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_PROTO_DIR = os.path.normpath(os.path.join(HERE, "..", "..", "proto"))
PROTO_FILE = "ratchetd/v1/messenger.proto"
SERVICE = "ratchetd.v1.Messenger"
HELP = "Python echo bot: I send back every message you send me."


def log(message):
    sys.stderr.write("python-echo: %s\n" % message)
    sys.stderr.flush()


def compile_descriptors(proto_dir):
    """Runs grpc_tools.protoc on proto/ into a temp dir; returns the FileDescriptorSet."""
    from grpc_tools import protoc

    with tempfile.TemporaryDirectory(prefix="ratchetd-py-") as tmp:
        out = os.path.join(tmp, "messenger.desc")
        code = protoc.main(["protoc", "-I" + proto_dir, "--descriptor_set_out=" + out, PROTO_FILE])
        if code != 0:
            raise SystemExit("protoc could not compile %s/%s (exit %d)" % (proto_dir, PROTO_FILE, code))
        with open(out, "rb") as f:
            return descriptor_pb2.FileDescriptorSet.FromString(f.read())


def message_class(descriptor):
    if hasattr(message_factory, "GetMessageClass"):  # protobuf >= 4.22
        return message_factory.GetMessageClass(descriptor)
    return message_factory.MessageFactory(descriptor.file.pool).GetPrototype(descriptor)


class Messenger(object):
    """A client stub for ratchetd.v1.Messenger built from descriptors: one callable per RPC,
    plus `types[name]` for the message classes (e.g. types["SendRequest"])."""

    def __init__(self, channel, descriptor_set, metadata=()):
        pool = descriptor_pool.DescriptorPool()
        for file_proto in descriptor_set.file:
            pool.Add(file_proto)
        service = pool.FindServiceByName(SERVICE)
        self.types = {}
        self._metadata = tuple(metadata)
        for method in service.methods:
            request = message_class(method.input_type)
            response = message_class(method.output_type)
            self.types[method.input_type.name] = request
            self.types[method.output_type.name] = response
            path = "/%s/%s" % (SERVICE, method.name)
            make = channel.unary_stream if method.server_streaming else channel.unary_unary
            setattr(self, method.name, make(path, request_serializer=request.SerializeToString, response_deserializer=response.FromString))
        self.types["Event"] = message_class(pool.FindMessageTypeByName("ratchetd.v1.Event"))

    def call(self, name, timeout=30, **fields):
        request = self.types[name + "Request"](**fields)
        return getattr(self, name)(request, timeout=timeout, metadata=self._metadata)

    def receive(self, cursor=0):
        return self.Receive(self.types["ReceiveRequest"](cursor=cursor), metadata=self._metadata)


class EchoBot(object):
    """`connect()` returns a fresh (channel, Messenger); a new one is made after each failure, so a
    restarted daemon is reached at once instead of after grpc's own reconnect backoff."""

    def __init__(self, connect):
        self.connect = connect
        self.channel, self.stub = connect()
        self.stopping = threading.Event()
        self.stream = None
        self.user_id = self.stub.call("GetIdentity", timeout=10).user_id

    def stop(self, *_):
        self.stopping.set()
        stream = self.stream
        if stream is not None:
            stream.cancel()

    def handle(self, message):
        sender = getattr(message, "from")  # "from" is a Python keyword
        if sender != self.user_id:
            text_body = message.content_type == "" or message.content_type.startswith("text/")
            if text_body and message.body.decode("utf-8", "replace").strip() == "/help":
                body, content_type = HELP.encode("utf-8"), "text/plain; charset=utf-8"
            else:
                body, content_type = message.body, message.content_type
            key = (message.message_id + ":python-echo")[:128]
            # a group message is answered in its group (every member gets the echo), else the sender
            target = {"group_id": message.group_id} if message.group_id else {"to": sender}
            self.stub.call("Send", body=body, content_type=content_type, idempotency_key=key,
                           reply_to=message.message_id, **target)
        self.stub.call("Ack", message_ids=[message.message_id])

    def run(self):
        attempt = 0
        while not self.stopping.is_set():
            try:
                self.stream = self.stub.receive()
                if self.stopping.is_set():
                    self.stream.cancel()
                for event in self.stream:
                    kind = event.WhichOneof("event")
                    if kind == "caught_up":
                        attempt = 0
                    elif kind == "message":
                        self.handle(event.message)
                if self.stopping.is_set():
                    break
                log("the daemon ended the stream")
            except grpc.RpcError as e:
                if self.stopping.is_set():
                    break
                log("lost the daemon (%s: %s)" % (e.code().name, e.details()))
            step = min(30.0, 0.25 * 2 ** attempt)
            attempt += 1
            self.stopping.wait(step / 2 + random.random() * step / 2)
            self.channel.close()
            self.channel, self.stub = self.connect()
        self.channel.close()


def serve(connect, make_bot, name):
    """Waits for the daemon (10 s), makes the bot with make_bot(connect), prints the ready line and
    runs it until SIGTERM/SIGINT; returns the exit code."""
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    try:
        probe, _ = connect()
        grpc.channel_ready_future(probe).result(timeout=10)
        probe.close()
        bot = make_bot(connect)
    except (grpc.FutureTimeoutError, grpc.RpcError) as e:
        log("cannot reach the daemon: %s" % (e.details() if isinstance(e, grpc.RpcError) else "timed out"))
        return 1
    signal.signal(signal.SIGTERM, bot.stop)
    signal.signal(signal.SIGINT, bot.stop)
    if stopping.is_set():
        return 0
    print(json.dumps({"event": "ready", "bot": name, "userId": bot.user_id}), flush=True)
    bot.run()
    return 0


def main():
    parser = argparse.ArgumentParser(description="ratchetd echo bot (Python)")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--socket", help="the daemon's API Unix socket")
    target.add_argument("--tcp", help="HOST:PORT of the daemon's TCP API (needs --token-file)")
    parser.add_argument("--token-file", help="bearer token for --tcp")
    parser.add_argument("--proto-dir", default=DEFAULT_PROTO_DIR, help="the proto/ folder (default: this checkout's)")
    args = parser.parse_args()

    metadata = ()
    if args.socket is not None:
        target = "unix:" + os.path.abspath(args.socket)
    else:
        if args.token_file is None:
            parser.error("--tcp needs --token-file")
        with open(args.token_file) as f:
            metadata = (("authorization", "Bearer " + f.read().strip()),)
        target = args.tcp
    descriptor_set = compile_descriptors(args.proto_dir)

    def connect():
        channel = grpc.insecure_channel(target)
        return channel, Messenger(channel, descriptor_set, metadata)

    return serve(connect, EchoBot, "python-echo")


if __name__ == "__main__":
    sys.exit(main())
