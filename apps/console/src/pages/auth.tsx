import { useState, type FormEvent, type ReactNode } from 'react';
import { api } from '../api';
import { LanguageSwitch, useT } from '../i18n';
import { Link, navigate } from '../router';
import { ErrorBox, Field } from '../ui';

export function AuthPage({ mode }: { mode: 'signin' | 'signup' }) {
  const t = useT();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [tenantName, setTenantName] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (mode === 'signup') await api.signUp(email, password, tenantName);
      else await api.signIn(email, password);
      navigate('/', true);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const title = mode === 'signup' ? t('createAccount') : t('signIn');
  return (
    <AuthShell title={title} titleId="auth-title" onSubmit={submit}>
      <Field label={t('email')}>
        <input
          type="email"
          required
          autoComplete="email"
          value={email}
          onChange={(e) => setEmail(e.target.value)}
        />
      </Field>
      <Field label={t('password')} hint={mode === 'signup' ? t('passwordHint') : undefined}>
        <input
          type="password"
          required
          minLength={mode === 'signup' ? 10 : 1}
          autoComplete={mode === 'signup' ? 'new-password' : 'current-password'}
          value={password}
          onChange={(e) => setPassword(e.target.value)}
        />
      </Field>
      {mode === 'signup' && (
        <Field label={t('tenantName')}>
          <input
            required
            value={tenantName}
            onChange={(e) => setTenantName(e.target.value)}
            autoComplete="organization"
          />
        </Field>
      )}
      <ErrorBox error={error} />
      <button type="submit" disabled={busy}>
        {mode === 'signup' ? t('signUp') : t('signIn')}
      </button>
      <p>
        {mode === 'signup' ? (
          <>
            {t('haveAccount')} <Link to="/login">{t('signIn')}</Link>
          </>
        ) : (
          <>
            {t('noAccount')} <Link to="/signup">{t('createAccount')}</Link>
          </>
        )}
      </p>
    </AuthShell>
  );
}

/** The frame of the pages before the console proper (sign-in, sign-up, an invitation): brand, language, one form. */
export function AuthShell(props: {
  title: string;
  titleId: string;
  onSubmit: (e: FormEvent) => Promise<void>;
  children: ReactNode;
}) {
  const t = useT();
  return (
    <main className="auth" id="main">
      <div className="auth-top">
        <span className="brand">{t('brand')}</span>
        <LanguageSwitch />
      </div>
      <form
        className="card auth-card"
        onSubmit={(e) => void props.onSubmit(e)}
        aria-labelledby={props.titleId}
      >
        <h1 id={props.titleId}>{props.title}</h1>
        {props.children}
      </form>
    </main>
  );
}
