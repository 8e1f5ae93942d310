/**
 * Benchmark options from argv (node:util parseArgs) with environment fallbacks: argv wins over env, env
 * over the defaults. Validation errors name the option and say what is wrong with it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULT_TARGETS, TARGETS, findTarget, type Target } from './targets.ts';
import { WORKLOADS, findWorkload, type Workload } from './workloads.ts';

export interface BenchOptions {
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly rounds: number;
  readonly workloads: readonly Workload[];
  readonly targets: readonly Target[];
  readonly memoryMb: number;
  readonly pin: string;
  readonly loadgenThreads: number;
  readonly outDir: string;
  readonly memcachedBin: string;
  readonly nutcrackerBin: string;
  readonly moxiBin: string;
  readonly repoRoot: string;
  readonly json: boolean;
  /** Take a CPU profile of moxi.ts over each measured window (bench/profile.ts). */
  readonly profile: boolean;
}

export const DEFAULTS = {
  duration: 3,
  warmup: 1,
  rounds: 5,
  targets: DEFAULT_TARGETS,
  memory: 256,
  pin: 'auto',
  loadgenThreads: 1,
} as const;

/** option name -> [environment variable, description]; the help text is generated from this table. */
const OPTIONS = {
  duration: ['BENCH_DURATION', `seconds measured per run (default ${DEFAULTS.duration})`],
  warmup: ['BENCH_WARMUP', `seconds of unmeasured traffic before each run (default ${DEFAULTS.warmup})`],
  rounds: [
    'BENCH_ROUNDS',
    `rounds; each round runs every target once per workload (default ${DEFAULTS.rounds})`,
  ],
  workloads: [
    'BENCH_WORKLOADS',
    `comma-separated subset of: ${WORKLOADS.map((w) => w.name).join(', ')} (default all but ${WORKLOADS.filter(
      (w) => w.optional === true,
    )
      .map((w) => w.name)
      .join(', ')})`,
  ],
  targets: [
    'BENCH_TARGETS',
    `comma-separated subset of: ${TARGETS.map((t) => t.name).join(', ')} (default ${DEFAULTS.targets})`,
  ],
  memory: ['BENCH_MEMORY', `memcached and moxi-server memory limit in MB, -m (default ${DEFAULTS.memory})`],
  pin: [
    'BENCH_PIN',
    'auto | scale | off | LG:SRV[:BACKENDS] CPU lists, e.g. 0:1, 0:1:none (default auto: taskset load ' +
      'generator on the first CPU; proxy or server under test and the memcached backends on the second; ' +
      'scale: the same but the process under test may use both CPUs, which auto picks when moxi-t2 is a target)',
  ],
  'loadgen-threads': [
    'BENCH_LOADGEN_THREADS',
    `worker threads in the load generator process (default ${DEFAULTS.loadgenThreads})`,
  ],
  out: ['BENCH_OUT', 'directory for the JSON results and the SVG chart (default <repo>/bench/results)'],
  memcached: ['MEMCACHED_BIN', 'memcached executable (default /usr/bin/memcached, else memcached on PATH)'],
  nutcracker: [
    'NUTCRACKER_BIN',
    'nutcracker (twemproxy) executable (default /usr/sbin/nutcracker, else nutcracker on PATH)',
  ],
  moxi: ['MOXI_BIN', 'bin/moxi script (default <repo>/bin/moxi)'],
} as const satisfies Record<string, readonly [string, string]>;

export function usage(): string {
  const lines = ['usage: npm run bench -- [options]    (or: node dist/bench/run.js [options])', ''];
  for (const [name, [env, text]] of Object.entries(OPTIONS))
    lines.push(`  --${name.padEnd(16)} ${env.padEnd(22)} ${text}`);
  lines.push(
    `  --${'no-json'.padEnd(16)} ${''.padEnd(22)} do not write the JSON results file (nor the chart)`,
  );
  lines.push(
    `  --${'profile'.padEnd(16)} ${'BENCH_PROFILE=1'.padEnd(22)} CPU-profile moxi.ts over each measured window (its admin endpoint's /debug/cpu-profile): .cpuprofile files under --out/profiles/, and each run's busiest functions; the profiler's cost (about 10% more CPU per request) is in those runs' figures`,
  );
  lines.push(`  --${'help'.padEnd(16)} ${''.padEnd(22)} this text`);
  return lines.join('\n');
}

