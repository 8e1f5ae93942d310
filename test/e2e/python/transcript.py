"""
What Python applications do with memcached, through Debian's pymemcache and pylibmc (libmemcached),
printed one line per operation: `client: operation -> result or exception class`. The test runs it
against memcached and against moxi.ts and compares the transcripts, so every line must come out the
same from any memcached-compatible server: no cas values, versions or stats contents, and keys under
a prefix of their own (printed as <P>).

usage: transcript.py PORT CLIENT   (CLIENT: pymemcache | pylibmc-text | pylibmc-binary)
"""
import os
import sys
import threading
import zlib

HOST = '127.0.0.1'
PORT = int(sys.argv[1])
CLIENT = sys.argv[2]
PREFIX = 'py:%s:%s:' % (CLIENT, os.urandom(4).hex())
BIG = 1024 * 1024 + 1


def shown(value):
    if isinstance(value, bytes):
        value = value.decode('latin1')
    if isinstance(value, str):
        value = value.replace(PREFIX, '<P>')
        return repr(value) if len(value) <= 60 else '<%d bytes, %08x>' % (len(value), hash_of(value))
    if isinstance(value, dict):
        text = '{' + ', '.join('%s: %s' % (shown(k), shown(value[k])) for k in sorted(value)) + '}'
        return text if len(value) <= 8 else '<%d items, %08x>' % (len(value), hash_of(text))
    if isinstance(value, (list, tuple)):
        return '[' + ', '.join(shown(v) for v in value) + ']'
    return repr(value)


def hash_of(text):
    # zlib's crc32 is stable across runs (str hashes are salted)
    return zlib.crc32(text.encode('latin1', 'replace'))


def step(name, fn, *args, **kwargs):
    try:
        result = shown(fn(*args, **kwargs))
    except Exception as e:  # the exception's class is what an application branches on
        result = 'raises %s' % type(e).__name__
    print('%s -> %s' % (name.replace(PREFIX, '<P>'), result), flush=True)


def k(name):
    return PREFIX + name


def pymemcache_run():
    from pymemcache.client.base import Client, PooledClient
    from pymemcache.client.hash import HashClient

    c = Client((HOST, PORT), default_noreply=False, timeout=5, connect_timeout=5)
    common(c, 'get_many', 'set_many', 'delete_many')
    cas_steps(c)
    step('cas of a missing key', c.cas, k('missing'), b'x', b'1')
    step('gets_many', lambda: sorted(c.gets_many([k('c'), k('n'), k('missing')])))
    step('set noreply then get', lambda: (c.set(k('nr'), b'q', noreply=True), c.get(k('nr')))[1])
    step('key of 250 bytes', c.set, PREFIX + 'x' * (250 - len(PREFIX)), b'long')
    step('key of 251 bytes', c.set, PREFIX + 'x' * (251 - len(PREFIX)), b'long')
    step('key with a space', c.get, k('a b'))
    step('stats answers', lambda: b'pid' in c.stats())
    c.close()

    h = HashClient([(HOST, PORT)], default_noreply=False, timeout=5)
    step('hash client set', h.set, k('h'), b'via hash')
    step('hash client get', h.get, k('h'))

    pooled = PooledClient((HOST, PORT), max_pool_size=8, default_noreply=False, timeout=5)
    threaded(lambda key, value: pooled.set(key, value), lambda key: pooled.get(key))


def pylibmc_run(binary):
    import pylibmc

    c = pylibmc.Client(['%s:%d' % (HOST, PORT)], binary=binary, behaviors={'tcp_nodelay': True, 'cas': True})
    common(c, 'get_multi', 'set_multi', 'delete_multi')
    cas_steps(c)
    step('key of 250 bytes', c.set, PREFIX + 'x' * (250 - len(PREFIX)), b'long')
    step('stats answers', lambda: any('pid' in s[1] for s in c.get_stats()))
    pool = pylibmc.ThreadMappedPool(c)

    def with_client(fn):
        with pool.reserve() as mc:
            return fn(mc)

    threaded(lambda key, value: with_client(lambda mc: mc.set(key, value)),
             lambda key: with_client(lambda mc: mc.get(key)))
    pool.relinquish()


