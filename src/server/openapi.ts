/**
 * @module server/openapi
 * The OpenAPI 3.1 document of the HTTP API v1, served at `/api/v1/openapi.json`. Hand-written and
 * kept honest by a test that checks every `/api/v1/…` and `/health` route of the app, the DAG
 * routes included, appears here (`/api/v2`'s document is generated: see `v2/app.ts`).
 */

import { VERSION } from '../cli/version.ts';
import { ERROR_CODES } from '../errors.ts';
import { CONNECTION_FIELDS } from './service.ts';

type Schema = Record<string, unknown>;
const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: Schema) => ({ content: { 'application/json': { schema } } });
const problem = (description: string) => ({ description, ...json(ref('Problem')) });
const errors = {
  '400': problem('Bad request'),
  '401': problem('Not signed in'),
  '403': problem('The role does not allow it (or CSRF)'),
};
const pathParam = (name: string) => ({
  name,
  in: 'path',
  required: true,
  schema: { type: 'string' },
});
const query = (name: string, schema: Schema, description: string) => ({
  name,
  in: 'query',
  required: false,
  schema,
  description,
});
const listParams = (orderBy: string[]) => [
  query('limit', { type: 'integer', minimum: 0, maximum: 1000, default: 100 }, 'Page size.'),
  query('offset', { type: 'integer', minimum: 0, default: 0 }, 'Items to skip.'),
  query(
    'order_by',
    { type: 'string', enum: orderBy.flatMap((f) => [f, `-${f}`]) },
    'Sort field; `-` reverses.',
  ),
  query('search', { type: 'string' }, 'Case-insensitive substring filter.'),
];
const updateMask = (fields: string[]) =>
  query(
    'update_mask',
    { type: 'array', items: { type: 'string', enum: fields } },
    'Fields to change (comma-separated); all given fields by default.',
  );
const ok = (description: string, schema?: Schema) => ({
  description,
  ...(schema ? json(schema) : {}),
});

/** A token revocation (the caller's own, or an admin's for any user). */
const revokeToken = (summary: string) => ({
  summary,
  responses: { '204': ok('Revoked'), '404': problem('Not found'), ...errors },
});

const variableFields = ['value', 'description'];
/** The update_mask fields are the editable ones the routes accept. */
const connectionFields = [...CONNECTION_FIELDS];

