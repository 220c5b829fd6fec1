/*
 * rsbench: S3 load generator for roadstore (and, with --plain, for any
 * HTTP server serving the same bytes as files, such as nginx).
 *
 * One process, one libcurl multi handle, N transfers in flight, each on its
 * own easy handle so connections stay alive and are reused. Requests are
 * signed with AWS Signature V4 in the Authorization header, computed here
 * with OpenSSL (no dependency on roadstore's own code). Object bodies come
 * from a seeded pseudo-random pattern, generated while streaming, so a PUT
 * of 32 x 128 MiB does not hold 4 GiB in the client and a GET can verify
 * every byte it receives (--verify).
 *
 *   rsbench put|get|mixed [options]      run a load
 *   rsbench append [options]             appends (PUT ?append&position=N)
 *                                        to --objects K objects, one in
 *                                        flight per object, each object's
 *                                        appends in order
 *   rsbench genfiles --dir DIR [options] write the same objects as files
 *   rsbench fsyncfiles --dir DIR [options]
 *                                        the disk's own rate for durable
 *                                        small objects: N threads, each
 *                                        creating one file per object,
 *                                        write + fdatasync + fsync(dir)
 *   rsbench --selftest                   check SigV4 against AWS examples
 *
 * Every run ends with one human line and one machine line
 * ("RSBENCH key=value ..."); any non-2xx answer is an error, printed once
 * per status.
 */
#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

/* Pattern period: a prime, so no power-of-two stripe or block size lines
 * up with it and a block returned from the wrong offset is caught. */
#define PAT_LEN 1048573u
#define KEY_MAX 1100
#define MAX_ERRKINDS 64

enum mode {
	MODE_PUT, MODE_GET, MODE_MIXED, MODE_GENFILES, MODE_FSYNCFILES,
	MODE_APPEND,
};
enum op { OP_PUT = 0, OP_GET = 1, OP_COUNT };
static const char *const op_names[OP_COUNT] = { "put", "get" };

struct opts {
	enum mode mode;
	const char *endpoint;
	const char *bucket;
	const char *prefix;
	const char *access_key;
	const char *secret_key;
	const char *region;
	const char *dir; /* genfiles */
	uint64_t size;
	int concurrency;
	uint64_t count;    /* 0 = use duration */
	double duration;   /* seconds */
	uint64_t objects;  /* key space for get/mixed */
	uint64_t start;    /* first key index (keys are prefix + start + i) */
	int fanout;        /* fsyncfiles: directories the files spread over */
	uint64_t seed;
	int read_pct;      /* mixed */
	bool random_order;
	bool verify;
	bool plain;
	bool signed_payload;
	int expect;        /* -1 curl default, 0 off, 1 always */
	long timeout;      /* seconds per request, 0 none */
	bool no_create;
	bool quiet;
	bool conc_set;     /* --concurrency given */
	const char *lat_log; /* append: one line per append */
	uint64_t max_appends; /* append: an object is done after this many */
};

struct err_kind {
	int is_http; /* 1: HTTP status, 0: CURLcode, 2: verify,
		      * 3: wrong x-amz-next-append-position */
	long code;
	uint64_t n;
};

struct slot {
	CURL *easy;
	struct curl_slist *hdrs;
	enum op op;
	bool busy;
	uint64_t idx;
	uint64_t base;  /* offset of the object's first byte in the pattern */
	uint64_t off;   /* object offset of the body's first byte (append) */
	uint64_t len;   /* body length: sent (put, append) or expected (get) */
	uint64_t pos;   /* bytes sent (put) or received (get) */
	int64_t next_pos; /* x-amz-next-append-position of the answer, or -1 */
	bool mismatch;
	double t0;
	char key[KEY_MAX];
	char url[KEY_MAX * 3 + 1024];
	char errbody[512];
	size_t errlen;
	char curlerr[CURL_ERROR_SIZE];
};

struct lat { uint64_t us; uint8_t op; };

static struct opts o;
static uint8_t *g_pat; /* 2 * PAT_LEN bytes: the second half repeats the first */
static char g_host[256];
static char g_base_url[512];
static struct lat *g_lat;
static size_t g_nlat, g_caplat;
static struct err_kind g_errs[MAX_ERRKINDS];
static size_t g_nerrs;
static uint64_t g_ok[OP_COUNT], g_err[OP_COUNT], g_bytes[OP_COUNT];
static uint64_t g_verify_fail;
static uint64_t g_rng;
/* append: per object, its length (the next position) and the appends
 * acknowledged so far; the --lat-log file */
static uint64_t *g_app_len, *g_app_n;
static FILE *g_latlog;

/* ---------------------------------------------------------------- util */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t fnv1a64(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (; *s; s++) {
		h ^= (uint8_t)*s;
		h *= 0x100000001b3ULL;
	}
	return h;
}

static void die(const char *fmt, const char *arg)
{
	fprintf(stderr, "rsbench: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	exit(2);
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n);
	if (!p)
		die("%s", "out of memory");
	return p;
}

/* "4K", "64KiB", "1M", "128M", "2G", "1000": binary multiples. */
static uint64_t parse_size(const char *s)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || v < 0)
		die("bad size '%s'", s);
	uint64_t mul = 1;
	switch (toupper((unsigned char)*end)) {
	case 0: break;
	case 'K': mul = 1ULL << 10; break;
	case 'M': mul = 1ULL << 20; break;
	case 'G': mul = 1ULL << 30; break;
	case 'T': mul = 1ULL << 40; break;
	default: die("bad size suffix in '%s'", s);
	}
	return (uint64_t)(v * (double)mul);
}

static void hex(char *out, const uint8_t *in, size_t n)
{
	static const char d[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[in[i] >> 4];
		out[2 * i + 1] = d[in[i] & 15];
	}
	out[2 * n] = 0;
}

/* ------------------------------------------------------------- crypto */

static void sha256(uint8_t out[32], const void *data, size_t len)
{
	unsigned int n = 32;
	if (!EVP_Digest(data, len, out, &n, EVP_sha256(), NULL))
		die("%s", "EVP_Digest failed");
}

static void hmac256(uint8_t out[32], const void *key, size_t klen,
		    const void *msg, size_t mlen)
{
	unsigned int n = 32;
	if (!HMAC(EVP_sha256(), key, (int)klen, msg, mlen, out, &n))
		die("%s", "HMAC failed");
}

/* ---------------------------------------------------------------- sigv4 */

struct hdr { const char *name; const char *value; };

/* S3 URI encoding: unreserved characters stay, '/' stays when keep_slash. */
static void uri_encode(char *out, size_t cap, const char *in, bool keep_slash)
{
	static const char d[] = "0123456789ABCDEF";
	size_t j = 0;
	for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
		if (j + 4 >= cap)
			break;
		if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' ||
		    *p == '~' || (keep_slash && *p == '/')) {
			out[j++] = (char)*p;
		} else {
			out[j++] = '%';
			out[j++] = d[*p >> 4];
			out[j++] = d[*p & 15];
		}
	}
	out[j] = 0;
}

