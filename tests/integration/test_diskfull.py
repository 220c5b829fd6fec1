#!/usr/bin/python3
"""Disk full, on real small file systems (16 MiB tmpfs mounts):

  - the WAL directory fills up: PUTs of small objects get the S3 error the
    gateway maps RS_ENOSPC to (ingest/s3_error.c: 507 InsufficientStorage),
    nothing acknowledged is lost, and once space is back PUTs succeed
    again, also across a clean restart and SIGKILL;
  - the data directory (the standard storage group) fills up: flushes of
    merged containers fail, the merge cache fills, and writers then get
    the same error instead of hanging; a striped (8 MiB) PUT too; once
    space is back the cache drains and PUTs succeed; restarts keep
    everything acknowledged.

Mounting needs root (CAP_SYS_ADMIN): without it every test is skipped and
the file exits 77.  Mounts are always unmounted in tearDown."""

import atexit
import concurrent.futures as cf
import os
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rsharness as H  # noqa: E402
from rsharness import Server, md5_hex, rand_bytes  # noqa: E402

KiB = 1024
MiB = 1024 * KiB
TMPFS_SIZE = '16m'
OBJ = 64 * KiB
# What RS_ENOSPC becomes at the gateway (s3_error_from_rs).
ENOSPC_ERROR = ('InsufficientStorage', 507)
REQ_TIMEOUT = 60                 # no request may take longer
MEM_CONTAINERS = 'roadstore_merge_containers{state="memory"}'

_mounted = set()        # mounts not yet undone, for the atexit fallback


@atexit.register
def _umount_leftovers():
    for p in sorted(_mounted, reverse=True):
        subprocess.run(['umount', '-l', p], capture_output=True)


def metrics(srv):
    r = srv.http_get('/_roadstore/metrics')
    out = {}
    for line in r.body.decode().splitlines():
        if line and not line.startswith('#'):
            name, _, val = line.rpartition(' ')
            out[name] = float(val)
    return out


def wait_for(fn, timeout, interval=0.1):
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v or time.time() >= deadline:
            return v
        time.sleep(interval)


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill(path, leave):
    """A filler file in path leaving about `leave` bytes free; returns its
    path."""
    p = os.path.join(path, 'filler')
    n = free_bytes(path) - leave
    chunk = b'\0' * MiB
    with open(p, 'wb') as f:
        while n > 0:
            f.write(chunk[:min(n, MiB)])
            n -= MiB
        f.flush()
        os.fsync(f.fileno())
    return p


def err_of(e):
    """(code, status) of a ClientError, else None."""
    if isinstance(e, H.ClientError):
        return (e.response.get('Error', {}).get('Code'),
                e.response.get('ResponseMetadata', {}).get('HTTPStatusCode'))
    return None


