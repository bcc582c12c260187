/**
 * @module server/ui/pages
 * The server-rendered pages: a layout with navigation, and one function per page. Values are
 * rendered only where the route passed them (the routes decide by role); a secret is shown as
 * `***` unless an allowed user asked to reveal it.
 */
import type { Context } from 'hono';
import type { LinkTrace, WhichReport } from '../../resolver/resolver.ts';
import type { AppDeps, AppEnv, AuthUser, ProblemBody } from '../context.ts';
import type { ConnectionView, VariableView } from '../service.ts';
import { h, type Safe } from './html.ts';

/** What every page's layout needs. */
export interface PageContext {
  readonly user: AuthUser | undefined;
  readonly title: string;
  readonly path: string;
  readonly navigation: readonly { href: string; label: string }[];
  /** A one-line message after a change (`ok`) or a failure (`error`). */
  readonly flash?: { kind: 'ok' | 'error'; text: string } | undefined;
}

const NAV = [
  { href: '/variables', label: 'Variables', admin: false },
  { href: '/connections', label: 'Connections', admin: false },
  { href: '/which', label: 'Provenance', admin: false },
  { href: '/health-status', label: 'Health', admin: false },
  { href: '/settings', label: 'Deployment', admin: true },
  { href: '/users', label: 'Users', admin: true },
  { href: '/tokens', label: 'API tokens', admin: false },
];

/** The page frame. */
export function layout(page: PageContext, body: Safe): string {
  const user = page.user;
  const links = [...NAV.filter((n) => !n.admin || user?.role === 'admin'), ...page.navigation];
  return h`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
${user?.csrfToken ? h`<meta name="csrf-token" content="${user.csrfToken}">` : ''}
<title>${page.title} · airlock</title>
<link rel="stylesheet" href="/static/app.css">
<script src="/static/app.js" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
  <a class="brand" href="/">airlock</a>
  ${
    user
      ? h`<nav aria-label="Main"><ul>${links.map(
          (l) =>
            h`<li><a href="${l.href}"${page.path.startsWith(l.href) ? h` aria-current="page"` : ''}>${l.label}</a></li>`,
        )}</ul></nav>
  <form method="post" action="/logout" class="who">
    <span>${user.username} <span class="role">${user.role}</span></span>
    ${csrfField(user)}
    <button type="submit" class="link">Sign out</button>
  </form>`
      : ''
  }
</header>
<main id="main" tabindex="-1">
<h1>${page.title}</h1>
${page.flash ? h`<p class="flash ${page.flash.kind}" role="${page.flash.kind === 'error' ? 'alert' : 'status'}">${page.flash.text}</p>` : ''}
${body}
</main>
</body>
</html>`.html;
}

/** The hidden CSRF field every form carries. */
export function csrfField(user: AuthUser | undefined): Safe {
  return h`<input type="hidden" name="_csrf" value="${user?.csrfToken ?? ''}">`;
}

/** The Edit link and Delete form of a variable's or a connection's row. */
function rowActions(user: AuthUser | undefined, kind: 'variable' | 'connection', id: string): Safe {
  const base = `/${kind}s`;
  const encoded = encodeURIComponent(id);
  return h`<td class="actions"><a href="${base}/edit/${encoded}">Edit<span class="sr-only"> ${id}</span></a>
    <form method="post" action="${base}/delete/${encoded}" class="inline" data-confirm="Delete ${kind} ${id}?">${csrfField(user)}<button type="submit" class="link danger">Delete<span class="sr-only"> ${id}</span></button></form></td>`;
}

/** The sign-in page. */
export function loginPage(page: PageContext, csrf: string, next: string, username = ''): string {
  return layout(
    page,
    h`<form method="post" action="/login" class="card narrow">
  <input type="hidden" name="_csrf" value="${csrf}">
  <input type="hidden" name="next" value="${next}">
  <label for="username">User name</label>
  <input id="username" name="username" autocomplete="username" required value="${username}" autofocus>
  <label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="current-password" required>
  <button type="submit">Sign in</button>
</form>`,
  );
}

