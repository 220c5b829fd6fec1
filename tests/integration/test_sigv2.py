#!/usr/bin/python3
"""Signature Version 2: boto3's default presigned URLs (boto3 before 1.36
presigns GET URLs with SigV2 unless told otherwise) and SigV2 header
authentication of object requests."""
import os
import sys
import time
import urllib.error
import urllib.request

import boto3
from botocore.config import Config

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rsharness as H  # noqa: E402
from rsharness import ServerTestCase  # noqa: E402


class SigV2Test(ServerTestCase):

    def v2_client(self, secret=None, **cfg):
        """A client as a user without any signature configuration gets it
        (signature_version unset), or SigV2 explicitly when cfg says so."""
        return boto3.session.Session().client(
            's3', endpoint_url=self.srv.endpoint, region_name=H.REGION,
            aws_access_key_id=self.srv.access_key,
            aws_secret_access_key=secret or self.srv.secret_key,
            config=Config(**cfg) if cfg else None)

    def test_default_presigned_get_returns_the_bytes(self):
        b = self.new_bucket()
        body = os.urandom(70000)
        key = 'cam 3/plate+1 ü.jpg'
        self.s3.put_object(Bucket=b, Key=key, Body=body)
        url = self.v2_client().generate_presigned_url(
            'get_object', Params={'Bucket': b, 'Key': key}, ExpiresIn=120)
        with urllib.request.urlopen(url) as r:
            self.assertEqual(r.read(), body)

    def test_presigned_response_override_is_signed_and_applied(self):
        b = self.new_bucket()
        self.s3.put_object(Bucket=b, Key='k', Body=b'abc')
        url = self.v2_client().generate_presigned_url(
            'get_object', Params={'Bucket': b, 'Key': 'k',
                                  'ResponseContentType': 'image/jpeg'},
            ExpiresIn=120)
        with urllib.request.urlopen(url) as r:
            self.assertEqual(r.read(), b'abc')
            self.assertEqual(r.headers['Content-Type'], 'image/jpeg')

    def test_expired_presigned_url_is_access_denied(self):
        b = self.new_bucket()
        self.s3.put_object(Bucket=b, Key='k', Body=b'abc')
        url = self.v2_client().generate_presigned_url(
            'get_object', Params={'Bucket': b, 'Key': 'k'}, ExpiresIn=1)
        time.sleep(2.5)
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen(url)
        self.assertEqual(cm.exception.code, 403)
        self.assertIn(b'<Code>AccessDenied</Code>', cm.exception.read())

    def test_tampered_presigned_url_is_signature_does_not_match(self):
        b = self.new_bucket()
        self.s3.put_object(Bucket=b, Key='k', Body=b'abc')
        self.s3.put_object(Bucket=b, Key='other', Body=b'xyz')
        url = self.v2_client().generate_presigned_url(
            'get_object', Params={'Bucket': b, 'Key': 'k'}, ExpiresIn=120)
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen(url.replace('/k?', '/other?'))
        self.assertEqual(cm.exception.code, 403)
        self.assertIn(b'<Code>SignatureDoesNotMatch</Code>',
                      cm.exception.read())

    def test_header_auth_put_get_head_delete(self):
        b = self.new_bucket()
        c = self.v2_client(signature_version='s3')
        body = os.urandom(300000)
        c.put_object(Bucket=b, Key='v2/obj', Body=body,
                     Metadata={'camera': 'gate-17'})
        r = c.get_object(Bucket=b, Key='v2/obj')
        self.assertEqual(r['Body'].read(), body)
        self.assertEqual(r['Metadata'], {'camera': 'gate-17'})
        self.assertEqual(c.head_object(Bucket=b, Key='v2/obj')
                         ['ContentLength'], len(body))
        c.delete_object(Bucket=b, Key='v2/obj')
        self.assertS3Error('404', 404, c.head_object, Bucket=b, Key='v2/obj')

    def test_header_auth_wrong_secret_is_signature_does_not_match(self):
        b = self.new_bucket()
        self.s3.put_object(Bucket=b, Key='k', Body=b'abc')
        c = self.v2_client(secret='not-the-secret', signature_version='s3')
        self.assertS3Error('SignatureDoesNotMatch', 403, c.get_object,
                           Bucket=b, Key='k')


if __name__ == '__main__':
    H.main()