/** The repository root: the nearest ancestor of this file (or of the cwd) holding moxi.ts's package.json. */
export function findRepoRoot(): string {
  const starts = [dirname(fileURLToPath(import.meta.url)), process.cwd()];
  for (const start of starts) {
    let dir = start;
    for (let i = 0; i < 8; i++) {
      const pkg = join(dir, 'package.json');
      if (existsSync(pkg)) {
        try {
          if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: unknown }).name === 'moxi.ts') return dir;
        } catch {
          // not ours
        }
      }
      const up = dirname(dir);
      if (up === dir) break;
      dir = up;
    }
  }
  return process.cwd();
}

export class OptionError extends Error {
  readonly code = 'BENCH_OPTION';
}

function positive(name: string, text: string, integer: boolean): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    throw new OptionError(`--${name}: expected a positive ${integer ? 'integer' : 'number'}, got "${text}"`);
  }
  return n;
}

function pickList<T extends { name: string }>(
  name: string,
  text: string,
  find: (n: string) => T | undefined,
  all: readonly T[],
): T[] {
  const out: T[] = [];
  for (const item of text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')) {
    const found = find(item);
    if (found === undefined) {
      throw new OptionError(`--${name}: unknown "${item}" (known: ${all.map((x) => x.name).join(', ')})`);
    }
    if (!out.includes(found)) out.push(found);
  }
  if (out.length === 0) throw new OptionError(`--${name}: empty list`);
  return out;
}

export type ParsedCommand = { help: true } | { help: false; options: BenchOptions };

export function parseOptions(argv: readonly string[], env: NodeJS.ProcessEnv): ParsedCommand {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      ...(Object.fromEntries(Object.keys(OPTIONS).map((k) => [k, { type: 'string' }])) as Record<
        keyof typeof OPTIONS,
        { type: 'string' }
      >),
      'no-json': { type: 'boolean' },
      profile: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) return { help: true };
  const get = (name: keyof typeof OPTIONS): string | undefined => {
    const v = values[name] ?? env[OPTIONS[name][0]];
    return v === undefined || v === '' ? undefined : v;
  };
  const repoRoot = findRepoRoot();
  const memcachedBin =
    get('memcached') ?? (existsSync('/usr/bin/memcached') ? '/usr/bin/memcached' : 'memcached');
  const nutcrackerBin =
    get('nutcracker') ?? (existsSync('/usr/sbin/nutcracker') ? '/usr/sbin/nutcracker' : 'nutcracker');
  return {
    help: false,
    options: {
      durationMs: positive('duration', get('duration') ?? String(DEFAULTS.duration), false) * 1000,
      warmupMs: positive('warmup', get('warmup') ?? String(DEFAULTS.warmup), false) * 1000,
      rounds: positive('rounds', get('rounds') ?? String(DEFAULTS.rounds), true),
      workloads: pickList(
        'workloads',
        get('workloads') ??
          WORKLOADS.filter((w) => w.optional !== true)
            .map((w) => w.name)
            .join(','),
        findWorkload,
        WORKLOADS,
      ),
      targets: pickList('targets', get('targets') ?? DEFAULTS.targets, findTarget, TARGETS),
      memoryMb: positive('memory', get('memory') ?? String(DEFAULTS.memory), true),
      pin: get('pin') ?? DEFAULTS.pin,
      loadgenThreads: positive(
        'loadgen-threads',
        get('loadgen-threads') ?? String(DEFAULTS.loadgenThreads),
        true,
      ),
      outDir: resolve(get('out') ?? join(repoRoot, 'bench', 'results')),
      memcachedBin,
      nutcrackerBin,
      moxiBin: resolve(get('moxi') ?? join(repoRoot, 'bin', 'moxi')),
      repoRoot,
      json: values['no-json'] !== true,
      profile: values.profile === true || env['BENCH_PROFILE'] === '1',
    },
  };
}
