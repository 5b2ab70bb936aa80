// Small shared pieces: error text, a confirmation dialog, the app's navigation.
import { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import { ApiError } from './api';

export function navigate(path: string, replace = false) {
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  dispatchEvent(new PopStateEvent('popstate'));
}

/** An error in words, next to what caused it; announced to screen readers. */
export function ErrorText({ error, id }: { error: unknown; id?: string }) {
  if (!error) return null;
  const msg =
    error instanceof ApiError
      ? error.message + (error.field ? ` (${error.field})` : '')
      : String(error);
  return (
    <p class="error" role="alert" id={id}>
      {msg}
    </p>
  );
}

/** A modal dialog (the platform's <dialog>: focus stays inside, Escape cancels). */
export function Dialog(props: {
  title: string;
  children: ComponentChildren;
  onClose: () => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current!;
    if (!d.open) d.showModal();
    const cancel = (e: Event) => {
      e.preventDefault();
      props.onClose();
    };
    d.addEventListener('cancel', cancel);
    return () => d.removeEventListener('cancel', cancel);
  }, []);
  return (
    <dialog ref={ref} aria-labelledby="dlg-title">
      <h2 id="dlg-title">{props.title}</h2>
      {props.children}
    </dialog>
  );
}

export function Swatch({ color }: { color: string | null }) {
  if (!color) return <span class="swatch empty" aria-hidden="true" />;
  return <span class="swatch" aria-hidden="true" style={{ background: color }} />;
}

export function fmtTime(iso: string) {
  const d = new Date(iso);
  return isNaN(d.getTime()) ? iso : d.toLocaleString();
}
