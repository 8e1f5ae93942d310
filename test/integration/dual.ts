/**
 * Shared machinery of the differential and bad-input suites: the same bytes go to a real memcached
 * (the reference) and to the target under test over raw connections, and the replies are compared
 * after normalising only what the contract lets differ:
 *   - cas unique values (`VALUE k f n CAS`, meta `c<cas>` return flags, `me`'s cas=, binary cas fields),
 *   - VERSION text (text `VERSION x`, binary VERSION body),
 *   - stats bodies (text STAT lines are dropped, runs of binary STAT frames with a key collapse).
 * Connection fate (stays open vs closed by the server) is compared too.
 */
import assert from 'node:assert/strict';
import { randomSplits } from '../helpers/chunking.ts';
import {
  TargetKinds,
  startMemcached,
  startTarget,
  targetKind,
  type ServerHandle,
  type ServerOptions,
} from '../helpers/processes.ts';
import {
  BinMagic,
  BinOp,
  RawClient,
  asciiExchange,
  binaryExchange,
  parseBinFrames,
  printable,
  type Exchange,
} from '../helpers/raw-client.ts';
import { DownstreamProtocols, behaviorsFor, hostList, startProxy } from '../helpers/proxy.ts';

export const Protos = { ascii: 'ascii', binary: 'binary' } as const;
export type Proto = (typeof Protos)[keyof typeof Protos];

/** Per-target values captured from replies, for commands that must echo them (cas tokens). */
export interface Vars {
  /** The most recent cas value seen on this connection, as a decimal string. */
  cas: string | undefined;
  /** The most recent cas value seen per key. */
  readonly casOf: Map<string, string>;
}

export function newVars(): Vars {
  return { cas: undefined, casOf: new Map() };
}

/** Bytes to send; a function is resolved per target (e.g. to use that target's own cas values). */
export type StepPayload = string | Buffer | ((v: Vars) => string | Buffer);

export interface Step {
  readonly send: StepPayload;
  /** Append the protocol's sentinel and read up to its reply (default true). */
  readonly sentinel?: boolean;
  /** Quiet period ending the read when no sentinel reply comes (default 300 ms). */
  readonly quietMs?: number;
  readonly timeoutMs?: number;
  /** Binary: opaque -> key, so cas values in responses can be filed under their key. */
  readonly opaqueKeys?: ReadonlyMap<number, string>;
}

export interface Outcome {
  readonly raw: Buffer;
  /** Normalised, printable reply. */
  readonly text: string;
  readonly closed: boolean;
  readonly sentinelSeen: boolean;
  readonly timedOut: boolean;
  /** The exact bytes sent (after placeholder resolution). */
  readonly sent: Buffer;
}

// ---------------------------------------------------------------------------------------------
// Placeholders

/** Replaces `{cas}` (last cas seen) and `{cas:KEY}` (last cas seen for KEY) in a text payload. */
export function resolvePlaceholders(s: string, v: Vars): string {
  return s.replace(/\{cas(?::([^}]*))?\}/g, (_m, key: string | undefined) =>
    key === undefined ? (v.cas ?? '0') : (v.casOf.get(key) ?? '0'),
  );
}

function resolvePayload(p: StepPayload, v: Vars): Buffer {
  const r = typeof p === 'function' ? p(v) : p;
  if (Buffer.isBuffer(r)) return r;
  return Buffer.from(resolvePlaceholders(r, v), 'latin1');
}

// ---------------------------------------------------------------------------------------------
// Normalisation

const CAS_TOKEN = /^c\d+$/;
const META_STATUS = /^(HD|EN|NF|NS|EX|VA)( |$)/;

/**
 * Walks a text-protocol reply line by line (skipping over value blocks announced by VALUE/VA) and
 * returns a printable form with cas values, VERSION text and STAT lines normalised.
 */
