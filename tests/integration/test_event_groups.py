#!/usr/bin/python3
"""Durable event delivery: consumer groups of the ZeroMQ broker
(events/broker.c, protocol in events/events.h), bucket notification
configurations (ingest/s3_notify.c) and webhook targets (events/webhook.c).

Everything is real: each test starts its own `roadstore server` with a
config file naming a free broker port and short timeouts, changes are made
with boto3, workers are pyzmq DEALER sockets speaking the wire protocol
(HELLO / ACK / NACK / PING / BYE; WELCOME / EVENT / ERROR) in their own
threads (or, for the crash test, in a separate process killed with
SIGKILL), and webhook receivers are http.server instances on free ports.
Events are identified by (key, eTag) of the change the client made, and
by their roadstore.seq.

Which behaviour each test covers:

  GroupDeliveryTest
    test_group_exactly_once_spread_and_per_key_order
        - 4 workers of one group (filter: bucket, prefix "in/",
          s3:ObjectCreated:*), every worker acking after a short delay:
          each matching event (40 distinct keys written by 4 threads, 8
          versions of one key written in order) is delivered exactly once
          (attempt 1, no duplicate seq), nothing that does not match
          (prefix, event name, other bucket) is delivered; more than one
          worker gets events; the versions of the one key arrive in commit
          (PUT) order with increasing seq, and two events of one key are
          never in flight at the same time; stats: delivered == acked ==
          matching events, redelivered 0, lag 0
    test_killed_worker_events_go_to_another
        - a worker process holds 10 events unacknowledged and is killed
          with SIGKILL (no BYE); a second worker gets nothing of them while
          the first one still counts as alive, then, after worker_timeout
          (3 s; ack_timeout is 30 s), all 10 with the same seq, eTag and
          attempt 2; events written after the kill arrive once each, with
          attempt 1 (sent to B) or 2 (sent round-robin to the dead A, which
          still counts as alive, then moved after the timeout); nothing
          lost; stats: delivered and redelivered exact, workers 1, lag 0
    test_broker_kill9_redelivers_unacked
        - two workers, 10 events acknowledged and 10 held (stats show
          acked 10, inflight 10) when the server is killed with SIGKILL;
          after the restart (same data dir, config, ports) the workers get
          ERROR "unknown worker: HELLO", say HELLO again and are WELCOMEd;
          all 10 unacknowledged events come again with the same seq and
          eTag, any acknowledged one that comes again is the same event,
          and the 10 events written after the restart arrive (seq above
          the old ones), each once; retention is 1 s, so the outbox pruning
          at start must spare what the group has not acknowledged
    test_ack_timeout_redelivers_then_dead_letters
        - an event held without ACK (the worker keeps pinging) comes again
          after ack_timeout (2 s) with attempt 2 and 3, then is
          dead-lettered (reason "max attempts"); acks of the abandoned
          deliveries change nothing; stats exact
    test_hello_refusals
        - ACK/PING before HELLO: ERROR "unknown worker: HELLO"; HELLO with
          no, empty, invalid, 65-character or "webhook."-prefixed group:
          ERROR "HELLO needs a valid group name"; a filter that is not a
          JSON object: ERROR "bad filter JSON"; none of them creates a
          group; a 64-character name is WELCOMEd; BYE drops the worker;
          BYE from an unknown worker gets no answer
    test_dead_letter_seq_with_long_group_name
        - 3 dead letters of a group with a 24-character name (the length
          of every webhook group's): 40 listings through the server (with
          and without --group) and 5 offline all give each one's seq
    test_nack_redelivery_then_dead_letter
        - a worker NACKs every delivery of one event: it comes with
          attempt 1, 2, 3 (max_attempts 3), never a 4th; then it is in
          `roadstore events dlq` (through the running server, via
          DATA/server.endpoint, and with --data on the stopped node: same
          list) with its seq, topic BUCKET/ObjectCreated:Put, group,
          attempts 3, reason, and the S3 message; the next version of the
          same key and other keys still arrive; stats counters exact
  GroupStatsTest
    test_tail_group_watches_without_taking
        - `roadstore events tail --group G` (a WATCH client of the broker)
          prints exactly the events routed to G (its worker's prefix
          filter) from when it started; with --backlog also the one G has
          not acknowledged; G's worker still gets all three and acks none
          (lag 4); --bucket of another bucket prints nothing (exit 3 on
          --timeout); an unknown group: exit 1, "no such group"; a backlog
          of 1,503 events (past ZeroMQ's 1,000-message high-water mark)
          comes whole, once each, in sequence order to a tail that stops
          reading for 3 s; on the wire a silent watcher gets 256 copies,
          then 64 more per SEEN 64
    test_stats_lag_and_metrics
        - `roadstore events stats`: lag 0, cursor == head, workers 1,
          inflight 0 after all acks; after the worker's BYE, 7 more PUTs:
          lag 7, workers 0, cursor unchanged; /_roadstore/metrics has
          roadstore_events_group_lag{group="..."} with the same values;
          offline stats (--data, stopped server) show the same cursor and
          lag; after a restart (retention 1 s: the pruning at start must
          spare them) the returning worker gets exactly those 7 and lag is
          0 again
  NotificationConfigTest
    test_queue_and_webhook_targets_with_filters
        - put/get_bucket_notification_configuration round trip (Queue
          arn:roadstore:zmq:::GROUP with prefix+suffix filter and
          s3:ObjectCreated:*, Topic arn:roadstore:webhook:::URL with
          s3:ObjectRemoved:* and a prefix); the group gets exactly the
          matching events, including those committed after the
          configuration was written but before any worker connected, and
          none from before it; the webhook gets exactly the matching
          deletes (POST to the URL's path, application/json,
          X-Roadstore-Topic)
    test_invalid_configurations
        - foreign ARN, malformed zmq group, non-HTTP webhook, unknown
          event name, two prefix rules, two suffix rules, an unknown
          filter rule name: 400 InvalidArgument each; the stored
          configuration is unchanged
    test_empty_configuration_removes_it
        - an empty NotificationConfiguration: GET answers an empty
          <NotificationConfiguration/> (boto3: no configurations) and the
          webhook gets nothing more
    test_removed_queue_target_gets_no_more_events
        - after the configuration naming a group is removed, a worker of
          that group gets none of the bucket's later events
    test_readded_webhook_gets_no_events_of_the_gap
        - configuration removed, a PUT, configuration written again: the
          webhook does not get the PUT made while there was none
    test_only_owner_may_configure
        - another user: put and get 403 AccessDenied, configuration
          unchanged
  WebhookTest
    test_webhook_down_then_up_and_across_restart
        - a webhook to a port with nothing listening, 20 PUTs/DELETEs,
          stats show failures and nothing delivered; the receiver starts:
          it gets the 20 in commit order with the right eventName, key,
          eTag, topic header, strictly increasing seq, nothing else;
          receiver down again, 3 changes, server restarted with SIGTERM,
          2 more changes, receiver up: exactly those 5, in order, none of
          the first 20 again (retention 1 s: the pruning at start must
          spare the webhook's events)
    test_webhook_refused_event_dead_lettered
        - a receiver answering 400 to one key: that event is POSTed
          exactly max_attempts (3) times, then dead-lettered (`roadstore
          events dlq`, with and without --group: group webhook.<FNV-1a of
          the URL>, topic, attempts, reason, the event with its seq; the
          listed seq is left to test_dead_letter_seq_with_long_group_name),
          and the following events still arrive in order; webhook stats:
          delivered 3, dead_lettered 1

Run by hand:
    ROADSTORE_BIN=build/roadstore /usr/bin/python3 tests/integration/test_event_groups.py -v
"""

import hashlib
import http.server
import json
import os
import queue
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest
import urllib.parse
import xml.etree.ElementTree as ET

import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rsharness as H  # noqa: E402

ZCTX = zmq.Context.instance()

MALLORY = ('mallory', 'RSEVGROUPSMALLORYKEY',
           'malloryEventGroupsSecret0123456789abcdef')


PING_EVERY = 0.3          # the protocol asks for at least every second


def md5_hex(b):
    return hashlib.md5(b).hexdigest()


def fnv1a64(s):
    h = 1469598103934665603
    for c in s.encode('utf-8'):
        h ^= c
        h = (h * 1099511628211) & 0xffffffffffffffff
    return h


