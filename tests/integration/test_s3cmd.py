#!/usr/bin/python3
"""s3cmd (Debian's /usr/bin/s3cmd, signature v4, path style): mb, put, get,
ls, la, info, cp, mv, del, rb, sync, a multipart put
(--multipart-chunk-size-mb=5 with a 20 MiB file), a public object.
Bytes are compared exactly."""

import os
import re
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rsharness as H  # noqa: E402
from rsharness import ServerTestCase, rand_bytes, tree_digest  # noqa: E402

MiB = 1024 * 1024


def ls_entries(out):
    """{uri: size or 'DIR'} from s3cmd ls/la output."""
    entries = {}
    for line in out.splitlines():
        i = line.find('s3://')
        if i < 0:
            continue
        uri = line[i:]
        before = line[:i].split()
        if not before:
            continue
        entries[uri] = before[-1] if before[-1] == 'DIR' else int(before[-1])
    return entries


class S3cmdTest(ServerTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.work = tempfile.mkdtemp(prefix='rs-s3cmd-work-',
                                    dir=os.environ.get('ROADSTORE_TEST_TMPDIR'))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.work, ignore_errors=True)
        super().tearDownClass()

    def path(self, name, data=None):
        p = os.path.join(self.work, name)
        if data is not None:
            H.write_file(p, data)
        return p

    def test_basic_commands(self):
        s = self.srv.s3cmd
        s('mb', 's3://rs-s3cmd')
        r = s('ls')
        self.assertIn('s3://rs-s3cmd', r.stdout)
        data = rand_bytes(300001, seed='s3cmd')
        f = self.path('in/photo 1.jpg', data)
        s('put', f, 's3://rs-s3cmd/cam/photo 1.jpg')
        s('put', self.path('in/ü.txt', b'unicode name'),
          's3://rs-s3cmd/cam/ü.txt')
        s('put', self.path('in/empty', b''), 's3://rs-s3cmd/empty')
        # ls at the top and below a prefix
        r = s('ls', 's3://rs-s3cmd')
        e = ls_entries(r.stdout)
        self.assertEqual(e, {'s3://rs-s3cmd/cam/': 'DIR',
                             's3://rs-s3cmd/empty': 0})
        r = s('ls', 's3://rs-s3cmd/cam/')
        self.assertEqual(ls_entries(r.stdout),
                         {'s3://rs-s3cmd/cam/photo 1.jpg': 300001,
                          's3://rs-s3cmd/cam/ü.txt': 12})
        r = s('ls', '--recursive', 's3://rs-s3cmd')
        self.assertEqual(len(ls_entries(r.stdout)), 3)
        # la: every object in every bucket
        r = s('la', '--recursive')
        e = ls_entries(r.stdout)
        self.assertIn('s3://rs-s3cmd/cam/photo 1.jpg', e)
        self.assertIn('s3://rs-s3cmd/empty', e)
        # get, byte for byte
        out = self.path('out/photo.jpg')
        os.makedirs(os.path.dirname(out), exist_ok=True)
        s('get', 's3://rs-s3cmd/cam/photo 1.jpg', out)
        self.assertTrue(open(out, 'rb').read() == data)
        s('get', '--force', 's3://rs-s3cmd/cam/ü.txt', out)
        self.assertEqual(open(out, 'rb').read(), b'unicode name')
        s('get', '--force', 's3://rs-s3cmd/empty', out)
        self.assertEqual(open(out, 'rb').read(), b'')
        # info on an object and on the bucket
        r = s('info', 's3://rs-s3cmd/cam/photo 1.jpg')
        self.assertRegex(r.stdout, r'File size:\s+300001')
        self.assertRegex(r.stdout, r'MD5 sum:\s+%s' % H.md5_hex(data))
        self.assertRegex(r.stdout, r'Storage:\s+STANDARD')
        r = s('info', 's3://rs-s3cmd')
        self.assertIn('s3://rs-s3cmd/ (bucket)', r.stdout)
        # cp and mv are server-side copies
        s('cp', 's3://rs-s3cmd/cam/photo 1.jpg', 's3://rs-s3cmd/copy.jpg')
        s('mv', 's3://rs-s3cmd/cam/ü.txt', 's3://rs-s3cmd/moved ü.txt')
        self.assertTrue(self.get_bytes('rs-s3cmd', 'copy.jpg') == data)
        self.assertEqual(self.get_bytes('rs-s3cmd', 'moved ü.txt'),
                         b'unicode name')
        self.assertS3Error('NoSuchKey', 404, self.s3.get_object,
                           Bucket='rs-s3cmd', Key='cam/ü.txt')
        # rb refuses a bucket with objects in it
        r = s('rb', 's3://rs-s3cmd', check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('BucketNotEmpty', r.stderr + r.stdout)
        # del one, then the rest, then rb
        s('del', 's3://rs-s3cmd/cam/photo 1.jpg')
        r = s('ls', 's3://rs-s3cmd/cam/')
        self.assertEqual(ls_entries(r.stdout), {})
        s('del', '--recursive', '--force', 's3://rs-s3cmd/')
        r = s('ls', '--recursive', 's3://rs-s3cmd')
        self.assertEqual(ls_entries(r.stdout), {})
        s('rb', 's3://rs-s3cmd')
        r = s('ls')
        self.assertNotIn('s3://rs-s3cmd', r.stdout)

    def test_multipart_put(self):
        s = self.srv.s3cmd
        s('mb', 's3://rs-s3cmd-mp')
        data = rand_bytes(20 * MiB + 12345, seed='s3cmd-mp')
        f = self.path('big.bin', data)
        s('put', '--multipart-chunk-size-mb=5', f, 's3://rs-s3cmd-mp/big.bin')
        h = self.s3.head_object(Bucket='rs-s3cmd-mp', Key='big.bin')
        self.assertEqual(h['ContentLength'], len(data))
        parts = [data[i:i + 5 * MiB] for i in range(0, len(data), 5 * MiB)]
        self.assertEqual(h['ETag'], H.multipart_etag(parts))
        r = s('info', 's3://rs-s3cmd-mp/big.bin')
        self.assertRegex(r.stdout, r'File size:\s+%d' % len(data))
        # s3cmd keeps the whole file's MD5 in x-amz-meta-s3cmd-attrs
        self.assertRegex(r.stdout, r'MD5 sum:\s+%s' % H.md5_hex(data))
        out = self.path('big.out')
        s('get', 's3://rs-s3cmd-mp/big.bin', out)
        self.assertEqual(H.file_sha256(out), H.sha256_hex(data))
        self.assertTrue(self.get_bytes('rs-s3cmd-mp', 'big.bin') == data)
        s('del', 's3://rs-s3cmd-mp/big.bin')
        s('rb', 's3://rs-s3cmd-mp')

    def test_recursive_put_get_and_sync(self):
        s = self.srv.s3cmd
        s('mb', 's3://rs-s3cmd-tree')
        src = os.path.join(self.work, 'tree')
        for i in range(60):
            H.write_file(os.path.join(src, 'd%d' % (i % 4), 'sub %d' % (i % 3),
                                      'f%02d.bin' % i),
                         rand_bytes(i * 997, seed=i))
        H.write_file(os.path.join(src, 'ü ñ', 'x.txt'), b'odd')
        s('put', '--recursive', src + '/', 's3://rs-s3cmd-tree/put/')
        dst = os.path.join(self.work, 'tree-out')
        os.makedirs(dst)
        s('get', '--recursive', 's3://rs-s3cmd-tree/put/', dst + '/')
        self.assertEqual(tree_digest(dst), tree_digest(src))
        r = s('sync', src + '/', 's3://rs-s3cmd-tree/sync/')
        r = s('sync', src + '/', 's3://rs-s3cmd-tree/sync/')
        self.assertNotIn("upload:", r.stdout)
        self.assertNotRegex(r.stdout, re.compile(r"-> 's3://", re.M))
        dst2 = os.path.join(self.work, 'tree-sync-out')
        os.makedirs(dst2)
        s('sync', 's3://rs-s3cmd-tree/sync/', dst2 + '/')
        self.assertEqual(tree_digest(dst2), tree_digest(src))
        r = s('du', 's3://rs-s3cmd-tree')
        total = sum(sz for sz, _ in tree_digest(src).values())
        self.assertTrue(r.stdout.strip().startswith(str(2 * total)), r.stdout)

    def test_public_object(self):
        s = self.srv.s3cmd
        s('mb', 's3://rs-s3cmd-pub')
        s('put', '--acl-public', self.path('pub.txt', b'for everyone'),
          's3://rs-s3cmd-pub/pub.txt')
        s('put', self.path('priv.txt', b'not for everyone'),
          's3://rs-s3cmd-pub/priv.txt')
        r = self.srv.request('GET', '/rs-s3cmd-pub/pub.txt', sign=False)
        self.assertRaw(r, 200)
        self.assertEqual(r.body, b'for everyone')
        r = self.srv.request('GET', '/rs-s3cmd-pub/priv.txt', sign=False)
        self.assertRaw(r, 403, 'AccessDenied')


if __name__ == '__main__':
    H.main()
