#!/usr/bin/python3
"""Crash test (issue 3, items 7 and 12): SIGKILL the server while threads
PUT new objects and overwrite others, restart it, and check:

  - every acknowledged write reads back byte for byte (a 2xx means the data
    and its index entry were on stable storage);
  - an acknowledged overwrite is never lost: a key holds its latest
    acknowledged version or the version that was in flight when the server
    died, never an older one;
  - every object is one whole version that was attempted, never a mix of
    two and never garbage; its ETag and length match its bytes;
  - no key appears that was never written.

Each key is written by one thread only, so "latest acknowledged" is well
defined.  Readers check during the load that a GET of an overwritten key
returns one whole version.  Three rounds on the same data directory, then a
clean stop and start."""

import hashlib
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rsharness as H  # noqa: E402
from rsharness import ServerTestCase, rand_bytes  # noqa: E402

KiB = 1024
MiB = 1024 * KiB

ROUNDS = 3
WRITERS = 6
READERS = 2
HOT_PER_WRITER = 4
ABSENT = 'absent'


def pick_size(rnd):
    r = rnd.random()
    if r < 0.08:
        return 0
    if r < 0.25:
        return rnd.randrange(1, 200)
    if r < 0.6:
        return rnd.randrange(200, 64 * KiB)
    if r < 0.9:
        return rnd.randrange(64 * KiB, 512 * KiB)
    return rnd.randrange(512 * KiB, 3 * MiB)


class KeyState:
    __slots__ = ('committed', 'inflight', 'versions', 'lock')

    def __init__(self):
        self.committed = ABSENT     # sha256 of latest acknowledged version
        self.inflight = set()       # attempted since, outcome unknown
        self.versions = set()       # every version ever attempted
        self.lock = threading.Lock()


