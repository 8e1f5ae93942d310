/**
 * TextResponseParser against byte-exact transcripts of memcached 1.6.18 (captured from a live server),
 * plus hand-made edge cases and every error code. Every case is fed whole, byte by byte and at random
 * split points, and must give the same units each time.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chunkings } from '../../../helpers/chunking.ts';
import {
  replyText,
  TextResponseError,
  TextResponseParser,
  type TextResponse,
  type TextResponseErrorCode,
  type TextResponseParserOptions,
  type ValueResponse,
} from '../../../../src/protocol/ascii/response-parser.ts';

/** A unit reduced to the fields its kind defines, with strings where that makes failures readable. */
interface Seen {
  kind: string;
  line: string;
  bare?: true;
  data?: string | Buffer;
  key?: string;
  flags?: number;
  bytes?: number;
  cas?: bigint | null;
  number?: bigint;
  tokens?: string[];
}
type Outcome = Seen | { error: TextResponseErrorCode };

function describeUnit(u: TextResponse): Seen {
  const seen: Seen = { kind: u.kind, line: u.line.toString('latin1') };
  if (u.bareNewline) seen.bare = true;
  switch (u.kind) {
    case 'VALUE':
      seen.key = u.key.toString('latin1');
      seen.flags = u.flags;
      seen.bytes = u.bytes;
      seen.cas = u.cas;
      seen.data = u.data.length > 4096 ? u.data : u.data.toString('latin1');
      break;
    case 'VA':
      seen.bytes = u.bytes;
      seen.tokens = u.tokens.map((t) => t.toString('latin1'));
      seen.data = u.data.length > 4096 ? u.data : u.data.toString('latin1');
      break;
    case 'NUMBER':
      seen.number = u.number;
      break;
    case 'STAT':
    case 'ITEM':
    case 'HD':
    case 'NF':
    case 'NS':
    case 'EX':
    case 'EN':
    case 'MN':
    case 'ME':
      seen.tokens = u.tokens.map((t) => t.toString('latin1'));
      break;
    default:
      assert.equal(u.data, null);
  }
  return seen;
}

/** Feeds `chunks` in order, draining the parser after each one, the way a socket handler would. */
function run(chunks: readonly Buffer[], options?: TextResponseParserOptions): Outcome[] {
  const parser = new TextResponseParser(options);
  const out: Outcome[] = [];
  for (const chunk of chunks) {
    parser.push(chunk);
    for (;;) {
      const r = parser.next();
      if (r === null) break;
      if (r instanceof TextResponseError) {
        out.push({ error: r.code });
        assert.equal(parser.next(), r, 'a dead parser keeps answering its error');
        return out;
      }
      out.push(describeUnit(r));
    }
  }
  assert.equal(parser.partial, false, 'input ended in the middle of a unit');
  return out;
}

/** Every case holds with a new VALUE unit per line and with the one unit reused (what the proxy runs). */
function expectUnits(input: Buffer | string, expected: Outcome[], options?: TextResponseParserOptions): void {
  const bytes = typeof input === 'string' ? Buffer.from(input, 'latin1') : input;
  for (const reuseValueUnits of [false, true]) {
    for (const { name, chunks } of chunkings(bytes)) {
      assert.deepEqual(
        run(chunks, { ...options, reuseValueUnits }),
        expected,
        `${name}, reuse ${reuseValueUnits}`,
      );
    }
  }
}

const simple = (kind: string, line = kind): Seen => ({ kind, line });
const tokens = (kind: string, line: string): Seen => ({ kind, line, tokens: line.split(' ').slice(1) });
const value = (key: string, flags: number, data: string, cas: bigint | null = null): Seen => ({
  kind: 'VALUE',
  line: `VALUE ${key} ${flags} ${data.length}${cas === null ? '' : ` ${cas}`}`,
  key,
  flags,
  bytes: data.length,
  cas,
  data,
});
const va = (line: string, data: string): Seen => ({
  kind: 'VA',
  line,
  bytes: data.length,
  tokens: line.split(' ').slice(2),
  data,
});
const num = (n: bigint): Seen => ({ kind: 'NUMBER', line: `${n}`, number: n });
const end = simple('END');

