"""rsharness: run the real roadstore server for integration tests.

Every test file starts its own `roadstore server` on 127.0.0.1 with a free
port and a fresh data directory, talks to it with real clients (boto3,
awscli, s3cmd, rclone, node, raw HTTP), compares bytes exactly and stops the
server by PID (STYLE.md section 8).

The binary comes from the environment variable ROADSTORE_BIN (CTest sets it
to $<TARGET_FILE:roadstore>), or from `--roadstore-bin=PATH` on the command
line, or else build/roadstore in the repository.

On failure the server's log and data directory are kept and their paths
printed (like nginx-tests' TEST_NGINX_LEAVE); ROADSTORE_TEST_LEAVE=1 keeps
them always.  ROADSTORE_TEST_TMPDIR chooses where they go (default: the
system temp directory).

The server also fails a test when it does not exit cleanly on SIGTERM or
when its log holds a sanitizer report (the ASan/UBSan stage of
scripts/test.sh runs the same tests against an instrumented binary).

Run one file by hand:
    ROADSTORE_BIN=build/roadstore /usr/bin/python3 tests/integration/test_boto3_ops.py -v
    ... test_boto3_ops.py ObjectTest.test_range_suffix     (one test)
"""

import base64
import datetime
import hashlib
import hmac
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse
import xml.etree.ElementTree as ET

import boto3
import botocore
from botocore.config import Config
from botocore.exceptions import ClientError

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

ROOT_ACCESS_KEY = 'RSTESTROOTACCESSKEY1'
ROOT_SECRET_KEY = 'rsTestRootSecretKey/0123456789+abcdefghij'
REGION = 'us-east-1'
S3NS = 'http://s3.amazonaws.com/doc/2006-03-01/'
XSINS = 'http://www.w3.org/2001/XMLSchema-instance'
ALL_USERS = 'http://acs.amazonaws.com/groups/global/AllUsers'
AUTH_USERS = 'http://acs.amazonaws.com/groups/global/AuthenticatedUsers'

# The clients as Debian installs them; this machine's PATH may put other
# builds (pyenv's python and aws) first.
AWS = '/usr/bin/aws'
S3CMD = '/usr/bin/s3cmd'
RCLONE = '/usr/bin/rclone'
SYS_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

# boto3 in this process sees only what the tests give it, not the user's
# ~/.aws files or AWS_* variables.
for _v in ('AWS_PROFILE', 'AWS_DEFAULT_PROFILE', 'AWS_ACCESS_KEY_ID',
           'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_CA_BUNDLE',
           'AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_S3'):
    os.environ.pop(_v, None)
os.environ['AWS_CONFIG_FILE'] = os.devnull
os.environ['AWS_SHARED_CREDENTIALS_FILE'] = os.devnull
os.environ['AWS_EC2_METADATA_DISABLED'] = 'true'

LEAVE = os.environ.get('ROADSTORE_TEST_LEAVE', '') not in ('', '0')

_servers = []           # every Server made in this process, for cleanup
_bin_from_argv = None


def roadstore_bin():
    """Path of the roadstore binary under test."""
    b = _bin_from_argv or os.environ.get('ROADSTORE_BIN')
    if not b:
        b = os.path.join(REPO, 'build', 'roadstore')
    b = os.path.abspath(b)
    if not os.access(b, os.X_OK):
        raise RuntimeError('roadstore binary not found or not executable: %s '
                           '(set ROADSTORE_BIN)' % b)
    return b


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------
# data helpers

def rand_bytes(n, seed=None):
    """n pseudo-random bytes; the same seed gives the same bytes."""
    if seed is None:
        return os.urandom(n)
    return random.Random(seed).randbytes(n)


def md5_hex(b):
    return hashlib.md5(b).hexdigest()


def sha256_hex(b):
    return hashlib.sha256(b).hexdigest()


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


def multipart_etag(parts):
    """S3's ETag of a multipart object made of these part payloads."""
    digests = b''.join(hashlib.md5(p).digest() for p in parts)
    return '"%s-%d"' % (hashlib.md5(digests).hexdigest(), len(parts))


