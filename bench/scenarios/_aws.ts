/**
 * Secrets Manager on moto behind a loopback proxy that adds 2 ms to every call (a nearby region's
 * round trip is more; moto's own time comes on top), counting calls at the proxy.
 */

import { type FaultProxy, startFaultProxy } from '../../test/helpers/fault-proxy.ts';
import {
  MOTO_CREDENTIALS,
  type MotoServer,
  putSecret,
  startMoto,
} from '../../test/helpers/moto.ts';

export interface AwsBench {
  moto: MotoServer;
  proxy: FaultProxy;
  /** Store calls the proxy saw since the last `reset()`. */
  calls(): number;
  reset(): void;
  close(): Promise<void>;
}

export async function startAwsBench(seed: Record<string, string>): Promise<AwsBench> {
  const moto = await startMoto();
  for (const [name, value] of Object.entries(seed)) await putSecret(moto.url, name, value);
  const proxy = await startFaultProxy(moto.url);
  proxy.setLatency(2);
  return {
    moto,
    proxy,
    calls: () => proxy.targets.length,
    reset: () => proxy.clear(),
    async close() {
      await proxy.close();
      await moto.stop();
    },
  };
}

export { MOTO_CREDENTIALS };

/** Runs `tasks` tasks with at most `concurrency` at once; the wall time in ms. */
export async function runTasks(
  tasks: number,
  concurrency: number,
  task: (index: number) => Promise<void>,
): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < tasks) await task(next++);
    }),
  );
  return performance.now() - started;
}