describe('TextResponseParser: memcached 1.6.18 classic replies', () => {
  it('storage replies (set, add, replace, cas, append, prepend)', () => {
    expectUnits('STORED\r\nNOT_STORED\r\nNOT_STORED\r\nEXISTS\r\nNOT_FOUND\r\nSTORED\r\nNOT_STORED\r\n', [
      simple('STORED'),
      simple('NOT_STORED'),
      simple('NOT_STORED'),
      simple('EXISTS'),
      simple('NOT_FOUND'),
      simple('STORED'),
      simple('NOT_STORED'),
    ]);
  });

  it('get hit and miss', () => {
    expectUnits('VALUE a 5 3\r\nabc\r\nEND\r\nEND\r\n', [value('a', 5, 'abc'), end, end]);
  });

  it('gets of three keys: max flags, a zero-length value, cas, one miss', () => {
    expectUnits('VALUE z 4294967295 0 2\r\n\r\nVALUE a 5 3 1\r\nabc\r\nEND\r\n', [
      value('z', 4294967295, '', 2n),
      value('a', 5, 'abc', 1n),
      end,
    ]);
  });

  it('a value whose data holds "\\r\\n" and ends with "\\r\\n\\r\\n"', () => {
    expectUnits('VALUE crlf 0 8\r\na\r\nb\r\n\r\n\r\nEND\r\n', [value('crlf', 0, 'a\r\nb\r\n\r\n'), end]);
  });

  it('touch, gat, gats, delete', () => {
    expectUnits(
      'TOUCHED\r\nNOT_FOUND\r\nVALUE a 5 4\r\nabcx\r\nEND\r\nVALUE a 5 4 4\r\nabcx\r\nEND\r\nDELETED\r\nNOT_FOUND\r\n',
      [
        simple('TOUCHED'),
        simple('NOT_FOUND'),
        value('a', 5, 'abcx'),
        end,
        value('a', 5, 'abcx', 4n),
        end,
        simple('DELETED'),
        simple('NOT_FOUND'),
      ],
    );
  });

  it('incr/decr up to 2^64-1, wrap to 0, and the space-padded value decr leaves behind', () => {
    expectUnits(
      '18446744073709551615\r\n0\r\n0\r\nVALUE n 0 20\r\n0                   \r\nEND\r\nNOT_FOUND\r\n',
      [
        num(18446744073709551615n),
        num(0n),
        num(0n),
        value('n', 0, '0                   '),
        end,
        simple('NOT_FOUND'),
      ],
    );
  });

  it('client errors, the ERROR that follows a bad data chunk, and server errors', () => {
    expectUnits(
      'CLIENT_ERROR cannot increment or decrement non-numeric value\r\n' +
        'CLIENT_ERROR invalid numeric delta argument\r\n' +
        'CLIENT_ERROR bad data chunk\r\nERROR\r\n' +
        'CLIENT_ERROR bad command line format\r\n' +
        'CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n' +
        'SERVER_ERROR object too large for cache\r\n' +
        'ERROR\r\n',
      [
        simple('CLIENT_ERROR', 'CLIENT_ERROR cannot increment or decrement non-numeric value'),
        simple('CLIENT_ERROR', 'CLIENT_ERROR invalid numeric delta argument'),
        simple('CLIENT_ERROR', 'CLIENT_ERROR bad data chunk'),
        simple('ERROR'),
        simple('CLIENT_ERROR', 'CLIENT_ERROR bad command line format'),
        simple('CLIENT_ERROR', 'CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]'),
        simple('SERVER_ERROR', 'SERVER_ERROR object too large for cache'),
        simple('ERROR'),
      ],
    );
  });

  it('flush_all, version, verbosity, stats reset', () => {
    expectUnits('OK\r\nVERSION 1.6.18\r\nOK\r\nRESET\r\n', [
      simple('OK'),
      simple('VERSION', 'VERSION 1.6.18'),
      simple('OK'),
      simple('RESET'),
    ]);
  });

  it('"ERROR: shutdown not enabled" is an ERROR; admin replies with their own words are OTHER', () => {
    expectUnits(
      'ERROR: shutdown not enabled\r\n' +
        'MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\n' +
        'NOSPARE source class has no spare pages\r\n' +
        'PREFIX foo get 1 hit 0 set 1 del 0\r\nEND\r\n',
      [
        simple('ERROR', 'ERROR: shutdown not enabled'),
        simple('OTHER', 'MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m'),
        simple('OTHER', 'NOSPARE source class has no spare pages'),
        simple('OTHER', 'PREFIX foo get 1 hit 0 set 1 del 0'),
        end,
      ],
    );
  });

  it('lru_crawler metadump ends its lines with a bare "\\n"', () => {
    expectUnits('key=cnt exp=-1 la=1795469756 cas=16 fetch=no cls=1 size=63\nEND\r\n', [
      { kind: 'OTHER', line: 'key=cnt exp=-1 la=1795469756 cas=16 fetch=no cls=1 size=63', bare: true },
      end,
    ]);
  });

  it('stats cachedump ITEM lines', () => {
    expectUnits('ITEM cnt [1 b; 0 s]\r\nEND\r\n', [tokens('ITEM', 'ITEM cnt [1 b; 0 s]'), end]);
  });

  it('a 1 MB value (with "\\r\\n" inside) and its cas', () => {
    const data = Buffer.alloc(1048576, 0x61);
    data.write('\r\n', 1000, 'latin1');
    const input = Buffer.concat([
      Buffer.from('VALUE big 7 1048576 20\r\n'),
      data,
      Buffer.from('\r\nEND\r\n'),
    ]);
    expectUnits(input, [
      {
        kind: 'VALUE',
        line: 'VALUE big 7 1048576 20',
        key: 'big',
        flags: 7,
        bytes: 1048576,
        cas: 20n,
        data,
      },
      end,
    ]);
  });
});

