/**
 * @module cli/commands/server
 * `airlock server [--host H] [--port N] [--no-worker] [--no-scheduler]`: the web UI and HTTP API,
 * on the configured metastore (created on first start), with a worker and a scheduler inside (so
 * that `npm start` alone runs scheduled DAGs). Runs until SIGINT or SIGTERM.
 */
import { type Command, Option } from 'commander';
import { AirlockError } from '../../errors.ts';
import { type CliContext, untilStopSignal } from '../context.ts';

function parsePort(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 65_535) {
    throw new AirlockError('AIRLOCK_ERR_CLI_USAGE', '--port must be an integer from 0 to 65535');
  }
  return Number(value);
}

/** Registers `airlock server`. */
export function registerServerCommand(program: Command, context: CliContext): void {
  program
    .command('server')
    .description(
      'serve the web UI and the HTTP API (Airflow-shaped /api/v1) on the metastore; the first start creates the user `admin`',
    )
    .addOption(new Option('--host <host>', 'address to listen on').default('127.0.0.1'))
    .addOption(new Option('--port <port>', 'port to listen on (0: any free port)').default('8080'))
    .option('--secure-cookies', 'mark cookies Secure and send HSTS (when served over HTTPS)', false)
    .option('--trust-proxy', 'take the client address from X-Forwarded-For (behind a proxy)', false)
    .option(
      '--allow-setting <name>',
      'allow the deployment setting NAME although it controls how spawned programs run (NODE_OPTIONS, LD_PRELOAD, PATH, …); repeat for more',
      (name: string, names: string[]) => [...names, name],
      [] as string[],
    )
    .option(
      '--no-worker',
      'do not run DAG tasks in this process (run `airlock worker` processes instead)',
    )
    .option(
      '--no-scheduler',
      'do not create scheduled runs in this process (run `airlock scheduler` processes instead)',
    )
    .action(
      async (options: {
        host: string;
        port: string;
        secureCookies: boolean;
        trustProxy: boolean;
        allowSetting: string[];
        worker: boolean;
        scheduler: boolean;
      }) => {
        const port = parsePort(options.port);
        const { startServer } = await import('../../server/serve.ts');
        const pipelines = await import('../../pipelines/http.ts');
        const io = context.io;
        let worker: Awaited<ReturnType<typeof pipelines.startServerWorker>> | undefined;
        let scheduler: Awaited<ReturnType<typeof pipelines.startServerScheduler>> | undefined;
        const server = await startServer({
          // DAG pages and API; a trigger wakes the in-process worker at once.
          extensions: [pipelines.createPipelineRoutes({ onTrigger: () => worker?.wake() })],
          navigation: pipelines.PIPELINE_NAVIGATION,
          host: options.host,
          port,
          env: io.env,
          notice: (message) => io.stderr(`airlock: ${message}\n`),
          masker: context.masker,
          logger: context.logger,
          secureCookies: options.secureCookies || io.env.AIRLOCK__SERVER__SECURE_COOKIES === 'true',
          trustProxy: options.trustProxy || io.env.AIRLOCK__SERVER__TRUST_PROXY === 'true',
          allowedRuntimeSettings: [
            ...options.allowSetting,
            ...(await import('../../server/runtime.ts')).allowedSettingsFromEnv(io.env),
          ],
        });
        if (options.worker) worker = await pipelines.startServerWorker(server.deps);
        if (options.scheduler) {
          scheduler = await pipelines.startServerScheduler(server.deps, {
            onRuns: () => worker?.wake(),
          });
        }
        io.stdout(`airlock server listening on ${server.url}\n`);
        await untilStopSignal();
        io.stdout('airlock server stopping\n');
        await scheduler?.stop();
        await worker?.stop();
        await server.close();
      },
    );
}
