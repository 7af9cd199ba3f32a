/** `--provider mock`: the built-in reference provider. */
import type { ProviderFactory } from '../../provider/index.ts';
import { loadMockConfig } from './config.ts';
import { MockProvider } from './mock-provider.ts';

export { loadMockConfig, MOCK_DEFAULTS, type MockConfig } from './config.ts';
export {
  CREATE_ERROR_ANNOTATION,
  MOCK_HOST_IP,
  MOCK_POD_IP,
  type MockCall,
  MockProvider,
  type MockProviderOptions,
  TERMINATION_SECONDS_ANNOTATION,
} from './mock-provider.ts';
export { readMockState } from './state-file.ts';

export const createMockProvider: ProviderFactory = (context) =>
  new MockProvider({
    nodeName: context.nodeName,
    operatingSystem: context.operatingSystem,
    config: loadMockConfig(context.configPath, context.nodeName),
  });
