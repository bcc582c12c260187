/**
 * @module server/context
 * The types every route module shares: the app's dependencies and the per-request variables
 * (the signed-in user) that the auth middleware sets.
 */
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Hono } from 'hono';
import type { ErrorCode } from '../errors.ts';
import type { Logger } from '../logging/logger.ts';
import type { SecretsMasker } from '../masking/masker.ts';
import type { Metastore } from '../metastore/metastore.ts';
import type { Role } from './auth/roles.ts';
import type { BodyLimits } from './limits.ts';
import type { DeploymentRuntime, Env } from './runtime.ts';
import type { ServerStore } from './store.ts';

/** The signed-in user of a request, and how they proved it. */
export interface AuthUser {
  readonly username: string;
  readonly role: Role;
  readonly via: 'session' | 'token' | 'jwt' | 'basic';
  /** The session's CSRF token (sessions only): forms and cookie API calls must echo it. */
  readonly csrfToken?: string | undefined;
}

/** Hono's environment for the server's routes. */
export interface AppEnv {
  Variables: {
    /** Set on every authenticated route. */
    user: AuthUser;
    /** The CSP nonce is not used (no inline script or style); kept for extensions' pages. */
    requestId: string;
  };
}

/** The server app's Hono type. */
export type AirlockApp = Hono<AppEnv>;

/** The `/api/v1` sub-app that route modules add operations to (see `v1/app.ts`). */
export type ApiV1 = OpenAPIHono<AppEnv>;

/** The `/api/v2` sub-app that route modules add operations to (see `v2/app.ts`). */
export type ApiV2 = OpenAPIHono<AppEnv>;

/** A route module: registers its routes on the app. */
export type RouteModule = (app: AirlockApp, deps: AppDeps) => void;

/** What {@link createApp} needs. */
export interface ServerDeps {
  /** The open metastore (migrated, with keys). */
  metastore: Metastore;
  /** The server process's environment (the base the deployment settings overlay). */
  env?: Env;
  /** The process masker; every error body passes through it. */
  masker?: SecretsMasker;
  logger?: Logger;
  /**
   * Mark cookies `Secure` (serve over HTTPS, or behind a TLS-terminating proxy).
   * @default false
   */
  secureCookies?: boolean;
  /**
   * Take the client address from `X-Forwarded-For` (behind a proxy) for the sign-in limit.
   * @default false
   */
  trustProxy?: boolean;
  /**
   * Request body size limits.
   * @default from `AIRLOCK__SERVER__MAX_REQUEST_BYTES` / `…_MAX_IMPORT_BYTES` of `env`
   */
  bodyLimits?: BodyLimits;
  /**
   * Deployment settings allowed although they control how spawned programs run
   * (`RUNTIME_CONTROL_SETTINGS`: `NODE_OPTIONS`, `LD_PRELOAD`, `PATH`, …).
   * @default from `AIRLOCK__SERVER__ALLOWED_RUNTIME_SETTINGS` of `env` (comma-separated)
   */
  allowedRuntimeSettings?: readonly string[];
  /**
   * How long an access token from `POST /auth/token` lasts, in seconds.
   * @default from `AIRLOCK__API_AUTH__JWT_EXPIRATION_TIME` of `env`, else 86400 (Airflow's default)
   */
  jwtExpirationSeconds?: number;
  /** Options of the server store (session lifetime, sign-in limit). */
  store?: ServerStore;
  /**
   * Extra route modules (DAG pages, runs): each is called with the app after the built-in routes
   * and before the not-found handler; they get the same auth middleware and error handler.
   * @default []
   */
  extensions?: readonly RouteModule[];
  /** Extra links in the UI's navigation, for extensions' pages. @default [] */
  navigation?: readonly { href: string; label: string }[];
  /**
   * Whether the hottest API reads may be answered before the middleware chain when nothing about
   * them needs it (see `hot-reads.ts`); the answers are the same either way. @default true
   */
  hotReads?: boolean;
}

/** The dependencies route modules see (everything resolved). */
export interface AppDeps {
  readonly metastore: Metastore;
  readonly store: ServerStore;
  readonly runtime: DeploymentRuntime;
  readonly masker: SecretsMasker;
  readonly logger: Logger | undefined;
  readonly secureCookies: boolean;
  readonly trustProxy: boolean;
  /** `/api/v1`: route modules add their operations; served once they all have. */
  readonly apiV1: ApiV1;
  /** `/api/v2`: route modules add their operations; served once they all have. */
  readonly apiV2: ApiV2;
  /** The lifetime of `POST /auth/token`'s access tokens, in seconds. */
  readonly jwtExpirationSeconds: number;
  readonly navigation: readonly { href: string; label: string }[];
}

/** The JSON body of an API error. */
export interface ProblemBody {
  /** The section of Airflow's API reference for the status (`about:blank` when it has none). */
  type: string;
  code: ErrorCode;
  title: string;
  detail: string;
  status: number;
  /** The request path. */
  instance?: string;
}
