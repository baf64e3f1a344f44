/**
 * Codes of refusals that carry their figures as parameters; the admin renders them from its
 * catalogues (views/i18n/coded-refusals.ts), the API answers code and parameters beside the
 * English `error`.
 * - `send-too-many-recipients` {maxRecipients, recipients}: more recipients in one message than allowed
 * - `send-rate-exceeded` {maxPerMinute, retryAfterSeconds}: more messages per minute than allowed
 * - `send-limit-invalid` {value, min, max}: a limit that is not a whole number within its bounds
 */
export type RefusalCode = 'send-too-many-recipients' | 'send-rate-exceeded' | 'send-limit-invalid';
/** The figures and names a coded refusal's text is built from. */
export type RefusalParams = Record<string, string | number>;
/** A refusal with a stable code and its parameters. */
export interface Coded {
  readonly code: RefusalCode;
  readonly params: RefusalParams;
}

/**
 * Input that breaks a rule. `field` names the setting or argument, `message` says why in one
 * sentence; shown to the admin or printed by the CLI as it is. With `coded`, the refusal also
 * carries a code and its parameters, from which the admin builds its text.
 */
export class ValidationError extends Error {
  readonly code?: RefusalCode;
  readonly params?: RefusalParams;
  constructor(
    readonly field: string,
    message: string,
    coded?: Coded,
  ) {
    super(message);
    this.name = 'ValidationError';
    if (coded) {
      this.code = coded.code;
      this.params = coded.params;
    }
  }
}

/**
 * Too many requests of one kind in too short a time (HTTP 429 with `Retry-After`): the request was
 * right but must wait `retryAfterSeconds` (whole seconds, at least 1).
 */
export class RateLimitError extends Error implements Coded {
  constructor(
    message: string,
    readonly code: RefusalCode,
    readonly params: RefusalParams,
    readonly retryAfterSeconds: number,
  ) {
    super(message);
    this.name = 'RateLimitError';
  }
}

/** A referenced record does not exist. */
export class NotFoundError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NotFoundError';
  }
}

/** The principal may see the record but not do this to it (HTTP 403): an admin action, or someone else's task. */
export class ForbiddenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ForbiddenError';
  }
}

/** Unique indexes (src/db/schema.ts) and the input field each one guards. */
const UNIQUE_FIELDS: Record<string, string> = {
  staff_active_email_idx: 'email',
  staff_login_idx: 'login',
  sender_mapping_from_to_idx: 'to',
  activity_type_name_lower_idx: 'name',
  device_account_name_idx: 'name',
};

/**
 * A unique-index violation (SQLSTATE 23505) that got past a service's own check because two
 * requests raced, as the ValidationError that check would have thrown; null for anything else.
 * Looks through drizzle's wrapping (`cause`) for the driver error of postgres.js or PGlite.
 */
export function uniqueViolation(err: unknown): ValidationError | null {
  for (let e = err as { code?: unknown; constraint_name?: unknown; constraint?: unknown; message?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 4; e = e.cause as typeof e, depth++) {
    if (e.code !== '23505') continue;
    const name = String(e.constraint_name ?? e.constraint ?? /"([a-z_]+)"/.exec(String(e.message))?.[1] ?? '');
    const field = UNIQUE_FIELDS[name] ?? 'id';
    return new ValidationError(field, `this ${field} is already taken (someone saved the same value at the same moment)`);
  }
  return null;
}
