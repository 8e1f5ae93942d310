/**
 * Validates a vBucket server map (libvbucket's JSON, vbucket/vbucket.c) and turns it into plain data:
 * server list, replica count and the map itself as a flat Int32Array. Pure; errors are thrown as
 * VBucketMapError carrying libvbucket's (or moxi's mcs layer's) exact text.
 *
 * Accepted shapes: the map alone `{numReplicas, serverList, vBucketMap, ...}` or an envelope (a REST
 * bucket) whose `vBucketServerMap` object is the map and whose `name` / `saslPassword` give the
 * credentials. Like cJSON, member names match case-insensitively.
 */

import { cAtoi } from './behaviors.ts';

/** Where the message comes from: libvbucket's parser, or moxi's own checks in `lvb_create` (src/mcs.c). */
export type VBucketMapErrorSource = 'libvbucket' | 'moxi';

export class VBucketMapError extends Error {
  override readonly name = 'VBucketMapError';
  readonly code = 'EVBUCKETMAP';
  readonly source: VBucketMapErrorSource;

  constructor(message: string, source: VBucketMapErrorSource = 'libvbucket') {
    super(message);
    this.source = source;
  }
}

export interface VBucketServer {
  readonly host: string;
  readonly port: number;
}

export interface VBucketServerMap {
  /** Always CRC: the only hash moxi's libvbucket uses. */
  readonly hashAlgorithm: 'CRC';
  readonly numReplicas: number;
  /** The `serverList` strings after `$HOST` substitution (compared as-is on reconfiguration). */
  readonly serverList: readonly string[];
  readonly servers: readonly VBucketServer[];
  /** Number of vBuckets: a power of two, at most 65536. */
  readonly numVBuckets: number;
  /**
   * Flat, row-major: vBucket v's master is `vBucketMap[v * (numReplicas + 1)]`, its replicas follow;
   * -1 = no server. Copy it (`.slice()`) before learning NOT_MY_VBUCKET corrections.
   */
  readonly vBucketMap: Int32Array;
  /** Same shape as vBucketMap, when the config carries `vBucketMapForward`. */
  readonly vBucketMapForward?: Int32Array;
  /** From the envelope's `name`, unless that is `default`. */
  readonly user?: string;
  /** From the envelope's `saslPassword`. */
  readonly password?: string;
}

export interface ParseVBucketMapOptions {
  /** Replacement for the `$HOST` marker in server strings (libvbucket's peer name); default `localhost`. */
  readonly localhost?: string;
}

const MAX_REPLICAS = 4;
const MAX_VBUCKETS = 65536;
const MCS_HOSTNAME_SIZE = 200;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

