#!/usr/bin/python3
"""bench/evworkers.py - N consumer-group workers for bench/events.sh.

    evworkers.py BROKER GROUP N OUT [--expect COUNT] [--timeout S]

Starts N worker processes that join GROUP at the broker (ZeroMQ DEALER,
the protocol of events/events.h), ACK every event at once, and record for
each event the delay from its commit (roadstore.timeNs) to its receipt.
Prints "READY" once every worker was welcomed; stops when COUNT distinct
events were received (or after S seconds without one) and writes to OUT
one JSON object: events, distinct, duplicates, first/last receipt times,
and the delays' p50/p90/p99/max in milliseconds, plus per-worker counts.
"""
import json
import multiprocessing as mp
import sys
import time

import zmq


def worker(broker, group, idx, q, res, ready):
    ctx = zmq.Context()
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.connect(broker)
    s.send_multipart([b'HELLO', group.encode(), b'', b'64'])
    while True:
        f = s.recv_multipart()
        if f[0] == b'WELCOME':
            break
    ready.release()
    seen, delays, last_ping = [], [], time.time()
    first = last = None
    while True:
        if s.poll(500):
            f = s.recv_multipart()
            if f[0] == b'EVENT':
                now = time.time_ns()
                seq = int(f[1])
                rec = json.loads(f[4])['Records'][0]
                delays.append((now - rec['roadstore']['timeNs']) / 1e6)
                seen.append(seq)
                first = first or now
                last = now
                s.send_multipart([b'ACK', f[1]])
            elif f[0] == b'STOP':
                break
        if time.time() - last_ping >= 1:
            s.send_multipart([b'PING'])
            last_ping = time.time()
        try:
            if q.get_nowait() == 'stop':
                break
        except Exception:
            pass
    s.send_multipart([b'BYE'])
    res.put(('done', idx, seen, delays, first, last))


def pct(v, p):
    if not v:
        return None
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p))]


def main():
    broker, group, n, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), \
        sys.argv[4]
    expect = int(sys.argv[sys.argv.index('--expect') + 1]) \
        if '--expect' in sys.argv else None
    timeout = float(sys.argv[sys.argv.index('--timeout') + 1]) \
        if '--timeout' in sys.argv else 10
    ctl = [mp.Queue() for _ in range(n)]
    res = mp.Queue()
    ready = mp.Semaphore(0)
    procs = [mp.Process(target=worker,
                        args=(broker, group, i, ctl[i], res, ready))
             for i in range(n)]
    for p in procs:
        p.start()
    for _ in range(n):
        ready.acquire()
    print('READY', flush=True)
    # wait for the expected count (read from a file the caller fills), or
    # for silence
    while True:
        time.sleep(0.5)
        try:
            with open(out + '.expect') as f:
                expect = int(f.read().strip())
        except (OSError, ValueError):
            pass
        if expect is not None:
            break
    # the workers stop once they are done: ask them after the deadline
    deadline = time.time() + 120
    time.sleep(1)
    for q in ctl:
        q.put('stop')
    results = [res.get(timeout=deadline - time.time()) for _ in range(n)]
    for p in procs:
        p.join()
    seqs, delays, firsts, lasts, per = [], [], [], [], []
    for _tag, _i, seen, d, first, last in results:
        seqs += seen
        delays += d
        per.append(len(seen))
        if first:
            firsts.append(first)
            lasts.append(last)
    doc = {
        'events': len(seqs), 'distinct': len(set(seqs)),
        'duplicates': len(seqs) - len(set(seqs)), 'expected': expect,
        'per_worker': per,
        'first_ns': min(firsts) if firsts else None,
        'last_ns': max(lasts) if lasts else None,
        'delay_ms': {'p50': pct(delays, 0.5), 'p90': pct(delays, 0.9),
                     'p99': pct(delays, 0.99),
                     'max': max(delays) if delays else None},
    }
    with open(out, 'w') as f:
        json.dump(doc, f)
    print(json.dumps(doc), flush=True)


if __name__ == '__main__':
    main()
