import assert from 'node:assert/strict';
import { test } from 'node:test';
import { serveRemoteCommand } from './remotecommand/index.ts';
import { rawUpgrade, upgradeServer } from './test-support.test.ts';
import { negotiateStreamProtocol, selectWebSocketProtocol } from './upgrade.ts';

const SERVER = ['v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'];

test('negotiation takes the first offer the server supports, in the client’s order', () => {
  assert.deepEqual(negotiateStreamProtocol(['v5.channel.k8s.io', 'v4.channel.k8s.io', 'channel.k8s.io'], SERVER), {
    ok: true,
    protocol: 'v4.channel.k8s.io',
  });
  assert.deepEqual(negotiateStreamProtocol(['channel.k8s.io', 'v4.channel.k8s.io'], SERVER), {
    ok: true,
    protocol: 'channel.k8s.io',
  });
  const refused = negotiateStreamProtocol(['v5.channel.k8s.io'], SERVER);
  assert.equal(refused.ok, false);
  assert.equal(!refused.ok && refused.statusCode, 403);
  const statusOf = (offers: string[] | undefined) => {
    const result = negotiateStreamProtocol(offers, SERVER);
    return result.ok ? 101 : result.statusCode;
  };
  assert.equal(statusOf(undefined), 400);
  assert.equal(statusOf([]), 400);
});

test('WebSocket subprotocol selection: client order, and no offer means ""', () => {
  const supported = ['', 'channel.k8s.io', 'v4.channel.k8s.io'];
  assert.equal(selectWebSocketProtocol([], supported), '');
  assert.equal(selectWebSocketProtocol(['v4.channel.k8s.io', 'channel.k8s.io'], supported), 'v4.channel.k8s.io');
  assert.equal(selectWebSocketProtocol(['x', 'channel.k8s.io'], supported), 'channel.k8s.io');
  assert.equal(selectWebSocketProtocol(['x'], supported), undefined);
  assert.equal(selectWebSocketProtocol([], ['channel.k8s.io']), undefined);
});

test('SPDY handshake on the wire: 101 for offers on several lines or comma-joined, 403 and 400 otherwise', async (t) => {
  const port = await upgradeServer(t, (request, socket, head) => {
    void serveRemoteCommand(
      request,
      socket,
      head,
      { stdin: false, stdout: true, stderr: false, tty: false },
      async () => 0,
    );
  });
  const upgrade = (protocolHeaders: [string, string][], upgradeHeader = 'SPDY/3.1') =>
    rawUpgrade(port, {
      method: 'POST',
      path: '/exec/ns/pod/c?command=true&output=1',
      headers: [['Connection', 'Upgrade'], ['Upgrade', upgradeHeader], ...protocolHeaders],
    });

  const lines = await upgrade([
    ['X-Stream-Protocol-Version', 'v5.channel.k8s.io'],
    ['X-Stream-Protocol-Version', 'v4.channel.k8s.io'],
    ['X-Stream-Protocol-Version', 'channel.k8s.io'],
  ]);
  assert.equal(lines.statusCode, 101);
  assert.deepEqual(lines.headers.connection, ['Upgrade']);
  assert.deepEqual(lines.headers.upgrade, ['SPDY/3.1']);
  assert.deepEqual(lines.headers['x-stream-protocol-version'], ['v4.channel.k8s.io']);
  lines.socket.destroy();

  const joined = await upgrade([['X-Stream-Protocol-Version', 'v5.channel.k8s.io, v3.channel.k8s.io,channel.k8s.io']]);
  assert.equal(joined.statusCode, 101);
  assert.deepEqual(joined.headers['x-stream-protocol-version'], ['v3.channel.k8s.io']);
  joined.socket.destroy();

  const forbidden = await upgrade([['X-Stream-Protocol-Version', 'v5.channel.k8s.io']]);
  assert.equal(forbidden.statusCode, 403);
  assert.deepEqual(forbidden.headers['x-accepted-stream-protocol-versions'], SERVER);
  assert.match(forbidden.body, /unable to negotiate protocol/);

  const missing = await upgrade([]);
  assert.equal(missing.statusCode, 400);
  assert.match(missing.body, /X-Stream-Protocol-Version does not exist/);

  const empty = await upgrade([['X-Stream-Protocol-Version', ' , ']]);
  assert.equal(empty.statusCode, 400);

  const notSpdy = await upgrade([['X-Stream-Protocol-Version', 'v4.channel.k8s.io']], 'h2c');
  assert.equal(notSpdy.statusCode, 400);
  assert.match(notSpdy.body, /missing upgrade headers/);
});
