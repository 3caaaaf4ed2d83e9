// The few DataFusion habits (Restate's SQL engine) that the restate CLI's queries rely on and DuckDB lacks,
// rewritten into DuckDB's equivalent before a query is planned:
//
// * `FIRST_VALUE(x ORDER BY y)` / `LAST_VALUE(...)` as aggregates (`restate services status`): DuckDB has them
//   as window functions only; its aggregates are `first(x ORDER BY y)` / `last(...)`.
// * `FROM (SELECT * FROM sys_invocation inv LIMIT 50000) WHERE inv.status ...` (`restate invocations list`
//   with a filter): DataFusion lets the outer query use the inner alias of an unnamed subquery; DuckDB does not,
//   so such a subquery gets that alias.
//
// Works on tokens (strings, quoted names and comments kept whole), so text inside literals is never touched.

interface Token {
  text: string;
  /** Words, punctuation and literals count; whitespace and comments do not. */
  significant: boolean;
  /** Text inserted after the token. */
  after?: string;
}

const TOKEN = /\s+|--[^\n]*|\/\*[\s\S]*?\*\/|'(?:[^']|'')*'|"(?:[^"]|"")*"|[A-Za-z_][A-Za-z0-9_$]*|\d+(?:\.\d*)?|./gy;

function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  TOKEN.lastIndex = 0;
  for (let m = TOKEN.exec(sql); m !== null && m[0] !== ''; m = TOKEN.exec(sql)) {
    const text = m[0];
    tokens.push({ text, significant: !/^(\s|--|\/\*)/.test(text) });
  }
  return tokens;
}

/** Index of the next significant token after `i` (tokens.length at the end). */
function next(tokens: Token[], i: number): number {
  let j = i + 1;
  while (j < tokens.length && !tokens[j].significant) j++;
  return j;
}

function prev(tokens: Token[], i: number): number {
  let j = i - 1;
  while (j >= 0 && !tokens[j].significant) j--;
  return j;
}

/** Index of the `)` matching the `(` at `open` (tokens.length when unbalanced). */
function closing(tokens: Token[], open: number): number {
  let depth = 0;
  for (let i = open; i < tokens.length; i++) {
    if (tokens[i].text === '(') depth++;
    else if (tokens[i].text === ')' && --depth === 0) return i;
  }
  return tokens.length;
}

const word = (tokens: Token[], i: number): string => (i >= 0 && i < tokens.length ? tokens[i].text.toUpperCase() : '');

const AGGREGATE_FORMS: Record<string, string> = { FIRST_VALUE: 'first', LAST_VALUE: 'last' };

/** `first_value(...)` not followed by OVER → `first(...)`. */
function rewriteValueAggregates(tokens: Token[]): void {
  tokens.forEach((token, i) => {
    const aggregate = AGGREGATE_FORMS[token.text.toUpperCase()];
    const open = next(tokens, i);
    if (aggregate === undefined || tokens[open]?.text !== '(') return;
    if (word(tokens, next(tokens, closing(tokens, open))) !== 'OVER') token.text = aggregate;
  });
}

/** Words after which a subquery's closing parenthesis has no alias of its own. */
const AFTER_UNNAMED = new Set([
  '',
  ')',
  ',',
  ';',
  'WHERE',
  'GROUP',
  'ORDER',
  'LIMIT',
  'HAVING',
  'UNION',
  'EXCEPT',
  'INTERSECT',
  'JOIN',
  'LEFT',
  'RIGHT',
  'INNER',
  'FULL',
  'CROSS',
  'QUALIFY',
  'WINDOW',
]);

const NOT_ALIASES = new Set(['WHERE', 'LIMIT', 'ORDER', 'GROUP', 'JOIN', 'LEFT', 'RIGHT', 'INNER', 'ON', 'AS']);

/** The alias of `SELECT * FROM table [AS] alias` starting at `select` (undefined for any other shape). */
function innerAlias(tokens: Token[], select: number): string | undefined {
  const star = next(tokens, select);
  const from = next(tokens, star);
  const table = next(tokens, from);
  if (tokens[star]?.text !== '*' || word(tokens, from) !== 'FROM' || !/^\w+$/.test(tokens[table]?.text ?? '')) {
    return undefined;
  }
  let alias = next(tokens, table);
  if (word(tokens, alias) === 'AS') alias = next(tokens, alias);
  const text = tokens[alias]?.text ?? '';
  return /^[A-Za-z_]\w*$/.test(text) && !NOT_ALIASES.has(text.toUpperCase()) ? text : undefined;
}

/** `FROM (SELECT * FROM t alias ...) WHERE alias.x` → `FROM (SELECT * FROM t alias ...) AS alias WHERE alias.x`. */
function nameUnnamedSubqueries(tokens: Token[]): void {
  tokens.forEach((token, open) => {
    if (token.text !== '(' || !['FROM', 'JOIN'].includes(word(tokens, prev(tokens, open)))) return;
    const select = next(tokens, open);
    if (word(tokens, select) !== 'SELECT') return;
    const alias = innerAlias(tokens, select);
    const close = closing(tokens, open);
    if (alias === undefined || close >= tokens.length || !AFTER_UNNAMED.has(word(tokens, next(tokens, close)))) return;
    tokens[close].after = ` AS ${alias}`;
  });
}

/** The query with the DataFusion forms above in DuckDB's words; any other query comes back unchanged. */
export function toDuckDbDialect(sql: string): string {
  const tokens = tokenize(sql);
  rewriteValueAggregates(tokens);
  nameUnnamedSubqueries(tokens);
  return tokens.map((t) => t.text + (t.after ?? '')).join('');
}