// Captured from `stats`, `stats settings`, `stats items`, `stats slabs`, `stats conns` on memcached 1.6.18.
const STATS =
  'STAT pid 5546\r\nSTAT uptime 33\r\nSTAT time 1795469770\r\nSTAT version 1.6.18\r\nSTAT libevent 2.1.12-stable\r\nSTAT pointer_size 64\r\nSTAT rusage_user 0.009236\r\nSTAT rusage_system 0.012301\r\nSTAT max_connections 1024\r\nSTAT curr_connections 1\r\nSTAT total_connections 2\r\nSTAT rejected_connections 0\r\nSTAT connection_structures 2\r\nSTAT response_obj_oom 0\r\nSTAT response_obj_count 0\r\nSTAT response_obj_bytes 32768\r\nSTAT read_buf_count 6\r\nSTAT read_buf_bytes 98304\r\nSTAT read_buf_bytes_free 32768\r\nSTAT read_buf_oom 0\r\nSTAT reserved_fds 20\r\nSTAT cmd_get 7\r\nSTAT cmd_set 6\r\nSTAT cmd_flush 0\r\nSTAT cmd_touch 0\r\nSTAT cmd_meta 2\r\nSTAT get_hits 2\r\nSTAT get_misses 5\r\nSTAT get_expired 0\r\nSTAT get_flushed 0\r\nSTAT delete_misses 2\r\nSTAT delete_hits 1\r\nSTAT incr_misses 1\r\nSTAT incr_hits 1\r\nSTAT decr_misses 0\r\nSTAT decr_hits 1\r\nSTAT cas_misses 1\r\nSTAT cas_hits 0\r\nSTAT cas_badval 0\r\nSTAT touch_hits 0\r\nSTAT touch_misses 0\r\nSTAT store_too_large 2\r\nSTAT store_no_memory 0\r\nSTAT auth_cmds 0\r\nSTAT auth_errors 0\r\nSTAT bytes_read 1268\r\nSTAT bytes_written 673\r\nSTAT limit_maxbytes 67108864\r\nSTAT accepting_conns 1\r\nSTAT listen_disabled_num 0\r\nSTAT time_in_listen_disabled_us 0\r\nSTAT threads 4\r\nSTAT conn_yields 0\r\nSTAT hash_power_level 16\r\nSTAT hash_bytes 524288\r\nSTAT hash_is_expanding 0\r\nSTAT slab_reassign_rescues 0\r\nSTAT slab_reassign_chunk_rescues 0\r\nSTAT slab_reassign_evictions_nomem 0\r\nSTAT slab_reassign_inline_reclaim 0\r\nSTAT slab_reassign_busy_items 0\r\nSTAT slab_reassign_busy_deletes 0\r\nSTAT slab_reassign_running 0\r\nSTAT slabs_moved 0\r\nSTAT lru_crawler_running 0\r\nSTAT lru_crawler_starts 1\r\nSTAT lru_maintainer_juggles 69\r\nSTAT malloc_fails 0\r\nSTAT log_worker_dropped 0\r\nSTAT log_worker_written 0\r\nSTAT log_watcher_skipped 0\r\nSTAT log_watcher_sent 0\r\nSTAT log_watchers 0\r\nSTAT unexpected_napi_ids 0\r\nSTAT round_robin_fallback 0\r\nSTAT bytes 63\r\nSTAT curr_items 1\r\nSTAT total_items 3\r\nSTAT slab_global_page_pool 0\r\nSTAT expired_unfetched 0\r\nSTAT evicted_unfetched 0\r\nSTAT evicted_active 0\r\nSTAT evictions 0\r\nSTAT reclaimed 0\r\nSTAT crawler_reclaimed 0\r\nSTAT crawler_items_checked 1\r\nSTAT lrutail_reflocked 4\r\nSTAT moves_to_cold 4\r\nSTAT moves_to_warm 1\r\nSTAT moves_within_lru 0\r\nSTAT direct_reclaims 0\r\nSTAT lru_bumps_dropped 0\r\nEND\r\n';
