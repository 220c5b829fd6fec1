#!/usr/bin/python3
"""The HTTP layer as raw bytes on a socket (issue 3, items 2 and 3):
chunked request bodies, Expect: 100-continue, keep-alive, virtual-host-style
addressing, header size limit, many connections, and the aws-chunked payload
modes (STREAMING-AWS4-HMAC-SHA256-PAYLOAD with chunk signatures,
STREAMING-UNSIGNED-PAYLOAD-TRAILER with a checksum trailer)."""

import base64
import hashlib
import http.client
import os
import socket
import sys
import threading
import time
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rsharness as H  # noqa: E402
from rsharness import ServerTestCase, md5_hex, rand_bytes, xml_strip_ns  # noqa

MiB = 1024 * 1024


def crc32c(data):
    """CRC-32C (Castagnoli), as x-amz-checksum-crc32c uses."""
    table = crc32c.table
    if table is None:
        table = []
        for i in range(256):
            c = i
            for _ in range(8):
                c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
            table.append(c)
        crc32c.table = table
    crc = 0xffffffff
    for b in data:
        crc = table[(crc ^ b) & 0xff] ^ (crc >> 8)
    return crc ^ 0xffffffff


crc32c.table = None


def read_response(sock, timeout=30):
    """Read one HTTP response from a raw socket: (status, headers, body).
    Handles Content-Length and chunked bodies; returns what came before
    a close otherwise."""
    sock.settimeout(timeout)
    buf = b''
    while b'\r\n\r\n' not in buf:
        d = sock.recv(65536)
        if not d:
            raise ConnectionError('closed before a full response header: %r'
                                  % buf[:200])
        buf += d
    head, rest = buf.split(b'\r\n\r\n', 1)
    lines = head.decode('latin-1').split('\r\n')
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(':')
        headers[k.strip().lower()] = v.strip()
    if status in (100, 204, 304) or 100 <= status < 200:
        return status, headers, b'', rest
    n = headers.get('content-length')
    if n is not None:
        n = int(n)
        while len(rest) < n:
            d = sock.recv(65536)
            if not d:
                break
            rest += d
        return status, headers, rest[:n], rest[n:]
    if headers.get('transfer-encoding', '').lower() == 'chunked':
        body = b''
        while True:
            while b'\r\n' not in rest:
                rest += sock.recv(65536)
            size_line, rest = rest.split(b'\r\n', 1)
            size = int(size_line.split(b';')[0], 16)
            while len(rest) < size + 2:
                rest += sock.recv(65536)
            body += rest[:size]
            rest = rest[size + 2:]
            if size == 0:
                return status, headers, body, rest
    while True:
        try:
            d = sock.recv(65536)
        except (ConnectionError, socket.timeout):
            break
        if not d:
            break
        rest += d
    return status, headers, rest, b''


