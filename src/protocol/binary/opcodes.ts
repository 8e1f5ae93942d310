/**
 * Constant tables of the memcached binary protocol: magic bytes, opcodes (memcached 1.6 plus the membase
 * ones moxi speaks), status codes with memcached's default error texts, and per-opcode metadata.
 */

export const Magic = {
  Request: 0x80,
  Response: 0x81,
} as const;
export type MagicByte = (typeof Magic)[keyof typeof Magic];

/** memcached always writes RAW_BYTES; nothing in memcached 1.6 or moxi interprets other values. */
export const DataType = {
  RAW_BYTES: 0x00,
} as const;

export const Opcode = {
  GET: 0x00,
  SET: 0x01,
  ADD: 0x02,
  REPLACE: 0x03,
  DELETE: 0x04,
  INCREMENT: 0x05,
  DECREMENT: 0x06,
  QUIT: 0x07,
  FLUSH: 0x08,
  GETQ: 0x09,
  NOOP: 0x0a,
  VERSION: 0x0b,
  GETK: 0x0c,
  GETKQ: 0x0d,
  APPEND: 0x0e,
  PREPEND: 0x0f,
  STAT: 0x10,
  SETQ: 0x11,
  ADDQ: 0x12,
  REPLACEQ: 0x13,
  DELETEQ: 0x14,
  INCREMENTQ: 0x15,
  DECREMENTQ: 0x16,
  QUITQ: 0x17,
  FLUSHQ: 0x18,
  APPENDQ: 0x19,
  PREPENDQ: 0x1a,
  TOUCH: 0x1c,
  GAT: 0x1d,
  GATQ: 0x1e,
  SASL_LIST_MECHS: 0x20,
  SASL_AUTH: 0x21,
  SASL_STEP: 0x22,
  GATK: 0x23,
  GATKQ: 0x24,
  // membase / couchbase opcodes that moxi sends or passes through
  SET_VBUCKET: 0x3d,
  GET_VBUCKET: 0x3e,
  DEL_VBUCKET: 0x3f,
  SELECT_BUCKET: 0x89,
  GETL: 0x94,
  UNL: 0x95,
} as const;
export type OpcodeName = keyof typeof Opcode;
export type OpcodeValue = (typeof Opcode)[OpcodeName];

export const Status = {
  SUCCESS: 0x00,
  KEY_ENOENT: 0x01,
  KEY_EEXISTS: 0x02,
  E2BIG: 0x03,
  EINVAL: 0x04,
  NOT_STORED: 0x05,
  DELTA_BADVAL: 0x06,
  NOT_MY_VBUCKET: 0x07,
  AUTH_ERROR: 0x20,
  AUTH_CONTINUE: 0x21,
  UNKNOWN_COMMAND: 0x81,
  ENOMEM: 0x82,
  NOT_SUPPORTED: 0x83,
  EINTERNAL: 0x84,
  EBUSY: 0x85,
  ETMPFAIL: 0x86,
} as const;
export type StatusName = keyof typeof Status;
export type StatusCode = (typeof Status)[StatusName];

/**
 * The body memcached 1.6.18 writes with an error status when the handler gives no text of its own
 * (write_bin_error). Statuses memcached never produces itself have no entry. Some handlers pass their
 * own text instead: ENOMEM from out_of_memory() carries the ASCII message minus "SERVER_ERROR ",
 * e.g. "Out of memory allocating item".
 */
export const DEFAULT_ERROR_TEXT = {
  [Status.KEY_ENOENT]: 'Not found',
  [Status.KEY_EEXISTS]: 'Data exists for key.',
  [Status.E2BIG]: 'Too large.',
  [Status.EINVAL]: 'Invalid arguments',
  [Status.NOT_STORED]: 'Not stored.',
  [Status.DELTA_BADVAL]: 'Non-numeric server-side value for incr or decr',
  [Status.AUTH_ERROR]: 'Auth failure.',
  [Status.UNKNOWN_COMMAND]: 'Unknown command',
  [Status.ENOMEM]: 'Out of memory',
} as const;

const DEFAULT_ERROR_TEXT_BY_STATUS: readonly (string | undefined)[] = (() => {
  const out: (string | undefined)[] = new Array<string | undefined>(256).fill(undefined);
  for (const [status, text] of Object.entries(DEFAULT_ERROR_TEXT)) out[Number(status)] = text;
  return out;
})();

/** memcached's default error body for `status`, or undefined when memcached has none. */
export function defaultErrorText(status: number): string | undefined {
  return DEFAULT_ERROR_TEXT_BY_STATUS[status];
}

const STATUS_NAMES: ReadonlyMap<number, StatusName> = new Map(
  (Object.keys(Status) as StatusName[]).map((name) => [Status[name], name]),
);

/** For logs: the status's name, or its hex value when it is not one we know. */
export function statusName(status: number): string {
  return STATUS_NAMES.get(status) ?? `0x${status.toString(16).padStart(2, '0')}`;
}

