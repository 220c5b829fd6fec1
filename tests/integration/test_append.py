#!/usr/bin/python3
"""APPEND objects: both request forms, their validation and errors, every
kind of object grown by appends, HEAD and conditional GET of an appended
object, permissions, racing writers, readers during appends, restart and
SIGKILL in the middle of a streamed append, the max_appends limit, and
overwrite / delete after appends.

The two request forms:
  RGW  PUT (or POST) /bucket/key?append&position=N   (raw, signed here)
  AWS  PUT /bucket/key with x-amz-write-offset-bytes: N
       (raw, and through boto3: put_object(WriteOffsetBytes=N) where
       botocore knows the parameter, else a before-sign hook adds the
       header, signed)

Which statement of the specification each test covers:

  Crc64Test (no server)
    test_check_value, test_base64_of_check_value,
    test_incremental_equals_whole
        - the CRC-64/NVME the HEAD test compares against (reflected poly
          0x9a6c9329ac4bc9b5, init = xorout = 2^64-1, check 0xae8b14860a799888)
  AppendProtocolTest
    test_rgw_put_form_creates_and_grows
        - RGW form, PUT: 200, x-rgw-next-append-position and
          x-amz-next-append-position = new length, ETag; position 0 on a
          missing object creates it
    test_rgw_post_form_creates_and_grows      - the same with POST
    test_aws_form_creates_and_grows           - AWS form (raw), offset 0
                                                creates
    test_aws_form_through_boto3               - AWS form as boto3 sends it,
                                                and its InvalidWriteOffset
    test_invalid_position_is_invalid_argument
        - position missing / empty / not all digits / > 20 digits /
          > 2^63-1 -> 400 InvalidArgument, object unchanged (and a missing
          key stays missing: checked before anything is touched)
    test_aws_invalid_offset_is_invalid_argument
        - the same values in x-amz-write-offset-bytes (see the note there)
    test_position_with_leading_zeros_is_a_number
        - "all digits" is valid, leading zeros included
    test_twenty_digit_position_is_valid
        - only more than 20 digits is "too large": 20 digits <= 2^63-1 is
          valid
    test_wrong_position_rgw_is_position_not_equal_to_length
        - RGW wrong position -> 409 PositionNotEqualToLength with
          x-amz-next-append-position = current length, object unchanged
    test_wrong_offset_aws_is_invalid_write_offset
        - AWS wrong offset -> 400 InvalidWriteOffset, same header, unchanged
    test_aws_form_empty_body_is_invalid_request
        - AWS form with an empty body -> 400 InvalidRequest, unchanged
    test_head_checksum_etag_and_if_match
        - HEAD: x-amz-object-type Appendable, Content-Length and
          x-amz-next-append-position = total, x-amz-checksum-crc64nvme of
          the whole content; ETag changes after every append; GET If-Match
          <old ETag> -> 412 PreconditionFailed
    test_other_user_is_access_denied
        - a second user without a grant: 403 AccessDenied, unchanged
    test_racing_writers_exactly_one_wins
        - 8 threads append at the same position: one 200, the others 409
          PositionNotEqualToLength with next position = position + 10240;
          content = old + the winner's body
    test_read_while_writing_sees_only_acknowledged_prefixes
        - 200 appends of 50 KiB while GETs run: each GET is a prefix of the
          final content made of whole appended chunks, never beyond what
          was sent, never older than what was acknowledged
    test_overwrite_after_appends
        - a normal PUT replaces the content; appends continue from its length
    test_delete_after_appends
        - DELETE: GET 404 NoSuchKey; appending at 0 then starts afresh
  AppendObjectTypesTest (every object type can be appended; GET = old + new
  byte for byte; Range GETs at odd offsets across every boundary; HEAD as
  above after the appends)
    test_object_created_by_append    - type 1: position 0 then many appends
                                       of 1 B..300 KiB, across and on 64 KiB
                                       block boundaries, multiples of 65536
    test_object_put_whole_striped    - type 2: normal PUT of 3 MiB + 7
    test_small_merged_object         - type 3: normal PUT of 5,000 bytes
    test_multipart_object            - type 4: 5 MiB + (1 MiB + 3) parts
    test_zero_byte_object            - type 5: empty object, both forms
  AppendRestartTest (a server per test)
    test_clean_restart_keeps_appends - SIGTERM + restart: content identical
    test_kill9_during_streamed_append_content_length
    test_kill9_during_streamed_append_chunked
        - SIGKILL while a 64 MiB append streams in: after the restart the
          object is exactly its last acknowledged content, and appending at
          that length works (the half-done append left nothing)
    test_max_appends_limit
        - [append] max_appends = 5: the 6th append -> 400 TooManyParts,
          object unchanged

Run by hand:
    ROADSTORE_BIN=build/roadstore /usr/bin/python3 tests/integration/test_append.py -v
"""

import base64
import hashlib
import http.client
import os
import random
import re
import select
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rsharness as H  # noqa: E402
from rsharness import Server, ServerTestCase, rand_bytes  # noqa: E402

import botocore.session  # noqa: E402

KiB = 1024
MiB = 1024 * KiB
BLOCK = 64 * KiB                # [storage] block_size (the default)

ALICE = ('alice', 'RSAPPENDALICEKEY0001',
         'aliceAppendSecret0123456789abcdefghijklm')
BOB = ('bob', 'RSAPPENDBOBKEY000001',
       'bobAppendSecret0123456789abcdefghijklmno')

ETAG_RE = re.compile(r'^"[^"]+"$')
MAX_POS = 2 ** 63 - 1


# ---------------------------------------------------------------------------
# CRC-64/NVME (x-amz-checksum-crc64nvme): width 64, reflected, polynomial
# 0xad93d23594c935a9 (0x9a6c9329ac4bc9b5 reflected), init and xorout
# 0xffffffffffffffff; check value of b"123456789": 0xae8b14860a799888.

