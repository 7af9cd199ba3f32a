/**
 * The Fargate provider's configuration file (`--provider-config`, YAML or JSON). A mistake is a
 * ConfigError naming the file and the field (the CLI exits 2). Credentials are not here: the AWS
 * SDK's default chain finds them (environment, shared config and SSO, web identity / IRSA,
 * ECS and EC2 instance metadata).
 *
 * ```yaml
 * region: eu-west-1                 # default: the SDK's (AWS_REGION, shared config)
 * cluster: virtual-kubelet          # the ECS cluster tasks run in (required)
 * subnets: [subnet-0abc…]           # awsvpc subnets (required)
 * securityGroups: [sg-0abc…]        # default: the VPC's default group
 * assignPublicIp: false             # true for public subnets without a NAT gateway
 * platformVersion: LATEST
 * cpuArchitecture: X86_64           # or ARM64
 * executionRoleArn: arn:aws:iam::…:role/ecsTaskExecutionRole   # image pulls from ECR, awslogs
 * taskRoleArn: arn:aws:iam::…:role/pods                        # per pod: annotation fargate.virtual-kubelet.io/task-role-arn
 * logGroup: /virtual-kubelet        # awslogs group; without it containers log nowhere and kubectl logs answers 501
 * logStreamPrefix: vk               # streams are <prefix>/<container>/<task id>
 * capacity: { cpu: "256", memory: 1Ti, pods: "1000" }   # what the scheduler may place here (Fargate has no node)
 * tags: { team: platform }          # on every task and task definition
 * statusPollInterval: 5s            # DescribeTasks, 100 tasks a call
 * describeTasksPerSecond: 10        # cap on DescribeTasks calls, whatever the pod count
 * logPollInterval: 1s               # kubectl logs -f
 * endpoint: http://127.0.0.1:5000   # an ECS/CloudWatch Logs endpoint of your own (moto, LocalStack); default AWS
 * ```
 */
import { readConfigFile } from '../../provider/index.ts';

export interface FargateConfig {
  region: string | undefined;
  endpoint: string | undefined;
  cluster: string;
  subnets: string[];
  securityGroups: string[];
  assignPublicIp: boolean;
  platformVersion: string;
  cpuArchitecture: 'X86_64' | 'ARM64';
  executionRoleArn: string | undefined;
  taskRoleArn: string | undefined;
  logGroup: string | undefined;
  logStreamPrefix: string;
  capacity: Record<string, string>;
  tags: Record<string, string>;
  statusPollIntervalMs: number;
  describeTasksPerSecond: number;
  logPollIntervalMs: number;
}

const KNOWN = [
  'region',
  'endpoint',
  'cluster',
  'subnets',
  'securityGroups',
  'assignPublicIp',
  'platformVersion',
  'cpuArchitecture',
  'executionRoleArn',
  'taskRoleArn',
  'logGroup',
  'logStreamPrefix',
  'capacity',
  'tags',
  'statusPollInterval',
  'describeTasksPerSecond',
  'logPollInterval',
] as const;

/** Tag keys this provider puts on tasks; a configured tag may not use them (or the reserved `aws:` prefix). */
export const RESERVED_TAG_PREFIXES = ['virtual-kubelet.io/', 'aws:'];

const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/.+$/;

/** Reads and validates the config; `cluster` and `subnets` are required. */
export function loadFargateConfig(path: string | undefined): FargateConfig {
  const file = readConfigFile(path);
  file.allowOnly(KNOWN);
  if (!path) file.fail('cluster', 'is required: give --provider-config with cluster and subnets');
  const subnets = file.stringList('subnets', 'a list of subnet IDs (subnet-…)');
  if (subnets.length === 0) file.fail('subnets', 'is required: at least one subnet ID for awsvpc networking');
  if (subnets.length > 16) file.fail('subnets', 'may list at most 16 subnets (an ECS limit)');
  for (const subnet of subnets)
    if (!subnet.startsWith('subnet-')) file.fail('subnets', `has ${subnet}, not a subnet ID`);
  const securityGroups = file.stringList('securityGroups', 'a list of security group IDs (sg-…)');
  if (securityGroups.length > 5) file.fail('securityGroups', 'may list at most 5 groups (an ECS limit)');
  for (const group of securityGroups) {
    if (!group.startsWith('sg-')) file.fail('securityGroups', `has ${group}, not a security group ID`);
  }
  const tags = file.stringMap('tags');
  for (const key of Object.keys(tags)) {
    if (RESERVED_TAG_PREFIXES.some((p) => key.startsWith(p))) file.fail('tags', `may not use the reserved key ${key}`);
  }
  if (Object.keys(tags).length > 40) file.fail('tags', 'may have at most 40 tags (ECS allows 50; the provider adds 4)');
  const capacity = file.quantities('capacity');
  for (const name of Object.keys(capacity)) {
    if (!['cpu', 'memory', 'pods', 'ephemeral-storage'].includes(name)) {
      file.fail('capacity', `has ${name}; known: cpu, memory, pods, ephemeral-storage`);
    }
  }
  return {
    region: file.string('region', { describe: 'an AWS region such as eu-west-1', pattern: /^[a-z]{2}(-[a-z]+)+-\d+$/ }),
    endpoint: file.string('endpoint', { describe: 'an http(s):// URL', pattern: /^https?:\/\/[^\s/]+/ }),
    cluster: file.requiredString('cluster', { describe: 'an ECS cluster name or ARN' }),
    subnets,
    securityGroups,
    assignPublicIp: file.boolean('assignPublicIp', false),
    platformVersion: file.string('platformVersion', {
      default: 'LATEST',
      pattern: /^(LATEST|\d+\.\d+\.\d+)$/,
      describe: 'LATEST or a version such as 1.4.0',
    }),
    cpuArchitecture: file.string('cpuArchitecture', { default: 'X86_64', oneOf: ['X86_64', 'ARM64'] }) as
      | 'X86_64'
      | 'ARM64',
    executionRoleArn: file.string('executionRoleArn', { describe: 'an IAM role ARN', pattern: ROLE_ARN }),
    taskRoleArn: file.string('taskRoleArn', { describe: 'an IAM role ARN', pattern: ROLE_ARN }),
    logGroup: file.string('logGroup', {
      describe: 'a CloudWatch log group name',
      pattern: /^[.\-_/#A-Za-z0-9]{1,512}$/,
    }),
    logStreamPrefix: file.string('logStreamPrefix', {
      default: 'vk',
      pattern: /^[^:*/]{1,64}$/,
      describe: 'a stream prefix without : * or /',
    }),
    capacity: { cpu: '256', memory: '1Ti', pods: '1000', ...capacity },
    tags,
    statusPollIntervalMs: Math.max(1000, file.duration('statusPollInterval', 5_000)),
    describeTasksPerSecond: file.integer('describeTasksPerSecond', { default: 10, min: 1, max: 100 }),
    logPollIntervalMs: Math.max(200, file.duration('logPollInterval', 1_000)),
  };
}
