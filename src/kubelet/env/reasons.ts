/**
 * The Event reasons environment resolution reports. The strings are the Go virtual-kubelet's
 * (`internal/podutils/env.go`), so alerts and tooling written against it keep working.
 */
export const EnvironmentEventReason = Object.freeze({
  /** A ConfigMap marked optional does not exist; its variables are skipped. */
  OptionalConfigMapNotFound: 'OptionalConfigMapNotFound',
  /** A key of a ConfigMap, referenced as optional, does not exist; the variable is skipped. */
  OptionalConfigMapKeyNotFound: 'OptionalConfigMapKeyNotFound',
  /** A Secret marked optional does not exist; its variables are skipped. */
  OptionalSecretNotFound: 'OptionalSecretNotFound',
  /** A key of a Secret, referenced as optional, does not exist; the variable is skipped. */
  OptionalSecretKeyNotFound: 'OptionalSecretKeyNotFound',
  /** A required ConfigMap does not exist; the pod cannot start. */
  MandatoryConfigMapNotFound: 'MandatoryConfigMapNotFound',
  /** A required key of a ConfigMap does not exist; the pod cannot start. */
  MandatoryConfigMapKeyNotFound: 'MandatoryConfigMapKeyNotFound',
  /** A required Secret does not exist; the pod cannot start. */
  MandatorySecretNotFound: 'MandatorySecretNotFound',
  /** A required key of a Secret does not exist; the pod cannot start. */
  MandatorySecretKeyNotFound: 'MandatorySecretKeyNotFound',
  /** Keys of an `envFrom` source are not valid variable names; they are skipped. */
  InvalidEnvironmentVariableNames: 'InvalidEnvironmentVariableNames',
} as const);

/** One of {@link EnvironmentEventReason}'s values. */
export type EnvironmentEventReason = (typeof EnvironmentEventReason)[keyof typeof EnvironmentEventReason];

/** The container waiting reason the kubelet reports when a container's configuration cannot be built. */
export const CREATE_CONTAINER_CONFIG_ERROR = 'CreateContainerConfigError';