CRC64NVME_POLY = 0x9a6c9329ac4bc9b5
CRC64_MASK = 0xffffffffffffffff


def _crc64_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ CRC64NVME_POLY if c & 1 else c >> 1
        table.append(c)
    return table


CRC64_TABLE = _crc64_table()


def crc64nvme(data, crc=0):
    """CRC-64/NVME of data; crc is the value of the bytes before it, so
    crc64nvme(b, crc64nvme(a)) == crc64nvme(a + b)."""
    c = crc ^ CRC64_MASK
    table = CRC64_TABLE
    for b in data:
        c = table[(c ^ b) & 0xff] ^ (c >> 8)
    return c ^ CRC64_MASK


def crc64nvme_b64(data):
    """x-amz-checksum-crc64nvme of data: base64 of the big-endian CRC."""
    return base64.b64encode(crc64nvme(data).to_bytes(8, 'big')).decode()


# ---------------------------------------------------------------------------
# helpers

def boto_has_write_offset():
    s = botocore.session.get_session()
    shape = s.get_service_model('s3').operation_model('PutObject').input_shape
    return 'WriteOffsetBytes' in shape.members


BOTO_WRITE_OFFSET = boto_has_write_offset()


def boto3_put_at(client, bucket, key, body, offset):
    """PutObject with x-amz-write-offset-bytes: offset through boto3.  Older
    botocore (this machine has 1.29) does not know WriteOffsetBytes; then a
    before-sign hook adds the header, so it is signed like any other."""
    if BOTO_WRITE_OFFSET:
        return client.put_object(Bucket=bucket, Key=key, Body=body,
                                 WriteOffsetBytes=offset)

    def add_header(request, **_kw):
        request.headers['x-amz-write-offset-bytes'] = str(offset)
    ev = 'before-sign.s3.PutObject'
    client.meta.events.register(ev, add_header, unique_id='rs-write-offset')
    try:
        return client.put_object(Bucket=bucket, Key=key, Body=body)
    finally:
        client.meta.events.unregister(ev, unique_id='rs-write-offset')


def obj_path(bucket, key):
    return '/%s/%s' % (bucket, key)


def rgw_query(position):
    """?append&position=N; position None gives ?append alone."""
    q = [('append', None)]
    if position is not None:
        q.append(('position', str(position)))
    return q


def first_diff(a, b):
    for i in range(0, min(len(a), len(b)), 4096):
        if a[i:i + 4096] != b[i:i + 4096]:
            for j in range(i, min(i + 4096, len(a), len(b))):
                if a[j] != b[j]:
                    return j
    return min(len(a), len(b))


def mismatch(got, want):
    return '%d bytes, want %d; first difference at byte %d' % (
        len(got), len(want), first_diff(got, want))


FORMS = ('rgw', 'post', 'aws')