class DiskFullTest(unittest.TestCase):

    def setUp(self):
        self.servers = []
        self.mounts = []

    def tearDown(self):
        try:
            for s in self.servers:
                s.stop()
        finally:
            self.umount_all()
        for s in self.servers:
            s.check()

    # -- mounts --------------------------------------------------------------

    def mount_tmpfs(self, path):
        os.makedirs(path, exist_ok=True)
        try:
            r = subprocess.run(['mount', '-t', 'tmpfs', '-o',
                                'size=%s' % TMPFS_SIZE, 'tmpfs', path],
                               capture_output=True, text=True, timeout=30)
            why = (r.stderr or r.stdout).strip() if r.returncode else None
        except (OSError, subprocess.SubprocessError) as e:
            why = repr(e)
        if why is not None:
            msg = ('cannot mount a %s tmpfs on %s (euid %d): %s' % (
                TMPFS_SIZE, path, os.geteuid(), why))
            print('diskfull: skipped: ' + msg, file=sys.stderr)
            self.skipTest(msg)
        self.mounts.append(path)
        _mounted.add(path)
        self.assertLessEqual(free_bytes(path), 16 * MiB)

    def umount_all(self):
        for p in reversed(self.mounts):
            for _ in range(100):
                if subprocess.run(['umount', p], capture_output=True).\
                        returncode == 0:
                    break
                time.sleep(0.1)
            else:
                subprocess.run(['umount', '-l', p], capture_output=True)
                print('diskfull: %s was busy; lazily unmounted' % p,
                      file=sys.stderr)
            _mounted.discard(p)
        self.mounts = []

    # -- helpers -------------------------------------------------------------

    def server(self, name, tmpfs_dir, config):
        srv = Server(name=name)
        self.servers.append(srv)
        mnt = os.path.join(srv.root, tmpfs_dir)
        self.mount_tmpfs(mnt)
        srv.write_config(config(mnt))
        srv.start()
        return srv, mnt

    def timed_put(self, c, bucket, key, data):
        """PUT; returns (None or (code, status) or the exception, seconds)."""
        t = time.time()
        try:
            c.put_object(Bucket=bucket, Key=key, Body=data)
            res = None
        except Exception as e:          # noqa: BLE001 - judged by caller
            res = err_of(e) or e
        return res, time.time() - t

    def verify(self, srv, bucket, acked, failed, label):
        """Every acknowledged object byte for byte; a failed PUT left its
        key absent or holding exactly what was sent (S3 allows a failed
        PUT to have happened), never anything else."""
        c = srv.client(max_pool_connections=16)
        problems = []

        def one(item):
            key, data, was_acked = item
            try:
                body = c.get_object(Bucket=bucket, Key=key)['Body'].read()
            except H.ClientError as e:
                if not was_acked and err_of(e) == ('NoSuchKey', 404):
                    return None
                return '%s: GET %s (acknowledged: %s)' % (key, err_of(e),
                                                          was_acked)
            if body != data:
                return '%s: %d bytes, md5 %s; want %d bytes md5 %s' % (
                    key, len(body), md5_hex(body), len(data), md5_hex(data))
            return None
        items = [(k, v, True) for k, v in acked.items()] + \
            [(k, v, False) for k, v in failed.items() if k not in acked]
        with cf.ThreadPoolExecutor(16) as ex:
            for r in ex.map(one, items):
                if r:
                    problems.append(r)
        print('diskfull: %s: %d acknowledged, %d failed PUTs checked, %d '
              'problems' % (label, len(acked), len(failed), len(problems)),
              file=sys.stderr)
        self.assertEqual(problems[:20], [], label)

    def put_all_ok(self, srv, bucket, objs, acked):
        c = srv.client(read_timeout=REQ_TIMEOUT)
        for k, v in objs.items():
            res, _secs = self.timed_put(c, bucket, k, v)
            self.assertIsNone(res, 'PUT %s (%d bytes) after space came '
                              'back: %r' % (k, len(v), res))
            acked[k] = v

    # -- the WAL directory fills up ------------------------------------------

    def test_wal_dir_full(self):
        srv, wal = self.server('diskfull-wal', 'wal-tmpfs', lambda d: {
            'merge': {'wal_dir': d, 'idle_flush_ms': 200},
            'storage': {'gc_delay': 1}})
        b = 'rs-wal-full'
        c = srv.client(read_timeout=REQ_TIMEOUT)
        c.create_bucket(Bucket=b)
        acked, failed = {}, {}
        self.put_all_ok(srv, b, {'pre/%02d' % i:
                                 rand_bytes(OBJ, seed='p%d' % i)
                                 for i in range(10)}, acked)
        self.assertTrue(any(f.startswith('wal-') for f in os.listdir(wal)),
                        'the WAL is not in %s' % wal)
        filler = fill(wal, 3 * MiB)

        # PUT until one fails: 3 MiB is less than 64 x 64 KiB
        first = None
        for i in range(240):
            key = 'seq/%04d' % i
            data = rand_bytes(OBJ, seed=key)
            res, secs = self.timed_put(c, b, key, data)
            self.assertLess(secs, REQ_TIMEOUT)
            if res is None:
                acked[key] = data
                continue
            failed[key] = data
            first = (i, res)
            break
        print('diskfull: WAL full after %s PUTs: %r' % (
            first and first[0], first and first[1]), file=sys.stderr)
        self.assertIsNotNone(first, 'no PUT failed with the WAL file system '
                             'full')
        self.assertEqual(first[1], ENOSPC_ERROR)
        self.assertGreater(first[0], 0, 'not even one PUT fitted in 3 MiB')

        # concurrent writers while it is full: every request ends in time,
        # answered 200 or the disk-full error
        lock = threading.Lock()
        outcomes = []

        def writer(t):
            cc = srv.client(read_timeout=REQ_TIMEOUT)
            for j in range(4):
                key = 'conc/%d/%d' % (t, j)
                data = rand_bytes(OBJ, seed=key)
                res, secs = self.timed_put(cc, b, key, data)
                with lock:
                    outcomes.append((key, res, secs))
                    (acked if res is None else failed)[key] = data
        threads = [threading.Thread(target=writer, args=(t,))
                   for t in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(4 * REQ_TIMEOUT + 30)
        self.assertFalse(any(t.is_alive() for t in threads), 'writers hang')
        bad = [(k, r, s) for k, r, s in outcomes
               if (r is not None and r != ENOSPC_ERROR) or s >= REQ_TIMEOUT]
        self.assertEqual(bad, [], 'answers other than 200 and %s' %
                         (ENOSPC_ERROR,))
        m = metrics(srv)
        self.assertGreaterEqual(m['roadstore_wal_failed_batches_total'], 1)
        self.verify(srv, b, acked, failed, 'WAL full')

        # space comes back
        os.remove(filler)
        self.put_all_ok(srv, b, {'after/%02d' % i:
                                 rand_bytes(OBJ, seed='a%d' % i)
                                 for i in range(20)}, acked)
        self.verify(srv, b, acked, failed, 'WAL space back')
        srv.stop()
        srv.start()
        self.verify(srv, b, acked, failed, 'WAL full: clean restart')
        self.put_all_ok(srv, b, {'late/%02d' % i:
                                 rand_bytes(OBJ, seed='l%d' % i)
                                 for i in range(20)}, acked)
        srv.kill9()
        srv.start()
        self.verify(srv, b, acked, failed, 'WAL full: SIGKILL and restart')

    # -- the data directory fills up -----------------------------------------

    def test_data_dir_full(self):
        srv, std = self.server('diskfull-data', 'std-tmpfs', lambda d: {
            'storage': {'standard': d, 'gc_delay': 1},
            'merge': {'cache': '8M', 'merge_threshold': '1M',
                      'idle_flush_ms': 50}})
        b = 'rs-data-full'
        c = srv.client(read_timeout=REQ_TIMEOUT)
        c.create_bucket(Bucket=b)
        acked, failed = {}, {}
        self.put_all_ok(srv, b, {'pre/%02d' % i:
                                 rand_bytes(OBJ, seed='p%d' % i)
                                 for i in range(10)}, acked)
        self.assertEqual(wait_for(lambda: metrics(srv)[MEM_CONTAINERS] == 0,
                                  10), True)
        self.assertTrue(any(len(d) == 2 for d in os.listdir(std)),
                        'no containers in %s' % std)
        filler = fill(std, 2 * MiB)

        # 8 writers until errors come: flushes fail, the cache (8 MiB)
        # fills, and then writers must get the error, not wait forever
        lock = threading.Lock()
        outcomes = []
        stop = threading.Event()

        def writer(t):
            cc = srv.client(read_timeout=REQ_TIMEOUT)
            errs = 0
            for j in range(80):
                if stop.is_set():
                    return
                key = 'w/%d/%03d' % (t, j)
                data = rand_bytes(OBJ, seed=key)
                res, secs = self.timed_put(cc, b, key, data)
                with lock:
                    outcomes.append((key, res, secs))
                    (acked if res is None else failed)[key] = data
                    nerr = sum(1 for o in outcomes if o[1] is not None)
                if res is not None:
                    errs += 1
                if errs >= 3 or nerr >= 16:
                    return
        threads = [threading.Thread(target=writer, args=(t,))
                   for t in range(8)]
        t0 = time.time()
        for t in threads:
            t.start()
        for t in threads:
            t.join(80 * REQ_TIMEOUT)
        stop.set()
        self.assertFalse(any(t.is_alive() for t in threads), 'writers hang')
        errors = [(k, r) for k, r, _s in outcomes if r is not None]
        slowest = max(s for _k, _r, s in outcomes)
        print('diskfull: data dir: %d PUTs in %.1f s, %d acknowledged, %d '
              'errors %s, slowest %.1f s' % (
                  len(outcomes), time.time() - t0,
                  len(outcomes) - len(errors), len(errors),
                  sorted(set(str(r) for _k, r in errors)), slowest),
              file=sys.stderr)
        self.assertTrue(errors, 'no PUT failed with the data directory full '
                        '(%d PUTs of 64 KiB, 2 MiB free, 8 MiB cache)' %
                        len(outcomes))
        self.assertEqual([(k, r) for k, r in errors if r != ENOSPC_ERROR],
                         [], 'errors other than %s' % (ENOSPC_ERROR,))
        self.assertLess(slowest, REQ_TIMEOUT)
        m = metrics(srv)
        self.assertGreaterEqual(m['roadstore_merge_flush_errors_total'], 1)

        # a striped PUT fails the same way
        big = rand_bytes(8 * MiB, seed='big')
        res, secs = self.timed_put(c, b, 'big/8MiB', big)
        print('diskfull: 8 MiB PUT with the data dir full: %r in %.1f s' % (
            res, secs), file=sys.stderr)
        self.assertEqual(res, ENOSPC_ERROR)
        self.assertLess(secs, REQ_TIMEOUT)
        failed['big/8MiB'] = big
        self.verify(srv, b, acked, failed, 'data dir full')

        # space comes back: the cache drains, PUTs succeed
        os.remove(filler)
        self.assertTrue(wait_for(lambda: metrics(srv)[MEM_CONTAINERS] == 0,
                                 30), 'the merge cache did not drain within '
                        '30 s of space coming back')
        self.put_all_ok(srv, b, {'after/%02d' % i:
                                 rand_bytes(OBJ, seed='a%d' % i)
                                 for i in range(16)}, acked)
        self.put_all_ok(srv, b, {'after/3MiB': rand_bytes(3 * MiB,
                                                          seed='a3')}, acked)
        self.verify(srv, b, acked, failed, 'data dir space back')
        srv.stop()
        srv.start()
        self.verify(srv, b, acked, failed, 'data dir full: clean restart')
        self.put_all_ok(srv, b, {'late/%02d' % i:
                                 rand_bytes(OBJ, seed='l%d' % i)
                                 for i in range(8)}, acked)
        srv.kill9()
        srv.start()
        self.verify(srv, b, acked, failed, 'data dir full: SIGKILL, restart')
        r = srv.admin('fsck', online=False, check=False)
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)


    # -- stopped and restarted while full ------------------------------------

    def load_until_errors(self, srv, b, prefix, acked, failed, threads=4):
        """PUT 64 KiB objects from a few writers until several errors came
        (every one must be the disk-full error, none may take too long)."""
        lock = threading.Lock()
        outcomes = []

        def writer(t):
            cc = srv.client(read_timeout=REQ_TIMEOUT)
            for j in range(100):
                key = '%s/%d/%03d' % (prefix, t, j)
                data = rand_bytes(OBJ, seed=key)
                res, secs = self.timed_put(cc, b, key, data)
                with lock:
                    outcomes.append((key, res, secs))
                    (acked if res is None else failed)[key] = data
                    if sum(1 for o in outcomes if o[1] is not None) >= 8:
                        return
        threads = [threading.Thread(target=writer, args=(t,))
                   for t in range(threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(100 * REQ_TIMEOUT)
        self.assertFalse(any(t.is_alive() for t in threads), 'writers hang')
        errors = [r for _k, r, _s in outcomes if r is not None]
        self.assertTrue(errors, 'no PUT failed though the disk is full')
        self.assertEqual([r for r in errors if r != ENOSPC_ERROR], [])
        self.assertLess(max(s for _k, _r, s in outcomes), REQ_TIMEOUT)

    def test_wal_dir_full_restart_while_full(self):
        """Stop (cleanly, then SIGKILL) and start while the WAL file system
        is still full: nothing acknowledged is lost, the server starts, and
        takes writes again once space is back."""
        srv, wal = self.server('diskfull-walrs', 'wal-tmpfs', lambda d: {
            'merge': {'wal_dir': d, 'idle_flush_ms': 200},
            'storage': {'gc_delay': 1}})
        b = 'rs-wal-full-restart'
        srv.client().create_bucket(Bucket=b)
        acked, failed = {}, {}
        filler = fill(wal, 2 * MiB)
        self.load_until_errors(srv, b, 'w', acked, failed)
        srv.stop()                      # must still exit cleanly, in time
        srv.start()
        self.verify(srv, b, acked, failed, 'WAL still full: clean restart')
        srv.kill9()
        srv.start()
        self.verify(srv, b, acked, failed, 'WAL still full: SIGKILL, restart')
        os.remove(filler)
        self.put_all_ok(srv, b, {'after/%02d' % i:
                                 rand_bytes(OBJ, seed='a%d' % i)
                                 for i in range(20)}, acked)
        srv.stop()
        srv.start()
        self.verify(srv, b, acked, failed, 'WAL space back: restart')
        self.assertEqual(wait_for(lambda: metrics(srv)[MEM_CONTAINERS] == 0,
                                  30), True)
        r = srv.admin('fsck', online=False, check=False)
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)

    def test_data_dir_full_restart_while_full(self):
        """Stop while merged containers cannot be flushed: the stop still
        ends cleanly, the WAL keeps them, and they come back at the next
        start (also after SIGKILL) and are flushed once space is back."""
        srv, std = self.server('diskfull-datars', 'std-tmpfs', lambda d: {
            'storage': {'standard': d, 'gc_delay': 1},
            'merge': {'cache': '8M', 'merge_threshold': '1M',
                      'idle_flush_ms': 50}})
        b = 'rs-data-full-restart'
        srv.client().create_bucket(Bucket=b)
        acked, failed = {}, {}
        filler = fill(std, 2 * MiB)
        self.load_until_errors(srv, b, 'w', acked, failed)
        self.assertGreater(metrics(srv)[MEM_CONTAINERS], 0)
        srv.stop()                      # must still exit cleanly, in time
        srv.start()
        self.verify(srv, b, acked, failed, 'data dir still full: restart')
        srv.kill9()
        srv.start()
        self.verify(srv, b, acked, failed, 'data dir still full: SIGKILL')
        os.remove(filler)
        self.assertTrue(wait_for(lambda: metrics(srv)[MEM_CONTAINERS] == 0,
                                 30), 'the merge cache did not drain within '
                        '30 s of space coming back')
        self.put_all_ok(srv, b, {'after/%02d' % i:
                                 rand_bytes(OBJ, seed='a%d' % i)
                                 for i in range(20)}, acked)
        srv.stop()
        srv.start()
        self.verify(srv, b, acked, failed, 'data dir space back: restart')
        r = srv.admin('fsck', online=False, check=False)
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)


if __name__ == '__main__':
    H.main()
