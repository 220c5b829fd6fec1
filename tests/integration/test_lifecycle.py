#!/usr/bin/python3
"""Bucket lifecycle (issues 4 and 6): PutBucketLifecycleConfiguration,
GetBucketLifecycleConfiguration, DeleteBucketLifecycle, x-amz-expiration,
and the lifecycle runner of the real server (expiry, transition to the
low-frequency group, abort of stale multipart uploads, their events over
ZeroMQ, disk space of expired small objects given back by compaction, an
overwrite racing the runner, kill -9 in the middle of a pass).

Which statement of the specification each test covers:

  ConfigTest (one server, runner off)
    test_round_trip
        - a configuration with every element (legacy Prefix, Filter with
          Prefix / Tag / sizes / And, empty Filter, Expiration Days / Date /
          ExpiredObjectDeleteMarker, several Transitions by Days and Date,
          AbortIncompleteMultipartUpload, NoncurrentVersion*, a Disabled
          rule, a rule without ID) comes back field for field, the missing
          ID as a generated one; the XML is in the S3 namespace; Delete
          answers 204 and Get then 404 NoSuchLifecycleConfiguration (as on
          a bucket that never had one); a second Delete is 204 too
    test_validation_errors
        - each invalid configuration answers S3's status and code:
          MalformedXML (bad XML, no Rule, no Status, bad Status, no Filter
          nor Prefix, both, two criteria outside And, Expiration without
          Days/Date, Transition without StorageClass, non-numeric Days),
          InvalidArgument (Days 0 and -1, Transition Days -1, Days 29 to
          STANDARD_IA / ONEZONE_IA, Date not at midnight, Days and Date,
          ID of 256 characters, duplicate IDs, 1001 rules, size range
          empty, Expiration not after Transition, DaysAfterInitiation 0,
          AbortIncompleteMultipartUpload with a tag), MalformedXML
          (unknown class, STANDARD), InvalidRequest (no action; no
          Content-MD5 nor x-amz-checksum-*), BadDigest (wrong Content-MD5);
          an x-amz-checksum-crc32 header instead of Content-MD5 is
          accepted; nothing invalid was stored
    test_non_owner_denied
        - another user gets 403 AccessDenied for Put, Get and Delete
    test_expiration_header
        - GET and HEAD of an object an enabled Days rule matches carry
          x-amz-expiration: expiry-date="<RFC 1123 GMT of creation + Days
          rounded up to midnight UTC>", rule-id="<ID>"; a Date rule gives
          its date; the earliest of two rules wins; an unmatched object, a
          Disabled rule and a deleted configuration give no header
  RunnerTest (one server, [lifecycle] day_seconds = 1, interval = 1)
    test_prefix_tag_and_size_filters
        - objects under the prefix, with the tag, and under And(prefix,
          size > 5000) expire; the others stay (checked after several
          passes past their due time), with identical bytes
    test_transition_and_events
        - a Transition (Date in the past) to STANDARD_IA of a merged small
          object and of a 3 MiB object: HEAD and ListObjectsV2 report
          STANDARD_IA, GET bytes, ETag, Last-Modified, metadata and tags are
          identical, the 3 MiB now lies in DATA/low-frequency and left
          DATA/standard; events LifecycleTransition and LifecycleExpiration:
          Delete arrive over the real ZeroMQ PUB socket with bucket, key,
          size, eTag, storage class and principal roadstore:lifecycle
    test_abort_stale_multipart
        - an upload under the rule's prefix is aborted (gone from
          ListMultipartUploads, its part unreachable), one elsewhere stays
    test_expired_small_objects_free_disk
        - 2,000 small objects in merged containers expire; `roadstore admin
          compact` then gives the disk back: du of DATA/standard drops by at
          least 80% of their bytes; fsck is clean; the metrics count the
          passes and expired objects
    test_notification_filters_lifecycle_events
        - a webhook notification configured for s3:LifecycleExpiration:*
          and s3:LifecycleTransition gets exactly the runner's two expiries
          and one transition (names, keys, sizes, principal), none of the
          PUTs
  ManualRunTest (a server, runner off: passes only by `admin lifecycle
  run`, so every pass is where the test puts it)
    test_overwrite_before_pass_is_kept
        - an object due for expiry (and one due for transition) overwritten
          with new bytes before the pass is kept with the new bytes; the
          `admin lifecycle run` report counts exactly what happened; after
          its own due time it goes; `admin lifecycle run --bucket` offline
          (server stopped) works too
  CrashTest (a server per test)
    test_kill9_during_pass
        - SIGKILL while `admin lifecycle run` expires 1,500 small objects
          and transitions 24 objects of 1.5 MiB; after restart every object
          is either intact (identical bytes) or gone with its
          LifecycleExpiration:Delete event in the outbox; every object that
          reports GLACIER has its LifecycleTransition event; a pass after
          the restart finishes the work; `admin fsck` is clean

Run by hand:
    ROADSTORE_BIN=build/roadstore /usr/bin/python3 tests/integration/test_lifecycle.py -v
"""

import base64
import datetime
import hashlib
import json
import os
import subprocess
import sys
import time
import unittest
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rsharness as H  # noqa: E402
from test_event_groups import Receiver, topic_conf  # noqa: E402
from rsharness import ServerTestCase, rand_bytes  # noqa: E402

KiB = 1024
MiB = 1024 * KiB
BOB = ('bob', 'RSLIFECYCLEBOBKEY001', 'bobLifecycleSecret0123456789abcdefghijkl')
NS = '{http://s3.amazonaws.com/doc/2006-03-01/}'
ZCTX = zmq.Context.instance()