def wait_for(pred, timeout, what, interval=0.05):
    """Poll pred() until it returns a true value; return it, or fail."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError('timed out after %ss waiting for %s' % (
                timeout, what))
        time.sleep(interval)


def events_config(broker_port, **kw):
    lines = ['[events]', 'broker = tcp://127.0.0.1:%d' % broker_port]
    lines += ['%s = %s' % kv for kv in kw.items()]
    return '\n'.join(lines) + '\n'


class Delivery:
    """One EVENT frame as a worker got it."""

    def __init__(self, worker, seq, attempt, topic, msg, order):
        self.worker = worker
        self.seq = seq
        self.attempt = attempt
        self.topic = topic
        self.msg = msg
        self.rec = msg['Records'][0]
        self.key = urllib.parse.unquote_plus(self.rec['s3']['object']['key'])
        self.bucket = self.rec['s3']['bucket']['name']
        self.name = self.rec['eventName']
        self.etag = self.rec['s3']['object'].get('eTag')
        self.objkey = self.bucket + '/' + self.key
        self.order = order          # global arrival order
        self.t = time.monotonic()

    def __repr__(self):
        return '<EVENT %d #%d %s %s %s w=%s>' % (
            self.seq, self.attempt, self.name, self.key, self.etag,
            self.worker)


class Tracker:
    """What every worker of a test got, in global arrival order, and which
    object keys are in flight (delivered, not yet acked/nacked)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.all = []
        self.inflight = {}          # objkey -> seq
        self.overlaps = []          # (objkey, seq in flight, seq arrived)
        self.n = 0

    def arrived(self, worker, seq, attempt, topic, msg):
        with self.lock:
            self.n += 1
            d = Delivery(worker, seq, attempt, topic, msg, self.n)
            if d.objkey in self.inflight:
                self.overlaps.append((d.objkey, self.inflight[d.objkey], seq))
            self.inflight[d.objkey] = seq
            self.all.append(d)
            return d

    def settled(self, d):
        with self.lock:
            if self.inflight.get(d.objkey) == d.seq:
                del self.inflight[d.objkey]

    def snapshot(self):
        with self.lock:
            return list(self.all)


def ack_all(d):
    return ('ack', 0)


class Worker:
    """A consumer-group worker: a pyzmq DEALER owned by its own thread,
    speaking events.h's protocol.  policy(delivery) says what to do with
    each event: ('ack', delay s), ('nack', delay s) or None (hold it).
    It pings every PING_EVERY s and says HELLO again when the broker
    answers ERROR "unknown worker" (once per rejoin)."""

    def __init__(self, endpoint, group, filt=None, credit=16, policy=ack_all,
                 tracker=None, name='w'):
        self.endpoint = endpoint
        self.group = group
        self.filter = '' if filt is None else json.dumps(filt)
        self.credit = credit
        self.policy = policy
        self.tracker = tracker or Tracker()
        self.name = name
        self.cmds = queue.Queue()
        self.lock = threading.Lock()
        self.deliveries = []
        self.errors = []
        self.welcomes = []
        self.unexpected = []
        self.acked = []
        self.nacked = []
        self.thread = threading.Thread(target=self._run, daemon=True,
                                       name='worker-' + name)
        self.thread.start()

    # -- the thread ------------------------------------------------------

    def _send(self, sock, frames):
        try:
            sock.send_multipart([f if isinstance(f, bytes) else
                                 str(f).encode() for f in frames],
                                flags=zmq.NOBLOCK)
        except zmq.Again:
            pass
        self._last_send = time.monotonic()

    def _hello(self, sock):
        self._joining = True
        self._send(sock, ['HELLO', self.group, self.filter, self.credit])

    def _settle(self, sock, kind, d):
        self.tracker.settled(d)     # before the broker can send the next
        self._send(sock, [kind.upper(), d.seq])
        with self.lock:
            (self.acked if kind == 'ack' else self.nacked).append(d.seq)

    def _run(self):
        sock = ZCTX.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(self.endpoint)
        self._hello(sock)
        pending = []                # (due, kind, delivery)
        mode = None
        while mode is None:
            while True:
                try:
                    cmd = self.cmds.get_nowait()
                except queue.Empty:
                    break
                if cmd[0] == 'stop':
                    mode = cmd[1]
                else:
                    pending.append((0, cmd[0], cmd[1]))
            if mode is not None:
                break
            now = time.monotonic()
            due = [p for p in pending if p[0] <= now]
            pending = [p for p in pending if p[0] > now]
            for _t, kind, d in due:
                self._settle(sock, kind, d)
            if now - self._last_send >= PING_EVERY:
                self._send(sock, ['PING'])
            if not sock.poll(10):
                continue
            while sock.poll(0):
                fr = sock.recv_multipart()
                what = fr[0].decode()
                if what == 'EVENT' and len(fr) == 5:
                    d = self.tracker.arrived(
                        self.name, int(fr[1]), int(fr[2]), fr[3].decode(),
                        json.loads(fr[4].decode('utf-8')))
                    with self.lock:
                        self.deliveries.append(d)
                    act = self.policy(d)
                    if act is not None:
                        pending.append((time.monotonic() + act[1], act[0], d))
                elif what == 'WELCOME' and len(fr) == 2:
                    self._joining = False
                    with self.lock:
                        self.welcomes.append(fr[1].decode())
                elif what == 'ERROR' and len(fr) == 2:
                    text = fr[1].decode()
                    with self.lock:
                        self.errors.append(text)
                    if 'unknown worker' in text and not self._joining:
                        self._hello(sock)
                else:
                    with self.lock:
                        self.unexpected.append(fr)
        if mode == 'bye':
            self._send(sock, ['BYE'])
            sock.close(linger=1000)
        else:                       # 'crash': gone without a word
            sock.close(linger=0)

    # -- the test's side ---------------------------------------------------

    def ack(self, d):
        self.cmds.put(('ack', d))

    def nack(self, d):
        self.cmds.put(('nack', d))

    def stop(self, mode='bye'):
        if self.thread.is_alive():
            self.cmds.put(('stop', mode))
            self.thread.join(10)

    def got(self):
        with self.lock:
            return list(self.deliveries)

    def wait_welcome(self, n=1, timeout=15):
        wait_for(lambda: len(self.welcomes) >= n, timeout,
                 'WELCOME #%d for worker %s' % (n, self.name))


# ---------------------------------------------------------------------------
# a worker in its own process (for SIGKILL)

def hold_worker_main(endpoint, group, filt, credit):
    """Join the group, print every EVENT as a JSON line, never ack; ping
    until killed (or 120 s, so nothing is left behind)."""
    sock = ZCTX.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    sock.send_multipart([b'HELLO', group.encode(), filt.encode(),
                         credit.encode()])
    last = time.monotonic()
    end = last + 120
    while time.monotonic() < end:
        if time.monotonic() - last >= PING_EVERY:
            sock.send_multipart([b'PING'])
            last = time.monotonic()
        if not sock.poll(20):
            continue
        fr = sock.recv_multipart()
        if fr[0] == b'EVENT':
            msg = json.loads(fr[4].decode())
            obj = msg['Records'][0]['s3']['object']
            line = {'what': 'EVENT', 'seq': int(fr[1]),
                    'attempt': int(fr[2]), 'topic': fr[3].decode(),
                    'key': urllib.parse.unquote_plus(obj['key']),
                    'eTag': obj.get('eTag')}
        else:
            line = {'what': fr[0].decode(),
                    'args': [f.decode() for f in fr[1:]]}
        sys.stdout.write(json.dumps(line) + '\n')
        sys.stdout.flush()


class ProcWorker:
    """hold_worker_main in a child process; its lines read by a thread."""

    def __init__(self, endpoint, group, filt, credit=100):
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), '--hold-worker',
             endpoint, group, json.dumps(filt), str(credit)],
            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        self.lines = []
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for ln in self.proc.stdout:
            with self.lock:
                self.lines.append(json.loads(ln))

    def events(self):
        with self.lock:
            return [x for x in self.lines if x['what'] == 'EVENT']

    def welcomed(self):
        with self.lock:
            return any(x['what'] == 'WELCOME' for x in self.lines)

    def kill9(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


# ---------------------------------------------------------------------------
# a webhook receiver

class Receiver:
    """An HTTP server on 127.0.0.1:port in a thread, recording every POST
    (path, headers, JSON body, the status it answered).  status_for(record)
    chooses the status (200 by default).  stop() also closes kept-alive
    connections, so the server's next POST finds nobody."""

    def __init__(self, port, status_for=None):
        self.port = port
        self.status_for = status_for or (lambda rec: 200)
        self.lock = threading.Lock()
        self.posts = []
        self.conns = set()
        self.httpd = None

    def start(self):
        rcv = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def setup(self):
                super().setup()
                with rcv.lock:
                    rcv.conns.add(self.connection)

            def finish(self):
                try:
                    super().finish()
                finally:
                    with rcv.lock:
                        rcv.conns.discard(self.connection)

            def do_POST(self):
                n = int(self.headers.get('Content-Length', '0'))
                body = self.rfile.read(n)
                try:
                    msg = json.loads(body.decode('utf-8'))
                    rec = msg['Records'][0]
                except (ValueError, KeyError, IndexError):
                    msg = rec = None
                status = rcv.status_for(rec) if rec else 400
                with rcv.lock:
                    rcv.posts.append({
                        'path': self.path, 'status': status,
                        'ctype': self.headers.get('Content-Type'),
                        'topic': self.headers.get('X-Roadstore-Topic'),
                        'msg': msg, 'rec': rec, 'raw': body})
                self.send_response(status)
                self.send_header('Content-Length', '0')
                self.end_headers()

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', self.port),
                                                     Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True,
                         kwargs={'poll_interval': 0.05}).start()
        return self

    def stop(self):
        if not self.httpd:
            return
        self.httpd.shutdown()
        self.httpd.server_close()
        with self.lock:
            for c in list(self.conns):
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        self.httpd = None

    def got(self, status=None):
        with self.lock:
            return [p for p in self.posts
                    if status is None or p['status'] == status]


