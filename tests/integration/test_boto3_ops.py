#!/usr/bin/python3
"""Every S3 operation of issue 3, item 4, through boto3 (Debian's
python3-boto3), with its error cases: exact S3 error codes and HTTP
statuses, byte-for-byte content, and the headers S3 clients rely on.

Each class runs its own server.  Raw requests (http.client, signed by the
harness) cover what boto3 will not send: malformed XML, skewed clocks,
wrong payload hashes, encoding-type=url as it is on the wire."""

import datetime
import hashlib
import os
import re
import sys
import time
import urllib.parse
import urllib.request
import urllib.error
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rsharness as H  # noqa: E402
from rsharness import (ServerTestCase, b64, md5_hex, multipart_etag,  # noqa
                       rand_bytes, xml_strip_ns)

MiB = 1024 * 1024
HTTP_DATE = '%a, %d %b %Y %H:%M:%S GMT'


def http_date(dt):
    return dt.astimezone(datetime.timezone.utc).strftime(HTTP_DATE)


def etag_of(data):
    return '"%s"' % md5_hex(data)


# ===========================================================================
class BucketTest(ServerTestCase):

    def test_list_buckets_shows_created_buckets_with_owner(self):
        a = self.new_bucket()
        b = self.new_bucket()
        r = self.s3.list_buckets()
        names = [x['Name'] for x in r['Buckets']]
        self.assertIn(a, names)
        self.assertIn(b, names)
        self.assertEqual(names, sorted(names), 'ListBuckets is sorted by name')
        self.assertTrue(r['Owner'].get('ID'))
        for x in r['Buckets']:
            self.assertIsInstance(x['CreationDate'], datetime.datetime)

    def test_recreate_own_bucket_in_us_east_1_resets_acl(self):
        # AWS: "if you re-create an existing bucket that you already own in
        # the North Virginia Region, Amazon S3 returns 200 OK and resets the
        # bucket access control lists"; elsewhere BucketAlreadyOwnedByYou.
        b = self.new_bucket()
        self.s3.put_bucket_acl(Bucket=b, ACL='public-read')
        self.assertEqual(len(self.s3.get_bucket_acl(Bucket=b)['Grants']), 2)
        r = self.s3.create_bucket(Bucket=b)
        self.assertEqual(r['ResponseMetadata']['HTTPStatusCode'], 200)
        grants = self.s3.get_bucket_acl(Bucket=b)['Grants']
        self.assertEqual([g['Permission'] for g in grants], ['FULL_CONTROL'])

    def test_invalid_bucket_names_are_rejected(self):
        bad = ['ab', 'a' * 64, 'UpperCase', 'under_score', '192.168.5.4',
               '-leadingdash', 'trailingdash-', 'double..dot', '.leaddot',
               'trailingdot.', 'dash-.dot', '_roadstore']
        for name in bad:
            with self.subTest(name=name):
                self.assertS3Error('InvalidBucketName', 400,
                                   self.s3.create_bucket, Bucket=name)

    def test_valid_bucket_name_edge_cases_are_accepted(self):
        for name in ['abc' + str(os.getpid() % 1000), 'b' * 63,
                     'my.dotted.bucket', '123456789']:
            with self.subTest(name=name):
                self.s3.create_bucket(Bucket=name)
                self.s3.head_bucket(Bucket=name)
                self.s3.put_object(Bucket=name, Key='k', Body=b'x')
                self.assertEqual(self.get_bytes(name, 'k'), b'x')
                self.s3.delete_object(Bucket=name, Key='k')
                self.s3.delete_bucket(Bucket=name)

    def test_delete_non_empty_bucket_is_bucket_not_empty(self):
        b = self.new_bucket()
        self.s3.put_object(Bucket=b, Key='x', Body=b'1')
        self.assertS3Error('BucketNotEmpty', 409, self.s3.delete_bucket,
                           Bucket=b)
        self.s3.delete_object(Bucket=b, Key='x')
        r = self.s3.delete_bucket(Bucket=b)
        self.assertEqual(r['ResponseMetadata']['HTTPStatusCode'], 204)
        self.assertS3Error('404', 404, self.s3.head_bucket, Bucket=b)

    def test_missing_bucket_is_no_such_bucket(self):
        b = self.new_bucket(create=False)
        self.assertS3Error('NoSuchBucket', 404, self.s3.delete_bucket, Bucket=b)
        self.assertS3Error('NoSuchBucket', 404, self.s3.list_objects_v2,
                           Bucket=b)
        self.assertS3Error('NoSuchBucket', 404, self.s3.list_objects, Bucket=b)
        self.assertS3Error('NoSuchBucket', 404, self.s3.put_object, Bucket=b,
                           Key='k', Body=b'x')
        self.assertS3Error('NoSuchBucket', 404, self.s3.get_object, Bucket=b,
                           Key='k')
        self.assertS3Error('NoSuchBucket', 404, self.s3.get_bucket_location,
                           Bucket=b)
        self.assertS3Error('404', 404, self.s3.head_bucket, Bucket=b)

    def test_head_bucket_and_get_bucket_location(self):
        b = self.new_bucket()
        r = self.s3.head_bucket(Bucket=b)
        self.assertEqual(r['ResponseMetadata']['HTTPStatusCode'], 200)
        r = self.s3.get_bucket_location(Bucket=b)
        # us-east-1 answers an empty LocationConstraint
        self.assertIsNone(r.get('LocationConstraint'))

    def test_get_bucket_location_xml(self):
        b = self.new_bucket()
        r = self.srv.request('GET', '/' + b, [('location', None)])
        self.assertRaw(r, 200)
        root = ET.fromstring(r.body)
        self.assertEqual(root.tag, '{%s}LocationConstraint' % H.S3NS)
        self.assertIn(root.text, (None, ''))

    def test_list_buckets_xml_has_namespace(self):
        self.new_bucket()
        r = self.srv.request('GET', '/')
        self.assertRaw(r, 200)
        root = ET.fromstring(r.body)
        self.assertEqual(root.tag, '{%s}ListAllMyBucketsResult' % H.S3NS)


