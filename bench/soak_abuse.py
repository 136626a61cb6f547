#!/usr/bin/env python3
"""Abusive clients beside the normal load, for bench/gateway_soak.sh.

Every kind runs in its own threads, in bounded loops (a fixed number of sockets at a time, a
pause between rounds), only against 127.0.0.1, until --duration seconds have passed or SIGTERM
arrives. Each kind counts what it got back: "status_NNN" (the status line of the answer),
"reset" (connection reset), "closed" (the server closed without an answer), "timeout" (no
answer within the kind's wait), "connect_failed", plus kind-specific outcomes. The counts are
written as JSON to --out at the end (and on SIGTERM).

Kinds (--kinds, comma separated; default all):
  slow_reader   streaming chat requests with a long answer, read 64 bytes every 0.2 s through a
                4 KiB receive buffer, dropped after --slow-reader-hold s
  slowloris     connections that send a request head one header line a second and never finish
                it (for --slowloris-hold s, then finish it and read the answer)
  conn_flood    --flood-conns idle connections held --flood-hold s, every --flood-period s; one
                /health probe on a fresh connection while they are held
  nested_json   bodies nested 100,000 levels deep (arrays in "messages", objects in "prompt")
  bad_utf8      invalid UTF-8 in x-gateway-model-name-rewrite, x-gateway-inference-objective and
                in the path
  oversized     a body one MiB over --max-body-bytes, sent in full; a Content-Length of 1 TB with
                a few bytes behind it; the same oversized body chunked
  malformed     bad Transfer-Encoding, bad chunk sizes, Content-Length with Transfer-Encoding,
                missing Host, bad request lines, a 64 KiB header, and other broken heads
  garbage       random bytes (seeded), 1 to 4096 of them
  metrics       GET /metrics of the gateway's metrics listener in a loop
  fail_header   valid requests carrying x-kgai-fail: 500 (a client asking the model server to
                fail; today's kgai sim honours it, see --allow-failure-header)
"""
import argparse
import collections
import json
import random
import signal
import socket
import sys
import threading
import time

HOST = "127.0.0.1"  # the only address this tool ever talks to

ALL_KINDS = ["slow_reader", "slowloris", "conn_flood", "nested_json", "bad_utf8", "oversized",
             "malformed", "garbage", "metrics", "fail_header"]


class Counts:
    def __init__(self):
        self.lock = threading.Lock()
        self.by_kind = collections.defaultdict(collections.Counter)

    def add(self, kind, outcome, n=1):
        with self.lock:
            self.by_kind[kind][outcome] += n

    def snapshot(self):
        with self.lock:
            return {k: dict(sorted(v.items())) for k, v in sorted(self.by_kind.items())}


