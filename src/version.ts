/**
 * Version strings. The embedded server reports memcached's protocol version first so that clients which
 * parse "major.minor.micro" out of VERSION (libmemcached does) see the memcached release we match.
 */
export const MOXI_TS_VERSION = '0.1.0';
export const MEMCACHED_COMPAT_VERSION = '1.6.18';
export const SERVER_VERSION = `${MEMCACHED_COMPAT_VERSION}-moxi.ts-${MOXI_TS_VERSION}`;
