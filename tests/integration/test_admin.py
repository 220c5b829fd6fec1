#!/usr/bin/python3
"""`roadstore admin user create/list/info/remove` (CONTRACT.md,
Administration): on a stopped node (--data DIR) and against the running
server (--endpoint URL, signed with the root credentials), and the keys it
makes work at once.  Also the root credentials: taken from
ROADSTORE_ACCESS_KEY/ROADSTORE_SECRET_KEY on first start, else generated
once, stored, and printed."""

import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rsharness as H  # noqa: E402
from rsharness import Server  # noqa: E402

import unittest  # noqa: E402

ALICE_AK = 'RSADMINALICEKEY00001'
ALICE_SK = 'aliceAdminSecret0123456789abcdefghijklmn'


def parse_keys(text):
    """(access key, secret key) from `user create` output or the server's
    start-up log: JSON with *access*/*secret* fields, or lines like
    'access key: AK' / 'AWS_SECRET_ACCESS_KEY=SK'."""
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if doc is not None:
        found = {}

        def walk(o):
            if isinstance(o, dict):
                for k, v in o.items():
                    kl = k.lower()
                    if isinstance(v, str) and 'secret' in kl:
                        found.setdefault('sk', v)
                    elif isinstance(v, str) and 'access' in kl:
                        found.setdefault('ak', v)
                    else:
                        walk(v)
            elif isinstance(o, list):
                for x in o:
                    walk(x)
        walk(doc)
        if 'ak' in found and 'sk' in found:
            return found['ak'], found['sk']
    ak = re.search(r'access[_ -]?key(?:[_ -]?id)?["\']?\s*[:=]?\s*["\']?'
                   r'([A-Za-z0-9]{12,})', text, re.I)
    sk = re.search(r'secret[_ -]?(?:access[_ -]?)?key["\']?\s*[:=]?\s*["\']?'
                   r'([A-Za-z0-9/+=]{20,})', text, re.I)
    if ak and sk:
        return ak.group(1), sk.group(1)
    return None, None