export function normalizeAscii(buf: Buffer): string {
  const out: string[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const nl = buf.indexOf('\r\n', pos);
    if (nl < 0) {
      out.push(`<partial line: ${printable(buf.subarray(pos))}>`);
      break;
    }
    const line = buf.subarray(pos, nl).toString('latin1');
    pos = nl + 2;
    // Stats sets and values may differ (even between two memcached processes `stats items` of an
    // empty cache may or may not list slab classes), so STAT lines are dropped; the END stays.
    if (line.startsWith('STAT ')) continue;
    let dataLen = -1;
    let shown = line;
    if (line.startsWith('VALUE ')) {
      const t = line.split(' ');
      if (t.length === 5) t[4] = '<cas>';
      shown = t.join(' ');
      dataLen = Number(t[3]);
    } else if (META_STATUS.test(line)) {
      const t = line.split(' ');
      for (let i = 1; i < t.length; i++) if (CAS_TOKEN.test(t[i])) t[i] = 'c<cas>';
      shown = t.join(' ');
      if (line.startsWith('VA ')) dataLen = Number(t[1]);
    } else if (line.startsWith('ME ')) {
      // la= is whole seconds since the last access by the server's clock, which ticks on its own: a
      // step that takes a moment (a proxy, a reply sent in pieces) may straddle a tick, 0 then reads 1
      shown = line.replace(/ cas=\d+ /, ' cas=<cas> ').replace(/ la=[01] /, ' la=<0|1> ');
    } else if (line.startsWith('VERSION ')) {
      shown = 'VERSION <version>';
    }
    out.push(printable(Buffer.from(shown + '\r\n', 'latin1')));
    if (dataLen >= 0 && Number.isSafeInteger(dataLen)) {
      const end = Math.min(buf.length, pos + dataLen + 2);
      out.push(`<data ${printable(buf.subarray(pos, end))}>\n`);
      pos = end;
    }
  }
  return out.join('');
}

function hex(b: Buffer): string {
  return b.toString('hex');
}

/** A printable form of binary response frames with cas, VERSION text and stats bodies normalised. */
export function normalizeBinary(buf: Buffer): string {
  const { frames, rest } = parseBinFrames(buf);
  const out: string[] = [];
  let statFrames = 0;
  for (const f of frames) {
    const isStatBody = f.magic === BinMagic.response && f.opcode === BinOp.stat && f.keylen > 0;
    if (isStatBody) {
      statFrames++;
      continue;
    }
    if (statFrames > 0) out.push('<STAT frames>\n');
    statFrames = 0;
    const isVersion = f.magic === BinMagic.response && f.opcode === BinOp.version && f.status === 0;
    out.push(
      [
        `magic=0x${f.magic.toString(16)}`,
        `op=0x${f.opcode.toString(16).padStart(2, '0')}`,
        `status=0x${f.status.toString(16).padStart(4, '0')}`,
        `keylen=${f.keylen}`,
        `extlen=${f.extlen}`,
        `datatype=${f.datatype}`,
        `bodylen=${isVersion ? '<n>' : f.bodylen}`,
        `opaque=0x${f.opaque.toString(16)}`,
        `cas=${f.cas === 0n ? '0' : '<cas>'}`,
        `extras=${hex(f.extras)}`,
        `key=${printable(f.key)}`,
        `value=${isVersion ? '<version>' : printable(f.value)}`,
      ].join(' ') + '\n',
    );
  }
  if (statFrames > 0) out.push('<STAT frames>\n');
  if (rest.length > 0) out.push(`<trailing bytes ${hex(rest.subarray(0, 256))} (${rest.length})>\n`);
  return out.join('');
}

// ---------------------------------------------------------------------------------------------
// Capturing cas values

function captureAsciiCas(buf: Buffer, v: Vars): void {
  let pos = 0;
  for (let guard = 0; guard < 1_000_000 && pos < buf.length; guard++) {
    const nl = buf.indexOf('\r\n', pos);
    if (nl < 0) return;
    const line = buf.subarray(pos, nl).toString('latin1');
    pos = nl + 2;
    const t = line.split(' ');
    if (t[0] === 'VALUE') {
      if (t.length === 5) {
        v.cas = t[4];
        v.casOf.set(t[1], t[4]);
      }
      pos += Number(t[3]) + 2;
    } else if (META_STATUS.test(line)) {
      const casTok = t.find((x, i) => i > 0 && CAS_TOKEN.test(x));
      const keyTok = t.find((x, i) => i > 0 && x.startsWith('k'));
      if (casTok !== undefined) {
        v.cas = casTok.slice(1);
        if (keyTok !== undefined) v.casOf.set(keyTok.slice(1), v.cas);
      }
      if (t[0] === 'VA') pos += Number(t[1]) + 2;
    }
  }
}

function captureBinaryCas(buf: Buffer, v: Vars, opaqueKeys?: ReadonlyMap<number, string>): void {
  for (const f of parseBinFrames(buf).frames) {
    if (f.cas === 0n || f.status !== 0) continue;
    v.cas = f.cas.toString();
    const key = f.keylen > 0 ? f.key.toString('latin1') : opaqueKeys?.get(f.opaque);
    if (key !== undefined) v.casOf.set(key, v.cas);
  }
}

// ---------------------------------------------------------------------------------------------
// Servers and sessions

export interface Pair {
  readonly ref: ServerHandle;
  readonly target: ServerHandle;
  stop(): Promise<void>;
}