const STATS_SETTINGS =
  'STAT maxbytes 67108864\r\nSTAT maxconns 1024\r\nSTAT tcpport 21913\r\nSTAT udpport 0\r\nSTAT inter 127.0.0.1\r\nSTAT verbosity 1\r\nSTAT oldest 75\r\nSTAT evictions on\r\nSTAT domain_socket NULL\r\nSTAT umask 700\r\nSTAT shutdown_command no\r\nSTAT growth_factor 1.25\r\nSTAT chunk_size 48\r\nSTAT num_threads 4\r\nSTAT num_threads_per_udp 4\r\nSTAT stat_key_prefix :\r\nSTAT detail_enabled yes\r\nSTAT reqs_per_event 20\r\nSTAT cas_enabled yes\r\nSTAT tcp_backlog 1024\r\nSTAT binding_protocol auto-negotiate\r\nSTAT auth_enabled_sasl no\r\nSTAT auth_enabled_ascii no\r\nSTAT item_size_max 2097152\r\nSTAT maxconns_fast yes\r\nSTAT hashpower_init 0\r\nSTAT slab_reassign yes\r\nSTAT slab_automove 1\r\nSTAT slab_automove_ratio 0.80\r\nSTAT slab_automove_window 30\r\nSTAT slab_chunk_max 524288\r\nSTAT lru_crawler yes\r\nSTAT lru_crawler_sleep 100\r\nSTAT lru_crawler_tocrawl 0\r\nSTAT tail_repair_time 0\r\nSTAT flush_enabled yes\r\nSTAT dump_enabled yes\r\nSTAT hash_algorithm murmur3\r\nSTAT lru_maintainer_thread yes\r\nSTAT lru_segmented yes\r\nSTAT hot_lru_pct 20\r\nSTAT warm_lru_pct 40\r\nSTAT hot_max_factor 0.20\r\nSTAT warm_max_factor 2.00\r\nSTAT temp_lru no\r\nSTAT temporary_ttl 61\r\nSTAT idle_timeout 0\r\nSTAT watcher_logbuf_size 262144\r\nSTAT worker_logbuf_size 65536\r\nSTAT read_buf_mem_limit 0\r\nSTAT track_sizes no\r\nSTAT inline_ascii_response no\r\nSTAT ext_item_size 512\r\nSTAT ext_item_age 4294967295\r\nSTAT ext_low_ttl 0\r\nSTAT ext_recache_rate 2000\r\nSTAT ext_wbuf_size 4194304\r\nSTAT ext_compact_under 0\r\nSTAT ext_drop_under 0\r\nSTAT ext_max_sleep 1000000\r\nSTAT ext_max_frag 0.80\r\nSTAT slab_automove_freeratio 0.010\r\nSTAT ext_drop_unread no\r\nSTAT ssl_enabled no\r\nSTAT ssl_chain_cert (null)\r\nSTAT ssl_key (null)\r\nSTAT ssl_verify_mode 0\r\nSTAT ssl_keyformat 1\r\nSTAT ssl_ciphers NULL\r\nSTAT ssl_ca_cert NULL\r\nSTAT ssl_wbuf_size 16384\r\nSTAT ssl_session_cache no\r\nSTAT ssl_kernel_tls no\r\nSTAT ssl_min_version tlsv1.2\r\nSTAT num_napi_ids (null)\r\nSTAT memory_file (null)\r\nEND\r\n';
