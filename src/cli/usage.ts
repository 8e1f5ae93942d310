/**
 * The -h text, built from the same flag table and behaviors table the parsers use, so it cannot drift.
 */
import { formatBehaviorsForUsage } from '../config/behaviors.ts';
import { MOXI_TS_VERSION } from '../version.ts';
import { OPTIONS } from './args.ts';

export function usageText(): string {
  const lines: string[] = [];
  lines.push(`moxi.ts ${MOXI_TS_VERSION} - a memcached/membase proxy with energy and pep`);
  lines.push('');
  lines.push('Usage:');
  lines.push('  moxi [flags] -z <cluster config>           proxy to memcached servers');
  lines.push('  moxi [flags] http://host:8091/pools/default/bucketsStreamingConfig/default');
  lines.push('  moxi [flags] [-p <port>]                     embedded memcached server (default port 11211)');
  lines.push('');
  lines.push('Flags:');
  for (const [name, o] of Object.entries(OPTIONS)) {
    const arg = 'arg' in o ? ` ${o.arg}` : '';
    // a long help text continues under its first line
    const flag = name.length > 1 ? `--${name}` : `-${name}`;
    const head = `  ${flag}${arg}`;
    const help = o.help.replaceAll('\n', '\n' + ' '.repeat(20));
    // a flag too long for the column puts its help under it
    lines.push(head.length < 20 ? head.padEnd(20) + help : head + '\n' + ' '.repeat(20) + help);
  }
  lines.push('');
  lines.push('Cluster configuration (-z):');
  lines.push(
    '  -z 11211=mc1:11222,mc2:11333        listen on 11211, ketama over the servers (default port 11211)',
  );
  lines.push('  -z 11211=mc1:11211:2,mc2            a third field is the server weight');
  lines.push('  -z "11211=a,b;11311=c"              several pools, one listen port each');
  lines.push(
    '  -z ./vbucket1.cfg                   read the configuration from a file ("./" or "/" required);',
  );
  lines.push(
    '                                      a pool whose value starts with "{" is a vBucket server map',
  );
  lines.push('  -z url=http://host:8091/pools/default/bucketsStreamingConfig/default');
  lines.push(
    '                                      follow a cluster\'s streaming REST config ("|" separates URLs)',
  );
  lines.push('  -z auth=USER%PASS,url=http://...    the same with HTTP basic auth');
  lines.push('');
  lines.push('Proxy behaviors (-Z key=value,key=value,... or -Z ./file), with their defaults:');
  lines.push(formatBehaviorsForUsage().trimEnd());
  lines.push('');
  lines.push('Environment: MOXI_SASL_PLAIN_USR and MOXI_SASL_PLAIN_PWD override usr and pwd.');
  return lines.join('\n') + '\n';
}

export function licenseText(): string {
  return [
    'moxi.ts - a memcached/membase proxy in TypeScript.',
    'Licensed under the BSD 3-Clause License. It reimplements the behaviour of moxi',
    '(Copyright NorthScale, Membase, Couchbase; BSD licensed) and memcached',
    '(Copyright Danga Interactive and others; BSD licensed); it contains none of their code.',
    '',
  ].join('\n');
}