/** Whether a request must, may, or must not carry a key (as memcached or the membase servers check it). */
export type KeyRule = 'required' | 'optional' | 'none';

export interface OpcodeInfo {
  readonly opcode: number;
  readonly name: OpcodeName;
  readonly quiet: boolean;
  /** The variant that always answers; the opcode itself unless it is quiet. */
  readonly loud: number;
  /** The variant that answers only errors (GETQ family: only hits); undefined when there is none. */
  readonly quietVariant: number | undefined;
  readonly key: KeyRule;
  /** The extras length a request must have; null where several are accepted (FLUSH: 0 or 4, GETL: 0 or 4). */
  readonly requestExtras: number | null;
}

// [loud, quiet or undefined, key rule, request extras] — the rules are dispatch_bin_command's checks.
const SPECS: readonly (readonly [OpcodeName, OpcodeName | undefined, KeyRule, number | null])[] = [
  ['GET', 'GETQ', 'required', 0],
  ['GETK', 'GETKQ', 'required', 0],
  ['SET', 'SETQ', 'required', 8],
  ['ADD', 'ADDQ', 'required', 8],
  ['REPLACE', 'REPLACEQ', 'required', 8],
  ['DELETE', 'DELETEQ', 'required', 0],
  ['INCREMENT', 'INCREMENTQ', 'required', 20],
  ['DECREMENT', 'DECREMENTQ', 'required', 20],
  ['QUIT', 'QUITQ', 'none', 0],
  ['FLUSH', 'FLUSHQ', 'none', null],
  ['APPEND', 'APPENDQ', 'required', 0],
  ['PREPEND', 'PREPENDQ', 'required', 0],
  ['GAT', 'GATQ', 'required', 4],
  ['GATK', 'GATKQ', 'required', 4],
  ['NOOP', undefined, 'none', 0],
  ['VERSION', undefined, 'none', 0],
  ['STAT', undefined, 'optional', 0],
  ['TOUCH', undefined, 'required', 4],
  ['SASL_LIST_MECHS', undefined, 'none', 0],
  // the key is the mechanism name
  ['SASL_AUTH', undefined, 'required', 0],
  ['SASL_STEP', undefined, 'required', 0],
  // the vbucket id travels in the header; SET_VBUCKET's state has been in the body and in extras
  ['SET_VBUCKET', undefined, 'none', null],
  ['GET_VBUCKET', undefined, 'none', 0],
  ['DEL_VBUCKET', undefined, 'none', 0],
  // the key is the bucket name
  ['SELECT_BUCKET', undefined, 'required', 0],
  // extras: optional 4-byte lock timeout (moxi always sends it)
  ['GETL', undefined, 'required', null],
  ['UNL', undefined, 'required', 0],
];

/** Metadata indexed by opcode byte; undefined for opcodes we do not know. */
export const OPCODE_INFO: readonly (OpcodeInfo | undefined)[] = (() => {
  const table: (OpcodeInfo | undefined)[] = new Array<OpcodeInfo | undefined>(256).fill(undefined);
  for (const [loudName, quietName, key, requestExtras] of SPECS) {
    const loud = Opcode[loudName];
    const quiet = quietName === undefined ? undefined : Opcode[quietName];
    table[loud] = {
      opcode: loud,
      name: loudName,
      quiet: false,
      loud,
      quietVariant: quiet,
      key,
      requestExtras,
    };
    if (quiet !== undefined && quietName !== undefined) {
      table[quiet] = {
        opcode: quiet,
        name: quietName,
        quiet: true,
        loud,
        quietVariant: quiet,
        key,
        requestExtras,
      };
    }
  }
  return table;
})();

const OPCODE_NAMES: readonly string[] = Array.from(
  { length: 256 },
  (_, op) => OPCODE_INFO[op]?.name ?? `UNKNOWN_0x${op.toString(16).padStart(2, '0')}`,
);

export function opcodeInfo(op: number): OpcodeInfo | undefined {
  return OPCODE_INFO[op];
}

/** The opcodes (loud forms) that change a key's value. */
export const MUTATING_OPCODES: ReadonlySet<number> = new Set([
  Opcode.SET,
  Opcode.ADD,
  Opcode.REPLACE,
  Opcode.DELETE,
  Opcode.INCREMENT,
  Opcode.DECREMENT,
  Opcode.APPEND,
  Opcode.PREPEND,
]);

export function isQuiet(op: number): boolean {
  return OPCODE_INFO[op]?.quiet === true;
}

/** The always-answering variant of `op`; `op` itself when it is not quiet or not known. */
export function loudOf(op: number): number {
  return OPCODE_INFO[op]?.loud ?? op;
}

/** The quiet variant of `op` (itself when already quiet); undefined when it has none. */
export function quietOf(op: number): number | undefined {
  return OPCODE_INFO[op]?.quietVariant;
}

/** The opcode's name ("GETKQ"), or "UNKNOWN_0x1b" for opcodes we do not know. Precomputed: no allocation. */
export function opcodeName(op: number): string {
  return OPCODE_NAMES[op] ?? `UNKNOWN_${op}`;
}
