#!/usr/bin/python3
"""The merge path for small objects (store/merge.c, compact.c, fsck.c),
driven as a client drives it:

  - read-your-writes under 64 concurrent PUTs of 2,000 objects of 1 B to
    1 MiB (1 MiB exactly is still merged; 1 MiB + 1 and 5 MiB take the
    striped path): each GET right after its own 200 returns the same bytes;
    HEAD, listing and Range GETs agree byte for byte;
  - group commit shows in the metrics (fewer WAL fsyncs than records);
  - the flusher drains the cache into container files; everything reads
    back after a clean restart and after SIGKILL (WAL replay), also when
    nothing was flushed yet;
  - compaction (`roadstore admin compact`, and the background thread) gives
    the disk space of deleted objects back, and moved objects stay exact;
  - fsck finds an orphan container and a flipped byte, a corrupted object
    is never served, and --repair fixes both;
  - bad input (wrong Content-MD5, x-amz-content-sha256, checksum) is an S3
    error and leaves the old object as it was.

Every server here has its own config file (Server(config=...)): short
idle_flush_ms and gc_delay so the tests need not wait long."""

import concurrent.futures as cf
import hashlib
import json
import math
import os
import random
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rsharness as H  # noqa: E402
from rsharness import Server, b64, md5_hex, rand_bytes  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

KiB = 1024
MiB = 1024 * KiB
SMALL = 1 * MiB                  # small_object_threshold (the default)
HEX32 = re.compile(r'^[0-9a-f]{32}$')


# ---------------------------------------------------------------------------
# helpers