def rec_summary(rec):
    return (rec['eventName'],
            urllib.parse.unquote_plus(rec['s3']['object']['key']))


# ---------------------------------------------------------------------------
# test base

_n = [0]


class EventCase(unittest.TestCase):
    """Servers, workers, receivers and processes made by a test are
    cleaned up after it; the servers must have exited cleanly."""

    def setUp(self):
        self.servers = []
        self.workers = []
        self.receivers = []
        self.procs = []

    def tearDown(self):
        for w in self.workers:
            w.stop('crash')
        for p in self.procs:
            p.kill9()
        for r in self.receivers:
            r.stop()
        for s in self.servers:
            if s.running:
                s.stop()
        for s in self.servers:
            s.check()

    def start_server(self, users=(), **events):
        port = H.free_port()
        srv = H.Server(name=self._testMethodName[5:25],
                       config=events_config(port, **events))
        srv.broker = 'tcp://127.0.0.1:%d' % port
        self.servers.append(srv)
        srv.start()
        if users:
            srv.stop()
            for name, ak, sk in users:
                srv.create_user(name, ak, sk)
            srv.start()
        return srv

    def worker(self, srv, group, filt=None, **kw):
        w = Worker(srv.broker, group, filt, **kw)
        self.workers.append(w)
        return w

    def receiver(self, port, **kw):
        r = Receiver(port, **kw)
        self.receivers.append(r)
        return r

    def bucket(self, s3, tag):
        _n[0] += 1
        name = 'rs-%s-%d-%d' % (tag, os.getpid() % 10000, _n[0])
        s3.create_bucket(Bucket=name)
        return name

    # -- the CLI -----------------------------------------------------------

    def events_cli(self, srv, *args):
        """`roadstore events ARGS...` with --data (and --config) before the
        command's own options: reaches the running server through
        DATA/server.endpoint, else reads the stopped node."""
        sub, rest = args[0], list(args[1:])
        cmd = [srv.bin, 'events', sub, '--data', srv.data] + \
            srv._config_args() + [str(a) for a in rest]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                           env=srv._env(), cwd=srv.root,
                           stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, 0, '%s: exit %d\n%s%s' % (
            ' '.join(cmd), r.returncode, r.stdout, r.stderr))
        return json.loads(r.stdout)

    def stats(self, srv):
        return self.events_cli(srv, 'stats')

    def group_stats(self, srv, group):
        gs = [g for g in self.stats(srv)['groups'] if g['group'] == group]
        self.assertEqual(len(gs), 1, 'group %s in stats' % group)
        return gs[0]

    def wait_group(self, srv, group, timeout=20, **want):
        """Wait until the group's stats have these values; return them."""
        last = [None]

        def ok():
            g = self.group_stats(srv, group)
            last[0] = g
            return g if all(g.get(k) == v for k, v in want.items()) else None
        try:
            return wait_for(ok, timeout, 'group %s stats %r' % (group, want),
                            interval=0.2)
        except AssertionError as e:
            raise AssertionError('%s; last stats %r' % (e, last[0]))

    def metric(self, srv, name, labels):
        r = srv.http_get('/_roadstore/metrics')
        self.assertEqual(r.status, 200)
        pat = re.compile(r'^%s%s (\S+)$' % (re.escape(name),
                                             re.escape(labels)), re.M)
        m = pat.findall(r.body.decode())
        self.assertEqual(len(m), 1, '%s%s in metrics:\n%s' % (
            name, labels, r.body.decode()[:3000]))
        return float(m[0])

    def put(self, s3, bucket, key, body):
        r = s3.put_object(Bucket=bucket, Key=key, Body=body)
        self.assertEqual(r['ETag'], '"%s"' % md5_hex(body))
        return md5_hex(body)


# ---------------------------------------------------------------------------
# consumer groups