class Abuse:
    def __init__(self, args):
        self.args = args
        self.counts = Counts()
        self.stop = threading.Event()
        self.deadline = time.monotonic() + args.duration
        self.rng_lock = threading.Lock()
        self.rng = random.Random(args.seed)

    # --- helpers ---------------------------------------------------------------------------
    def running(self):
        return not self.stop.is_set() and time.monotonic() < self.deadline

    def pause(self, seconds):
        self.stop.wait(max(0.0, min(seconds, self.deadline - time.monotonic())))

    def connect(self, port, timeout=5.0, rcvbuf=None):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.settimeout(timeout)
        s.connect((HOST, port))
        return s

    @staticmethod
    def read_status(sock, timeout):
        """The status of the first answer on sock: 'status_NNN', 'closed', 'reset', 'timeout'."""
        sock.settimeout(timeout)
        buf = b""
        try:
            while b"\r\n" not in buf and len(buf) < 8192:
                chunk = sock.recv(4096)
                if not chunk:
                    return "closed" if not buf else "bad_answer"
                buf += chunk
        except (ConnectionResetError, BrokenPipeError):
            return "reset"
        except socket.timeout:
            return "timeout"
        except OSError:
            return "reset"
        line = buf.split(b"\r\n", 1)[0].split()
        if len(line) >= 2 and line[0].startswith(b"HTTP/") and line[1].isdigit():
            return "status_" + line[1].decode()
        return "bad_answer"

    def exchange(self, port, data, timeout=10.0, chunk=None):
        """Sends data (bytes), then reads the status line. An answer that comes while sending
        (a 413 before the whole body went) counts."""
        try:
            s = self.connect(port, timeout)
        except OSError:
            return "connect_failed"
        try:
            try:
                if chunk:
                    for i in range(0, len(data), chunk):
                        s.sendall(data[i:i + chunk])
                else:
                    s.sendall(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server may have answered and closed early: read what it said
            except socket.timeout:
                return "timeout"
            return self.read_status(s, timeout)
        finally:
            s.close()

    def post(self, path, body, extra_headers=b"", port=None):
        if isinstance(body, str):
            body = body.encode()
        head = (b"POST " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\nConnection: close\r\n" + extra_headers +
                b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n")
        return head + body

    def chat_body(self, max_tokens=4, stream=False, ignore_eos=False):
        return json.dumps({"model": self.args.model, "stream": stream, "max_tokens": max_tokens,
                           "ignore_eos": ignore_eos,
                           "messages": [{"role": "user", "content": "abuse test"}]})

    # --- kinds -----------------------------------------------------------------------------
    def slow_reader(self, worker):
        a = self.args
        body = self.chat_body(max_tokens=a.slow_reader_tokens, stream=True, ignore_eos=True)
        req = self.post(b"/v1/chat/completions", body)
        while self.running():
            try:
                s = self.connect(a.port, 5.0, rcvbuf=4096)
            except OSError:
                self.counts.add("slow_reader", "connect_failed")
                self.pause(1)
                continue
            outcome = "held"
            got = 0
            try:
                s.sendall(req)
                s.settimeout(30)
                first = s.recv(64)
                if not first:
                    outcome = "closed"
                else:
                    got += len(first)
                    st = first.split(b"\r\n", 1)[0].split()
                    if len(st) >= 2 and st[1] != b"200":
                        outcome = "status_" + st[1].decode(errors="replace")
                    else:
                        end = time.monotonic() + a.slow_reader_hold
                        while self.running() and time.monotonic() < end:
                            self.pause(0.2)
                            data = s.recv(64)
                            if not data:
                                outcome = "closed_by_server"
                                break
                            got += len(data)
                            if b"[DONE]" in data:
                                outcome = "complete"
                                break
            except (ConnectionResetError, BrokenPipeError):
                outcome = "reset"
            except socket.timeout:
                outcome = "timeout"
            except OSError:
                outcome = "reset"
            finally:
                s.close()
            self.counts.add("slow_reader", outcome)
            self.counts.add("slow_reader", "bytes_read", got)
            self.pause(1)

    def slowloris(self, worker):
        a = self.args
        while self.running():
            try:
                s = self.connect(a.port, 5.0)
            except OSError:
                self.counts.add("slowloris", "connect_failed")
                self.pause(1)
                continue
            outcome = None
            try:
                s.sendall(b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                end = time.monotonic() + a.slowloris_hold
                i = 0
                while self.running() and time.monotonic() < end:
                    self.pause(1)
                    # The server may have given up on us: a readable socket means an answer or EOF.
                    s.setblocking(False)
                    try:
                        peek = s.recv(1, socket.MSG_PEEK)
                        s.setblocking(True)
                        outcome = self.read_status(s, 2) if peek else "closed_by_server"
                        break
                    except BlockingIOError:
                        s.setblocking(True)
                    s.sendall(b"x-slow-%d: %d\r\n" % (i, i))
                    i += 1
                if outcome is None and not self.running():
                    outcome = "run_ended"  # the run ended before the hold did
                elif outcome is None:
                    s.sendall(b"\r\n")
                    outcome = "held_then_" + self.read_status(s, 10)
                else:
                    outcome = "cut_" + outcome
            except (ConnectionResetError, BrokenPipeError):
                outcome = "reset"
            except socket.timeout:
                outcome = "timeout"
            except OSError:
                outcome = "reset"
            finally:
                s.close()
            self.counts.add("slowloris", outcome)

    def conn_flood(self, worker):
        a = self.args
        while self.running():
            socks = []
            for _ in range(a.flood_conns):
                if not self.running():
                    break
                try:
                    socks.append(self.connect(a.port, 2.0))
                except OSError:
                    self.counts.add("conn_flood", "connect_failed")
            self.counts.add("conn_flood", "connected", len(socks))
            self.pause(a.flood_hold / 2)
            # Does the gateway still answer while it holds them?
            probe = self.exchange(a.port, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                  b"Connection: close\r\n\r\n", timeout=5)
            self.counts.add("conn_flood", "probe_" + probe)
            self.pause(a.flood_hold / 2)
            closed = 0
            for s in socks:
                s.setblocking(False)
                try:
                    if s.recv(1, socket.MSG_PEEK) == b"":
                        closed += 1
                except BlockingIOError:
                    pass
                except OSError:
                    closed += 1
                s.close()
            self.counts.add("conn_flood", "closed_by_server", closed)
            self.counts.add("conn_flood", "open_at_end", len(socks) - closed)
            self.pause(max(0.0, a.flood_period - a.flood_hold))

    def nested_json(self, worker):
        n = self.args.nested_depth
        m = json.dumps(self.args.model)
        bodies = [
            ("array", '{"model":' + m + ',"messages":' + "[" * n + "]" * n + "}"),
            ("object", '{"model":' + m + ',"prompt":' + '{"a":' * n + "1" + "}" * n + "}"),
        ]
        i = 0
        while self.running():
            name, body = bodies[i % len(bodies)]
            path = b"/v1/chat/completions" if name == "array" else b"/v1/completions"
            self.counts.add("nested_json", name + ":" + self.exchange(self.args.port,
                                                                      self.post(path, body)))
            i += 1
            self.pause(self.args.nested_period)

    def bad_utf8(self, worker):
        body = self.chat_body()
        bad = [b"\xff\xfe", b"\xc0\x80", b"\xed\xa0\x80", b"m\x80odel", b"\xf8\x88\x80\x80\x80"]
        i = 0
        while self.running():
            b = bad[i % len(bad)]
            variants = [
                ("rewrite", b"/v1/chat/completions", b"x-gateway-model-name-rewrite: " + b + b"\r\n"),
                ("objective", b"/v1/chat/completions",
                 b"x-gateway-inference-objective: " + b + b"\r\n"),
                ("path", b"/v1/chat/" + b, b""),
            ]
            for name, path, headers in variants:
                self.counts.add("bad_utf8", name + ":" + self.exchange(
                    self.args.port, self.post(path, body, headers)))
            i += 1
            self.pause(self.args.utf8_period)

    def oversized(self, worker):
        a = self.args
        big = a.max_body_bytes + (1 << 20)
        payload = b'{"model":"' + a.model.encode() + b'","prompt":"' + b"x" * big + b'"}'
        i = 0
        while self.running():
            variant = i % 3
            if variant == 0:
                out = self.exchange(a.port, self.post(b"/v1/completions", payload),
                                    timeout=20, chunk=1 << 16)
                self.counts.add("oversized", "full_body:" + out)
            elif variant == 1:
                req = (b"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                       b"Content-Type: application/json\r\nContent-Length: 1000000000000\r\n\r\n"
                       + b'{"model":"x","prompt":"' + b"y" * 1000)
                self.counts.add("oversized", "huge_length:" + self.exchange(a.port, req, 10))
            else:
                head = (b"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
                step = 1 << 20
                chunks = b"".join(b"%x\r\n" % len(payload[j:j + step]) + payload[j:j + step] +
                                  b"\r\n" for j in range(0, len(payload), step))
                out = self.exchange(a.port, head + chunks + b"0\r\n\r\n", timeout=20,
                                    chunk=1 << 16)
                self.counts.add("oversized", "chunked:" + out)
            i += 1
            self.pause(a.oversize_period)

    MALFORMED = [
        ("bad_chunk_size", b"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
         b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"),
        ("te_gzip", b"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
         b"Transfer-Encoding: gzip\r\n\r\n{}"),
        ("te_chunked_twice", b"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
         b"Transfer-Encoding: chunked, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"),
        ("te_and_length", b"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
         b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"),
        ("two_lengths", b"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
         b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}"),
        ("negative_length", b"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
         b"Content-Length: -1\r\n\r\n{}"),
        ("missing_host", b"POST /v1/completions HTTP/1.1\r\nContent-Type: application/json\r\n"
         b"Content-Length: 2\r\n\r\n{}"),
        ("no_version", b"GET /health\r\n\r\n"),
        ("bad_version", b"GET /health HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n"),
        ("bad_method", b"G\x01T /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
        ("header_no_colon", b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nnocolon\r\n\r\n"),
        ("space_before_colon", b"GET /health HTTP/1.1\r\nHost : 127.0.0.1\r\n\r\n"),
        ("bare_lf", b"GET /health HTTP/1.1\nHost: 127.0.0.1\n\n"),
        ("huge_header", b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nx-big: " + b"a" * 65536 +
         b"\r\n\r\n"),
        ("many_headers", b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
         b"".join(b"x-%d: 1\r\n" % i for i in range(2000)) + b"\r\n"),
        ("http2_preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
        ("absolute_uri_elsewhere", b"GET http://example.invalid/health HTTP/1.1\r\n"
         b"Host: example.invalid\r\n\r\n"),
    ]

    def malformed(self, worker):
        i = 0
        while self.running():
            name, req = self.MALFORMED[i % len(self.MALFORMED)]
            self.counts.add("malformed", name + ":" + self.exchange(self.args.port, req, 5))
            i += 1
            self.pause(self.args.malformed_period)

    def garbage(self, worker):
        while self.running():
            with self.rng_lock:
                n = self.rng.randint(1, 4096)
                data = bytes(self.rng.getrandbits(8) for _ in range(n))
            self.counts.add("garbage", self.exchange(self.args.port, data, 5))
            self.pause(self.args.garbage_period)

    def metrics(self, worker):
        a = self.args
        req = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        while self.running():
            self.counts.add("metrics", self.exchange(a.metrics_port, req, 5))
            self.pause(a.metrics_period)

    def fail_header(self, worker):
        while self.running():
            out = self.exchange(self.args.port, self.post(b"/v1/chat/completions",
                                                          self.chat_body(),
                                                          b"x-kgai-fail: 500\r\n"), 10)
            self.counts.add("fail_header", out)
            self.pause(self.args.fail_header_period)

    def prime(self):
        """Each one-shot abusive request twice, one after another, before the measured run: a
        first large body raises the allocator's high-water mark once (glibc keeps freed heap
        memory), and that step should be seen apart from growth over time."""
        a = self.args
        m = json.dumps(a.model)
        n = a.nested_depth
        payload = b'{"model":"m","prompt":"' + b"x" * (a.max_body_bytes + (1 << 20)) + b'"}'
        step = 1 << 20
        chunked = (b"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n" +
                   b"".join(b"%x\r\n" % len(payload[j:j + step]) + payload[j:j + step] + b"\r\n"
                            for j in range(0, len(payload), step)) + b"0\r\n\r\n")
        reqs = [("nested_array", self.post(b"/v1/chat/completions", '{"model":' + m +
                                           ',"messages":' + "[" * n + "]" * n + "}")),
                ("nested_object", self.post(b"/v1/completions", '{"model":' + m + ',"prompt":' +
                                            '{"a":' * n + "1" + "}" * n + "}")),
                ("oversized_full", self.post(b"/v1/completions", payload)),
                ("oversized_chunked", chunked)]
        reqs += [("malformed_" + name, req) for name, req in self.MALFORMED]
        for _ in range(2):
            for name, req in reqs:
                self.counts.add("prime", name + ":" + self.exchange(a.port, req, 20, chunk=1 << 16))
        self.write()

    # ---------------------------------------------------------------------------------------
    def run(self):
        workers = {"slow_reader": self.args.slow_readers, "slowloris": self.args.slowloris_conns}
        threads = []
        for kind in self.args.kinds:
            fn = getattr(self, kind)
            for w in range(workers.get(kind, 1)):
                t = threading.Thread(target=self.guard, args=(kind, fn, w), daemon=True)
                t.start()
                threads.append(t)
        while any(t.is_alive() for t in threads) and not self.stop.is_set():
            time.sleep(0.2)
            if time.monotonic() > self.deadline + 60:
                break  # a thread stuck past every timeout: report what we have
        self.stop.set()
        for t in threads:
            t.join(timeout=25)
        self.write()

    def guard(self, kind, fn, worker):
        try:
            fn(worker)
        except Exception as e:  # an abuser bug must not hide the others' counts
            self.counts.add(kind, "abuser_error:" + type(e).__name__)
            print(f"soak_abuse: {kind}: {e!r}", file=sys.stderr)

    def write(self):
        with open(self.args.out, "w") as f:
            json.dump(self.counts.snapshot(), f, indent=1, sort_keys=True)
            f.write("\n")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, required=True, help="the gateway's API port on 127.0.0.1")
    p.add_argument("--metrics-port", type=int, required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--duration", type=float, required=True)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", required=True)
    p.add_argument("--kinds", default=",".join(ALL_KINDS))
    p.add_argument("--max-body-bytes", type=int, default=16 << 20)
    p.add_argument("--slow-readers", type=int, default=4)
    p.add_argument("--slow-reader-tokens", type=int, default=2000)
    p.add_argument("--slow-reader-hold", type=float, default=20)
    p.add_argument("--slowloris-conns", type=int, default=20)
    p.add_argument("--slowloris-hold", type=float, default=45)
    p.add_argument("--flood-conns", type=int, default=300)
    p.add_argument("--flood-hold", type=float, default=10)
    p.add_argument("--flood-period", type=float, default=30)
    p.add_argument("--nested-depth", type=int, default=100_000)
    p.add_argument("--nested-period", type=float, default=3)
    p.add_argument("--utf8-period", type=float, default=1)
    p.add_argument("--oversize-period", type=float, default=5)
    p.add_argument("--malformed-period", type=float, default=0.3)
    p.add_argument("--garbage-period", type=float, default=0.3)
    p.add_argument("--metrics-period", type=float, default=0.1)
    p.add_argument("--fail-header-period", type=float, default=2)
    p.add_argument("--prime", action="store_true",
                   help="send each one-shot abusive request twice, then exit")
    args = p.parse_args()
    args.kinds = [k for k in args.kinds.split(",") if k]
    unknown = [k for k in args.kinds if k not in ALL_KINDS]
    if unknown:
        p.error(f"unknown kinds {unknown}; known: {','.join(ALL_KINDS)}")
    abuse = Abuse(args)
    signal.signal(signal.SIGTERM, lambda *_: abuse.stop.set())
    signal.signal(signal.SIGINT, lambda *_: abuse.stop.set())
    if args.prime:
        abuse.prime()
    else:
        abuse.run()


if __name__ == "__main__":
    main()