/**
 * Options given to every memcached of a comparison (the reference, and the target when it is
 * memcached too; never to moxi). Without them memcached's background LRU maintainer makes replies
 * nondeterministic: a second fetch of an item it has moved to the COLD LRU is bumped asynchronously,
 * holding an extra reference for a while, and an incr/decr meanwhile builds a new item (exact
 * length, fetched flag cleared) instead of rewriting it in place (space padded, flag kept). With
 * the plain LRU the first fetch sets the fetched flag and arithmetic is always in place when the
 * result fits. No reply of an un-evicted cache depends on which LRU is used.
 */
export const DETERMINISTIC_MEMCACHED_ARGS = ['-o', 'no_lru_maintainer,no_lru_crawler'] as const;

/** A fresh real memcached (reference) and a fresh target, both with `opts`. */
export async function startPair(opts: ServerOptions): Promise<Pair> {
  const mcOpts = { ...opts, extraArgs: [...(opts.extraArgs ?? []), ...DETERMINISTIC_MEMCACHED_ARGS] };
  const [ref, target] = await Promise.all([
    startMemcached(mcOpts),
    targetKind() === TargetKinds.memcached ? startMemcached(mcOpts) : startTarget(opts),
  ]);
  return {
    ref,
    target,
    stop: async () => {
      await Promise.all([ref.stop(), target.stop()]);
    },
  };
}

/**
 * A fresh real memcached (reference) and moxi.ts as a proxy with text downstream (a2a) over a second
 * fresh memcached: what a client sees through the proxy, against what memcached itself answers.
 */
export async function startProxyPair(opts: ServerOptions): Promise<Pair> {
  const mcOpts = { ...opts, extraArgs: [...(opts.extraArgs ?? []), ...DETERMINISTIC_MEMCACHED_ARGS] };
  const [ref, downstream] = await Promise.all([startMemcached(mcOpts), startMemcached(mcOpts)]);
  const target = await startProxy((ports) => `${ports[0]}=${hostList([downstream])}`, {
    behaviors: behaviorsFor(DownstreamProtocols.ascii),
  });
  return {
    ref,
    target,
    stop: async () => {
      await Promise.all([ref.stop(), target.stop(), downstream.stop()]);
    },
  };
}

/** One connection to a server, with its own captured cas values. */
export class Side {
  readonly server: ServerHandle;
  readonly proto: Proto;
  readonly client: RawClient;
  readonly vars = newVars();

  private constructor(server: ServerHandle, proto: Proto, client: RawClient) {
    this.server = server;
    this.proto = proto;
    this.client = client;
  }

  static async open(server: ServerHandle, proto: Proto): Promise<Side> {
    return new Side(server, proto, await RawClient.connect(server.port, server.host));
  }

