/**
 * @module server/ui/html
 * A tiny HTML template tag: every interpolated value is escaped unless it is already {@link Safe}
 * (the output of another template); arrays are joined; `null`, `undefined` and `false` vanish.
 * Pages are plain functions returning `Safe`, rendered on the server; no client framework.
 */

/** HTML that is already escaped. */
export class Safe {
  readonly html: string;
  constructor(html: string) {
    this.html = html;
  }
  toString(): string {
    return this.html;
  }
}

const ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Escapes text for HTML content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => ESCAPES[ch] ?? ch);
}

function render(value: unknown): string {
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof Safe) return value.html;
  if (Array.isArray(value)) return value.map(render).join('');
  return escapeHtml(String(value));
}

/**
 * The template tag.
 *
 * @example
 * ```ts
 * h`<td>${key}</td>`; // key is escaped
 * ```
 */
export function h(strings: TemplateStringsArray, ...values: unknown[]): Safe {
  let out = strings[0] ?? '';
  for (let i = 0; i < values.length; i++) out += render(values[i]) + (strings[i + 1] ?? '');
  return new Safe(out);
}
