import { useState, type FormEvent } from 'react';
import { api, ApiError } from '../api';
import { useT } from '../i18n';
import { AuthShell } from './auth';
import { BASE, Link, navigate } from '../router';
import { ErrorBox, Field } from '../ui';

export const INVITE_PATH = '/invite';

/**
 * The link an inviter passes on: the token rides in the fragment, which the browser never sends (no
 * server log or Referer sees it).
 */
export function inviteLink(token: string): string {
  return `${window.location.origin}${BASE}${INVITE_PATH}#${encodeURIComponent(token)}`;
}

function tokenFromFragment(): string {
  try {
    return decodeURIComponent(window.location.hash.slice(1)).trim();
  } catch {
    return '';
  }
}

/** Accepting an invitation: signed in or not, the invitee lands in the inviting organisation. */
export function InvitePage() {
  const t = useT();
  const [token] = useState(tokenFromFragment);
  const [password, setPassword] = useState('');
  const [displayName, setDisplayName] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const signedIn = api.current;
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api.acceptInvite(token, password, displayName.trim() || undefined);
      navigate('/', true);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  return (
    <AuthShell title={t('acceptInvite')} titleId="invite-title" onSubmit={submit}>
      {!token ? (
        <p className="error" role="alert">
          {t('inviteNoToken')}
        </p>
      ) : (
        <>
          <p>{t('acceptInviteIntro')}</p>
          {signedIn && (
            <p className="note">
              {t('acceptInviteSignedIn')} {signedIn.email}
            </p>
          )}
          <Field label={t('password')} hint={t('acceptInviteHint')}>
            <input
              type="password"
              required
              autoFocus
              autoComplete="new-password"
              value={password}
              onChange={(e) => setPassword(e.target.value)}
            />
          </Field>
          <Field label={t('displayName')}>
            <input
              maxLength={100}
              autoComplete="name"
              value={displayName}
              onChange={(e) => setDisplayName(e.target.value)}
            />
          </Field>
          <InviteError error={error} />
          <button type="submit" disabled={busy}>
            {t('acceptInvite')}
          </button>
        </>
      )}
      <p>
        <Link to={signedIn ? '/' : '/login'}>{signedIn ? t('apps') : t('signIn')}</Link>
      </p>
    </AuthShell>
  );
}

/** The answers an invitee meets most, said plainly (the server's words follow). */
function InviteError({ error }: { error: unknown }) {
  const t = useT();
  if (!(error instanceof ApiError)) return <ErrorBox error={error} />;
  let plain: string | null = null;
  if (error.status === 404) plain = t('inviteInvalid');
  else if (error.status === 429) {
    plain = t('tooManyAttempts');
    if (error.retryAfter !== undefined) {
      plain += ` ${t('retryAfterSeconds').replace('{s}', String(error.retryAfter))}`;
    }
  } else if (error.status === 401) plain = t('inviteExistingAccount');
  if (plain === null) return <ErrorBox error={error} />;
  return (
    <div className="error" role="alert">
      <div>{plain}</div>
      <div className="hint">{error.message}</div>
    </div>
  );
}
