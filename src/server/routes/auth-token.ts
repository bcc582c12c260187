/**
 * @module server/routes/auth-token
 * `POST /auth/token` as Airflow 3's simple auth manager serves it: a JSON body
 * `{ "username", "password" }` answered `201 { "access_token": "<JWT>" }`, under the sign-in rate
 * limit. The token (see `auth/jwt.ts`) is accepted as `Authorization: Bearer` on `/api/v1` and
 * `/api/v2` until it expires (`AIRLOCK__API_AUTH__JWT_EXPIRATION_TIME`, 24 hours by default).
 */
import { AirlockError } from '../../errors.ts';
import { issueAccessToken } from '../auth/jwt.ts';
import { checkPasswordLimited, refuseCrossSite } from '../auth/middleware.ts';
import type { RouteModule } from '../context.ts';
import { jsonBody, stringField } from './_api.ts';

/** Registers `POST /auth/token`. */
export const authTokenRoutes: RouteModule = (app, deps) => {
  app.post('/auth/token', async (c) => {
    refuseCrossSite(c);
    const body = await jsonBody(c);
    const username = stringField(body, 'username', { required: true }) as string;
    const password = stringField(body, 'password', { required: true }) as string;
    const user = await checkPasswordLimited(c, deps, username, password);
    if (!user) {
      throw new AirlockError('AIRLOCK_ERR_HTTP_UNAUTHENTICATED', 'Invalid credentials', {
        details: { scheme: 'Bearer' },
      });
    }
    const token = await issueAccessToken(
      deps.metastore,
      deps.store,
      user.username,
      deps.jwtExpirationSeconds,
    );
    return c.json({ access_token: token }, 201);
  });
};
