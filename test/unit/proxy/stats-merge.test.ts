import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { StatsMerger } from '../../../src/proxy/stats-merge.ts';

describe('StatsMerger', () => {
  it('keeps the first pid/version, the smallest uptime, and sums counters', () => {
    const m = new StatsMerger();
    for (const [pid, uptime, gets, version] of [
      ['10', '500', '7', '1.6.18'],
      ['20', '300', '5', '1.6.9'],
    ]) {
      m.add('pid', pid);
      m.add('uptime', uptime);
      m.add('cmd_get', gets);
      m.add('version', version);
    }
    assert.equal(
      m.render(),
      'STAT pid 10\r\nSTAT uptime 300\r\nSTAT cmd_get 12\r\nSTAT version 1.6.18\r\nEND\r\n',
    );
  });

  it('sums decimals with six places and applies rules to the name after its last colon', () => {
    const m = new StatsMerger();
    m.add('rusage_user', '0.5');
    m.add('rusage_user', '0.25');
    m.add('items:1:age', '40');
    m.add('items:1:age', '30');
    m.add('libevent', '2.1.12-stable');
    m.add('libevent', '2.0');
    m.add('weird', 'abc');
    m.add('weird', 'def');
    assert.equal(
      m.render(),
      'STAT rusage_user 0.750000\r\nSTAT items:1:age 30\r\nSTAT libevent 2.1.12-stable\r\nSTAT weird abc\r\nEND\r\n',
    );
  });

  it('sums 64-bit counters without losing precision', () => {
    const m = new StatsMerger();
    m.add('bytes_read', '9007199254740993');
    m.add('bytes_read', '1');
    assert.equal(m.render(), 'STAT bytes_read 9007199254740994\r\nEND\r\n');
  });
});
