/**
 * The final status of an exec or attach session, written on the error stream (SPDY) or
 * channel 3 (WebSocket) before the session closes.
 *
 * v4 and v5 carry a `metav1.Status` as JSON, which client-go decodes into the exit code
 * (`Failure`/`NonZeroExitCode` with an `ExitCode` cause) or an error. v1–v3 carry only the
 * message as text, and nothing on success. Shapes and wording follow the CRI streaming
 * server (`remotecommand/exec.go`, `status.go`) and the API server's stream translator.
 */

/** A `metav1.Status`, with only the fields the streaming protocols use. */
export interface StreamStatus {
  metadata: Record<string, never>;
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  details?: { causes: { reason: string; message: string }[] };
  code?: number;
}

/** How a protocol version writes the status: JSON (v4, v5) or the bare message (v1–v3). */
export type StatusFormat = 'json' | 'text';

/** The command ran and exited 0. */
export function successStatus(): StreamStatus {
  return { metadata: {}, status: 'Success' };
}

/**
 * The status for an exit code: Success for 0, else `NonZeroExitCode` with the code as the
 * `ExitCode` cause (client-go parses it as an unsigned 8-bit number, hence 0..255).
 */
export function exitCodeStatus(exitCode: number): StreamStatus {
  if (exitCode === 0) return successStatus();
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: exit status ${exitCode}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(exitCode) }] },
  };
}

/** The status for a failure that is not the command's exit: 500 `InternalError`. */
export function internalErrorStatus(message: string): StreamStatus {
  return {
    metadata: {},
    status: 'Failure',
    message: `Internal error occurred: ${message}`,
    reason: 'InternalError',
    code: 500,
  };
}

/** The bytes to write for `status`, or undefined when the format writes nothing (text, success). */
export function encodeStatus(status: StreamStatus, format: StatusFormat): Buffer | undefined {
  if (format === 'json') return Buffer.from(JSON.stringify(status));
  if (status.status === 'Success') return undefined;
  return Buffer.from(status.message ?? '');
}
