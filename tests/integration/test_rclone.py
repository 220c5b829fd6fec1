#!/usr/bin/python3
"""rclone (Debian's /usr/bin/rclone, type s3, provider Other, path style):
copy of a tree, `rclone check` with 0 differences, a 50 MiB file (single
PUT and multipart), ls/lsf/size, copy back, delete, purge.  Bytes are
compared with SHA-256 of every file."""

import os
import re
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rsharness as H  # noqa: E402
from rsharness import ServerTestCase, rand_bytes, tree_digest  # noqa: E402

MiB = 1024 * 1024


def ls_map(out):
    """{path: size} from `rclone ls` ('   1234 path with spaces')."""
    m = {}
    for line in out.splitlines():
        line = line.lstrip()
        if not line:
            continue
        size, path = line.split(' ', 1)
        m[path] = int(size)
    return m


class RcloneTest(ServerTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.work = tempfile.mkdtemp(prefix='rs-rclone-work-',
                                    dir=os.environ.get('ROADSTORE_TEST_TMPDIR'))
        cls.src = os.path.join(cls.work, 'src')
        for i in range(200):
            H.write_file(os.path.join(cls.src, 'cam%d' % (i % 5),
                                      '2024-01-%02d' % (i % 28 + 1),
                                      'img_%03d.jpg' % i),
                         rand_bytes((i * 7919) % 200000, seed=i))
        for name in ['space name.txt', 'ünï/cödé.bin', 'plus+percent%.x',
                     "q'uote", 'a=b&c;d']:
            H.write_file(os.path.join(cls.src, name), name.encode() * 10)
        cls.big = os.path.join(cls.work, 'big', 'video 50M.mp4')
        H.write_file(cls.big, os.urandom(50 * MiB))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.work, ignore_errors=True)
        super().tearDownClass()

    def rc(self, *args, **kw):
        return self.srv.rclone(*args, **kw)

    def test_copy_check_ls_delete(self):
        self.rc('mkdir', 'rs:rs-rclone')
        self.rc('copy', self.src, 'rs:rs-rclone/tree')
        r = self.rc('check', self.src, 'rs:rs-rclone/tree')
        self.assertRegex(r.stdout + r.stderr, r'\b0 differences found')
        self.assertNotRegex(r.stdout + r.stderr, r'[1-9]\d* differences')
        want = {k: s for k, (s, _) in tree_digest(self.src).items()}
        r = self.rc('ls', 'rs:rs-rclone/tree')
        self.assertEqual(ls_map(r.stdout), want)
        r = self.rc('size', '--json', 'rs:rs-rclone/tree')
        self.assertIn('"count":%d' % len(want), r.stdout.replace(' ', ''))
        # copy back, byte for byte
        back = os.path.join(self.work, 'back')
        self.rc('copy', 'rs:rs-rclone/tree', back)
        self.assertEqual(tree_digest(back), tree_digest(self.src))
        # a second copy transfers nothing
        r = self.rc('copy', '-v', self.src, 'rs:rs-rclone/tree')
        self.assertNotRegex(r.stderr, r'Copied \((new|replaced)')
        # check notices a difference
        changed = os.path.join(back, 'space name.txt')
        H.write_file(changed, b'different')
        r = self.rc('check', back, 'rs:rs-rclone/tree', check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertRegex(r.stdout + r.stderr, r'\b1 differences found')
        # delete a subtree, then everything
        self.rc('delete', 'rs:rs-rclone/tree/cam0')
        r = self.rc('ls', 'rs:rs-rclone/tree')
        left = ls_map(r.stdout)
        self.assertEqual(set(left),
                         {k for k in want if not k.startswith('cam0/')})
        self.rc('purge', 'rs:rs-rclone/tree')
        r = self.rc('lsf', '-R', 'rs:rs-rclone')
        self.assertEqual(r.stdout.strip(), '')
        self.rc('rmdir', 'rs:rs-rclone')
        r = self.rc('lsd', 'rs:')
        self.assertNotIn('rs-rclone', [l.split()[-1] for l in r.stdout.splitlines()
                                       if l.strip()])

    def test_big_file_single_put_and_multipart(self):
        self.rc('mkdir', 'rs:rs-rclone-big')
        want = H.file_sha256(self.big)
        # 50 MiB is under rclone's 200M upload cutoff: one PUT
        self.rc('copy', self.big, 'rs:rs-rclone-big/single')
        # and forced through multipart, 5 MiB chunks
        self.rc('copy', '--s3-upload-cutoff', '5M', '--s3-chunk-size', '5M',
                self.big, 'rs:rs-rclone-big/multi')
        h = self.s3.head_object(Bucket='rs-rclone-big',
                                Key='multi/video 50M.mp4')
        self.assertEqual(h['ContentLength'], 50 * MiB)
        self.assertEqual(h['ETag'], H.file_multipart_etag(self.big, 5 * MiB))
        h = self.s3.head_object(Bucket='rs-rclone-big',
                                Key='single/video 50M.mp4')
        self.assertEqual(h['ETag'], '"%s"' % H.md5_hex(open(self.big, 'rb').read()))
        for sub in ('single', 'multi'):
            with self.subTest(upload=sub):
                r = self.rc('check', os.path.dirname(self.big),
                            'rs:rs-rclone-big/' + sub)
                self.assertRegex(r.stdout + r.stderr, r'\b0 differences found')
                out = os.path.join(self.work, 'dl-' + sub)
                self.rc('copy', 'rs:rs-rclone-big/' + sub, out)
                self.assertEqual(H.file_sha256(
                    os.path.join(out, 'video 50M.mp4')), want)
        # rclone cat streams it
        r = H.subprocess.run([H.RCLONE, '--config', self.srv.rclone_config(),
                              'cat', '--offset', str(10 * MiB), '--count', '100',
                              'rs:rs-rclone-big/multi/video 50M.mp4'],
                             env=self.srv.cli_env(), capture_output=True,
                             timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(self.big, 'rb') as f:
            f.seek(10 * MiB)
            self.assertEqual(r.stdout, f.read(100))
        self.rc('delete', 'rs:rs-rclone-big')
        r = self.rc('ls', 'rs:rs-rclone-big')
        self.assertEqual(r.stdout.strip(), '')


if __name__ == '__main__':
    H.main()