class HttpTest(ServerTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.b = 'rs-http'
        cls.s3.create_bucket(Bucket=cls.b)

    def connect(self):
        s = socket.create_connection(('127.0.0.1', self.srv.port), timeout=30)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def raw_head(self, method, path, headers, query=()):
        target = H.request_target(path, list(query))
        lines = ['%s %s HTTP/1.1' % (method, target)]
        lines += ['%s: %s' % kv for kv in headers.items()]
        return ('\r\n'.join(lines) + '\r\n\r\n').encode('utf-8')

    # -- chunked transfer encoding ------------------------------------------

    def test_chunked_request_body_signed_payload(self):
        data = rand_bytes(3 * MiB + 11, seed='chunked')
        pieces = [data[:1], data[1:70000], data[70000:2 * MiB],
                  data[2 * MiB:]]
        r = self.srv.request('PUT', '/%s/chunked-signed' % self.b,
                             body=iter(pieces), chunked=True,
                             payload_hash=hashlib.sha256(data).hexdigest())
        self.assertRaw(r, 200)
        self.assertEqual(r.headers.get('etag'), '"%s"' % md5_hex(data))
        got = self.get_bytes(self.b, 'chunked-signed')
        self.assertTrue(got == data, 'content differs')

    def test_chunked_request_body_unsigned_payload(self):
        # 24 MiB in 1 MiB chunks, never materialised as one buffer here
        def gen():
            for i in range(24):
                yield rand_bytes(MiB, seed='c%d' % i)
        h = hashlib.sha256()
        for c in gen():
            h.update(c)
        r = self.srv.request('PUT', '/%s/chunked-unsigned' % self.b,
                             body=gen(), chunked=True,
                             payload_hash='UNSIGNED-PAYLOAD')
        self.assertRaw(r, 200)
        got = self.get_bytes(self.b, 'chunked-unsigned')
        self.assertEqual(len(got), 24 * MiB)
        self.assertEqual(hashlib.sha256(got).hexdigest(), h.hexdigest())

    def test_chunked_request_body_wrong_signed_payload_hash(self):
        data = b'x' * 100000
        r = self.srv.request('PUT', '/%s/chunked-bad' % self.b,
                             body=iter([data[:5000], data[5000:]]),
                             chunked=True,
                             payload_hash=hashlib.sha256(b'y').hexdigest())
        self.assertRaw(r, 400, 'XAmzContentSHA256Mismatch')
        self.assertS3Error('NoSuchKey', 404, self.s3.get_object, Bucket=self.b,
                           Key='chunked-bad')

    def test_chunked_empty_body(self):
        r = self.srv.request('PUT', '/%s/chunked-empty' % self.b,
                             body=iter([]), chunked=True,
                             payload_hash=hashlib.sha256(b'').hexdigest())
        self.assertRaw(r, 200)
        self.assertEqual(self.get_bytes(self.b, 'chunked-empty'), b'')

    # -- Expect: 100-continue ---------------------------------------------

    def test_expect_100_continue(self):
        data = rand_bytes(2 * MiB, seed='expect')
        path = '/%s/expect' % self.b
        hdrs, _, _, _ = H.sign_v4('PUT', path, [], {'host': self.srv.hostport},
                                  hashlib.sha256(data).hexdigest(),
                                  self.srv.access_key, self.srv.secret_key)
        hdrs['Content-Length'] = str(len(data))
        hdrs['Expect'] = '100-continue'
        s = self.connect()
        try:
            s.sendall(self.raw_head('PUT', path, hdrs))
            status, _h, _b, rest = read_response(s, timeout=10)
            self.assertEqual(status, 100, 'no 100 Continue before the body')
            s.sendall(data)
            status, h, body, _ = read_response(s)
            self.assertEqual(status, 200, body)
            self.assertEqual(h.get('etag'), '"%s"' % md5_hex(data))
        finally:
            s.close()
        self.assertTrue(self.get_bytes(self.b, 'expect') == data)

    def test_expect_100_continue_rejected_request(self):
        # a request that will fail auth gets its final answer; the body
        # may be refused before it is sent
        data = b'z' * 100000
        path = '/%s/expect-denied' % self.b
        hdrs, _, _, _ = H.sign_v4('PUT', path, [], {'host': self.srv.hostport},
                                  hashlib.sha256(data).hexdigest(),
                                  self.srv.access_key, 'wrong-secret')
        hdrs['Content-Length'] = str(len(data))
        hdrs['Expect'] = '100-continue'
        s = self.connect()
        try:
            s.sendall(self.raw_head('PUT', path, hdrs))
            status, h, body, _ = read_response(s, timeout=10)
            if status == 100:
                s.sendall(data)
                status, h, body, _ = read_response(s)
            self.assertEqual(status, 403, body)
            self.assertEqual(H.s3_error_code(body), 'SignatureDoesNotMatch')
        finally:
            s.close()

    # -- keep-alive ----------------------------------------------------------

    def test_keep_alive_many_requests_on_one_connection(self):
        conn = http.client.HTTPConnection('127.0.0.1', self.srv.port,
                                          timeout=30)
        conn.connect()
        sock = conn.sock
        seq = [
            ('PUT', '/%s/ka1' % self.b, b'one', 200),
            ('GET', '/%s/ka1' % self.b, b'', 200),
            ('HEAD', '/%s/ka1' % self.b, b'', 200),
            ('GET', '/%s/missing' % self.b, b'', 404),
            ('HEAD', '/%s/missing' % self.b, b'', 404),
            ('PUT', '/%s/ka2' % self.b, rand_bytes(300000, seed=1), 200),
            ('GET', '/%s' % self.b, b'', 200),
            ('GET', '/no-such-bucket-ka', b'', 404),
            ('DELETE', '/%s/ka2' % self.b, b'', 204),
            ('GET', '/%s/ka1' % self.b, b'', 200),
        ]
        for method, path, body, want in seq:
            r = self.srv.request(method, path, body=body, conn=conn)
            self.assertEqual(r.status, want, (method, path, r))
            self.assertNotEqual(r.headers.get('connection', '').lower(),
                                'close', (method, path))
            self.assertIs(conn.sock, sock, 'server closed the connection '
                          'after %s %s' % (method, path))
        r = self.srv.request('GET', '/%s/ka1' % self.b, conn=conn)
        self.assertEqual(r.body, b'one')
        conn.close()

    def test_rejected_put_does_not_break_the_connection(self):
        # the server answers 403 to a PUT it did not read: it must drain
        # the body or close with Connection: close, never leave the body
        # to be parsed as the next request
        conn = http.client.HTTPConnection('127.0.0.1', self.srv.port,
                                          timeout=30)
        body = b'GET /evil HTTP/1.1\r\n\r\n' * 20000
        r = self.srv.request('PUT', '/%s/rej' % self.b, body=body,
                             secret_key='wrong', conn=conn)
        self.assertRaw(r, 403, 'SignatureDoesNotMatch')
        r = self.srv.request('PUT', '/%s/after' % self.b, body=b'fine',
                             conn=conn)
        self.assertRaw(r, 200)
        conn.close()
        self.assertEqual(self.get_bytes(self.b, 'after'), b'fine')

    # -- virtual-host style --------------------------------------------------

    def test_virtual_host_style(self):
        host = '%s.localhost:%d' % (self.b, self.srv.port)
        data = rand_bytes(100000, seed='vhost')
        r = self.srv.request('PUT', '/vh/key ü', body=data, host=host)
        self.assertRaw(r, 200)
        r = self.srv.request('GET', '/vh/key ü', host=host)
        self.assertRaw(r, 200)
        self.assertTrue(r.body == data)
        # the same object path-style
        self.assertTrue(self.get_bytes(self.b, 'vh/key ü') == data)
        r = self.srv.request('GET', '/', [('list-type', '2'),
                                          ('prefix', 'vh/')], host=host)
        self.assertRaw(r, 200)
        root = xml_strip_ns(ET.fromstring(r.body))
        self.assertEqual(root.findtext('Name'), self.b)
        self.assertEqual([c.findtext('Key') for c in root.findall('Contents')],
                         ['vh/key ü'])
        r = self.srv.request('HEAD', '/vh/key ü', host=host)
        self.assertRaw(r, 200)
        r = self.srv.request('DELETE', '/vh/key ü', host=host)
        self.assertRaw(r, 204)

    def test_virtual_host_style_boto3(self):
        # boto3 against http://localhost:P in virtual-host mode signs for
        # BUCKET.localhost:P; the connection itself goes to 127.0.0.1 (no
        # DNS for *.localhost on a minimal Debian), with that Host header
        port = self.srv.port
        c = self.srv.client(addressing='virtual',
                            endpoint='http://localhost:%d' % port)
        seen = []

        def before_send(request, **kw):
            seen.append(request.headers.get('host'))
            request.url = request.url.replace(
                '//%s.localhost:%d' % (self.b, port), '//127.0.0.1:%d' % port)

        c.meta.events.register('before-send.s3', before_send)
        c.put_object(Bucket=self.b, Key='vh/boto', Body=b'virtual')
        self.assertEqual(c.get_object(Bucket=self.b, Key='vh/boto')['Body']
                         .read(), b'virtual')
        keys = [o['Key'] for o in c.list_objects_v2(
            Bucket=self.b, Prefix='vh/boto')['Contents']]
        self.assertEqual(keys, ['vh/boto'])
        self.assertEqual(self.get_bytes(self.b, 'vh/boto'), b'virtual')
        want = ('%s.localhost:%d' % (self.b, port)).encode()
        self.assertTrue(seen and all(h == want for h in seen), seen)

    # -- limits ----------------------------------------------------------------

    def test_header_larger_than_limit(self):
        s = self.connect()
        try:
            big = 'a' * (128 * 1024)
            req = ('GET /%s/k HTTP/1.1\r\nHost: %s\r\nX-Big: %s\r\n\r\n' % (
                self.b, self.srv.hostport, big)).encode()
            try:
                s.sendall(req)
            except (BrokenPipeError, ConnectionResetError):
                pass
            status, _h, _body, _ = read_response(s, timeout=15)
            self.assertIn(status, (400, 431))
        finally:
            s.close()
        # and the server still serves
        r = self.srv.http_get('/_roadstore/health')
        self.assertEqual(r.status, 200)

    def test_many_headers(self):
        s = self.connect()
        try:
            hdrs = ''.join('X-H%d: %s\r\n' % (i, 'v' * 60) for i in range(3000))
            req = ('GET /%s/k HTTP/1.1\r\nHost: %s\r\n%s\r\n' % (
                self.b, self.srv.hostport, hdrs)).encode()
            try:
                s.sendall(req)
            except (BrokenPipeError, ConnectionResetError):
                pass
            status, _h, _body, _ = read_response(s, timeout=15)
            self.assertIn(status, (400, 431))
        finally:
            s.close()

    def test_many_concurrent_connections(self):
        idle = []
        try:
            for _ in range(200):
                idle.append(self.connect())
            errors = []
            results = {}

            def worker(i):
                try:
                    data = rand_bytes(65536 + i, seed=i)
                    r = self.srv.request('PUT', '/%s/cc/%d' % (self.b, i),
                                         body=data)
                    if r.status != 200:
                        errors.append((i, 'put', r))
                        return
                    r = self.srv.request('GET', '/%s/cc/%d' % (self.b, i))
                    results[i] = r.status == 200 and r.body == data
                except Exception as e:      # collected and reported below
                    errors.append((i, repr(e)))

            t0 = time.time()
            threads = [threading.Thread(target=worker, args=(i,))
                       for i in range(64)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            self.assertEqual(errors, [])
            self.assertEqual(sum(results.values()), 64)
            self.assertLess(time.time() - t0, 60)
        finally:
            for s in idle:
                s.close()

    def test_head_has_length_and_no_body(self):
        self.s3.put_object(Bucket=self.b, Key='headlen', Body=b'x' * 12345)
        r = self.srv.request('HEAD', '/%s/headlen' % self.b)
        self.assertEqual(r.headers.get('content-length'), '12345')
        self.assertEqual(r.body, b'')

    # -- aws-chunked payloads --------------------------------------------------

    def streaming_put(self, key, data, corrupt_chunk=None, chunk=65536):
        path = '/%s/%s' % (self.b, key)
        base = {'host': self.srv.hostport,
                'content-encoding': 'aws-chunked',
                'x-amz-decoded-content-length': str(len(data))}
        hdrs, seed, amz_date, scope = H.sign_v4(
            'PUT', path, [], base, 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
            self.srv.access_key, self.srv.secret_key)
        body = H.aws_chunked_signed(data, chunk, seed, amz_date, scope,
                                    self.srv.secret_key, corrupt_chunk)
        hdrs['Content-Length'] = str(len(body))
        return self.srv.request('PUT', path, headers=hdrs, body=body,
                                sign=False)

    def test_streaming_signed_payload(self):
        for size in (0, 100, 65536, 200000, 3 * MiB + 1):
            with self.subTest(size=size):
                data = rand_bytes(size, seed='stream%d' % size)
                r = self.streaming_put('stream/%d' % size, data)
                self.assertRaw(r, 200)
                self.assertEqual(r.headers.get('etag'), '"%s"' % md5_hex(data))
                got = self.s3.get_object(Bucket=self.b,
                                         Key='stream/%d' % size)
                self.assertTrue(got['Body'].read() == data)
                self.assertEqual(got['ContentLength'], size)
                self.assertNotEqual(got.get('ContentEncoding'), 'aws-chunked')

    def test_streaming_signed_payload_bad_chunk_signature(self):
        data = rand_bytes(300000, seed='badchunk')
        for bad in (0, 2, 4):       # first, middle, final empty chunk
            with self.subTest(chunk=bad):
                r = self.streaming_put('stream-bad-%d' % bad, data,
                                       corrupt_chunk=bad)
                self.assertRaw(r, 403, 'SignatureDoesNotMatch')
                self.assertS3Error('NoSuchKey', 404, self.s3.get_object,
                                   Bucket=self.b, Key='stream-bad-%d' % bad)

    def trailer_put(self, key, data, name, value):
        path = '/%s/%s' % (self.b, key)
        base = {'host': self.srv.hostport,
                'content-encoding': 'aws-chunked',
                'x-amz-decoded-content-length': str(len(data)),
                'x-amz-trailer': name}
        hdrs, _, _, _ = H.sign_v4(
            'PUT', path, [], base, 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
            self.srv.access_key, self.srv.secret_key)
        body = H.aws_chunked_trailer(data, 65536, name, value)
        hdrs['Content-Length'] = str(len(body))
        return self.srv.request('PUT', path, headers=hdrs, body=body,
                                sign=False)

    def test_streaming_unsigned_payload_trailer(self):
        data = rand_bytes(500000, seed='trailer')
        sums = {
            'x-amz-checksum-crc32': H.crc32_b64(data),
            'x-amz-checksum-crc32c': H.b64(crc32c(data).to_bytes(4, 'big')),
            'x-amz-checksum-sha1': H.b64(hashlib.sha1(data).digest()),
            'x-amz-checksum-sha256': H.b64(hashlib.sha256(data).digest()),
        }
        for name, value in sums.items():
            with self.subTest(trailer=name):
                key = 'trailer/' + name
                r = self.trailer_put(key, data, name, value)
                self.assertRaw(r, 200)
                self.assertEqual(r.headers.get('etag'), '"%s"' % md5_hex(data))
                self.assertTrue(self.get_bytes(self.b, key) == data)

    def test_streaming_unsigned_payload_trailer_wrong_checksum(self):
        data = rand_bytes(200000, seed='trailerbad')
        wrong = {
            'x-amz-checksum-crc32': H.crc32_b64(data + b'x'),
            'x-amz-checksum-crc32c': H.b64((crc32c(data) ^ 1).to_bytes(4, 'big')),
            'x-amz-checksum-sha1': H.b64(hashlib.sha1(b'x').digest()),
            'x-amz-checksum-sha256': H.b64(hashlib.sha256(b'x').digest()),
        }
        for name, value in wrong.items():
            with self.subTest(trailer=name):
                key = 'trailer-bad/' + name
                r = self.trailer_put(key, data, name, value)
                self.assertRaw(r, 400, 'BadDigest')
                self.assertS3Error('NoSuchKey', 404, self.s3.get_object,
                                   Bucket=self.b, Key=key)


class IdleTimeoutTest(ServerTestCase):
    """[server] idle_timeout from a config file: an idle connection is
    closed, a busy one is not."""

    @classmethod
    def setUpClass(cls):
        import tempfile
        fd, cls.conf = tempfile.mkstemp(prefix='rs-idle-', suffix='.conf')
        with os.fdopen(fd, 'w') as f:
            f.write('[server]\nidle_timeout = 2\n')
        cls.server_args = ('--config', cls.conf)
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        os.unlink(cls.conf)

    def test_idle_connection_is_closed(self):
        s = socket.create_connection(('127.0.0.1', self.srv.port), timeout=30)
        try:
            t0 = time.time()
            s.settimeout(20)
            try:
                d = s.recv(1)
            except ConnectionResetError:
                d = b''
            self.assertEqual(d, b'')
            self.assertLess(time.time() - t0, 10, 'idle connection kept '
                            'open far past idle_timeout = 2')
        finally:
            s.close()

    def test_connection_in_use_is_kept(self):
        conn = http.client.HTTPConnection('127.0.0.1', self.srv.port,
                                          timeout=30)
        self.s3.create_bucket(Bucket='rs-idle')
        for i in range(6):
            r = self.srv.request('PUT', '/rs-idle/k%d' % i, body=b'x',
                                 conn=conn)
            self.assertRaw(r, 200)
            time.sleep(0.5)
        conn.close()


if __name__ == '__main__':
    H.main()
