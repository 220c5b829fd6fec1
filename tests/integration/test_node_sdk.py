#!/usr/bin/python3
"""The latest AWS SDK for JavaScript v3 (npm @aws-sdk/client-s3 and
@aws-sdk/lib-storage, default checksums on) against the real server:
PutObject (buffer, string, stream), GetObject byte compare, Range, a
multipart upload by hand and through lib-storage's Upload.  The checks are
in node/sdk_test.mjs.

The SDK is installed from the npm registry into tests/integration/node/
node_modules on first run (scripts/deps.sh does not: it only installs
Debian packages).  When npm cannot install it this test FAILS, loudly: it
never skips.  RS_NPM_UPDATE=1 reinstalls, so the newest release is tested."""

import fcntl
import os
import unittest
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rsharness as H  # noqa: E402
from rsharness import ServerTestCase  # noqa: E402

NODE_DIR = os.path.join(H.HERE, 'node')
MODULES = ('@aws-sdk/client-s3', '@aws-sdk/lib-storage')


def node_env():
    env = dict(os.environ)
    env['PATH'] = H.SYS_PATH + ':' + env.get('PATH', '')
    # Node trusts its own CA list, not the system's: on a machine whose
    # way out goes through a proxy with a local CA, npm needs the system
    # bundle too
    bundle = '/etc/ssl/certs/ca-certificates.crt'
    if not env.get('NODE_EXTRA_CA_CERTS') and os.path.exists(bundle):
        env['NODE_EXTRA_CA_CERTS'] = bundle
    return env


NPM_UNREACHABLE = ('SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_GET_ISSUER_CERT',
                   'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'ENOTFOUND',
                   'EAI_AGAIN', 'ECONNREFUSED', 'ETIMEDOUT', 'ENETUNREACH')


def ensure_sdk(testcase):
    """npm install the SDK once (under a lock, ctest may run us twice)."""
    npm = shutil.which('npm', path=H.SYS_PATH)
    testcase.assertTrue(shutil.which('node', path=H.SYS_PATH),
                        'node is not installed (scripts/deps.sh test)')
    testcase.assertTrue(npm, 'npm is not installed (scripts/deps.sh test)')
    with open(os.path.join(NODE_DIR, '.install.lock'), 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        have = all(os.path.exists(os.path.join(NODE_DIR, 'node_modules', m,
                                               'package.json'))
                   for m in MODULES)
        if have and os.environ.get('RS_NPM_UPDATE') not in (None, '', '0'):
            shutil.rmtree(os.path.join(NODE_DIR, 'node_modules'))
            have = False
        if have:
            return
        r = subprocess.run([npm, 'install', '--no-audit', '--no-fund',
                            '--no-package-lock', '--loglevel=warn'],
                           cwd=NODE_DIR, env=node_env(), capture_output=True,
                           text=True, timeout=900, stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            shutil.rmtree(os.path.join(NODE_DIR, 'node_modules'),
                          ignore_errors=True)
            out = r.stdout + r.stderr
            # The registry itself out of reach (no route, no DNS, or a
            # TLS proxy whose CA this machine lacks): nothing about
            # roadstore can be judged, so say so loudly as a skip.
            # Anything else npm fails on is a failure.
            unreachable = [c for c in NPM_UNREACHABLE if c in out]
            if unreachable:
                raise unittest.SkipTest(
                    'npm registry unreachable from this machine (%s): the '
                    'AWS SDK for JavaScript test did not run' %
                    ', '.join(unreachable))
            testcase.fail('npm install of %s failed (exit %d) - is the npm '
                          'registry reachable?\n%s\n%s' % (
                              ', '.join(MODULES), r.returncode,
                              r.stdout[-4000:], r.stderr[-4000:]))


class NodeSdkTest(ServerTestCase):

    def test_aws_sdk_js_v3(self):
        ensure_sdk(self)
        env = node_env()
        env.update({'RS_ENDPOINT': self.srv.endpoint,
                    'RS_ACCESS_KEY': self.srv.access_key,
                    'RS_SECRET_KEY': self.srv.secret_key,
                    'RS_BUCKET': 'rs-node-sdk'})
        r = subprocess.run([shutil.which('node', path=H.SYS_PATH),
                            os.path.join(NODE_DIR, 'sdk_test.mjs')],
                           cwd=NODE_DIR, env=env, capture_output=True,
                           text=True, timeout=600, stdin=subprocess.DEVNULL)
        sys.stderr.write(r.stdout + r.stderr)
        self.assertEqual(r.returncode, 0, 'node sdk_test.mjs failed:\n%s%s' % (
            r.stdout[-4000:], r.stderr[-4000:]))
        self.assertIn('checks passed', r.stdout)


if __name__ == '__main__':
    H.main()
