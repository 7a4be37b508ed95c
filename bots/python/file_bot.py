#!/usr/bin/python3
"""A ratchetd bot in Python that receives files: every message with an attachment is downloaded
into a folder, checked against its SHA-256, and answered.

    /usr/bin/python3 bots/python/file_bot.py --socket /path/to/api.sock --out-dir ./received

Same set-up as echo_bot.py (Debian's python3-grpcio, python3-grpc-tools and python3-protobuf via
bots/python/install-deps.sh; the API built from proto/ at start-up; Messenger is echo_bot's).

For each message that carries a file (`attachment`): DownloadAttachment streams the verified bytes
into OUT/<first 8 hex digits of the attachment id>-<file name>.part; a download cut short (the
daemon restarted, the bot was killed) resumes from the .part file's size with `offset`. When all
`size` bytes are there and their SHA-256 is the attachment's, the file is synced and renamed to its
final name, the sender gets "saved NAME (SIZE bytes, sha256 HEX)", and only then is the message
acked — the ack deletes the attachment on the daemon (unless it runs with --retain-attachments),
so a crash before it means the daemon offers the message again and the download resumes. A hash
that does not match (never expected: the daemon verified the file) deletes the .part file and
leaves the message unacked. The sender's file name is only a label: path separators and other
unsafe characters become "_", so a name never leaves OUT. Messages without a file get a one-line
hint. Prints {"event":"ready","bot":"python-files","userId":...} when listening.
"""
import argparse
import hashlib
import os
import re
import sys

import grpc

from echo_bot import DEFAULT_PROTO_DIR, EchoBot, Messenger, compile_descriptors, serve

HINT = "Python file bot: send me a file and I save it."
UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def log(message):
    sys.stderr.write("python-files: %s\n" % message)
    sys.stderr.flush()


def safe_name(attachment_id, file_name):
    """OUT-relative name: never a path, never hidden, never empty."""
    name = UNSAFE.sub("_", file_name).lstrip(".") or "file"
    return "%s-%s" % (attachment_id[:8], name[:200])


class FileBot(EchoBot):
    """The echo bot's connection, stream, reconnects and stop; `handle` saves files instead."""

    def __init__(self, connect, out_dir):
        self.out_dir = out_dir
        EchoBot.__init__(self, connect)

    def download(self, attachment):
        """Downloads (or resumes) into a .part file; returns the final path once verified, else None."""
        final = os.path.join(self.out_dir, safe_name(attachment.attachment_id, attachment.file_name))
        part = final + ".part"
        digest = hashlib.sha256()
        offset = 0
        if os.path.exists(part):
            with open(part, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
                    offset += len(block)
            if offset > attachment.size:
                os.remove(part)
                digest, offset = hashlib.sha256(), 0
        with open(part, "ab") as out:
            request = self.stub.types["DownloadAttachmentRequest"](attachment_id=attachment.attachment_id, offset=offset)
            for chunk in self.stub.DownloadAttachment(request, metadata=self.stub._metadata):
                out.write(chunk.data)
                digest.update(chunk.data)
                offset += len(chunk.data)
            out.flush()
            os.fsync(out.fileno())
        if offset != attachment.size or digest.digest() != attachment.sha256:
            log("%s: %d bytes, hash mismatch; discarded" % (attachment.attachment_id, offset))
            os.remove(part)
            return None
        os.replace(part, final)
        return final

    def handle(self, message):
        sender = getattr(message, "from")  # "from" is a Python keyword
        if sender != self.user_id:
            if message.HasField("attachment"):
                a = message.attachment
                path = self.download(a)
                if path is None:
                    return  # not acked: offered again
                text = "saved %s (%d bytes, sha256 %s)" % (os.path.basename(path), a.size, a.sha256.hex())
            else:
                text = HINT
            self.stub.call("Send", to=sender, body=text.encode("utf-8"), content_type="text/plain; charset=utf-8",
                           idempotency_key=(message.message_id + ":python-files")[:128], reply_to=message.message_id)
        self.stub.call("Ack", message_ids=[message.message_id])


def main():
    parser = argparse.ArgumentParser(description="ratchetd file bot (Python): saves the files it is sent")
    parser.add_argument("--socket", required=True, help="the daemon's API Unix socket")
    parser.add_argument("--out-dir", required=True, help="where received files are saved (created if missing)")
    parser.add_argument("--proto-dir", default=DEFAULT_PROTO_DIR, help="the proto/ folder (default: this checkout's)")
    args = parser.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    target = "unix:" + os.path.abspath(args.socket)
    descriptor_set = compile_descriptors(args.proto_dir)

    def connect():
        channel = grpc.insecure_channel(target)
        return channel, Messenger(channel, descriptor_set)

    return serve(connect, lambda c: FileBot(c, args.out_dir), "python-files")

if __name__ == "__main__":
    sys.exit(main())
