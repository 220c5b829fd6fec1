// roadstore integration test: @aws-sdk/client-s3 (latest, default
// checksums on) and @aws-sdk/lib-storage against a running server.
// Environment: RS_ENDPOINT, RS_ACCESS_KEY, RS_SECRET_KEY, RS_BUCKET.
// Exits 0 when every check passed, 1 on the first failure.
import {
  S3Client, CreateBucketCommand, PutObjectCommand, GetObjectCommand,
  HeadObjectCommand, CreateMultipartUploadCommand, UploadPartCommand,
  CompleteMultipartUploadCommand, ListPartsCommand, ListObjectsV2Command,
  DeleteObjectCommand, AbortMultipartUploadCommand,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { Readable } from 'node:stream';

const pkg = (name) => JSON.parse(fs.readFileSync(
  new URL(`./node_modules/${name}/package.json`, import.meta.url))).version;
console.log(`node ${process.version}, @aws-sdk/client-s3 ${pkg('@aws-sdk/client-s3')}, ` +
            `@aws-sdk/lib-storage ${pkg('@aws-sdk/lib-storage')}`);

const MiB = 1024 * 1024;
const Bucket = process.env.RS_BUCKET || 'rs-node-sdk';
const s3 = new S3Client({
  endpoint: process.env.RS_ENDPOINT,
  region: 'us-east-1',
  forcePathStyle: true,
  maxAttempts: 1,
  credentials: {
    accessKeyId: process.env.RS_ACCESS_KEY,
    secretAccessKey: process.env.RS_SECRET_KEY,
  },
});

let checks = 0;
function check(cond, what) {
  if (!cond) throw new Error('check failed: ' + what);
  checks++;
}
const sha = (b) => crypto.createHash('sha256').update(b).digest('hex');
const md5 = (b) => crypto.createHash('md5').update(b).digest('hex');
const md5raw = (b) => crypto.createHash('md5').update(b).digest();
const rand = (n) => crypto.randomBytes(n);

async function getBytes(Key, extra = {}) {
  const r = await s3.send(new GetObjectCommand({ Bucket, Key, ...extra }));
  return { body: Buffer.from(await r.Body.transformToByteArray()), r };
}

async function step(name, fn) {
  const t = Date.now();
  try {
    await fn();
  } catch (e) {
    console.error(`FAIL ${name}: ${e.name || ''} ${e.message}`);
    if (e.$metadata) console.error('  $metadata', JSON.stringify(e.$metadata));
    if (e.$response) console.error('  status', e.$response.statusCode);
    console.error(e.stack);
    process.exit(1);
  }
  console.log(`ok   ${name} (${Date.now() - t} ms)`);
}

await step('CreateBucket', async () => {
  await s3.send(new CreateBucketCommand({ Bucket }));
});

await step('PutObject Buffer + GetObject byte compare', async () => {
  const data = rand(MiB + 13);
  const p = await s3.send(new PutObjectCommand({ Bucket, Key: 'buf.bin', Body: data }));
  check(p.ETag === `"${md5(data)}"`, `ETag ${p.ETag} is the MD5`);
  const { body, r } = await getBytes('buf.bin');
  check(body.length === data.length, 'length');
  check(sha(body) === sha(data), 'content');
  check(r.ETag === p.ETag, 'GET ETag');
});

await step('PutObject string + HeadObject', async () => {
  await s3.send(new PutObjectCommand({
    Bucket, Key: 'dir/hello ü.txt', Body: 'hello, roadstore',
    ContentType: 'text/plain; charset=utf-8', Metadata: { camera: 'front-door' },
  }));
  const h = await s3.send(new HeadObjectCommand({ Bucket, Key: 'dir/hello ü.txt' }));
  check(h.ContentLength === 16, 'ContentLength');
  check(h.ContentType === 'text/plain; charset=utf-8', 'ContentType');
  check(h.Metadata.camera === 'front-door', 'metadata');
  const { body } = await getBytes('dir/hello ü.txt');
  check(body.toString() === 'hello, roadstore', 'content');
});

await step('PutObject stream body (aws-chunked) + GetObject', async () => {
  const chunks = [rand(700000), rand(MiB), rand(1234567)];
  const data = Buffer.concat(chunks);
  await s3.send(new PutObjectCommand({
    Bucket, Key: 'stream.bin', Body: Readable.from(chunks), ContentLength: data.length,
  }));
  const { body } = await getBytes('stream.bin');
  check(sha(body) === sha(data), 'streamed content');
});

await step('PutObject with explicit SHA256 checksum', async () => {
  const data = rand(100000);
  await s3.send(new PutObjectCommand({
    Bucket, Key: 'sha256.bin', Body: data, ChecksumAlgorithm: 'SHA256',
  }));
  const { body } = await getBytes('sha256.bin');
  check(sha(body) === sha(data), 'content');
});

await step('GetObject Range', async () => {
  const { body: whole } = await getBytes('buf.bin');
  const { body, r } = await getBytes('buf.bin', { Range: 'bytes=100-199' });
  check(body.equals(whole.subarray(100, 200)), 'range bytes');
  check(r.ContentRange === `bytes 100-199/${whole.length}`, 'Content-Range ' + r.ContentRange);
});

await step('multipart: Create/UploadPart/ListParts/Complete', async () => {
  const Key = 'multipart/video.mp4';
  const parts = [rand(5 * MiB), rand(5 * MiB + 1), rand(MiB / 2)];
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({
    Bucket, Key, ContentType: 'video/mp4',
  }));
  check(UploadId, 'UploadId');
  const done = [];
  for (let i = 0; i < parts.length; i++) {
    const r = await s3.send(new UploadPartCommand({
      Bucket, Key, UploadId, PartNumber: i + 1, Body: parts[i],
    }));
    check(r.ETag === `"${md5(parts[i])}"`, `part ${i + 1} ETag`);
    const p = { PartNumber: i + 1, ETag: r.ETag };
    for (const c of ['ChecksumCRC32', 'ChecksumCRC32C', 'ChecksumSHA1', 'ChecksumSHA256',
                     'ChecksumCRC64NVME']) {
      if (r[c]) p[c] = r[c];
    }
    done.push(p);
  }
  const lp = await s3.send(new ListPartsCommand({ Bucket, Key, UploadId }));
  check(lp.Parts.length === 3, 'ListParts count');
  check(lp.Parts.map((p) => p.Size).join() === parts.map((p) => p.length).join(), 'part sizes');
  const c = await s3.send(new CompleteMultipartUploadCommand({
    Bucket, Key, UploadId, MultipartUpload: { Parts: done },
  }));
  const want = `"${md5(Buffer.concat(parts.map(md5raw)))}-3"`;
  check(c.ETag === want, `multipart ETag ${c.ETag} want ${want}`);
  const { body, r } = await getBytes(Key);
  check(sha(body) === sha(Buffer.concat(parts)), 'multipart content');
  check(r.ContentType === 'video/mp4', 'ContentType');
});

