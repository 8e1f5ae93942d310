import { KeyList } from '../../src/util/key-list.ts';

/** `keys` as a KeyList over one buffer, "get k1 k2 ...", as a get's command line holds them. */
export function keyList(keys: readonly Uint8Array[]): KeyList {
  const prefix = Buffer.from('get');
  const pieces: Uint8Array[] = [prefix];
  const starts = new Array<number>(keys.length);
  const ends = new Array<number>(keys.length);
  let at = prefix.length;
  keys.forEach((key, i) => {
    pieces.push(Buffer.from(' '), key);
    starts[i] = at + 1;
    ends[i] = at + 1 + key.length;
    at = ends[i];
  });
  pieces.push(Buffer.from('\r\n'));
  return new KeyList(Buffer.concat(pieces), starts, ends);
}