class AppendChecks:
    """Requests and assertions shared by the test classes; self.srv is the
    server under test."""

    srv = None

    # -- requests ---------------------------------------------------------------

    def rgw_append(self, bucket, key, body, position, method='PUT', **kw):
        return self.srv.request(method, obj_path(bucket, key),
                                rgw_query(position), body=body, **kw)

    def aws_append(self, bucket, key, body, offset, **kw):
        headers = dict(kw.pop('headers', None) or {})
        headers['x-amz-write-offset-bytes'] = str(offset)
        return self.srv.request('PUT', obj_path(bucket, key), headers=headers,
                                body=body, **kw)

    def append(self, form, bucket, key, body, position, **kw):
        """One append in form 'rgw' (PUT ?append), 'post' (POST ?append) or
        'aws' (x-amz-write-offset-bytes)."""
        if form == 'rgw':
            return self.rgw_append(bucket, key, body, position, **kw)
        if form == 'post':
            return self.rgw_append(bucket, key, body, position,
                                   method='POST', **kw)
        if form == 'aws':
            return self.aws_append(bucket, key, body, position, **kw)
        raise ValueError(form)

    def get(self, bucket, key, headers=None, **kw):
        return self.srv.request('GET', obj_path(bucket, key),
                                headers=headers, **kw)

    def head(self, bucket, key, **kw):
        # x-amz-checksum-mode: ENABLED, as SDKs ask for the checksum
        return self.srv.request('HEAD', obj_path(bucket, key),
                                headers={'x-amz-checksum-mode': 'ENABLED'},
                                **kw)

    # -- assertions ---------------------------------------------------------------

    def assertResp(self, resp, status, code=None, what=''):
        self.assertEqual(resp.status, status,
                         '%sexpected %d %s, got %d %s; body %r' % (
                             what + ': ' if what else '', status, code or '',
                             resp.status, resp.code, resp.body[:600]))
        if code is not None:
            self.assertEqual(resp.code, code, '%sbody %r' % (
                what + ': ' if what else '', resp.body[:600]))

    def assertAppended(self, resp, new_len, form='rgw', what=''):
        """A successful append: 200, the next-append-position headers equal
        the new length, an ETag.  Returns the ETag."""
        what = what or 'append (%s form)' % form
        self.assertResp(resp, 200, what=what)
        if form in ('rgw', 'post'):
            self.assertEqual(resp.headers.get('x-rgw-next-append-position'),
                             str(new_len), '%s: headers %r' % (what,
                                                                resp.headers))
            self.assertEqual(resp.headers.get('x-amz-next-append-position'),
                             str(new_len), '%s: headers %r' % (what,
                                                                resp.headers))
        elif 'x-amz-next-append-position' in resp.headers:
            # the AWS form need not carry it; when it does, it is right
            self.assertEqual(resp.headers['x-amz-next-append-position'],
                             str(new_len), what)
        etag = resp.headers.get('etag')
        self.assertTrue(etag and ETAG_RE.match(etag),
                        '%s: ETag %r; headers %r' % (what, etag,
                                                     resp.headers))
        return etag

    def assertRejected(self, resp, status, code, next_pos=None, what=''):
        self.assertResp(resp, status, code, what=what)
        if next_pos is not None:
            self.assertEqual(resp.headers.get('x-amz-next-append-position'),
                             str(next_pos), '%s: headers %r' % (
                                 what, resp.headers))

    def assertContent(self, bucket, key, want, what=''):
        """GET returns exactly want."""
        r = self.get(bucket, key)
        self.assertResp(r, 200, what=what or 'GET %s' % key)
        self.assertTrue(r.body == want, '%s: GET %s: %s' % (
            what, key, mismatch(r.body, want)))
        self.assertEqual(r.headers.get('content-length'), str(len(want)),
                         what)

    def assertMissing(self, bucket, key, what=''):
        r = self.get(bucket, key)
        self.assertResp(r, 404, 'NoSuchKey', what=what or 'GET %s' % key)

    def assertRanges(self, bucket, key, want, boundaries):
        """Range GETs across each boundary (where an append began), at odd
        offsets, plus an open-ended and a suffix range over the last one."""
        n = len(want)
        ranges = []
        for b in boundaries:
            if not 0 < b < n:
                continue
            ranges += [(b - 1, b), (max(0, b - 3), min(n - 1, b + 4)),
                       (max(0, b - 12345), min(n - 1, b + 54321)),
                       (b, min(n - 1, b + 65536))]
        for a, z in sorted(set(ranges)):
            r = self.get(bucket, key, headers={'Range': 'bytes=%d-%d' % (a, z)})
            self.assertResp(r, 206, what='Range %d-%d of %d' % (a, z, n))
            self.assertTrue(r.body == want[a:z + 1], 'Range %d-%d: %s' % (
                a, z, mismatch(r.body, want[a:z + 1])))
            self.assertEqual(r.headers.get('content-range'),
                             'bytes %d-%d/%d' % (a, z, n))
        last = max([b for b in boundaries if 0 < b < n], default=None)
        if last is not None:
            r = self.get(bucket, key,
                         headers={'Range': 'bytes=%d-' % (last - 1)})
            self.assertResp(r, 206, what='Range %d- of %d' % (last - 1, n))
            self.assertTrue(r.body == want[last - 1:], 'open-ended range')
            r = self.get(bucket, key,
                         headers={'Range': 'bytes=-%d' % (n - last + 3)})
            self.assertResp(r, 206, what='suffix range')
            self.assertTrue(r.body == want[-(n - last + 3):], 'suffix range')

    def assertAppendableHead(self, bucket, key, want, what=''):
        """HEAD of an object that grew by append.  Returns its ETag."""
        what = what or 'HEAD %s' % key
        r = self.head(bucket, key)
        self.assertResp(r, 200, what=what)
        h = r.headers
        self.assertEqual(h.get('x-amz-object-type'), 'Appendable',
                         '%s: headers %r' % (what, h))
        self.assertEqual(h.get('content-length'), str(len(want)), what)
        self.assertEqual(h.get('x-amz-next-append-position'), str(len(want)),
                         '%s: headers %r' % (what, h))
        self.assertEqual(h.get('x-amz-checksum-crc64nvme'),
                         crc64nvme_b64(want),
                         '%s: CRC-64/NVME of %d bytes; headers %r' % (
                             what, len(want), h))
        self.assertTrue(ETAG_RE.match(h.get('etag', '')), what)
        return h['etag']

    # -- compound steps -------------------------------------------------------------

    def append_ok(self, bucket, key, have, body, form='rgw'):
        """Append body at len(have) and check the answer; returns the new
        content."""
        r = self.append(form, bucket, key, body, len(have))
        self.assertAppended(r, len(have) + len(body), form,
                            'append of %d bytes at %d (%s form)' % (
                                len(body), len(have), form))
        return have + body

    def grow_and_verify(self, bucket, key, have, sizes, seed, first_form=0):
        """Append a body of each size, rotating through the three forms;
        after every append: GET is old + new byte for byte and HEAD shows a
        new ETag and the new length.  Then Range GETs across every boundary
        and the full HEAD check.  Returns the final content."""
        boundaries = [len(have)]
        r = self.head(bucket, key)
        etags = [r.headers.get('etag')] if r.status == 200 else []
        for i, n in enumerate(sizes):
            form = FORMS[(first_form + i) % len(FORMS)]
            body = rand_bytes(n, seed='%s#%d' % (seed, i))
            # no subTest: after a failed append the rest would only fail
            # for that reason
            have = self.append_ok(bucket, key, have, body, form)
            boundaries.append(len(have))
            what = 'after append %d (%d bytes, %s form)' % (i, n, form)
            self.assertContent(bucket, key, have, what)
            h = self.head(bucket, key)
            self.assertResp(h, 200, what='HEAD ' + what)
            self.assertEqual(h.headers.get('content-length'),
                             str(len(have)), 'HEAD ' + what)
            self.assertNotIn(h.headers.get('etag'), etags,
                             'ETag did not change ' + what)
            etags.append(h.headers.get('etag'))
        self.assertRanges(bucket, key, have, boundaries)
        self.assertAppendableHead(bucket, key, have)
        return have


# ===========================================================================
class Crc64Test(unittest.TestCase):
    """The CRC helper itself (runs without a server)."""

    def test_check_value(self):
        self.assertEqual(crc64nvme(b'123456789'), 0xae8b14860a799888)
        self.assertEqual(crc64nvme(b''), 0)

    def test_base64_of_check_value(self):
        # big-endian bytes ae 8b 14 86 0a 79 98 88
        self.assertEqual(crc64nvme_b64(b'123456789'), 'rosUhgp5mIg=')

    def test_incremental_equals_whole(self):
        data = rand_bytes(100000, seed='crc')
        whole = crc64nvme(data)
        for cut in (0, 1, 4095, 65536, 99999, 100000):
            self.assertEqual(crc64nvme(data[cut:], crc64nvme(data[:cut])),
                             whole, 'cut at %d' % cut)
        self.assertNotEqual(crc64nvme(data[:-1] + bytes([data[-1] ^ 1])),
                            whole)