  async run(step: Step, chunkSeed?: number): Promise<Outcome> {
    const sent = resolvePayload(step.send, this.vars);
    const opts = {
      sentinel: step.sentinel ?? true,
      quietMs: step.quietMs ?? 300,
      timeoutMs: step.timeoutMs ?? 5000,
      chunks: chunkSeed === undefined ? undefined : randomSplits(sent, chunkSeed),
      pauseMs: 1,
    };
    const ex: Exchange =
      this.proto === Protos.ascii
        ? await asciiExchange(this.client, sent, opts)
        : await binaryExchange(this.client, sent, opts);
    if (this.proto === Protos.ascii) captureAsciiCas(ex.data, this.vars);
    else captureBinaryCas(ex.data, this.vars, step.opaqueKeys);
    return {
      raw: ex.data,
      text: this.proto === Protos.ascii ? normalizeAscii(ex.data) : normalizeBinary(ex.data),
      closed: ex.closed,
      sentinelSeen: ex.sentinelSeen,
      timedOut: ex.timedOut,
      sent,
    };
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

/** One connection to each server of a pair, driven in lockstep. */
export class DualSession {
  readonly ref: Side;
  readonly target: Side;

  private constructor(ref: Side, target: Side) {
    this.ref = ref;
    this.target = target;
  }

  static async open(pair: Pair, proto: Proto): Promise<DualSession> {
    const [ref, target] = await Promise.all([Side.open(pair.ref, proto), Side.open(pair.target, proto)]);
    return new DualSession(ref, target);
  }

  /** Runs one step on both servers at once. */
  async step(step: Step, chunkSeed?: number): Promise<{ ref: Outcome; target: Outcome }> {
    const [ref, target] = await Promise.all([
      this.ref.run(step, chunkSeed),
      this.target.run(step, chunkSeed),
    ]);
    return { ref, target };
  }

  async close(): Promise<void> {
    await Promise.all([this.ref.close(), this.target.close()]);
  }
}

function fate(o: Outcome): string {
  return o.closed ? 'closed by server' : o.timedOut ? 'open (read timed out)' : 'open';
}

/** Fails unless both outcomes have the same normalised reply and the same connection fate. */
export function assertSameOutcome(context: string, ref: Outcome, target: Outcome, targetName: string): void {
  if (ref.text === target.text && ref.closed === target.closed) return;
  const message = [
    `${context}: ${targetName} differs from memcached`,
    `--- sent (${ref.sent.length} bytes, as sent to memcached):`,
    printable(ref.sent, 1500),
    `--- memcached (${fate(ref)}):`,
    ref.text === '' ? '<nothing>' : ref.text.slice(0, 4000),
    `--- ${targetName} (${fate(target)}):`,
    target.text === '' ? '<nothing>' : target.text.slice(0, 4000),
  ].join('\n');
  assert.fail(message);
}

/**
 * assertSameOutcome for one batch of a random phase; `history` ends with that batch, and a failure
 * also shows the batches sent before it.
 */
export function assertSameBatch(
  context: string,
  ref: Outcome,
  target: Outcome,
  targetName: string,
  history: readonly string[],
): void {
  try {
    assertSameOutcome(context, ref, target, targetName);
  } catch (err) {
    const prev = history.slice(0, -1).map((h) => printable(Buffer.from(h, 'latin1'), 400));
    throw new Error(`${(err as Error).message}\n--- preceding batches:\n${prev.join('\n---\n')}`, {
      cause: err,
    });
  }
}

/** Flushes both servers over a short-lived text connection each (asserting "OK"). */
export async function flushBoth(pair: Pair): Promise<void> {
  await Promise.all(
    [pair.ref, pair.target].map(async (s) => {
      const c = await RawClient.connect(s.port, s.host);
      try {
        const r = await asciiExchange(c, 'flush_all\r\n');
        assert.equal(r.data.toString('latin1'), 'OK\r\n', `flush_all on ${s.kind}`);
      } finally {
        await c.close();
      }
    }),
  );
}

/** A fixed sequence of steps sent to both servers of a pair; every step's outcome must match. */
export interface DualCase {
  readonly name: string;
  /** Default: text. */
  readonly proto?: Proto;
  readonly steps: readonly (Step | StepPayload)[];
  /** Replies depend on the wall clock's second ticks (ttl, last access): one retry on mismatch. */
  readonly timeSensitive?: boolean;
}

/** Sees memcached's outcome of each step of a case sent whole (step counted from 0). */
export type StepObserver = (c: DualCase, step: number, ref: Outcome) => void;

function asStep(s: Step | StepPayload): Step {
  return typeof s === 'string' || typeof s === 'function' || Buffer.isBuffer(s) ? { send: s } : s;
}

/** One run of `c` on freshly flushed servers, sent whole (`chunkSeed` undefined) or cut at seeded points. */
export async function runDualCaseOnce(
  pair: Pair,
  c: DualCase,
  chunkSeed: number | undefined,
  targetName: string,
  observe: StepObserver | undefined,
): Promise<void> {
  await flushBoth(pair);
  const session = await DualSession.open(pair, c.proto ?? Protos.ascii);
  try {
    let i = 0;
    for (const raw of c.steps) {
      const { ref, target } = await session.step({ timeoutMs: 10_000, ...asStep(raw) }, chunkSeed);
      const how = chunkSeed === undefined ? 'sent whole' : `sent in random chunks (seed ${chunkSeed})`;
      if (chunkSeed === undefined) observe?.(c, i, ref);
      assertSameOutcome(`${c.name}, step ${i + 1}/${c.steps.length}, ${how}`, ref, target, targetName);
      assert.ok(!ref.timedOut, `memcached read timed out in "${c.name}" step ${i + 1}`);
      if (ref.closed) break;
      i++;
    }
  } finally {
    await session.close();
  }
}

/**
 * Runs `c` on freshly flushed servers, sent whole and then cut at points seeded by `chunkSeed`; a
 * time-sensitive case gets one retry each way (a clock tick between the two servers).
 */
export async function runDualCase(
  pair: Pair,
  c: DualCase,
  chunkSeed: number,
  targetName: string,
  observe?: StepObserver,
): Promise<void> {
  for (const seed of [undefined, chunkSeed]) {
    try {
      await runDualCaseOnce(pair, c, seed, targetName, observe);
    } catch (err) {
      if (c.timeSensitive !== true) throw err;
      await runDualCaseOnce(pair, c, seed, targetName, observe);
    }
  }
}