await step('multipart: Abort', async () => {
  const Key = 'multipart/aborted';
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key }));
  await s3.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: 1, Body: rand(1000) }));
  await s3.send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId }));
  let code = null;
  try {
    await s3.send(new ListPartsCommand({ Bucket, Key, UploadId }));
  } catch (e) {
    code = e.name;
  }
  check(code === 'NoSuchUpload', 'ListParts after abort: ' + code);
});

await step('lib-storage Upload (multipart, 2 parts in flight)', async () => {
  const data = rand(13 * MiB + 7);
  const up = new Upload({
    client: s3, params: { Bucket, Key: 'lib-storage.bin', Body: data },
    partSize: 5 * MiB, queueSize: 2,
  });
  const r = await up.done();
  check(/-3"$/.test(r.ETag), 'multipart ETag ' + r.ETag);
  const { body } = await getBytes('lib-storage.bin');
  check(sha(body) === sha(data), 'content');
});

await step('lib-storage Upload of a stream of unknown length', async () => {
  const chunks = [];
  for (let i = 0; i < 12; i++) chunks.push(rand(MiB));
  const data = Buffer.concat(chunks);
  const up = new Upload({
    client: s3, params: { Bucket, Key: 'lib-storage-stream.bin', Body: Readable.from(chunks) },
    partSize: 5 * MiB,
  });
  await up.done();
  const { body } = await getBytes('lib-storage-stream.bin');
  check(sha(body) === sha(data), 'content');
});

await step('ListObjectsV2 + DeleteObject', async () => {
  const l = await s3.send(new ListObjectsV2Command({ Bucket }));
  const keys = (l.Contents || []).map((o) => o.Key);
  for (const k of ['buf.bin', 'dir/hello ü.txt', 'stream.bin', 'multipart/video.mp4',
                   'lib-storage.bin']) {
    check(keys.includes(k), 'listed ' + k);
  }
  check(!keys.includes('multipart/aborted'), 'aborted upload not listed');
  await s3.send(new DeleteObjectCommand({ Bucket, Key: 'buf.bin' }));
  let code = null;
  try {
    await s3.send(new GetObjectCommand({ Bucket, Key: 'buf.bin' }));
  } catch (e) {
    code = e.name;
  }
  check(code === 'NoSuchKey', 'GET after delete: ' + code);
});

console.log(`node sdk: ${checks} checks passed`);