function isObject(v: Json | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** cJSON_GetObjectItem: first member whose name matches case-insensitively; undefined if none. */
function member(obj: Json | undefined, name: string): Json | undefined {
  if (!isObject(obj)) return undefined;
  if (Object.hasOwn(obj, name)) return obj[name];
  const lower = name.toLowerCase();
  for (const key of Object.keys(obj)) if (key.toLowerCase() === lower) return obj[key];
  return undefined;
}

/** cJSON's `valueint`: the number truncated toward zero. */
function valueInt(n: number): number {
  return Math.trunc(n);
}

function fail(message: string): never {
  throw new VBucketMapError(message);
}

function substituteHost(server: string, localhost: string): string {
  const at = server.indexOf('$HOST');
  return at < 0 ? server : server.slice(0, at) + localhost + server.slice(at + 5);
}

function checkNodes(nodes: Json): void {
  if (!Array.isArray(nodes)) fail('Expected array for nodes');
  for (const node of nodes) {
    if (!isObject(node)) fail('Expected json object for nodes array item');
    if (typeof member(node, 'hostname') !== 'string') fail("Expected string for node's hostname");
    const ports = member(node, 'ports');
    if (!isObject(ports)) fail("Expected json object for node's ports");
    if (typeof member(ports, 'direct') !== 'number') fail("Expected number for node's direct port");
  }
}

/** Reads `count` rows of `width` server ids each, as libvbucket's `populate_buckets` does. */
function readRows(rows: Json[], count: number, width: number, numServers: number): Int32Array {
  const out = new Int32Array(count * width);
  for (let v = 0; v < count; v++) {
    const row = rows[v];
    if (!Array.isArray(row) || row.length !== width) {
      fail('Expected array of arrays each with numReplicas + 1 ints for vBucketMap');
    }
    for (let r = 0; r < width; r++) {
      const id = row[r];
      if (typeof id !== 'number' || valueInt(id) < -1 || valueInt(id) >= numServers) {
        fail('Server ID must be >= -1 and < num_servers');
      }
      out[v * width + r] = valueInt(id);
    }
  }
  return out;
}

/** moxi's `lvb_create` checks: each server string must be `host:port` with a usable port. */
function splitServer(server: string, configText: string): VBucketServer {
  if (server.length === 0 || Buffer.byteLength(server) >= MCS_HOSTNAME_SIZE - 1) {
    throw new VBucketMapError(`mcs_create failed, unknown server: ${configText}`, 'moxi');
  }
  const colon = server.indexOf(':');
  if (colon < 0) throw new VBucketMapError(`mcs_create failed, missing port: ${configText}`, 'moxi');
  const port = cAtoi(server.slice(colon + 1));
  if (port <= 0 || port > 65535) {
    throw new VBucketMapError(`mcs_create failed, could not parse port: ${configText}`, 'moxi');
  }
  return { host: server.slice(0, colon), port };
}

/**
 * Parses and validates a vBucket server map given as JSON text or an already-parsed value. Throws
 * VBucketMapError with libvbucket's message (checked in libvbucket's order), or with moxi's
 * `mcs_create failed, ...: <config>` for server strings that are not `host:port`.
 *
 * Stricter than the C code on purpose: the text must be strict JSON (cJSON ignored trailing bytes),
 * numReplicas must be >= 0, the map may hold at most 65536 vBuckets (the message always said so), a
 * `hashAlgorithm`, if present, must be "CRC" (any case), and `nodeLocator` must be absent or
 * "vbucket" (moxi cannot route through a libvbucket ketama map).
 */
export function parseVBucketServerMap(
  json: string | object,
  options: ParseVBucketMapOptions = {},
): VBucketServerMap {
  let root: Json;
  let configText: string;
  if (typeof json === 'string') {
    configText = json;
    try {
      root = JSON.parse(json) as Json;
    } catch {
      fail('Failed to parse data. Invalid JSON?');
    }
  } else {
    root = json as Json;
    configText = JSON.stringify(json);
  }
  const localhost = options.localhost ?? 'localhost';

  const name = member(root, 'name');
  const user = typeof name === 'string' && name !== 'default' ? name : undefined;
  const saslPassword = member(root, 'saslPassword');
  const password = typeof saslPassword === 'string' ? saslPassword : undefined;

  const locator = member(root, 'nodeLocator');
  if (locator !== undefined) {
    if (typeof locator !== 'string') fail('Expected string for nodeLocator');
    if (locator !== 'vbucket') fail(`Unsupported nodeLocator: ${locator}`);
  }

  const envelope = member(root, 'vBucketServerMap');
  const map = isObject(envelope) ? envelope : root;

  const hash = member(map, 'hashAlgorithm');
  if (hash !== undefined) {
    if (typeof hash !== 'string') fail('Expected string for hashAlgorithm');
    if (hash.toLowerCase() !== 'crc') fail('Bogus hash algorithm specified');
  }

  const replicas = member(map, 'numReplicas');
  if (typeof replicas !== 'number' || valueInt(replicas) > MAX_REPLICAS || valueInt(replicas) < 0) {
    fail(`Expected number <= ${MAX_REPLICAS} for numReplicas`);
  }
  const numReplicas = valueInt(replicas);

  const list = member(map, 'serverList');
  if (!Array.isArray(list)) fail('Expected array for serverList');
  if (list.length === 0) fail('Empty serverList');
  const serverList = list.map((s) => {
    if (typeof s !== 'string') fail('Expected array of strings for serverList');
    return substituteHost(s, localhost);
  });

  const nodes = member(root, 'nodes');
  if (nodes !== undefined) checkNodes(nodes);

  const rows = member(map, 'vBucketMap');
  if (!Array.isArray(rows)) fail('Expected array for vBucketMap');
  const numVBuckets = rows.length;
  if (numVBuckets === 0) fail('No vBuckets available; service maybe still initializing');
  if ((numVBuckets & (numVBuckets - 1)) !== 0 || numVBuckets > MAX_VBUCKETS) {
    fail(`Number of vBuckets must be a power of two > 0 and <= ${MAX_VBUCKETS}`);
  }
  const width = numReplicas + 1;
  const vBucketMap = readRows(rows, numVBuckets, width, serverList.length);

  let vBucketMapForward: Int32Array | undefined;
  const forward = member(map, 'vBucketMapForward');
  if (forward !== undefined) {
    if (!Array.isArray(forward)) fail('Expected array for vBucketMapForward');
    vBucketMapForward = readRows(forward, numVBuckets, width, serverList.length);
  }

  const servers = serverList.map((s) => splitServer(s, configText));

  return {
    hashAlgorithm: 'CRC',
    numReplicas,
    serverList,
    servers,
    numVBuckets,
    vBucketMap,
    ...(vBucketMapForward !== undefined ? { vBucketMapForward } : {}),
    ...(user !== undefined ? { user } : {}),
    ...(password !== undefined ? { password } : {}),
  };
}