class GroupDeliveryTest(EventCase):
    maxDiff = None

    def test_group_exactly_once_spread_and_per_key_order(self):
        srv = self.start_server(ack_timeout=20, worker_timeout=5)
        s3 = srv.client()
        b = self.bucket(s3, 'fanout')
        other = self.bucket(s3, 'fanout-other')
        tracker = Tracker()
        filt = {'bucket': b, 'prefix': 'in/', 'events': ['s3:ObjectCreated:*']}
        workers = []
        for i in range(4):
            rnd = random.Random(i)
            workers.append(self.worker(
                srv, 'fanout', filt, credit=4, tracker=tracker,
                name='w%d' % i,
                policy=lambda d, rnd=rnd: ('ack', rnd.uniform(0.01, 0.06))))
        for w in workers:
            w.wait_welcome()
        self.assertEqual([w.welcomes for w in workers], [['fanout']] * 4)

        expected = []                       # (key, eTag) of matching events
        lock = threading.Lock()
        same_versions = []                  # eTags of in/same, PUT order

        def distinct(t):
            for i in range(10):
                key = 'in/k%d-%02d' % (t, i)
                body = ('distinct %s' % key).encode()
                e = self.put(s3, b, key, body)
                with lock:
                    expected.append((key, e))
                self.put(s3, b, 'out/k%d-%02d' % (t, i), body)  # prefix
                if i % 4 == 0:
                    s3.delete_object(Bucket=b, Key=key)      # event name
                    self.put(s3, other, key, body)           # bucket

        def same():
            for v in range(8):
                e = self.put(s3, b, 'in/same', ('version %d' % v).encode())
                with lock:
                    expected.append(('in/same', e))
                    same_versions.append(e)

        threads = [threading.Thread(target=distinct, args=(t,))
                   for t in range(4)] + [threading.Thread(target=same)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(len(expected), 48)

        wait_for(lambda: len(tracker.snapshot()) >= len(expected), 30,
                 '%d deliveries' % len(expected))
        g = self.wait_group(srv, 'fanout', acked=len(expected), inflight=0,
                            lag=0)
        time.sleep(1.5)                     # anything extra would come now
        got = tracker.snapshot()
        self.assertEqual(sorted((d.key, d.etag) for d in got),
                         sorted(expected))
        self.assertEqual(len({d.seq for d in got}), len(got))
        self.assertEqual([d.attempt for d in got], [1] * len(got))
        self.assertEqual({d.bucket for d in got}, {b})
        self.assertEqual({d.topic for d in got}, {b + '/ObjectCreated:Put'})
        self.assertEqual({d.name for d in got}, {'ObjectCreated:Put'})
        for d in got:
            self.assertEqual(d.rec['roadstore']['seq'], d.seq)
            sq = d.rec['s3']['object']['sequencer']
            self.assertEqual((len(sq), int(sq, 16)), (16, d.seq))
        per_worker = {w.name: len(w.got()) for w in workers}
        self.assertGreater(sum(1 for n in per_worker.values() if n), 1,
                           'events spread over workers: %r' % per_worker)
        self.assertEqual(sum(per_worker.values()), len(expected))
        # one key: commit order, one at a time
        same_got = [d for d in got if d.key == 'in/same']
        self.assertEqual([d.etag for d in same_got], same_versions)
        seqs = [d.seq for d in same_got]
        self.assertEqual(seqs, sorted(seqs))
        self.assertEqual(tracker.overlaps, [],
                         'two events of one key in flight at once')
        self.assertEqual((g['delivered'], g['acked'], g['redelivered'],
                          g['dead_lettered'], g['workers']),
                         (len(expected), len(expected), 0, 0, 4))
        for w in workers:
            self.assertEqual((w.errors, w.unexpected), ([], []))

    def test_killed_worker_events_go_to_another(self):
        srv = self.start_server(ack_timeout=30, worker_timeout=3)
        s3 = srv.client()
        b = self.bucket(s3, 'crash')
        filt = {'bucket': b}
        a = ProcWorker(srv.broker, 'crashg', filt, credit=100)
        self.procs.append(a)
        wait_for(a.welcomed, 15, 'WELCOME for the worker process')
        held = {}
        for i in range(10):
            key = 'c%02d' % i
            held[key] = self.put(s3, b, key, ('held %d' % i).encode())
        wait_for(lambda: len(a.events()) >= 10, 15, '10 events at worker A')
        a_events = {e['key']: e for e in a.events()}
        self.assertEqual({k: (e['eTag'], e['attempt'])
                          for k, e in a_events.items()},
                         {k: (v, 1) for k, v in held.items()})
        bw = self.worker(srv, 'crashg', filt, credit=100, name='B')
        bw.wait_welcome()
        time.sleep(0.8)
        self.assertEqual(bw.got(), [], 'B got events still in flight at A')
        self.wait_group(srv, 'crashg', workers=2, inflight=10)

        t_kill = time.monotonic()
        a.kill9()
        after = {}
        for i in range(5):
            key = 'd%02d' % i
            after[key] = self.put(s3, b, key, ('after %d' % i).encode())
        wait_for(lambda: len(bw.got()) >= 15, 20, '15 events at worker B')
        time.sleep(1.0)
        got = bw.got()
        # events written after the kill went round-robin to B (attempt 1)
        # or to A, which the broker still took for alive (then to B with
        # attempt 2 once A timed out)
        moved = {d.key for d in got if d.key in after and d.attempt == 2}
        self.assertEqual(sorted((d.key, d.etag, d.attempt) for d in got),
                         sorted([(k, e, 2) for k, e in held.items()] +
                                [(k, e, 2 if k in moved else 1)
                                 for k, e in after.items()]))
        for d in got:
            if d.key in held:
                self.assertEqual(d.seq, a_events[d.key]['seq'])
            if d.attempt == 2:
                # the worker timeout (3 s) moved it, not the ack timeout
                # (30 s); A pinged at most PING_EVERY before the kill
                self.assertGreaterEqual(d.t - t_kill, 3 - PING_EVERY - 0.5,
                                        d)
                self.assertLess(d.t - t_kill, 15, d)
            else:
                self.assertLess(d.t - t_kill, 2.5,
                                'event %r waited for A' % d)
        g = self.wait_group(srv, 'crashg', lag=0, inflight=0, acked=15)
        self.assertEqual((g['workers'], g['delivered'], g['redelivered'],
                          g['dead_lettered']),
                         (1, 25 + len(moved), 10 + len(moved), 0))
        self.assertEqual((bw.errors, bw.unexpected), ([], []))

    def test_broker_kill9_redelivers_unacked(self):
        srv = self.start_server(ack_timeout=30, worker_timeout=5,
                                retention=1)
        s3 = srv.client()
        b = self.bucket(s3, 'brokerkill')
        tracker = Tracker()
        state = {'phase': 'before'}

        def policy(d):
            if state['phase'] == 'after' or d.key.startswith('a-'):
                return ('ack', 0)
            return None                     # h-: hold

        filt = {'bucket': b}
        ws = [self.worker(srv, 'restartg', filt, credit=50, policy=policy,
                          tracker=tracker, name='w%d' % i) for i in range(2)]
        for w in ws:
            w.wait_welcome()
        before = {}
        for i in range(10):
            for p in ('a', 'h'):
                key = '%s-%02d' % (p, i)
                before[key] = self.put(s3, b, key, ('%s v1' % key).encode())
        wait_for(lambda: len(tracker.snapshot()) >= 20, 15, '20 deliveries')
        self.wait_group(srv, 'restartg', acked=10, inflight=10)
        pre = tracker.snapshot()
        self.assertEqual(sorted((d.key, d.etag) for d in pre),
                         sorted(before.items()))
        seq_of = {d.key: d.seq for d in pre}
        max_pre = max(seq_of.values())

        srv.kill9()
        n_pre = len(pre)
        state['phase'] = 'after'
        srv.start()
        for w in ws:
            w.wait_welcome(2, timeout=20)
        newer = {}
        for i in range(10):
            key = 'n-%02d' % i
            newer[key] = self.put(s3, b, key, ('%s v1' % key).encode())

        def post_restart():
            return tracker.snapshot()[n_pre:]

        want_keys = {k for k in before if k.startswith('h-')} | set(newer)
        wait_for(lambda: want_keys <= {d.key for d in post_restart()}, 30,
                 'the unacked and the new events after the restart')
        self.wait_group(srv, 'restartg', lag=0, inflight=0)
        time.sleep(1.0)
        post = post_restart()
        for d in post:
            if d.key in before:
                # the same event again (unacked: must; acked: may)
                self.assertEqual((d.seq, d.etag),
                                 (seq_of[d.key], before[d.key]), d)
            else:
                self.assertIn(d.key, newer)
                self.assertEqual(d.etag, newer[d.key])
                self.assertGreater(d.seq, max_pre)
        self.assertEqual(sorted({(d.key, d.etag) for d in post
                                 if d.key in want_keys}),
                         sorted([(k, before[k]) for k in before
                                 if k.startswith('h-')] +
                                list(newer.items())))
        self.assertEqual(len([d for d in post if d.key in newer]),
                         len(newer), 'new events delivered more than once')
        errors = [e for w in ws for e in w.errors]
        self.assertIn('unknown worker: HELLO', errors)
        self.assertEqual(set(errors), {'unknown worker: HELLO'})
        for w in ws:
            self.assertEqual(w.welcomes, ['restartg', 'restartg'])
            self.assertEqual(w.unexpected, [])

    def test_ack_timeout_redelivers_then_dead_letters(self):
        srv = self.start_server(ack_timeout=2, worker_timeout=10,
                                max_attempts=3)
        s3 = srv.client()
        b = self.bucket(s3, 'slow')
        w = self.worker(srv, 'slowg', {'bucket': b}, policy=lambda d: (
            None if d.key == 'slow' else ('ack', 0)))
        w.wait_welcome()
        e_slow = self.put(s3, b, 'slow', b'never acked in time')
        e_fast = self.put(s3, b, 'fast', b'acked at once')
        wait_for(lambda: len(w.got()) >= 4, 15, '4 deliveries')
        dl = wait_for(lambda: self.events_cli(srv, 'dlq', '--group', 'slowg'),
                      10, 'the dead letter', interval=0.3)
        time.sleep(2.5)                     # no 4th attempt
        got = w.got()
        slow = [d for d in got if d.key == 'slow']
        self.assertEqual([(d.etag, d.attempt) for d in slow],
                         [(e_slow, 1), (e_slow, 2), (e_slow, 3)])
        self.assertEqual(len({d.seq for d in slow}), 1)
        for x, y in zip(slow, slow[1:]):
            self.assertGreaterEqual(y.t - x.t, 1.8)
            self.assertLess(y.t - x.t, 4.0)
        self.assertEqual([(d.key, d.etag, d.attempt) for d in got
                          if d.key != 'slow'], [('fast', e_fast, 1)])
        self.assertEqual([(x['group'], x['seq'], x['attempts'],
                           x['reason'], x['topic']) for x in dl],
                         [('slowg', slow[0].seq, 3, 'max attempts',
                           b + '/ObjectCreated:Put')])
        # acks of the abandoned deliveries change nothing
        for d in slow:
            w.ack(d)
        time.sleep(0.5)
        g = self.wait_group(srv, 'slowg', lag=0, inflight=0)
        self.assertEqual((g['delivered'], g['acked'], g['redelivered'],
                          g['dead_lettered']), (4, 1, 2, 1))
        self.assertEqual((w.errors, w.unexpected), ([], []))

    def test_hello_refusals(self):
        srv = self.start_server()
        sock = ZCTX.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVTIMEO, 5000)
        sock.connect(srv.broker)
        try:
            def ask(*frames):
                sock.send_multipart([f.encode() for f in frames])
                return [f.decode() for f in sock.recv_multipart()]

            bad_name = ['ERROR', 'HELLO needs a valid group name']
            self.assertEqual(ask('ACK', '1'),
                             ['ERROR', 'unknown worker: HELLO'])
            self.assertEqual(ask('PING'), ['ERROR', 'unknown worker: HELLO'])
            self.assertEqual(ask('HELLO'), bad_name)
            self.assertEqual(ask('HELLO', '', '', '4'), bad_name)
            self.assertEqual(ask('HELLO', 'has space', '', '4'), bad_name)
            self.assertEqual(ask('HELLO', 'x' * 65, '', '4'), bad_name)
            self.assertEqual(ask('HELLO', 'webhook.0123', '', '4'), bad_name)
            self.assertEqual(ask('HELLO', 'okgroup', '{not json', '4'),
                             ['ERROR', 'bad filter JSON'])
            self.assertEqual(ask('HELLO', 'okgroup', '["a"]', '4'),
                             ['ERROR', 'bad filter JSON'])
            self.assertEqual(self.stats(srv)['groups'], [])
            self.assertEqual(ask('HELLO', 'x' * 64, '', '4'),
                             ['WELCOME', 'x' * 64])
            self.assertEqual([g['group'] for g in self.stats(srv)['groups']],
                             ['x' * 64])
            sock.send_multipart([b'BYE'])
            self.wait_group(srv, 'x' * 64, workers=0)
            # BYE from a worker the broker does not know: no answer
            sock.send_multipart([b'BYE'])
            self.assertEqual(sock.poll(500), 0)
        finally:
            sock.close(linger=0)

    def test_nack_redelivery_then_dead_letter(self):
        srv = self.start_server(ack_timeout=30, worker_timeout=5,
                                max_attempts=3)
        s3 = srv.client()
        b = self.bucket(s3, 'nack')
        bad_v1 = b'bad version 1'

        def policy(d):
            return ('nack', 0) if d.etag == md5_hex(bad_v1) else ('ack', 0)

        w = self.worker(srv, 'nackers', {'bucket': b}, policy=policy)
        w.wait_welcome()
        self.put(s3, b, 'bad', bad_v1)
        self.put(s3, b, 'good-1', b'good 1')
        self.put(s3, b, 'bad', b'bad version 2')
        self.put(s3, b, 'good-2', b'good 2')
        wait_for(lambda: len(w.got()) >= 6, 20, '6 deliveries')
        g = self.wait_group(srv, 'nackers', lag=0, inflight=0)
        time.sleep(1.0)
        got = w.got()
        bad1 = [d for d in got if d.etag == md5_hex(bad_v1)]
        self.assertEqual([d.attempt for d in bad1], [1, 2, 3])
        self.assertEqual(len({d.seq for d in bad1}), 1)
        bad_seq = bad1[0].seq
        others = [(d.key, d.etag, d.attempt) for d in got
                  if d.etag != md5_hex(bad_v1)]
        self.assertEqual(sorted(others),
                         sorted([('good-1', md5_hex(b'good 1'), 1),
                                 ('bad', md5_hex(b'bad version 2'), 1),
                                 ('good-2', md5_hex(b'good 2'), 1)]))
        # the key's next event waited for the dead letter
        bad2 = [d for d in got if d.etag == md5_hex(b'bad version 2')][0]
        self.assertGreater(bad2.order, bad1[-1].order)
        self.assertEqual(sorted(w.nacked), [bad_seq] * 3)
        g = self.group_stats(srv, 'nackers')
        self.assertEqual((g['delivered'], g['acked'], g['redelivered'],
                          g['dead_lettered']), (6, 3, 2, 1))
        self.assertEqual(self.metric(
            srv, 'roadstore_events_group_dead_lettered_total',
            '{group="nackers"}'), 1)

        online = self.events_cli(srv, 'dlq', '--group', 'nackers')
        self.assertEqual(len(online), 1, online)
        dl = online[0]
        self.assertEqual((dl['group'], dl['seq'], dl['topic'],
                          dl['attempts'], dl['reason']),
                         ('nackers', bad_seq, b + '/ObjectCreated:Put', 3,
                          'max attempts'))
        ev = json.loads(dl['event'])
        self.assertEqual(ev, bad1[0].msg)
        self.assertEqual(self.events_cli(srv, 'dlq'), online)
        srv.stop()
        self.assertEqual(self.events_cli(srv, 'dlq', '--group', 'nackers'),
                         online)
        self.assertEqual(self.events_cli(srv, 'dlq'), online)
        self.assertEqual(self.events_cli(srv, 'dlq', '--group', 'nobody'), [])
        self.assertEqual(w.errors, [])


    def test_dead_letter_seq_with_long_group_name(self):
        # D/<group>/<16 hex> is 43 bytes for a 24-character group (every
        # webhook group: "webhook." + 16 hex digits)
        srv = self.start_server(ack_timeout=30, worker_timeout=5,
                                max_attempts=2)
        s3 = srv.client()
        b = self.bucket(s3, 'longdlq')
        group = 'deadbeef' + '0123456789abcdef'
        self.assertEqual(len(group), 24)
        w = self.worker(srv, group, {'bucket': b},
                        policy=lambda d: ('nack', 0))
        w.wait_welcome()
        for i in range(3):
            self.put(s3, b, 'k%d' % i, b'%d' % i)
        wait_for(lambda: len(w.got()) >= 6, 15, '6 deliveries')
        self.wait_group(srv, group, lag=0, dead_lettered=3)
        seqs = sorted({d.seq for d in w.got()})
        want = [(group, q, q) for q in seqs]
        listings = []
        for i in range(20):
            for args in (('dlq', '--group', group), ('dlq',)):
                listings.append([(x['group'], x['seq'],
                                  json.loads(x['event'])['Records'][0]
                                  ['roadstore']['seq'])
                                 for x in self.events_cli(srv, *args)])
        srv.stop()
        for i in range(5):
            listings.append([(x['group'], x['seq'],
                              json.loads(x['event'])['Records'][0]
                              ['roadstore']['seq'])
                             for x in self.events_cli(srv, 'dlq', '--group',
                                                      group)])
        bad = [x for x in listings if x != want]
        self.assertEqual(bad, [], '%d of %d listings wrong' % (
            len(bad), len(listings)))