/** The API's OpenAPI document. */
export const OPENAPI_DOCUMENT = {
  openapi: '3.1.0',
  info: {
    title: 'airlock API',
    version: VERSION,
    description:
      "Airflow 2's stable REST API v1 for Variables, Connections and DAGs, plus airlock's deployment settings, users and provenance (Airflow 3's API is `/api/v2`, documented at `/api/v2/openapi.json`). Authenticate with a session cookie (plus `X-CSRF-Token` on changes), `Authorization: Bearer` with an API token or a JWT from `POST /auth/token`, or HTTP basic auth.",
  },
  security: [{ basic: [] }, { bearer: [] }, { session: [] }],
  paths: {
    '/health': {
      get: {
        summary: 'Health (no sign-in)',
        security: [],
        responses: { '200': ok('Healthy', ref('Health')), '503': ok('Unhealthy', ref('Health')) },
      },
    },
    '/api/v1/health': {
      get: {
        summary: 'Health (no sign-in)',
        security: [],
        responses: { '200': ok('Healthy', ref('Health')), '503': ok('Unhealthy', ref('Health')) },
      },
    },
    '/api/v1/version': {
      get: {
        summary: "airlock's version (no sign-in)",
        security: [],
        responses: { '200': ok('Version', ref('VersionInfo')) },
      },
    },
    '/api/v1/config': {
      get: {
        summary: 'The AIRLOCK__SECTION__KEY settings, secret values `< hidden >` (admin)',
        parameters: [query('section', { type: 'string' }, 'Only this section.')],
        responses: {
          '200': {
            description: 'Configuration (`Accept: text/plain` for the ini text)',
            content: {
              'application/json': { schema: ref('Config') },
              'text/plain': { schema: { type: 'string' } },
            },
          },
          '404': problem('No such section'),
          ...errors,
        },
      },
    },
    '/api/v1/openapi.json': {
      get: { summary: 'This document', security: [], responses: { '200': ok('OpenAPI 3.1') } },
    },
    '/api/v1/variables': {
      get: {
        summary: 'List variables',
        parameters: listParams(['key', 'description']),
        responses: {
          '200': ok(
            'Variables (values of sensitive names and for viewers are `***`)',
            ref('VariableCollection'),
          ),
          ...errors,
        },
      },
      post: {
        summary: 'Create a variable (editor)',
        requestBody: json(ref('Variable')),
        responses: { '200': ok('Created', ref('Variable')), '409': problem('Exists'), ...errors },
      },
    },
    '/api/v1/variables/{variable_key}': {
      parameters: [pathParam('variable_key')],
      get: {
        summary: 'Get a variable (the value only for editor/admin)',
        responses: {
          '200': ok('The variable', ref('Variable')),
          '404': problem('Not found'),
          ...errors,
        },
      },
      patch: {
        summary: 'Update a variable (editor)',
        parameters: [updateMask(variableFields)],
        requestBody: json(ref('Variable')),
        responses: {
          '200': ok('Updated', ref('Variable')),
          '404': problem('Not found'),
          ...errors,
        },
      },
      delete: {
        summary: 'Delete a variable (editor)',
        responses: { '204': ok('Deleted'), '404': problem('Not found'), ...errors },
      },
    },
    '/api/v1/connections': {
      get: {
        summary: 'List connections (never passwords or extras)',
        parameters: listParams(['connection_id', 'conn_type', 'host', 'description']),
        responses: { '200': ok('Connections', ref('ConnectionCollection')), ...errors },
      },
      post: {
        summary: 'Create a connection (editor)',
        requestBody: json(ref('Connection')),
        responses: { '200': ok('Created', ref('Connection')), '409': problem('Exists'), ...errors },
      },
    },
    '/api/v1/dags': {
      get: {
        summary: 'List the DAGs (with the DAG routes: `airlock server` and createPipelineRoutes)',
        parameters: [
          query(
            'limit',
            { type: 'integer', minimum: 0, maximum: 1000, default: 100 },
            'Page size.',
          ),
          query('offset', { type: 'integer', minimum: 0, default: 0 }, 'Items to skip.'),
          query('order_by', { type: 'string', enum: ['dag_id', '-dag_id'] }, 'Sort; `-` reverses.'),
          query('dag_id_pattern', { type: 'string' }, 'Case-insensitive substring of the dag_id.'),
          query('tags', { type: 'array', items: { type: 'string' } }, 'Any of these tags.'),
          query('paused', { type: 'boolean' }, 'Only the paused (`true`) or active DAGs.'),
        ],
        responses: { '200': ok('DAGs and import errors', ref('DagCollection')), ...errors },
      },
    },
    '/api/v1/dags/{dag_id}': {
      parameters: [pathParam('dag_id')],
      get: {
        summary: 'Get a DAG',
        responses: { '200': ok('The DAG', ref('Dag')), '404': problem('Not found'), ...errors },
      },
      patch: {
        summary: 'Pause or unpause a DAG (editor): `{"is_paused": true|false}`',
        parameters: [updateMask(['is_paused'])],
        requestBody: json({
          type: 'object',
          required: ['is_paused'],
          properties: { is_paused: { type: 'boolean' } },
        }),
        responses: { '200': ok('The DAG', ref('Dag')), '404': problem('Not found'), ...errors },
      },
    },
    '/api/v1/dags/{dag_id}/dagRuns': {
      parameters: [pathParam('dag_id')],
      get: {
        summary: "List a DAG's runs (`~`: every DAG's), newest first",
        parameters: [
          query(
            'limit',
            { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
            'Page size.',
          ),
          query('offset', { type: 'integer', minimum: 0, default: 0 }, 'Items to skip.'),
        ],
        responses: { '200': ok('Runs', ref('DagRunCollection')), ...errors },
      },
      post: {
        summary: 'Trigger a run (editor): `logical_date` or `execution_date`, `dag_run_id`, `conf`',
        requestBody: json(ref('DagRunTrigger')),
        responses: {
          '200': ok('The queued run', ref('DagRun')),
          '404': problem('No such DAG'),
          '409': problem('The dag_run_id exists'),
          ...errors,
        },
      },
    },
    '/api/v1/dags/{dag_id}/dagRuns/{dag_run_id}': {
      parameters: [pathParam('dag_id'), pathParam('dag_run_id')],
      get: {
        summary: 'Get a run',
        responses: { '200': ok('The run', ref('DagRun')), '404': problem('Not found'), ...errors },
      },
    },
    '/api/v1/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances': {
      parameters: [pathParam('dag_id'), pathParam('dag_run_id')],
      get: {
        summary: "A run's task instances",
        responses: {
          '200': ok('Task instances', {
            type: 'object',
            properties: {
              task_instances: { type: 'array', items: { type: 'object' } },
              total_entries: { type: 'integer' },
            },
          }),
          '404': problem('Not found'),
          ...errors,
        },
      },
    },
    '/api/v1/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/xcomEntries': {
      parameters: [pathParam('dag_id'), pathParam('dag_run_id'), pathParam('task_id')],
      get: {
        summary: "A task instance's XCom entries (no values)",
        responses: { '200': ok('XCom entries', ref('XComCollection')), ...errors },
      },
    },
    '/api/v1/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/xcomEntries/{xcom_key}': {
      parameters: [
        pathParam('dag_id'),
        pathParam('dag_run_id'),
        pathParam('task_id'),
        pathParam('xcom_key'),
      ],
      get: {
        summary: 'An XCom entry with its value (masked when stored; sensitive keys redacted)',
        responses: {
          '200': ok('The entry', { ...ref('XCom') }),
          '404': problem('No such entry'),
          ...errors,
        },
      },
    },
    '/api/v1/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/logs/{task_try_number}': {
      parameters: [
        pathParam('dag_id'),
        pathParam('dag_run_id'),
        pathParam('task_id'),
        pathParam('task_try_number'),
        query('token', { type: 'string' }, 'A continuation_token: only what was written since.'),
        query('full_content', { type: 'boolean' }, 'The whole log.'),
      ],
      get: {
        summary: "A try's log (masked); `Accept: text/plain` for the text",
        responses: {
          '200': {
            description: 'The log',
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  properties: {
                    content: { type: 'string' },
                    continuation_token: { type: 'string' },
                  },
                },
              },
              'text/plain': { schema: { type: 'string' } },
            },
          },
          '404': problem('No such try or log'),
          ...errors,
        },
      },
    },
    '/api/v1/connections/test': {
      post: {
        summary: 'Test a connection: parse it and check that its host:port accepts TCP (editor)',
        requestBody: json(ref('Connection')),
        responses: { '200': ok('Result', ref('ConnectionTest')), ...errors },
      },
    },
    '/api/v1/connections/{connection_id}': {
      parameters: [pathParam('connection_id')],
      get: {
        summary: 'Get a connection (password and extra only for editor/admin)',
        responses: {
          '200': ok('The connection', ref('Connection')),
          '404': problem('Not found'),
          ...errors,
        },
      },
      patch: {
        summary: 'Update a connection (editor)',
        parameters: [updateMask(connectionFields)],
        requestBody: json(ref('Connection')),
        responses: {
          '200': ok('Updated', ref('Connection')),
          '404': problem('Not found'),
          ...errors,
        },
      },
      delete: {
        summary: 'Delete a connection (editor)',
        responses: { '204': ok('Deleted'), '404': problem('Not found'), ...errors },
      },
    },
    '/api/v1/secrets/which': {
      get: {
        summary: 'Which source serves a key (provenance, never the value)',
        parameters: [
          query(
            'kind',
            { type: 'string', enum: ['variable', 'connection'], default: 'variable' },
            'What to look up.',
          ),
          { ...query('id', { type: 'string' }, 'The key or conn_id.'), required: true },
          query(
            'all',
            { type: 'boolean', default: false },
            'Ask the links after the serving one too.',
          ),
        ],
        responses: { '200': ok('The chain walk', ref('Which')), ...errors },
      },
    },
    '/api/v1/backends/health': {
      get: {
        summary: "Each chain link's health",
        responses: { '200': ok('Healthy'), '503': ok('A link failed'), ...errors },
      },
    },
    '/api/v1/settings': {
      get: {
        summary: 'List deployment settings (admin; secret values never returned)',
        responses: {
          '200': ok('Settings', {
            type: 'object',
            properties: {
              settings: { type: 'array', items: ref('Setting') },
              total_entries: { type: 'integer' },
            },
          }),
          ...errors,
        },
      },
    },
    '/api/v1/settings/{name}': {
      parameters: [pathParam('name')],
      put: {
        summary: 'Create or replace a setting (admin); `secret: true` makes it write-only for good',
        requestBody: json({
          type: 'object',
          required: ['value'],
          properties: { value: { type: 'string' }, secret: { type: 'boolean', default: false } },
        }),
        responses: {
          '200': ok('Updated', ref('Setting')),
          '201': ok('Created', ref('Setting')),
          ...errors,
        },
      },
      delete: {
        summary: 'Delete a setting (admin)',
        responses: { '204': ok('Deleted'), '404': problem('Not found'), ...errors },
      },
    },
    '/api/v1/users': {
      get: { summary: 'List users (admin)', responses: { '200': ok('Users'), ...errors } },
      post: {
        summary: 'Create a user (admin)',
        requestBody: json({
          type: 'object',
          required: ['username', 'password'],
          properties: {
            username: { type: 'string' },
            password: { type: 'string', minLength: 8 },
            role: { type: 'string', enum: ['viewer', 'editor', 'admin'] },
          },
        }),
        responses: { '201': ok('Created'), '409': problem('Exists'), ...errors },
      },
    },
    '/api/v1/users/{username}': {
      parameters: [pathParam('username')],
      patch: {
        summary:
          "Change a user's role or password (admin); a new password revokes the user's API tokens and ends their other sessions",
        requestBody: json({
          type: 'object',
          properties: { password: { type: 'string' }, role: { type: 'string' } },
        }),
        responses: {
          '200': ok('Updated'),
          '404': problem('Not found'),
          '409': problem('It would demote the last admin'),
          ...errors,
        },
      },
      delete: {
        summary: 'Delete a user (admin)',
        responses: {
          '204': ok('Deleted'),
          '404': problem('Not found'),
          '409': problem('It is the last admin'),
          ...errors,
        },
      },
    },
    '/api/v1/users/{username}/tokens': {
      parameters: [pathParam('username')],
      get: {
        summary: "A user's API tokens (admin; metadata only)",
        responses: { '200': ok('Tokens'), '404': problem('Not found'), ...errors },
      },
    },
    '/api/v1/users/{username}/tokens/{id}': {
      parameters: [pathParam('username'), pathParam('id')],
      delete: revokeToken("Revoke a user's API token (admin)"),
    },
    '/api/v1/tokens': {
      get: {
        summary: "The caller's API tokens (metadata only)",
        responses: { '200': ok('Tokens'), ...errors },
      },
      post: {
        summary: 'Create an API token for the caller; the token is returned once',
        requestBody: json({ type: 'object', properties: { name: { type: 'string' } } }),
        responses: { '201': ok('Created: `token` holds the secret'), ...errors },
      },
    },
    '/api/v1/me/password': {
      put: {
        summary:
          "Change the caller's password: revokes the caller's API tokens and ends their other sessions",
        requestBody: json({
          type: 'object',
          required: ['current_password', 'password'],
          properties: {
            current_password: { type: 'string' },
            password: { type: 'string', minLength: 8 },
          },
        }),
        responses: {
          '204': ok('Changed'),
          '429': problem('Too many wrong passwords'),
          ...errors,
        },
      },
    },
    '/api/v1/tokens/{id}': {
      parameters: [pathParam('id')],
      delete: revokeToken('Revoke a token'),
    },
  },
  components: {
    securitySchemes: {
      basic: { type: 'http', scheme: 'basic' },
      bearer: {
        type: 'http',
        scheme: 'bearer',
        description: 'An airlock API token (`alk_…`) or a JWT from `POST /auth/token`.',
      },
      session: { type: 'apiKey', in: 'cookie', name: 'airlock_session' },
    },
    schemas: {
      Problem: {
        type: 'object',
        required: ['type', 'code', 'title', 'detail', 'status'],
        properties: {
          type: { type: 'string' },
          code: { type: 'string', enum: Object.keys(ERROR_CODES) },
          title: { type: 'string' },
          detail: { type: 'string' },
          status: { type: 'integer' },
          instance: { type: 'string' },
        },
      },
      Health: {
        type: 'object',
        properties: {
          status: { type: 'string', enum: ['healthy', 'unhealthy'] },
          metastore: { type: 'object' },
          metadatabase: { type: 'object', properties: { status: { type: 'string' } } },
          scheduler: { type: 'object' },
          triggerer: { type: 'object' },
          dag_processor: { type: 'object' },
        },
      },
      Dag: {
        type: 'object',
        properties: {
          dag_id: { type: 'string' },
          description: { type: ['string', 'null'] },
          fileloc: { type: 'string' },
          is_paused: { type: ['boolean', 'null'] },
          is_active: { type: 'boolean' },
          schedule_interval: { type: ['object', 'null'] },
          next_dagrun: { type: ['string', 'null'], format: 'date-time' },
          next_dagrun_data_interval_start: { type: ['string', 'null'], format: 'date-time' },
          next_dagrun_data_interval_end: { type: ['string', 'null'], format: 'date-time' },
          next_dagrun_create_after: { type: ['string', 'null'], format: 'date-time' },
          tags: {
            type: 'array',
            items: { type: 'object', properties: { name: { type: 'string' } } },
          },
          task_ids: { type: 'array', items: { type: 'string' } },
        },
      },
      DagCollection: {
        type: 'object',
        properties: {
          dags: { type: 'array', items: ref('Dag') },
          total_entries: { type: 'integer' },
          import_errors: { type: 'array', items: { type: 'object' } },
        },
      },
      DagRun: {
        type: 'object',
        properties: {
          dag_id: { type: 'string' },
          dag_run_id: { type: 'string' },
          state: { type: 'string', enum: ['queued', 'running', 'success', 'failed'] },
          run_type: { type: 'string' },
          logical_date: { type: 'string', format: 'date-time' },
          execution_date: { type: 'string', format: 'date-time' },
          data_interval_start: { type: ['string', 'null'], format: 'date-time' },
          data_interval_end: { type: ['string', 'null'], format: 'date-time' },
          conf: { type: 'object' },
        },
      },
      XCom: {
        type: 'object',
        properties: {
          dag_id: { type: 'string' },
          dag_run_id: { type: 'string' },
          task_id: { type: 'string' },
          key: { type: 'string' },
          map_index: { type: 'integer' },
          timestamp: { type: 'string', format: 'date-time' },
          logical_date: { type: 'string', format: 'date-time' },
          execution_date: { type: 'string', format: 'date-time' },
          value: {},
        },
      },
      XComCollection: {
        type: 'object',
        properties: {
          xcom_entries: { type: 'array', items: ref('XCom') },
          total_entries: { type: 'integer' },
        },
      },
      DagRunTrigger: {
        type: 'object',
        properties: {
          dag_run_id: { type: 'string' },
          logical_date: { type: ['string', 'null'], format: 'date-time' },
          execution_date: { type: ['string', 'null'], format: 'date-time' },
          conf: { type: 'object' },
        },
      },
      DagRunCollection: {
        type: 'object',
        properties: {
          dag_runs: { type: 'array', items: ref('DagRun') },
          total_entries: { type: 'integer' },
        },
      },
      VersionInfo: {
        type: 'object',
        properties: { version: { type: 'string' }, git_version: { type: ['string', 'null'] } },
      },
      Config: {
        type: 'object',
        properties: {
          sections: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                name: { type: 'string' },
                options: {
                  type: 'array',
                  items: {
                    type: 'object',
                    properties: { key: { type: 'string' }, value: { type: 'string' } },
                  },
                },
              },
            },
          },
        },
      },
      Variable: {
        type: 'object',
        properties: {
          key: { type: 'string' },
          value: { type: 'string' },
          description: { type: ['string', 'null'] },
        },
      },
      VariableCollection: {
        type: 'object',
        properties: {
          variables: { type: 'array', items: ref('Variable') },
          total_entries: { type: 'integer' },
        },
      },
      Connection: {
        type: 'object',
        properties: {
          connection_id: { type: 'string' },
          conn_type: { type: 'string' },
          description: { type: ['string', 'null'] },
          host: { type: ['string', 'null'] },
          login: { type: ['string', 'null'] },
          schema: { type: ['string', 'null'] },
          port: { type: ['integer', 'null'] },
          password: {
            type: ['string', 'null'],
            description: 'Write; read back only by editor/admin from GET of one connection.',
          },
          extra: { type: ['string', 'null'], description: 'A JSON object as text.' },
        },
      },
      ConnectionCollection: {
        type: 'object',
        properties: {
          connections: { type: 'array', items: ref('Connection') },
          total_entries: { type: 'integer' },
        },
      },
      ConnectionTest: {
        type: 'object',
        properties: { status: { type: 'boolean' }, message: { type: 'string' } },
      },
      Which: {
        type: 'object',
        properties: {
          kind: { type: 'string' },
          id: { type: 'string' },
          source: { type: ['string', 'null'] },
          trace: { type: 'array', items: { type: 'object' } },
        },
      },
      Setting: {
        type: 'object',
        properties: {
          name: { type: 'string' },
          secret: { type: 'boolean' },
          is_set: { type: 'boolean' },
          value: { type: ['string', 'null'], description: 'Always null for a secret setting.' },
          updated_at: { type: 'string' },
          updated_by: { type: ['string', 'null'] },
          restart_required: {
            type: 'boolean',
            description:
              'True for a variable running processes read only at their start (NODE_*, TZ, proxies, …): new task processes get it at once, running servers and workers when restarted. NODE_EXTRA_CA_CERTS is applied at once.',
          },
        },
      },
    },
  },
} as const;
