/**
 * The AWS SDK clients the provider uses, and how their errors read.
 *
 * Credentials come only from the SDK's default chain. Retries use the SDK's adaptive mode: on
 * throttling it slows its own request rate (a client-side token bucket) as well as backing off,
 * which is what keeps thousands of pods inside ECS's API limits. Requests time out, so an
 * unreachable endpoint fails a call instead of hanging it.
 */
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { ECSClient } from '@aws-sdk/client-ecs';
import { InvalidInputError } from '../../errors.ts';
import type { FargateConfig } from './config.ts';

export interface AwsClients {
  ecs: ECSClient;
  logs: CloudWatchLogsClient;
}

export function createAwsClients(config: Pick<FargateConfig, 'region' | 'endpoint'>): AwsClients {
  const common = {
    ...(config.region ? { region: config.region } : {}),
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    retryMode: 'adaptive',
    maxAttempts: 5,
    requestHandler: { connectionTimeout: 5_000, requestTimeout: 15_000 },
  } as const;
  return { ecs: new ECSClient(common), logs: new CloudWatchLogsClient(common) };
}

/** The AWS error code (`AccessDeniedException`, `ThrottlingException`…), or undefined for a non-AWS error. */
export function awsErrorCode(error: unknown): string | undefined {
  const e = error as { name?: string; $metadata?: unknown; Code?: string };
  if (e && typeof e === 'object' && '$metadata' in e) return e.Code ?? e.name;
  return undefined;
}

/** `ClientException: …` — the code first, so a user sees which permission or parameter it is. */
export function awsMessage(error: unknown): string {
  const code = awsErrorCode(error);
  const message = (error as Error)?.message ?? String(error);
  if (!code) return message;
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  // moto answers an unhandled Python exception with an HTML 500 page, which the SDK cannot parse.
  if (status && status >= 500 && /Deserialization error|Unexpected token/.test(message)) {
    return `the ECS endpoint answered HTTP ${status} with no AWS error`;
  }
  return `${code}: ${message}`;
}

/** ECS refuses the request itself (the spec, not the moment): retrying cannot help. */
const INVALID_REQUEST_CODES = new Set([
  'ClientException',
  'InvalidParameterException',
  'PlatformUnknownException',
  'PlatformTaskDefinitionIncompatibilityException',
  'UnsupportedFeatureException',
]);

/**
 * An ECS error as the controller should treat it: the request's own fault (a bad image name,
 * an unknown parameter) becomes InvalidInputError with ECS's message on the pod; everything else
 * (throttling, permissions, an unreachable endpoint) stays retryable, with the code in the message.
 */
export function ecsError(action: string, error: unknown): Error {
  const code = awsErrorCode(error);
  const message = `${action}: ${awsMessage(error)}`;
  if (code && INVALID_REQUEST_CODES.has(code) && !/cluster|role|not authorized/i.test(message)) {
    return new InvalidInputError(message, { cause: error });
  }
  return new Error(message, { cause: error });
}
