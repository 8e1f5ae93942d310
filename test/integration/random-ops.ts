/**
 * The seeded random operations that the differential suites share (the embedded server against
 * memcached in differential.test.ts, the proxy against memcached in proxy-commands.test.ts).
 */
import { SeededRandom } from '../helpers/random.ts';
import {
  BinOp,
  arithExtras,
  binRequest,
  storeExtras,
  u32Extras,
  type BinRequest,
} from '../helpers/raw-client.ts';
import { DualSession, Protos, assertSameOutcome, flushBoth, type Pair, type Vars } from './dual.ts';

/** The small key space of the random phases (n0, n1 mostly meet arithmetic). */
export const KEYS = ['k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7', 'k8', 'k9', 'n0', 'n1'];

/** A value of a kind that exercises the protocols: numbers, near-2^62 numbers, CRLF inside, long, printable. */
export function randomValue(r: SeededRandom): string {
  const kind = r.int(0, 9);
  if (kind <= 2) return String(r.int(0, 1000));
  // Numbers stay below 2^62 so that incr never pushes a stored value to 2^63 or more (see 'incr 64-bit wrap').
  if (kind === 3)
    return r.pick(['4611686018427387904', '4611686018427387903', '0', '00', ' 7', '12abc', '', '-1']);
  if (kind === 4) return 'line1\r\nline2';
  if (kind === 5) return 'x'.repeat(r.int(100, 3000));
  const len = r.int(0, 40);
  let s = '';
  for (let i = 0; i < len; i++) s += String.fromCharCode(r.int(0x21, 0x7e));
  return s;
}

/** An incr/decr delta, small or past 32 bits. */
export function randomDelta(r: SeededRandom): string {
  return r.pick(['0', '1', '2', '10', '255', String(r.int(0, 1e6)), '4294967296']);
}

export type BinBuild = BinRequest | ((vars: Vars) => BinRequest);

/**
 * One random binary request, two when a NOOP must first flush pending GET replies: memcached holds a
 * second reference to an item while its reply is unsent, and incr/decr then builds a new item instead
 * of rewriting the old one in place, which depends on TCP read boundaries.
 */
export function randomBinaryOp(
  r: SeededRandom,
  opaque: number,
  known: Set<string>,
  opaqueKeys: Map<number, string>,
  pending: Set<string>,
): BinBuild[] {
  const k = r.pick(KEYS);
  opaqueKeys.set(opaque, k);
  const v = randomValue(r);
  const flags = r.pick([0, 1, 0xffffffff, r.int(0, 65535)]);
  const exptime = r.pick([0, 0, 0, -1, 1000]);
  const q = r.bool(0.3);
  const cas = (): bigint | ((vars: Vars) => bigint) =>
    known.has(k) && r.bool(0.5)
      ? (vars: Vars) => BigInt(vars.casOf.get(k) ?? '0')
      : r.pick([0n, 0n, 999999999999n]);
  const op = r.int(0, 12);
  let build: BinBuild;
  const withCas = (base: BinRequest): BinRequest | ((vars: Vars) => BinRequest) => {
    const c = cas();
    return typeof c === 'bigint' ? { ...base, cas: c } : (vars: Vars) => ({ ...base, cas: c(vars) });
  };
  switch (op) {
    case 0:
    case 1:
    case 2: {
      const opcode = r.pick(
        q ? [BinOp.setq, BinOp.addq, BinOp.replaceq] : [BinOp.set, BinOp.add, BinOp.replace],
      );
      build = withCas({ opcode, key: k, value: v, extras: storeExtras(flags, exptime), opaque });
      break;
    }
    case 3:
      build = withCas({
        opcode: r.pick(q ? [BinOp.appendq, BinOp.prependq] : [BinOp.append, BinOp.prepend]),
        key: k,
        value: v,
        opaque,
      });
      break;
    case 4:
    case 5: {
      const opcode = r.pick(q ? [BinOp.incrementq, BinOp.decrementq] : [BinOp.increment, BinOp.decrement]);
      const delta = BigInt(randomDelta(r));
      const initial = r.pick([0n, 5n, 4611686018427387904n]);
      build = { opcode, key: k, extras: arithExtras(delta, initial, r.pick([0, 0xffffffff, 1000])), opaque };
      if (pending.has(k)) {
        pending.clear();
        return [{ opcode: BinOp.noop, opaque: FLUSH_OPAQUE }, build];
      }
      break;
    }
    case 6:
      build = withCas({ opcode: q ? BinOp.deleteq : BinOp.delete, key: k, opaque });
      break;
    case 7:
    case 8:
    case 9:
      known.add(k);
      pending.add(k);
      build = { opcode: r.pick(q ? [BinOp.getq, BinOp.getkq] : [BinOp.get, BinOp.getk]), key: k, opaque };
      break;
    case 10:
      pending.add(k);
      build = { opcode: BinOp.touch, key: k, extras: u32Extras(r.pick([0, 1000, -1])), opaque };
      break;
    case 11:
      known.add(k);
      pending.add(k);
      build = {
        opcode: r.pick([BinOp.gat, BinOp.gatq, BinOp.gatk, BinOp.gatkq]),
        key: k,
        extras: u32Extras(r.pick([0, 1000])),
        opaque,
      };
      break;
    default:
      build = r.pick<BinRequest>([
        { opcode: BinOp.noop, opaque },
        { opcode: BinOp.version, opaque },
        { opcode: BinOp.flush, opaque },
        { opcode: BinOp.flushq, opaque },
      ]);
      if (build.opcode === BinOp.noop) pending.clear();
  }
  return [build];
}