const STATS_ITEMS =
  'STAT items:1:number 1\r\nSTAT items:1:number_hot 0\r\nSTAT items:1:number_warm 0\r\nSTAT items:1:number_cold 1\r\nSTAT items:1:age_hot 0\r\nSTAT items:1:age_warm 0\r\nSTAT items:1:age 14\r\nSTAT items:1:mem_requested 63\r\nSTAT items:1:evicted 0\r\nSTAT items:1:evicted_nonzero 0\r\nSTAT items:1:evicted_time 0\r\nSTAT items:1:outofmemory 0\r\nSTAT items:1:tailrepairs 0\r\nSTAT items:1:reclaimed 0\r\nSTAT items:1:expired_unfetched 0\r\nSTAT items:1:evicted_unfetched 0\r\nSTAT items:1:evicted_active 0\r\nSTAT items:1:crawler_reclaimed 0\r\nSTAT items:1:crawler_items_checked 1\r\nSTAT items:1:lrutail_reflocked 4\r\nSTAT items:1:moves_to_cold 4\r\nSTAT items:1:moves_to_warm 1\r\nSTAT items:1:moves_within_lru 0\r\nSTAT items:1:direct_reclaims 0\r\nSTAT items:1:hits_to_hot 1\r\nSTAT items:1:hits_to_warm 0\r\nSTAT items:1:hits_to_cold 1\r\nSTAT items:1:hits_to_temp 0\r\nEND\r\n';
const STATS_SLABS =
  'STAT 1:chunk_size 96\r\nSTAT 1:chunks_per_page 10922\r\nSTAT 1:total_pages 1\r\nSTAT 1:total_chunks 10922\r\nSTAT 1:used_chunks 1\r\nSTAT 1:free_chunks 10921\r\nSTAT 1:free_chunks_end 0\r\nSTAT 1:get_hits 2\r\nSTAT 1:cmd_set 6\r\nSTAT 1:delete_hits 1\r\nSTAT 1:incr_hits 1\r\nSTAT 1:decr_hits 1\r\nSTAT 1:cas_hits 0\r\nSTAT 1:cas_badval 0\r\nSTAT 1:touch_hits 0\r\nSTAT active_slabs 1\r\nSTAT total_malloced 1048576\r\nEND\r\n';
const STATS_CONNS =
  'STAT 23:addr tcp:127.0.0.1:21913\r\nSTAT 23:state conn_listening\r\nSTAT 23:secs_since_last_cmd 31\r\nSTAT 24:addr tcp:127.0.0.1:58660\r\nSTAT 24:listen_addr tcp:127.0.0.1:21913\r\nSTAT 24:state conn_parse_cmd\r\nSTAT 24:secs_since_last_cmd 0\r\nEND\r\n';

describe('TextResponseParser: memcached 1.6.18 stats replies', () => {
  // The expected units come from splitting the transcript as text: an oracle independent of the parser.
  for (const [name, transcript, count] of [
    ['stats', STATS, 92],
    ['stats settings', STATS_SETTINGS, 76],
    ['stats items', STATS_ITEMS, 28],
    ['stats slabs', STATS_SLABS, 17],
    ['stats conns', STATS_CONNS, 7],
  ] as const) {
    it(name, () => {
      const lines = transcript.split('\r\n').slice(0, -1);
      assert.equal(lines.length, count + 1);
      expectUnits(
        transcript,
        lines.map((l) => (l === 'END' ? end : tokens('STAT', l))),
      );
    });
  }

  it('STAT tokens are the words after STAT, so "exactly three words" is tokens.length === 2', () => {
    const parser = new TextResponseParser();
    parser.push(Buffer.from('STAT version 1.6.18\r\nSTAT x a b\r\n'));
    const a = parser.next() as TextResponse;
    const b = parser.next() as TextResponse;
    assert.ok(a.kind === 'STAT' && b.kind === 'STAT');
    assert.deepEqual(
      a.tokens.map((t) => t.toString()),
      ['version', '1.6.18'],
    );
    assert.equal(b.tokens.length, 3);
  });
});