class AdminTest(unittest.TestCase):

    def setUp(self):
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            s.stop()
        for s in self.servers:
            s.check()

    def server(self, **kw):
        s = Server(name='admin-' + self._testMethodName[5:25], **kw)
        self.servers.append(s)
        return s

    def assertWorks(self, srv, ak, sk, bucket):
        c = srv.client(ak, sk)
        c.create_bucket(Bucket=bucket)
        c.put_object(Bucket=bucket, Key='k', Body=b'works ' + ak.encode())
        got = c.get_object(Bucket=bucket, Key='k')['Body'].read()
        self.assertEqual(got, b'works ' + ak.encode())
        return c

    def assertRejected(self, srv, ak, sk):
        code, status, _ = H.client_error(srv.client(ak, sk).list_buckets)
        self.assertEqual((code, status), ('InvalidAccessKeyId', 403))

    def test_offline_user_lifecycle(self):
        srv = self.server()
        srv.start()
        srv.stop()                      # an initialised, stopped node
        r = srv.admin('user', 'create', 'alice', '--access-key', ALICE_AK,
                      '--secret-key', ALICE_SK, '--display-name',
                      'Alice Example', '--email', 'alice@example.com',
                      online=False)
        self.assertIn(ALICE_AK, r.stdout)
        self.assertIn(ALICE_SK, r.stdout)
        r = srv.admin('user', 'create', 'bob', online=False)
        bob_ak, bob_sk = parse_keys(r.stdout)
        self.assertTrue(bob_ak and bob_sk,
                        'no generated keys in the output:\n' + r.stdout)
        self.assertGreaterEqual(len(bob_ak), 16)
        self.assertGreaterEqual(len(bob_sk), 30)
        self.assertNotEqual(bob_ak, ALICE_AK)
        # duplicates are refused
        r = srv.admin('user', 'create', 'alice', online=False, check=False)
        self.assertNotEqual(r.returncode, 0, 'second "alice" was accepted')
        r = srv.admin('user', 'create', 'carl', '--access-key', ALICE_AK,
                      '--secret-key', 'x' * 40, online=False, check=False)
        self.assertNotEqual(r.returncode, 0, 'a second user got alice\'s key')
        # list and info
        r = srv.admin('user', 'list', online=False)
        self.assertIn('alice', r.stdout)
        self.assertIn('bob', r.stdout)
        self.assertNotIn('carl', r.stdout)
        r = srv.admin('user', 'info', 'alice', online=False)
        self.assertIn(ALICE_AK, r.stdout)
        self.assertIn('Alice Example', r.stdout)
        self.assertIn('alice@example.com', r.stdout)
        r = srv.admin('user', 'info', 'nosuchuser', online=False, check=False)
        self.assertNotEqual(r.returncode, 0)
        # the keys work once the node runs
        srv.start()
        a = self.assertWorks(srv, ALICE_AK, ALICE_SK, 'rs-admin-alice')
        b = self.assertWorks(srv, bob_ak, bob_sk, 'rs-admin-bob')
        self.assertEqual([x['Name'] for x in a.list_buckets()['Buckets']],
                         ['rs-admin-alice'])
        self.assertEqual([x['Name'] for x in b.list_buckets()['Buckets']],
                         ['rs-admin-bob'])
        # a user who owns buckets is not removed (as radosgw-admin without
        # --purge-data)
        r = srv.admin('user', 'remove', 'bob', online=True, check=False)
        self.assertNotEqual(r.returncode, 0, 'removed a user with buckets')
        b.delete_object(Bucket='rs-admin-bob', Key='k')
        b.delete_bucket(Bucket='rs-admin-bob')
        srv.stop()
        # remove bob
        srv.admin('user', 'remove', 'bob', online=False)
        r = srv.admin('user', 'list', online=False)
        self.assertNotIn('bob', r.stdout)
        r = srv.admin('user', 'remove', 'nosuchuser', online=False,
                      check=False)
        self.assertNotEqual(r.returncode, 0)
        srv.start()
        self.assertRejected(srv, bob_ak, bob_sk)
        self.assertWorks(srv, ALICE_AK, ALICE_SK, 'rs-admin-alice2')

    def test_online_user_create_and_remove(self):
        srv = self.server()
        srv.start()
        ak, sk = 'RSADMINCAROLKEY00001', 'carolOnlineSecret0123456789abcdefghijklm'
        r = srv.admin('user', 'create', 'carol', '--access-key', ak,
                      '--secret-key', sk, online=True)
        self.assertIn(ak, r.stdout)
        # no restart: the running server knows carol now
        self.assertWorks(srv, ak, sk, 'rs-admin-carol')
        r = srv.admin('user', 'list', online=True)
        self.assertIn('carol', r.stdout)
        r = srv.admin('user', 'info', 'carol', online=True)
        self.assertIn(ak, r.stdout)
        # generated keys online
        r = srv.admin('user', 'create', 'dave', online=True)
        dave = parse_keys(r.stdout)
        self.assertTrue(all(dave), 'no generated keys:\n' + r.stdout)
        self.assertWorks(srv, dave[0], dave[1], 'rs-admin-dave')
        # the admin endpoint wants the root credentials
        r = srv.admin('user', 'create', 'mallory', '--access-key',
                      'RSADMINMALLORYKEY001', '--secret-key', 'm' * 40,
                      online=True, check=False,
                      env={'ROADSTORE_SECRET_KEY': 'not-the-root-secret'})
        self.assertNotEqual(r.returncode, 0, 'admin with a wrong root secret '
                            'succeeded:\n' + r.stdout)
        self.assertRejected(srv, 'RSADMINMALLORYKEY001', 'm' * 40)
        # a plain user's keys are not admin keys either
        r = srv.admin('user', 'create', 'mallory', online=True, check=False,
                      env={'ROADSTORE_ACCESS_KEY': ak,
                           'ROADSTORE_SECRET_KEY': sk})
        self.assertNotEqual(r.returncode, 0, 'a non-root user created users')
        # remove online: rejected at once
        c = srv.client(ak, sk)
        c.delete_object(Bucket='rs-admin-carol', Key='k')
        c.delete_bucket(Bucket='rs-admin-carol')
        srv.admin('user', 'remove', 'carol', online=True)
        self.assertRejected(srv, ak, sk)
        # what was done online survives a restart
        srv.restart()
        self.assertRejected(srv, ak, sk)
        c = srv.client(dave[0], dave[1])
        self.assertEqual(c.get_object(Bucket='rs-admin-dave', Key='k')['Body']
                         .read(), b'works ' + dave[0].encode())

    def test_root_credentials_from_environment(self):
        srv = self.server()
        srv.start()
        self.assertWorks(srv, H.ROOT_ACCESS_KEY, H.ROOT_SECRET_KEY,
                         'rs-admin-root')
        # first start decides: later starts with other values in the
        # environment keep the stored root user
        srv.stop()
        srv.extra_env = {'ROADSTORE_ACCESS_KEY': 'RSOTHERROOTKEY000001',
                         'ROADSTORE_SECRET_KEY': 'o' * 40}
        srv.start()
        c = srv.client(H.ROOT_ACCESS_KEY, H.ROOT_SECRET_KEY)
        self.assertEqual(c.get_object(Bucket='rs-admin-root', Key='k')['Body']
                         .read(), b'works ' + H.ROOT_ACCESS_KEY.encode())

    def test_root_credentials_generated_once_and_printed(self):
        srv = self.server(access_key=None, secret_key=None)
        srv.start()
        ak, sk = parse_keys(srv.log_tail(200))
        self.assertTrue(ak and sk, 'generated root credentials not printed:\n'
                        + srv.log_tail(50))
        srv.access_key, srv.secret_key = ak, sk
        self.assertWorks(srv, ak, sk, 'rs-admin-generated')
        # stored under the data directory: the same keys after a restart
        srv.stop()
        srv.access_key = srv.secret_key = None
        srv.start()
        srv.access_key, srv.secret_key = ak, sk
        c = srv.client(ak, sk)
        self.assertEqual(c.get_object(Bucket='rs-admin-generated', Key='k')
                         ['Body'].read(), b'works ' + ak.encode())


if __name__ == '__main__':
    H.main()