/*
 * Authorization header value for one request. uri is the already-encoded
 * canonical URI, query the canonical query string (sorted, encoded; "" if
 * none), headers sorted by lowercase name with trimmed values.
 */
static void sigv4_authorization(char *out, size_t cap, const char *method,
				const char *uri, const char *query,
				const struct hdr *h, size_t nh,
				const char *payload_hash, const char *amzdate,
				const char *region, const char *ak,
				const char *sk)
{
	char creq[8192], signed_hdrs[1024] = "", sts[1024], scope[128];
	size_t n = 0;
	n += (size_t)snprintf(creq + n, sizeof creq - n, "%s\n%s\n%s\n",
			      method, uri, query);
	for (size_t i = 0; i < nh; i++) {
		n += (size_t)snprintf(creq + n, sizeof creq - n, "%s:%s\n",
				      h[i].name, h[i].value);
		if (i)
			strcat(signed_hdrs, ";");
		strcat(signed_hdrs, h[i].name);
	}
	n += (size_t)snprintf(creq + n, sizeof creq - n, "\n%s\n%s",
			      signed_hdrs, payload_hash);
	if (n >= sizeof creq)
		die("%s", "canonical request too long");

	uint8_t dig[32];
	char dighex[65];
	sha256(dig, creq, n);
	hex(dighex, dig, 32);

	char date[9];
	memcpy(date, amzdate, 8);
	date[8] = 0;
	snprintf(scope, sizeof scope, "%s/%s/s3/aws4_request", date, region);
	snprintf(sts, sizeof sts, "AWS4-HMAC-SHA256\n%s\n%s\n%s", amzdate,
		 scope, dighex);

	char k0[256];
	uint8_t k[32];
	snprintf(k0, sizeof k0, "AWS4%s", sk);
	hmac256(k, k0, strlen(k0), date, 8);
	hmac256(k, k, 32, region, strlen(region));
	hmac256(k, k, 32, "s3", 2);
	hmac256(k, k, 32, "aws4_request", 12);
	uint8_t sig[32];
	char sighex[65];
	hmac256(sig, k, 32, sts, strlen(sts));
	hex(sighex, sig, 32);

	snprintf(out, cap,
		 "AWS4-HMAC-SHA256 Credential=%s/%s,SignedHeaders=%s,"
		 "Signature=%s",
		 ak, scope, signed_hdrs, sighex);
}

/* -------------------------------------------------------------- pattern */

static void pattern_init(uint64_t seed)
{
	g_pat = xmalloc(2 * (size_t)PAT_LEN + 8);
	uint64_t st = seed;
	for (size_t i = 0; i < PAT_LEN; i += 8) {
		uint64_t v = splitmix64(&st);
		memcpy(g_pat + i, &v, 8);
	}
	memcpy(g_pat + PAT_LEN, g_pat, PAT_LEN);
}

static uint64_t object_base(const char *key)
{
	uint64_t st = fnv1a64(key) ^ (o.seed * 0x9e3779b97f4a7c15ULL);
	return splitmix64(&st) % PAT_LEN;
}

/* Copy object bytes [off, off+len) into dst. */
static void pattern_fill(uint8_t *dst, uint64_t base, uint64_t off, size_t len)
{
	while (len) {
		size_t at = (size_t)((base + off) % PAT_LEN);
		size_t n = len < PAT_LEN ? len : PAT_LEN;
		memcpy(dst, g_pat + at, n);
		dst += n;
		off += n;
		len -= n;
	}
}

static bool pattern_check(const uint8_t *src, uint64_t base, uint64_t off,
			  size_t len)
{
	while (len) {
		size_t at = (size_t)((base + off) % PAT_LEN);
		size_t n = len < PAT_LEN ? len : PAT_LEN;
		if (memcmp(src, g_pat + at, n))
			return false;
		src += n;
		off += n;
		len -= n;
	}
	return true;
}

static void make_key(char *out, size_t cap, uint64_t idx)
{
	snprintf(out, cap, "%s%08" PRIu64, o.prefix, o.start + idx);
}

/* SHA-256 of an object's bytes [from, from+size), streamed through the
 * pattern. */
static void object_sha256(char out[65], uint64_t base, uint64_t from,
			  uint64_t size)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	EVP_DigestInit_ex(c, EVP_sha256(), NULL);
	size += from;
	for (uint64_t off = from; off < size;) {
		size_t at = (size_t)((base + off) % PAT_LEN);
		uint64_t n = size - off;
		if (n > PAT_LEN)
			n = PAT_LEN;
		EVP_DigestUpdate(c, g_pat + at, (size_t)n);
		off += n;
	}
	uint8_t d[32];
	unsigned int dl = 32;
	EVP_DigestFinal_ex(c, d, &dl);
	EVP_MD_CTX_free(c);
	hex(out, d, 32);
}

static const char *sig_of(const char *auth)
{
	const char *p = strstr(auth, "Signature=");
	return p ? p + 10 : "";
}

static int selftest(void)
{
	int fails = 0;
	const char *ak = "AKIAIOSFODNN7EXAMPLE";
	const char *sk = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
	const char *empty =
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
	char auth[1024], h[65];
	uint8_t d[32];

	/* SHA-256 of the empty string. */
	sha256(d, "", 0);
	hex(h, d, 32);
	fails += strcmp(h, empty) != 0;
	printf("%s sha256(\"\")\n", strcmp(h, empty) ? "FAIL" : "ok  ");

	/* AWS S3 SigV4 documentation, "Example: GET Object". */
	struct hdr g[] = {
		{ "host", "examplebucket.s3.amazonaws.com" },
		{ "range", "bytes=0-9" },
		{ "x-amz-content-sha256", empty },
		{ "x-amz-date", "20130524T000000Z" },
	};
	sigv4_authorization(auth, sizeof auth, "GET", "/test.txt", "", g, 4,
			    empty, "20130524T000000Z", "us-east-1", ak, sk);
	const char *want_get =
		"f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";
	bool ok = strcmp(sig_of(auth), want_get) == 0;
	fails += !ok;
	printf("%s sigv4 GET /test.txt Range: bytes=0-9 -> %s\n",
	       ok ? "ok  " : "FAIL", sig_of(auth));
	const char *want_auth =
		"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/"
		"us-east-1/s3/aws4_request,SignedHeaders=host;range;"
		"x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd"
		"35b5d6ed310bd44f0170aba48dd91039c6036bdb41";
	ok = strcmp(auth, want_auth) == 0;
	fails += !ok;
	printf("%s full Authorization header\n", ok ? "ok  " : "FAIL");

	/* AWS S3 SigV4 documentation, "Example: PUT Object" (signed payload,
	 * '$' in the key, an extra signed header). */
	const char *body = "Welcome to Amazon S3.";
	sha256(d, body, strlen(body));
	hex(h, d, 32);
	const char *want_ph =
		"44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072";
	ok = strcmp(h, want_ph) == 0;
	fails += !ok;
	printf("%s sha256(\"%s\")\n", ok ? "ok  " : "FAIL", body);
	char uri[64];
	uri_encode(uri, sizeof uri, "/test$file.text", true);
	ok = strcmp(uri, "/test%24file.text") == 0;
	fails += !ok;
	printf("%s uri_encode -> %s\n", ok ? "ok  " : "FAIL", uri);
	struct hdr p[] = {
		{ "date", "Fri, 24 May 2013 00:00:00 GMT" },
		{ "host", "examplebucket.s3.amazonaws.com" },
		{ "x-amz-content-sha256", h },
		{ "x-amz-date", "20130524T000000Z" },
		{ "x-amz-storage-class", "REDUCED_REDUNDANCY" },
	};
	sigv4_authorization(auth, sizeof auth, "PUT", uri, "", p, 5, h,
			    "20130524T000000Z", "us-east-1", ak, sk);
	const char *want_put =
		"98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd";
	ok = strcmp(sig_of(auth), want_put) == 0;
	fails += !ok;
	printf("%s sigv4 PUT /test$file.text signed payload -> %s\n",
	       ok ? "ok  " : "FAIL", sig_of(auth));

	/* Body pattern: what is filled is what verifies, across the period. */
	pattern_init(1);
	size_t bl = 3 * (size_t)PAT_LEN + 77;
	uint8_t *b = xmalloc(bl);
	uint64_t base = object_base("rsbench/00000042");
	pattern_fill(b, base, 5, bl);
	ok = pattern_check(b, base, 5, bl) && !pattern_check(b, base, 6, bl);
	fails += !ok;
	printf("%s body pattern fill/verify\n", ok ? "ok  " : "FAIL");
	free(b);

	printf("%s\n", fails ? "SELFTEST FAILED" : "SELFTEST PASSED");
	return fails ? 1 : 0;
}