describe('TextResponseParser: memcached 1.6.18 meta replies', () => {
  it('mn, ms with c, mg v c f t s k O, plain mg hit, misses with and without k/O', () => {
    expectUnits('MN\r\nHD c12\r\nVA 2 c12 f7 t-1 s2 kk O123\r\nhi\r\nHD\r\nEN\r\nEN knokey O9\r\nMN\r\n', [
      tokens('MN', 'MN'),
      tokens('HD', 'HD c12'),
      va('VA 2 c12 f7 t-1 s2 kk O123', 'hi'),
      tokens('HD', 'HD'),
      tokens('EN', 'EN'),
      tokens('EN', 'EN knokey O9'),
      tokens('MN', 'MN'),
    ]);
  });

  it('ma (hit with v, with c, miss), md (hit, miss, quiet miss before mn), ms with a bad C', () => {
    expectUnits('HD\r\nVA 1\r\n6\r\nVA 1 c16\r\n0\r\nNF\r\nHD\r\nNF\r\nNF\r\nMN\r\nNF\r\n', [
      tokens('HD', 'HD'),
      va('VA 1', '6'),
      va('VA 1 c16', '0'),
      tokens('NF', 'NF'),
      tokens('HD', 'HD'),
      tokens('NF', 'NF'),
      tokens('NF', 'NF'),
      tokens('MN', 'MN'),
      tokens('NF', 'NF'),
    ]);
  });

  it('me hit and miss', () => {
    expectUnits('ME cnt exp=-1 la=1 cas=16 fetch=no cls=1 size=63\r\nEN\r\n', [
      tokens('ME', 'ME cnt exp=-1 la=1 cas=16 fetch=no cls=1 size=63'),
      tokens('EN', 'EN'),
    ]);
  });

  it('base64 keys, zero-length VA, EX, NS', () => {
    expectUnits('EN kZm9v b\r\nHD\r\nVA 2 kZm9v b\r\nhi\r\nVA 0\r\n\r\nVA 0 f0 s0\r\n\r\nEX\r\nNS\r\n', [
      tokens('EN', 'EN kZm9v b'),
      tokens('HD', 'HD'),
      va('VA 2 kZm9v b', 'hi'),
      va('VA 0', ''),
      va('VA 0 f0 s0', ''),
      tokens('EX', 'EX'),
      tokens('NS', 'NS'),
    ]);
  });

  it('meta errors', () => {
    expectUnits(
      'ERROR\r\nCLIENT_ERROR invalid flag\r\nCLIENT_ERROR bad command line format\r\nERROR\r\n' +
        'CLIENT_ERROR invalid mode for ms M token\r\n',
      [
        simple('ERROR'),
        simple('CLIENT_ERROR', 'CLIENT_ERROR invalid flag'),
        simple('CLIENT_ERROR', 'CLIENT_ERROR bad command line format'),
        simple('ERROR'),
        simple('CLIENT_ERROR', 'CLIENT_ERROR invalid mode for ms M token'),
      ],
    );
  });

  it('classic and meta replies interleaved on one connection', () => {
    expectUnits('VALUE a 1 1\r\nx\r\nEND\r\nVA 1 f1\r\nx\r\nSTORED\r\nHD\r\n5\r\nEN\r\n', [
      value('a', 1, 'x'),
      end,
      va('VA 1 f1', 'x'),
      simple('STORED'),
      tokens('HD', 'HD'),
      num(5n),
      tokens('EN', 'EN'),
    ]);
  });
});

describe('TextResponseParser: lines', () => {
  it('accepts a bare "\\n" and says so', () => {
    expectUnits('STORED\nVALUE k 0 1\nx\r\nEND\n', [
      { kind: 'STORED', line: 'STORED', bare: true },
      { ...value('k', 0, 'x'), bare: true },
      { kind: 'END', line: 'END', bare: true },
    ]);
  });

  it('keeps a "\\r" inside a line, and an empty line is OTHER', () => {
    expectUnits('FOO\rBAR\r\n\r\n\n\r\r\n', [
      simple('OTHER', 'FOO\rBAR'),
      simple('OTHER', ''),
      { kind: 'OTHER', line: '', bare: true },
      simple('OTHER', '\r'),
    ]);
  });

  it('unknown and near-miss words are OTHER', () => {
    expectUnits('LOCK_ERROR\r\nVALUEX\r\nSTATS x\r\nok\r\nENDING\r\nE\r\nVAX 1\r\nNOT_FOUNDX\r\n', [
      simple('OTHER', 'LOCK_ERROR'),
      simple('OTHER', 'VALUEX'),
      simple('OTHER', 'STATS x'),
      simple('OTHER', 'ok'),
      simple('OTHER', 'ENDING'),
      simple('OTHER', 'E'),
      simple('OTHER', 'VAX 1'),
      simple('OTHER', 'NOT_FOUNDX'),
    ]);
  });

  it('numbers: digits only, up to 2^64-1', () => {
    expectUnits(
      '007\r\n9007199254740993\r\n18446744073709551616\r\n12 34\r\n123456789012345678901\r\n5a\r\n',
      [
        { kind: 'NUMBER', line: '007', number: 7n },
        num(9007199254740993n),
        simple('OTHER', '18446744073709551616'),
        simple('OTHER', '12 34'),
        simple('OTHER', '123456789012345678901'),
        simple('OTHER', '5a'),
      ],
    );
  });

  it('words followed by text keep their kind (first word decides)', () => {
    expectUnits('END extra\r\nSTORED  \r\n', [simple('END', 'END extra'), simple('STORED', 'STORED  ')]);
  });

  it('is liberal with repeated spaces in VALUE and VA lines', () => {
    expectUnits('VALUE  k  1  2  3 \r\nab\r\nVA  1   t5 \r\nx\r\n', [
      { kind: 'VALUE', line: 'VALUE  k  1  2  3 ', key: 'k', flags: 1, bytes: 2, cas: 3n, data: 'ab' },
      { kind: 'VA', line: 'VA  1   t5 ', bytes: 1, tokens: ['t5'], data: 'x' },
    ]);
  });

  it('accepts a line of exactly maxLineLength bytes', () => {
    const line = `STAT ${'x'.repeat(15)}`;
    expectUnits(`${line}\r\n${line}\n`, [tokens('STAT', line), { ...tokens('STAT', line), bare: true }], {
      maxLineLength: 20,
    });
  });
});

