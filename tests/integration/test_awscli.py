#!/usr/bin/python3
"""Issue 3's acceptance with awscli (Debian's /usr/bin/aws): a tree of
1,000 files (mixed small sizes, nested directories, odd names) plus one
200 MiB file, which awscli uploads as a multipart upload (default 8 MiB
threshold and part size).  `aws s3 cp --recursive` up and down, `aws s3 ls`
(recursive, counts), `aws s3 sync` (a second sync transfers nothing),
`aws s3 rm --recursive`; s3api head-object, storage class, tagging,
multipart commands; streaming from stdin; presign.  Bytes are compared
with SHA-256 of every file."""

import json
import os
import random
import shutil
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rsharness as H  # noqa: E402
from rsharness import ServerTestCase, rand_bytes, tree_digest  # noqa: E402

MiB = 1024 * 1024
BIG = 200 * MiB
AWSCLI_PART = 8 * MiB

ODD_NAMES = [
    'with space.txt', 'dir with space/inner file.dat', 'ünïcödé/文件 名.bin',
    'plus+sign.dat', 'percent%20literal', "quote's", 'semi;colon',
    'hash#tag', 'a=b&c', 'brackets[1]', 'emoji😀.txt', 'tilde~', 'comma,x',
    'deep/a/b/c/d/e/f/g/leaf', 'UPPER/Mixed.Case', '.hidden', 'dash-start/-x',
]