/* ------------------------------------------------------------- results */

static void record_latency(enum op op, double secs)
{
	if (g_nlat == g_caplat) {
		g_caplat = g_caplat ? g_caplat * 2 : 65536;
		g_lat = realloc(g_lat, g_caplat * sizeof *g_lat);
		if (!g_lat)
			die("%s", "out of memory");
	}
	g_lat[g_nlat].us = (uint64_t)(secs * 1e6);
	g_lat[g_nlat].op = (uint8_t)op;
	g_nlat++;
}

/* Count an error; true the first time this kind is seen. */
static bool record_error(int is_http, long code)
{
	for (size_t i = 0; i < g_nerrs; i++) {
		if (g_errs[i].is_http == is_http && g_errs[i].code == code) {
			g_errs[i].n++;
			return false;
		}
	}
	if (g_nerrs < MAX_ERRKINDS) {
		g_errs[g_nerrs].is_http = is_http;
		g_errs[g_nerrs].code = code;
		g_errs[g_nerrs].n = 1;
		g_nerrs++;
	}
	return true;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array, in milliseconds. */
static double pct_ms(const uint64_t *v, size_t n, double p)
{
	if (!n)
		return 0;
	size_t r = (size_t)ceil(p * (double)n);
	if (r < 1)
		r = 1;
	return (double)v[r - 1] / 1000.0;
}

static const char *mode_name(void)
{
	return o.mode == MODE_PUT	? "put"
	       : o.mode == MODE_APPEND	? "append"
	       : o.mode == MODE_GET	? "get"
	       : o.mode == MODE_FSYNCFILES ? "fsyncfiles"
				       : "mixed";
}

static void size_label(char *out, size_t cap, uint64_t sz)
{
	if (sz >= (1ULL << 30) && sz % (1ULL << 30) == 0)
		snprintf(out, cap, "%" PRIu64 "GiB", sz >> 30);
	else if (sz >= (1ULL << 20) && sz % (1ULL << 20) == 0)
		snprintf(out, cap, "%" PRIu64 "MiB", sz >> 20);
	else if (sz >= 1024 && sz % 1024 == 0)
		snprintf(out, cap, "%" PRIu64 "KiB", sz >> 10);
	else
		snprintf(out, cap, "%" PRIu64 "B", sz);
}

/* One human line and one machine line per op kind (and a total for mixed). */
static void report(double secs)
{
	uint64_t *v = xmalloc((g_nlat + 1) * sizeof *v);
	char sl[32];
	size_label(sl, sizeof sl, o.size);
	int first = o.mode == MODE_MIXED ? -1
		    : (o.mode == MODE_PUT || o.mode == MODE_FSYNCFILES ||
		       o.mode == MODE_APPEND) ? 0
					      : 1;
	int last = o.mode == MODE_MIXED ? 1 : first;
	for (int which = first; which <= last; which++) {
		size_t n = 0;
		uint64_t ok = 0, err = 0, bytes = 0;
		for (size_t i = 0; i < g_nlat; i++)
			if (which < 0 || g_lat[i].op == which)
				v[n++] = g_lat[i].us;
		for (int k = 0; k < OP_COUNT; k++) {
			if (which < 0 || which == k) {
				ok += g_ok[k];
				err += g_err[k];
				bytes += g_bytes[k];
			}
		}
		qsort(v, n, sizeof *v, cmp_u64);
		double ops = secs > 0 ? (double)ok / secs : 0;
		double mib = secs > 0 ? (double)bytes / secs / 1048576.0 : 0;
		double p50 = pct_ms(v, n, 0.50), p99 = pct_ms(v, n, 0.99);
		double mx = n ? (double)v[n - 1] / 1000.0 : 0;
		const char *opn = which < 0 ? "all"
				  : o.mode == MODE_APPEND ? "append"
							  : op_names[which];
		uint64_t vf = which == OP_PUT ? 0 : g_verify_fail;
		printf("%-5s %-4s %s size=%s conc=%d ok=%" PRIu64 " err=%" PRIu64
		       " verify_fail=%" PRIu64 " time=%.2fs  %.1f ops/s  "
		       "%.2f MiB/s  p50=%.2fms p99=%.2fms max=%.2fms\n",
		       mode_name(), opn,
		       o.mode == MODE_FSYNCFILES ? "none"
		       : o.plain		 ? "plain"
						 : "sigv4",
		       sl,
		       o.concurrency, ok, err, vf, secs, ops, mib, p50, p99, mx);
		printf("RSBENCH mode=%s op=%s auth=%s size=%" PRIu64 " conc=%d "
		       "ok=%" PRIu64 " err=%" PRIu64 " verify_fail=%" PRIu64
		       " verify=%d secs=%.3f ops_s=%.2f mib_s=%.3f p50_ms=%.3f "
		       "p99_ms=%.3f max_ms=%.3f\n",
		       mode_name(), opn,
		       o.mode == MODE_FSYNCFILES ? "none"
		       : o.plain		 ? "plain"
						 : "sigv4",
		       o.size,
		       o.concurrency, ok, err, vf, o.verify ? 1 : 0,
		       secs, ops, mib, p50, p99, mx);
	}
	for (size_t i = 0; i < g_nerrs; i++) {
		if (g_errs[i].is_http == 1)
			printf("RSBENCH_ERR http=%ld n=%" PRIu64 "\n",
			       g_errs[i].code, g_errs[i].n);
		else if (g_errs[i].is_http == 0)
			printf("RSBENCH_ERR curl=%ld (%s) n=%" PRIu64 "\n",
			       g_errs[i].code,
			       curl_easy_strerror((CURLcode)g_errs[i].code),
			       g_errs[i].n);
		else if (g_errs[i].is_http == 2)
			printf("RSBENCH_ERR verify n=%" PRIu64 "\n", g_errs[i].n);
		else
			printf("RSBENCH_ERR next_position n=%" PRIu64 "\n",
			       g_errs[i].n);
	}
	free(v);
}

/* ------------------------------------------------------------ transfers */

static size_t read_cb(char *buf, size_t sz, size_t nmemb, void *arg)
{
	struct slot *s = arg;
	uint64_t left = s->len - s->pos;
	size_t n = sz * nmemb;
	if (n > left)
		n = (size_t)left;
	pattern_fill((uint8_t *)buf, s->base, s->off + s->pos, n);
	s->pos += n;
	return n;
}

static int seek_cb(void *arg, curl_off_t off, int origin)
{
	struct slot *s = arg;
	if (origin != SEEK_SET || off < 0 || (uint64_t)off > s->len)
		return CURL_SEEKFUNC_CANTSEEK;
	s->pos = (uint64_t)off;
	return CURL_SEEKFUNC_OK;
}

static size_t write_cb(char *buf, size_t sz, size_t nmemb, void *arg)
{
	struct slot *s = arg;
	size_t n = sz * nmemb;
	long code = 0;
	curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &code);
	if (code < 200 || code > 299 || s->op == OP_PUT) {
		size_t room = sizeof s->errbody - 1 - s->errlen;
		size_t c = n < room ? n : room;
		memcpy(s->errbody + s->errlen, buf, c);
		s->errlen += c;
		s->errbody[s->errlen] = 0;
		return n;
	}
	if (o.verify && !s->mismatch) {
		if (s->pos + n > s->len ||
		    !pattern_check((const uint8_t *)buf, s->base, s->pos, n))
			s->mismatch = true;
	}
	s->pos += n;
	return n;
}