# ===========================================================================
class AppendProtocolTest(AppendChecks, ServerTestCase):
    """Request forms, validation, errors, HEAD, permissions, concurrency,
    overwrite and delete."""

    users = (ALICE, BOB)

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.b = 'rs-append'
        cls.s3.create_bucket(Bucket=cls.b)

    def put(self, key, data):
        self.s3.put_object(Bucket=self.b, Key=key, Body=data)
        return data

    # -- the two forms -------------------------------------------------------------

    def _creates_and_grows(self, form, key):
        self.assertMissing(self.b, key)
        have = self.append_ok(self.b, key, b'', b'first bytes', form)
        self.assertContent(self.b, key, have, 'created by append at 0')
        have = self.append_ok(self.b, key, have,
                              rand_bytes(70000, seed=key), form)
        have = self.append_ok(self.b, key, have, b'!', form)
        self.assertContent(self.b, key, have)
        h = self.head(self.b, key)
        self.assertResp(h, 200)
        self.assertEqual(h.headers.get('content-length'), str(len(have)))

    def test_rgw_put_form_creates_and_grows(self):
        self._creates_and_grows('rgw', 'form/rgw-put')

    def test_rgw_post_form_creates_and_grows(self):
        self._creates_and_grows('post', 'form/rgw-post')

    def test_aws_form_creates_and_grows(self):
        self._creates_and_grows('aws', 'form/aws')

    def test_aws_form_through_boto3(self):
        key = 'form/boto3'
        r = boto3_put_at(self.s3, self.b, key, b'0123456789', 0)
        self.assertEqual(r['ResponseMetadata']['HTTPStatusCode'], 200)
        self.assertTrue(ETAG_RE.match(r['ETag']), r['ETag'])
        r = boto3_put_at(self.s3, self.b, key, b'abcdef', 10)
        self.assertEqual(r['ResponseMetadata']['HTTPStatusCode'], 200)
        self.assertEqual(self.get_bytes(self.b, key), b'0123456789abcdef')
        resp = self.assertS3Error('InvalidWriteOffset', 400, boto3_put_at,
                                  self.s3, self.b, key, b'zz', 10)
        self.assertEqual(resp['ResponseMetadata']['HTTPHeaders'].get(
            'x-amz-next-append-position'), '16')
        self.assertEqual(self.get_bytes(self.b, key), b'0123456789abcdef')

    # -- validation ----------------------------------------------------------------

    # (description, value of position=; None: no position parameter)
    BAD_POSITIONS = [
        ('missing', None), ('empty', ''), ('negative', '-1'),
        ('exponent', '1e3'), ('letters', 'abc'), ('leading space', ' 5'),
        ('trailing space', '5 '), ('plus sign', '+5'), ('hex', '0x10'),
        ('decimal point', '5.0'),
        ('21 digits', '1' * 21), ('21 zeros', '0' * 21),
        ('2^63', str(2 ** 63)), ('20 digits > 2^63-1', '9' * 20),
        ('2^64', str(2 ** 64)),
    ]

    def test_invalid_position_is_invalid_argument(self):
        have = self.put('valid/existing', rand_bytes(5, seed='v'))
        for desc, pos in self.BAD_POSITIONS:
            for method in ('PUT', 'POST'):
                with self.subTest(position=desc, method=method,
                                  object='existing'):
                    r = self.rgw_append(self.b, 'valid/existing', b'xyz',
                                        pos, method=method)
                    self.assertResp(r, 400, 'InvalidArgument',
                                    what='position %r' % pos)
                    self.assertContent(self.b, 'valid/existing', have)
            # checked before anything is touched: no object appears
            with self.subTest(position=desc, object='missing'):
                r = self.rgw_append(self.b, 'valid/missing', b'xyz', pos)
                self.assertResp(r, 400, 'InvalidArgument',
                                what='position %r' % pos)
                self.assertMissing(self.b, 'valid/missing')

    def test_aws_invalid_offset_is_invalid_argument(self):
        # The specification names the RGW spellings; the same values in
        # x-amz-write-offset-bytes are malformed, not a wrong offset, so
        # InvalidArgument too.  (Leading/trailing blanks of a header value
        # are not part of it in HTTP, so those cases are left out; an
        # absent header is a normal PUT.)
        have = self.put('valid/aws-existing', rand_bytes(5, seed='va'))
        for desc, pos in self.BAD_POSITIONS:
            if pos is None or pos != pos.strip():
                continue
            with self.subTest(offset=desc, object='existing'):
                r = self.aws_append(self.b, 'valid/aws-existing', b'xyz', pos)
                self.assertResp(r, 400, 'InvalidArgument',
                                what='offset %r' % pos)
                self.assertContent(self.b, 'valid/aws-existing', have)
            with self.subTest(offset=desc, object='missing'):
                r = self.aws_append(self.b, 'valid/aws-missing', b'xyz', pos)
                self.assertResp(r, 400, 'InvalidArgument',
                                what='offset %r' % pos)
                self.assertMissing(self.b, 'valid/aws-missing')

    def test_position_with_leading_zeros_is_a_number(self):
        # all digits: valid, whatever the leading zeros
        r = self.rgw_append(self.b, 'zeros', b'12345', '000')
        self.assertAppended(r, 5)
        r = self.rgw_append(self.b, 'zeros', b'678', '0005')
        self.assertAppended(r, 8)
        r = self.aws_append(self.b, 'zeros', b'9', '08')
        self.assertAppended(r, 9, 'aws')
        self.assertContent(self.b, 'zeros', b'123456789')

    def test_twenty_digit_position_is_valid(self):
        # The specification rejects "more than 20 digits"; 20 digits whose
        # value is at most 2^63-1 is a valid position.
        r = self.rgw_append(self.b, 'twenty', b'12345', '0' * 20)
        self.assertAppended(r, 5, what='position of 20 zeros')
        r = self.rgw_append(self.b, 'twenty', b'678', '%020d' % 5)
        self.assertAppended(r, 8, what='position 5 in 20 digits')
        self.assertContent(self.b, 'twenty', b'12345678')

    # -- wrong position ------------------------------------------------------------

    def wrong_positions(self, n):
        return sorted({0, n - 1, n + 1, 2 * n, n + BLOCK, MAX_POS} - {n})

    def test_wrong_position_rgw_is_position_not_equal_to_length(self):
        key = 'wrong/rgw'
        have = self.put(key, rand_bytes(70001, seed=key))
        for pos in self.wrong_positions(len(have)):
            for method in ('PUT', 'POST'):
                with self.subTest(position=pos, method=method):
                    r = self.rgw_append(self.b, key, b'never', pos,
                                        method=method)
                    self.assertRejected(r, 409, 'PositionNotEqualToLength',
                                        len(have), 'position %d' % pos)
                    self.assertContent(self.b, key, have)
        # and after a successful append, the new length is the one
        have = self.append_ok(self.b, key, have, b'more')
        r = self.rgw_append(self.b, key, b'never', len(have) - 4)
        self.assertRejected(r, 409, 'PositionNotEqualToLength', len(have))
        self.assertContent(self.b, key, have)

    def test_wrong_offset_aws_is_invalid_write_offset(self):
        key = 'wrong/aws'
        have = self.put(key, rand_bytes(70001, seed=key))
        for pos in self.wrong_positions(len(have)):
            with self.subTest(offset=pos):
                r = self.aws_append(self.b, key, b'never', pos)
                self.assertRejected(r, 400, 'InvalidWriteOffset', len(have),
                                    'offset %d' % pos)
                self.assertContent(self.b, key, have)

    def test_content_md5_is_checked(self):
        # The append's MD5 is computed only to check a Content-MD5: a wrong
        # one is 400 BadDigest and appends nothing, a right one appends.
        b = self.b
        have = self.append_ok(b, 'md5', b'', b'first part')
        body = rand_bytes(70001, seed='md5')
        good = base64.b64encode(hashlib.md5(body).digest()).decode()
        bad = base64.b64encode(hashlib.md5(b'other').digest()).decode()
        for form in FORMS:
            with self.subTest(form=form):
                r = self.append(form, b, 'md5', body, len(have),
                                headers={'Content-MD5': bad})
                self.assertResp(r, 400, 'BadDigest', what=form)
                self.assertContent(b, 'md5', have)
        r = self.append('rgw', b, 'md5', body, len(have),
                        headers={'Content-MD5': good})
        self.assertResp(r, 200, what='right Content-MD5')
        self.assertContent(b, 'md5', have + body)

    def test_aws_form_empty_body_is_invalid_request(self):
        key = 'empty-body'
        have = self.put(key, b'some content')
        r = self.aws_append(self.b, key, b'', len(have))
        self.assertResp(r, 400, 'InvalidRequest', what='empty body at end')
        self.assertContent(self.b, key, have)
        r = self.aws_append(self.b, 'empty-body-missing', b'', 0)
        self.assertResp(r, 400, 'InvalidRequest', what='empty body at 0')
        self.assertMissing(self.b, 'empty-body-missing')

    # -- HEAD, ETag, If-Match --------------------------------------------------------

    def test_head_checksum_etag_and_if_match(self):
        key = 'head'
        rnd = random.Random(77)
        have = self.append_ok(self.b, key, b'',
                              rand_bytes(1000, seed='head0'))
        etags = [self.assertAppendableHead(self.b, key, have)]
        for i in range(8):
            body = rand_bytes(rnd.choice([1, 3, BLOCK, BLOCK + 1,
                                          rnd.randrange(1, 300 * KiB)]),
                              seed='head%d' % (i + 1))
            have = self.append_ok(self.b, key, have, body, FORMS[i % 3])
            with self.subTest(append=i + 1, length=len(have)):
                etag = self.assertAppendableHead(self.b, key, have)
                self.assertNotIn(etag, etags, 'ETag did not change')
                etags.append(etag)
                # the old ETag no longer matches; the current one does
                self.assertS3Error('PreconditionFailed', 412,
                                   self.s3.get_object, Bucket=self.b,
                                   Key=key, IfMatch=etags[-2])
                self.assertEqual(self.get_bytes(self.b, key, IfMatch=etag),
                                 have)

    # -- permissions -----------------------------------------------------------------

    def test_other_user_is_access_denied(self):
        alice = self.srv.client(ALICE[1], ALICE[2])
        b = self.new_bucket(client=alice)
        key = 'alices'
        have = rand_bytes(3000, seed='alice')
        alice.put_object(Bucket=b, Key=key, Body=have)
        bob_keys = dict(access_key=BOB[1], secret_key=BOB[2])
        for form in FORMS:
            # at the right position and at a wrong one: permission comes
            # first, so bob learns nothing about the length either
            for pos in (len(have), 0):
                with self.subTest(form=form, position=pos):
                    r = self.append(form, b, key, b'from bob', pos,
                                    **bob_keys)
                    self.assertResp(r, 403, 'AccessDenied')
                    self.assertNotIn('x-amz-next-append-position',
                                     r.headers)
                    self.assertEqual(alice.get_object(Bucket=b, Key=key)[
                        'Body'].read(), have)
            with self.subTest(form=form, object='new key'):
                r = self.append(form, b, 'bobs', b'from bob', 0, **bob_keys)
                self.assertResp(r, 403, 'AccessDenied')
                self.assertS3Error('NoSuchKey', 404, alice.get_object,
                                   Bucket=b, Key='bobs')
        # alice herself may append
        r = self.rgw_append(b, key, b'from alice', len(have),
                            access_key=ALICE[1], secret_key=ALICE[2])
        self.assertAppended(r, len(have) + 10)
        self.assertEqual(alice.get_object(Bucket=b, Key=key)['Body'].read(),
                         have + b'from alice')

    # -- concurrency -----------------------------------------------------------------

    RACERS = 8
    RACE_BODY = 10 * KiB

    def _race(self, key, have, form, round_no):
        pos = len(have)
        bodies = [rand_bytes(self.RACE_BODY, seed='race%d-%d' % (round_no, i))
                  for i in range(self.RACERS)]
        barrier = threading.Barrier(self.RACERS)
        results = [None] * self.RACERS

        def racer(i):
            try:
                barrier.wait(30)
                results[i] = self.append(form, self.b, key, bodies[i], pos)
            except Exception as e:      # reported below
                results[i] = e
        threads = [threading.Thread(target=racer, args=(i,))
                   for i in range(self.RACERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        errors = [r for r in results if not isinstance(r, H.Response)]
        self.assertEqual(errors, [], 'racers raised')
        winners = [i for i, r in enumerate(results) if r.status == 200]
        self.assertEqual(len(winners), 1, 'round %d (%s): %d winners; %r' % (
            round_no, form, len(winners), results))
        w = winners[0]
        self.assertAppended(results[w], pos + self.RACE_BODY, form)
        status, code = ((409, 'PositionNotEqualToLength')
                        if form in ('rgw', 'post')
                        else (400, 'InvalidWriteOffset'))
        for i, r in enumerate(results):
            if i != w:
                self.assertRejected(r, status, code, pos + self.RACE_BODY,
                                    'loser %d of round %d' % (i, round_no))
        have += bodies[w]
        self.assertContent(self.b, key, have, 'after round %d' % round_no)
        return have

    def test_racing_writers_exactly_one_wins(self):
        key = 'race'
        have = self.append_ok(self.b, key, b'', rand_bytes(3333, seed='race'))
        # the specification's case (RGW form, 409) several times, then the
        # same race in the AWS form (its wrong-offset answer is 400)
        for round_no, form in enumerate(['rgw'] * 4 + ['post', 'aws', 'aws']):
            have = self._race(key, have, form, round_no)
        self.assertAppendableHead(self.b, key, have)

    def test_read_while_writing_sees_only_acknowledged_prefixes(self):
        key = 'readers'
        chunk, count = 50 * KiB, 200
        chunks = [rand_bytes(chunk, seed='rw%d' % i) for i in range(count)]
        final = b''.join(chunks)
        started = [0]       # appends sent (or being sent)
        acked = [0]         # appends answered 200
        done = threading.Event()
        problems = []
        seen = set()

        def writer():
            try:
                for i, c in enumerate(chunks):
                    started[0] = i + 1
                    r = self.rgw_append(self.b, key, c, i * chunk)
                    if r.status != 200:
                        problems.append('append %d: %r' % (i, r))
                        return
                    acked[0] = i + 1
            except Exception as e:
                problems.append('writer: %r' % e)
            finally:
                done.set()

        def reader(n_reader):
            last = 0
            gets = 0
            while not done.is_set() and len(problems) < 20:
                if acked[0] == 0:
                    time.sleep(0.001)
                    continue
                lo = acked[0]
                r = self.get(self.b, key)
                hi = started[0]
                gets += 1
                if r.status != 200:
                    problems.append('reader %d: GET %r' % (n_reader, r))
                    continue
                n = len(r.body)
                seen.add(n)
                if n % chunk:
                    problems.append('GET returned %d bytes: not a whole '
                                    'number of appends' % n)
                if n < lo * chunk:
                    problems.append('GET returned %d bytes after %d were '
                                    'acknowledged' % (n, lo * chunk))
                if n > hi * chunk:
                    problems.append('GET returned %d bytes, only %d were '
                                    'sent' % (n, hi * chunk))
                if r.body != final[:n]:
                    problems.append('GET of %d bytes: wrong bytes at %d' % (
                        n, first_diff(r.body, final[:n])))
                if n < last:
                    problems.append('reader %d: length went back from %d '
                                    'to %d' % (n_reader, last, n))
                last = max(last, n)
        threads = [threading.Thread(target=writer)]
        threads += [threading.Thread(target=reader, args=(i,))
                    for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(600)
        self.assertFalse(any(t.is_alive() for t in threads), 'threads hang')
        self.assertEqual(problems[:20], [])
        self.assertEqual(acked[0], count)
        self.assertGreaterEqual(len(seen), 3, 'the readers did not overlap '
                                'the appends; lengths seen: %r' % sorted(seen))
        self.assertContent(self.b, key, final)

    # -- overwrite and delete -------------------------------------------------------

    def test_overwrite_after_appends(self):
        key = 'overwrite'
        have = b''
        for i, n in enumerate([1000, BLOCK, 12345]):
            have = self.append_ok(self.b, key, have,
                                  rand_bytes(n, seed='ow%d' % i), FORMS[i])
        new = self.put(key, rand_bytes(4321, seed='ow-new'))
        self.assertContent(self.b, key, new, 'after the overwrite')
        h = self.head(self.b, key)
        self.assertEqual(h.headers.get('content-length'), str(len(new)))
        # the old length is no longer the end
        r = self.rgw_append(self.b, key, b'late', len(have))
        self.assertRejected(r, 409, 'PositionNotEqualToLength', len(new))
        r = self.aws_append(self.b, key, b'late', len(have))
        self.assertRejected(r, 400, 'InvalidWriteOffset', len(new))
        self.assertContent(self.b, key, new)
        have = self.append_ok(self.b, key, new, b'continued', 'rgw')
        have = self.append_ok(self.b, key, have, b' and more', 'aws')
        self.assertContent(self.b, key, have)
        self.assertAppendableHead(self.b, key, have)

    def test_delete_after_appends(self):
        key = 'delete'
        have = b''
        for i, n in enumerate([1000, BLOCK + 1, 5]):
            have = self.append_ok(self.b, key, have,
                                  rand_bytes(n, seed='del%d' % i), FORMS[i])
        r = self.s3.delete_object(Bucket=self.b, Key=key)
        self.assertEqual(r['ResponseMetadata']['HTTPStatusCode'], 204)
        self.assertMissing(self.b, key, 'GET after DELETE')
        self.assertResp(self.head(self.b, key), 404, what='HEAD after DELETE')
        # missing again: position 0 creates it afresh, with none of the old
        # bytes
        again = self.append_ok(self.b, key, b'', b'fresh start')
        self.assertContent(self.b, key, again)


# ===========================================================================
class AppendObjectTypesTest(AppendChecks, ServerTestCase):
    """Every kind of object can be appended to; GET, Range GETs and HEAD
    agree with old + new bytes."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.b = 'rs-append-types'
        cls.s3.create_bucket(Bucket=cls.b)

    def test_object_created_by_append(self):
        key = 'type1/by-append'
        rnd = random.Random(1001)
        # 1,000 bytes at position 0, then: up to the 64 KiB block boundary
        # exactly, exact multiples of 65536 while aligned, one byte over a
        # boundary, back onto one, multiples of 65536 while unaligned, the
        # 300 KiB maximum, tiny ones; then random sizes of 1 B..300 KiB
        # (some multiples of 65536, some tiny)
        sizes = [BLOCK - 1000, BLOCK, 2 * BLOCK, 1, BLOCK - 1, BLOCK + 1,
                 3 * BLOCK, 300 * KiB, 7, 4 * BLOCK, BLOCK - 7]
        for _ in range(24):
            sizes.append(rnd.choice([rnd.randrange(1, 300 * KiB + 1),
                                     rnd.randrange(1, 300 * KiB + 1),
                                     BLOCK * rnd.randrange(1, 5),
                                     rnd.randrange(1, 100)]))
        have = self.append_ok(self.b, key, b'', rand_bytes(1000, seed=key))
        self.assertContent(self.b, key, have, 'created at position 0')
        have = self.grow_and_verify(self.b, key, have, sizes, key)
        self.assertGreater(len(have), 2 * MiB)

    def test_object_put_whole_striped(self):
        key = 'type2/striped'
        base = rand_bytes(3 * MiB + 7, seed=key)
        self.s3.put_object(Bucket=self.b, Key=key, Body=base)
        # the 5 MiB one crosses the 8 MiB stripe boundary
        self.grow_and_verify(self.b, key, base,
                             [1, BLOCK, 300 * KiB + 3, 5 * MiB + 11,
                              3 * BLOCK, 7777], key)

    def test_small_merged_object(self):
        key = 'type3/small'
        base = rand_bytes(5000, seed=key)
        self.s3.put_object(Bucket=self.b, Key=key, Body=base)
        self.assertContent(self.b, key, base)
        # up to a block boundary, a block, then past the 1 MiB small-object
        # threshold
        self.grow_and_verify(self.b, key, base,
                             [1, BLOCK - 5001, BLOCK, 300 * KiB, 700 * KiB,
                              12345], key)

    def test_multipart_object(self):
        key = 'type4/multipart'
        parts = [rand_bytes(5 * MiB, seed=key + '1'),
                 rand_bytes(MiB + 3, seed=key + '2')]
        up = self.s3.create_multipart_upload(Bucket=self.b, Key=key)
        done = []
        for n, p in enumerate(parts, 1):
            r = self.s3.upload_part(Bucket=self.b, Key=key, PartNumber=n,
                                    UploadId=up['UploadId'], Body=p)
            done.append({'PartNumber': n, 'ETag': r['ETag']})
        r = self.s3.complete_multipart_upload(
            Bucket=self.b, Key=key, UploadId=up['UploadId'],
            MultipartUpload={'Parts': done})
        self.assertEqual(r['ETag'], H.multipart_etag(parts))
        base = b''.join(parts)
        self.assertContent(self.b, key, base)
        self.grow_and_verify(self.b, key, base,
                             [1, BLOCK, 123457, 2 * MiB + 5], key,
                             first_form=2)

    def test_zero_byte_object(self):
        for first_form, key in enumerate(['type5/empty-rgw',
                                          'type5/empty-post',
                                          'type5/empty-aws']):
            with self.subTest(first=FORMS[first_form]):
                self.s3.put_object(Bucket=self.b, Key=key, Body=b'')
                self.assertContent(self.b, key, b'')
                self.grow_and_verify(self.b, key, b'',
                                     [1, BLOCK - 1, BLOCK, 1000], key,
                                     first_form=first_form)


# ===========================================================================
class AppendRestartTest(AppendChecks, unittest.TestCase):
    """Restart, SIGKILL in the middle of an append, and the append limit;
    a server per test."""

    def setUp(self):
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            s.stop()
        for s in self.servers:
            s.check()

    def server(self, config=None):
        s = Server(name='append-' + self._testMethodName[5:25],
                   config=config)
        self.servers.append(s)
        self.srv = s
        try:
            s.start()
        except RuntimeError as e:
            self.fail('the server did not start with config %r: %s' % (
                config, e))
        self.s3 = s.client()
        return s

    def test_clean_restart_keeps_appends(self):
        srv = self.server()
        b = 'rs-append-restart'
        self.s3.create_bucket(Bucket=b)
        objs = {}
        have = b''
        for i, n in enumerate([1000, BLOCK, 1, 300 * KiB, 77777]):
            have = self.append_ok(b, 'by-append', have,
                                  rand_bytes(n, seed='r1-%d' % i), FORMS[i % 3])
        objs['by-append'] = have
        have = rand_bytes(MiB + 5, seed='r2')
        self.s3.put_object(Bucket=b, Key='striped', Body=have)
        for i, n in enumerate([3, BLOCK + 3, 200 * KiB]):
            have = self.append_ok(b, 'striped', have,
                                  rand_bytes(n, seed='r2-%d' % i), FORMS[i % 3])
        objs['striped'] = have
        have = rand_bytes(100, seed='r3')
        self.s3.put_object(Bucket=b, Key='small', Body=have)
        for i in range(4):
            have = self.append_ok(b, 'small', have,
                                  rand_bytes(999, seed='r3-%d' % i))
        objs['small'] = have
        for k, v in objs.items():
            self.assertContent(b, k, v, 'before the restart')
        srv.stop()
        srv.start()
        for k, v in objs.items():
            self.assertContent(b, k, v, 'after SIGTERM and restart')
            self.assertAppendableHead(b, k, v, 'HEAD %s after restart' % k)
        # and the appends go on where they were
        v = self.append_ok(b, 'by-append', objs['by-append'], b'on and on')
        self.assertContent(b, 'by-append', v)

    def _kill9_during_append(self, chunked):
        srv = self.server()
        b = 'rs-append-kill'
        key = 'streamed'
        self.s3.create_bucket(Bucket=b)
        have = b''
        for i, n in enumerate([5000, BLOCK, 300 * KiB + 1, 1]):
            have = self.append_ok(b, key, have,
                                  rand_bytes(n, seed='k%d' % i), FORMS[i % 3])
        self.assertContent(b, key, have, 'before the big append')

        total = 64 * MiB
        piece = 256 * KiB
        sent = [0]
        outcome = []            # the response or the exception
        early = []              # the server answered while we were sending
        conn = http.client.HTTPConnection('127.0.0.1', srv.port,
                                            timeout=120)

        def body():
            for off in range(0, total, piece):
                if conn.sock is not None and \
                        select.select([conn.sock], [], [], 0)[0]:
                    early.append(off)
                yield os.urandom(piece)
                sent[0] = off + piece
                time.sleep(0.002)

        def stream():
            headers = {} if chunked else {'Content-Length': str(total)}
            try:
                outcome.append(srv.request(
                    'PUT', obj_path(b, key), rgw_query(len(have)),
                    headers=headers, body=body(), chunked=chunked,
                    payload_hash='UNSIGNED-PAYLOAD', conn=conn))
            except Exception as e:      # the kill resets the connection
                outcome.append(e)
        t = threading.Thread(target=stream)
        t.start()
        deadline = time.time() + 120
        while sent[0] < 24 * MiB and t.is_alive() and time.time() < deadline:
            time.sleep(0.01)
        self.assertGreaterEqual(
            sent[0], 24 * MiB, 'the server did not take the append body '
            '(%d bytes sent; outcome %r)' % (sent[0], outcome))
        self.assertEqual(early, [], 'the server answered before the body '
                         'was complete (%r)' % outcome)
        # while the big append is half in, readers see the old object
        self.assertContent(b, key, have, 'during the streamed append')
        srv.kill9()
        t.join(120)
        conn.close()
        self.assertFalse(t.is_alive(), 'the client hangs after the kill')
        self.assertFalse(outcome and isinstance(outcome[0], H.Response) and
                         outcome[0].status == 200,
                         'a 64 MiB append was acknowledged after %d bytes'
                         % sent[0])
        srv.start()
        self.assertContent(b, key, have, 'after SIGKILL and restart')
        self.assertAppendableHead(b, key, have, 'HEAD after SIGKILL')
        # nothing of the half-done append is in the way: not at the
        # acknowledged length, not beyond it
        r = self.rgw_append(b, key, b'x', len(have) + 16 * MiB)
        self.assertRejected(r, 409, 'PositionNotEqualToLength', len(have))
        have = self.append_ok(b, key, have, b'after the crash', 'rgw')
        have = self.append_ok(b, key, have,
                              rand_bytes(BLOCK + 3, seed='after'), 'aws')
        self.assertContent(b, key, have, 'appended after the crash')
        srv.stop()
        srv.start()
        self.assertContent(b, key, have, 'after a clean restart')
        self.assertAppendableHead(b, key, have)

    def test_kill9_during_streamed_append_content_length(self):
        self._kill9_during_append(chunked=False)

    def test_kill9_during_streamed_append_chunked(self):
        self._kill9_during_append(chunked=True)

    def test_max_appends_limit(self):
        # The append that creates the object (position 0) is append 1.
        self.server(config='[append]\nmax_appends = 5\n')
        b = 'rs-append-limit'
        self.s3.create_bucket(Bucket=b)
        have = b''
        for i in range(5):
            have = self.append_ok(b, 'k', have,
                                  rand_bytes(100 + i, seed='lim%d' % i),
                                  FORMS[i % 3])
        for form in FORMS:
            with self.subTest(form=form):
                r = self.append(form, b, 'k', b'one too many', len(have))
                self.assertResp(r, 400, 'TooManyParts',
                                what='6th append (%s form)' % form)
                self.assertContent(b, 'k', have)
        self.assertAppendableHead(b, 'k', have)
        # the limit is per object
        other = b''
        for i in range(5):
            other = self.append_ok(b, 'other', other, b'%d' % i)
        self.assertContent(b, 'other', b'01234')


if __name__ == '__main__':
    H.main()