def common(c, get_many, set_many, delete_many):
    step('get of a missing key', c.get, k('missing'))
    step('set', c.set, k('a'), b'alpha')
    step('get', c.get, k('a'))
    step('add of an existing key', c.add, k('a'), b'x')
    step('add', c.add, k('b'), b'beta')
    step('replace of a missing key', c.replace, k('missing'), b'x')
    step('replace', c.replace, k('b'), b'BETA')
    step('append', c.append, k('b'), b'>')
    step('prepend', c.prepend, k('b'), b'<')
    step('append to a missing key', c.append, k('missing'), b'x')
    step('get after append and prepend', c.get, k('b'))
    step('empty value', lambda: (c.set(k('empty'), b''), c.get(k('empty')))[1])
    step('set a number', c.set, k('n'), b'10')
    step('incr', c.incr, k('n'), 5)
    step('decr below zero', c.decr, k('n'), 100)
    # (a large delta: memcached reads stored values of 2^63 and more inconsistently)
    step('incr past 2^64 wraps', lambda: (c.set(k('w'), b'10'), c.incr(k('w'), 18446744073709551610))[1])
    step('decr leaves the value padded', lambda: (c.set(k('p'), b'100'), c.decr(k('p'), 95), c.get(k('p')))[2])
    step('incr of a missing key', c.incr, k('missing'), 1)
    step('incr of a non-numeric value', lambda: (c.set(k('word'), b'abc'), c.incr(k('word'), 1))[1])
    step('decr of a non-numeric value', c.decr, k('word'), 1)
    step('touch', c.touch, k('a'), 100)
    step('touch of a missing key', c.touch, k('missing'), 100)
    step('delete', c.delete, k('a'))
    step('delete of a missing key', c.delete, k('a'))
    step('get after delete', c.get, k('a'))
    many = {k('m%d' % i): ('value %d' % i).encode() * (i % 7 + 1) for i in range(300)}
    step('set 300 keys at once', lambda: getattr(c, set_many)(many) or [])
    step('get 300 keys and 2 misses', lambda: getattr(c, get_many)(list(many) + [k('missing'), k('gone')]))
    step('delete 150 keys at once', getattr(c, delete_many), list(many)[:150])
    step('get them again', lambda: len(getattr(c, get_many)(list(many))))
    for size in (100 * 1024, 500 * 1024, 1024 * 1024 - 512):
        value = os.urandom(size // 2).hex().encode()[:size]
        step('set %d bytes' % size, c.set, k('large'), value)
        step('get %d bytes back whole' % size, lambda: c.get(k('large')) == value)
    step('set a value too large (%d bytes)' % BIG, c.set, k('too-large'), b'x' * BIG)
    step('get it', c.get, k('too-large'))
    step('the connection still works', c.get, k('b'))


def cas_steps(c):
    c.set(k('c'), b'first')
    step('gets', lambda: c.gets(k('c'))[0])
    token = c.gets(k('c'))[1]
    step('cas with the current token', c.cas, k('c'), b'second', token)
    step('cas with a stale token', c.cas, k('c'), b'third', token)
    step('get after cas', c.get, k('c'))


def threaded(set_fn, get_fn):
    """8 threads sharing the client's pool, each writing and reading back its own keys."""
    wrong = []

    def worker(t):
        for i in range(60):
            key, value = k('t%d:%d' % (t, i)), ('thread %d value %d' % (t, i)).encode()
            set_fn(key, value)
            got = get_fn(key)
            if got != value:
                wrong.append((key, got))

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    step('8 threads x 60 set+get, values that came back wrong', lambda: len(wrong))


if CLIENT == 'pymemcache':
    pymemcache_run()
elif CLIENT in ('pylibmc-text', 'pylibmc-binary'):
    pylibmc_run(CLIENT == 'pylibmc-binary')
else:
    sys.exit('unknown client %s' % CLIENT)