def make_tree(root, n_files=1000, seed=3):
    """n_files small files under root, plus big.bin of 200 MiB.  Every
    mtime is set an hour back, as files a user has are older than their
    upload."""
    rnd = random.Random(seed)
    names = list(ODD_NAMES)
    i = 0
    while len(names) < n_files:
        depth = rnd.choice([0, 1, 1, 2, 2, 3])
        parts = ['d%d' % rnd.randrange(8)] + \
            ['s%d' % rnd.randrange(5) for _ in range(depth - 1)] if depth else []
        names.append('/'.join(parts + ['f%04d.%s' % (
            i, rnd.choice(['jpg', 'txt', 'bin', 'json', 'mp4'])) ]))
        i += 1
    names = names[:n_files]
    for j, name in enumerate(names):
        r = rnd.random()
        if r < 0.05:
            size = 0
        elif r < 0.85:
            size = rnd.randrange(1, 16 * 1024)
        elif r < 0.98:
            size = rnd.randrange(16 * 1024, 256 * 1024)
        else:
            size = rnd.randrange(256 * 1024, 2 * MiB)
        H.write_file(os.path.join(root, name), rand_bytes(size, seed=j))
    with open(os.path.join(root, 'big.bin'), 'wb') as f:
        for k in range(BIG // (8 * MiB)):
            f.write(os.urandom(8 * MiB))
    old = time.time() - 3600
    for d, _dirs, files in os.walk(root):
        for fn in files:
            os.utime(os.path.join(d, fn), (old, old))
    return n_files + 1


def ls_summary(out):
    """(objects, total size, {key: size}) from `aws s3 ls --recursive
    --summarize`."""
    objs = {}
    total_objects = total_size = None
    for line in out.splitlines():
        s = line.strip()
        if s.startswith('Total Objects:'):
            total_objects = int(s.split(':')[1])
        elif s.startswith('Total Size:'):
            total_size = int(s.split(':')[1])
        elif line[:4].isdigit():
            # 2024-01-02 03:04:05     123456 key, spaces and all
            _date, _time, size, key = line.split(None, 3)
            objs[key] = int(size)
    return total_objects, total_size, objs


class AwsCliTest(ServerTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.work = tempfile.mkdtemp(prefix='rs-awscli-work-',
                                    dir=os.environ.get('ROADSTORE_TEST_TMPDIR'))
        cls.src = os.path.join(cls.work, 'src')
        t = time.time()
        cls.count = make_tree(cls.src)
        cls.digest = tree_digest(cls.src)
        cls.total = sum(s for s, _ in cls.digest.values())
        print('awscli: made %d files, %d bytes in %.1fs' % (
            cls.count, cls.total, time.time() - t), file=sys.stderr)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.work, ignore_errors=True)
        super().tearDownClass()

    def aws(self, *args, **kw):
        t = time.time()
        r = self.srv.aws(*args, **kw)
        print('awscli: aws %s: %.1fs' % (' '.join(str(a) for a in args[:3]),
                                         time.time() - t), file=sys.stderr)
        return r

    def s3api(self, *args, **kw):
        r = self.aws('s3api', *args, **kw)
        return json.loads(r.stdout) if r.stdout.strip() else {}

    def assertTreeEqual(self, path):
        got = tree_digest(path)
        missing = sorted(set(self.digest) - set(got))
        extra = sorted(set(got) - set(self.digest))
        differ = sorted(k for k in set(got) & set(self.digest)
                        if got[k] != self.digest[k])
        self.assertEqual((missing[:10], extra[:10], differ[:10]), ([], [], []),
                         'trees differ: %d missing, %d extra, %d different' %
                         (len(missing), len(extra), len(differ)))

    def test_tree_cp_ls_sync_rm(self):
        b = 's3://rs-awscli-tree'
        self.aws('s3', 'mb', b)
        # -- cp --recursive up
        self.aws('s3', 'cp', '--recursive', '--only-show-errors',
                 self.src, b + '/cp/')
        # -- ls --recursive, with counts
        r = self.aws('s3', 'ls', '--recursive', '--summarize', b + '/cp/')
        n, size, objs = ls_summary(r.stdout)
        self.assertEqual(n, self.count)
        self.assertEqual(size, self.total)
        want = {'cp/' + k: s for k, (s, _) in self.digest.items()}
        self.assertEqual(objs, want)
        # the 200 MiB file went up in 8 MiB parts
        h = self.s3api('head-object', '--bucket', 'rs-awscli-tree',
                       '--key', 'cp/big.bin')
        self.assertEqual(h['ContentLength'], BIG)
        self.assertEqual(h['ETag'], H.file_multipart_etag(
            os.path.join(self.src, 'big.bin'), AWSCLI_PART))
        # -- non-recursive ls shows the top level with PRE lines
        r = self.aws('s3', 'ls', b + '/cp/')
        self.assertIn('PRE ünïcödé/', r.stdout)
        self.assertIn('PRE dir with space/', r.stdout)
        self.assertRegex(r.stdout, r'\s%d big\.bin' % BIG)
        # -- cp --recursive down
        dst = os.path.join(self.work, 'dst-cp')
        self.aws('s3', 'cp', '--recursive', '--only-show-errors',
                 b + '/cp/', dst)
        self.assertTreeEqual(dst)
        shutil.rmtree(dst)
        # -- sync up; a second sync uploads nothing
        r = self.aws('s3', 'sync', '--no-progress', self.src, b + '/sync/')
        self.assertEqual(r.stdout.count('upload:'), self.count)
        r = self.aws('s3', 'sync', '--no-progress', self.src, b + '/sync/')
        self.assertEqual(r.stdout.strip(), '', 'second sync transferred')
        # change one file: exactly that one goes up
        changed = os.path.join(self.src, 'with space.txt')
        H.write_file(changed, b'changed content, another size')
        self.digest['with space.txt'] = (os.path.getsize(changed),
                                         H.file_sha256(changed))
        r = self.aws('s3', 'sync', '--no-progress', self.src, b + '/sync/')
        self.assertEqual(r.stdout.count('upload:'), 1, r.stdout)
        self.assertIn('with space.txt', r.stdout)
        # -- sync down; a second sync downloads nothing
        dst = os.path.join(self.work, 'dst-sync')
        r = self.aws('s3', 'sync', '--no-progress', b + '/sync/', dst)
        self.assertTreeEqual(dst)
        r = self.aws('s3', 'sync', '--no-progress', b + '/sync/', dst)
        self.assertEqual(r.stdout.strip(), '', 'second sync transferred')
        shutil.rmtree(dst)
        # -- sync --delete removes what is gone locally
        os.unlink(os.path.join(self.src, 'semi;colon'))
        del self.digest['semi;colon']
        r = self.aws('s3', 'sync', '--no-progress', '--delete', self.src,
                     b + '/sync/')
        self.assertEqual(r.stdout.count('delete:'), 1, r.stdout)
        r = self.aws('s3', 'ls', '--recursive', '--summarize', b + '/sync/')
        self.assertEqual(ls_summary(r.stdout)[0], self.count - 1)
        # -- rm --recursive
        self.aws('s3', 'rm', '--recursive', '--only-show-errors', b + '/cp/')
        self.aws('s3', 'rm', '--recursive', '--only-show-errors',
                 b + '/sync/')
        r = self.s3api('list-objects-v2', '--bucket', 'rs-awscli-tree')
        self.assertEqual(r.get('KeyCount', 0), 0, r)
        self.aws('s3', 'rb', b)
        r = self.aws('s3', 'ls')
        self.assertNotIn('rs-awscli-tree', r.stdout)

    def test_s3api_head_object_storage_class_and_copy(self):
        self.aws('s3', 'mb', 's3://rs-awscli-api')
        f = os.path.join(self.work, 'ia.bin')
        H.write_file(f, rand_bytes(123457, seed='ia'))
        self.aws('s3', 'cp', '--storage-class', 'STANDARD_IA', f,
                 's3://rs-awscli-api/ia.bin')
        h = self.s3api('head-object', '--bucket', 'rs-awscli-api',
                       '--key', 'ia.bin')
        self.assertEqual(h['StorageClass'], 'STANDARD_IA')
        self.assertEqual(h['ContentLength'], 123457)
        self.assertEqual(h['ETag'], '"%s"' % H.md5_hex(open(f, 'rb').read()))
        lst = self.s3api('list-objects-v2', '--bucket', 'rs-awscli-api')
        self.assertEqual([(o['Key'], o['StorageClass']) for o in lst['Contents']],
                         [('ia.bin', 'STANDARD_IA')])
        # back to STANDARD by copying onto itself
        self.s3api('copy-object', '--bucket', 'rs-awscli-api', '--key',
                   'ia.bin', '--copy-source', 'rs-awscli-api/ia.bin',
                   '--storage-class', 'STANDARD')
        h = self.s3api('head-object', '--bucket', 'rs-awscli-api',
                       '--key', 'ia.bin')
        self.assertIn(h.get('StorageClass', 'STANDARD'), ('STANDARD',))
        out = os.path.join(self.work, 'ia.out')
        self.s3api('get-object', '--bucket', 'rs-awscli-api', '--key',
                   'ia.bin', out)
        self.assertEqual(H.file_sha256(out), H.file_sha256(f))

    def test_s3api_tagging(self):
        self.aws('s3', 'mb', 's3://rs-awscli-tag')
        self.s3api('put-object', '--bucket', 'rs-awscli-tag', '--key', 't',
                   '--body', os.path.join(self.src, 'with space.txt'))
        self.s3api('put-object-tagging', '--bucket', 'rs-awscli-tag',
                   '--key', 't', '--tagging',
                   'TagSet=[{Key=camera,Value=7},{Key=zone,Value=gate b}]')
        t = self.s3api('get-object-tagging', '--bucket', 'rs-awscli-tag',
                       '--key', 't')
        self.assertEqual(sorted((x['Key'], x['Value']) for x in t['TagSet']),
                         [('camera', '7'), ('zone', 'gate b')])
        self.s3api('delete-object-tagging', '--bucket', 'rs-awscli-tag',
                   '--key', 't')
        t = self.s3api('get-object-tagging', '--bucket', 'rs-awscli-tag',
                       '--key', 't')
        self.assertEqual(t['TagSet'], [])

    def test_s3api_multipart_commands(self):
        self.aws('s3', 'mb', 's3://rs-awscli-mp')
        up = self.s3api('create-multipart-upload', '--bucket', 'rs-awscli-mp',
                        '--key', 'mp.bin')
        uid = up['UploadId']
        parts = [rand_bytes(5 * MiB, seed='p1'), rand_bytes(777, seed='p2')]
        etags = []
        for i, p in enumerate(parts, 1):
            f = os.path.join(self.work, 'part%d' % i)
            H.write_file(f, p)
            r = self.s3api('upload-part', '--bucket', 'rs-awscli-mp', '--key',
                           'mp.bin', '--upload-id', uid, '--part-number', i,
                           '--body', f)
            etags.append({'ETag': r['ETag'], 'PartNumber': i})
        lp = self.s3api('list-parts', '--bucket', 'rs-awscli-mp', '--key',
                        'mp.bin', '--upload-id', uid)
        self.assertEqual([(p['PartNumber'], p['Size']) for p in lp['Parts']],
                         [(1, 5 * MiB), (2, 777)])
        lu = self.s3api('list-multipart-uploads', '--bucket', 'rs-awscli-mp')
        self.assertEqual([u['UploadId'] for u in lu['Uploads']], [uid])
        spec = os.path.join(self.work, 'parts.json')
        with open(spec, 'w') as fh:
            json.dump({'Parts': etags}, fh)
        r = self.s3api('complete-multipart-upload', '--bucket', 'rs-awscli-mp',
                       '--key', 'mp.bin', '--upload-id', uid,
                       '--multipart-upload', 'file://' + spec)
        self.assertEqual(r['ETag'], H.multipart_etag(parts))
        out = os.path.join(self.work, 'mp.out')
        self.aws('s3', 'cp', 's3://rs-awscli-mp/mp.bin', out)
        self.assertEqual(open(out, 'rb').read(), b''.join(parts))

    def test_stream_from_stdin_and_to_stdout(self):
        self.aws('s3', 'mb', 's3://rs-awscli-stream')
        data = rand_bytes(20 * MiB + 3, seed='stdin')
        self.aws('s3', 'cp', '-', 's3://rs-awscli-stream/piped', input=data)
        r = H.subprocess.run([H.AWS, '--endpoint-url', self.srv.endpoint,
                              's3', 'cp', 's3://rs-awscli-stream/piped', '-'],
                             env=self.srv.cli_env(), capture_output=True,
                             timeout=600)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout == data, 'streamed content differs')

    def test_presign(self):
        self.aws('s3', 'mb', 's3://rs-awscli-presign')
        f = os.path.join(self.src, 'ünïcödé/文件 名.bin')
        self.aws('s3', 'cp', f, 's3://rs-awscli-presign/x/文件 名.bin')
        r = self.aws('s3', 'presign', 's3://rs-awscli-presign/x/文件 名.bin',
                     '--expires-in', '120')
        url = r.stdout.strip()
        with urllib.request.urlopen(url, timeout=60) as resp:
            self.assertEqual(resp.read(), open(f, 'rb').read())

    def test_error_exit_codes(self):
        r = self.aws('s3', 'cp', 's3://rs-no-such-bucket-cli/x',
                     os.path.join(self.work, 'x'), check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('404', r.stderr + r.stdout)
        r = self.aws('s3', 'ls', 's3://rs-no-such-bucket-cli', check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('NoSuchBucket', r.stderr)


if __name__ == '__main__':
    H.main()
