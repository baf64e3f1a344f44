import type { Child } from 'hono/jsx';

/** Refusal reasons by form field name (a ValidationError's `field` → its message). */
export type Errors = Partial<Record<string, string>>;
/** What a form shows in its fields: entered values (after a refusal) or stored ones. */
export type Values = Partial<Record<string, string | boolean>>;

interface Common {
  /** prefix of the element ids (one page holds several forms) */
  form: string;
  name: string;
  label: string;
  hint?: string;
  errors?: Errors;
}

/** ids and ARIA attributes of one field: the hint and the error (when there is one) describe the input. */
function describe({ form, name, hint, errors }: Common) {
  const id = `${form}-${name}`;
  const described = [hint ? `${id}-hint` : '', errors?.[name] ? `${id}-error` : ''].filter(Boolean).join(' ');
  return { id, attrs: { 'aria-invalid': errors?.[name] ? 'true' : undefined, 'aria-describedby': described || undefined } };
}

/** The hint under a field and the reason it was refused, beside it (`<id>-error`, class field-error). */
function Below({ id, hint, error }: { id: string; hint?: string; error?: string }) {
  return (
    <>
      {hint && (
        <small id={`${id}-hint`} class="muted">
          {hint}
        </small>
      )}
      {error && (
        <span id={`${id}-error`} class="field-error">
          {error}
        </span>
      )}
    </>
  );
}

/** A labelled one-line input. Values are JSX attributes (escaped). */
export function TextField(p: Common & { value?: string; type?: string; inputmode?: 'numeric' | 'email' | 'text'; autocomplete?: string; placeholder?: string }) {
  const { id, attrs } = describe(p);
  return (
    <div class="field">
      <label for={id}>{p.label}</label>
      <input id={id} name={p.name} type={p.type ?? 'text'} value={p.value ?? ''} inputmode={p.inputmode} autocomplete={p.autocomplete ?? 'off'} placeholder={p.placeholder} {...attrs} />
      <Below id={id} hint={p.hint} error={p.errors?.[p.name]} />
    </div>
  );
}

/** A labelled select; `options` are [value, label] pairs. */
export function SelectField(p: Common & { value?: string; options: [string, string][] }) {
  const { id, attrs } = describe(p);
  return (
    <div class="field">
      <label for={id}>{p.label}</label>
      <select id={id} name={p.name} {...attrs}>
        {p.options.map(([v, l]) => (
          <option value={v} selected={v === p.value}>
            {l}
          </option>
        ))}
      </select>
      <Below id={id} hint={p.hint} error={p.errors?.[p.name]} />
    </div>
  );
}

/** A checkbox with its label after it; sends `on` when ticked and nothing otherwise. */
export function CheckField(p: Common & { checked?: boolean }) {
  const { id, attrs } = describe(p);
  return (
    <div class="field check">
      <input id={id} name={p.name} type="checkbox" value="on" checked={!!p.checked} {...attrs} />
      <label for={id}>{p.label}</label>
      <Below id={id} hint={p.hint} error={p.errors?.[p.name]} />
    </div>
  );
}

/** A fieldset with a legend around fields. */
export function Group({ legend, children, legendHidden }: { legend: string; children?: Child; legendHidden?: boolean }) {
  return (
    <fieldset>
      {/* a legend that repeats the heading right above stays for screen readers only */}
      <legend class={legendHidden ? 'visually-hidden' : undefined}>{legend}</legend>
      {children}
    </fieldset>
  );
}