def file_multipart_etag(path, part_size):
    digests = b''
    n = 0
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(part_size), b''):
            digests += hashlib.md5(chunk).digest()
            n += 1
    return '"%s-%d"' % (hashlib.md5(digests).hexdigest(), n)


def tree_digest(root):
    """{relative path: (size, sha256)} of every file under root."""
    out = {}
    for d, _dirs, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            out[os.path.relpath(p, root)] = (os.path.getsize(p), file_sha256(p))
    return out


def write_file(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        f.write(data)


# ---------------------------------------------------------------------------
# XML helpers

def xml_strip_ns(root):
    """Drop namespaces from tag names in place, so find('Key') works."""
    for el in root.iter():
        if isinstance(el.tag, str) and '}' in el.tag:
            el.tag = el.tag.split('}', 1)[1]
    return root


def parse_xml(body):
    return ET.fromstring(body)


def s3_error_code(body):
    """The <Code> of an S3 XML error body, or None."""
    try:
        root = xml_strip_ns(ET.fromstring(body))
    except ET.ParseError:
        return None
    if root.tag != 'Error':
        return None
    return root.findtext('Code')


def client_error(fn, *args, **kw):
    """Call fn and return (code, http status, response) of the ClientError
    it must raise."""
    try:
        fn(*args, **kw)
    except ClientError as e:
        return (e.response.get('Error', {}).get('Code'),
                e.response.get('ResponseMetadata', {}).get('HTTPStatusCode'),
                e.response)
    raise AssertionError('%s succeeded but an S3 error was expected' %
                         getattr(fn, '__name__', fn))


# ---------------------------------------------------------------------------
# SigV4 for raw requests (http.client), so tests can send exactly the bytes
# they mean: chunked bodies, skewed clocks, wrong digests, aws-chunked.

def uri_encode(s, safe='-_.~'):
    return urllib.parse.quote(s, safe=safe, encoding='utf-8')


def canonical_query(pairs):
    enc = sorted((uri_encode(k), uri_encode(v if v is not None else ''))
                 for k, v in pairs)
    return '&'.join('%s=%s' % kv for kv in enc)


def request_target(path, pairs):
    """Encoded request-target for a decoded path and query pairs.  A pair
    with value None is sent bare (`?uploads`), as SDKs do."""
    t = uri_encode(path, safe='/-_.~')
    if pairs:
        t += '?' + '&'.join(uri_encode(k) if v is None else
                            '%s=%s' % (uri_encode(k), uri_encode(v))
                            for k, v in pairs)
    return t


def _hmac(key, msg):
    return hmac.new(key, msg.encode('utf-8'), hashlib.sha256).digest()


def signing_key(secret, datestamp, region=REGION, service='s3'):
    k = _hmac(('AWS4' + secret).encode('utf-8'), datestamp)
    k = _hmac(k, region)
    k = _hmac(k, service)
    return _hmac(k, 'aws4_request')


UNSIGNED_HEADERS = {'expect', 'transfer-encoding', 'content-length',
                    'connection', 'user-agent'}


def sign_v4(method, path, pairs, headers, payload_hash, access_key,
            secret_key, when=None, region=REGION):
    """Add x-amz-date, x-amz-content-sha256 and Authorization to headers
    (a dict that must already hold 'host').  Returns (headers, signature,
    amz_date, scope) - the last three seed aws-chunked signing."""
    when = when or datetime.datetime.now(datetime.timezone.utc)
    amz_date = when.strftime('%Y%m%dT%H%M%SZ')
    datestamp = when.strftime('%Y%m%d')
    headers = dict(headers)
    headers['x-amz-date'] = amz_date
    headers['x-amz-content-sha256'] = payload_hash
    lower = {k.lower(): ' '.join(str(v).strip().split())
             for k, v in headers.items() if k.lower() not in UNSIGNED_HEADERS}
    names = sorted(lower)
    creq = '\n'.join([
        method,
        uri_encode(path, safe='/-_.~'),
        canonical_query(pairs),
        ''.join('%s:%s\n' % (n, lower[n]) for n in names),
        ';'.join(names),
        payload_hash])
    scope = '%s/%s/s3/aws4_request' % (datestamp, region)
    sts = '\n'.join(['AWS4-HMAC-SHA256', amz_date, scope,
                     hashlib.sha256(creq.encode('utf-8')).hexdigest()])
    sig = hmac.new(signing_key(secret_key, datestamp, region),
                   sts.encode('utf-8'), hashlib.sha256).hexdigest()
    headers['Authorization'] = (
        'AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s'
        % (access_key, scope, ';'.join(names), sig))
    return headers, sig, amz_date, scope


def aws_chunked_signed(data, chunk_size, seed_sig, amz_date, scope,
                       secret_key, corrupt_chunk=None):
    """Body for STREAMING-AWS4-HMAC-SHA256-PAYLOAD: every chunk carries the
    signature chained from the seed signature."""
    datestamp = scope.split('/')[0]
    key = signing_key(secret_key, datestamp)
    empty = hashlib.sha256(b'').hexdigest()
    out = []
    prev = seed_sig
    chunks = [data[i:i + chunk_size] for i in range(0, len(data), chunk_size)]
    chunks.append(b'')
    for i, c in enumerate(chunks):
        sts = '\n'.join(['AWS4-HMAC-SHA256-PAYLOAD', amz_date, scope, prev,
                         empty, hashlib.sha256(c).hexdigest()])
        sig = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
        prev = sig
        if corrupt_chunk == i:
            sig = ('0' if sig[0] != '0' else '1') + sig[1:]
        out.append(b'%x;chunk-signature=%s\r\n' % (len(c), sig.encode()))
        out.append(c + b'\r\n')
    return b''.join(out)


def aws_chunked_trailer(data, chunk_size, trailer_name, trailer_value):
    """Body for STREAMING-UNSIGNED-PAYLOAD-TRAILER with one checksum
    trailer."""
    out = []
    for i in range(0, len(data), chunk_size):
        c = data[i:i + chunk_size]
        out.append(b'%x\r\n' % len(c) + c + b'\r\n')
    out.append(b'0\r\n%s:%s\r\n\r\n' % (trailer_name.encode(),
                                         trailer_value.encode()))
    return b''.join(out)


def b64(b):
    return base64.b64encode(b).decode()


def crc32_b64(data):
    import zlib
    return b64((zlib.crc32(data) & 0xffffffff).to_bytes(4, 'big'))


class Response:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers      # lower-case name -> value
        self.body = body

    @property
    def code(self):
        return s3_error_code(self.body)

    def __repr__(self):
        return '<Response %d %s code=%s>' % (self.status, self.reason,
                                             self.code)


# ---------------------------------------------------------------------------
# the server

class Server:
    """One roadstore server process with its own port and data directory.

    start(), stop() (SIGTERM, then SIGKILL after a timeout), kill9(),
    restart().  self.problems collects what went wrong in the process
    itself (unclean exit, sanitizer reports); check() raises on them."""

    def __init__(self, name='rs', access_key=ROOT_ACCESS_KEY,
                 secret_key=ROOT_SECRET_KEY, args=(), env=None, config=None):
        self.bin = roadstore_bin()
        self.name = name
        self.root = tempfile.mkdtemp(prefix='rs-%s-' % name,
                                     dir=os.environ.get('ROADSTORE_TEST_TMPDIR'))
        self.data = os.path.join(self.root, 'data')
        self.home = os.path.join(self.root, 'home')   # HOME for CLI clients
        os.makedirs(self.home)
        self.log_path = os.path.join(self.root, 'server.log')
        self.access_key = access_key
        self.secret_key = secret_key
        self.args = list(args)
        self.extra_env = dict(env or {})
        self.config_path = None     # --config FILE of server and admin
        if config is not None:
            self.write_config(config)
        self.port = None
        self.events_port = None     # its ZeroMQ PUB port (--events)
        self.broker_port = None     # its consumer-group broker (--broker)
        self.proc = None
        self.starts = 0
        self.problems = []
        self._log_scanned = 0
        self._missing_request_id = []
        self._lock = threading.Lock()
        _servers.append(self)

    # -- process control --------------------------------------------------

    @property
    def endpoint(self):
        return 'http://127.0.0.1:%d' % self.port

    @property
    def events_endpoint(self):
        """Where the server publishes events (ZeroMQ PUB)."""
        return 'tcp://127.0.0.1:%d' % self.events_port

    def _config_broker(self):
        """The broker endpoint the test's own config sets, or None."""
        if not self.config_path:
            return None
        with open(self.config_path) as f:
            m = re.search(r'^\s*broker\s*=\s*(\S+)', f.read(), re.M)
        return m.group(1) if m else None

    @property
    def broker_endpoint(self):
        """Where its consumer-group broker listens (ZeroMQ ROUTER): the
        test config's [events] broker, else a free port of its own."""
        return self._config_broker() or \
            'tcp://127.0.0.1:%d' % self.broker_port

    @property
    def hostport(self):
        return '127.0.0.1:%d' % self.port

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def write_config(self, config):
        """Write a config file into the test directory, given as ini text
        or as {section: {key: value}}; the server (from its next start) and
        admin() get it with --config."""
        if isinstance(config, dict):
            config = ''.join(
                '[%s]\n%s' % (sec, ''.join('%s = %s\n' % kv
                                           for kv in keys.items()))
                for sec, keys in config.items())
        self.config_path = os.path.join(self.root, 'roadstore.conf')
        with open(self.config_path, 'w') as f:
            f.write(config)
        return self.config_path

    def _config_args(self):
        return ['--config', self.config_path] if self.config_path else []

    def _env(self):
        env = dict(os.environ)
        env.pop('ROADSTORE_ACCESS_KEY', None)
        env.pop('ROADSTORE_SECRET_KEY', None)
        if self.access_key is not None:     # None: let the server generate
            env['ROADSTORE_ACCESS_KEY'] = self.access_key
            env['ROADSTORE_SECRET_KEY'] = self.secret_key
        env.update(self.extra_env)
        return env

    def _log(self, msg):
        with open(self.log_path, 'a') as f:
            f.write('==== harness %s: %s\n' % (
                time.strftime('%H:%M:%S'), msg))

    def start(self, timeout=90):
        """Start the server and wait until /_roadstore/health answers 200.
        The first start picks a free port; restarts keep it."""
        assert not self.running, 'server already running'
        tries = 5 if self.port is None else 1
        for attempt in range(tries):
            if self.starts == 0 or attempt > 0:
                self.port = free_port()
                self.events_port = free_port()
                self.broker_port = free_port()
            cmd = [self.bin, 'server', '--data', self.data,
                   '--listen', self.hostport,
                   '--events', self.events_endpoint]
            if not self._config_broker():
                cmd += ['--broker', self.broker_endpoint]
            cmd += self._config_args() + self.args
            self.starts += 1
            self._log('start #%d: %s' % (self.starts, ' '.join(cmd)))
            logf = open(self.log_path, 'ab')
            self.proc = subprocess.Popen(cmd, stdout=logf, stderr=logf,
                                         stdin=subprocess.DEVNULL,
                                         cwd=self.root, env=self._env())
            logf.close()
            if self._wait_ready(timeout):
                return self
            if self.proc.poll() is not None and attempt + 1 < tries and \
                    'in use' in self.log_tail(20).lower():
                continue        # lost the port race; pick another
            break
        rc = self.proc.poll()
        if rc is None:
            self._kill(signal.SIGKILL)
        self.scan_log()
        raise RuntimeError('roadstore server did not become ready (exit %s); '
                           'log %s:\n%s' % (rc, self.log_path,
                                            self.log_tail(40)))

    def _wait_ready(self, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                c = http.client.HTTPConnection('127.0.0.1', self.port,
                                               timeout=2)
                c.request('GET', '/_roadstore/health')
                r = c.getresponse()
                r.read()
                c.close()
                if r.status == 200:
                    return True
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.05)
        return False

    def _kill(self, sig):
        try:
            os.kill(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self, timeout=60):
        """SIGTERM, wait for a clean exit (status 0), SIGKILL after
        timeout.  Records a problem if the exit was not clean."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self._kill(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._kill(signal.SIGKILL)
                self.proc.wait()
                self.problems.append('did not exit within %ds of SIGTERM; '
                                     'killed' % timeout)
        rc = self.proc.returncode
        self._log('stopped, exit status %s' % rc)
        if rc != 0 and not any('did not exit' in p for p in self.problems):
            self.problems.append('exit status %s after SIGTERM (want 0)' % rc)
        self.proc = None
        self.scan_log()
        return rc

    def kill9(self):
        """SIGKILL, as a crash would."""
        assert self.proc is not None
        self._kill(signal.SIGKILL)
        self.proc.wait()
        self._log('killed with SIGKILL')
        self.proc = None
        self.scan_log()

    def restart(self, timeout=90):
        if self.running:
            self.stop()
        return self.start(timeout)

    SANITIZER_MARKS = ('ERROR: AddressSanitizer', 'ERROR: LeakSanitizer',
                       'runtime error:', 'WARNING: ThreadSanitizer',
                       'ERROR: UndefinedBehaviorSanitizer')

    def scan_log(self):
        """Record sanitizer reports that appeared in the log since the last
        scan."""
        try:
            with open(self.log_path, 'rb') as f:
                f.seek(self._log_scanned)
                text = f.read().decode('utf-8', 'replace')
                self._log_scanned = f.tell()
        except FileNotFoundError:
            return
        for line in text.splitlines():
            if any(m in line for m in self.SANITIZER_MARKS):
                self.problems.append('sanitizer: ' + line.strip())

    def log_tail(self, n=40):
        try:
            with open(self.log_path, 'rb') as f:
                lines = f.read().decode('utf-8', 'replace').splitlines()
        except FileNotFoundError:
            return ''
        return '\n'.join(lines[-n:])

    def check(self):
        """Raise AssertionError if the process misbehaved or a response
        lacked x-amz-request-id."""
        self.scan_log()
        msgs = list(self.problems)
        if self._missing_request_id:
            msgs.append('responses without x-amz-request-id: %s' %
                        ', '.join(sorted(set(self._missing_request_id))[:20]))
        if msgs:
            raise AssertionError('server %s: %s (log %s)' % (
                self.name, '; '.join(msgs), self.log_path))

    # -- administration ---------------------------------------------------

    def admin(self, *args, online=None, check=True, env=None):
        """Run `roadstore admin ...`: against the running server through
        --endpoint (signed with the root credentials) when it runs (or
        online=True), else with --data DIR (offline; or, when the server
        runs on DIR, the CLI itself goes through its admin endpoint).  The
        config file (write_config) is passed with --config."""
        if online is None:
            online = self.running
        if online:
            cmd = [self.bin, 'admin', '--endpoint', self.endpoint]
        else:
            cmd = [self.bin, 'admin', '--data', self.data]
        cmd += self._config_args() + [str(a) for a in args]
        e = self._env()
        e.update(env or {})
        # online, run where there is no ./data: the root credentials then
        # come from the environment, as for an operator on another host
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                           env=e, cwd=self.home if online else self.root,
                           stdin=subprocess.DEVNULL)
        self._log('admin exit %d: %s' % (r.returncode, ' '.join(cmd)))
        with open(self.log_path, 'a') as f:
            f.write(r.stdout + r.stderr)
        if check and r.returncode != 0:
            raise AssertionError('%s exited %d:\n%s%s' % (
                ' '.join(cmd), r.returncode, r.stdout, r.stderr))
        return r

    def create_user(self, name, access_key, secret_key, online=None, **kw):
        args = ['user', 'create', name, '--access-key', access_key,
                '--secret-key', secret_key]
        for k, v in kw.items():
            args += ['--' + k.replace('_', '-'), v]
        return self.admin(*args, online=online)

    # -- clients ------------------------------------------------------------

    def _check_request_id(self, http_response=None, model=None, **kw):
        if http_response is None:
            return
        if 'x-amz-request-id' not in http_response.headers:
            with self._lock:
                self._missing_request_id.append('%s %d' % (
                    model.name if model else '?', http_response.status_code))

    def client(self, access_key=None, secret_key=None, anonymous=False,
               addressing='path', retries=0, endpoint=None, **cfg):
        """A boto3 S3 client: SigV4, path-style, us-east-1, and by default
        no retries (a retry would hide the first answer); retries counts
        the attempts after the first."""
        config = Config(
            signature_version=botocore.UNSIGNED if anonymous else 's3v4',
            s3={'addressing_style': addressing},
            retries={'max_attempts': retries, 'mode': 'standard'},
            connect_timeout=10, read_timeout=cfg.pop('read_timeout', 300),
            max_pool_connections=cfg.pop('max_pool_connections', 32),
            **cfg)
        kw = {}
        if not anonymous:
            kw = dict(aws_access_key_id=access_key or self.access_key,
                      aws_secret_access_key=secret_key or self.secret_key)
        c = boto3.session.Session().client(
            's3', endpoint_url=endpoint or self.endpoint, region_name=REGION,
            config=config, **kw)
        c.meta.events.register('after-call.s3', self._check_request_id)
        return c

    def request(self, method, path, query=(), headers=None, body=b'',
                access_key=None, secret_key=None, sign=True,
                payload_hash=None, when=None, host=None, conn=None,
                chunked=False):
        """One raw HTTP request, SigV4-signed unless sign=False.  path is
        decoded ('/bucket/key with space'); query is a list of (name, value)
        pairs.  body may be bytes or, with chunked=True, an iterable of
        bytes sent with Transfer-Encoding: chunked.  conn reuses an
        http.client connection (keep-alive)."""
        headers = dict(headers or {})
        pairs = list(query.items()) if isinstance(query, dict) else list(query)
        host = host or self.hostport
        headers.setdefault('host', host)
        if sign:
            if payload_hash is None:
                payload_hash = (hashlib.sha256(body).hexdigest()
                                if isinstance(body, (bytes, bytearray))
                                else 'UNSIGNED-PAYLOAD')
            headers, _sig, _d, _s = sign_v4(
                method, path, pairs, headers, payload_hash,
                access_key or self.access_key, secret_key or self.secret_key,
                when=when)
        own = conn is None
        if own:
            conn = http.client.HTTPConnection('127.0.0.1', self.port,
                                              timeout=120)
        try:
            target = request_target(path, pairs)
            if chunked:
                conn.request(method, target, body=body, headers=headers,
                             encode_chunked=True)
            else:
                if body and not any(k.lower() == 'content-length'
                                    for k in headers):
                    headers['Content-Length'] = str(len(body))
                conn.request(method, target, body=body or None,
                             headers=headers)
            r = conn.getresponse()
            data = r.read()
            hdrs = {k.lower(): v for k, v in r.getheaders()}
            if 'x-amz-request-id' not in hdrs and \
                    not path.startswith('/_roadstore/'):
                with self._lock:
                    self._missing_request_id.append('raw %s %s %d' % (
                        method, path, r.status))
            return Response(r.status, r.reason, hdrs, data)
        finally:
            if own:
                conn.close()

    def http_get(self, path):
        c = http.client.HTTPConnection('127.0.0.1', self.port, timeout=30)
        try:
            c.request('GET', path)
            r = c.getresponse()
            return Response(r.status, r.reason,
                            {k.lower(): v for k, v in r.getheaders()},
                            r.read())
        finally:
            c.close()

    # -- command-line clients ------------------------------------------------

    def cli_env(self, access_key=None, secret_key=None):
        """A clean environment for CLI clients: Debian's tools first on
        PATH, HOME inside the test directory, UTF-8 locale."""
        env = {
            'PATH': SYS_PATH,
            'HOME': self.home,
            'LANG': 'C.UTF-8',
            'LC_ALL': 'C.UTF-8',
            'TMPDIR': self.root,
            'AWS_ACCESS_KEY_ID': access_key or self.access_key,
            'AWS_SECRET_ACCESS_KEY': secret_key or self.secret_key,
            'AWS_DEFAULT_REGION': REGION,
            'AWS_CONFIG_FILE': os.path.join(self.home, 'aws-config'),
            'AWS_SHARED_CREDENTIALS_FILE': os.path.join(self.home, 'aws-creds'),
            'AWS_EC2_METADATA_DISABLED': 'true',
            'AWS_PAGER': '',
        }
        cfg = env['AWS_CONFIG_FILE']
        if not os.path.exists(cfg):
            with open(cfg, 'w') as f:
                f.write('[default]\nregion = %s\noutput = json\n'
                        's3 =\n    addressing_style = path\n' % REGION)
            open(env['AWS_SHARED_CREDENTIALS_FILE'], 'w').close()
        return env

    def run(self, cmd, env=None, check=True, timeout=1200, input=None,
            cwd=None):
        """Run a client command; on failure (when check) raise with its
        output.  Returns the CompletedProcess (text, utf-8)."""
        t = time.time()
        r = subprocess.run(cmd, env=env or self.cli_env(), cwd=cwd or self.root,
                           capture_output=True, timeout=timeout,
                           input=input)
        r.stdout = r.stdout.decode('utf-8', 'replace')
        r.stderr = r.stderr.decode('utf-8', 'replace')
        r.seconds = time.time() - t
        if check and r.returncode != 0:
            raise AssertionError('command failed (exit %d, %.1fs): %s\n'
                                 '--- stdout ---\n%s\n--- stderr ---\n%s' % (
                                     r.returncode, r.seconds, ' '.join(cmd),
                                     r.stdout[-6000:], r.stderr[-6000:]))
        return r

    def aws(self, *args, check=True, access_key=None, secret_key=None,
            **kw):
        """`aws --endpoint-url <server> ARGS` with Debian's awscli."""
        cmd = [AWS, '--endpoint-url', self.endpoint] + [str(a) for a in args]
        return self.run(cmd, env=self.cli_env(access_key, secret_key),
                        check=check, **kw)

    def s3cmd_config(self, access_key=None, secret_key=None):
        path = os.path.join(self.home, 's3cfg-%s' % (access_key or 'root'))
        with open(path, 'w') as f:
            f.write('[default]\n'
                    'access_key = %s\n'
                    'secret_key = %s\n'
                    'host_base = %s\n'
                    'host_bucket = %s\n'
                    'bucket_location = %s\n'
                    'use_https = False\n'
                    'signature_v2 = False\n'
                    'check_ssl_certificate = False\n'
                    'guess_mime_type = True\n'
                    'progress_meter = False\n' % (
                        access_key or self.access_key,
                        secret_key or self.secret_key,
                        self.hostport, self.hostport, REGION))
        return path

    def s3cmd(self, *args, check=True, **kw):
        cmd = [S3CMD, '-c', self.s3cmd_config()] + [str(a) for a in args]
        return self.run(cmd, check=check, **kw)

    def rclone_config(self):
        path = os.path.join(self.home, 'rclone.conf')
        with open(path, 'w') as f:
            f.write('[rs]\n'
                    'type = s3\n'
                    'provider = Other\n'
                    'env_auth = false\n'
                    'access_key_id = %s\n'
                    'secret_access_key = %s\n'
                    'endpoint = %s\n'
                    'region = %s\n'
                    'force_path_style = true\n' % (
                        self.access_key, self.secret_key, self.endpoint,
                        REGION))
        return path

    def rclone(self, *args, check=True, **kw):
        cmd = [RCLONE, '--config', self.rclone_config()] + \
            [str(a) for a in args]
        return self.run(cmd, check=check, **kw)


# ---------------------------------------------------------------------------
# test cases

_bucket_seq = [0]


class ServerTestCase(unittest.TestCase):
    """Starts one server for the class (setUpClass) and stops it after the
    last test (tearDownClass), failing if it did not exit cleanly.
    self.s3 is a root boto3 client."""

    server_args = ()
    users = ()          # (name, access key, secret key) created offline

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(name=cls.__name__, args=cls.server_args)
        cls.srv.start()
        if cls.users:
            # users are created on the stopped node, as an operator would
            # before opening it (test_admin covers the online path)
            cls.srv.stop()
            for name, ak, sk in cls.users:
                cls.srv.create_user(name, ak, sk)
            cls.srv.start()
        cls.s3 = cls.srv.client()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.srv.check()

    def new_bucket(self, prefix=None, create=True, client=None, **kw):
        """A fresh bucket name (created unless create=False)."""
        _bucket_seq[0] += 1
        base = (prefix or self._testMethodName.replace('test_', ''))
        base = re.sub(r'[^a-z0-9-]', '-', base.lower())[:40].strip('-')
        name = 'rs-%s-%d-%d' % (base, os.getpid() % 10000, _bucket_seq[0])
        name = re.sub('-+', '-', name)[:63].strip('-')
        if create:
            (client or self.s3).create_bucket(Bucket=name, **kw)
        return name

    def assertS3Error(self, code, status, fn, *args, **kw):
        got_code, got_status, resp = client_error(fn, *args, **kw)
        self.assertEqual((got_code, got_status), (code, status),
                         'expected %s %s, got %s %s; response %r' % (
                             status, code, got_status, got_code,
                             resp.get('Error')))
        return resp

    def assertRaw(self, resp, status, code=None):
        self.assertEqual(resp.status, status,
                         'expected %d %s, got %d %s; body %r' % (
                             status, code or '', resp.status, resp.code,
                             resp.body[:600]))
        if code is not None:
            self.assertEqual(resp.code, code,
                             'body %r' % resp.body[:600])

    def get_bytes(self, bucket, key, client=None, **kw):
        r = (client or self.s3).get_object(Bucket=bucket, Key=key, **kw)
        return r['Body'].read()


def _failed_servers(result):
    """Servers of the test classes that failed; None if a failure cannot
    be pinned to one (then every server counts as failed)."""
    failed = set()
    for test, _tb in result.failures + result.errors:
        test = getattr(test, 'test_case', test)     # a failed subTest
        srv = getattr(test, 'srv', None) or getattr(
            getattr(test, '__class__', None), 'srv', None)
        servers = getattr(test, 'servers', None)
        if isinstance(srv, Server):
            failed.add(id(srv))
        elif servers:
            failed.update(id(s) for s in servers)
        else:
            return None
    return failed


def _finish(ok, result=None):
    for s in _servers:
        try:
            if s.proc is not None:
                s.stop(timeout=30)
        except Exception as e:      # report, keep cleaning up
            print('harness: stopping %s: %s' % (s.name, e), file=sys.stderr)
    pinned = _failed_servers(result) if (result is not None and not ok) \
        else set()
    for s in _servers:
        failed = bool(s.problems) or (not ok and (pinned is None or
                                                  id(s) in pinned))
        if failed or LEAVE:
            print('\nharness: kept server %s\n  log:  %s\n  data: %s\n'
                  '  dir:  %s' % (s.name, s.log_path, s.data, s.root),
                  file=sys.stderr)
            if failed:
                print('--- last lines of %s ---\n%s\n---' % (
                    s.log_path, s.log_tail(25)), file=sys.stderr)
        else:
            shutil.rmtree(s.root, ignore_errors=True)


def main():
    """unittest.main with cleanup: removes the servers' directories when
    every test passed, keeps and prints them otherwise."""
    global _bin_from_argv
    argv = []
    for a in sys.argv:
        if a.startswith('--roadstore-bin='):
            _bin_from_argv = a.split('=', 1)[1]
        else:
            argv.append(a)
    # warnings='ignore': boto3's pooled sockets make ResourceWarnings that
    # drown the report
    prog = unittest.main(module='__main__', argv=argv, exit=False,
                         verbosity=2, warnings='ignore')
    ok = prog.result.wasSuccessful()
    _finish(ok, prog.result)
    # Every test skipped: exit 77, which CTest shows as "Skipped" (see
    # SKIP_RETURN_CODE in CMakeLists.txt), so a skip is never mistaken for
    # a pass.
    if ok and prog.result.testsRun and \
            len(prog.result.skipped) == prog.result.testsRun:
        sys.exit(77)
    sys.exit(0 if ok else 1)
