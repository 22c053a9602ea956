import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SlotPool } from '../../../src/engine/runners/ssh/slots';

test('runs spread over the least-loaded host and wait in order for a free slot', async () => {
  const pool = new SlotPool();
  pool.setSlots('a', ['0', '1']);
  pool.setSlots('b', [undefined]);
  pool.setUp('a', true);
  pool.setUp('b', true);
  const signal = new AbortController().signal;
  const first = await pool.acquire(signal);
  const second = await pool.acquire(signal);
  assert.notEqual(first.host, second.host);
  const third = await pool.acquire(signal);
  assert.equal(third.host, 'a');
  let fourth: string | undefined;
  const waiting = pool.acquire(signal).then((s) => (fourth = s.id));
  await new Promise((r) => setImmediate(r));
  assert.equal(fourth, undefined);
  pool.release(second);
  await waiting;
  assert.equal(fourth, second.id);
});

test('a host that is down takes no runs until it is back', async () => {
  const pool = new SlotPool();
  pool.setSlots('a', ['0']);
  pool.setSlots('b', ['0']);
  pool.setUp('a', false);
  pool.setUp('b', true);
  const signal = new AbortController().signal;
  const s1 = await pool.acquire(signal);
  assert.equal(s1.host, 'b');
  const next = pool.acquire(signal);
  pool.setUp('a', true);
  assert.equal((await next).host, 'a');
});

test('a cancelled wait leaves the queue', async () => {
  const pool = new SlotPool();
  pool.setSlots('a', ['0']);
  pool.setUp('a', true);
  const held = await pool.acquire(new AbortController().signal);
  const abort = new AbortController();
  const waiting = pool.acquire(abort.signal);
  abort.abort();
  await assert.rejects(waiting, /cancelled/);
  assert.equal(pool.waiting, 0);
  pool.release(held);
});
