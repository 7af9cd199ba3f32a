/**
 * The query of a kubelet exec or attach request, validated as the kubelet's
 * `remotecommand.NewOptions` does.
 */
import { InvalidInputError } from '../../../errors.ts';
import { PARAM_COMMAND, PARAM_STDERR, PARAM_STDIN, PARAM_STDOUT, PARAM_TTY } from './constants.ts';

/** Which standard streams a session carries, and whether it has a terminal. */
export interface RemoteCommandStreams {
  stdin: boolean;
  stdout: boolean;
  /** Always false with `tty`: a terminal has one output. */
  stderr: boolean;
  tty: boolean;
}

/** {@link RemoteCommandStreams} plus the command of an exec (empty for attach). */
export interface RemoteCommandQuery extends RemoteCommandStreams {
  /** One element per `command=` parameter, in order. */
  command: string[];
}

/**
 * Reads `input`, `output`, `error`, `tty` and `command` from a kubelet exec/attach URL.
 *
 * As the kubelet does: a flag is on only when its first value is exactly `1` (what the API
 * server sends); with `tty` stderr is dropped rather than refused (a terminal merges it into
 * stdout); at least one of stdin, stdout and stderr must remain, else InvalidInputError.
 */
export function parseRemoteCommandQuery(searchParams: URLSearchParams): RemoteCommandQuery {
  const flag = (name: string) => searchParams.get(name) === '1';
  const tty = flag(PARAM_TTY);
  const stdin = flag(PARAM_STDIN);
  const stdout = flag(PARAM_STDOUT);
  const stderr = flag(PARAM_STDERR) && !tty;
  if (!stdin && !stdout && !stderr) {
    throw new InvalidInputError('you must specify at least 1 of stdin, stdout, stderr');
  }
  return { stdin, stdout, stderr, tty, command: searchParams.getAll(PARAM_COMMAND) };
}
