/** A backend whose answers a test scripts: values, misses, failures and delays. */
import type { BackendName, SecretsBackend } from '../../src/backends/backend.ts';

/** One scripted answer: a value, `undefined` for a miss, or an error to throw. */
export type Scripted = string | undefined | Error;

/** A scripted backend that counts its calls. */
export interface ScriptedBackend extends SecretsBackend {
  variables: Map<string, Scripted>;
  connections: Map<string, Scripted>;
  calls: string[];
  delayMs: number;
  disposed: boolean;
  /** The most calls that were in flight at once. */
  maxInFlight: number;
}

/** Creates a scripted backend under `name`. */
export function scriptedBackend(
  name: BackendName,
  variables: Record<string, Scripted> = {},
  connections: Record<string, Scripted> = {},
): ScriptedBackend {
  let inFlight = 0;
  const backend: ScriptedBackend = {
    name,
    variables: new Map(Object.entries(variables)),
    connections: new Map(Object.entries(connections)),
    calls: [],
    delayMs: 0,
    disposed: false,
    maxInFlight: 0,
    async getVariable(key) {
      return answer(`variable:${key}`, backend.variables.get(key));
    },
    async getConnectionValue(connId) {
      return answer(`connection:${connId}`, backend.connections.get(connId));
    },
    describe: () => ({ type: name }),
    async dispose() {
      backend.disposed = true;
    },
  };
  async function answer(call: string, value: Scripted): Promise<string | undefined> {
    backend.calls.push(call);
    inFlight++;
    backend.maxInFlight = Math.max(backend.maxInFlight, inFlight);
    try {
      if (backend.delayMs > 0) await new Promise((r) => setTimeout(r, backend.delayMs));
    } finally {
      inFlight--;
    }
    if (value instanceof Error) throw value;
    return value;
  }
  return backend;
}
