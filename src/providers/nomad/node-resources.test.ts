import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '../../errors.ts';
import type { NomadAllocation, NomadNode } from './api/types.ts';
import { loadNomadConfig } from './config.ts';
import { averageMhzPerCore, nodeCapacity, usableNodes } from './node-resources.ts';

function node(id: string, extra: Partial<NomadNode> = {}): NomadNode {
  return {
    ID: id,
    Name: id,
    Datacenter: 'dc1',
    Status: 'ready',
    SchedulingEligibility: 'eligible',
    Drain: false,
    Drivers: { docker: { Detected: true, Healthy: true } },
    NodeResources: { Cpu: { CpuShares: 8000, TotalCpuCores: 4 }, Memory: { MemoryMB: 16384 }, Disk: { DiskMB: 10240 } },
    ReservedResources: { Cpu: { CpuShares: 1000 }, Memory: { MemoryMB: 1024 } },
    ...extra,
  };
}

test('only ready, eligible nodes of our datacenters with a healthy driver count', () => {
  const nodes = [
    node('a'),
    node('b', { Datacenter: 'eu-west-2' }),
    node('c', { Status: 'down' }),
    node('d', { SchedulingEligibility: 'ineligible' }),
    node('e', { Drivers: { docker: { Detected: true, Healthy: false } } }),
    node('f', { Datacenter: 'us-east-1' }),
  ];
  const filter = { datacenters: ['dc1', 'eu-*'], nodePool: undefined, driver: 'docker' };
  assert.deepEqual(
    usableNodes(nodes, filter).map((n) => n.ID),
    ['a', 'b'],
  );
  assert.equal(averageMhzPerCore(usableNodes(nodes, filter)), 2000);
});

test('capacity sums the nodes; allocatable subtracts reserved and what other jobs hold', () => {
  const other: NomadAllocation = {
    ID: 'x',
    Namespace: 'default',
    Name: 'other.web[0]',
    NodeID: 'a',
    JobID: 'other',
    TaskGroup: 'web',
    DesiredStatus: 'run',
    ClientStatus: 'running',
    AllocatedResources: { Tasks: { web: { Cpu: { CpuShares: 2000 }, Memory: { MemoryMB: 2048 } } } },
    CreateIndex: 1,
    ModifyIndex: 1,
    CreateTime: 0,
    ModifyTime: 0,
  };
  const stopped = { ...other, ID: 'y', ClientStatus: 'complete' };
  const { capacity, allocatable } = nodeCapacity([node('a'), node('b')], [other, stopped], 2000, 110, {});
  assert.deepEqual(capacity, { cpu: '8000m', memory: '32768Mi', 'ephemeral-storage': '20480Mi', pods: '220' });
  // 16000 MHz - 2000 reserved - 2000 used = 12000 MHz = 6 cores; 32768 - 2048 - 2048 MiB.
  assert.equal(allocatable.cpu, '6000m');
  assert.equal(allocatable.memory, '28672Mi');
  const overridden = nodeCapacity([node('a')], [], 2000, 110, { cpu: '2', pods: '10' });
  assert.equal(overridden.capacity.cpu, '2');
  assert.equal(overridden.allocatable.cpu, '2');
  assert.equal(overridden.capacity.pods, '10');
});

test('the config: defaults, every field read, mistakes named with the file and the field', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vk-nomad-config-'));
  const write = (text: string) => {
    const path = join(dir, `c${Math.random()}.yaml`);
    writeFileSync(path, text);
    return path;
  };
  const defaults = loadNomadConfig(undefined, {});
  assert.equal(defaults.address, 'http://127.0.0.1:4646');
  assert.deepEqual(defaults.datacenters, ['*']);
  assert.equal(defaults.token, undefined);
  assert.equal(loadNomadConfig(undefined, { NOMAD_TOKEN: 'secret', NOMAD_ADDR: 'http://n:4646' }).token, 'secret');
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, 'from-file\n');
  const full = loadNomadConfig(
    write(
      [
        'address: unix:///run/nomad.sock',
        `tokenFile: ${tokenFile}`,
        'region: eu',
        'namespace: k8s',
        'datacenters: [dc1, dc2]',
        'jobPrefix: ""',
        'driver: docker',
        'docker: { engine: podman, config: { dns_servers: ["1.1.1.1"] } }',
        'network: cni/mynet',
        'cpu: { mhzPerCore: 2500 }',
        'restart: { attempts: 5, interval: 10m, delay: 15s }',
        'capacity: { pods: "50" }',
      ].join('\n'),
    ),
    {},
  );
  assert.equal(full.token, 'from-file');
  assert.equal(full.jobPrefix, '');
  assert.equal(full.networkMode, 'cni/mynet');
  assert.equal(full.mhzPerCore, 2500);
  assert.deepEqual(full.restart, { attempts: 5, intervalMs: 600_000, delayMs: 15_000 });
  assert.deepEqual(full.dockerConfig, { dns_servers: ['1.1.1.1'] });
  const fails = (text: string, pattern: RegExp) =>
    assert.throws(
      () => loadNomadConfig(write(text), {}),
      (error) => error instanceof ConfigError && pattern.test(error.message),
    );
  fails('adress: http://x', /unknown field "adress"/);
  fails('address: ftp://x', /"address" must be http:\/\/host:port/);
  fails('driver: qemu', /"driver" must be one of docker, exec, raw_exec/);
  fails('network: overlay', /"network" must be bridge, host or cni\/<name>/);
  fails('token: a\ntokenFile: /x', /"tokenFile" and "token" are both set/);
  fails(
    'tls: { caFile: /nonexistent/ca.pem }\naddress: https://n:4646',
    /tls.caFile \/nonexistent\/ca.pem cannot be read/,
  );
  fails('capacity: { gpus: "1" }', /"capacity.gpus" is not a resource/);
});
