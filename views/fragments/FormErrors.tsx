/** Reasons by form field (a ValidationError's `field` → its message); `_form` for one that belongs to no field. */
export type FieldErrors = Partial<Record<string, string>>;

/** Attributes that tie an input to its error text: `aria-invalid` and `aria-describedby`. */
export function errorAttrs(errors: FieldErrors | undefined, field: string, id: string) {
  return errors?.[field] ? { 'aria-invalid': 'true', 'aria-describedby': `${id}-error` } : {};
}

/** The reason a field was refused, shown beside it (`<id>-error`, referenced by the input). */
export function FieldError({ errors, field, id }: { errors?: FieldErrors; field: string; id: string }) {
  const reason = errors?.[field];
  return reason ? (
    <span id={`${id}-error`} class="field-error" data-field={field}>
      {reason}
    </span>
  ) : null;
}

/** A summary above a refused form (role="alert"), with the reason that belongs to no field. */
export function FormAlert({ errors, message }: { errors?: FieldErrors; message: string }) {
  if (!errors || !Object.keys(errors).length) return null;
  return (
    <p class="message error" role="alert">
      {message}
      {errors._form ? ` ${errors._form}` : ''}
    </p>
  );
}

/** A notice after a successful action (role="status"). */
export function Notice({ text }: { text?: string | string[] }) {
  if (!text || (Array.isArray(text) && !text.length)) return null;
  const lines = Array.isArray(text) ? text : [text];
  return (
    <div class="message notice" role="status">
      {lines.map((l) => (
        <p>{l}</p>
      ))}
    </div>
  );
}