def parse_metrics(text):
    """{'name{labels}': value} of a Prometheus text page."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith('#'):
            continue
        name, _, val = line.rpartition(' ')
        out[name] = float(val)
    return out


def metrics(srv):
    r = srv.http_get('/_roadstore/metrics')
    if r.status != 200:
        raise AssertionError('GET /_roadstore/metrics: %d' % r.status)
    return parse_metrics(r.body.decode())


MEM_CONTAINERS = 'roadstore_merge_containers{state="memory"}'
MEM_OBJECTS = 'roadstore_merge_objects{state="memory"}'


def wait_for(fn, timeout, interval=0.1):
    """Call fn until it returns something true or timeout passes; returns
    its last value."""
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v or time.time() >= deadline:
            return v
        time.sleep(interval)


def container_files(groupdir):
    """{path: size} of the container files <groupdir>/<hh>/<hh>/<32 hex>."""
    out = {}
    for d, _dirs, files in os.walk(groupdir):
        rel = os.path.relpath(d, groupdir).split(os.sep)
        for f in files:
            if HEX32.match(f) and rel == [f[:2], f[2:4]]:
                p = os.path.join(d, f)
                out[p] = os.path.getsize(p)
    return out


def tree_bytes(path):
    """Total size of the files under path."""
    n = 0
    for d, _dirs, files in os.walk(path):
        for f in files:
            try:
                n += os.path.getsize(os.path.join(d, f))
            except FileNotFoundError:
                pass            # removed by the collector meanwhile
    return n


def first_diff(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def describe_mismatch(key, got, want):
    return ('%s: %d bytes, want %d; first difference at byte %d' % (
        key, len(got), len(want), first_diff(got, want)))


def log_uniform_size(rnd, lo=1, hi=SMALL):
    return max(lo, min(hi, int(math.exp(rnd.uniform(math.log(lo),
                                                    math.log(hi + 1))))))


def make_objects(prefix, sizes, seed):
    """{key: bytes}; a few keys with spaces and non-ASCII characters."""
    objs = {}
    for i, n in enumerate(sizes):
        if i % 97 == 13:
            key = '%s/dir %d/f\u00fcr-\u00e9t\u00e9-%05d' % (prefix, i % 7, i)
        else:
            key = '%s/%05d' % (prefix, i)
        objs[key] = rand_bytes(n, seed='%s#%s' % (seed, key))
    return objs


def run_pool(fn, items, threads):
    """fn(item) for every item on a thread pool; returns the list of
    problems: what fn returned (a string or list of strings) and the
    exceptions it raised."""
    problems = []
    with cf.ThreadPoolExecutor(threads) as ex:
        futs = {ex.submit(fn, it): it for it in items}
        for f in cf.as_completed(futs):
            exc = f.exception()
            if exc is not None:
                problems.append('%s: %r' % (futs[f], exc))
                continue
            r = f.result()
            if isinstance(r, str):
                problems.append(r)
            elif r:
                problems.extend(r)
    return problems


def put_many(srv, bucket, objs, threads, read_back=True):
    """PUT every object concurrently; with read_back, GET each right after
    its own 200 and compare.  Returns the problems."""
    c = srv.client(max_pool_connections=threads)

    def one(key):
        data = objs[key]
        r = c.put_object(Bucket=bucket, Key=key, Body=data)
        out = []
        if r['ETag'] != '"%s"' % md5_hex(data):
            out.append('PUT %s: ETag %s, want MD5 %s' % (key, r['ETag'],
                                                         md5_hex(data)))
        if read_back:
            g = c.get_object(Bucket=bucket, Key=key)
            body = g['Body'].read()
            if body != data:
                out.append('GET right after PUT: ' +
                           describe_mismatch(key, body, data))
            if g['ContentLength'] != len(data):
                out.append('GET %s: Content-Length %d, want %d' % (
                    key, g['ContentLength'], len(data)))
        return out
    return run_pool(one, list(objs), threads)


def verify_objects(srv, bucket, objs, threads=16, absent=()):
    """Every object of objs reads back byte for byte with its ETag; every
    key of absent is NoSuchKey.  Returns the problems."""
    c = srv.client(max_pool_connections=threads)

    def one(key):
        data = objs[key]
        g = c.get_object(Bucket=bucket, Key=key)
        body = g['Body'].read()
        out = []
        if body != data:
            out.append('GET ' + describe_mismatch(key, body, data))
        if g['ETag'] != '"%s"' % md5_hex(data):
            out.append('GET %s: ETag %s, want %s' % (key, g['ETag'],
                                                     md5_hex(data)))
        return out

    def gone(key):
        code, status, _ = H.client_error(c.head_object, Bucket=bucket,
                                         Key=key)
        if status != 404:
            return 'HEAD %s (deleted): %s %s, want 404' % (key, status, code)
        return None
    return run_pool(one, list(objs), threads) + \
        run_pool(gone, list(absent), threads)


def list_all(c, bucket):
    out = {}
    for page in c.get_paginator('list_objects_v2').paginate(Bucket=bucket):
        for o in page.get('Contents', []):
            out[o['Key']] = (o['Size'], o['ETag'])
    return out


def admin_json(r):
    try:
        return json.loads(r.stdout)
    except ValueError:
        raise AssertionError('admin printed no JSON (exit %d):\n%s\n%s' % (
            r.returncode, r.stdout, r.stderr))


def merge_config(**over):
    """A config: [merge] and [storage] keys (storage ones prefixed
    storage_)."""
    merge = {'idle_flush_ms': 100, 'compact_dead_percent': 0}
    storage = {'gc_delay': 1}
    for k, v in over.items():
        if k.startswith('storage_'):
            storage[k[len('storage_'):]] = v
        else:
            merge[k] = v
    return {'merge': merge, 'storage': storage}


def wait_drained(srv, timeout=30):
    """Wait until no merged container is in memory; returns the metrics."""
    last = {}

    def drained():
        last.update(metrics(srv))
        return last[MEM_CONTAINERS] == 0 and last[MEM_OBJECTS] == 0
    wait_for(drained, timeout, 0.1)
    return last


# ---------------------------------------------------------------------------
# 64 concurrent clients, 2,000 small objects (one server, tests in order)

N_OBJECTS = 2000
THREADS = 64


class MergeLoadTest(unittest.TestCase):
    """One load in setUpClass; the tests check what it left, in order
    (test_1 ... test_6; the last restarts the server)."""

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(name='small-load', config=merge_config())
        cls.srv.start()
        cls.s3 = cls.srv.client(max_pool_connections=THREADS)
        cls.bucket = 'rs-small-load'
        cls.s3.create_bucket(Bucket=cls.bucket)
        rnd = random.Random(4004)
        sizes = [1, 2, 63, 4095, 4096, 64 * KiB - 1, 64 * KiB, 64 * KiB + 1,
                 SMALL - 1, SMALL, SMALL, SMALL]
        sizes += [log_uniform_size(rnd) for _ in range(N_OBJECTS - len(sizes))]
        rnd.shuffle(sizes)
        cls.merged = make_objects('m', sizes, 'load')
        # not merged: empty (no extent at all), and the striped path
        cls.merged['m/empty'] = b''
        cls.striped = {
            's/1MiB+1-a': rand_bytes(SMALL + 1, seed='s1'),
            's/1MiB+1-b': rand_bytes(SMALL + 1, seed='s2'),
            's/1MiB+1-c': rand_bytes(SMALL + 1, seed='s3'),
            's/5MiB-a': rand_bytes(5 * MiB, seed='s4'),
            's/5MiB-b': rand_bytes(5 * MiB, seed='s5'),
        }
        cls.objs = dict(cls.merged)
        cls.objs.update(cls.striped)
        cls.merged_bytes = sum(len(v) for v in cls.merged.values())
        t = time.time()
        cls.load_problems = put_many(cls.srv, cls.bucket, cls.objs, THREADS)
        cls.load_seconds = time.time() - t
        cls.m_load = metrics(cls.srv)
        print('small-load: %d objects, %.1f MiB merged, in %.1f s; '
              'WAL %d records, %d fsyncs' % (
                  len(cls.objs), cls.merged_bytes / MiB, cls.load_seconds,
                  cls.m_load['roadstore_wal_records_total'],
                  cls.m_load['roadstore_wal_fsyncs_total']), file=sys.stderr)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.srv.check()

    def test_1_read_your_writes(self):
        """Each of 64 concurrent writers reads its object back right after
        its 200: same bytes, same length, ETag = MD5."""
        self.assertEqual(self.load_problems[:20], [],
                         '%d problems in the concurrent load' %
                         len(self.load_problems))

    def test_2_head_and_list(self):
        c = self.s3

        def head(key):
            data = self.objs[key]
            h = c.head_object(Bucket=self.bucket, Key=key)
            if (h['ContentLength'], h['ETag']) != (len(data),
                                                   '"%s"' % md5_hex(data)):
                return 'HEAD %s: %d %s, want %d "%s"' % (
                    key, h['ContentLength'], h['ETag'], len(data),
                    md5_hex(data))
            return None
        self.assertEqual(run_pool(head, list(self.objs), 32)[:20], [])
        listed = list_all(c, self.bucket)
        want = {k: (len(v), '"%s"' % md5_hex(v)) for k, v in self.objs.items()}
        self.assertEqual(len(listed), len(want))
        wrong = sorted(k for k in want if listed.get(k) != want[k])
        self.assertEqual(wrong[:10], [], 'listed with wrong size or ETag: %s'
                         % [(k, listed.get(k), want[k]) for k in wrong[:5]])

    def test_3_range_gets_on_merged_objects(self):
        rnd = random.Random(77)
        c = self.s3
        keys = sorted(k for k, v in self.merged.items() if len(v) >= 2)
        cases = []
        for key in rnd.sample(keys, 150):
            n = len(self.merged[key])
            a = rnd.randrange(n)
            b = rnd.randrange(a, n)
            cases += [(key, 'bytes=%d-%d' % (a, b), a, b),
                      (key, 'bytes=%d-' % a, a, n - 1)]
            k = rnd.randrange(1, n + 1)
            cases.append((key, 'bytes=-%d' % k, n - k, n - 1))
        # across a CRC block boundary (64 KiB blocks), and the last bytes
        # of the largest merged object (1 MiB exactly)
        for key in keys:
            n = len(self.merged[key])
            if n > 2 * 64 * KiB:
                cases.append((key, 'bytes=65530-65545', 65530, 65545))
                cases.append((key, 'bytes=65536-131072', 65536, 131072))
            if n == SMALL:
                cases.append((key, 'bytes=%d-%d' % (n - 5, n + 100),
                              n - 5, n - 1))

        def one(case):
            key, rng, a, b = case
            data = self.merged[key]
            g = c.get_object(Bucket=self.bucket, Key=key, Range=rng)
            body = g['Body'].read()
            out = []
            if g['ResponseMetadata']['HTTPStatusCode'] != 206:
                out.append('%s %s: status %d' % (
                    key, rng, g['ResponseMetadata']['HTTPStatusCode']))
            if body != data[a:b + 1]:
                out.append('%s %s: ' % (key, rng) +
                           describe_mismatch(key, body, data[a:b + 1]))
            if g.get('ContentRange') != 'bytes %d-%d/%d' % (a, b, len(data)):
                out.append('%s %s: Content-Range %s' % (
                    key, rng, g.get('ContentRange')))
            return out
        self.assertEqual(run_pool(one, cases, 16)[:20], [])
        # a range past the end is an S3 error, not bytes
        key = keys[0]
        code, status, _ = H.client_error(
            c.get_object, Bucket=self.bucket, Key=key,
            Range='bytes=%d-' % (len(self.merged[key]) + 10))
        self.assertEqual((code, status), ('InvalidRange', 416))

    def test_4_group_commit_in_metrics(self):
        m = self.m_load
        records = m['roadstore_wal_records_total']
        fsyncs = m['roadstore_wal_fsyncs_total']
        # every merged object (the empty one too) was logged, no striped one
        self.assertEqual(m['roadstore_merge_logged_objects_total'],
                         len(self.merged))
        self.assertGreaterEqual(records, len(self.merged))
        self.assertLess(fsyncs, records,
                        'no group commit: %d fsyncs for %d WAL records' % (
                            fsyncs, records))
        self.assertLess(m['roadstore_wal_fsyncs_per_put'], 1.0)
        # the batch histogram: some batch had more than one record
        self.assertEqual(m['roadstore_wal_batch_records_sum'], records)
        self.assertEqual(m['roadstore_wal_batch_records_count'], fsyncs)
        self.assertLess(m['roadstore_wal_batch_records_bucket{le="1"}'],
                        m['roadstore_wal_batch_records_bucket{le="+Inf"}'])
        self.assertEqual(m['roadstore_wal_failed_batches_total'], 0)

    def test_5_flush_drains_the_cache(self):
        m = wait_drained(self.srv, 30)
        self.assertEqual((m[MEM_CONTAINERS], m[MEM_OBJECTS]), (0, 0),
                         'merged containers still in memory 30 s after the '
                         'load with idle_flush_ms = 100')
        self.assertEqual(m['roadstore_merge_cache_bytes{kind="used"}'], 0)
        self.assertGreaterEqual(m['roadstore_merge_flushes_total'], 1)
        self.assertEqual(m['roadstore_merge_flush_errors_total'], 0)
        self.assertGreaterEqual(m['roadstore_merge_flush_bytes_total'],
                                self.merged_bytes)
        files = container_files(os.path.join(self.srv.data, 'standard'))
        self.assertGreater(len(files), len(self.striped),
                           'no merged container files in DATA/standard')
        # data and CRCs of every object are in files now
        self.assertGreaterEqual(sum(files.values()),
                                self.merged_bytes +
                                sum(len(v) for v in self.striped.values()))
        # and read from them
        self.assertEqual(verify_objects(self.srv, self.bucket,
                                        self.objs)[:20], [])

    def test_6_restart_clean_then_sigkill(self):
        srv = self.srv
        srv.stop()
        srv.start()
        self.assertEqual(verify_objects(srv, self.bucket, self.objs)[:20], [],
                         'after a clean restart')
        # new objects acknowledged just before SIGKILL: in the WAL, maybe
        # not flushed yet
        rnd = random.Random(99)
        late = make_objects('late', [log_uniform_size(rnd, 1, 256 * KiB)
                                     for _ in range(300)], 'late')
        self.assertEqual(put_many(srv, self.bucket, late, 32,
                                  read_back=False)[:20], [])
        srv.kill9()
        srv.start()
        m = metrics(srv)
        self.assertGreater(m['roadstore_wal_replay_records'], 0,
                           'no WAL replay after SIGKILL')
        allobjs = dict(self.objs)
        allobjs.update(late)
        self.assertEqual(verify_objects(srv, self.bucket, allobjs)[:20], [],
                         'after SIGKILL and restart')
        self.assertEqual(set(list_all(self.s3, self.bucket)), set(allobjs))


# ---------------------------------------------------------------------------
# the other scenarios, each on its own server

class SmallFilesTest(unittest.TestCase):

    def setUp(self):
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            s.stop()
        for s in self.servers:
            s.check()

    def server(self, **cfg):
        s = Server(name='small-' + self._testMethodName[5:25],
                   config=merge_config(**cfg))
        self.servers.append(s)
        s.start()
        return s

    def standard(self, srv):
        return os.path.join(srv.data, 'standard')

    def test_kill9_before_any_flush(self):
        """Objects acknowledged but only in memory and the WAL survive
        SIGKILL; so do overwrites and deletes made after a replay."""
        srv = self.server(idle_flush_ms=30000)
        b = 'rs-kill-unflushed'
        c = srv.client()
        c.create_bucket(Bucket=b)
        rnd = random.Random(5)
        objs = make_objects('k', [log_uniform_size(rnd, 1, 128 * KiB)
                                  for _ in range(500)], 'k')
        self.assertEqual(put_many(srv, b, objs, 32)[:20], [])
        m = metrics(srv)
        self.assertGreaterEqual(m[MEM_CONTAINERS], 1)
        self.assertEqual(m[MEM_OBJECTS], len(objs))
        self.assertEqual(container_files(self.standard(srv)), {},
                         'containers were flushed: the test wants them in '
                         'memory only')
        srv.kill9()
        srv.start()
        m = metrics(srv)
        self.assertGreaterEqual(m['roadstore_wal_replay_records'], len(objs))
        self.assertEqual(verify_objects(srv, b, objs)[:20], [],
                         'after SIGKILL with nothing flushed')
        # the replayed containers are written out
        m = wait_drained(srv, 40)
        self.assertEqual(m[MEM_CONTAINERS], 0,
                         'replayed containers not flushed within 40 s')
        self.assertGreaterEqual(len(container_files(self.standard(srv))), 1)
        # overwrite and delete some, SIGKILL again before their flush
        keys = sorted(objs)
        rnd.shuffle(keys)
        over, dele = keys[:60], keys[60:120]
        new = {k: rand_bytes(rnd.randrange(1, 64 * KiB), seed='v2' + k)
               for k in over}
        self.assertEqual(put_many(srv, b, new, 16)[:20], [])
        for i in range(0, len(dele), 1000):
            r = c.delete_objects(Bucket=b, Delete={
                'Objects': [{'Key': k} for k in dele[i:i + 1000]]})
            self.assertEqual(r.get('Errors', []), [])
        objs.update(new)
        for k in dele:
            del objs[k]
        srv.kill9()
        srv.start()
        self.assertEqual(verify_objects(srv, b, objs, absent=dele)[:20], [],
                         'after the second SIGKILL')
        self.assertEqual(set(list_all(c, b)), set(objs))
        srv.stop()
        srv.start()
        self.assertEqual(verify_objects(srv, b, objs, absent=dele)[:20], [],
                         'after a clean restart')

    def _fill_and_delete(self, srv, b, n, frac, seed):
        """n objects of 20 KiB, flushed; delete frac of them.  Returns
        (remaining objects, deleted keys, deleted bytes, bytes of
        DATA/standard before the delete)."""
        c = srv.client(max_pool_connections=32)
        c.create_bucket(Bucket=b)
        objs = {'c/%05d' % i: rand_bytes(20 * KiB, seed='%s%d' % (seed, i))
                for i in range(n)}
        self.assertEqual(put_many(srv, b, objs, 32, read_back=False)[:20], [])
        m = wait_drained(srv, 30)
        self.assertEqual(m[MEM_CONTAINERS], 0, 'the load was not flushed')
        before = tree_bytes(self.standard(srv))
        self.assertGreaterEqual(before, n * 20 * KiB)
        keys = sorted(objs)
        random.Random(seed).shuffle(keys)
        dele = sorted(keys[:int(n * frac)])
        for i in range(0, len(dele), 1000):
            r = c.delete_objects(Bucket=b, Delete={
                'Objects': [{'Key': k} for k in dele[i:i + 1000]]})
            self.assertEqual(r.get('Errors', []), [])
            self.assertEqual(len(r.get('Deleted', [])),
                             len(dele[i:i + 1000]))
        deleted_bytes = sum(len(objs.pop(k)) for k in dele)
        return objs, dele, deleted_bytes, before

    def _wait_freed(self, srv, before, deleted_bytes, timeout):
        """Wait until DATA/standard has shrunk by 80% of deleted_bytes;
        returns its size then."""
        goal = before - 0.8 * deleted_bytes
        now = [before]

        def freed():
            now[0] = tree_bytes(self.standard(srv))
            return now[0] <= goal
        wait_for(freed, timeout, 0.25)
        return now[0]

    def test_compaction_frees_disk(self):
        srv = self.server(merge_threshold='16M')
        b = 'rs-compact'
        objs, dele, deleted_bytes, before = self._fill_and_delete(
            srv, b, 3000, 0.9, 'cmp')
        # deleting frees nothing by itself: the bytes are in shared
        # containers
        time.sleep(2)
        self.assertGreater(tree_bytes(self.standard(srv)),
                           before - 0.1 * deleted_bytes)
        r = srv.admin('compact', '--min-dead', '50', online=False)
        with open(srv.log_path) as f:
            self.assertIn('POST /_roadstore/admin/compact?min-dead=50',
                          f.read(), 'admin --data did not go through the '
                          'running server')
        st = admin_json(r)
        print('compact: %s' % json.dumps(st, sort_keys=True), file=sys.stderr)
        self.assertEqual(st['errors'], 0)
        self.assertGreaterEqual(st['containers_compacted'], 1)
        self.assertGreaterEqual(st['containers_scanned'],
                                st['containers_compacted'])
        self.assertLessEqual(st['objects_moved'], len(objs))
        self.assertGreaterEqual(st['objects_moved'], 1)
        self.assertEqual(st['bytes_moved'], st['objects_moved'] * 20 * KiB)
        self.assertGreaterEqual(st['bytes_freed'], 0.8 * deleted_bytes)
        after = self._wait_freed(srv, before, deleted_bytes, 30)
        print('compact: DATA/standard %d -> %d bytes, %d deleted' % (
            before, after, deleted_bytes), file=sys.stderr)
        self.assertGreaterEqual(before - after, 0.8 * deleted_bytes,
                                'compaction + gc freed %d bytes of %d deleted'
                                % (before - after, deleted_bytes))
        m = metrics(srv)
        self.assertGreaterEqual(m['roadstore_compaction_containers_total'],
                                st['containers_compacted'])
        self.assertEqual(m['roadstore_compaction_objects_moved_total'],
                         st['objects_moved'])
        # the moved objects are exact, the deleted stay deleted
        self.assertEqual(verify_objects(srv, b, objs, absent=dele)[:20], [])
        self.assertEqual(set(list_all(srv.client(), b)), set(objs))
        wait_drained(srv, 30)
        r = srv.admin('fsck', online=False, check=False)
        rep = admin_json(r)
        self.assertEqual((r.returncode, rep['problems']), (0, []))
        self.assertEqual(rep['objects'], len(objs))
        for k in ('missing', 'corrupt', 'orphans', 'unreferenced',
                  'dead_counters'):
            self.assertEqual(rep[k], 0, k)
        # and it all holds after a restart
        srv.stop()
        srv.start()
        self.assertEqual(verify_objects(srv, b, objs, absent=dele)[:20], [])

    def test_background_compaction(self):
        srv = self.server(merge_threshold='8M', compact_dead_percent=50,
                          compact_interval=1)
        b = 'rs-bg-compact'
        objs, dele, deleted_bytes, before = self._fill_and_delete(
            srv, b, 1000, 0.9, 'bg')
        after = self._wait_freed(srv, before, deleted_bytes, 40)
        print('background compaction: DATA/standard %d -> %d bytes, %d '
              'deleted' % (before, after, deleted_bytes), file=sys.stderr)
        self.assertGreaterEqual(before - after, 0.8 * deleted_bytes,
                                'no admin command: %d bytes freed of %d '
                                'deleted within 40 s' % (before - after,
                                                         deleted_bytes))
        m = metrics(srv)
        self.assertGreaterEqual(m['roadstore_compaction_containers_total'], 1)
        with open(srv.log_path) as f:
            self.assertNotIn('/_roadstore/admin/compact', f.read())
        self.assertEqual(verify_objects(srv, b, objs, absent=dele)[:20], [])

    def test_fsck_finds_and_repairs(self):
        srv = self.server()
        b = 'rs-fsck'
        c = srv.client()
        c.create_bucket(Bucket=b)
        rnd = random.Random(8)
        objs = make_objects('f', [rnd.randrange(1, 100 * KiB)
                                  for _ in range(60)], 'fsck')
        victim = 'f/victim'
        objs[victim] = rand_bytes(10 * KiB, seed='victim')
        self.assertEqual(put_many(srv, b, objs, 8)[:20], [])
        self.assertEqual(wait_drained(srv, 30)[MEM_CONTAINERS], 0)
        srv.stop()

        # (b) flip one byte of the victim's data in its merged container
        hits = []
        for path in container_files(self.standard(srv)):
            with open(path, 'rb') as f:
                blob = f.read()
            i = blob.find(objs[victim])
            if i >= 0:
                hits.append((path, i))
                self.assertEqual(blob.find(objs[victim], i + 1), -1)
        self.assertEqual(len(hits), 1, 'victim found in %d containers' %
                         len(hits))
        path, off = hits[0]
        with open(path, 'r+b') as f:
            f.seek(off + 5000)
            byte = f.read(1)
            f.seek(off + 5000)
            f.write(bytes([byte[0] ^ 0x40]))
        # (a) an orphan container file nobody refers to
        orphan = 'abcd' + os.urandom(14).hex()
        orphan_path = os.path.join(self.standard(srv), 'ab', 'cd', orphan)
        H.write_file(orphan_path, os.urandom(5000))

        r = srv.admin('fsck', online=False, check=False)
        rep = admin_json(r)
        print('fsck: %s' % json.dumps(rep, sort_keys=True), file=sys.stderr)
        self.assertNotEqual(r.returncode, 0, 'fsck found problems but '
                            'exited 0')
        self.assertEqual((rep['orphans'], rep['corrupt'], rep['missing'],
                          rep['unreferenced'], rep['repaired']),
                         (1, 1, 0, 0, 0))
        self.assertEqual(rep['objects'], len(objs))
        kinds = sorted(p['kind'] for p in rep['problems'])
        self.assertEqual(kinds, ['corrupt', 'orphan'])
        corrupt = [p for p in rep['problems'] if p['kind'] == 'corrupt'][0]
        self.assertIn('%s/%s' % (b, victim), corrupt['detail'])
        orph = [p for p in rep['problems'] if p['kind'] == 'orphan'][0]
        self.assertIn(orphan, orph['detail'])
        self.assertTrue(os.path.exists(orphan_path),
                        'fsck without --repair removed the orphan')

        # the corrupted object is never served with wrong bytes
        srv.start()
        c = srv.client()
        for rng in (None, 'bytes=4990-5010', 'bytes=0-99'):
            kw = {'Range': rng} if rng else {}
            try:
                g = c.get_object(Bucket=b, Key=victim, **kw)
                body = g['Body'].read()
            except ClientError as e:
                # a small object is read and checked before the status
                # line: the damage is an S3 error, not a cut connection
                print('fsck: GET %s %s of the corrupted object: %r' % (
                    victim, rng or '', e), file=sys.stderr)
                self.assertEqual(
                    e.response['ResponseMetadata']['HTTPStatusCode'], 500)
                self.assertEqual(e.response['Error']['Code'],
                                 'InternalError')
                continue
            want = objs[victim]
            if rng:
                a, z = map(int, rng[6:].split('-'))
                want = want[a:z + 1]
            self.fail('GET %s %s of a corrupted object answered %d with %d '
                      'bytes (%s)' % (victim, rng or '',
                                      g['ResponseMetadata']['HTTPStatusCode'],
                                      len(body),
                                      'the right bytes?!' if body == want
                                      else 'wrong bytes'))
        # its neighbours are fine
        others = {k: v for k, v in objs.items() if k != victim}
        self.assertEqual(verify_objects(srv, b, others)[:20], [])
        srv.stop()

        r = srv.admin('fsck', '--repair', online=False, check=False)
        rep = admin_json(r)
        print('fsck --repair: %s' % json.dumps(rep, sort_keys=True),
              file=sys.stderr)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertGreaterEqual(rep['repaired'], 2)
        self.assertEqual((rep['orphans'], rep['corrupt']), (1, 1))
        # (subTest: a failure here is reported and the rest still runs)
        with self.subTest('second fsck after --repair is clean'):
            r = srv.admin('fsck', online=False, check=False)
            rep = admin_json(r)
            self.assertEqual(rep['objects'], len(others))
            self.assertEqual((r.returncode, rep['problems']), (0, []),
                             'second fsck not clean')
            for k in ('missing', 'corrupt', 'orphans', 'unreferenced',
                      'dead_counters', 'repaired'):
                self.assertEqual(rep[k], 0, k)

        # the server collects the orphan after gc_delay (1 s)
        srv.start()
        self.assertTrue(wait_for(lambda: not os.path.exists(orphan_path), 20),
                        'orphan %s still there 20 s after the repair' %
                        orphan_path)
        code, status, _ = H.client_error(c.get_object, Bucket=b, Key=victim)
        self.assertEqual((code, status), ('NoSuchKey', 404))
        self.assertEqual(verify_objects(srv, b, others)[:20], [])
        with self.subTest('fsck of the repaired node, online, is clean'):
            r = srv.admin('fsck', online=False, check=False)
            self.assertEqual((r.returncode, admin_json(r)['problems']),
                             (0, []))

    def test_many_open_containers_do_not_block_connections(self):
        """With over 1,024 container handles cached (one file per object:
        the merge path off), new connections are still accepted and
        served: the gateway polls with poll(), not select()."""
        srv = self.server(small_object_threshold=0)
        c = srv.client(max_pool_connections=64)
        b = 'fds'
        c.create_bucket(Bucket=b)
        n = 1100
        objs = {'o%05d' % i: rand_bytes(100 + i % 50, seed='fd%d' % i)
                for i in range(n)}

        def put(k):
            c.put_object(Bucket=b, Key=k, Body=objs[k])

        def get(k):
            return c.get_object(Bucket=b, Key=k)['Body'].read() == objs[k]

        with cf.ThreadPoolExecutor(16) as ex:
            list(ex.map(put, objs))
            # every object read once: the server holds ~1,100 handles
            self.assertTrue(all(ex.map(get, objs)))
        # now 64 fresh connections at once, each reading
        fresh = [srv.client() for _ in range(64)]
        keys = list(objs)[:64]
        with cf.ThreadPoolExecutor(64) as ex:
            got = list(ex.map(
                lambda i: fresh[i].get_object(
                    Bucket=b, Key=keys[i])['Body'].read() == objs[keys[i]],
                range(64)))
        self.assertEqual(got, [True] * 64)
        with open(srv.log_path, errors='replace') as f:
            self.assertNotIn('FD_SETSIZE', f.read())

    def test_bad_input_is_an_s3_error(self):
        srv = self.server()
        b = 'rs-bad-input'
        c = srv.client()
        c.create_bucket(Bucket=b)
        old_small = rand_bytes(3000, seed='old-small')
        old_big = rand_bytes(SMALL + 1, seed='old-big')
        c.put_object(Bucket=b, Key='small', Body=old_small)
        c.put_object(Bucket=b, Key='big', Body=old_big)
        new = rand_bytes(2000, seed='new')
        new_big = rand_bytes(SMALL + 1, seed='new-big')

        def put(key, body, headers):
            return srv.request('PUT', '/%s/%s' % (b, key), headers=headers,
                               body=body)
        cases = [
            ('BadDigest',
             {'Content-MD5': b64(hashlib.md5(b'other').digest())}),
            ('InvalidDigest', 'boto3'),
            ('XAmzContentSHA256Mismatch', None),
            ('BadDigest', {'x-amz-checksum-crc32': H.crc32_b64(b'other')}),
        ]
        for key, body, old in (('small', new, old_small),
                               ('big', new_big, old_big),
                               ('fresh', new, None)):
            for code, headers in cases:
                if headers == 'boto3':
                    # refused on its headers, before the body: the server
                    # answers and closes, so send it as boto3 does (with
                    # Expect: 100-continue for the larger body)
                    got = H.client_error(c.put_object, Bucket=b, Key=key,
                                         Body=body,
                                         ContentMD5='not-base64-md5')[:2]
                    self.assertEqual(got, (code, 400), 'PUT %s' % key)
                    continue
                if headers is None:         # signed for other bytes
                    r = srv.request('PUT', '/%s/%s' % (b, key), body=body,
                                    payload_hash=H.sha256_hex(b'other'))
                else:
                    r = put(key, body, headers)
                self.assertEqual((r.status, r.code),
                                 (400, code), 'PUT %s %s: %r' % (
                                     key, code, r.body[:300]))
                self.assertIn('x-amz-request-id', r.headers)
                if old is None:
                    self.assertEqual(H.client_error(
                        c.head_object, Bucket=b, Key=key)[1], 404)
                else:
                    self.assertEqual(self.get_bytes(c, b, key), old,
                                     '%s changed by a rejected PUT (%s)' % (
                                         key, code))
        # a small PUT to a bucket that does not exist
        code, status, _ = H.client_error(c.put_object, Bucket='rs-no-such',
                                         Key='k', Body=b'x')
        self.assertEqual((code, status), ('NoSuchBucket', 404))
        # the rejected PUTs do not come back from the WAL after a crash
        srv.kill9()
        srv.start()
        self.assertEqual(self.get_bytes(c, b, 'small'), old_small)
        self.assertEqual(self.get_bytes(c, b, 'big'), old_big)
        self.assertEqual(H.client_error(c.head_object, Bucket=b,
                                        Key='fresh')[1], 404)
        # and a good PUT still works
        r = put('small', new, {'Content-MD5': b64(hashlib.md5(new).digest())})
        self.assertEqual(r.status, 200, r.body[:300])
        self.assertEqual(self.get_bytes(c, b, 'small'), new)

    @staticmethod
    def get_bytes(c, b, key):
        return c.get_object(Bucket=b, Key=key)['Body'].read()


if __name__ == '__main__':
    H.main()
