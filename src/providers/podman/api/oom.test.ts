import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { cgroupOomKills, OomWitness, oomKilledContainer } from './oom.ts';

const id = `${'a'.repeat(40)}0123456789abcdef01234567`;
const pod = 'f'.repeat(64);

test('the container of a memory-cgroup OOM kill record, with cgroupfs and systemd paths; other records are not', () => {
  const cgroupfs = `6,1234,13503391120,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=libpod-${id},mems_allowed=0,oom_memcg=/libpod_parent/${pod}/libpod-${id},task_memcg=/libpod_parent/${pod}/libpod-${id},task=sh,pid=27447,uid=0\n`;
  assert.equal(oomKilledContainer(cgroupfs), id);
  const systemd = `6,99,1,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/machine.slice/libpod-${id}.scope,task_memcg=/machine.slice/libpod-${id}.scope/container,task=sh,pid=7,uid=0`;
  assert.equal(oomKilledContainer(systemd), id);
  // conmon's own cgroup, the summary line and a system-wide OOM name no container.
  assert.equal(
    oomKilledContainer(
      `6,1,1,-;oom-kill:constraint=CONSTRAINT_MEMCG,task_memcg=/libpod_parent/${pod}/libpod-conmon-${id},task=conmon`,
    ),
    undefined,
  );
  assert.equal(
    oomKilledContainer('6,2,1,-;Memory cgroup out of memory: Killed process 27447 (sh) total-vm:22756kB'),
    undefined,
  );
  assert.equal(
    oomKilledContainer('6,3,1,-;oom-kill:constraint=CONSTRAINT_NONE,task_memcg=/user.slice,task=java,pid=1,uid=0'),
    undefined,
  );
});

test('the cgroup OOM kill counter, v1 memory.oom_control and v2 memory.events; a gone cgroup has none', () => {
  const v1 = mkdtempSync(join(tmpdir(), 'vk-cgroup-v1-'));
  mkdirSync(join(v1, 'memory/libpod_parent/p/libpod-c'), { recursive: true });
  writeFileSync(
    join(v1, 'memory/libpod_parent/p/libpod-c/memory.oom_control'),
    'oom_kill_disable 0\nunder_oom 0\noom_kill 2\n',
  );
  assert.equal(cgroupOomKills('/libpod_parent/p/libpod-c', v1), 2);
  assert.equal(cgroupOomKills('/libpod_parent/p/gone', v1), undefined);
  const v2 = mkdtempSync(join(tmpdir(), 'vk-cgroup-v2-'));
  writeFileSync(join(v2, 'cgroup.controllers'), 'cpu memory pids\n');
  mkdirSync(join(v2, 'machine.slice/libpod-c.scope'), { recursive: true });
  writeFileSync(join(v2, 'machine.slice/libpod-c.scope/memory.events'), 'low 0\nhigh 0\nmax 12\noom 1\noom_kill 0\n');
  assert.equal(cgroupOomKills('/machine.slice/libpod-c.scope', v2), 0);
});

test('the witness reads a kernel log it may open; without one, only the cgroup counter speaks', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vk-kmsg-'));
  // A regular file stands in for /dev/kmsg: one read returns it all, which holds one record here.
  const log = join(dir, 'kmsg');
  writeFileSync(
    log,
    `6,1,1,-;oom-kill:constraint=CONSTRAINT_MEMCG,task_memcg=/libpod_parent/${pod}/libpod-${id},task=sh,pid=1,uid=0\n`,
  );
  const witness = new OomWitness({ kernelLog: log, cgroupRoot: dir });
  assert.equal(await witness.wasOomKilled(id, undefined), true);
  assert.equal(await witness.wasOomKilled('b'.repeat(64), undefined), false);
  witness.close();
  const blind = new OomWitness({ kernelLog: join(dir, 'missing'), cgroupRoot: dir });
  assert.equal(await blind.wasOomKilled(id, undefined), false);
});
