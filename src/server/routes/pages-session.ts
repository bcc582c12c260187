/**
 * @module server/routes/pages-session
 * The pages' frame: static assets, sign-in and sign-out, and the start page.
 */
import { randomBytes } from 'node:crypto';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { isAirlockError } from '../../errors.ts';
import {
  checkLoginCsrf,
  checkPasswordLimited,
  LOGIN_CSRF_COOKIE,
  requireAuth,
  SESSION_COOKIE,
  safeNextPath,
} from '../auth/middleware.ts';
import type { RouteModule } from '../context.ts';
import { APP_CSS, APP_JS } from '../ui/assets.ts';
import { loginPage } from '../ui/pages.ts';
import { form } from './_forms.ts';

/** Registers the static assets, `/login`, `/logout` and `/`. */
export const sessionPages: RouteModule = (app, deps) => {
  app.get('/static/app.css', (c) => {
    c.header('Cache-Control', 'public, max-age=3600');
    return c.body(APP_CSS, 200, { 'Content-Type': 'text/css; charset=utf-8' });
  });
  app.get('/static/app.js', (c) => {
    c.header('Cache-Control', 'public, max-age=3600');
    return c.body(APP_JS, 200, { 'Content-Type': 'text/javascript; charset=utf-8' });
  });

  app.get('/login', (c) => {
    const csrf = randomBytes(24).toString('base64url');
    setCookie(c, LOGIN_CSRF_COOKIE, csrf, {
      httpOnly: true,
      sameSite: 'Strict',
      secure: deps.secureCookies,
      path: '/login',
      maxAge: 3600,
    });
    const next = safeNextPath(c.req.query('next'));
    const error = c.req.query('error');
    return c.html(
      loginPage(
        {
          user: undefined,
          title: 'Sign in',
          path: '/login',
          navigation: [],
          flash: error ? { kind: 'error', text: error.slice(0, 200) } : undefined,
        },
        csrf,
        next,
      ),
    );
  });

  app.post('/login', async (c) => {
    await checkLoginCsrf(c);
    const body = await form(c);
    const username = body.username ?? '';
    const next = safeNextPath(body.next);
    let user: Awaited<ReturnType<typeof checkPasswordLimited>>;
    try {
      user = await checkPasswordLimited(c, deps, username, body.password ?? '');
    } catch (err) {
      if (isAirlockError(err) && err.code === 'AIRLOCK_ERR_HTTP_RATE_LIMITED') {
        c.header('Retry-After', String(err.details?.retryAfter ?? 60));
        return c.redirect(`/login?error=${encodeURIComponent(err.message)}`, 303);
      }
      throw err;
    }
    if (!user) {
      return c.redirect(
        `/login?error=${encodeURIComponent('The user name or password is wrong.')}&next=${encodeURIComponent(next)}`,
        303,
      );
    }
    const session = await deps.store.createSession(user.username);
    deleteCookie(c, LOGIN_CSRF_COOKIE, { path: '/login' });
    setCookie(c, SESSION_COOKIE, session.id, {
      httpOnly: true,
      sameSite: 'Lax',
      secure: deps.secureCookies,
      path: '/',
    });
    return c.redirect(next, 303);
  });

  // Everything below needs a signed-in user.
  app.use('/', requireAuth(deps));
  app.use('/logout', requireAuth(deps));
  app.get('/', (c) => c.redirect('/variables', 303));
  // Airflow 1's UI lived under /admin/ (its docs still link there): land on the home page.
  app.get('/admin', (c) => c.redirect('/', 301));
  app.get('/admin/', (c) => c.redirect('/', 301));

  app.post('/logout', async (c) => {
    const cookie = getCookie(c, SESSION_COOKIE);
    if (cookie) await deps.store.deleteSession(cookie);
    deleteCookie(c, SESSION_COOKIE, { path: '/' });
    return c.redirect('/login', 303);
  });
};
