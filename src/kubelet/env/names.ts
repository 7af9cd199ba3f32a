/**
 * Which environment variable names a container may be given.
 *
 * Since Kubernetes 1.34 (RelaxedEnvironmentVariableValidation, GA) the API server accepts any
 * non-empty name of printable ASCII characters other than `=`, and the kubelet passes `envFrom` keys
 * through on that basis. We apply the same rule, so `1ST_KEY` or `my.key` from a ConfigMap is kept; the
 * Go virtual-kubelet still applies the old C-identifier-like rule and drops them.
 */

const SPACE = 0x20;
const TILDE = 0x7e;
const EQUALS = 0x3d;

/** True when `name` can be an environment variable name: non-empty printable ASCII without `=`. */
export function isValidEnvVarName(name: string): boolean {
  if (name.length === 0) return false;
  for (let i = 0; i < name.length; i++) {
    const code = name.charCodeAt(i);
    if (code < SPACE || code > TILDE || code === EQUALS) return false;
  }
  return true;
}
