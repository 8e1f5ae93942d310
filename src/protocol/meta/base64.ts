/**
 * Base64 for meta-protocol binary keys (the `b` flag), decoding exactly as memcached's base64_decode:
 * characters outside the alphabet are skipped, the count of alphabet characters (padding included) must
 * be a non-zero multiple of four, decoding stops after the first padded quantum, and failure yields null
 * (memcached's 0) instead of a partial key.
 */
const DECODE = new Uint8Array(256).fill(0x80);
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
for (let i = 0; i < ALPHABET.length; i++) DECODE[ALPHABET.charCodeAt(i)] = i;
DECODE[0x3d /* = */] = 0;

export function base64DecodeKey(src: Buffer, start: number, end: number): Buffer | null {
  let count = 0;
  for (let i = start; i < end; i++) if (DECODE[src[i]] !== 0x80) count++;
  if (count === 0 || count % 4 !== 0) return null;
  const out = Buffer.allocUnsafe((count / 4) * 3);
  let pos = 0;
  let n = 0;
  let pad = 0;
  const block = [0, 0, 0, 0];
  for (let i = start; i < end; i++) {
    const c = src[i];
    const v = DECODE[c];
    if (v === 0x80) continue;
    if (c === 0x3d) pad++;
    block[n++] = v;
    if (n === 4) {
      out[pos++] = ((block[0] << 2) | (block[1] >> 4)) & 0xff;
      out[pos++] = ((block[1] << 4) | (block[2] >> 2)) & 0xff;
      out[pos++] = ((block[2] << 6) | block[3]) & 0xff;
      n = 0;
      if (pad > 0) {
        if (pad === 1) pos -= 1;
        else if (pad === 2) pos -= 2;
        else return null;
        break;
      }
    }
  }
  return pos === 0 ? null : out.subarray(0, pos);
}

export function base64Encode(bytes: Buffer): string {
  return bytes.toString('base64');
}
