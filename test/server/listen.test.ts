import { afterAll, describe, expect, it } from 'vitest';
import { type ServerProcess, startServerProcess } from '../helpers/browser.ts';
import { runAirlock } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';

describe('airlock server start-up', () => {
  let first: ServerProcess | undefined;
  afterAll(async () => {
    await first?.stop();
  });

  it('refuses a port in use with a one-line coded error, not a crash', async () => {
    const home = tempDir();
    first = await startServerProcess({
      AIRLOCK_HOME: home,
      AIRLOCK_ADMIN_PASSWORD: 'listen-pw-123',
    });
    const port = new URL(first.url).port;
    const second = await runAirlock(['server', '--port', port], { env: { AIRLOCK_HOME: home } });
    expect(second.code).toBe(1);
    const lines = second.stderr.trimEnd().split('\n');
    expect(lines.at(-1)).toBe(
      `airlock: error AIRLOCK_ERR_HTTP_LISTEN_FAILED: cannot listen on 127.0.0.1:${port}: the port is in use (is another airlock server still running?)`,
    );
    // The first server is unharmed.
    expect((await fetch(`${first.url}/health`)).status).toBe(200);
  });

  it('allows a runtime-controlling deployment setting named with --allow-setting, and no other', async () => {
    const server = await startServerProcess(
      { AIRLOCK_HOME: tempDir(), AIRLOCK_ADMIN_PASSWORD: 'listen-pw-123' },
      ['--allow-setting', 'PATH', '--no-worker'],
    );
    try {
      const put = (name: string) =>
        fetch(`${server.url}/api/v1/settings/${name}`, {
          method: 'PUT',
          headers: {
            authorization: `Basic ${Buffer.from('admin:listen-pw-123').toString('base64')}`,
            'content-type': 'application/json',
          },
          body: JSON.stringify({ value: '/opt/bin:/usr/bin' }),
        });
      expect((await put('PATH')).status).toBe(201);
      const refused = await put('NODE_PATH');
      expect(refused.status).toBe(400);
      expect(((await refused.json()) as { code: string }).code).toBe(
        'AIRLOCK_ERR_HTTP_SETTING_REFUSED',
      );
    } finally {
      await server.stop();
    }
  });
});