/** The Variables list. */
export function variablesPage(
  page: PageContext,
  rows: readonly (VariableView & { revealed: boolean; hasValue: boolean })[],
  options: { search: string; canWrite: boolean; canReveal: boolean; total: number },
): string {
  const user = page.user;
  return layout(
    page,
    h`<form method="get" action="/variables" class="search" role="search">
  <label for="search">Search variables</label>
  <input id="search" name="search" type="search" value="${options.search}">
  <button type="submit">Search</button>
</form>
<p class="muted">${options.total} variable${options.total === 1 ? '' : 's'} in the metastore.</p>
<div class="table-wrap"><table>
<caption class="sr-only">Variables</caption>
<thead><tr><th scope="col">Key</th><th scope="col">Value</th><th scope="col">Description</th>${options.canWrite ? h`<th scope="col"><span class="sr-only">Actions</span></th>` : ''}</tr></thead>
<tbody>
${rows.length === 0 ? h`<tr><td colspan="4" class="muted">No variables.</td></tr>` : ''}
${rows.map(
  (r) => h`<tr>
  <th scope="row"><a href="/which?kind=variable&amp;id=${encodeURIComponent(r.key)}" title="Which source serves it">${r.key}</a></th>
  <td class="value">${r.unreadable ? h`<span class="error">unreadable (<code>${r.unreadable}</code>)</span>` : r.revealed ? h`<code>${r.value}</code>` : h`<span aria-label="hidden value">***</span>`}
    ${options.canReveal && !r.revealed && r.hasValue ? h` <a class="reveal" href="/variables?reveal=${encodeURIComponent(r.key)}&amp;search=${encodeURIComponent(options.search)}">Reveal<span class="sr-only"> ${r.key}</span></a>` : ''}</td>
  <td>${r.description ?? ''}</td>
  ${options.canWrite ? rowActions(user, 'variable', r.key) : ''}
</tr>`,
)}
</tbody></table></div>
${
  options.canWrite
    ? h`<section class="grid">
<form method="post" action="/variables" class="card">
  <h2>Add a variable</h2>
  ${csrfField(user)}
  <label for="new-key">Key</label><input id="new-key" name="key" required maxlength="250">
  <label for="new-value">Value</label><textarea id="new-value" name="value" rows="3" required></textarea>
  <label for="new-description">Description <span class="muted">(optional)</span></label><input id="new-description" name="description">
  <button type="submit">Add variable</button>
</form>
<div class="card">
  <h2>Import / export</h2>
  <form method="post" action="/variables/import" enctype="multipart/form-data">
    ${csrfField(user)}
    <label for="import-file">Variables file (Airflow's JSON: <code>{"key": "value"}</code>)</label>
    <input id="import-file" name="file" type="file" accept=".json,application/json" required>
    <label class="check"><input type="checkbox" name="skip_existing" value="1"> Keep variables that already exist</label>
    <button type="submit">Import</button>
  </form>
  <p><a href="/variables/export" download="variables.json">Export all as JSON</a></p>
</div>
</section>`
    : h`<p class="muted">Your role (${user?.role ?? ''}) sees names and provenance only.</p>`
}`,
  );
}

/** The edit page of one Variable. */
export function variableEditPage(page: PageContext, view: VariableView, revealed: boolean): string {
  const key = encodeURIComponent(view.key);
  return layout(
    page,
    h`<form method="post" action="/variables/edit/${key}" class="card">
  ${csrfField(page.user)}
  <p><strong>Key:</strong> <code>${view.key}</code></p>
  <label for="value">Value</label>
  <textarea id="value" name="value" rows="4" placeholder="*** (leave empty to keep the current value)">${revealed ? view.value : ''}</textarea>
  ${revealed ? '' : h`<p><a class="reveal" href="/variables/edit/${key}?reveal=1">Reveal the current value</a></p>`}
  <label for="description">Description</label>
  <input id="description" name="description" value="${view.description ?? ''}">
  <button type="submit">Save</button> <a href="/variables">Cancel</a>
</form>`,
  );
}

/** Connection form field layout per conn_type: which fields show, and their labels. */
export const CONN_TYPES: Readonly<
  Record<string, { label: string; fields: Readonly<Record<string, string>> }>
> = {
  postgres: {
    label: 'PostgreSQL',
    fields: {
      host: 'Host',
      port: 'Port',
      schema: 'Database',
      login: 'Login',
      password: 'Password',
      extra: 'Extra (JSON)',
    },
  },
  mysql: {
    label: 'MySQL',
    fields: {
      host: 'Host',
      port: 'Port',
      schema: 'Schema',
      login: 'Login',
      password: 'Password',
      extra: 'Extra (JSON)',
    },
  },
  http: {
    label: 'HTTP',
    fields: {
      host: 'Host',
      schema: 'Scheme (http/https)',
      port: 'Port',
      login: 'Login',
      password: 'Password',
      extra: 'Extra (JSON: headers)',
    },
  },
  aws: {
    label: 'Amazon Web Services',
    fields: {
      login: 'AWS Access Key ID',
      password: 'AWS Secret Access Key',
      extra: 'Extra (JSON: region_name, role_arn, …)',
    },
  },
  google_cloud_platform: {
    label: 'Google Cloud',
    fields: { extra: 'Extra (JSON: project, keyfile_dict, …)' },
  },
  snowflake: {
    label: 'Snowflake',
    fields: {
      host: 'Host',
      schema: 'Schema',
      login: 'Login',
      password: 'Password',
      extra: 'Extra (JSON: account, warehouse, database, role)',
    },
  },
  sftp: {
    label: 'SFTP',
    fields: {
      host: 'Host',
      port: 'Port',
      login: 'Username',
      password: 'Password',
      extra: 'Extra (JSON: key_file, …)',
    },
  },
  generic: {
    label: 'Generic',
    fields: {
      host: 'Host',
      port: 'Port',
      schema: 'Schema',
      login: 'Login',
      password: 'Password',
      extra: 'Extra (JSON)',
    },
  },
};

const FIELD_ORDER = ['host', 'port', 'schema', 'login', 'password', 'extra'] as const;

/** The Connections list. */
export function connectionsPage(
  page: PageContext,
  rows: readonly ConnectionView[],
  options: { search: string; canWrite: boolean; total: number },
): string {
  const user = page.user;
  return layout(
    page,
    h`<form method="get" action="/connections" class="search" role="search">
  <label for="search">Search connections</label>
  <input id="search" name="search" type="search" value="${options.search}">
  <button type="submit">Search</button>
</form>
<p class="muted">${options.total} connection${options.total === 1 ? '' : 's'} in the metastore.${options.canWrite ? h` <a class="button" href="/connections/new">Add a connection</a>` : ''}</p>
<div class="table-wrap"><table>
<caption class="sr-only">Connections</caption>
<thead><tr><th scope="col">Conn ID</th><th scope="col">Type</th><th scope="col">Host</th><th scope="col">Login</th><th scope="col">Password</th>${options.canWrite ? h`<th scope="col"><span class="sr-only">Actions</span></th>` : ''}</tr></thead>
<tbody>
${rows.length === 0 ? h`<tr><td colspan="6" class="muted">No connections.</td></tr>` : ''}
${rows.map(
  (r) => h`<tr>
  <th scope="row"><a href="/which?kind=connection&amp;id=${encodeURIComponent(r.connection_id)}" title="Which source serves it">${r.connection_id}</a></th>
  <td>${r.conn_type}</td><td>${r.host ?? ''}${r.port === null ? '' : `:${r.port}`}</td><td>${r.login ?? ''}</td><td>${r.unreadable ? h`<span class="error">unreadable (<code>${r.unreadable}</code>)</span>` : '***'}</td>
  ${options.canWrite ? rowActions(user, 'connection', r.connection_id) : ''}
</tr>`,
)}
</tbody></table></div>
${
  options.canWrite
    ? h`<section class="card">
  <h2>Import / export</h2>
  <form method="post" action="/connections/import" enctype="multipart/form-data">
    ${csrfField(user)}
    <label for="import-file">Connections file (Airflow's JSON: <code>{"conn_id": {"conn_type": …}}</code>)</label>
    <input id="import-file" name="file" type="file" accept=".json,application/json" required>
    <label class="check"><input type="checkbox" name="overwrite" value="1"> Replace connections that already exist</label>
    <button type="submit">Import</button>
  </form>
  <p><a href="/connections/export" download="connections.json">Export all as JSON</a></p>
</section>`
    : ''
}`,
  );
}

/** The create/edit form of a Connection. */
export function connectionFormPage(
  page: PageContext,
  view: ConnectionView | undefined,
  options: { revealed: boolean; hasPassword: boolean },
): string {
  const current =
    view?.conn_type && CONN_TYPES[view.conn_type] ? view.conn_type : view ? 'generic' : 'postgres';
  const action = view
    ? `/connections/edit/${encodeURIComponent(view.connection_id)}`
    : '/connections/new';
  const value = (field: (typeof FIELD_ORDER)[number]): string => {
    if (!view) return '';
    if (field === 'password') return options.revealed ? (view.password ?? '') : '';
    if (field === 'port') return view.port === null ? '' : String(view.port);
    const v = view[field];
    return typeof v === 'string' ? v : '';
  };
  const typeOptions = Object.entries(CONN_TYPES).map(
    ([type, spec]) =>
      h`<option value="${type}"${type === current ? ' selected' : ''}>${spec.label}</option>`,
  );
  const customType = view && !CONN_TYPES[view.conn_type] ? view.conn_type : '';
  return layout(
    page,
    h`<form method="post" action="${action}" class="card" id="conn-form" data-conn-types="${JSON.stringify(CONN_TYPES)}">
  ${csrfField(page.user)}
  <label for="connection_id">Conn ID</label>
  <input id="connection_id" name="connection_id" required pattern="[A-Za-z0-9_.\\-]+" value="${view?.connection_id ?? ''}"${view ? ' readonly' : ''}>
  <label for="conn_type_select">Connection type</label>
  <select id="conn_type_select" name="conn_type_select">${typeOptions}</select>
  <label for="conn_type">conn_type <span class="muted">(as Airflow names it; set from the type above, or any provider's type)</span></label>
  <input id="conn_type" name="conn_type" required value="${customType || (view?.conn_type ?? current)}">
  <label for="description">Description</label>
  <input id="description" name="description" value="${view?.description ?? ''}">
  ${FIELD_ORDER.map((field) => {
    const spec = CONN_TYPES[current]?.fields ?? {};
    const label = spec[field] ?? CONN_TYPES.generic?.fields[field] ?? field;
    const hidden = !(field in spec);
    const input =
      field === 'extra'
        ? h`<textarea id="f-${field}" name="${field}" rows="3">${value(field)}</textarea>`
        : field === 'password'
          ? h`<input id="f-password" name="password" type="password" autocomplete="new-password" value="${value(field)}" placeholder="${view && options.hasPassword ? '*** (leave empty to keep)' : ''}">`
          : h`<input id="f-${field}" name="${field}"${field === 'port' ? h` inputmode="numeric" pattern="[0-9]*"` : ''} value="${value(field)}">`;
    return h`<div class="field" data-field="${field}"${hidden ? ' hidden' : ''}><label for="f-${field}" data-label-for="${field}">${label}</label>${input}</div>`;
  })}
  ${view && options.hasPassword && !options.revealed ? h`<p><a class="reveal" href="${action}?reveal=1">Reveal the password</a></p>` : ''}
  <div class="buttons"><button type="submit">Save</button>
  <button type="button" id="test-connection" class="secondary">Test</button>
  <a href="/connections">Cancel</a></div>
  <p id="test-result" role="status" aria-live="polite"></p>
</form>`,
  );
}

/** A deployment setting as the settings page shows it. */
export interface SettingRow {
  name: string;
  secret: boolean;
  value: string | null;
  updatedAt: string;
  updatedBy: string | null;
}

/** The deployment settings page (admin). */
export function settingsPage(page: PageContext, rows: readonly SettingRow[]): string {
  const user = page.user;
  return layout(
    page,
    h`<p>Environment variables of this deployment, kept encrypted by the server. They configure the chain
(<code>AIRFLOW__SECRETS__BACKEND</code>, <code>AIRFLOW__SECRETS__BACKEND_KWARGS</code>,
<code>AIRFLOW_VAR_*</code>, <code>AIRFLOW_CONN_*</code>, …) for lookups and runs the server starts, and apply at once.
A <strong>secret</strong> setting is write-only: it shows as set, never its value.</p>
<div class="table-wrap"><table>
<caption class="sr-only">Deployment settings</caption>
<thead><tr><th scope="col">Name</th><th scope="col">Value</th><th scope="col">Updated</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
<tbody>
${rows.length === 0 ? h`<tr><td colspan="4" class="muted">No settings.</td></tr>` : ''}
${rows.map(
  (s) => h`<tr>
  <th scope="row"><code>${s.name}</code></th>
  <td>${s.secret ? h`<span class="badge">secret</span> <span>set (write-only)</span>` : h`<code>${s.value ?? ''}</code>`}</td>
  <td class="muted">${s.updatedAt.slice(0, 19).replace('T', ' ')} ${s.updatedBy ? `by ${s.updatedBy}` : ''}</td>
  <td class="actions"><form method="post" action="/settings/delete/${encodeURIComponent(s.name)}" class="inline" data-confirm="Delete setting ${s.name}?">${csrfField(user)}<button type="submit" class="link danger">Delete<span class="sr-only"> ${s.name}</span></button></form></td>
</tr>`,
)}
</tbody></table></div>
<form method="post" action="/settings" class="card">
  <h2>Set an environment variable</h2>
  ${csrfField(user)}
  <label for="setting-name">Name</label>
  <input id="setting-name" name="name" required pattern="[A-Za-z_][A-Za-z0-9_]*" placeholder="AIRFLOW__SECRETS__BACKEND_KWARGS">
  <label for="setting-value">Value</label>
  <textarea id="setting-value" name="value" rows="3" required></textarea>
  <label class="check"><input type="checkbox" name="secret" value="1"> Secret (write-only: never shown again)</label>
  <button type="submit">Save setting</button>
</form>`,
  );
}

function traceRows(trace: readonly LinkTrace[], source: string | null): Safe {
  return h`${trace.map(
    (t) => h`<tr${t.backend === source && t.outcome === 'hit' ? h` class="serving"` : ''}>
  <th scope="row">${t.backend}</th><td>${t.outcome}${t.backend === source && t.outcome === 'hit' ? ' (serves it)' : ''}</td>
  <td>${t.location ?? ''}</td><td>${t.errorCode ?? ''} ${t.reason ?? ''}</td><td>${t.durationMs.toFixed(1)} ms</td>
</tr>`,
  )}`;
}

/** The provenance page. */
export function whichPage(
  page: PageContext,
  query: { kind: string; id: string },
  report: WhichReport | undefined,
): string {
  return layout(
    page,
    h`<form method="get" action="/which" class="search" role="search">
  <label for="kind">Kind</label>
  <select id="kind" name="kind"><option value="variable"${query.kind === 'variable' ? ' selected' : ''}>Variable</option><option value="connection"${query.kind === 'connection' ? ' selected' : ''}>Connection</option></select>
  <label for="id">Key or conn_id</label>
  <input id="id" name="id" required value="${query.id}">
  <button type="submit">Look up</button>
</form>
${
  report
    ? h`<p>${report.source ? h`<strong>${report.kind} <code>${report.id}</code></strong> is served by <strong>${report.source}</strong>.` : h`No source serves ${report.kind} <code>${report.id}</code>.`}</p>
<div class="table-wrap"><table><caption>Every link of the chain, in order (values are never shown)</caption>
<thead><tr><th scope="col">Backend</th><th scope="col">Outcome</th><th scope="col">Where it looked</th><th scope="col">Error</th><th scope="col">Time</th></tr></thead>
<tbody>${traceRows(report.trace, report.source)}</tbody></table></div>`
    : ''
}`,
  );
}

/** The health page. */
export function healthPage(
  page: PageContext,
  metastore: { status: string; dialect: string; url: string },
  backends: readonly {
    backend: string;
    status: string;
    durationMs: number;
    detail?: string | undefined;
  }[],
): string {
  return layout(
    page,
    h`<div class="table-wrap"><table><caption>Metastore and chain links</caption>
<thead><tr><th scope="col">Component</th><th scope="col">Status</th><th scope="col">Detail</th></tr></thead>
<tbody>
<tr><th scope="row">metastore</th><td class="${metastore.status}">${metastore.status}</td><td>${metastore.dialect} · ${metastore.url}</td></tr>
${backends.map(
  (b) =>
    h`<tr><th scope="row">${b.backend}</th><td class="${b.status}">${b.status}</td><td>${b.detail ?? ''} (${b.durationMs.toFixed(0)} ms)</td></tr>`,
)}
</tbody></table></div>`,
  );
}

/** The users page (admin). */
export function usersPage(
  page: PageContext,
  users: readonly { username: string; role: string; createdAt: string }[],
): string {
  const user = page.user;
  const roleSelect = (id: string, current: string) =>
    h`<select id="${id}" name="role">${['viewer', 'editor', 'admin'].map((r) => h`<option${r === current ? ' selected' : ''}>${r}</option>`)}</select>`;
  return layout(
    page,
    h`<div class="table-wrap"><table><caption class="sr-only">Users</caption>
<thead><tr><th scope="col">User</th><th scope="col">Role</th><th scope="col">Created</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
<tbody>${users.map(
      (u) => h`<tr><th scope="row">${u.username}</th>
  <td><form method="post" action="/users/role/${encodeURIComponent(u.username)}" class="inline">${csrfField(user)}<label class="sr-only" for="role-${u.username}">Role of ${u.username}</label>${roleSelect(`role-${u.username}`, u.role)} <button type="submit" class="secondary">Change</button></form></td>
  <td class="muted">${u.createdAt.slice(0, 10)}</td>
  <td class="actions">${u.username === user?.username ? '' : h`<form method="post" action="/users/delete/${encodeURIComponent(u.username)}" class="inline" data-confirm="Delete user ${u.username}?">${csrfField(user)}<button type="submit" class="link danger">Delete<span class="sr-only"> ${u.username}</span></button></form>`}</td></tr>`,
    )}</tbody></table></div>
<form method="post" action="/users" class="card">
  <h2>Add a user</h2>
  ${csrfField(user)}
  <label for="new-username">User name</label><input id="new-username" name="username" required autocomplete="off">
  <label for="new-password">Password (at least 8 characters)</label><input id="new-password" name="password" type="password" required minlength="8" autocomplete="new-password">
  <label for="new-role">Role</label>${roleSelect('new-role', 'viewer')}
  <button type="submit">Add user</button>
</form>`,
  );
}

/** The API tokens page. */
export function tokensPage(
  page: PageContext,
  tokens: readonly {
    id: string;
    name: string;
    prefix: string;
    createdAt: string;
    lastUsedAt: string | null;
  }[],
  created: string | undefined,
  others?: readonly {
    id: string;
    name: string;
    username: string;
    prefix: string;
    createdAt: string;
    lastUsedAt: string | null;
  }[],
): string {
  const user = page.user;
  const revoke = (t: { id: string; name: string }) =>
    h`<form method="post" action="/tokens/delete/${t.id}" class="inline">${csrfField(user)}<button type="submit" class="link danger">Revoke<span class="sr-only"> ${t.name}</span></button></form>`;
  const everyone = others
    ? h`<h2>Other users' tokens</h2>
<div class="table-wrap"><table><caption class="sr-only">Other users' API tokens</caption>
<thead><tr><th scope="col">User</th><th scope="col">Name</th><th scope="col">Starts with</th><th scope="col">Created</th><th scope="col">Last used</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
<tbody>${others.length === 0 ? h`<tr><td colspan="6" class="muted">No tokens.</td></tr>` : ''}
${others.map(
  (
    t,
  ) => h`<tr data-token="${t.id}"><th scope="row">${t.username}</th><td>${t.name}</td><td><code>${t.prefix}…</code></td><td class="muted">${t.createdAt.slice(0, 19).replace('T', ' ')}</td><td class="muted">${t.lastUsedAt?.slice(0, 19).replace('T', ' ') ?? 'never'}</td>
<td class="actions">${revoke(t)}</td></tr>`,
)}</tbody></table></div>`
    : '';
  return layout(
    page,
    h`${created ? h`<div class="card" role="status"><p>Your new token (shown once; copy it now):</p><p><code class="token">${created}</code></p></div>` : ''}
<p>Use a token as <code>Authorization: Bearer &lt;token&gt;</code>; it acts with your role (${user?.role ?? ''}).</p>
<div class="table-wrap"><table><caption class="sr-only">API tokens</caption>
<thead><tr><th scope="col">Name</th><th scope="col">Starts with</th><th scope="col">Created</th><th scope="col">Last used</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
<tbody>${tokens.length === 0 ? h`<tr><td colspan="5" class="muted">No tokens.</td></tr>` : ''}
${tokens.map(
  (
    t,
  ) => h`<tr><th scope="row">${t.name}</th><td><code>${t.prefix}…</code></td><td class="muted">${t.createdAt.slice(0, 19).replace('T', ' ')}</td><td class="muted">${t.lastUsedAt?.slice(0, 19).replace('T', ' ') ?? 'never'}</td>
<td class="actions">${revoke(t)}</td></tr>`,
)}</tbody></table></div>
${everyone}
<form method="post" action="/tokens" class="card">
  <h2>Create a token</h2>
  ${csrfField(user)}
  <label for="token-name">Name</label><input id="token-name" name="name" required maxlength="100" placeholder="ci-pipeline">
  <button type="submit">Create token</button>
</form>
<form method="post" action="/tokens/password" class="card">
  <h2>Change your password</h2>
  <p class="muted">This revokes all your API tokens and signs out your other sessions.</p>
  ${csrfField(user)}
  <label for="current-password">Current password</label><input id="current-password" name="current_password" type="password" required autocomplete="current-password">
  <label for="own-new-password">New password (at least 8 characters)</label><input id="own-new-password" name="password" type="password" required minlength="8" autocomplete="new-password">
  <label for="confirm-password">New password again</label><input id="confirm-password" name="confirm" type="password" required minlength="8" autocomplete="new-password">
  <button type="submit">Change password</button>
</form>`,
  );
}

/** The page of an error (pages only; the API answers JSON). */
export function renderErrorPage(c: Context, problem: ProblemBody): string {
  let user: AuthUser | undefined;
  try {
    user = (c as Context<{ Variables: { user: AuthUser } }>).get('user');
  } catch {
    user = undefined;
  }
  return layout(
    { user, title: problem.title, path: c.req.path, navigation: [] },
    h`<p class="flash error" role="alert">${problem.detail}</p><p class="muted"><code>${problem.code}</code> (HTTP ${problem.status})</p><p><a href="/">Back to airlock</a></p>`,
  );
}

/** What every page needs: the user, the title, the navigation and the flash message. */
export function page(c: Context<AppEnv>, deps: AppDeps, title: string): PageContext {
  const ok = c.req.query('ok');
  const error = c.req.query('error');
  return {
    user: c.get('user'),
    title,
    path: c.req.path,
    navigation: deps.navigation,
    flash: ok
      ? { kind: 'ok', text: ok.slice(0, 300) }
      : error
        ? { kind: 'error', text: error.slice(0, 300) }
        : undefined,
  };
}
