/**
 * `--provider fargate`: pods as ECS tasks on AWS Fargate, with CloudWatch Logs for `kubectl logs`.
 */
import type { ProviderFactory } from '../../provider/index.ts';
import { createAwsClients } from './aws-clients.ts';
import { loadFargateConfig } from './config.ts';
import { FargateProvider } from './fargate-provider.ts';

export { type FargateConfig, loadFargateConfig } from './config.ts';
export { FargateProvider, type FargateProviderOptions } from './fargate-provider.ts';
export { FARGATE_SIZES, smallestFargateSize } from './fargate-sizes.ts';

export const createFargateProvider: ProviderFactory = (context) => {
  const config = loadFargateConfig(context.configPath);
  // Nothing is called here: an unreachable or forbidden ECS makes the node NotReady (ping) with
  // the AWS error, and the node becomes Ready when it answers.
  return new FargateProvider({
    config,
    clients: createAwsClients(config),
    nodeName: context.nodeName,
    logger: context.logger.child({ component: 'fargate' }),
    events: context.events,
    signal: context.signal,
  });
};