class GroupStatsTest(EventCase):

    def group_delete(self, srv, name):
        cmd = [srv.bin, 'events', 'group', 'delete', name, '--data',
               srv.data] + srv._config_args()
        return subprocess.run(cmd, capture_output=True, text=True,
                              timeout=60, env=srv._env(), cwd=srv.root,
                              stdin=subprocess.DEVNULL)

    def test_group_delete(self):
        # A group nobody consumes any more is removed with `roadstore events
        # group delete`: its worker is told, it leaves stats, and it stays
        # gone across a restart; one a notification configuration targets
        # is refused (409) until the configuration goes.
        srv = self.start_server(ack_timeout=10, worker_timeout=5)
        s3 = srv.client()
        b = self.bucket(s3, 'gdel')
        w = self.worker(srv, 'old-group', None)
        w.wait_welcome()
        self.put(s3, b, 'k1', b'1')
        wait_for(lambda: len(w.got()) >= 1, 15, 'a delivery')
        r = self.group_delete(srv, 'old-group')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout), {'removed': 'old-group'})
        wait_for(lambda: any(e == 'group deleted' for e in w.errors), 10,
                 'the worker told')
        # its pings are answered "group deleted" too, never "unknown
        # worker" (which would make it HELLO the group back)
        time.sleep(1.0)
        self.assertNotIn('old-group',
                         [g['group'] for g in self.stats(srv)['groups']])
        self.assertEqual(len(w.welcomes), 1)
        w.stop('crash')             # the process gives up, as told
        self.assertNotIn('old-group',
                         [g['group'] for g in self.stats(srv)['groups']])
        r = self.group_delete(srv, 'old-group')
        self.assertEqual(r.returncode, 1)
        self.assertIn('404', r.stderr)
        s3.put_bucket_notification_configuration(
            Bucket=b, NotificationConfiguration={'QueueConfigurations': [
                queue_conf('configured', ['s3:ObjectCreated:*'])]})
        wait_for(lambda: 'configured' in
                 [g['group'] for g in self.stats(srv)['groups']], 10,
                 'the configured group')
        r = self.group_delete(srv, 'configured')
        self.assertEqual(r.returncode, 1)
        self.assertIn('409', r.stderr)
        srv.stop()
        srv.start()
        self.assertNotIn('old-group',
                         [g['group'] for g in self.stats(srv)['groups']])
        # offline, on the stopped node
        srv.stop()
        r = self.group_delete(srv, 'configured')
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_tail_group_watches_without_taking(self):
        # `roadstore events tail --group G` prints what the broker routes
        # to G (its workers' filter) as JSON lines while G's workers still
        # get every event; --backlog starts at G's cursor, so it also shows
        # what G has not acknowledged; --bucket narrows it; an unknown
        # group is an error.
        srv = self.start_server(ack_timeout=30, worker_timeout=5)
        s3 = srv.client()
        b = self.bucket(s3, 'tailg')
        w = self.worker(srv, 'tailed', {'prefix': 'cam/'},
                        policy=lambda d: None)      # holds: nothing acked
        w.wait_welcome()
        self.put(s3, b, 'cam/early', b'e')          # before the tail
        wait_for(lambda: len(w.got()) >= 1, 15, 'the first delivery')
        base = [srv.bin, 'events', 'tail', '--data', srv.data] + \
            srv._config_args() + ['--endpoint', srv.broker, '--group',
                                  'tailed', '--timeout', '20']
        live = subprocess.Popen(base + ['--count', '2'],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=srv._env(), cwd=srv.root)
        back = subprocess.Popen(base + ['--backlog', '--count', '3'],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=srv._env(), cwd=srv.root)
        self.addCleanup(live.kill)
        self.addCleanup(back.kill)
        time.sleep(1.5)                             # both watching
        self.put(s3, b, 'other/x', b'not for the group')
        self.put(s3, b, 'cam/1', b'one')
        self.put(s3, b, 'cam/2', b'two')
        out_live, err_live = live.communicate(timeout=30)
        out_back, err_back = back.communicate(timeout=30)
        self.assertEqual(live.returncode, 0, err_live)
        self.assertEqual(back.returncode, 0, err_back)

        def keys(out):
            recs = [json.loads(ln)['Records'][0] for ln in out.splitlines()]
            for r in recs:
                self.assertEqual(r['eventName'], 'ObjectCreated:Put')
                self.assertEqual(r['s3']['bucket']['name'], b)
            return [r['s3']['object']['key'] for r in recs]
        self.assertEqual(keys(out_live), ['cam/1', 'cam/2'])
        self.assertEqual(keys(out_back), ['cam/early', 'cam/1', 'cam/2'])
        # the group's worker got them all (the tails took nothing)
        wait_for(lambda: len(w.got()) >= 3, 15, 'three deliveries')
        self.assertEqual(sorted(d.msg['Records'][0]['s3']['object']['key']
                                for d in w.got()),
                         ['cam/1', 'cam/2', 'cam/early'])
        # nothing acked: the cursor is still below cam/early, so all four
        # events committed since count in the lag
        g = self.group_stats(srv, 'tailed')
        self.assertEqual((g['acked'], g['lag']), (0, 4))
        # --bucket: another bucket's events are not printed
        r = subprocess.run(base[:-1] + ['3', '--bucket', 'no-such-bucket',
                                        '--backlog'],
                           capture_output=True, text=True, env=srv._env(),
                           cwd=srv.root, timeout=30)
        self.assertEqual((r.returncode, r.stdout), (3, ''), r.stderr)
        r = subprocess.run([srv.bin, 'events', 'tail', '--endpoint',
                            srv.broker, '--group', 'nobody', '--timeout', '10'],
                           capture_output=True, text=True, env=srv._env(),
                           cwd=srv.root, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn('no such group', r.stderr)
        # a backlog larger than ZeroMQ's send high-water mark (1,000) comes
        # whole and in order: the broker sends at most 256 unreported
        # copies ahead (SEEN flow control)
        keys = ['cam/bulk-%04d' % i for i in range(1500)]
        errs = []

        def put_range(ks):
            c = srv.client()
            for k in ks:
                try:
                    c.put_object(Bucket=b, Key=k, Body=b'x')
                except Exception as e:      # noqa: BLE001
                    errs.append(e)
        th = [threading.Thread(target=put_range, args=(keys[i::8],))
              for i in range(8)]
        for t in th:
            t.start()
        for t in th:
            t.join()
        self.assertEqual(errs, [])
        # a slow reader: nothing is read for 3 s, so the tail blocks on its
        # full stdout pipe and stops reading its socket meanwhile
        slow = subprocess.Popen(base + ['--backlog', '--count', '1503'],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=srv._env(), cwd=srv.root)
        self.addCleanup(slow.kill)
        time.sleep(3)
        out, err = slow.communicate(timeout=120)
        self.assertEqual(slow.returncode, 0, err)
        recs = [json.loads(ln)['Records'][0] for ln in out.splitlines()]
        got = [x['s3']['object']['key'] for x in recs]
        self.assertEqual(len(got), 1503)
        self.assertEqual(got[:3], ['cam/early', 'cam/1', 'cam/2'])
        self.assertEqual(sorted(got[3:]), keys)
        seqs = [int(x['roadstore']['seq']) for x in recs]
        self.assertEqual(seqs, sorted(seqs))
        self.assertEqual(len(set(seqs)), 1503)
        # the flow control itself, on the wire: a watcher that reports
        # nothing gets 256 copies, and 64 more for each SEEN 64
        sock = zmq.Context.instance().socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(srv.broker)
        self.addCleanup(sock.close)
        sock.send_multipart([b'WATCH', b'tailed', b'backlog'])

        def drain(quiet=1.5):
            n, last = 0, time.monotonic()
            while time.monotonic() - last < quiet:
                if sock.poll(100):
                    f = sock.recv_multipart()
                    if f[0] == b'COPY':
                        n += 1
                    last = time.monotonic()
                sock.send_multipart([b'PING'])
            return n
        self.assertEqual(drain(), 256)
        sock.send_multipart([b'SEEN', b'64'])
        self.assertEqual(drain(), 64)
        sock.send_multipart([b'SEEN', b'10000'])
        self.assertEqual(drain(), 256)
        sock.send_multipart([b'BYE'])

    def test_stats_lag_and_metrics(self):
        srv = self.start_server(ack_timeout=10, worker_timeout=3,
                                retention=1)
        s3 = srv.client()
        b = self.bucket(s3, 'stats')
        w = self.worker(srv, 'statg', {'bucket': b})
        w.wait_welcome()
        for i in range(10):
            self.put(s3, b, 'k%02d' % i, b'x%d' % i)
        wait_for(lambda: len(w.got()) >= 10, 15, '10 deliveries')
        g = self.wait_group(srv, 'statg', lag=0, acked=10, inflight=0)
        head = self.stats(srv)['head']
        self.assertEqual((g['cursor'], g['workers'], g['delivered'],
                          g['redelivered'], g['dead_lettered']),
                         (head, 1, 10, 0, 0))
        self.assertEqual(self.metric(srv, 'roadstore_events_group_lag',
                                     '{group="statg"}'), 0)

        w.stop('bye')
        self.wait_group(srv, 'statg', workers=0)
        for i in range(7):
            self.put(s3, b, 'absent%02d' % i, b'y%d' % i)
        st = self.stats(srv)
        self.assertEqual(st['head'], head + 7)
        g = [x for x in st['groups'] if x['group'] == 'statg'][0]
        self.assertEqual((g['lag'], g['cursor'], g['workers'],
                          g['inflight']), (7, head, 0, 0))
        self.assertEqual(self.metric(srv, 'roadstore_events_group_lag',
                                     '{group="statg"}'), 7)
        time.sleep(0.5)
        self.assertEqual(self.group_stats(srv, 'statg')['lag'], 7)

        srv.stop()
        off = self.stats(srv)
        self.assertEqual(off['head'], head + 7)
        og = [x for x in off['groups'] if x['group'] == 'statg']
        self.assertEqual(len(og), 1, off)
        self.assertEqual((og[0]['cursor'], og[0]['lag']), (head, 7))

        srv.start()
        w2 = self.worker(srv, 'statg', None)   # keeps the stored filter
        w2.wait_welcome()
        wait_for(lambda: len(w2.got()) >= 7, 15, '7 deliveries')
        self.wait_group(srv, 'statg', lag=0, inflight=0, acked=7)
        time.sleep(1.0)
        self.assertEqual(sorted(d.key for d in w2.got()),
                         ['absent%02d' % i for i in range(7)])
        self.assertEqual(self.metric(srv, 'roadstore_events_group_lag',
                                     '{group="statg"}'), 0)


# ---------------------------------------------------------------------------
# bucket notification configurations

def queue_conf(group, events, prefix=None, suffix=None, id_=None):
    c = {'QueueArn': 'arn:roadstore:zmq:::' + group, 'Events': events}
    rules = []
    if prefix is not None:
        rules.append({'Name': 'prefix', 'Value': prefix})
    if suffix is not None:
        rules.append({'Name': 'suffix', 'Value': suffix})
    if rules:
        c['Filter'] = {'Key': {'FilterRules': rules}}
    if id_:
        c['Id'] = id_
    return c


def topic_conf(url, events, prefix=None, id_=None):
    c = {'TopicArn': 'arn:roadstore:webhook:::' + url, 'Events': events}
    if prefix is not None:
        c['Filter'] = {'Key': {'FilterRules': [{'Name': 'prefix',
                                                 'Value': prefix}]}}
    if id_:
        c['Id'] = id_
    return c


def get_conf(s3, bucket, want=None):
    """The bucket's configuration; entries want gave no Id get one from the
    server (as S3 assigns them): checked non-empty, then left out so the
    rest compares to want."""
    r = s3.get_bucket_notification_configuration(Bucket=bucket)
    r.pop('ResponseMetadata')
    for kind, entries in (want or {}).items():
        for i, e in enumerate(entries):
            if 'Id' not in e and i < len(r.get(kind, [])):
                assert r[kind][i].get('Id'), r
                r[kind][i].pop('Id')
    return r


class NotificationConfigTest(EventCase):

    def test_queue_and_webhook_targets_with_filters(self):
        srv = self.start_server(ack_timeout=10, worker_timeout=5)
        s3 = srv.client()
        b = self.bucket(s3, 'notify')
        other = self.bucket(s3, 'notify-other')
        port = H.free_port()
        rcv = self.receiver(port).start()
        url = 'http://127.0.0.1:%d/hook/deletes' % port
        self.put(s3, b, 'img/early.jpg', b'before the configuration')
        conf = {
            'QueueConfigurations': [queue_conf(
                'thumbs', ['s3:ObjectCreated:*'], 'img/', '.jpg',
                'jpg-to-group')],
            'TopicConfigurations': [topic_conf(
                url, ['s3:ObjectRemoved:*'], 'img/', 'deletes-to-hook')],
        }
        s3.put_bucket_notification_configuration(
            Bucket=b, NotificationConfiguration=conf)
        self.assertEqual(get_conf(s3, b, conf), conf)
        self.assertEqual(get_conf(s3, other), {})

        # committed after the configuration, before any worker connected
        want = []
        want.append(('ObjectCreated:Put', 'img/a.jpg',
                     self.put(s3, b, 'img/a.jpg', b'a jpg')))
        self.put(s3, b, 'img/b.png', b'b png')                # suffix
        self.put(s3, b, 'doc/c.jpg', b'c jpg')                # prefix
        want.append(('ObjectCreated:Put', 'img/sub/d.jpg',
                     self.put(s3, b, 'img/sub/d.jpg', b'd jpg')))
        s3.delete_object(Bucket=b, Key='img/a.jpg')          # event
        s3.delete_object(Bucket=b, Key='doc/c.jpg')
        r = s3.copy_object(Bucket=b, Key='img/e.jpg',
                           CopySource={'Bucket': b, 'Key': 'img/sub/d.jpg'})
        want.append(('ObjectCreated:Copy', 'img/e.jpg',
                     r['CopyObjectResult']['ETag'].strip('"')))
        self.put(s3, other, 'img/x.jpg', b'other bucket')     # bucket
        s3.put_object_tagging(Bucket=b, Key='img/e.jpg', Tagging={
            'TagSet': [{'Key': 't', 'Value': 'v'}]})         # event
        time.sleep(0.5)

        w = self.worker(srv, 'thumbs', None)      # no filter of its own
        w.wait_welcome()
        wait_for(lambda: len(w.got()) >= 3, 15, '3 deliveries')
        want.append(('ObjectCreated:Put', 'img/f.jpg',
                     self.put(s3, b, 'img/f.jpg', b'f jpg')))
        self.put(s3, b, 'img/f.jpg.txt', b'not a jpg')
        s3.delete_object(Bucket=b, Key='img/f.jpg')
        self.put(s3, b, 'IMG/g.jpg', b'prefix is case sensitive')
        wait_for(lambda: len(w.got()) >= 4, 15, '4 deliveries')
        self.wait_group(srv, 'thumbs', lag=0, inflight=0)
        time.sleep(1.0)
        got = w.got()
        self.assertEqual([(d.name, d.key, d.etag) for d in got], want)
        self.assertEqual([d.attempt for d in got], [1] * 4)
        self.assertEqual([d.topic for d in got],
                         ['%s/%s' % (b, n) for n, _k, _e in want])
        # s3.configurationId: the Id of the configuration that routed it
        self.assertEqual({d.rec['s3']['configurationId'] for d in got},
                         {'jpg-to-group'})

        wait_for(lambda: len(rcv.got()) >= 2, 20, '2 webhook POSTs')
        time.sleep(1.0)
        posts = rcv.got()
        self.assertEqual([rec_summary(p['rec']) for p in posts],
                         [('ObjectRemoved:Delete', 'img/a.jpg'),
                          ('ObjectRemoved:Delete', 'img/f.jpg')])
        self.assertEqual({(p['path'], p['ctype'], p['status']) for p in posts},
                         {('/hook/deletes', 'application/json', 200)})
        self.assertEqual([p['topic'] for p in posts],
                         [b + '/ObjectRemoved:Delete'] * 2)
        self.assertEqual({p['rec']['s3']['configurationId'] for p in posts},
                         {'deletes-to-hook'})
        seqs = [p['rec']['roadstore']['seq'] for p in posts]
        self.assertLess(seqs[0], seqs[1])
        self.assertEqual((w.errors, w.unexpected), ([], []))

    def test_invalid_configurations(self):
        srv = self.start_server()
        s3 = srv.client()
        b = self.bucket(s3, 'invalid')
        good = {'QueueConfigurations': [
            queue_conf('g1', ['s3:ObjectCreated:*'], 'p/')]}
        s3.put_bucket_notification_configuration(
            Bucket=b, NotificationConfiguration=good)
        two_prefix = queue_conf('g1', ['s3:ObjectCreated:*'])
        two_prefix['Filter'] = {'Key': {'FilterRules': [
            {'Name': 'prefix', 'Value': 'a/'},
            {'Name': 'prefix', 'Value': 'b/'}]}}
        two_suffix = queue_conf('g1', ['s3:ObjectCreated:*'])
        two_suffix['Filter'] = {'Key': {'FilterRules': [
            {'Name': 'suffix', 'Value': '.a'},
            {'Name': 'suffix', 'Value': '.b'}]}}
        bad_rule = queue_conf('g1', ['s3:ObjectCreated:*'])
        bad_rule['Filter'] = {'Key': {'FilterRules': [
            {'Name': 'infix', 'Value': 'x'}]}}
        cases = {
            'foreign arn': {'QueueConfigurations': [{
                'QueueArn': 'arn:aws:sqs:us-east-1:123456789012:q',
                'Events': ['s3:ObjectCreated:*']}]},
            'bad group name': {'QueueConfigurations': [
                queue_conf('no spaces allowed', ['s3:ObjectCreated:*'])]},
            'empty group': {'QueueConfigurations': [
                queue_conf('', ['s3:ObjectCreated:*'])]},
            'ftp webhook': {'TopicConfigurations': [
                topic_conf('ftp://127.0.0.1/x', ['s3:ObjectCreated:*'])]},
            'unknown event': {'QueueConfigurations': [
                queue_conf('g1', ['s3:ObjectCreated:Bogus'])]},
            'unknown event among good ones': {'TopicConfigurations': [
                topic_conf('http://127.0.0.1:1/h',
                           ['s3:ObjectRemoved:*', 's3:ObjectExploded:*'])]},
            'two prefix rules': {'QueueConfigurations': [two_prefix]},
            'two suffix rules': {'QueueConfigurations': [two_suffix]},
            'unknown rule name': {'QueueConfigurations': [bad_rule]},
        }
        for what, conf in cases.items():
            with self.subTest(what):
                code, status, _r = H.client_error(
                    s3.put_bucket_notification_configuration, Bucket=b,
                    NotificationConfiguration=conf)
                self.assertEqual((code, status), ('InvalidArgument', 400))
                self.assertEqual(get_conf(s3, b, good), good)

    def test_empty_configuration_removes_it(self):
        srv = self.start_server()
        s3 = srv.client()
        b = self.bucket(s3, 'remove')
        port = H.free_port()
        rcv = self.receiver(port).start()
        url = 'http://127.0.0.1:%d/gone' % port
        conf = {'TopicConfigurations': [topic_conf(url, ['s3:*'])]}
        s3.put_bucket_notification_configuration(
            Bucket=b, NotificationConfiguration=conf)
        self.assertEqual(get_conf(s3, b, conf), conf)
        self.put(s3, b, 'one', b'1')
        wait_for(lambda: len(rcv.got()) >= 1, 15, 'the first POST')

        s3.put_bucket_notification_configuration(
            Bucket=b, NotificationConfiguration={})
        self.assertEqual(get_conf(s3, b), {})
        r = srv.request('GET', '/' + b, query=[('notification', '')])
        self.assertEqual(r.status, 200)
        root = ET.fromstring(r.body)
        self.assertEqual((root.tag, list(root), (root.text or '').strip()),
                         ('{%s}NotificationConfiguration' % H.S3NS, [], ''))
        self.put(s3, b, 'two', b'2')
        s3.delete_object(Bucket=b, Key='one')
        time.sleep(2.0)
        self.assertEqual([rec_summary(p['rec']) for p in rcv.got()],
                         [('ObjectCreated:Put', 'one')])

    def test_readded_webhook_gets_no_events_of_the_gap(self):
        srv = self.start_server()
        s3 = srv.client()
        b = self.bucket(s3, 'readd')
        port = H.free_port()
        rcv = self.receiver(port).start()
        url = 'http://127.0.0.1:%d/again' % port
        conf = {'TopicConfigurations': [topic_conf(url, ['s3:*'])]}
        s3.put_bucket_notification_configuration(
            Bucket=b, NotificationConfiguration=conf)
        self.put(s3, b, 'one', b'1')
        wait_for(lambda: len(rcv.got()) >= 1, 15, 'the first POST')
        s3.put_bucket_notification_configuration(
            Bucket=b, NotificationConfiguration={})
        time.sleep(0.5)
        self.put(s3, b, 'gap', b'2')              # no configuration
        time.sleep(1.0)
        s3.put_bucket_notification_configuration(
            Bucket=b, NotificationConfiguration=conf)
        self.put(s3, b, 'after', b'3')
        wait_for(lambda: any(rec_summary(p['rec'])[1] == 'after'
                             for p in rcv.got()), 15, 'the last POST')
        time.sleep(1.0)
        self.assertEqual([rec_summary(p['rec']) for p in rcv.got()],
                         [('ObjectCreated:Put', 'one'),
                          ('ObjectCreated:Put', 'after')])

    def test_removed_queue_target_gets_no_more_events(self):
        srv = self.start_server(ack_timeout=10, worker_timeout=5)
        s3 = srv.client()
        b = self.bucket(s3, 'unqueue')
        other = self.bucket(s3, 'unqueue-other')
        s3.put_bucket_notification_configuration(
            Bucket=b, NotificationConfiguration={'QueueConfigurations': [
                queue_conf('removedq', ['s3:ObjectCreated:*'])]})
        w = self.worker(srv, 'removedq', None)
        w.wait_welcome()
        e1 = self.put(s3, b, 'while-configured', b'1')
        wait_for(lambda: len(w.got()) >= 1, 15, 'the first delivery')
        s3.put_bucket_notification_configuration(
            Bucket=b, NotificationConfiguration={})
        self.assertEqual(get_conf(s3, b), {})
        time.sleep(0.5)
        self.put(s3, b, 'after-removal', b'2')
        self.put(s3, other, 'other-bucket', b'3')
        time.sleep(2.0)
        self.assertEqual([(d.key, d.etag) for d in w.got()],
                         [('while-configured', e1)])

    def test_only_owner_may_configure(self):
        srv = self.start_server(users=(MALLORY,))
        s3 = srv.client()
        mallory = srv.client(MALLORY[1], MALLORY[2])
        b = self.bucket(s3, 'owner')
        conf = {'QueueConfigurations': [queue_conf('owned',
                                                   ['s3:ObjectCreated:Put'])]}
        s3.put_bucket_notification_configuration(
            Bucket=b, NotificationConfiguration=conf)
        evil = {'TopicConfigurations': [topic_conf(
            'http://127.0.0.1:1/steal', ['s3:*'])]}
        code, status, _r = H.client_error(
            mallory.put_bucket_notification_configuration, Bucket=b,
            NotificationConfiguration=evil)
        self.assertEqual((code, status), ('AccessDenied', 403))
        code, status, _r = H.client_error(
            mallory.put_bucket_notification_configuration, Bucket=b,
            NotificationConfiguration={})
        self.assertEqual((code, status), ('AccessDenied', 403))
        code, status, _r = H.client_error(
            mallory.get_bucket_notification_configuration, Bucket=b)
        self.assertEqual((code, status), ('AccessDenied', 403))
        self.assertEqual(get_conf(s3, b, conf), conf)
        # her own bucket she may configure
        mb = self.bucket(mallory, 'mallory')
        mallory.put_bucket_notification_configuration(
            Bucket=mb, NotificationConfiguration=conf)
        self.assertEqual(get_conf(mallory, mb, conf), conf)


# ---------------------------------------------------------------------------
# webhooks

class WebhookTest(EventCase):

    def do_ops(self, s3, b, ops):
        """ops: [('put', key, body) | ('del', key)]; the expected
        (eventName, key, eTag or None) of each."""
        out = []
        for op in ops:
            if op[0] == 'put':
                out.append(('ObjectCreated:Put', op[1],
                            self.put(s3, b, op[1], op[2])))
            else:
                s3.delete_object(Bucket=b, Key=op[1])
                out.append(('ObjectRemoved:Delete', op[1], None))
        return out

    def check_posts(self, posts, want, b, path):
        self.assertEqual([(p['rec']['eventName'],
                           urllib.parse.unquote_plus(
                               p['rec']['s3']['object']['key']))
                          for p in posts],
                         [(n, k) for n, k, _e in want])
        for p, (n, k, e) in zip(posts, want):
            if e is not None:
                self.assertEqual(p['rec']['s3']['object']['eTag'], e)
            self.assertEqual((p['path'], p['ctype'], p['topic'],
                              p['rec']['s3']['bucket']['name']),
                             (path, 'application/json', '%s/%s' % (b, n),
                              b))
        seqs = [p['rec']['roadstore']['seq'] for p in posts]
        self.assertEqual(seqs, sorted(set(seqs)), 'seq strictly increasing')
        return seqs

    def test_webhook_down_then_up_and_across_restart(self):
        srv = self.start_server(max_attempts=3, retention=1)
        s3 = srv.client()
        b = self.bucket(s3, 'hook')
        port = H.free_port()                # nothing listens there yet
        url = 'http://127.0.0.1:%d/hook' % port
        s3.put_bucket_notification_configuration(
            Bucket=b, NotificationConfiguration={'TopicConfigurations': [
                topic_conf(url, ['s3:ObjectCreated:*',
                                 's3:ObjectRemoved:*'])]})
        ops = []
        for i in range(20):
            if i % 4 == 3:
                ops.append(('del', 'obj-%02d' % (i - 1)))
            else:
                ops.append(('put', 'obj-%02d' % i, b'body %d' % i))
        want = self.do_ops(s3, b, ops)
        self.assertEqual(len(want), 20)
        time.sleep(2.5)
        hooks = self.stats(srv)['webhooks']
        self.assertEqual(len(hooks), 1, hooks)
        self.assertEqual((hooks[0]['url'], hooks[0]['delivered'],
                          hooks[0]['dead_lettered'], hooks[0]['live']),
                         (url, 0, 0, True))
        self.assertGreaterEqual(hooks[0]['failures'], 1)

        rcv = self.receiver(port).start()
        wait_for(lambda: len(rcv.got()) >= 20, 30, '20 POSTs')
        time.sleep(1.0)
        seqs = self.check_posts(rcv.got(), want, b, '/hook')
        rcv.stop()
        hooks = self.stats(srv)['webhooks']
        self.assertEqual((hooks[0]['delivered'], hooks[0]['dead_lettered']),
                         (20, 0))

        # down again, across a clean restart
        want2 = self.do_ops(s3, b, [('put', 'late-1', b'l1'),
                                    ('del', 'obj-00'),
                                    ('put', 'late-2', b'l2')])
        srv.stop()
        srv.start()
        want2 += self.do_ops(s3, b, [('put', 'late-3', b'l3'),
                                     ('del', 'late-1')])
        time.sleep(1.5)
        rcv2 = self.receiver(port).start()
        wait_for(lambda: len(rcv2.got()) >= 5, 30, '5 POSTs')
        time.sleep(1.0)
        seqs2 = self.check_posts(rcv2.got(), want2, b, '/hook')
        self.assertGreater(seqs2[0], seqs[-1])
        self.assertEqual(len(rcv.got()), 20)

    def test_webhook_refused_event_dead_lettered(self):
        srv = self.start_server(max_attempts=3)
        s3 = srv.client()
        b = self.bucket(s3, 'refuse')
        port = H.free_port()
        rcv = self.receiver(port, status_for=lambda rec: (
            400 if rec['s3']['object']['key'] == 'poison' else 200)).start()
        url = 'http://127.0.0.1:%d/refuse' % port
        s3.put_bucket_notification_configuration(
            Bucket=b, NotificationConfiguration={'TopicConfigurations': [
                topic_conf(url, ['s3:ObjectCreated:*'])]})
        want = self.do_ops(s3, b, [('put', 'before', b'0'),
                                   ('put', 'poison', b'p'),
                                   ('put', 'after-1', b'1'),
                                   ('put', 'after-2', b'2')])
        wait_for(lambda: len(rcv.got(200)) >= 3, 30, '3 accepted POSTs')
        time.sleep(1.5)
        posts = rcv.got()
        self.assertEqual([rec_summary(p['rec'])[1] for p in posts],
                         ['before', 'poison', 'poison', 'poison', 'after-1',
                          'after-2'])
        self.assertEqual([p['status'] for p in posts],
                         [200, 400, 400, 400, 200, 200])
        self.check_posts(rcv.got(200), [want[0], want[2], want[3]], b,
                         '/refuse')
        poison_seq = posts[1]['rec']['roadstore']['seq']
        self.assertEqual({p['rec']['roadstore']['seq'] for p in posts[1:4]},
                         {poison_seq})

        group = 'webhook.%016x' % fnv1a64(url)
        for args in (('dlq',), ('dlq', '--group', group)):
            dlq = self.events_cli(srv, *args)
            self.assertEqual(len(dlq), 1, dlq)
            self.assertEqual(dlq[0]['seq'], poison_seq)
            self.assertEqual((dlq[0]['group'], dlq[0]['topic'],
                              dlq[0]['attempts'], dlq[0]['reason']),
                             (group, b + '/ObjectCreated:Put', 3,
                              'webhook refused the event'))
            self.assertEqual(json.loads(dlq[0]['event']), posts[1]['msg'])
            self.assertEqual(posts[1]['msg']['Records'][0]['roadstore']
                             ['seq'], poison_seq)
        hooks = self.stats(srv)['webhooks']
        self.assertEqual([(h['group'], h['url'], h['delivered'],
                           h['dead_lettered']) for h in hooks],
                         [(group, url, 3, 1)])


if __name__ == '__main__':
    if sys.argv[1:2] == ['--hold-worker']:
        hold_worker_main(*sys.argv[2:6])
        sys.exit(0)
    H.main()