class CrashTest(ServerTestCase):

    def setUp(self):
        self.bucket = 'rs-crash'
        self.keys = {}              # key -> KeyState
        self.keys_lock = threading.Lock()
        self.errors = []            # failures seen before the kill
        self.killed_at = None
        self.stop_flag = threading.Event()

    def state(self, key):
        with self.keys_lock:
            st = self.keys.get(key)
            if st is None:
                st = self.keys[key] = KeyState()
            return st

    # -- load ------------------------------------------------------------------

    def writer(self, tid, rnd_seed, round_no, stats):
        rnd = random.Random(rnd_seed)
        c = self.srv.client(max_pool_connections=2)
        n = 0
        while not self.stop_flag.is_set():
            n += 1
            if rnd.random() < 0.5:
                key = 'r%d/w%d/new/%05d' % (round_no, tid, n)
            else:
                key = 'hot/w%d/%d' % (tid, rnd.randrange(HOT_PER_WRITER))
            data = rand_bytes(pick_size(rnd), seed='%s#%d#%d' % (key, round_no, n))
            sha = hashlib.sha256(data).hexdigest()
            st = self.state(key)
            with st.lock:
                st.versions.add(sha)
                st.inflight.add(sha)
            try:
                r = c.put_object(Bucket=self.bucket, Key=key, Body=data)
            except Exception as e:      # connection reset by the kill
                if self.killed_at is None:
                    self.errors.append('writer %d: PUT %s failed before the '
                                       'kill: %r' % (tid, key, e))
                return
            if r['ETag'] != '"%s"' % hashlib.md5(data).hexdigest():
                self.errors.append('PUT %s: ETag %s is not the MD5' % (
                    key, r['ETag']))
            with st.lock:
                st.committed = sha
                st.inflight.clear()
            stats['acked'] += 1
            stats['bytes'] += len(data)

    def reader(self, rnd_seed):
        rnd = random.Random(rnd_seed)
        c = self.srv.client(max_pool_connections=2)
        while not self.stop_flag.is_set():
            key = 'hot/w%d/%d' % (rnd.randrange(WRITERS),
                                  rnd.randrange(HOT_PER_WRITER))
            with self.keys_lock:
                st = self.keys.get(key)
            if st is None or st.committed == ABSENT:
                time.sleep(0.01)
                continue
            try:
                body = c.get_object(Bucket=self.bucket, Key=key)['Body'].read()
            except Exception as e:
                if self.killed_at is None:
                    self.errors.append('reader: GET %s failed before the '
                                       'kill: %r' % (key, e))
                return
            sha = hashlib.sha256(body).hexdigest()
            with st.lock:
                ok = sha in st.versions
            if not ok and self.killed_at is None:
                self.errors.append('reader: GET %s returned %d bytes that are '
                                   'no version ever written (torn overwrite?)'
                                   % (key, len(body)))

    # -- verification ------------------------------------------------------------

    def verify(self, label):
        c = self.srv.client(retries=2)
        listed = set()
        for page in c.get_paginator('list_objects_v2').paginate(
                Bucket=self.bucket):
            listed.update(o['Key'] for o in page.get('Contents', []))
        problems = []
        unknown = listed - set(self.keys)
        if unknown:
            problems.append('%d keys listed that were never written: %s' % (
                len(unknown), sorted(unknown)[:5]))
        acked = 0
        for key, st in sorted(self.keys.items()):
            allowed = set(st.inflight)
            allowed.add(st.committed)
            try:
                r = c.get_object(Bucket=self.bucket, Key=key)
                body = r['Body'].read()
                got = hashlib.sha256(body).hexdigest()
                if r['ContentLength'] != len(body):
                    problems.append('%s: Content-Length %d, body %d bytes' % (
                        key, r['ContentLength'], len(body)))
                if r['ETag'] != '"%s"' % hashlib.md5(body).hexdigest():
                    problems.append('%s: ETag %s does not match its bytes' % (
                        key, r['ETag']))
            except H.ClientError as e:
                if e.response['Error']['Code'] != 'NoSuchKey':
                    problems.append('%s: GET failed: %s' % (key, e))
                    continue
                got = ABSENT
            if got != ABSENT and key not in listed:
                problems.append('%s: readable but not listed' % key)
            if got == ABSENT and key in listed:
                problems.append('%s: listed but not readable' % key)
            if got not in allowed:
                if st.committed != ABSENT and got == ABSENT:
                    what = 'acknowledged object lost'
                elif got in st.versions:
                    what = 'acknowledged overwrite lost (older version back)'
                else:
                    what = 'content is no version ever written'
                problems.append('%s: %s (committed %s, %d in flight, got %s)'
                                % (key, what, st.committed[:12],
                                   len(st.inflight), got[:12]))
            if st.committed != ABSENT:
                acked += 1
            # what survived a restart is the new baseline
            st.committed = got
            st.inflight.clear()
        print('crash: %s: %d keys, %d acknowledged, %d problems' % (
            label, len(self.keys), acked, len(problems)), file=sys.stderr)
        self.assertEqual(problems[:30], [], '%s: %d problems' % (
            label, len(problems)))

    # -- the test ------------------------------------------------------------------

    def test_sigkill_during_concurrent_puts_and_overwrites(self):
        self.s3.create_bucket(Bucket=self.bucket)
        rnd = random.Random(int(os.environ.get('ROADSTORE_CRASH_SEED',
                                               time.time())))
        for round_no in range(1, ROUNDS + 1):
            self.stop_flag.clear()
            self.killed_at = None
            stats = {'acked': 0, 'bytes': 0}
            threads = [threading.Thread(
                target=self.writer, args=(t, rnd.random(), round_no, stats))
                for t in range(WRITERS)]
            threads += [threading.Thread(target=self.reader,
                                         args=(rnd.random(),))
                        for _ in range(READERS)]
            for t in threads:
                t.start()
            time.sleep(1.5 + rnd.random() * 2.5)
            self.killed_at = time.time()
            self.srv.kill9()
            self.stop_flag.set()
            for t in threads:
                t.join(120)
            self.assertFalse(any(t.is_alive() for t in threads),
                             'client threads hang after the kill')
            print('crash: round %d: killed after %d acknowledged PUTs '
                  '(%.1f MiB)' % (round_no, stats['acked'],
                                  stats['bytes'] / MiB), file=sys.stderr)
            self.assertEqual(self.errors, [])
            self.assertGreater(stats['acked'], 10, 'the load did not run')
            self.srv.start()
            self.verify('round %d after SIGKILL' % round_no)
            # and the store still takes writes after recovery
            self.s3.put_object(Bucket=self.bucket, Key='after/%d' % round_no,
                               Body=b'after recovery')
            self.assertEqual(self.get_bytes(self.bucket,
                                            'after/%d' % round_no),
                             b'after recovery')
            st = self.state('after/%d' % round_no)
            st.committed = hashlib.sha256(b'after recovery').hexdigest()
            st.versions.add(st.committed)
        # a clean stop and start keeps everything too
        self.srv.stop()
        self.srv.start()
        self.verify('after a clean restart')


if __name__ == '__main__':
    H.main()