/* append: the new length (200) or the current one (409) the server
 * answers in x-amz-next-append-position. */
static size_t header_cb(char *buf, size_t sz, size_t nmemb, void *arg)
{
	struct slot *s = arg;
	size_t n = sz * nmemb;
	static const char name[] = "x-amz-next-append-position:";
	size_t nl = sizeof name - 1;
	if (n > nl && !strncasecmp(buf, name, nl)) {
		char v[32];
		size_t vl = n - nl < sizeof v - 1 ? n - nl : sizeof v - 1;
		memcpy(v, buf + nl, vl);
		v[vl] = 0;
		char *end;
		errno = 0;
		unsigned long long x = strtoull(v, &end, 10);
		if (!errno && end != v && x <= INT64_MAX)
			s->next_pos = (int64_t)x;
	}
	return n;
}

static void amz_now(char out[17])
{
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

/* Build headers (and signature) for method on path (encoded), query the
 * canonical query string ("" if none). */
static struct curl_slist *make_headers(const char *method, const char *path,
				       const char *query,
				       const char *payload_hash)
{
	struct curl_slist *l = NULL;
	char line[2048];
	snprintf(line, sizeof line, "Host: %s", g_host);
	l = curl_slist_append(l, line);
	if (o.expect == 0)
		l = curl_slist_append(l, "Expect:");
	else if (o.expect == 1)
		l = curl_slist_append(l, "Expect: 100-continue");
	if (o.plain)
		return l;
	char date[17], auth[1024];
	amz_now(date);
	struct hdr h[] = {
		{ "host", g_host },
		{ "x-amz-content-sha256", payload_hash },
		{ "x-amz-date", date },
	};
	sigv4_authorization(auth, sizeof auth, method, path, query, h, 3,
			    payload_hash, date, o.region, o.access_key,
			    o.secret_key);
	snprintf(line, sizeof line, "x-amz-content-sha256: %s", payload_hash);
	l = curl_slist_append(l, line);
	snprintf(line, sizeof line, "x-amz-date: %s", date);
	l = curl_slist_append(l, line);
	snprintf(line, sizeof line, "Authorization: %s", auth);
	l = curl_slist_append(l, line);
	return l;
}

static const char *const UNSIGNED = "UNSIGNED-PAYLOAD";
static const char *const EMPTY_SHA =
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/* Prepare s's easy handle for op on object idx.  append mode: a PUT is
 * the append of o.size bytes at the object's length (g_app_len), and a
 * GET (the read-back of --verify) expects the whole object. */
static void slot_setup(struct slot *s, enum op op, uint64_t idx)
{
	char path[KEY_MAX * 3 + 300], raw[KEY_MAX + 300], query[64] = "";
	bool append = o.mode == MODE_APPEND;
	s->op = op;
	s->idx = idx;
	s->pos = 0;
	s->off = append && op == OP_PUT ? g_app_len[idx] : 0;
	s->len = append && op == OP_GET ? g_app_len[idx] : o.size;
	s->next_pos = -1;
	s->mismatch = false;
	s->errlen = 0;
	s->errbody[0] = 0;
	s->curlerr[0] = 0;
	make_key(s->key, sizeof s->key, idx);
	s->base = object_base(s->key);
	snprintf(raw, sizeof raw, "/%s/%s", o.bucket, s->key);
	uri_encode(path, sizeof path, raw, true);
	if (append && op == OP_PUT) {
		/* canonical form of ?append&position=N: sorted, "append=" */
		snprintf(query, sizeof query, "append=&position=%" PRIu64,
			 s->off);
		snprintf(s->url, sizeof s->url, "%s%s?append&position=%" PRIu64,
			 g_base_url, path, s->off);
	} else {
		snprintf(s->url, sizeof s->url, "%s%s", g_base_url, path);
	}

	CURL *e = s->easy;
	curl_easy_reset(e);
	curl_easy_setopt(e, CURLOPT_URL, s->url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, s);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->curlerr);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, s);
	if (append) {
		curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
		curl_easy_setopt(e, CURLOPT_HEADERDATA, s);
	}
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 256L * 1024);
	if (o.timeout)
		curl_easy_setopt(e, CURLOPT_TIMEOUT, o.timeout);

	char ph[65];
	const char *payload = UNSIGNED;
	if (op == OP_PUT) {
		if (o.signed_payload) {
			object_sha256(ph, s->base, s->off, s->len);
			payload = ph;
		}
		curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(e, CURLOPT_READFUNCTION, read_cb);
		curl_easy_setopt(e, CURLOPT_READDATA, s);
		curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, seek_cb);
		curl_easy_setopt(e, CURLOPT_SEEKDATA, s);
		curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE,
				 (curl_off_t)s->len);
		curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE, 256L * 1024);
	} else if (o.signed_payload) {
		payload = EMPTY_SHA;
	}
	curl_slist_free_all(s->hdrs);
	s->hdrs = make_headers(op == OP_PUT ? "PUT" : "GET", path, query,
			       payload);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, s->hdrs);
}

static void slot_start(struct slot *s, enum op op, uint64_t idx, CURLM *multi)
{
	slot_setup(s, op, idx);
	s->busy = true;
	s->t0 = now_s();
	curl_multi_add_handle(multi, s->easy);
}