# ===========================================================================
class ObjectTest(ServerTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.b = 'rs-objects'
        cls.s3.create_bucket(Bucket=cls.b)

    def test_put_get_head_round_trip_and_etag_is_md5(self):
        for size in [0, 1, 100, 4096, 65537, MiB + 7, 10 * MiB + 3]:
            with self.subTest(size=size):
                data = rand_bytes(size, seed=size)
                key = 'rt/%d' % size
                r = self.s3.put_object(Bucket=self.b, Key=key, Body=data)
                self.assertEqual(r['ETag'], etag_of(data))
                h = self.s3.head_object(Bucket=self.b, Key=key)
                self.assertEqual(h['ContentLength'], size)
                self.assertEqual(h['ETag'], etag_of(data))
                self.assertIsInstance(h['LastModified'], datetime.datetime)
                g = self.s3.get_object(Bucket=self.b, Key=key)
                body = g['Body'].read()
                self.assertEqual(len(body), size)
                self.assertTrue(body == data, 'content differs')
                self.assertEqual(g['ETag'], etag_of(data))
                self.assertEqual(g['ContentLength'], size)

    def test_large_object_across_stripes_round_trips(self):
        data = rand_bytes(33 * MiB + 17, seed='large')
        self.s3.put_object(Bucket=self.b, Key='large', Body=data)
        body = self.get_bytes(self.b, 'large')
        self.assertEqual(hashlib.sha256(body).hexdigest(),
                         hashlib.sha256(data).hexdigest())
        # ranges around power-of-two boundaries, where stripes end
        for edge in [MiB, 4 * MiB, 8 * MiB, 16 * MiB, 32 * MiB]:
            for a, b in [(edge - 1, edge), (edge - 100, edge + 100),
                         (edge, edge + MiB)]:
                with self.subTest(range=(a, b)):
                    got = self.get_bytes(self.b, 'large',
                                         Range='bytes=%d-%d' % (a, b))
                    self.assertTrue(got == data[a:b + 1],
                                    'range %d-%d differs' % (a, b))

    def test_get_missing_key_is_no_such_key(self):
        self.assertS3Error('NoSuchKey', 404, self.s3.get_object, Bucket=self.b,
                           Key='does/not/exist')
        self.assertS3Error('404', 404, self.s3.head_object, Bucket=self.b,
                           Key='does/not/exist')

    def test_error_body_is_s3_xml_with_request_id(self):
        r = self.srv.request('GET', '/%s/nope' % self.b)
        self.assertRaw(r, 404, 'NoSuchKey')
        self.assertTrue(r.headers.get('content-type', '').startswith(
            'application/xml'), r.headers)
        root = xml_strip_ns(ET.fromstring(r.body))
        self.assertEqual(root.tag, 'Error')
        self.assertTrue(root.findtext('Message'))
        self.assertEqual(root.findtext('RequestId'),
                         r.headers.get('x-amz-request-id'))
        self.assertEqual(root.findtext('Key'), 'nope')

    def test_overwrite_replaces_content(self):
        self.s3.put_object(Bucket=self.b, Key='ow', Body=b'first version')
        self.s3.put_object(Bucket=self.b, Key='ow', Body=b'2nd')
        self.assertEqual(self.get_bytes(self.b, 'ow'), b'2nd')
        h = self.s3.head_object(Bucket=self.b, Key='ow')
        self.assertEqual(h['ContentLength'], 3)

    def test_metadata_and_content_headers_round_trip(self):
        expires = datetime.datetime(2037, 1, 2, 3, 4, 5,
                                    tzinfo=datetime.timezone.utc)
        self.s3.put_object(
            Bucket=self.b, Key='meta', Body=b'hello',
            Metadata={'color': 'blue', 'camera-id': 'cam-07',
                      'empty': '', 'mixed-Case': 'Value With Spaces'},
            ContentType='image/jpeg',
            ContentEncoding='x-roadstore-test',
            ContentDisposition='attachment; filename="a b.jpg"',
            ContentLanguage='de-CH',
            CacheControl='max-age=60, private',
            Expires=expires)
        for op in (self.s3.head_object, self.s3.get_object):
            with self.subTest(op=op.__name__):
                r = op(Bucket=self.b, Key='meta')
                hh = r['ResponseMetadata']['HTTPHeaders']
                self.assertEqual(r['Metadata'],
                                 {'color': 'blue', 'camera-id': 'cam-07',
                                  'empty': '',
                                  'mixed-case': 'Value With Spaces'})
                self.assertEqual(r['ContentType'], 'image/jpeg')
                self.assertEqual(r['ContentEncoding'], 'x-roadstore-test')
                self.assertEqual(r['ContentDisposition'],
                                 'attachment; filename="a b.jpg"')
                self.assertEqual(r['ContentLanguage'], 'de-CH')
                self.assertEqual(r['CacheControl'], 'max-age=60, private')
                self.assertEqual(hh.get('expires'), http_date(expires))
                self.assertEqual(hh.get('accept-ranges'), 'bytes')

    def test_default_content_type(self):
        self.s3.put_object(Bucket=self.b, Key='noctype', Body=b'x')
        h = self.s3.head_object(Bucket=self.b, Key='noctype')
        # boto3 sends none; S3 stores binary/octet-stream
        self.assertIn(h['ContentType'], ('binary/octet-stream',
                                         'application/octet-stream'))

    def test_response_header_overrides(self):
        self.s3.put_object(Bucket=self.b, Key='ovr', Body=b'data',
                           ContentType='text/plain')
        exp = datetime.datetime(2030, 5, 6, 7, 8, 9,
                                tzinfo=datetime.timezone.utc)
        r = self.s3.get_object(
            Bucket=self.b, Key='ovr',
            ResponseContentType='application/x-override',
            ResponseContentLanguage='fr',
            ResponseExpires=exp,
            ResponseCacheControl='no-cache',
            ResponseContentDisposition='attachment; filename="x.bin"',
            ResponseContentEncoding='identity')
        hh = r['ResponseMetadata']['HTTPHeaders']
        self.assertEqual(hh.get('content-type'), 'application/x-override')
        self.assertEqual(hh.get('content-language'), 'fr')
        self.assertEqual(hh.get('expires'), http_date(exp))
        self.assertEqual(hh.get('cache-control'), 'no-cache')
        self.assertEqual(hh.get('content-disposition'),
                         'attachment; filename="x.bin"')
        self.assertEqual(hh.get('content-encoding'), 'identity')
        self.assertEqual(r['Body'].read(), b'data')

    def test_range_variants(self):
        data = rand_bytes(10000, seed='range')
        self.s3.put_object(Bucket=self.b, Key='range', Body=data)
        n = len(data)
        cases = [
            ('bytes=0-9', 0, 9),
            ('bytes=100-199', 100, 199),
            ('bytes=9990-', 9990, n - 1),             # open-ended
            ('bytes=0-', 0, n - 1),
            ('bytes=-50', n - 50, n - 1),             # suffix
            ('bytes=-20000', 0, n - 1),               # suffix > size
            ('bytes=9000-20000', 9000, n - 1),        # end past size
            ('bytes=%d-%d' % (n - 1, n - 1), n - 1, n - 1),
        ]
        for rng, a, b in cases:
            with self.subTest(range=rng):
                r = self.s3.get_object(Bucket=self.b, Key='range', Range=rng)
                self.assertEqual(r['ResponseMetadata']['HTTPStatusCode'], 206)
                self.assertEqual(r['ContentRange'], 'bytes %d-%d/%d' % (a, b, n))
                self.assertEqual(r['ContentLength'], b - a + 1)
                self.assertTrue(r['Body'].read() == data[a:b + 1])

    def test_range_not_satisfiable_is_invalid_range_416(self):
        self.s3.put_object(Bucket=self.b, Key='r416', Body=b'0123456789')
        for rng in ['bytes=10-', 'bytes=10-20', 'bytes=1000-2000']:
            with self.subTest(range=rng):
                self.assertS3Error('InvalidRange', 416, self.s3.get_object,
                                   Bucket=self.b, Key='r416', Range=rng)

    def test_unparseable_range_is_ignored(self):
        # RFC 9110: a Range the server does not understand is ignored
        self.s3.put_object(Bucket=self.b, Key='rbad', Body=b'0123456789')
        r = self.s3.get_object(Bucket=self.b, Key='rbad', Range='bytes=abc')
        self.assertEqual(r['ResponseMetadata']['HTTPStatusCode'], 200)
        self.assertEqual(r['Body'].read(), b'0123456789')

    def test_head_with_range(self):
        self.s3.put_object(Bucket=self.b, Key='hr', Body=b'0123456789')
        r = self.s3.head_object(Bucket=self.b, Key='hr', Range='bytes=2-5')
        self.assertEqual(r['ResponseMetadata']['HTTPStatusCode'], 206)
        self.assertEqual(r['ContentLength'], 4)
        # (boto3 1.26's HeadObject output has no ContentRange field)
        self.assertEqual(r['ResponseMetadata']['HTTPHeaders'].get(
            'content-range'), 'bytes 2-5/10')

    def test_conditional_get_and_head(self):
        data = b'conditional body'
        self.s3.put_object(Bucket=self.b, Key='cond', Body=data)
        h = self.s3.head_object(Bucket=self.b, Key='cond')
        etag, lm = h['ETag'], h['LastModified']
        before = lm - datetime.timedelta(days=1)
        # If-Match
        self.assertEqual(self.get_bytes(self.b, 'cond', IfMatch=etag), data)
        self.assertEqual(self.get_bytes(self.b, 'cond', IfMatch='*'), data)
        self.assertS3Error('PreconditionFailed', 412, self.s3.get_object,
                           Bucket=self.b, Key='cond', IfMatch='"deadbeef"')
        self.assertS3Error('412', 412, self.s3.head_object,
                           Bucket=self.b, Key='cond', IfMatch='"deadbeef"')
        # If-None-Match
        self.assertS3Error('304', 304, self.s3.get_object, Bucket=self.b,
                           Key='cond', IfNoneMatch=etag)
        self.assertS3Error('304', 304, self.s3.head_object, Bucket=self.b,
                           Key='cond', IfNoneMatch=etag)
        self.assertEqual(self.get_bytes(self.b, 'cond',
                                        IfNoneMatch='"deadbeef"'), data)
        # If-Modified-Since: not modified since its own Last-Modified
        self.assertS3Error('304', 304, self.s3.get_object, Bucket=self.b,
                           Key='cond', IfModifiedSince=lm)
        self.assertEqual(self.get_bytes(self.b, 'cond',
                                        IfModifiedSince=before), data)
        # If-Unmodified-Since
        self.assertS3Error('PreconditionFailed', 412, self.s3.get_object,
                           Bucket=self.b, Key='cond', IfUnmodifiedSince=before)
        self.assertEqual(self.get_bytes(self.b, 'cond',
                                        IfUnmodifiedSince=lm), data)
        # S3's combination rules: If-Match true wins over
        # If-Unmodified-Since false; If-None-Match false wins over
        # If-Modified-Since true (-> 304)
        self.assertEqual(self.get_bytes(self.b, 'cond', IfMatch=etag,
                                        IfUnmodifiedSince=before), data)
        self.assertS3Error('304', 304, self.s3.get_object, Bucket=self.b,
                           Key='cond', IfNoneMatch=etag,
                           IfModifiedSince=before)

    def test_304_carries_etag(self):
        self.s3.put_object(Bucket=self.b, Key='c304', Body=b'x')
        etag = self.s3.head_object(Bucket=self.b, Key='c304')['ETag']
        r = self.srv.request('GET', '/%s/c304' % self.b,
                             headers={'If-None-Match': etag})
        self.assertEqual(r.status, 304)
        self.assertEqual(r.body, b'')
        self.assertEqual(r.headers.get('etag'), etag)

    def test_delete_object(self):
        self.s3.put_object(Bucket=self.b, Key='del', Body=b'x')
        r = self.s3.delete_object(Bucket=self.b, Key='del')
        self.assertEqual(r['ResponseMetadata']['HTTPStatusCode'], 204)
        self.assertS3Error('NoSuchKey', 404, self.s3.get_object, Bucket=self.b,
                           Key='del')
        # deleting what is not there is a success too
        r = self.s3.delete_object(Bucket=self.b, Key='del')
        self.assertEqual(r['ResponseMetadata']['HTTPStatusCode'], 204)

    def test_delete_objects_verbose_and_quiet(self):
        b = self.new_bucket()
        keys = ['d/%d' % i for i in range(20)] + ['sp ace', 'ü/ñ']
        for k in keys:
            self.s3.put_object(Bucket=b, Key=k, Body=k.encode())
        r = self.s3.delete_objects(Bucket=b, Delete={
            'Objects': [{'Key': k} for k in keys[:10]] + [{'Key': 'missing'}]})
        self.assertEqual(sorted(d['Key'] for d in r['Deleted']),
                         sorted(keys[:10] + ['missing']))
        self.assertFalse(r.get('Errors'))
        r = self.s3.delete_objects(Bucket=b, Delete={
            'Objects': [{'Key': k} for k in keys[10:]], 'Quiet': True})
        self.assertFalse(r.get('Deleted'), 'quiet mode lists no successes')
        self.assertFalse(r.get('Errors'))
        self.assertEqual(self.s3.list_objects_v2(Bucket=b)['KeyCount'], 0)

    def test_delete_objects_malformed_xml(self):
        b = self.new_bucket()
        for body in [b'this is not xml', b'<Delete><Object><Key>k</Key>',
                     b'<Delete></Delete>']:
            with self.subTest(body=body):
                r = self.srv.request('POST', '/' + b, [('delete', None)],
                                     headers={'Content-MD5': b64(
                                         hashlib.md5(body).digest())},
                                     body=body)
                self.assertRaw(r, 400, 'MalformedXML')

    def test_storage_class(self):
        self.s3.put_object(Bucket=self.b, Key='sc/ia', Body=b'cold',
                           StorageClass='STANDARD_IA')
        self.s3.put_object(Bucket=self.b, Key='sc/std', Body=b'hot')
        h = self.s3.head_object(Bucket=self.b, Key='sc/ia')
        self.assertEqual(h.get('StorageClass'), 'STANDARD_IA')
        h = self.s3.head_object(Bucket=self.b, Key='sc/std')
        self.assertIn(h.get('StorageClass'), (None, 'STANDARD'))
        lst = self.s3.list_objects_v2(Bucket=self.b, Prefix='sc/')['Contents']
        self.assertEqual({o['Key']: o['StorageClass'] for o in lst},
                         {'sc/ia': 'STANDARD_IA', 'sc/std': 'STANDARD'})
        self.assertEqual(self.get_bytes(self.b, 'sc/ia'), b'cold')
        self.assertS3Error('InvalidStorageClass', 400, self.s3.put_object,
                           Bucket=self.b, Key='sc/bad', Body=b'x',
                           StorageClass='NO_SUCH_CLASS')

    def test_content_md5(self):
        data = b'digest me'
        r = self.s3.put_object(Bucket=self.b, Key='md5ok', Body=data,
                               ContentMD5=b64(hashlib.md5(data).digest()))
        self.assertEqual(r['ETag'], etag_of(data))
        self.assertS3Error('BadDigest', 400, self.s3.put_object, Bucket=self.b,
                           Key='md5bad', Body=data,
                           ContentMD5=b64(hashlib.md5(b'other').digest()))
        self.assertS3Error('NoSuchKey', 404, self.s3.get_object, Bucket=self.b,
                           Key='md5bad')
        self.assertS3Error('InvalidDigest', 400, self.s3.put_object,
                           Bucket=self.b, Key='md5bad', Body=data,
                           ContentMD5='not-base64-md5')

    def test_checksum_headers_verified(self):
        data = b'checksummed payload'
        for algo in ('CRC32', 'CRC32C', 'SHA1', 'SHA256'):
            if algo == 'CRC32C':
                try:
                    import awscrt  # noqa: F401  botocore needs it for CRC32C
                except ImportError:
                    continue
            with self.subTest(algo=algo):
                self.s3.put_object(Bucket=self.b, Key='ck/' + algo, Body=data,
                                   ChecksumAlgorithm=algo)
                self.assertEqual(self.get_bytes(self.b, 'ck/' + algo), data)
        wrong = b64(hashlib.sha256(b'not the payload').digest())
        r = self.srv.request('PUT', '/%s/ck/wrong' % self.b, body=data,
                             headers={'x-amz-checksum-sha256': wrong})
        self.assertRaw(r, 400, 'BadDigest')
        r = self.srv.request('PUT', '/%s/ck/wrong' % self.b, body=data,
                             headers={'x-amz-checksum-crc32':
                                      H.crc32_b64(b'nope')})
        self.assertRaw(r, 400, 'BadDigest')
        self.assertS3Error('NoSuchKey', 404, self.s3.get_object, Bucket=self.b,
                           Key='ck/wrong')

    def test_payload_sha256_mismatch(self):
        r = self.srv.request('PUT', '/%s/shamismatch' % self.b, body=b'abc',
                             payload_hash=hashlib.sha256(b'abd').hexdigest())
        self.assertRaw(r, 400, 'XAmzContentSHA256Mismatch')
        r = self.srv.request('PUT', '/%s/unsigned' % self.b, body=b'abc',
                             payload_hash='UNSIGNED-PAYLOAD')
        self.assertRaw(r, 200)
        self.assertEqual(self.get_bytes(self.b, 'unsigned'), b'abc')

    def test_tagging(self):
        self.s3.put_object(Bucket=self.b, Key='tag', Body=b'x',
                           Tagging='camera=7&zone=north%20gate')
        t = self.s3.get_object_tagging(Bucket=self.b, Key='tag')['TagSet']
        self.assertEqual(sorted((x['Key'], x['Value']) for x in t),
                         [('camera', '7'), ('zone', 'north gate')])
        g = self.s3.get_object(Bucket=self.b, Key='tag')
        self.assertEqual(g.get('TagCount'), 2)
        self.s3.put_object_tagging(Bucket=self.b, Key='tag', Tagging={
            'TagSet': [{'Key': 'a', 'Value': '1'}, {'Key': 'b', 'Value': ''},
                       {'Key': 'ü', 'Value': 'ö x'}]})
        t = self.s3.get_object_tagging(Bucket=self.b, Key='tag')['TagSet']
        self.assertEqual(sorted((x['Key'], x['Value']) for x in t),
                         [('a', '1'), ('b', ''), ('ü', 'ö x')])
        r = self.s3.delete_object_tagging(Bucket=self.b, Key='tag')
        self.assertEqual(r['ResponseMetadata']['HTTPStatusCode'], 204)
        t = self.s3.get_object_tagging(Bucket=self.b, Key='tag')['TagSet']
        self.assertEqual(t, [])
        self.assertEqual(self.get_bytes(self.b, 'tag'), b'x')
        self.assertS3Error('NoSuchKey', 404, self.s3.get_object_tagging,
                           Bucket=self.b, Key='notag')
        self.assertS3Error('NoSuchKey', 404, self.s3.put_object_tagging,
                           Bucket=self.b, Key='notag',
                           Tagging={'TagSet': [{'Key': 'a', 'Value': '1'}]})

    def test_tagging_malformed_xml(self):
        self.s3.put_object(Bucket=self.b, Key='tagxml', Body=b'x')
        body = b'<Tagging><TagSet><Tag><Key>a</Key>'
        r = self.srv.request('PUT', '/%s/tagxml' % self.b, [('tagging', None)],
                             headers={'Content-MD5': b64(
                                 hashlib.md5(body).digest())}, body=body)
        self.assertRaw(r, 400, 'MalformedXML')


# ===========================================================================
class KeyTest(ServerTestCase):
    """Keys up to 1024 bytes of any UTF-8, '../' and '%2F' included, stored
    and listed exactly."""

    KEYS = [
        'k' * 1024,
        'é' * 512,                       # 1024 bytes of 2-byte UTF-8
        '../escape', 'a/../b', './dot', 'a/./b', '..', 'x/..',
        'a%2Fb', '%2F', '100%', '%41%42',
        'a//b', '/leading', 'trailing/',
        'white space', ' lead', 'trail ', 'tab\there',
        'plus+sign', 'q?mark', 'hash#tag', 'amp&er=sand;semi', 'brackets[]{}',
        "quote's", 'dq"uote', 'back\\slash', 'tilde~', 'caret^`|<>',
        'Grüße/日本語/画像.jpg', 'emoji-😀', 'ελληνικά', 'mixed/ÅÄÖ åäö',
        '*star', '!bang$@', 'comma,colon:',
    ]

    def test_special_keys_round_trip_and_list_exactly(self):
        b = self.new_bucket()
        for i, key in enumerate(self.KEYS):
            with self.subTest(key=key):
                data = ('%d:' % i).encode() + key.encode()
                self.s3.put_object(Bucket=b, Key=key, Body=data)
                self.assertEqual(self.get_bytes(b, key), data)
                h = self.s3.head_object(Bucket=b, Key=key)
                self.assertEqual(h['ContentLength'], len(data))
        listed = []
        for page in self.s3.get_paginator('list_objects_v2').paginate(
                Bucket=b, PaginationConfig={'PageSize': 7}):
            listed += [o['Key'] for o in page.get('Contents', [])]
        self.assertEqual(listed, sorted(self.KEYS, key=lambda k: k.encode()))
        listed1 = []
        for page in self.s3.get_paginator('list_objects').paginate(
                Bucket=b, PaginationConfig={'PageSize': 5}):
            listed1 += [o['Key'] for o in page.get('Contents', [])]
        self.assertEqual(listed1, listed)
        for key in self.KEYS:
            with self.subTest(delete=key):
                self.s3.delete_object(Bucket=b, Key=key)
                self.assertS3Error('NoSuchKey', 404, self.s3.get_object,
                                   Bucket=b, Key=key)

    def test_key_over_1024_bytes_is_key_too_long(self):
        b = self.new_bucket()
        for key in ['k' * 1025, 'é' * 512 + 'x']:
            with self.subTest(n=len(key.encode())):
                self.assertS3Error('KeyTooLongError', 400, self.s3.put_object,
                                   Bucket=b, Key=key, Body=b'x')

    def test_dot_segments_are_not_normalised_on_the_wire(self):
        # send the path exactly, so nothing between client and server
        # resolves '..'
        b = self.new_bucket()
        self.s3.put_object(Bucket=b, Key='target', Body=b'wrong one')
        r = self.srv.request('PUT', '/%s/dir/../target' % b, body=b'dotdot')
        self.assertRaw(r, 200)
        self.assertEqual(self.get_bytes(b, 'dir/../target'), b'dotdot')
        self.assertEqual(self.get_bytes(b, 'target'), b'wrong one')


# ===========================================================================
class ListTest(ServerTestCase):

    KEYS = ['a/1', 'a/2', 'a/b/3', 'a/b/4', 'b/5', 'c', 'd/e/f', 'd/e/g',
            'e.txt', 'f/']

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.b = 'rs-list'
        cls.s3.create_bucket(Bucket=cls.b)
        for k in cls.KEYS:
            cls.s3.put_object(Bucket=cls.b, Key=k, Body=k.encode())

    def walk(self, version, **kw):
        """All pages of a listing: [(keys, prefixes, page)]"""
        pages = []
        token = None
        marker = None
        for _ in range(100):
            args = dict(Bucket=self.b, **kw)
            if version == 2:
                if token:
                    args['ContinuationToken'] = token
                r = self.s3.list_objects_v2(**args)
            else:
                if marker:
                    args['Marker'] = marker
                r = self.s3.list_objects(**args)
            keys = [o['Key'] for o in r.get('Contents', [])]
            prefixes = [p['Prefix'] for p in r.get('CommonPrefixes', [])]
            pages.append((keys, prefixes, r))
            if not r['IsTruncated']:
                return pages
            if version == 2:
                token = r['NextContinuationToken']
                self.assertTrue(token)
            else:
                marker = r.get('NextMarker') or keys[-1]
        self.fail('listing never ended')

    def test_list_v2_everything(self):
        r = self.s3.list_objects_v2(Bucket=self.b)
        self.assertEqual([o['Key'] for o in r['Contents']], self.KEYS)
        self.assertEqual(r['KeyCount'], len(self.KEYS))
        self.assertFalse(r['IsTruncated'])
        for o in r['Contents']:
            self.assertEqual(o['Size'], len(o['Key']))
            self.assertEqual(o['ETag'], etag_of(o['Key'].encode()))
            self.assertEqual(o['StorageClass'], 'STANDARD')
            self.assertIsInstance(o['LastModified'], datetime.datetime)
            self.assertNotIn('Owner', o, 'v2 lists Owner only with fetch-owner')

    def test_list_v2_fetch_owner(self):
        r = self.s3.list_objects_v2(Bucket=self.b, FetchOwner=True)
        owner = self.s3.list_buckets()['Owner']['ID']
        for o in r['Contents']:
            self.assertEqual(o['Owner']['ID'], owner)

    def test_list_v1_has_owner(self):
        r = self.s3.list_objects(Bucket=self.b)
        self.assertEqual([o['Key'] for o in r['Contents']], self.KEYS)
        self.assertTrue(all(o.get('Owner', {}).get('ID') for o in r['Contents']))

    def test_prefix(self):
        for v in (1, 2):
            with self.subTest(version=v):
                keys, prefixes, _ = self.walk(v, Prefix='a/')[0]
                self.assertEqual(keys, ['a/1', 'a/2', 'a/b/3', 'a/b/4'])
                self.assertEqual(prefixes, [])
                keys, _, _ = self.walk(v, Prefix='zzz')[0]
                self.assertEqual(keys, [])

    def test_delimiter_common_prefixes(self):
        for v in (1, 2):
            with self.subTest(version=v):
                keys, prefixes, r = self.walk(v, Delimiter='/')[0]
                self.assertEqual(keys, ['c', 'e.txt'])
                self.assertEqual(prefixes, ['a/', 'b/', 'd/', 'f/'])
                self.assertEqual(r['Delimiter'], '/')
                keys, prefixes, _ = self.walk(v, Delimiter='/', Prefix='a/')[0]
                self.assertEqual(keys, ['a/1', 'a/2'])
                self.assertEqual(prefixes, ['a/b/'])
                keys, prefixes, _ = self.walk(v, Delimiter='/', Prefix='d/')[0]
                self.assertEqual((keys, prefixes), ([], ['d/e/']))
                # a delimiter that is not '/'
                keys, prefixes, _ = self.walk(v, Delimiter='.')[0]
                self.assertEqual(prefixes, ['e.'])
                self.assertNotIn('e.txt', keys)

    def test_max_keys_pagination(self):
        for v in (1, 2):
            for mk in (1, 2, 3, 7):
                with self.subTest(version=v, max_keys=mk):
                    pages = self.walk(v, MaxKeys=mk)
                    keys = [k for p in pages for k in p[0]]
                    self.assertEqual(keys, self.KEYS)
                    for p in pages:
                        self.assertLessEqual(len(p[0]), mk)
                        self.assertEqual(p[2]['MaxKeys'], mk)
                    self.assertEqual(len(pages), -(-len(self.KEYS) // mk))

    def test_max_keys_pagination_with_delimiter(self):
        want_keys = ['c', 'e.txt']
        want_prefixes = ['a/', 'b/', 'd/', 'f/']
        for v in (1, 2):
            for mk in (1, 2, 4):
                with self.subTest(version=v, max_keys=mk):
                    pages = self.walk(v, MaxKeys=mk, Delimiter='/')
                    self.assertEqual([k for p in pages for k in p[0]],
                                     want_keys)
                    self.assertEqual([c for p in pages for c in p[1]],
                                     want_prefixes)
                    for keys, prefixes, r in pages:
                        self.assertLessEqual(len(keys) + len(prefixes), mk)
                        if v == 1 and r['IsTruncated']:
                            self.assertTrue(r.get('NextMarker'),
                                            'v1 with a delimiter gives '
                                            'NextMarker when truncated')
                        if v == 2:
                            self.assertEqual(r['KeyCount'],
                                             len(keys) + len(prefixes))

    def test_marker_and_start_after(self):
        r = self.s3.list_objects(Bucket=self.b, Marker='a/b/4')
        self.assertEqual([o['Key'] for o in r['Contents']], self.KEYS[4:])
        self.assertEqual(r['Marker'], 'a/b/4')
        r = self.s3.list_objects_v2(Bucket=self.b, StartAfter='b/5')
        self.assertEqual([o['Key'] for o in r['Contents']], self.KEYS[5:])
        self.assertEqual(r['StartAfter'], 'b/5')
        # a marker that is not a key
        r = self.s3.list_objects_v2(Bucket=self.b, StartAfter='b')
        self.assertEqual([o['Key'] for o in r['Contents']], self.KEYS[4:])
        r = self.s3.list_objects_v2(Bucket=self.b, StartAfter='zzz')
        self.assertEqual(r.get('Contents', []), [])
        self.assertEqual(r['KeyCount'], 0)

    def test_list_empty_bucket(self):
        b = self.new_bucket()
        r = self.s3.list_objects_v2(Bucket=b)
        self.assertEqual(r['KeyCount'], 0)
        self.assertNotIn('Contents', r)
        self.assertFalse(r['IsTruncated'])

    def test_encoding_type_url_on_the_wire(self):
        b = self.new_bucket()
        keys = ['enc/a b', 'enc/ü', 'enc/+plus', 'enc/%41', 'enc/x&y<z>']
        for k in keys:
            self.s3.put_object(Bucket=b, Key=k, Body=b'x')
        for q in ([('list-type', '2'), ('prefix', 'enc/'),
                   ('encoding-type', 'url')],
                  [('prefix', 'enc/'), ('encoding-type', 'url')],
                  [('list-type', '2'), ('delimiter', ' '),
                   ('encoding-type', 'url')]):
            with self.subTest(query=q):
                r = self.srv.request('GET', '/' + b, q)
                self.assertRaw(r, 200)
                root = xml_strip_ns(ET.fromstring(r.body))
                self.assertEqual(root.findtext('EncodingType'), 'url')
                raw = [c.findtext('Key') for c in root.findall('Contents')]
                raw += [c.findtext('Prefix')
                        for c in root.findall('CommonPrefixes')]
                for k in raw:
                    self.assertRegex(k, r'^[A-Za-z0-9._~%/+*-]*$',
                                     'not URL-encoded: %r' % k)
                got = sorted(urllib.parse.unquote_plus(k) for k in raw)
                if ('delimiter', ' ') in q:
                    self.assertEqual(got, sorted(['enc/a ', 'enc/ü',
                                                  'enc/+plus', 'enc/%41',
                                                  'enc/x&y<z>']))
                else:
                    self.assertEqual(got, sorted(keys))
        # without encoding-type the keys come back literally (XML-escaped)
        r = self.srv.request('GET', '/' + b, [('list-type', '2')])
        root = xml_strip_ns(ET.fromstring(r.body))
        self.assertEqual(sorted(c.findtext('Key')
                                for c in root.findall('Contents')),
                         sorted(keys))

    def test_list_xml_shape(self):
        r = self.srv.request('GET', '/' + self.b, [('list-type', '2'),
                                                   ('max-keys', '2')])
        self.assertRaw(r, 200)
        root = ET.fromstring(r.body)
        self.assertEqual(root.tag, '{%s}ListBucketResult' % H.S3NS)
        root = xml_strip_ns(root)
        self.assertEqual(root.findtext('Name'), self.b)
        self.assertEqual(root.findtext('KeyCount'), '2')
        self.assertEqual(root.findtext('MaxKeys'), '2')
        self.assertEqual(root.findtext('IsTruncated'), 'true')
        self.assertTrue(root.findtext('NextContinuationToken'))

    def test_invalid_max_keys(self):
        r = self.srv.request('GET', '/' + self.b, [('list-type', '2'),
                                                   ('max-keys', '-1')])
        self.assertRaw(r, 400, 'InvalidArgument')


# ===========================================================================
class CopyTest(ServerTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.b = 'rs-copy'
        cls.s3.create_bucket(Bucket=cls.b)
        cls.data = rand_bytes(3 * MiB + 5, seed='copy')
        cls.s3.put_object(Bucket=cls.b, Key='src', Body=cls.data,
                          ContentType='image/png', Metadata={'a': '1'},
                          CacheControl='max-age=5')

    def test_copy_keeps_metadata_by_default(self):
        r = self.s3.copy_object(Bucket=self.b, Key='dst-copy',
                                CopySource={'Bucket': self.b, 'Key': 'src'})
        self.assertEqual(r['CopyObjectResult']['ETag'], etag_of(self.data))
        h = self.s3.head_object(Bucket=self.b, Key='dst-copy')
        self.assertEqual(h['Metadata'], {'a': '1'})
        self.assertEqual(h['ContentType'], 'image/png')
        self.assertEqual(h['CacheControl'], 'max-age=5')
        self.assertEqual(h['ETag'], etag_of(self.data))
        self.assertTrue(self.get_bytes(self.b, 'dst-copy') == self.data)

    def test_copy_replace_metadata(self):
        self.s3.copy_object(Bucket=self.b, Key='dst-replace',
                            CopySource={'Bucket': self.b, 'Key': 'src'},
                            MetadataDirective='REPLACE',
                            Metadata={'b': '2'}, ContentType='text/x-new')
        h = self.s3.head_object(Bucket=self.b, Key='dst-replace')
        self.assertEqual(h['Metadata'], {'b': '2'})
        self.assertEqual(h['ContentType'], 'text/x-new')
        self.assertNotEqual(h.get('CacheControl'), 'max-age=5')
        self.assertTrue(self.get_bytes(self.b, 'dst-replace') == self.data)

    def test_copy_across_buckets_and_odd_keys(self):
        other = self.new_bucket()
        for key in ['sp ace/ü+%2F', '../x', 'a?b#c']:
            with self.subTest(key=key):
                self.s3.put_object(Bucket=self.b, Key=key, Body=key.encode())
                self.s3.copy_object(Bucket=other, Key=key + '.copy',
                                    CopySource={'Bucket': self.b, 'Key': key})
                self.assertEqual(self.get_bytes(other, key + '.copy'),
                                 key.encode())

    def test_copy_onto_itself_changes_storage_class(self):
        self.s3.put_object(Bucket=self.b, Key='self', Body=b'selfcopy',
                           Metadata={'keep': 'me'})
        self.s3.copy_object(Bucket=self.b, Key='self',
                            CopySource={'Bucket': self.b, 'Key': 'self'},
                            StorageClass='STANDARD_IA')
        h = self.s3.head_object(Bucket=self.b, Key='self')
        self.assertEqual(h.get('StorageClass'), 'STANDARD_IA')
        self.assertEqual(h['Metadata'], {'keep': 'me'})
        self.assertEqual(self.get_bytes(self.b, 'self'), b'selfcopy')
        lst = self.s3.list_objects_v2(Bucket=self.b, Prefix='self')
        self.assertEqual(lst['Contents'][0]['StorageClass'], 'STANDARD_IA')

    def test_copy_onto_itself_replacing_metadata(self):
        self.s3.put_object(Bucket=self.b, Key='self2', Body=b'x',
                           Metadata={'old': '1'})
        self.s3.copy_object(Bucket=self.b, Key='self2',
                            CopySource={'Bucket': self.b, 'Key': 'self2'},
                            MetadataDirective='REPLACE', Metadata={'new': '2'})
        h = self.s3.head_object(Bucket=self.b, Key='self2')
        self.assertEqual(h['Metadata'], {'new': '2'})

    def test_copy_onto_itself_without_change_is_invalid_request(self):
        self.s3.put_object(Bucket=self.b, Key='self3', Body=b'x')
        self.assertS3Error('InvalidRequest', 400, self.s3.copy_object,
                           Bucket=self.b, Key='self3',
                           CopySource={'Bucket': self.b, 'Key': 'self3'})

    def test_copy_source_conditions(self):
        h = self.s3.head_object(Bucket=self.b, Key='src')
        etag, lm = h['ETag'], h['LastModified']
        before = lm - datetime.timedelta(days=1)
        src = {'Bucket': self.b, 'Key': 'src'}
        ok = [dict(CopySourceIfMatch=etag),
              dict(CopySourceIfNoneMatch='"deadbeef"'),
              dict(CopySourceIfModifiedSince=before),
              dict(CopySourceIfUnmodifiedSince=lm)]
        fail = [dict(CopySourceIfMatch='"deadbeef"'),
                dict(CopySourceIfNoneMatch=etag),
                dict(CopySourceIfModifiedSince=lm),
                dict(CopySourceIfUnmodifiedSince=before)]
        for i, cond in enumerate(ok):
            with self.subTest(ok=cond):
                self.s3.copy_object(Bucket=self.b, Key='cond-ok-%d' % i,
                                    CopySource=src, **cond)
                self.assertTrue(self.get_bytes(self.b, 'cond-ok-%d' % i)
                                == self.data)
        for i, cond in enumerate(fail):
            with self.subTest(fail=cond):
                self.assertS3Error('PreconditionFailed', 412,
                                   self.s3.copy_object, Bucket=self.b,
                                   Key='cond-fail-%d' % i, CopySource=src,
                                   **cond)
                self.assertS3Error('NoSuchKey', 404, self.s3.get_object,
                                   Bucket=self.b, Key='cond-fail-%d' % i)

    def test_copy_missing_source(self):
        self.assertS3Error('NoSuchKey', 404, self.s3.copy_object,
                           Bucket=self.b, Key='x',
                           CopySource={'Bucket': self.b, 'Key': 'nope'})
        self.assertS3Error('NoSuchBucket', 404, self.s3.copy_object,
                           Bucket=self.b, Key='x',
                           CopySource={'Bucket': 'rs-no-such-bucket-x',
                                       'Key': 'nope'})


# ===========================================================================
class MultipartTest(ServerTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.b = 'rs-multipart'
        cls.s3.create_bucket(Bucket=cls.b)

    def upload(self, key, parts, **create_kw):
        up = self.s3.create_multipart_upload(Bucket=self.b, Key=key,
                                             **create_kw)
        uid = up['UploadId']
        etags = []
        for i, p in enumerate(parts, 1):
            r = self.s3.upload_part(Bucket=self.b, Key=key, UploadId=uid,
                                    PartNumber=i, Body=p)
            self.assertEqual(r['ETag'], etag_of(p))
            etags.append({'ETag': r['ETag'], 'PartNumber': i})
        return uid, etags

    def complete(self, key, uid, parts):
        return self.s3.complete_multipart_upload(
            Bucket=self.b, Key=key, UploadId=uid,
            MultipartUpload={'Parts': parts})

    def test_multipart_round_trip_and_etag(self):
        parts = [rand_bytes(5 * MiB, seed=1), rand_bytes(5 * MiB + 1, seed=2),
                 rand_bytes(12345, seed=3)]
        uid, etags = self.upload('mp/obj', parts, ContentType='video/mp4',
                                 Metadata={'cam': '3'})
        r = self.complete('mp/obj', uid, etags)
        self.assertEqual(r['ETag'], multipart_etag(parts))
        self.assertEqual(r['Key'], 'mp/obj')
        self.assertEqual(r['Bucket'], self.b)
        whole = b''.join(parts)
        h = self.s3.head_object(Bucket=self.b, Key='mp/obj')
        self.assertEqual(h['ContentLength'], len(whole))
        self.assertEqual(h['ETag'], multipart_etag(parts))
        self.assertEqual(h['ContentType'], 'video/mp4')
        self.assertEqual(h['Metadata'], {'cam': '3'})
        self.assertTrue(self.get_bytes(self.b, 'mp/obj') == whole)
        lst = self.s3.list_objects_v2(Bucket=self.b, Prefix='mp/obj')
        self.assertEqual(lst['Contents'][0]['ETag'], multipart_etag(parts))
        # a range across the part boundary
        a, b = 5 * MiB - 10, 5 * MiB + 10
        self.assertTrue(self.get_bytes(self.b, 'mp/obj',
                                       Range='bytes=%d-%d' % (a, b))
                        == whole[a:b + 1])
        # the upload is gone
        self.assertS3Error('NoSuchUpload', 404, self.s3.list_parts,
                           Bucket=self.b, Key='mp/obj', UploadId=uid)

    def test_single_small_part(self):
        parts = [b'tiny']
        uid, etags = self.upload('mp/one', parts)
        r = self.complete('mp/one', uid, etags)
        self.assertEqual(r['ETag'], multipart_etag(parts))
        self.assertEqual(self.get_bytes(self.b, 'mp/one'), b'tiny')

    def test_part_overwrite_and_subset_completion(self):
        p = [rand_bytes(5 * MiB, seed=10 + i) for i in range(3)]
        uid, etags = self.upload('mp/subset', p)
        newp1 = rand_bytes(5 * MiB, seed=99)
        r = self.s3.upload_part(Bucket=self.b, Key='mp/subset', UploadId=uid,
                                PartNumber=1, Body=newp1)
        # parts 1 (overwritten) and 3; 2 is left out
        parts = [{'PartNumber': 1, 'ETag': r['ETag']}, etags[2]]
        res = self.complete('mp/subset', uid, parts)
        self.assertEqual(res['ETag'], multipart_etag([newp1, p[2]]))
        self.assertTrue(self.get_bytes(self.b, 'mp/subset') == newp1 + p[2])

    def test_complete_errors(self):
        p = [rand_bytes(5 * MiB, seed=20), rand_bytes(100, seed=21)]
        uid, etags = self.upload('mp/err', p)
        self.assertS3Error('InvalidPart', 400, self.complete, 'mp/err', uid,
                           [etags[0], {'PartNumber': 2,
                                       'ETag': '"%s"' % ('0' * 32)}])
        self.assertS3Error('InvalidPart', 400, self.complete, 'mp/err', uid,
                           [etags[0], etags[1],
                            {'PartNumber': 3, 'ETag': etags[1]['ETag']}])
        self.assertS3Error('InvalidPartOrder', 400, self.complete, 'mp/err',
                           uid, [etags[1], etags[0]])
        self.assertS3Error('MalformedXML', 400, self.complete, 'mp/err', uid,
                           [])
        # failed completions leave the upload usable
        r = self.complete('mp/err', uid, etags)
        self.assertEqual(r['ETag'], multipart_etag(p))
        self.assertTrue(self.get_bytes(self.b, 'mp/err') == b''.join(p))

    def test_entity_too_small(self):
        p = [rand_bytes(MiB, seed=30), rand_bytes(MiB, seed=31)]
        uid, etags = self.upload('mp/small', p)
        self.assertS3Error('EntityTooSmall', 400, self.complete, 'mp/small',
                           uid, etags)
        self.s3.abort_multipart_upload(Bucket=self.b, Key='mp/small',
                                       UploadId=uid)

    def test_complete_malformed_xml(self):
        up = self.s3.create_multipart_upload(Bucket=self.b, Key='mp/xml')
        body = b'<CompleteMultipartUpload><Part><PartNumber>1'
        r = self.srv.request('POST', '/%s/mp/xml' % self.b,
                             [('uploadId', up['UploadId'])], body=body)
        self.assertRaw(r, 400, 'MalformedXML')

    def test_no_such_upload(self):
        bogus = 'no-such-upload-id'
        self.assertS3Error('NoSuchUpload', 404, self.s3.upload_part,
                           Bucket=self.b, Key='mp/x', UploadId=bogus,
                           PartNumber=1, Body=b'x')
        self.assertS3Error('NoSuchUpload', 404, self.s3.list_parts,
                           Bucket=self.b, Key='mp/x', UploadId=bogus)
        self.assertS3Error('NoSuchUpload', 404, self.complete, 'mp/x', bogus,
                           [{'PartNumber': 1, 'ETag': etag_of(b'x')}])
        self.assertS3Error('NoSuchUpload', 404,
                           self.s3.abort_multipart_upload, Bucket=self.b,
                           Key='mp/x', UploadId=bogus)

    def test_abort(self):
        uid, _ = self.upload('mp/abort', [b'a' * 100])
        r = self.s3.abort_multipart_upload(Bucket=self.b, Key='mp/abort',
                                           UploadId=uid)
        self.assertEqual(r['ResponseMetadata']['HTTPStatusCode'], 204)
        self.assertS3Error('NoSuchUpload', 404, self.s3.list_parts,
                           Bucket=self.b, Key='mp/abort', UploadId=uid)
        self.assertS3Error('NoSuchKey', 404, self.s3.get_object,
                           Bucket=self.b, Key='mp/abort')
        ups = self.s3.list_multipart_uploads(Bucket=self.b).get('Uploads', [])
        self.assertNotIn(uid, [u['UploadId'] for u in ups])

    def test_invalid_part_number(self):
        up = self.s3.create_multipart_upload(Bucket=self.b, Key='mp/pn')
        for pn in (0, 10001):
            with self.subTest(part=pn):
                self.assertS3Error('InvalidArgument', 400,
                                   self.s3.upload_part, Bucket=self.b,
                                   Key='mp/pn', UploadId=up['UploadId'],
                                   PartNumber=pn, Body=b'x')

    def test_list_parts(self):
        p = [rand_bytes(1000 + i, seed=40 + i) for i in range(5)]
        uid, etags = self.upload('mp/lp', p)
        r = self.s3.list_parts(Bucket=self.b, Key='mp/lp', UploadId=uid)
        self.assertEqual([(x['PartNumber'], x['ETag'], x['Size'])
                          for x in r['Parts']],
                         [(i + 1, etag_of(x), len(x)) for i, x in enumerate(p)])
        self.assertEqual(r['UploadId'], uid)
        self.assertEqual(r['Key'], 'mp/lp')
        self.assertFalse(r['IsTruncated'])
        for x in r['Parts']:
            self.assertIsInstance(x['LastModified'], datetime.datetime)
        # paging
        seen = []
        marker = 0
        for _ in range(10):
            r = self.s3.list_parts(Bucket=self.b, Key='mp/lp', UploadId=uid,
                                   MaxParts=2, PartNumberMarker=marker)
            seen += [x['PartNumber'] for x in r['Parts']]
            self.assertLessEqual(len(r['Parts']), 2)
            if not r['IsTruncated']:
                break
            marker = r['NextPartNumberMarker']
        self.assertEqual(seen, [1, 2, 3, 4, 5])

    def test_list_multipart_uploads(self):
        b = self.new_bucket()
        ids = {}
        for key in ['u/a', 'u/b', 'u/b', 'v/c']:
            up = self.s3.create_multipart_upload(Bucket=b, Key=key)
            ids.setdefault(key, []).append(up['UploadId'])
        r = self.s3.list_multipart_uploads(Bucket=b)
        got = sorted((u['Key'], u['UploadId']) for u in r['Uploads'])
        want = sorted((k, u) for k, us in ids.items() for u in us)
        self.assertEqual(got, want)
        self.assertEqual([u['Key'] for u in r['Uploads']],
                         sorted(u['Key'] for u in r['Uploads']))
        for u in r['Uploads']:
            self.assertIsInstance(u['Initiated'], datetime.datetime)
        r = self.s3.list_multipart_uploads(Bucket=b, Prefix='u/')
        self.assertEqual(sorted(u['Key'] for u in r['Uploads']),
                         ['u/a', 'u/b', 'u/b'])
        r = self.s3.list_multipart_uploads(Bucket=b, Delimiter='/')
        self.assertEqual(sorted(p['Prefix'] for p in r['CommonPrefixes']),
                         ['u/', 'v/'])
        for k, us in ids.items():
            for u in us:
                self.s3.abort_multipart_upload(Bucket=b, Key=k, UploadId=u)
        r = self.s3.list_multipart_uploads(Bucket=b)
        self.assertEqual(r.get('Uploads', []), [])

    def test_upload_part_copy(self):
        src = rand_bytes(7 * MiB, seed='upc')
        self.s3.put_object(Bucket=self.b, Key='upc/src', Body=src)
        self.s3.put_object(Bucket=self.b, Key='upc/small', Body=b'tail bytes')
        up = self.s3.create_multipart_upload(Bucket=self.b, Key='upc/dst')
        uid = up['UploadId']
        r1 = self.s3.upload_part_copy(
            Bucket=self.b, Key='upc/dst', UploadId=uid, PartNumber=1,
            CopySource={'Bucket': self.b, 'Key': 'upc/src'},
            CopySourceRange='bytes=0-%d' % (5 * MiB))
        p1 = src[:5 * MiB + 1]
        self.assertEqual(r1['CopyPartResult']['ETag'], etag_of(p1))
        r2 = self.s3.upload_part_copy(
            Bucket=self.b, Key='upc/dst', UploadId=uid, PartNumber=2,
            CopySource={'Bucket': self.b, 'Key': 'upc/small'})
        p2 = b'tail bytes'
        self.assertEqual(r2['CopyPartResult']['ETag'], etag_of(p2))
        r = self.complete('upc/dst', uid, [
            {'PartNumber': 1, 'ETag': r1['CopyPartResult']['ETag']},
            {'PartNumber': 2, 'ETag': r2['CopyPartResult']['ETag']}])
        self.assertEqual(r['ETag'], multipart_etag([p1, p2]))
        self.assertTrue(self.get_bytes(self.b, 'upc/dst') == p1 + p2)
        # a range past the source is InvalidRange (S3 answers 400 or 416)
        up = self.s3.create_multipart_upload(Bucket=self.b, Key='upc/bad')
        code, status, _ = H.client_error(
            self.s3.upload_part_copy, Bucket=self.b, Key='upc/bad',
            UploadId=up['UploadId'], PartNumber=1,
            CopySource={'Bucket': self.b, 'Key': 'upc/small'},
            CopySourceRange='bytes=100-200')
        self.assertEqual(code, 'InvalidRange')
        self.assertIn(status, (400, 416))

    def test_multipart_storage_class(self):
        uid, etags = self.upload('mp/ia', [b'cold data'],
                                 StorageClass='STANDARD_IA')
        self.complete('mp/ia', uid, etags)
        h = self.s3.head_object(Bucket=self.b, Key='mp/ia')
        self.assertEqual(h.get('StorageClass'), 'STANDARD_IA')


# ===========================================================================
ALICE = ('alice', 'RSTESTALICEACCESSKEY', 'aliceSecretKey0123456789abcdefghijklmnop')
BOB = ('bob', 'RSTESTBOBACCESSKEY00', 'bobSecretKey0123456789abcdefghijklmnopqr')


class AclTest(ServerTestCase):
    """Ownership, canned ACLs, anonymous access, a second user."""

    users = (ALICE, BOB)

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.alice = cls.srv.client(ALICE[1], ALICE[2])
        cls.bob = cls.srv.client(BOB[1], BOB[2])
        cls.anon = cls.srv.client(anonymous=True)

    def owner_id(self, client):
        return client.list_buckets()['Owner']['ID']

    def test_bucket_already_exists_for_another_user(self):
        b = self.new_bucket(client=self.alice)
        self.assertS3Error('BucketAlreadyExists', 409, self.bob.create_bucket,
                           Bucket=b)

    def test_list_buckets_shows_only_own(self):
        a = self.new_bucket(client=self.alice)
        b = self.new_bucket(client=self.bob)
        an = [x['Name'] for x in self.alice.list_buckets()['Buckets']]
        bn = [x['Name'] for x in self.bob.list_buckets()['Buckets']]
        self.assertIn(a, an)
        self.assertNotIn(b, an)
        self.assertIn(b, bn)
        self.assertNotIn(a, bn)
        self.assertNotEqual(self.owner_id(self.alice), self.owner_id(self.bob))

    def test_private_bucket_denies_other_user_and_anonymous(self):
        b = self.new_bucket(client=self.alice)
        self.alice.put_object(Bucket=b, Key='secret', Body=b's')
        for who, c in (('bob', self.bob), ('anonymous', self.anon)):
            with self.subTest(who=who):
                self.assertS3Error('AccessDenied', 403, c.list_objects_v2,
                                   Bucket=b)
                self.assertS3Error('AccessDenied', 403, c.get_object,
                                   Bucket=b, Key='secret')
                self.assertS3Error('403', 403, c.head_object, Bucket=b,
                                   Key='secret')
                self.assertS3Error('AccessDenied', 403, c.put_object,
                                   Bucket=b, Key='new', Body=b'x')
                self.assertS3Error('AccessDenied', 403, c.delete_object,
                                   Bucket=b, Key='secret')
                self.assertS3Error('AccessDenied', 403, c.get_bucket_acl,
                                   Bucket=b)
                self.assertS3Error('AccessDenied', 403, c.put_bucket_acl,
                                   Bucket=b, ACL='public-read-write')
                self.assertS3Error('AccessDenied', 403, c.delete_bucket,
                                   Bucket=b)
                self.assertS3Error('403', 403, c.head_bucket, Bucket=b)
                self.assertS3Error('AccessDenied', 403,
                                   c.create_multipart_upload, Bucket=b,
                                   Key='mp')
        self.assertEqual(self.get_bytes(b, 'secret', client=self.alice), b's')

    def test_anonymous_list_buckets_is_access_denied(self):
        self.assertS3Error('AccessDenied', 403, self.anon.list_buckets)

    def test_public_read_bucket(self):
        b = self.new_bucket(client=self.alice, ACL='public-read')
        self.alice.put_object(Bucket=b, Key='priv', Body=b'p')
        self.alice.put_object(Bucket=b, Key='pub', Body=b'q',
                              ACL='public-read')
        r = self.anon.list_objects_v2(Bucket=b)
        self.assertEqual(sorted(o['Key'] for o in r['Contents']),
                         ['priv', 'pub'])
        self.assertEqual(self.get_bytes(b, 'pub', client=self.anon), b'q')
        # a public bucket does not make its objects public
        self.assertS3Error('AccessDenied', 403, self.anon.get_object,
                           Bucket=b, Key='priv')
        self.assertS3Error('AccessDenied', 403, self.anon.put_object,
                           Bucket=b, Key='anon', Body=b'x')
        self.assertS3Error('AccessDenied', 403, self.bob.put_object,
                           Bucket=b, Key='bob', Body=b'x')
        # back to private
        self.alice.put_bucket_acl(Bucket=b, ACL='private')
        self.assertS3Error('AccessDenied', 403, self.anon.list_objects_v2,
                           Bucket=b)

    def test_public_object_in_private_bucket(self):
        b = self.new_bucket(client=self.alice)
        self.alice.put_object(Bucket=b, Key='o', Body=b'open')
        self.assertS3Error('AccessDenied', 403, self.anon.get_object,
                           Bucket=b, Key='o')
        self.alice.put_object_acl(Bucket=b, Key='o', ACL='public-read')
        self.assertEqual(self.get_bytes(b, 'o', client=self.anon), b'open')
        raw = self.srv.request('GET', '/%s/o' % b, sign=False)
        self.assertRaw(raw, 200)
        self.assertEqual(raw.body, b'open')
        self.assertEqual(self.get_bytes(b, 'o', client=self.bob), b'open')
        self.alice.put_object_acl(Bucket=b, Key='o', ACL='private')
        self.assertS3Error('AccessDenied', 403, self.anon.get_object,
                           Bucket=b, Key='o')

    def test_public_read_write_bucket(self):
        b = self.new_bucket(client=self.alice, ACL='public-read-write')
        self.anon.put_object(Bucket=b, Key='dropbox', Body=b'anon data')
        keys = [o['Key'] for o in self.anon.list_objects_v2(Bucket=b)['Contents']]
        self.assertEqual(keys, ['dropbox'])
        self.bob.put_object(Bucket=b, Key='bobs', Body=b'bob data')
        self.assertEqual(self.get_bytes(b, 'bobs', client=self.bob),
                         b'bob data')

    def test_authenticated_read(self):
        b = self.new_bucket(client=self.alice, ACL='authenticated-read')
        self.alice.put_object(Bucket=b, Key='o', Body=b'members only',
                              ACL='authenticated-read')
        self.assertEqual(self.get_bytes(b, 'o', client=self.bob),
                         b'members only')
        self.bob.list_objects_v2(Bucket=b)
        self.assertS3Error('AccessDenied', 403, self.anon.get_object,
                           Bucket=b, Key='o')
        self.assertS3Error('AccessDenied', 403, self.anon.list_objects_v2,
                           Bucket=b)
        self.assertS3Error('AccessDenied', 403, self.bob.put_object,
                           Bucket=b, Key='x', Body=b'x')

    def grants(self, acl):
        out = set()
        for g in acl['Grants']:
            gr = g['Grantee']
            who = gr.get('ID') if gr['Type'] == 'CanonicalUser' else gr.get('URI')
            out.add((gr['Type'], who, g['Permission']))
        return out

    def test_get_bucket_acl(self):
        me = self.owner_id(self.alice)
        cases = {
            'private': set(),
            'public-read': {('Group', H.ALL_USERS, 'READ')},
            'public-read-write': {('Group', H.ALL_USERS, 'READ'),
                                  ('Group', H.ALL_USERS, 'WRITE')},
            'authenticated-read': {('Group', H.AUTH_USERS, 'READ')},
        }
        for canned, extra in cases.items():
            with self.subTest(acl=canned):
                b = self.new_bucket(client=self.alice, ACL=canned)
                acl = self.alice.get_bucket_acl(Bucket=b)
                self.assertEqual(acl['Owner']['ID'], me)
                self.assertEqual(self.grants(acl),
                                 {('CanonicalUser', me, 'FULL_CONTROL')} | extra)
                # and the same via PutBucketAcl on a private bucket
                b2 = self.new_bucket(client=self.alice)
                self.alice.put_bucket_acl(Bucket=b2, ACL=canned)
                self.assertEqual(self.grants(self.alice.get_bucket_acl(Bucket=b2)),
                                 {('CanonicalUser', me, 'FULL_CONTROL')} | extra)

    def test_get_object_acl(self):
        me = self.owner_id(self.alice)
        b = self.new_bucket(client=self.alice)
        self.alice.put_object(Bucket=b, Key='o', Body=b'x', ACL='public-read')
        acl = self.alice.get_object_acl(Bucket=b, Key='o')
        self.assertEqual(acl['Owner']['ID'], me)
        self.assertEqual(self.grants(acl),
                         {('CanonicalUser', me, 'FULL_CONTROL'),
                          ('Group', H.ALL_USERS, 'READ')})
        self.alice.put_object_acl(Bucket=b, Key='o', ACL='private')
        self.assertEqual(self.grants(self.alice.get_object_acl(Bucket=b,
                                                               Key='o')),
                         {('CanonicalUser', me, 'FULL_CONTROL')})
        self.assertS3Error('NoSuchKey', 404, self.alice.get_object_acl,
                           Bucket=b, Key='missing')
        self.assertS3Error('AccessDenied', 403, self.bob.get_object_acl,
                           Bucket=b, Key='o')

    def test_acl_xml_on_the_wire(self):
        b = self.new_bucket(client=self.alice, ACL='public-read')
        r = self.srv.request('GET', '/' + b, [('acl', None)],
                             access_key=ALICE[1], secret_key=ALICE[2])
        self.assertRaw(r, 200)
        root = ET.fromstring(r.body)
        self.assertEqual(root.tag, '{%s}AccessControlPolicy' % H.S3NS)
        ns = {'s3': H.S3NS}
        owner = root.findtext('s3:Owner/s3:ID', namespaces=ns)
        self.assertTrue(owner)
        types = {}
        for g in root.findall('s3:AccessControlList/s3:Grant', ns):
            grantee = g.find('s3:Grantee', ns)
            t = grantee.get('{%s}type' % H.XSINS)
            perm = g.findtext('s3:Permission', namespaces=ns)
            if t == 'CanonicalUser':
                types[t] = (grantee.findtext('s3:ID', namespaces=ns), perm)
            else:
                types[t] = (grantee.findtext('s3:URI', namespaces=ns), perm)
        self.assertEqual(types, {'CanonicalUser': (owner, 'FULL_CONTROL'),
                                 'Group': (H.ALL_USERS, 'READ')})

    def test_owner_can_delete_bucket_others_cannot(self):
        b = self.new_bucket(client=self.alice)
        self.assertS3Error('AccessDenied', 403, self.bob.delete_bucket,
                           Bucket=b)
        self.alice.delete_bucket(Bucket=b)


# ===========================================================================
class AuthTest(ServerTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.b = 'rs-auth'
        cls.s3.create_bucket(Bucket=cls.b)

    def http(self, method, url, data=None):
        req = urllib.request.Request(url, data=data, method=method)
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, r.read(), dict(r.headers)
        except urllib.error.HTTPError as e:
            return e.code, e.read(), dict(e.headers)

    def test_presigned_get(self):
        data = rand_bytes(300000, seed='presign')
        self.s3.put_object(Bucket=self.b, Key='pre/get ü', Body=data)
        url = self.s3.generate_presigned_url(
            'get_object', Params={'Bucket': self.b, 'Key': 'pre/get ü'},
            ExpiresIn=300)
        self.assertIn('X-Amz-Signature=', url)
        st, body, _ = self.http('GET', url)
        self.assertEqual(st, 200)
        self.assertTrue(body == data)

    def test_presigned_get_with_response_override(self):
        self.s3.put_object(Bucket=self.b, Key='pre/ovr', Body=b'x')
        url = self.s3.generate_presigned_url(
            'get_object', Params={'Bucket': self.b, 'Key': 'pre/ovr',
                                  'ResponseContentDisposition':
                                      'attachment; filename="dl.bin"'},
            ExpiresIn=300)
        st, body, hdrs = self.http('GET', url)
        self.assertEqual(st, 200)
        self.assertEqual(hdrs.get('Content-Disposition'),
                         'attachment; filename="dl.bin"')

    def test_presigned_put(self):
        url = self.s3.generate_presigned_url(
            'put_object', Params={'Bucket': self.b, 'Key': 'pre/put'},
            ExpiresIn=300)
        st, _, _ = self.http('PUT', url, data=b'uploaded via presigned URL')
        self.assertEqual(st, 200)
        self.assertEqual(self.get_bytes(self.b, 'pre/put'),
                         b'uploaded via presigned URL')

    def test_expired_presigned_is_access_denied(self):
        self.s3.put_object(Bucket=self.b, Key='pre/exp', Body=b'x')
        url = self.s3.generate_presigned_url(
            'get_object', Params={'Bucket': self.b, 'Key': 'pre/exp'},
            ExpiresIn=1)
        time.sleep(2.5)
        st, body, _ = self.http('GET', url)
        self.assertEqual((st, H.s3_error_code(body)), (403, 'AccessDenied'),
                         body)

    def test_tampered_presigned_is_signature_does_not_match(self):
        self.s3.put_object(Bucket=self.b, Key='pre/t1', Body=b'x')
        self.s3.put_object(Bucket=self.b, Key='pre/t2', Body=b'y')
        url = self.s3.generate_presigned_url(
            'get_object', Params={'Bucket': self.b, 'Key': 'pre/t1'},
            ExpiresIn=300)
        st, body, _ = self.http('GET', url.replace('/pre/t1?', '/pre/t2?'))
        self.assertEqual((st, H.s3_error_code(body)),
                         (403, 'SignatureDoesNotMatch'), body)

    def test_wrong_secret_is_signature_does_not_match(self):
        c = self.srv.client(self.srv.access_key, 'wrong' + self.srv.secret_key)
        self.assertS3Error('SignatureDoesNotMatch', 403, c.list_objects_v2,
                           Bucket=self.b)
        self.assertS3Error('SignatureDoesNotMatch', 403, c.put_object,
                           Bucket=self.b, Key='nope', Body=b'x')
        self.assertS3Error('NoSuchKey', 404, self.s3.get_object, Bucket=self.b,
                           Key='nope')

    def test_unknown_access_key(self):
        c = self.srv.client('RSNOSUCHACCESSKEY000', 'whatever')
        self.assertS3Error('InvalidAccessKeyId', 403, c.list_buckets)

    def test_clock_skew_is_request_time_too_skewed(self):
        now = datetime.datetime.now(datetime.timezone.utc)
        for delta in (-20, 20):
            with self.subTest(minutes=delta):
                r = self.srv.request('GET', '/' + self.b,
                                     when=now + datetime.timedelta(minutes=delta))
                self.assertRaw(r, 403, 'RequestTimeTooSkewed')
        # within 15 minutes is fine
        r = self.srv.request('GET', '/' + self.b,
                             when=now - datetime.timedelta(minutes=10))
        self.assertRaw(r, 200)

    def test_raw_signed_request_works(self):
        r = self.srv.request('PUT', '/%s/raw key+ü' % self.b, body=b'raw',
                             headers={'Content-Type': 'text/plain'})
        self.assertRaw(r, 200)
        self.assertEqual(r.headers.get('etag'), etag_of(b'raw'))
        self.assertEqual(self.get_bytes(self.b, 'raw key+ü'), b'raw')

    def test_signature_over_wrong_header_value(self):
        # sign one Content-Type, send another
        hdrs, _, _, _ = H.sign_v4('PUT', '/%s/hdr' % self.b, [],
                                  {'host': self.srv.hostport,
                                   'content-type': 'text/plain'},
                                  hashlib.sha256(b'x').hexdigest(),
                                  self.srv.access_key, self.srv.secret_key)
        hdrs['content-type'] = 'text/html'
        r = self.srv.request('PUT', '/%s/hdr' % self.b, headers=hdrs,
                             body=b'x', sign=False)
        self.assertRaw(r, 403, 'SignatureDoesNotMatch')

    def test_malformed_authorization(self):
        r = self.srv.request('GET', '/' + self.b, sign=False,
                             headers={'Authorization': 'AWS4-HMAC-SHA256 garbage'})
        self.assertEqual(r.status, 400, r)
        self.assertIn(r.code, ('AuthorizationHeaderMalformed',
                               'InvalidArgument'))


# ===========================================================================
class MiscTest(ServerTestCase):

    def test_unsupported_operation_is_not_implemented(self):
        b = self.new_bucket()
        self.assertS3Error('NotImplemented', 501, self.s3.get_bucket_website,
                           Bucket=b)
        r = self.srv.request('GET', '/' + b, [('website', None)])
        self.assertRaw(r, 501, 'NotImplemented')
        self.assertIn('x-amz-request-id', r.headers)

    def test_health(self):
        r = self.srv.http_get('/_roadstore/health')
        self.assertEqual(r.status, 200)

    @staticmethod
    def request_counters(text):
        """Sum of every sample of counter families with 'request' in their
        name, by family."""
        counters = set()
        for line in text.splitlines():
            m = re.match(r'#\s*TYPE\s+(\S+)\s+counter\s*$', line)
            if m and 'request' in m.group(1):
                counters.add(m.group(1))
        sums = {}
        for line in text.splitlines():
            if not line or line.startswith('#'):
                continue
            m = re.match(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)', line)
            if not m:
                continue
            name = m.group(1)
            fam = name[:-6] if name.endswith('_total') else name
            for c in counters:
                if name == c or fam == c or name == c + '_total':
                    sums[c] = sums.get(c, 0) + float(m.group(3))
        return sums

    def test_metrics_prometheus_request_counters(self):
        r = self.srv.http_get('/_roadstore/metrics')
        self.assertEqual(r.status, 200)
        self.assertTrue(r.headers.get('content-type', '').startswith(
            'text/plain'), r.headers)
        text = r.body.decode()
        for line in text.splitlines():
            if line and not line.startswith('#'):
                self.assertRegex(line, r'^[a-zA-Z_:][a-zA-Z0-9_:]*'
                                 r'(\{([a-zA-Z_][a-zA-Z0-9_]*="[^"]*",?)*\})?'
                                 r' [-+0-9.eEnaNInf]+( [0-9]+)?$')
        before = self.request_counters(text)
        self.assertTrue(before, 'no counter family with "request" in its '
                        'name:\n' + text[:3000])
        b = self.new_bucket()
        for i in range(5):
            self.s3.put_object(Bucket=b, Key='m%d' % i, Body=b'x')
            self.get_bytes(b, 'm%d' % i)
        after = self.request_counters(
            self.srv.http_get('/_roadstore/metrics').body.decode())
        grew = [c for c in before if after.get(c, 0) >= before[c] + 10]
        self.assertTrue(grew, 'request counters did not grow by 10: %r -> %r'
                        % (before, after))

    def test_every_response_has_request_id(self):
        b = self.new_bucket()
        for r in [self.srv.request('GET', '/'),
                  self.srv.request('GET', '/' + b),
                  self.srv.request('GET', '/%s/missing' % b),
                  self.srv.request('HEAD', '/%s/missing' % b),
                  self.srv.request('GET', '/no-such-bucket-rs'),
                  self.srv.request('GET', '/' + b, sign=False),
                  self.srv.request('PUT', '/%s/k' % b, body=b'x'),
                  self.srv.request('DELETE', '/%s/k' % b)]:
            self.assertTrue(r.headers.get('x-amz-request-id'), r)
        # distinct ids
        ids = {self.srv.request('GET', '/').headers['x-amz-request-id']
               for _ in range(5)}
        self.assertEqual(len(ids), 5)

    def test_unknown_method(self):
        b = self.new_bucket()
        r = self.srv.request('PATCH', '/%s/k' % b, body=b'x')
        self.assertIn(r.status, (405, 501), r)


if __name__ == '__main__':
    H.main()
