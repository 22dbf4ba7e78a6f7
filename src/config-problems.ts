/**
 * One thing wrong in a configuration: where it is, what was expected there and what came. The
 * server's options, a model's config file and the access file all report their problems so.
 */
export interface ConfigProblem {
  /**
   * The file it is in, as the user named it (a model's config file: relative to the model
   * repository); undefined for a flag or an environment variable, which `field` names.
   */
  readonly file: string | undefined;
  /**
   * Where in the file: the field's path (`dynamic_batching.max_queue_size`, `tokens[1].scopes`),
   * or the flag or variable (`--port`, `INFERD_PORT`); '' for the file as a whole.
   */
  readonly field: string;
  /** What belongs there, e.g. "a whole number from 1 to 256". */
  readonly expected: string;
  /** What came: the value as written (see `shown`), or a description such as "none". */
  readonly got: string;
}

/** `file: field: expected …, got …`, leaving out an empty file or field. */
export function formatProblem(problem: ConfigProblem): string {
  const where = [problem.file, problem.field].filter((part) => part !== undefined && part !== '').join(': ');
  return `${where === '' ? '' : `${where}: `}expected ${problem.expected}, got ${problem.got}`;
}

/** Values longer than this are cut short in messages: a config file may hold a long list where a number belongs. */
const MAX_SHOWN_CHARS = 100;

/**
 * A value as a problem shows it: JSON (cut short past MAX_SHOWN_CHARS), "none" for a value
 * left out; with `why`, the checker's own words after it in parentheses.
 */
export function shown(value: unknown, why?: string): string {
  let text = value === undefined ? 'none' : (JSON.stringify(value) ?? String(value));
  if (text.length > MAX_SHOWN_CHARS) text = `${text.slice(0, MAX_SHOWN_CHARS)}…`;
  return why === undefined ? text : `${text} (${why})`;
}

/** What kind of value came, without the value, for where it may be a secret: "a string of 15 characters". */
export function described(value: unknown): string {
  if (value === undefined || value === null) return 'none';
  if (typeof value === 'string') return `a string of ${value.length} characters`;
  if (Array.isArray(value)) return `a list of ${value.length} items`;
  return `a ${typeof value === 'object' ? 'mapping' : typeof value}`;
}

/** Thrown with every problem of a configuration; its message is one problem per line. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';

  constructor(readonly problems: readonly ConfigProblem[]) {
    super(problems.map(formatProblem).join('\n'));
  }

  /** The problems, one line each, as the message has them. */
  get lines(): string[] {
    return this.problems.map(formatProblem);
  }
}

/**
 * Collects the problems of one configuration (from one file, or from several sources), so that
 * all of them are reported at once, then throws them together.
 */
export class ConfigProblems {
  private readonly found: ConfigProblem[] = [];

  /** Problems recorded so far. */
  get count(): number {
    return this.found.length;
  }

  add(problem: ConfigProblem): void {
    this.found.push(problem);
  }

  /** Throws a ConfigError with every problem recorded, when there is one. */
  throwIfAny(): void {
    if (this.found.length > 0) throw new ConfigError([...this.found]);
  }
}

/**
 * Typed reads of a parsed document (YAML or JSON) of one file. Each read that finds something
 * else records the problem, naming the file and the field, and returns undefined, so that the
 * reading goes on and every problem is found.
 */
export class ConfigReader {
  constructor(
    /** The file, as problems name it. */
    readonly file: string | undefined,
    readonly problems: ConfigProblems = new ConfigProblems(),
  ) {}

  /** Records a problem of `field`; `got` is already as it should be shown (see `shown`). */
  problem(field: string, expected: string, got: string): void {
    this.problems.add({ file: this.file, field, expected, got });
  }

  /** A mapping; with `keys`, a key not among them is reported (and kept). */
  mapping(value: unknown, field: string, keys?: readonly string[]): Record<string, unknown> | undefined {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      this.problem(field, 'a mapping', shown(value));
      return undefined;
    }
    if (keys !== undefined) {
      for (const key of Object.keys(value)) if (!keys.includes(key)) this.problem(at(field, key), `a known field (${keys.join(', ')})`, 'an unknown field');
    }
    return value as Record<string, unknown>;
  }

  /** `read` of `object[key]` at `field.key`, or undefined when the key is left out. */
  optional<T>(object: Record<string, unknown>, field: string, key: string, read: (value: unknown, field: string) => T | undefined): T | undefined {
    return object[key] === undefined ? undefined : read(object[key], at(field, key));
  }

  list(value: unknown, field: string): unknown[] | undefined {
    if (Array.isArray(value)) return value;
    this.problem(field, 'a list', shown(value));
    return undefined;
  }

  /** Each item of a list read by `read` at `field[i]`; undefined when it is no list or any item is not right. */
  items<T>(value: unknown, field: string, read: (item: unknown, field: string) => T | undefined): T[] | undefined {
    const list = this.list(value, field);
    if (list === undefined) return undefined;
    const values = list.map((item, i) => read(item, `${field}[${i}]`));
    return values.every((item) => item !== undefined) ? (values as T[]) : undefined;
  }

  int(value: unknown, field: string, min: number, max: number): number | undefined {
    if (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max) return value;
    this.problem(field, `a whole number from ${min} to ${max}`, shown(value));
    return undefined;
  }

  string(value: unknown, field: string): string | undefined {
    if (typeof value === 'string' && value !== '') return value;
    this.problem(field, 'a non-empty string', shown(value));
    return undefined;
  }

  oneOf<T extends string>(value: unknown, field: string, options: readonly T[]): T | undefined {
    if (options.includes(value as T)) return value as T;
    this.problem(field, `one of ${options.join(', ')}`, shown(value));
    return undefined;
  }
}

/** The path of `key` inside `field` ('' is the document). */
function at(field: string, key: string): string {
  return field === '' ? key : `${field}.${key}`;
}
