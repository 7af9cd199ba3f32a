/**
 * The moto harness as tests use it: a moto server per test process, and the AWS resources a
 * Fargate provider needs in it (a VPC with DNS hostnames, which moto needs for awsvpc tasks, a
 * subnet, a security group, an ECS cluster and a CloudWatch log group), made with the same SDK
 * the provider uses.
 *
 * ```ts
 * const aws = await fargateTestEnvironment();
 * // aws.server.endpoint, aws.providerConfig(), aws.ecs, aws.logs, aws.env (credentials)
 * after(() => aws.server.stop());
 * ```
 */
import { execFileSync } from 'node:child_process';
import {
  CloudWatchLogsClient,
  CreateLogGroupCommand,
  CreateLogStreamCommand,
  PutLogEventsCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import {
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  EC2Client,
  ModifyVpcAttributeCommand,
} from '@aws-sdk/client-ec2';
import { CreateClusterCommand, ECSClient } from '@aws-sdk/client-ecs';
import { type MotoServer, startMotoServer } from './server.ts';

export { waitFor } from '../kube/testing.ts';
export type { MotoServer } from './server.ts';

export const TEST_REGION = 'us-east-1';

/** Credentials for moto (it accepts any); given to the SDK through its default chain (the environment). */
export const TEST_CREDENTIALS_ENV: Readonly<Record<string, string>> = {
  AWS_ACCESS_KEY_ID: 'testing',
  AWS_SECRET_ACCESS_KEY: 'testing',
  AWS_REGION: TEST_REGION,
};

export interface FargateTestEnvironment {
  server: MotoServer;
  region: string;
  cluster: string;
  subnets: string[];
  securityGroups: string[];
  logGroup: string;
  ecs: ECSClient;
  logs: CloudWatchLogsClient;
  ec2: EC2Client;
  /** Environment variables that give a process credentials for this moto. */
  env: Record<string, string>;
  /** A `--provider fargate` config for this environment, with `overrides` on top. */
  providerConfig(overrides?: Record<string, unknown>): Record<string, unknown>;
  /** Writes log lines to a CloudWatch stream, as the awslogs driver would (creating the stream). */
  putLogEvents(stream: string, events: { time: Date; message: string }[]): Promise<void>;
}

/** Why moto tests cannot run here (no python3), or undefined. `VK_SKIP_MOTO=1` skips them on purpose. */
export function motoSkipReason(): string | undefined {
  if (process.env.VK_SKIP_MOTO === '1') return 'VK_SKIP_MOTO=1';
  try {
    execFileSync(process.env.VK_PYTHON || 'python3', ['--version'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'python3 is not installed (needed to build the moto venv; on Debian: apt-get install python3 python3-venv)';
  }
}

/** Starts a moto server and creates the network, cluster and log group in it. */
export async function fargateTestEnvironment(
  options: { cluster?: string; log?: (line: string) => void } = {},
): Promise<FargateTestEnvironment> {
  const server = await startMotoServer(options.log ?? ((line) => process.stderr.write(`moto: ${line}\n`)));
  const clientConfig = {
    region: TEST_REGION,
    endpoint: server.endpoint,
    credentials: { accessKeyId: TEST_CREDENTIALS_ENV.AWS_ACCESS_KEY_ID ?? '', secretAccessKey: 'testing' },
  };
  const ecs = new ECSClient(clientConfig);
  const logs = new CloudWatchLogsClient(clientConfig);
  const ec2 = new EC2Client(clientConfig);
  const vpc = await ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }));
  const vpcId = vpc.Vpc?.VpcId ?? '';
  // moto's RunTask for awsvpc fails with a 500 without DNS hostnames (its ENI then has no DNS name).
  await ec2.send(new ModifyVpcAttributeCommand({ VpcId: vpcId, EnableDnsHostnames: { Value: true } }));
  const subnet = await ec2.send(new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: '10.0.1.0/24' }));
  const group = await ec2.send(
    new CreateSecurityGroupCommand({ GroupName: 'virtual-kubelet-test', Description: 'test pods', VpcId: vpcId }),
  );
  const cluster = options.cluster ?? 'virtual-kubelet';
  await ecs.send(new CreateClusterCommand({ clusterName: cluster }));
  const logGroup = '/virtual-kubelet/test';
  await logs.send(new CreateLogGroupCommand({ logGroupName: logGroup }));
  const subnets = [subnet.Subnet?.SubnetId ?? ''];
  const securityGroups = [group.GroupId ?? ''];
  const streams = new Set<string>();
  return {
    server,
    region: TEST_REGION,
    cluster,
    subnets,
    securityGroups,
    logGroup,
    ecs,
    logs,
    ec2,
    env: { ...TEST_CREDENTIALS_ENV },
    providerConfig: (overrides = {}) => ({
      region: TEST_REGION,
      endpoint: server.endpoint,
      cluster,
      subnets,
      securityGroups,
      logGroup,
      executionRoleArn: 'arn:aws:iam::123456789012:role/ecsTaskExecutionRole',
      ...overrides,
    }),
    putLogEvents: async (stream, events) => {
      if (!streams.has(stream)) {
        await logs.send(new CreateLogStreamCommand({ logGroupName: logGroup, logStreamName: stream }));
        streams.add(stream);
      }
      await logs.send(
        new PutLogEventsCommand({
          logGroupName: logGroup,
          logStreamName: stream,
          logEvents: events.map((e) => ({ timestamp: e.time.getTime(), message: e.message })),
        }),
      );
    },
  };
}