describe('TextResponseParser: errors', () => {
  it('bad-data-terminator when the two bytes after the block are not "\\r\\n"', () => {
    expectUnits('STORED\r\nVALUE a 0 3\r\nabcd\r\nEND\r\n', [
      simple('STORED'),
      { error: 'bad-data-terminator' },
    ]);
    expectUnits('VALUE a 0 3\r\nabc\nEND\r\n', [{ error: 'bad-data-terminator' }]);
    expectUnits('VA 2 f1\r\nhi\n\r\n', [{ error: 'bad-data-terminator' }]);
  });

  it('line-too-long with and without a newline', () => {
    const long = `STAT ${'x'.repeat(17)}`;
    expectUnits(`END\r\n${long}\r\nEND\r\n`, [end, { error: 'line-too-long' }], { maxLineLength: 20 });
    expectUnits(`END\r\n${long}`, [end, { error: 'line-too-long' }], { maxLineLength: 20 });
    // Exactly the limit plus a "\r" is not yet too long: the "\n" may follow.
    const parser = new TextResponseParser({ maxLineLength: 20 });
    parser.push(Buffer.from(`STAT ${'x'.repeat(15)}\r`));
    assert.equal(parser.next(), null);
    parser.push(Buffer.from('\n'));
    assert.equal((parser.next() as TextResponse).kind, 'STAT');
  });

  it('the default line limit is 64 KiB', () => {
    const ok = `SERVER_ERROR ${'x'.repeat(65536 - 13)}`;
    const parser = new TextResponseParser();
    parser.push(Buffer.from(`${ok}\r\n${ok}x`));
    assert.equal((parser.next() as TextResponse).line.length, 65536);
    assert.equal(parser.next(), null);
    parser.push(Buffer.from('y'));
    assert.equal((parser.next() as TextResponseError).code, 'line-too-long');
  });

  it('value-too-large as soon as the header line is read', () => {
    expectUnits(
      'VALUE a 0 3\r\nabc\r\nVALUE a 0 4\r\n',
      [value('a', 0, 'abc'), { error: 'value-too-large' }],
      {
        maxValueLength: 3,
      },
    );
    expectUnits('VA 4 f1\r\n', [{ error: 'value-too-large' }], { maxValueLength: 3 });
    expectUnits('VALUE a 0 99999999999999999999\r\n', [{ error: 'value-too-large' }]);
    expectUnits('VA 9007199254740992\r\n', [{ error: 'value-too-large' }]);
  });

  for (const line of [
    'VALUE',
    'VALUE ',
    'VALUE k',
    'VALUE k 1',
    'VALUE k x 1',
    'VALUE k 1 x',
    'VALUE k 1 2x',
    'VALUE k -1 1',
    'VALUE k 4294967296 1',
    'VALUE k 1 1 abc',
    'VALUE k 1 1 -1',
    'VALUE k 1 1 18446744073709551616',
    'VALUE k 1 1 1 extra',
    'VA',
    'VA x',
    'VA -1',
    'VA 1x f',
  ]) {
    it(`bad-value-line: ${JSON.stringify(line)}`, () => {
      expectUnits(`END\r\n${line}\r\nEND\r\n`, [end, { error: 'bad-value-line' }]);
    });
  }

  it('a dead parser ignores further input and keeps its error', () => {
    const parser = new TextResponseParser();
    parser.push(Buffer.from('VALUE k\r\n'));
    const err = parser.next();
    assert.ok(err instanceof TextResponseError);
    assert.equal(err.code, 'bad-value-line');
    assert.match(err.message, /VALUE k/);
    assert.equal(parser.error, err);
    parser.push(Buffer.from('END\r\n'));
    assert.equal(parser.next(), err);
    assert.equal(parser.buffered, 0);
  });
});