/** The NOOP randomBinaryOp puts before arithmetic on a key whose get reply memcached may not have sent. */
const FLUSH_OPAQUE = 0xf1;

/**
 * About 1,200 random binary requests in pipelined batches, to memcached and to the target of `pair`,
 * whose replies must match batch by batch (MOXI_TEST_SEED replays `seed`). A proxy answers NOOP itself,
 * so its servers never see the NOOP that makes memcached send a pending get reply before arithmetic on
 * the same key: with `localNoop`, a batch is cut after such a NOOP instead, and the arithmetic goes in
 * the next exchange, once every earlier reply has arrived.
 */
export async function randomBinaryPhase(
  pair: Pair,
  seed: number,
  targetName: string,
  localNoop = false,
): Promise<void> {
  await flushBoth(pair);
  const r = new SeededRandom(seed ^ 0x5bd1e995);
  const s = await DualSession.open(pair, Protos.binary);
  const known = new Set<string>();
  let ops = 0;
  let opaque = 1;
  try {
    for (let batch = 0; ops < 1200 && batch < 1000; batch++) {
      const n = r.int(1, 6);
      const opaqueKeys = new Map<number, string>();
      const pending = new Set<string>();
      const builds = Array.from({ length: n }, () =>
        randomBinaryOp(r, opaque++, known, opaqueKeys, pending),
      ).flat();
      ops += n;
      const exchanges: BinBuild[][] = [[]];
      for (const b of builds) {
        exchanges[exchanges.length - 1].push(b);
        if (localNoop && typeof b !== 'function' && b.opaque === FLUSH_OPAQUE) exchanges.push([]);
      }
      for (const part of exchanges) {
        if (part.length === 0) continue;
        const send = (vars: Vars): Buffer =>
          Buffer.concat(part.map((b) => binRequest(typeof b === 'function' ? b(vars) : b)));
        const { ref, target } = await s.step({ send, opaqueKeys, timeoutMs: 10_000 });
        assertSameOutcome(
          `random binary batch ${batch} (seed ${seed}, replay with MOXI_TEST_SEED=${seed})`,
          ref,
          target,
          targetName,
        );
        if (
          ref.text.includes('op=0x08') ||
          part.some((b) => typeof b !== 'function' && b.opcode === BinOp.flushq)
        ) {
          known.clear();
        }
      }
    }
  } finally {
    await s.close();
  }
}