static void slot_done(struct slot *s, CURLcode res, CURLM *multi)
{
	double t = now_s() - s->t0;
	long code = 0;
	curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &code);
	curl_multi_remove_handle(multi, s->easy);
	s->busy = false;
	const char *m = o.mode == MODE_APPEND ? "append" : op_names[s->op];
	bool append = o.mode == MODE_APPEND && s->op == OP_PUT;

	/* append: a 409 (or any answer with the header) tells the object's
	 * length; continue from there */
	if (append && (res != CURLE_OK || code < 200 || code > 299) &&
	    s->next_pos >= 0) {
		g_app_len[s->idx] = (uint64_t)s->next_pos;
		g_app_n[s->idx] = (uint64_t)s->next_pos / (o.size ? o.size : 1);
	}
	if (res != CURLE_OK) {
		g_err[s->op]++;
		if (record_error(0, res))
			fprintf(stderr, "rsbench: %s %s: curl error %d: %s\n", m,
				s->url, res,
				s->curlerr[0] ? s->curlerr
					      : curl_easy_strerror(res));
		return;
	}
	if (code < 200 || code > 299) {
		g_err[s->op]++;
		if (record_error(1, code)) {
			for (char *q = s->errbody; *q; q++)
				if (*q == '\n' || *q == '\r')
					*q = ' ';
			fprintf(stderr, "rsbench: %s %s: HTTP %ld: %.400s\n", m,
				s->url, code, s->errbody);
		}
		return;
	}
	if (append && s->next_pos != (int64_t)(s->off + s->len)) {
		g_err[s->op]++;
		if (record_error(3, 0))
			fprintf(stderr,
				"rsbench: append %s: HTTP %ld but "
				"x-amz-next-append-position %" PRId64
				" (expected %" PRIu64 ")\n",
				s->url, code, s->next_pos, s->off + s->len);
		g_app_len[s->idx] = s->next_pos >= 0 ? (uint64_t)s->next_pos
						     : s->off + s->len;
		g_app_n[s->idx]++;
		return;
	}
	if (s->op == OP_GET && o.verify &&
	    (s->mismatch || s->pos != o.size)) {
		g_err[s->op]++;
		g_verify_fail++;
		if (record_error(2, 0))
			fprintf(stderr,
				"rsbench: get %s: WRONG DATA (%s, got %" PRIu64
				" of %" PRIu64 " bytes)\n",
				s->url,
				s->mismatch ? "content differs" : "length differs",
				s->pos, o.size);
		return;
	}
	g_ok[s->op]++;
	g_bytes[s->op] += o.size;
	record_latency(s->op, t);
	if (append) {
		g_app_len[s->idx] = s->off + s->len;
		g_app_n[s->idx]++;
		if (g_latlog)
			fprintf(g_latlog, "%" PRIu64 " %" PRIu64 "\n",
				g_app_n[s->idx], (uint64_t)(t * 1e6));
	}
}

/*
 * append --verify: GET every object once the appends are done and check
 * its length (the sum of the acknowledged appends, as the last
 * x-amz-next-append-position said) and every byte.  Not timed, and done
 * after the report (flushed), so a caller reading the output sees the
 * timed part end at the RSBENCH line; the result is its own line
 * "RSBENCH_VERIFY objects=K bytes=B wrong=W", and W > 0 makes the exit
 * status 1.
 */
static void append_readback(void)
{
	struct slot s;
	memset(&s, 0, sizeof s);
	s.easy = curl_easy_init();
	if (!s.easy)
		die("%s", "curl_easy_init failed");
	uint64_t bytes = 0, bad = 0, nobj = 0;
	for (uint64_t i = 0; i < o.objects; i++) {
		if (!g_app_n[i])
			continue;
		nobj++;
		slot_setup(&s, OP_GET, i);
		CURLcode rc = curl_easy_perform(s.easy);
		long code = 0;
		curl_easy_getinfo(s.easy, CURLINFO_RESPONSE_CODE, &code);
		if (rc == CURLE_OK && code >= 200 && code <= 299 &&
		    !s.mismatch && s.pos == s.len) {
			bytes += s.pos;
			continue;
		}
		bad++;
		g_verify_fail++;
		record_error(2, 0);
		fprintf(stderr,
			"rsbench: append --verify %s: %s (HTTP %ld, %s, got %" PRIu64
			" of %" PRIu64 " bytes)\n",
			s.url, rc == CURLE_OK ? "WRONG DATA" : "failed", code,
			rc != CURLE_OK	? curl_easy_strerror(rc)
			: s.mismatch	? "content differs"
					: "length differs",
			s.pos, s.len);
	}
	curl_easy_cleanup(s.easy);
	curl_slist_free_all(s.hdrs);
	printf("append verify: %" PRIu64 " objects read back, %" PRIu64
	       " bytes checked, %" PRIu64 " wrong\n",
	       nobj, bytes, bad);
	printf("RSBENCH_VERIFY objects=%" PRIu64 " bytes=%" PRIu64
	       " wrong=%" PRIu64 "\n",
	       nobj, bytes, bad);
}

static uint64_t rng_below(uint64_t n)
{
	return n ? splitmix64(&g_rng) % n : 0;
}

static int run_load(void)
{
	CURLM *multi = curl_multi_init();
	curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long)o.concurrency + 4);
	struct slot *slots = calloc((size_t)o.concurrency, sizeof *slots);
	if (!slots)
		die("%s", "out of memory");
	for (int i = 0; i < o.concurrency; i++) {
		slots[i].easy = curl_easy_init();
		if (!slots[i].easy)
			die("%s", "curl_easy_init failed");
	}

	uint64_t issued = 0, next_seq = 0;
	int running = 0, inflight = 0;
	double t_start = now_s(), t_end = t_start, deadline = t_start + o.duration;
	bool stop = false;

	for (;;) {
		/* Fill free slots with new requests. */
		if (!stop) {
			if (o.count && issued >= o.count)
				stop = true;
			if (!o.count && now_s() >= deadline)
				stop = true;
		}
		if (!stop && o.mode == MODE_APPEND && o.max_appends) {
			/* every object has all its appends: done */
			uint64_t full = 0;
			for (uint64_t k = 0; k < o.objects; k++)
				full += g_app_n[k] >= o.max_appends;
			if (full == o.objects)
				stop = true;
		}
		for (int i = 0; i < o.concurrency && !stop; i++) {
			if (slots[i].busy)
				continue;
			if (o.mode == MODE_APPEND && o.max_appends &&
			    g_app_n[i] >= o.max_appends)
				continue;
			enum op op;
			uint64_t idx;
			if (o.mode == MODE_PUT) {
				op = OP_PUT;
				idx = next_seq++;
			} else if (o.mode == MODE_APPEND) {
				/* slot i appends to object i, one at a time */
				op = OP_PUT;
				idx = (uint64_t)i;
			} else {
				op = OP_GET;
				if (o.mode == MODE_MIXED &&
				    (int)rng_below(100) >= o.read_pct)
					op = OP_PUT;
				if (o.random_order)
					idx = rng_below(o.objects);
				else
					idx = next_seq++ % o.objects;
			}
			slot_start(&slots[i], op, idx, multi);
			issued++;
			inflight++;
			if (o.count && issued >= o.count)
				stop = true;
		}
		if (stop && inflight == 0)
			break;

		curl_multi_perform(multi, &running);
		CURLMsg *msg;
		int left;
		while ((msg = curl_multi_info_read(multi, &left))) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			struct slot *s;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
					  (char **)&s);
			slot_done(s, msg->data.result, multi);
			inflight--;
			t_end = now_s();
		}
		if (inflight > 0 && running > 0)
			curl_multi_poll(multi, NULL, 0, 100, NULL);
	}
	double secs = t_end - t_start;

	for (int i = 0; i < o.concurrency; i++) {
		curl_easy_cleanup(slots[i].easy);
		curl_slist_free_all(slots[i].hdrs);
	}
	free(slots);
	curl_multi_cleanup(multi);

	report(secs);
	fflush(stdout);
	if (o.mode == MODE_APPEND && o.verify) {
		append_readback();
		fflush(stdout);
	}
	return (g_err[OP_PUT] + g_err[OP_GET] + g_verify_fail) ? 1 : 0;
}