describe('TextResponseParser: buffers and state', () => {
  it('line, key and data are views into the pushed chunk (no copy)', () => {
    const chunk = Buffer.from('VALUE key 1 3 9\r\nabc\r\n');
    const parser = new TextResponseParser();
    parser.push(chunk);
    const u = parser.next() as TextResponse;
    assert.ok(u.kind === 'VALUE');
    assert.equal(u.line.buffer, chunk.buffer);
    assert.equal(u.key.buffer, chunk.buffer);
    assert.equal(u.data.buffer, chunk.buffer);
    assert.equal(u.data.byteOffset, chunk.byteOffset + 17);
  });

  it('reuseValueUnits: every VALUE is one object, refilled wholly by its own line', () => {
    const parser = new TextResponseParser({ reuseValueUnits: true });
    const values: ValueResponse[] = [];
    const take = (): ValueResponse => {
      const u = parser.next() as TextResponse;
      assert.equal(u.kind, 'VALUE');
      values.push(u);
      return u;
    };
    // a gets hit that straddles two reads (no block), then whole ones: without cas, with a bare "\n"
    parser.push(Buffer.from('VALUE first 7 3 99\r\nab'));
    assert.equal(parser.next(), null);
    parser.push(
      Buffer.from('c\r\nVALUE k2 0 2\r\nxy\r\nVALUE k3 1 1\nz\r\nSTAT a b\r\nVALUE k4 4 0\r\n\r\n'),
    );
    let u = take();
    assert.deepEqual(
      [u.key.toString(), u.flags, u.bytes, u.cas, u.data.toString()],
      ['first', 7, 3, 99n, 'abc'],
    );
    assert.equal(u.blockSource, null);
    assert.equal(u.bareNewline, false);
    u = take();
    assert.deepEqual(
      [u.key.toString(), u.flags, u.bytes, u.cas, u.data.toString()],
      ['k2', 0, 2, null, 'xy'],
    );
    assert.equal(u.line.toString(), 'VALUE k2 0 2');
    assert.equal(u.block?.toString(), 'VALUE k2 0 2\r\nxy\r\n');
    assert.ok(u.keyEquals(Buffer.from('k2')));
    u = take();
    assert.deepEqual([u.key.toString(), u.flags, u.data.toString(), u.bareNewline], ['k3', 1, 'z', true]);
    assert.equal(u.block, null);
    const stat = parser.next() as TextResponse;
    assert.equal(stat.kind, 'STAT');
    assert.notEqual(stat, values[0]);
    u = take();
    assert.deepEqual([u.key.toString(), u.flags, u.bytes, u.cas, u.bareNewline], ['k4', 4, 0, null, false]);
    assert.equal(u.block?.toString(), 'VALUE k4 4 0\r\n\r\n');
    assert.ok(values.every((v) => v === values[0]));
    // without the option, each VALUE is its own
    const fresh = new TextResponseParser();
    fresh.push(Buffer.from('VALUE a 0 1\r\nx\r\nVALUE b 0 1\r\ny\r\n'));
    assert.notEqual(fresh.next(), fresh.next());
  });

  it('reports partial units and buffered bytes', () => {
    const parser = new TextResponseParser();
    assert.equal(parser.partial, false);
    parser.push(Buffer.from('VALUE k 0 5\r\nab'));
    assert.equal(parser.next(), null);
    assert.equal(parser.partial, true);
    assert.equal(parser.buffered, 2);
    parser.push(Buffer.from('cde\r'));
    assert.equal(parser.next(), null);
    parser.push(Buffer.from('\nEN'));
    assert.equal((parser.next() as TextResponse).kind, 'VALUE');
    assert.equal(parser.next(), null);
    assert.equal(parser.partial, true);
    parser.push(Buffer.from('D\r\n'));
    assert.equal((parser.next() as TextResponse).kind, 'END');
    assert.equal(parser.partial, false);
    assert.equal(parser.next(), null);
  });

  it('replyText returns the text after the first word', () => {
    const parser = new TextResponseParser();
    parser.push(Buffer.from('VERSION 1.6.18\r\nSERVER_ERROR out of memory storing object\r\nERROR\r\n'));
    assert.equal(replyText(parser.next() as TextResponse), '1.6.18');
    assert.equal(replyText(parser.next() as TextResponse), 'out of memory storing object');
    assert.equal(replyText(parser.next() as TextResponse), '');
  });
});
