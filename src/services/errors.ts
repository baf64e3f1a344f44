/**
 * Input that breaks a rule. `field` names the setting or argument, `message` says why in one
 * sentence; shown to the admin or printed by the CLI as it is.
 */
export class ValidationError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = 'ValidationError';
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