/* PUT /bucket; 200 or BucketAlreadyOwnedByYou is fine. */
static int create_bucket(void)
{
	struct slot s;
	memset(&s, 0, sizeof s);
	s.easy = curl_easy_init();
	s.op = OP_PUT;
	char path[600], raw[600];
	snprintf(raw, sizeof raw, "/%s", o.bucket);
	uri_encode(path, sizeof path, raw, true);
	snprintf(s.url, sizeof s.url, "%s%s", g_base_url, path);
	curl_easy_setopt(s.easy, CURLOPT_URL, s.url);
	curl_easy_setopt(s.easy, CURLOPT_CUSTOMREQUEST, "PUT");
	curl_easy_setopt(s.easy, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(s.easy, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(s.easy, CURLOPT_ERRORBUFFER, s.curlerr);
	struct curl_slist *h = make_headers("PUT", path, "",
					    o.signed_payload ? EMPTY_SHA
							     : UNSIGNED);
	curl_easy_setopt(s.easy, CURLOPT_HTTPHEADER, h);
	CURLcode rc = curl_easy_perform(s.easy);
	long code = 0;
	curl_easy_getinfo(s.easy, CURLINFO_RESPONSE_CODE, &code);
	curl_slist_free_all(h);
	curl_easy_cleanup(s.easy);
	if (rc != CURLE_OK) {
		fprintf(stderr, "rsbench: create bucket %s: %s\n", s.url,
			s.curlerr[0] ? s.curlerr : curl_easy_strerror(rc));
		return -1;
	}
	if ((code >= 200 && code <= 299) ||
	    (code == 409 && strstr(s.errbody, "BucketAlreadyOwnedByYou")))
		return 0;
	fprintf(stderr, "rsbench: create bucket %s: HTTP %ld: %.400s\n", s.url,
		code, s.errbody);
	return -1;
}

/* ------------------------------------------------------------- genfiles */

static int mkdirs(const char *path)
{
	char tmp[4096];
	snprintf(tmp, sizeof tmp, "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(tmp, 0755) && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return 0;
}

static int genfiles(void)
{
	size_t bufsz = 1 << 20;
	uint8_t *buf = xmalloc(bufsz);
	uint64_t n = o.count ? o.count : o.objects;
	for (uint64_t i = 0; i < n; i++) {
		char key[KEY_MAX], path[4096];
		make_key(key, sizeof key, i);
		snprintf(path, sizeof path, "%s/%s/%s", o.dir, o.bucket, key);
		if (mkdirs(path))
			die("mkdir for %s failed", path);
		FILE *f = fopen(path, "wb");
		if (!f)
			die("cannot create %s", path);
		uint64_t base = object_base(key);
		for (uint64_t off = 0; off < o.size;) {
			size_t c = o.size - off < bufsz ? (size_t)(o.size - off)
							: bufsz;
			pattern_fill(buf, base, off, c);
			if (fwrite(buf, 1, c, f) != c)
				die("write %s failed", path);
			off += c;
		}
		if (fclose(f))
			die("close %s failed", path);
	}
	free(buf);
	printf("genfiles: %" PRIu64 " files of %" PRIu64 " bytes under %s/%s/%s\n",
	       n, o.size, o.dir, o.bucket, o.prefix);
	return 0;
}

/* ----------------------------------------------------------- fsyncfiles */

/*
 * The disk's own rate for durable small objects, one file per object, as
 * roadstore's striped path stores them (bk_local.c: create the container
 * file, write it, fdatasync it, fsync its directory): o.concurrency
 * threads, each creating files DIR/NN/<key> (NN one of o.fanout
 * directories made and synced beforehand), each file written from the
 * body pattern, fdatasync'ed, closed, then its directory fsync'ed.  No
 * rename: the striped path creates the container under its final name.
 */
struct fsync_thread {
	pthread_t tid;
	int no;
	uint64_t ok, err;
	struct lat *lat;
	size_t nlat, caplat;
	int first_errno;
};

static uint64_t g_fs_next;     /* next object index, atomically taken */
static double g_fs_deadline;
static int *g_fs_dirfd;

static void *fsync_worker(void *arg)
{
	struct fsync_thread *t = arg;
	uint8_t *buf = xmalloc(o.size ? (size_t)o.size : 1);
	for (;;) {
		uint64_t idx = __atomic_fetch_add(&g_fs_next, 1, __ATOMIC_RELAXED);
		if (o.count ? idx >= o.count : now_s() >= g_fs_deadline)
			break;
		char key[KEY_MAX], path[4096], name[KEY_MAX];
		make_key(key, sizeof key, idx);
		/* one file name component: '/' in the key becomes '_' */
		snprintf(name, sizeof name, "%s", key);
		for (char *q = name; *q; q++)
			if (*q == '/')
				*q = '_';
		int d = (int)(fnv1a64(key) % (uint64_t)o.fanout);
		snprintf(path, sizeof path, "%s/%02x/%s", o.dir, d, name);
		pattern_fill(buf, object_base(key), 0, (size_t)o.size);
		double t0 = now_s();
		int e = 0;
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
			      0644);
		if (fd < 0) {
			e = errno;
		} else {
			size_t done = 0;
			while (done < o.size) {
				ssize_t w = write(fd, buf + done,
						  (size_t)o.size - done);
				if (w < 0 && errno == EINTR)
					continue;
				if (w <= 0) {
					e = w < 0 ? errno : EIO;
					break;
				}
				done += (size_t)w;
			}
			if (!e && fdatasync(fd) != 0)
				e = errno;
			if (close(fd) != 0 && !e)
				e = errno;
			if (!e && fsync(g_fs_dirfd[d]) != 0)
				e = errno;
		}
		double dt = now_s() - t0;
		if (e) {
			t->err++;
			if (!t->first_errno)
				t->first_errno = e;
			continue;
		}
		t->ok++;
		if (t->nlat == t->caplat) {
			t->caplat = t->caplat ? t->caplat * 2 : 4096;
			t->lat = realloc(t->lat, t->caplat * sizeof *t->lat);
			if (!t->lat)
				die("%s", "out of memory");
		}
		t->lat[t->nlat].us = (uint64_t)(dt * 1e6);
		t->lat[t->nlat].op = OP_PUT;
		t->nlat++;
	}
	free(buf);
	return NULL;
}

static int fsyncfiles(void)
{
	if (o.fanout < 1 || o.fanout > 256)
		die("%s", "--fanout must be 1..256");
	char p[4096];
	snprintf(p, sizeof p, "%s/x", o.dir);
	if (mkdirs(p))
		die("cannot create %s", o.dir);
	g_fs_dirfd = xmalloc((size_t)o.fanout * sizeof *g_fs_dirfd);
	for (int i = 0; i < o.fanout; i++) {
		snprintf(p, sizeof p, "%s/%02x", o.dir, i);
		if (mkdir(p, 0755) && errno != EEXIST)
			die("cannot create %s", p);
		g_fs_dirfd[i] = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (g_fs_dirfd[i] < 0 || fsync(g_fs_dirfd[i]))
			die("cannot open/fsync %s", p);
	}
	int top = open(o.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (top < 0 || fsync(top))
		die("cannot open/fsync %s", o.dir);
	close(top);

	struct fsync_thread *th = calloc((size_t)o.concurrency, sizeof *th);
	if (!th)
		die("%s", "out of memory");
	double t_start = now_s();
	g_fs_deadline = t_start + o.duration;
	for (int i = 0; i < o.concurrency; i++) {
		th[i].no = i;
		if (pthread_create(&th[i].tid, NULL, fsync_worker, &th[i]))
			die("%s", "pthread_create failed");
	}
	for (int i = 0; i < o.concurrency; i++)
		pthread_join(th[i].tid, NULL);
	double secs = now_s() - t_start;
	for (int i = 0; i < o.concurrency; i++) {
		g_ok[OP_PUT] += th[i].ok;
		g_err[OP_PUT] += th[i].err;
		g_bytes[OP_PUT] += th[i].ok * o.size;
		for (size_t j = 0; j < th[i].nlat; j++)
			record_latency(OP_PUT, (double)th[i].lat[j].us / 1e6);
		if (th[i].first_errno) {
			if (record_error(0, th[i].first_errno))
				fprintf(stderr, "rsbench: fsyncfiles: %s\n",
					strerror(th[i].first_errno));
		}
		free(th[i].lat);
	}
	free(th);
	for (int i = 0; i < o.fanout; i++)
		close(g_fs_dirfd[i]);
	free(g_fs_dirfd);
	report(secs);
	return g_err[OP_PUT] ? 1 : 0;
}

/* ----------------------------------------------------------------- main */

static void usage(FILE *f)
{
	fprintf(f,
"usage: rsbench put|get|mixed [options]\n"
"       rsbench append [--objects K --size S --duration S|--count N\n"
"                      --lat-log F --max-appends N --verify]\n"
"       rsbench genfiles --dir DIR [--bucket B --prefix P --size S --count N]\n"
"       rsbench fsyncfiles --dir DIR [--size S --concurrency N --duration S|--count N --fanout D]\n"
"       rsbench --selftest\n"
"options:\n"
"  --endpoint URL        http://127.0.0.1:9000 (default)\n"
"  --bucket NAME         bucket (created unless --no-create or --plain)\n"
"  --prefix P            key prefix (default rsbench/); keys are P%%08d\n"
"  --size S              object size: 4K, 64K, 1M, 128M ... (default 4K)\n"
"  --concurrency N       transfers in flight (default 1; append: must equal\n"
"                        --objects, and is set to it when not given)\n"
"  --count N             number of operations (append: in all, not per object)\n"
"  --duration SECS       run for SECS instead of --count (default 10)\n"
"  --objects N           key space for get/mixed (default --count);\n"
"                        append: objects appended to (default 1)\n"
"  --start N             first key index: keys are P%%08d of N, N+1, ... (default 0)\n"
"  --random | --seq      get key order (default random)\n"
"  --read-pct P          mixed: percentage of GETs (default 50)\n"
"  --verify              GET: check every byte and the length; append: after\n"
"                        the report GET every object, check its length and\n"
"                        bytes (line RSBENCH_VERIFY objects= bytes= wrong=)\n"
"  --seed N              body pattern seed (default 1)\n"
"  --access-key K        default $ROADSTORE_ACCESS_KEY\n"
"  --secret-key S        default $ROADSTORE_SECRET_KEY\n"
"  --region R            default us-east-1\n"
"  --signed-payload      send the SHA-256 of the body (default UNSIGNED-PAYLOAD)\n"
"  --plain               no signing (GET against nginx and the like)\n"
"  --expect | --no-expect  force or suppress Expect: 100-continue\n"
"  --timeout SECS        per-request timeout (default none)\n"
"  --no-create           do not create the bucket\n"
"  --dir DIR             genfiles: root directory (files at DIR/BUCKET/KEY);\n"
"                        fsyncfiles: files at DIR/NN/KEY ('/' in KEY as '_')\n"
"  --fanout D            fsyncfiles: number of directories NN (default 256)\n"
"  --lat-log FILE        append: one line per acknowledged append, \"<append\n"
"                        number within its object, from 1> <latency us>\"\n"
"  --max-appends N       append: an object with N acknowledged appends takes no\n"
"                        more (roadstore's [append] max_appends); the run ends\n"
"                        when all objects have N (default 0: no limit)\n"
"append: PUT /BUCKET/KEY?append&position=N of --size bytes to each of the\n"
"  --objects keys P%%08d (new or empty keys), one append in flight per object,\n"
"  N = the object's length so far (a 409 resynchronises N from\n"
"  x-amz-next-append-position); the body is the object's pattern at its\n"
"  offset, so the whole object reads back as a put of its length would;\n"
"  an answer whose x-amz-next-append-position is not N + size is an error\n");
}

int main(int argc, char **argv)
{
	enum {
		O_ENDPOINT = 256, O_BUCKET, O_PREFIX, O_SIZE, O_CONC, O_COUNT,
		O_DURATION, O_OBJECTS, O_RANDOM, O_SEQ, O_READPCT, O_VERIFY,
		O_SEED, O_AK, O_SK, O_REGION, O_SIGNED, O_PLAIN, O_EXPECT,
		O_NOEXPECT, O_TIMEOUT, O_NOCREATE, O_DIR, O_SELFTEST, O_HELP,
		O_START, O_FANOUT, O_LATLOG, O_MAXAPP,
	};
	static const struct option lo[] = {
		{ "endpoint", 1, 0, O_ENDPOINT }, { "bucket", 1, 0, O_BUCKET },
		{ "prefix", 1, 0, O_PREFIX }, { "size", 1, 0, O_SIZE },
		{ "concurrency", 1, 0, O_CONC }, { "count", 1, 0, O_COUNT },
		{ "duration", 1, 0, O_DURATION }, { "objects", 1, 0, O_OBJECTS },
		{ "random", 0, 0, O_RANDOM }, { "seq", 0, 0, O_SEQ },
		{ "read-pct", 1, 0, O_READPCT }, { "verify", 0, 0, O_VERIFY },
		{ "seed", 1, 0, O_SEED }, { "access-key", 1, 0, O_AK },
		{ "secret-key", 1, 0, O_SK }, { "region", 1, 0, O_REGION },
		{ "signed-payload", 0, 0, O_SIGNED }, { "plain", 0, 0, O_PLAIN },
		{ "expect", 0, 0, O_EXPECT }, { "no-expect", 0, 0, O_NOEXPECT },
		{ "timeout", 1, 0, O_TIMEOUT }, { "no-create", 0, 0, O_NOCREATE },
		{ "dir", 1, 0, O_DIR }, { "selftest", 0, 0, O_SELFTEST },
		{ "help", 0, 0, O_HELP }, { "start", 1, 0, O_START },
		{ "fanout", 1, 0, O_FANOUT }, { "lat-log", 1, 0, O_LATLOG },
		{ "max-appends", 1, 0, O_MAXAPP }, { 0, 0, 0, 0 },
	};
	o.endpoint = "http://127.0.0.1:9000";
	o.bucket = "rsbench";
	o.prefix = "rsbench/";
	o.region = "us-east-1";
	o.size = 4096;
	o.concurrency = 1;
	o.duration = 10;
	o.seed = 1;
	o.read_pct = 50;
	o.fanout = 256;
	o.random_order = true;
	o.expect = -1;
	o.access_key = getenv("ROADSTORE_ACCESS_KEY");
	o.secret_key = getenv("ROADSTORE_SECRET_KEY");

	int c;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case O_ENDPOINT: o.endpoint = optarg; break;
		case O_BUCKET: o.bucket = optarg; break;
		case O_PREFIX: o.prefix = optarg; break;
		case O_SIZE: o.size = parse_size(optarg); break;
		case O_CONC:
			o.concurrency = atoi(optarg);
			o.conc_set = true;
			break;
		case O_COUNT: o.count = strtoull(optarg, NULL, 10); break;
		case O_DURATION: o.duration = atof(optarg); break;
		case O_OBJECTS: o.objects = strtoull(optarg, NULL, 10); break;
		case O_RANDOM: o.random_order = true; break;
		case O_SEQ: o.random_order = false; break;
		case O_READPCT: o.read_pct = atoi(optarg); break;
		case O_VERIFY: o.verify = true; break;
		case O_SEED: o.seed = strtoull(optarg, NULL, 10); break;
		case O_AK: o.access_key = optarg; break;
		case O_SK: o.secret_key = optarg; break;
		case O_REGION: o.region = optarg; break;
		case O_SIGNED: o.signed_payload = true; break;
		case O_PLAIN: o.plain = true; break;
		case O_EXPECT: o.expect = 1; break;
		case O_NOEXPECT: o.expect = 0; break;
		case O_TIMEOUT: o.timeout = atol(optarg); break;
		case O_NOCREATE: o.no_create = true; break;
		case O_DIR: o.dir = optarg; break;
		case O_START: o.start = strtoull(optarg, NULL, 10); break;
		case O_FANOUT: o.fanout = atoi(optarg); break;
		case O_LATLOG: o.lat_log = optarg; break;
		case O_MAXAPP: o.max_appends = strtoull(optarg, NULL, 10); break;
		case O_SELFTEST: return selftest();
		case 'h':
		case O_HELP: usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	const char *m = argv[optind];
	if (!strcmp(m, "put"))
		o.mode = MODE_PUT;
	else if (!strcmp(m, "get"))
		o.mode = MODE_GET;
	else if (!strcmp(m, "mixed"))
		o.mode = MODE_MIXED;
	else if (!strcmp(m, "genfiles"))
		o.mode = MODE_GENFILES;
	else if (!strcmp(m, "fsyncfiles"))
		o.mode = MODE_FSYNCFILES;
	else if (!strcmp(m, "append"))
		o.mode = MODE_APPEND;
	else if (!strcmp(m, "selftest"))
		return selftest();
	else
		die("unknown mode '%s'", m);

	if (o.mode == MODE_APPEND) {
		if (!o.objects)
			o.objects = 1;
		if (!o.conc_set)
			o.concurrency = (int)(o.objects < 4096 ? o.objects : 4096);
		if ((uint64_t)o.concurrency != o.objects)
			die("%s", "append: --concurrency must equal --objects "
				  "(one append in flight per object)");
	} else if (o.lat_log) {
		die("%s", "--lat-log is for append");
	}
	if (o.concurrency < 1 || o.concurrency > 4096)
		die("%s", "--concurrency must be 1..4096");
	if (o.read_pct < 0 || o.read_pct > 100)
		die("%s", "--read-pct must be 0..100");
	if (!o.objects)
		o.objects = o.count;
	pattern_init(o.seed);
	g_rng = o.seed ^ 0x5deece66dULL ^ (uint64_t)getpid();

	if (o.mode == MODE_GENFILES) {
		if (!o.dir || !(o.count || o.objects))
			die("%s", "genfiles needs --dir and --count");
		return genfiles();
	}
	if (o.mode == MODE_FSYNCFILES) {
		if (!o.dir)
			die("%s", "fsyncfiles needs --dir");
		return fsyncfiles();
	}
	if ((o.mode == MODE_GET || o.mode == MODE_MIXED) && !o.objects)
		die("%s", "get/mixed need --objects N (or --count N)");
	if (o.mode == MODE_APPEND) {
		g_app_len = calloc(o.objects, sizeof *g_app_len);
		g_app_n = calloc(o.objects, sizeof *g_app_n);
		if (!g_app_len || !g_app_n)
			die("%s", "out of memory");
		if (o.lat_log) {
			g_latlog = fopen(o.lat_log, "w");
			if (!g_latlog)
				die("cannot create %s", o.lat_log);
			setvbuf(g_latlog, NULL, _IOFBF, 1 << 20);
		}
	}
	if (!o.plain && (!o.access_key || !o.secret_key))
		die("%s", "no credentials: set ROADSTORE_ACCESS_KEY/"
			  "ROADSTORE_SECRET_KEY or --access-key/--secret-key "
			  "(or --plain)");

	/* Endpoint: scheme://authority[/...]; the authority is the Host. */
	const char *p = strstr(o.endpoint, "://");
	if (!p)
		die("endpoint '%s' needs a scheme", o.endpoint);
	p += 3;
	size_t hl = strcspn(p, "/");
	if (hl == 0 || hl >= sizeof g_host)
		die("bad endpoint '%s'", o.endpoint);
	memcpy(g_host, p, hl);
	g_host[hl] = 0;
	snprintf(g_base_url, sizeof g_base_url, "%.*s",
		 (int)(p - o.endpoint + (ptrdiff_t)hl), o.endpoint);

	if (curl_global_init(CURL_GLOBAL_DEFAULT))
		die("%s", "curl_global_init failed");
	if (!o.plain && !o.no_create && o.mode != MODE_GET && create_bucket())
		return 1;
	int rc = run_load();
	curl_global_cleanup();
	if (g_latlog && fclose(g_latlog)) {
		fprintf(stderr, "rsbench: writing %s failed\n", o.lat_log);
		rc = rc ? rc : 1;
	}
	return rc;
}