def md5_b64(b):
    return base64.b64encode(hashlib.md5(b).digest()).decode()


def du(path):
    """Bytes of the files below path (allocated blocks, as du counts)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.stat(os.path.join(root, f)).st_blocks * 512
            except FileNotFoundError:
                pass
    return total


def files_under(path):
    out = {}
    for root, _dirs, files in os.walk(path):
        for f in files:
            p = os.path.join(root, f)
            try:
                out[p] = os.path.getsize(p)
            except FileNotFoundError:
                pass
    return out


def lc_xml(rules_xml):
    return ('<LifecycleConfiguration xmlns="http://s3.amazonaws.com/doc/'
            '2006-03-01/">%s</LifecycleConfiguration>' % rules_xml).encode()


def rule(body, status='Enabled', rid=None, filt='<Filter><Prefix>p/</Prefix>'
         '</Filter>'):
    return '<Rule>%s%s<Status>%s</Status>%s</Rule>' % (
        '<ID>%s</ID>' % rid if rid is not None else '', filt, status, body)


EXP1 = '<Expiration><Days>1</Days></Expiration>'


def start_server(name, lifecycle, users=(), extra=None):
    cfg = {'lifecycle': lifecycle, 'storage': {'gc_delay': 0}}
    for sec, keys in (extra or {}).items():
        cfg.setdefault(sec, {}).update(keys)
    srv = H.Server(name=name, config=cfg)
    srv.start()
    if users:
        srv.stop()
        for n, ak, sk in users:
            srv.create_user(n, ak, sk)
        srv.start()
    return srv


class LifecycleCase(ServerTestCase):
    lifecycle = {'enabled': 'false'}
    users = ()
    extra = None

    @classmethod
    def setUpClass(cls):
        cls.srv = start_server(cls.__name__, cls.lifecycle, cls.users,
                               cls.extra)
        cls.s3 = cls.srv.client()

    def put_lc(self, bucket, rules, client=None):
        (client or self.s3).put_bucket_lifecycle_configuration(
            Bucket=bucket, LifecycleConfiguration={'Rules': rules})

    def raw_put_lc(self, bucket, body, md5=True, headers=None):
        h = dict(headers or {})
        if md5:
            h['Content-MD5'] = md5_b64(body)
        return self.srv.request('PUT', '/' + bucket, [('lifecycle', '')],
                                headers=h, body=body)

    def metrics(self):
        r = self.srv.http_get('/_roadstore/metrics')
        self.assertEqual(r.status, 200)
        out = {}
        for ln in r.body.decode().splitlines():
            if ln and not ln.startswith('#'):
                k, v = ln.rsplit(' ', 1)
                out[k] = float(v)
        return out

    def passes(self):
        return self.metrics().get('roadstore_lifecycle_passes_total', 0)

    def wait_passes(self, n, timeout=30):
        """Wait until n more passes have started and finished."""
        target = self.passes() + n
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.passes() >= target:
                return
            time.sleep(0.1)
        raise AssertionError('no %d lifecycle passes in %ds' % (n, timeout))

    def exists(self, bucket, key):
        try:
            self.s3.head_object(Bucket=bucket, Key=key)
            return True
        except H.ClientError as e:
            self.assertEqual(e.response['ResponseMetadata']['HTTPStatusCode'],
                             404)
            return False


class ConfigTest(LifecycleCase):
    users = (BOB,)

    def test_round_trip(self):
        b = self.new_bucket()
        date = datetime.datetime(2031, 5, 1, tzinfo=datetime.timezone.utc)
        tdate = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)
        rules = [
            {'ID': 'legacy', 'Prefix': 'old/', 'Status': 'Enabled',
             'Expiration': {'Days': 365}},
            {'ID': 'by-prefix', 'Filter': {'Prefix': 'logs/'},
             'Status': 'Enabled', 'Expiration': {'Date': date},
             'Transitions': [{'Days': 30, 'StorageClass': 'STANDARD_IA'},
                             {'Days': 90, 'StorageClass': 'GLACIER'}]},
            {'ID': 'by-tag', 'Filter': {'Tag': {'Key': 'k', 'Value': 'v'}},
             'Status': 'Disabled', 'Expiration': {'Days': 7}},
            {'ID': 'by-and', 'Filter': {'And': {
                'Prefix': 'v/', 'Tags': [{'Key': 'a', 'Value': '1'},
                                         {'Key': 'b', 'Value': ''}],
                'ObjectSizeGreaterThan': 100,
                'ObjectSizeLessThan': 1000000}},
             'Status': 'Enabled',
             'Transitions': [{'Date': tdate, 'StorageClass': 'DEEP_ARCHIVE'}],
             'NoncurrentVersionTransitions': [
                 {'NoncurrentDays': 10, 'StorageClass': 'GLACIER'}],
             'NoncurrentVersionExpiration': {'NoncurrentDays': 40,
                                             'NewerNoncurrentVersions': 2}},
            {'ID': 'by-size', 'Filter': {'ObjectSizeGreaterThan': 5},
             'Status': 'Enabled', 'Expiration': {'Days': 2}},
            {'ID': 'mpu', 'Filter': {'Prefix': ''}, 'Status': 'Enabled',
             'AbortIncompleteMultipartUpload': {'DaysAfterInitiation': 3}},
            {'ID': 'marker', 'Filter': {}, 'Status': 'Enabled',
             'Expiration': {'ExpiredObjectDeleteMarker': True}},
            {'Filter': {'Prefix': 'noid/'}, 'Status': 'Enabled',
             'Expiration': {'Days': 1}},
        ]
        self.put_lc(b, rules)
        got = self.s3.get_bucket_lifecycle_configuration(Bucket=b)['Rules']
        self.assertEqual(len(got), len(rules))
        gen = got[-1].pop('ID')
        self.assertTrue(1 <= len(gen) <= 255, gen)
        self.assertEqual(got, rules[:-1] + [rules[-1]])
        # the raw XML is in the S3 namespace
        r = self.srv.request('GET', '/' + b, [('lifecycle', '')])
        self.assertEqual(r.status, 200)
        self.assertIn(b'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"',
                      r.body)
        self.assertEqual(H.parse_xml(r.body).tag,
                         NS + 'LifecycleConfiguration')
        # a rewrite replaces the whole configuration
        self.put_lc(b, rules[:1])
        got = self.s3.get_bucket_lifecycle_configuration(Bucket=b)['Rules']
        self.assertEqual(got, rules[:1])
        r = self.s3.delete_bucket_lifecycle(Bucket=b)
        self.assertEqual(r['ResponseMetadata']['HTTPStatusCode'], 204)
        self.assertS3Error('NoSuchLifecycleConfiguration', 404,
                           self.s3.get_bucket_lifecycle_configuration,
                           Bucket=b)
        r = self.s3.delete_bucket_lifecycle(Bucket=b)
        self.assertEqual(r['ResponseMetadata']['HTTPStatusCode'], 204)
        b2 = self.new_bucket()
        self.assertS3Error('NoSuchLifecycleConfiguration', 404,
                           self.s3.get_bucket_lifecycle_configuration,
                           Bucket=b2)
        self.assertS3Error('NoSuchBucket', 404,
                           self.s3.get_bucket_lifecycle_configuration,
                           Bucket=b2 + '-none')
        # a bucket deleted and made again has no configuration left
        self.put_lc(b2, rules[:1])
        self.s3.delete_bucket(Bucket=b2)
        self.s3.create_bucket(Bucket=b2)
        self.assertS3Error('NoSuchLifecycleConfiguration', 404,
                           self.s3.get_bucket_lifecycle_configuration,
                           Bucket=b2)

    def test_validation_errors(self):
        b = self.new_bucket()
        F = '<Filter><Prefix>p/</Prefix></Filter>'
        cases = [
            ('not xml', b'<LifecycleConfiguration><Rule>', 400,
             'MalformedXML'),
            ('wrong root', b'<Foo/>', 400, 'MalformedXML'),
            ('no rule', lc_xml(''), 400, 'MalformedXML'),
            ('no status', lc_xml('<Rule>%s%s</Rule>' % (F, EXP1)), 400,
             'MalformedXML'),
            ('bad status', lc_xml(rule(EXP1, status='On')), 400,
             'MalformedXML'),
            ('no filter', lc_xml(rule(EXP1, filt='')), 400, 'MalformedXML'),
            ('filter and prefix', lc_xml(rule(EXP1, filt=F +
                                              '<Prefix>x</Prefix>')),
             400, 'MalformedXML'),
            ('two criteria', lc_xml(rule(EXP1, filt='<Filter><Prefix>a'
                                         '</Prefix><ObjectSizeLessThan>5'
                                         '</ObjectSizeLessThan></Filter>')),
             400, 'MalformedXML'),
            ('empty expiration', lc_xml(rule('<Expiration></Expiration>')),
             400, 'MalformedXML'),
            ('days not a number', lc_xml(rule('<Expiration><Days>x</Days>'
                                              '</Expiration>')),
             400, 'MalformedXML'),
            ('transition no class', lc_xml(rule(
                '<Transition><Days>30</Days></Transition>')), 400,
             'MalformedXML'),
            ('date past 2262', lc_xml(rule(
                '<Expiration><Date>2300-01-01T00:00:00Z</Date>'
                '</Expiration>')), 400, 'MalformedXML'),
            ('days 0', lc_xml(rule('<Expiration><Days>0</Days>'
                                   '</Expiration>')), 400, 'InvalidArgument'),
            ('days -1', lc_xml(rule('<Expiration><Days>-1</Days>'
                                    '</Expiration>')), 400,
             'InvalidArgument'),
            ('transition days -1', lc_xml(rule(
                '<Transition><Days>-1</Days><StorageClass>GLACIER'
                '</StorageClass></Transition>')), 400, 'InvalidArgument'),
            ('IA under 30 days', lc_xml(rule(
                '<Transition><Days>29</Days><StorageClass>STANDARD_IA'
                '</StorageClass></Transition>')), 400, 'InvalidArgument'),
            ('1Z-IA under 30 days', lc_xml(rule(
                '<Transition><Days>1</Days><StorageClass>ONEZONE_IA'
                '</StorageClass></Transition>')), 400, 'InvalidArgument'),
            ('date not midnight', lc_xml(rule(
                '<Expiration><Date>2030-01-01T10:00:00Z</Date>'
                '</Expiration>')), 400, 'InvalidArgument'),
            ('days and date', lc_xml(rule(
                '<Expiration><Days>3</Days><Date>2030-01-01T00:00:00Z</Date>'
                '</Expiration>')), 400, 'InvalidArgument'),
            ('long id', lc_xml(rule(EXP1, rid='x' * 256)), 400,
             'InvalidArgument'),
            ('duplicate id', lc_xml(rule(EXP1, rid='same') +
                                    rule(EXP1, rid='same')), 400,
             'InvalidArgument'),
            ('1001 rules', lc_xml(''.join(rule(EXP1, rid='r%d' % i)
                                          for i in range(1001))), 400,
             'InvalidArgument'),
            ('empty size range', lc_xml(rule(EXP1, filt=(
                '<Filter><And><ObjectSizeGreaterThan>10'
                '</ObjectSizeGreaterThan><ObjectSizeLessThan>10'
                '</ObjectSizeLessThan></And></Filter>'))), 400,
             'InvalidArgument'),
            ('expiration before transition', lc_xml(rule(
                '<Expiration><Days>40</Days></Expiration><Transition><Days>'
                '60</Days><StorageClass>GLACIER</StorageClass></Transition>'
            )), 400, 'InvalidArgument'),
            ('abort 0', lc_xml(rule(
                '<AbortIncompleteMultipartUpload><DaysAfterInitiation>0'
                '</DaysAfterInitiation></AbortIncompleteMultipartUpload>')),
             400, 'InvalidArgument'),
            ('abort with tag', lc_xml(rule(
                '<AbortIncompleteMultipartUpload><DaysAfterInitiation>1'
                '</DaysAfterInitiation></AbortIncompleteMultipartUpload>',
                filt='<Filter><Tag><Key>a</Key><Value>b</Value></Tag>'
                '</Filter>')), 400, 'InvalidArgument'),
            ('unknown class', lc_xml(rule(
                '<Transition><Days>30</Days><StorageClass>COLD_STORAGE'
                '</StorageClass></Transition>')), 400,
             'MalformedXML'),
            ('to STANDARD', lc_xml(rule(
                '<Transition><Days>30</Days><StorageClass>STANDARD'
                '</StorageClass></Transition>')), 400,
             'MalformedXML'),
            ('no action', lc_xml(rule('')), 400, 'InvalidRequest'),
        ]
        for what, body, status, code in cases:
            with self.subTest(what):
                r = self.raw_put_lc(b, body)
                self.assertRaw(r, status, code)
        self.assertS3Error('NoSuchLifecycleConfiguration', 404,
                           self.s3.get_bucket_lifecycle_configuration,
                           Bucket=b)
        good = lc_xml(rule(EXP1, rid='ok'))
        r = self.raw_put_lc(b, good, md5=False)
        self.assertRaw(r, 400, 'InvalidRequest')
        self.assertIn(b'Content-MD5', r.body)
        r = self.raw_put_lc(b, good, md5=False,
                            headers={'Content-MD5': md5_b64(b'other')})
        self.assertRaw(r, 400, 'BadDigest')
        self.assertS3Error('NoSuchLifecycleConfiguration', 404,
                           self.s3.get_bucket_lifecycle_configuration,
                           Bucket=b)
        r = self.raw_put_lc(b, good, md5=False, headers={
            'x-amz-checksum-crc32': H.crc32_b64(good)})
        self.assertRaw(r, 200)
        got = self.s3.get_bucket_lifecycle_configuration(Bucket=b)['Rules']
        self.assertEqual([x['ID'] for x in got], ['ok'])

    def test_non_owner_denied(self):
        b = self.new_bucket()
        self.put_lc(b, [{'ID': 'a', 'Filter': {}, 'Status': 'Enabled',
                         'Expiration': {'Days': 1}}])
        bob = self.srv.client(BOB[1], BOB[2])
        self.assertS3Error('AccessDenied', 403,
                           bob.get_bucket_lifecycle_configuration, Bucket=b)
        self.assertS3Error('AccessDenied', 403, self.put_lc, b,
                           [{'ID': 'x', 'Filter': {}, 'Status': 'Enabled',
                             'Expiration': {'Days': 9}}], client=bob)
        self.assertS3Error('AccessDenied', 403, bob.delete_bucket_lifecycle,
                           Bucket=b)
        got = self.s3.get_bucket_lifecycle_configuration(Bucket=b)['Rules']
        self.assertEqual([x['ID'] for x in got], ['a'])

    def test_expiration_header(self):
        b = self.new_bucket()
        self.put_lc(b, [
            {'ID': 'three-days', 'Filter': {'Prefix': 'd/'},
             'Status': 'Enabled', 'Expiration': {'Days': 3}},
            {'ID': 'ten-days', 'Filter': {'Prefix': 'd/x'},
             'Status': 'Enabled', 'Expiration': {'Days': 10}},
            {'ID': 'date "q"', 'Filter': {'Prefix': 'dt/'},
             'Status': 'Enabled', 'Expiration': {'Date': datetime.datetime(
                 2032, 12, 23, tzinfo=datetime.timezone.utc)}},
            {'ID': 'off', 'Filter': {'Prefix': 'off/'},
             'Status': 'Disabled', 'Expiration': {'Days': 1}},
        ])
        for k in ('d/xa', 'dt/a', 'off/a', 'other'):
            self.s3.put_object(Bucket=b, Key=k, Body=b'hello')
        h = self.s3.head_object(Bucket=b, Key='d/xa')
        lm = h['LastModified']
        due = lm + datetime.timedelta(days=3)
        # rounded up to the next midnight UTC
        due = datetime.datetime(due.year, due.month, due.day,
                                tzinfo=datetime.timezone.utc) + \
            datetime.timedelta(days=1)
        want = 'expiry-date="%s", rule-id="three-days"' % \
            due.strftime('%a, %d %b %Y %H:%M:%S GMT')
        self.assertEqual(h['ResponseMetadata']['HTTPHeaders'].get(
            'x-amz-expiration'), want)
        self.assertEqual(h['Expiration'], want)
        g = self.s3.get_object(Bucket=b, Key='d/xa')
        self.assertEqual(g['ResponseMetadata']['HTTPHeaders'].get(
            'x-amz-expiration'), want)
        g['Body'].read()
        h = self.s3.head_object(Bucket=b, Key='dt/a')
        self.assertEqual(h['ResponseMetadata']['HTTPHeaders'].get(
            'x-amz-expiration'),
            'expiry-date="Thu, 23 Dec 2032 00:00:00 GMT", '
            'rule-id="date \\"q\\""')
        for k in ('off/a', 'other'):
            h = self.s3.head_object(Bucket=b, Key=k)
            self.assertNotIn('x-amz-expiration',
                             h['ResponseMetadata']['HTTPHeaders'], k)
        self.s3.delete_bucket_lifecycle(Bucket=b)
        h = self.s3.head_object(Bucket=b, Key='d/xa')
        self.assertNotIn('x-amz-expiration',
                         h['ResponseMetadata']['HTTPHeaders'])


class EventSub:
    def subscribe(self, prefix):
        s = ZCTX.socket(zmq.SUB)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.SUBSCRIBE, prefix.encode())
        s.connect(self.srv.events_endpoint)
        self.addCleanup(s.close)
        time.sleep(0.5)      # slow joiner
        return s

    def collect(self, sock, want, timeout=40):
        """Messages until pred(records) or timeout; returns records."""
        out = []
        deadline = time.time() + timeout
        while time.time() < deadline and not want(out):
            if sock.poll(200):
                topic, body = sock.recv_multipart()
                rec = json.loads(body)['Records'][0]
                self.assertEqual(topic.decode(), '%s/%s' % (
                    rec['s3']['bucket']['name'], rec['eventName']))
                out.append(rec)
        return out


def key_of(rec):
    return urllib.parse.unquote_plus(rec['s3']['object']['key'])


class RunnerTest(LifecycleCase, EventSub):
    lifecycle = {'enabled': 'true', 'interval': '1', 'day_seconds': '1'}

    def test_prefix_tag_and_size_filters(self):
        b = self.new_bucket()
        data = {}
        objs = [('tmp/a', 100, None), ('keep/b', 100, None),
                ('t1', 50, 'expire=yes'), ('t2', 50, 'expire=no'),
                ('t3', 50, None), ('big/small', 100, None),
                ('big/large', 10000, None), ('tmpx', 10, None)]
        for k, n, tags in objs:
            data[k] = rand_bytes(n)
            kw = {'Tagging': tags} if tags else {}
            self.s3.put_object(Bucket=b, Key=k, Body=data[k], **kw)
        self.put_lc(b, [
            {'ID': 'tmp', 'Filter': {'Prefix': 'tmp/'}, 'Status': 'Enabled',
             'Expiration': {'Days': 1}},
            # "never": far past 2262 in nanoseconds, must not wrap around
            {'ID': 'never', 'Filter': {'Prefix': 'keep/'},
             'Status': 'Enabled', 'Expiration': {'Days': 100000}},
            {'ID': 'tag', 'Filter': {'Tag': {'Key': 'expire',
                                             'Value': 'yes'}},
             'Status': 'Enabled', 'Expiration': {'Days': 1}},
            {'ID': 'size', 'Filter': {'And': {
                'Prefix': 'big/', 'ObjectSizeGreaterThan': 5000}},
             'Status': 'Enabled', 'Expiration': {'Days': 1}},
        ])
        gone = {'tmp/a', 't1', 'big/large'}
        deadline = time.time() + 30
        while time.time() < deadline and \
                any(self.exists(b, k) for k in gone):
            time.sleep(0.2)
        for k in gone:
            self.assertFalse(self.exists(b, k), k)
        # the others are past their due time too: several more passes
        self.wait_passes(3)
        for k, n, _ in objs:
            if k in gone:
                continue
            self.assertEqual(self.get_bytes(b, k), data[k], k)
        listed = [o['Key'] for o in self.s3.list_objects_v2(
            Bucket=b).get('Contents', [])]
        self.assertEqual(sorted(listed), sorted(set(data) - gone))

    def test_transition_and_events(self):
        b = self.new_bucket()
        sub = self.subscribe(b + '/')
        small, big = rand_bytes(3000), rand_bytes(3 * MiB)
        lf = os.path.join(self.srv.data, 'low-frequency')
        st = os.path.join(self.srv.data, 'standard')
        before_lf = files_under(lf)
        self.s3.put_object(Bucket=b, Key='tr/small', Body=small,
                           Metadata={'camera': 'c17'}, Tagging='plate=AB123',
                           ContentType='image/jpeg')
        self.s3.put_object(Bucket=b, Key='tr/big', Body=big)
        self.s3.put_object(Bucket=b, Key='ex/gone', Body=b'x' * 777)
        heads = {k: self.s3.head_object(Bucket=b, Key=k)
                 for k in ('tr/small', 'tr/big')}
        time.sleep(0.7)          # the small ones are flushed (idle flush)
        big_files = {p for p, n in files_under(st).items() if n >= 3 * MiB}
        self.assertEqual(len(big_files), 1)
        self.put_lc(b, [
            {'ID': 'cold', 'Filter': {'Prefix': 'tr/'}, 'Status': 'Enabled',
             'Transitions': [{'Date': datetime.datetime(
                 2020, 1, 1, tzinfo=datetime.timezone.utc),
                 'StorageClass': 'STANDARD_IA'}]},
            {'ID': 'gone', 'Filter': {'Prefix': 'ex/'}, 'Status': 'Enabled',
             'Expiration': {'Days': 1}},
        ])

        def done(recs):
            names = [(r['eventName'], key_of(r)) for r in recs]
            return ('LifecycleTransition', 'tr/small') in names and \
                ('LifecycleTransition', 'tr/big') in names and \
                ('LifecycleExpiration:Delete', 'ex/gone') in names

        recs = self.collect(sub, done)
        self.assertTrue(done(recs), [(r['eventName'], key_of(r))
                                     for r in recs])
        by = {(r['eventName'], key_of(r)): r for r in recs}
        for k, body in (('tr/small', small), ('tr/big', big)):
            r = by[('LifecycleTransition', k)]
            self.assertEqual(r['s3']['bucket']['name'], b)
            self.assertEqual(r['s3']['object']['size'], len(body))
            self.assertEqual(r['s3']['object']['eTag'],
                             hashlib.md5(body).hexdigest())
            self.assertEqual(r['roadstore']['storageClass'], 'STANDARD_IA')
            self.assertEqual(r['userIdentity']['principalId'],
                             'roadstore:lifecycle')
        r = by[('LifecycleExpiration:Delete', 'ex/gone')]
        self.assertEqual(r['s3']['object']['size'], 777)
        self.assertEqual(r['s3']['object']['eTag'],
                         hashlib.md5(b'x' * 777).hexdigest())
        self.assertEqual(r['userIdentity']['principalId'],
                         'roadstore:lifecycle')
        self.assertFalse(self.exists(b, 'ex/gone'))
        # each object once: no second transition event
        self.assertEqual(sum(1 for x in recs
                             if x['eventName'] == 'LifecycleTransition'), 2)

        for k, body in (('tr/small', small), ('tr/big', big)):
            h = self.s3.head_object(Bucket=b, Key=k)
            self.assertEqual(h.get('StorageClass'), 'STANDARD_IA', k)
            for f in ('ETag', 'LastModified', 'ContentLength', 'Metadata',
                      'ContentType'):
                self.assertEqual(h.get(f), heads[k].get(f), (k, f))
            g = self.s3.get_object(Bucket=b, Key=k)
            self.assertEqual(g['Body'].read(), body, k)
            self.assertEqual(g.get('StorageClass'), 'STANDARD_IA')
        self.assertEqual(self.s3.get_object_tagging(
            Bucket=b, Key='tr/small')['TagSet'],
            [{'Key': 'plate', 'Value': 'AB123'}])
        listed = {o['Key']: o for o in self.s3.list_objects_v2(
            Bucket=b)['Contents']}
        self.assertEqual(set(listed), {'tr/small', 'tr/big'})
        for k in listed:
            self.assertEqual(listed[k]['StorageClass'], 'STANDARD_IA')
        # the 3 MiB moved into the low-frequency group, its old file goes
        new_lf = {p: n for p, n in files_under(lf).items()
                  if p not in before_lf}
        self.assertTrue(any(n >= 3 * MiB for n in new_lf.values()), new_lf)
        deadline = time.time() + 20
        while time.time() < deadline and \
                any(os.path.exists(p) for p in big_files):
            time.sleep(0.2)
        self.assertFalse(any(os.path.exists(p) for p in big_files))

    def test_notification_filters_lifecycle_events(self):
        # a webhook configured for the lifecycle's event names only gets
        # exactly those, in the S3 message format, from the runner
        b = self.new_bucket()
        port = H.free_port()
        rcv = Receiver(port).start()
        self.addCleanup(rcv.stop)
        url = 'http://127.0.0.1:%d/lc' % port
        self.s3.put_bucket_notification_configuration(
            Bucket=b, NotificationConfiguration={'TopicConfigurations': [
                topic_conf(url, ['s3:LifecycleExpiration:*',
                                 's3:LifecycleTransition'])]})
        self.s3.put_object(Bucket=b, Key='ex/1', Body=b'one')
        self.s3.put_object(Bucket=b, Key='ex/2', Body=b'two!')
        self.s3.put_object(Bucket=b, Key='tr/1', Body=b'cold')
        self.s3.put_object(Bucket=b, Key='stay', Body=b'stays')
        self.put_lc(b, [
            {'ID': 'gone', 'Filter': {'Prefix': 'ex/'}, 'Status': 'Enabled',
             'Expiration': {'Days': 1}},
            {'ID': 'cold', 'Filter': {'Prefix': 'tr/'}, 'Status': 'Enabled',
             'Transitions': [{'Days': 0, 'StorageClass': 'GLACIER'}]},
        ])
        deadline = time.time() + 40
        while time.time() < deadline and len(rcv.got()) < 3:
            time.sleep(0.1)
        self.wait_passes(2)      # nothing more comes
        got = sorted((p['rec']['eventName'], p['rec']['s3']['object']['key'],
                      p['rec']['s3']['object']['size'])
                     for p in rcv.got())
        self.assertEqual(got, [('LifecycleExpiration:Delete', 'ex/1', 3),
                               ('LifecycleExpiration:Delete', 'ex/2', 4),
                               ('LifecycleTransition', 'tr/1', 4)])
        for p in rcv.got():
            self.assertEqual(p['path'], '/lc')
            self.assertEqual(p['rec']['s3']['bucket']['name'], b)
            self.assertEqual(p['rec']['userIdentity']['principalId'],
                             'roadstore:lifecycle')
        self.assertEqual(self.get_bytes(b, 'stay'), b'stays')
        self.assertEqual(self.get_bytes(b, 'tr/1'), b'cold')

    def test_abort_stale_multipart(self):
        b = self.new_bucket()
        u1 = self.s3.create_multipart_upload(Bucket=b, Key='mp/a')['UploadId']
        self.s3.upload_part(Bucket=b, Key='mp/a', UploadId=u1, PartNumber=1,
                            Body=rand_bytes(100 * KiB))
        u2 = self.s3.create_multipart_upload(Bucket=b, Key='keep/a')[
            'UploadId']
        self.put_lc(b, [{'ID': 'mpu', 'Filter': {'Prefix': 'mp/'},
                         'Status': 'Enabled',
                         'AbortIncompleteMultipartUpload': {
                             'DaysAfterInitiation': 1}}])
        deadline = time.time() + 30
        ups = None
        while time.time() < deadline:
            ups = [(u['Key'], u['UploadId']) for u in
                   self.s3.list_multipart_uploads(Bucket=b).get('Uploads',
                                                                [])]
            if ('mp/a', u1) not in ups:
                break
            time.sleep(0.2)
        self.assertEqual(ups, [('keep/a', u2)])
        self.assertS3Error('NoSuchUpload', 404, self.s3.list_parts,
                           Bucket=b, Key='mp/a', UploadId=u1)
        self.wait_passes(2)
        ups = [u['UploadId'] for u in
               self.s3.list_multipart_uploads(Bucket=b).get('Uploads', [])]
        self.assertEqual(ups, [u2])

    def test_expired_small_objects_free_disk(self):
        b = self.new_bucket()
        std = os.path.join(self.srv.data, 'standard')
        n, size = 2000, 8 * KiB
        m0 = self.metrics()
        base = du(std)
        body = rand_bytes(size)
        c = self.srv.client(max_pool_connections=16)
        with ThreadPoolExecutor(16) as ex:
            list(ex.map(lambda i: c.put_object(
                Bucket=b, Key='s/%05d' % i, Body=body), range(n)))
        self.s3.put_object(Bucket=b, Key='keep', Body=body)
        deadline = time.time() + 30       # flushed into containers
        while time.time() < deadline and du(std) - base < n * size:
            time.sleep(0.2)
        before = du(std)
        self.assertGreaterEqual(before - base, n * size)
        self.put_lc(b, [{'ID': 's', 'Filter': {'Prefix': 's/'},
                         'Status': 'Enabled', 'Expiration': {'Days': 1}}])
        deadline = time.time() + 90
        while time.time() < deadline:
            r = self.s3.list_objects_v2(Bucket=b, MaxKeys=5)
            if [o['Key'] for o in r.get('Contents', [])] == ['keep']:
                break
            time.sleep(0.5)
        self.assertEqual([o['Key'] for o in self.s3.list_objects_v2(
            Bucket=b)['Contents']], ['keep'])
        self.srv.admin('compact')
        deadline = time.time() + 30
        while time.time() < deadline and before - du(std) < 0.8 * n * size:
            time.sleep(0.3)
        after = du(std)
        self.assertGreaterEqual(before - after, 0.8 * n * size,
                                'du %d -> %d' % (before, after))
        self.assertEqual(self.get_bytes(b, 'keep'), body)
        m = self.metrics()
        self.assertGreaterEqual(
            m['roadstore_lifecycle_objects_total{action="expired"}'] -
            m0.get('roadstore_lifecycle_objects_total{action="expired"}', 0),
            n)
        self.assertGreater(m['roadstore_lifecycle_passes_total'],
                           m0['roadstore_lifecycle_passes_total'])
        self.assertIn('roadstore_lifecycle_last_pass_seconds', m)
        self.assertIn('roadstore_lifecycle_uploads_aborted_total', m)


class ManualRunTest(LifecycleCase):
    lifecycle = {'enabled': 'false', 'day_seconds': '1'}

    def run_pass(self, *args, online=None):
        r = self.srv.admin('lifecycle', 'run', *args, online=online)
        return json.loads(r.stdout)

    def test_overwrite_before_pass_is_kept(self):
        b = self.new_bucket()
        self.put_lc(b, [
            {'ID': 'x', 'Filter': {'Prefix': 'x/'}, 'Status': 'Enabled',
             'Expiration': {'Days': 2}},
            {'ID': 'y', 'Filter': {'Prefix': 'y/'}, 'Status': 'Enabled',
             'Transitions': [{'Days': 2, 'StorageClass': 'GLACIER'}]}])
        old, new = rand_bytes(2000), rand_bytes(3000)
        for k in ('x/a', 'x/b', 'y/a', 'y/b'):
            self.s3.put_object(Bucket=b, Key=k, Body=old)
        rep = self.run_pass()
        self.assertEqual((rep['expired'], rep['transitioned']), (0, 0))
        time.sleep(2.3)              # x/a, x/b, y/a, y/b are due
        for k in ('x/a', 'y/a'):
            self.s3.put_object(Bucket=b, Key=k, Body=new)
        rep = self.run_pass('--bucket', b)
        self.assertEqual(rep['expired'], 1, rep)
        self.assertEqual(rep['transitioned'], 1, rep)
        self.assertEqual(rep['objects_scanned'], 4, rep)
        self.assertEqual(rep['errors'], 0, rep)
        self.assertEqual(self.get_bytes(b, 'x/a'), new)
        self.assertFalse(self.exists(b, 'x/b'))
        self.assertEqual(self.get_bytes(b, 'y/a'), new)
        self.assertIsNone(self.s3.head_object(Bucket=b, Key='y/a').get(
            'StorageClass'))
        self.assertEqual(self.s3.head_object(Bucket=b, Key='y/b').get(
            'StorageClass'), 'GLACIER')
        self.assertEqual(self.get_bytes(b, 'y/b'), old)
        time.sleep(2.3)
        self.srv.stop()
        try:
            rep = self.run_pass('--bucket', b, online=False)
        finally:
            self.srv.start()
        self.assertEqual((rep['expired'], rep['transitioned']), (1, 1), rep)
        self.assertFalse(self.exists(b, 'x/a'))
        self.assertEqual(self.s3.head_object(Bucket=b, Key='y/a').get(
            'StorageClass'), 'GLACIER')
        r = self.srv.admin('lifecycle', 'run', '--bucket', b + '-none',
                           check=False)
        self.assertNotEqual(r.returncode, 0)


class CrashTest(unittest.TestCase):
    """SIGKILL at exact places of a pass (crash points: the process kills
    itself with SIGKILL there), then a plain kill -9 at a random time."""

    def check_state(self, srv, b, data, final=False):
        """Every object intact or gone with its event; GLACIER ones have
        their transition event; fsck clean.  Leaves the server stopped;
        returns (gone, moved)."""
        s3 = srv.client(max_pool_connections=16)

        def state(k):
            try:
                g = s3.get_object(Bucket=b, Key=k)
                return g['Body'].read(), g.get('StorageClass')
            except H.ClientError as e:
                self.assertEqual(e.response['Error']['Code'], 'NoSuchKey')
                return None, None

        with ThreadPoolExecutor(16) as ex:
            got = dict(zip(data, ex.map(state, data)))
        srv.stop()
        recs, _ = outbox(srv)
        expired = {key_of(r) for r in recs
                   if r['eventName'] == 'LifecycleExpiration:Delete'}
        moved = {key_of(r) for r in recs
                 if r['eventName'] == 'LifecycleTransition'}
        n_gone = n_moved = 0
        for k, body in data.items():
            g, cls = got[k]
            if g is None:
                self.assertTrue(k.startswith('k/'), k)
                self.assertIn(k, expired, k)
                n_gone += 1
            else:
                self.assertEqual(g, body, k)
                self.assertNotIn(k, expired, k)
                if cls == 'GLACIER':
                    self.assertIn(k, moved, k)
                    n_moved += 1
                else:
                    self.assertIsNone(cls, k)
        if final:
            # every small object is gone: their container has nothing live
            # left, which fsck calls unreferenced until compaction hands
            # it to the collector
            srv.admin('compact')
        r = srv.admin('fsck', check=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return n_gone, n_moved

    def crash_pass(self, srv, point):
        """Start the server with the crash point armed, run a pass through
        it, wait for the crash; the server is left stopped."""
        srv.extra_env['ROADSTORE_CRASHPOINT'] = point
        srv.start()
        r = srv.admin('lifecycle', 'run', check=False)
        self.assertNotEqual(r.returncode, 0, 'the pass survived ' + point)
        srv.proc.wait(timeout=60)
        self.assertEqual(srv.proc.returncode, -9)
        srv.kill9()
        del srv.extra_env['ROADSTORE_CRASHPOINT']

    def test_kill9_during_pass(self):
        srv = start_server('lc-crash', {'enabled': 'false',
                                        'day_seconds': '1'})
        self.srv = srv
        s3 = srv.client(max_pool_connections=16)
        b = 'crash-lc'
        s3.create_bucket(Bucket=b)
        data = {}
        # transitions first in key order, then expiries
        for i in range(24):
            data['a/%02d' % i] = rand_bytes(1536 * KiB, seed=10000 + i)
        for i in range(1500):
            data['k/%05d' % i] = rand_bytes(2000 + i % 500, seed=i)
        with ThreadPoolExecutor(16) as ex:
            list(ex.map(lambda kv: s3.put_object(Bucket=b, Key=kv[0],
                                                 Body=kv[1]), data.items()))
        s3.put_bucket_lifecycle_configuration(
            Bucket=b, LifecycleConfiguration={'Rules': [
                {'ID': 'k', 'Filter': {'Prefix': 'k/'}, 'Status': 'Enabled',
                 'Expiration': {'Days': 1}},
                {'ID': 'a', 'Filter': {'Prefix': 'a/'}, 'Status': 'Enabled',
                 'Transitions': [{'Days': 1, 'StorageClass': 'GLACIER'}]}]})
        srv.stop()
        time.sleep(1.5)
        # 1: killed between the copy of the 5th transition and its commit
        self.crash_pass(srv, 'lifecycle-copied:5')
        srv.start()
        gone, moved = self.check_state(srv, b, data)
        self.assertEqual((gone, moved), (0, 4))
        # 2: killed after the 300th object acted on (20 more transitions,
        # 280 expiries)
        self.crash_pass(srv, 'lifecycle-object:300')
        srv.start()
        gone, moved = self.check_state(srv, b, data)
        self.assertEqual((gone, moved), (280, 24))
        # 3: a plain kill -9 while a pass runs
        srv.start()
        p = subprocess.Popen([srv.bin, 'admin', '--endpoint', srv.endpoint] +
                             srv._config_args() + ['lifecycle', 'run'],
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, env=srv._env(),
                             cwd=srv.home)
        time.sleep(0.1)
        srv.kill9()
        p.wait(timeout=60)
        srv.start()
        gone, moved = self.check_state(srv, b, data)
        self.assertGreaterEqual(gone, 280)
        # a pass after the restart finishes the work
        srv.start()
        rep = json.loads(srv.admin('lifecycle', 'run').stdout)
        self.assertEqual(rep['errors'], 0, rep)
        self.assertEqual(rep['expired'], 1500 - gone, rep)
        self.assertEqual(rep['transitioned'], 0, rep)
        gone, moved = self.check_state(srv, b, data, final=True)
        self.assertEqual((gone, moved), (1500, 24))
        srv.check()


def outbox(srv):
    cmd = [srv.bin, 'events', 'tail', '--data', srv.data, '--from', '0']
    r = subprocess.run(cmd, capture_output=True, timeout=300, cwd=srv.root,
                       stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        raise AssertionError('%s: %s' % (cmd, r.stderr))
    return [json.loads(ln)['Records'][0] for ln in r.stdout.splitlines()], r


if __name__ == '__main__':
    H.main()
