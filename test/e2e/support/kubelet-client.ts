/**
 * Talks to a virtual kubelet's :10250 directly, as the API server or metrics-server would: plain
 * HTTPS requests, and SPDY exec sessions built on the package's own SPDY connection (client
 * role). The node's serving certificate is verified against the cluster's kubelet CA.
 */
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import { SpdyConnection, type SpdyStream } from '../../../src/kubelet-api/streaming/spdy/index.ts';
import type { TestCluster } from '../../../tools/kube/testing.ts';

export interface Credentials {
  /** A bearer token. */
  token?: string;
  /** A client certificate and key (PEM). */
  cert?: Buffer;
  key?: Buffer;
}

/** The API server's own kubelet client certificate. */
export function apiserverClientCertificate(cluster: TestCluster): Credentials {
  return {
    cert: readFileSync(join(cluster.info.pkiDir, 'apiserver-kubelet-client.crt')),
    key: readFileSync(join(cluster.info.pkiDir, 'apiserver-kubelet-client.key')),
  };
}

function kubeletCA(cluster: TestCluster): Buffer {
  return readFileSync(join(cluster.info.pkiDir, 'kubelet-ca.crt'));
}

export interface KubeletResponse {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

/** One HTTPS request to the kubelet API. */
export function kubeletRequest(
  cluster: TestCluster,
  port: number,
  path: string,
  credentials: Credentials = {},
  method = 'GET',
): Promise<KubeletResponse> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method,
        ca: kubeletCA(cluster),
        ...(credentials.cert ? { cert: credentials.cert, key: credentials.key } : {}),
        headers: credentials.token ? { authorization: `Bearer ${credentials.token}` } : {},
        agent: false,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** An upgraded SPDY exec session with its streams. */
export interface SpdyExecSession {
  socket: TLSSocket;
  connection: SpdyConnection;
  streams: Record<string, SpdyStream>;
  /** The error stream's content once the server finished it. */
  status: Promise<string>;
}

/**
 * Opens an exec session over SPDY (`v4.channel.k8s.io`) the way the API server's translator does:
 * upgrade, then the error, stdin, stdout and stderr streams.
 */
export async function openSpdyExec(
  cluster: TestCluster,
  port: number,
  target: { namespace: string; pod: string; container: string; command: string[]; stdin?: boolean },
  credentials: Credentials = apiserverClientCertificate(cluster),
): Promise<SpdyExecSession> {
  const query = new URLSearchParams();
  for (const arg of target.command) query.append('command', arg);
  query.set('output', '1');
  query.set('error', '1');
  if (target.stdin) query.set('input', '1');
  const socket = await new Promise<TLSSocket>((resolve, reject) => {
    const s = connect({
      host: '127.0.0.1',
      port,
      ca: kubeletCA(cluster),
      servername: 'localhost',
      ...(credentials.cert ? { cert: credentials.cert, key: credentials.key } : {}),
      ALPNProtocols: ['http/1.1'],
    });
    s.once('secureConnect', () => resolve(s));
    s.once('error', reject);
  });
  socket.write(
    `POST /exec/${target.namespace}/${target.pod}/${target.container}?${query} HTTP/1.1\r\n` +
      `Host: 127.0.0.1:${port}\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n` +
      'X-Stream-Protocol-Version: v4.channel.k8s.io\r\nContent-Length: 0\r\n' +
      (credentials.token ? `Authorization: Bearer ${credentials.token}\r\n` : '') +
      '\r\n',
  );
  const head = await new Promise<Buffer>((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      socket.pause();
      const response = buffered.subarray(0, end).toString();
      if (!response.startsWith('HTTP/1.1 101')) {
        reject(new Error(`upgrade refused: ${response.split('\r\n')[0]} ${buffered.subarray(end + 4).toString()}`));
        return;
      }
      resolve(buffered.subarray(end + 4));
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
  const connection = new SpdyConnection(socket, { role: 'client', head });
  connection.on('error', () => {});
  const streams: Record<string, SpdyStream> = {};
  const types = ['error', ...(target.stdin ? ['stdin'] : []), 'stdout', 'stderr'];
  for (const type of types) streams[type] = await connection.createStream({ streamtype: type });
  const errorStream = streams.error as SpdyStream;
  const status = new Promise<string>((resolve) => {
    let text = '';
    errorStream.on('data', (chunk: Buffer) => {
      text += chunk.toString();
    });
    errorStream.on('end', () => resolve(text));
    errorStream.on('close', () => resolve(text));
  });
  return { socket, connection, streams, status };
}
