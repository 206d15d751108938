import { useState, type FormEvent } from 'react';
import { api, type Member, type Page, type Role, apiPath } from '../api';
import { useSession } from '../App';
import { useT } from '../i18n';
import { ErrorBox, Field, Secret, useAsync, when } from '../ui';
import { inviteLink } from './invite';

const ROLES: Role[] = ['owner', 'admin', 'developer', 'viewer'];

export function MembersPage() {
  const t = useT();
  const { can, session, me } = useSession();
  const members = useAsync(() => api.get<Page<Member>>('/members', { limit: 200 }), []);
  const [error, setError] = useState<unknown>(null);
  const manage = can('members.manage');
  // Only owners grant or touch the owner role (the server refuses it too).
  const myRole = me?.role ?? session.role;
  const grantable = ROLES.filter((r) => r !== 'owner' || myRole === 'owner');

  const setRole = async (m: Member, role: Role) => {
    setError(null);
    try {
      await api.patch(apiPath`/members/${m.user_id}`, { role });
      void members.reload();
    } catch (err) {
      setError(err);
    }
  };
  const remove = async (m: Member) => {
    if (!window.confirm(`${t('confirm')} ${m.email}`)) return;
    setError(null);
    try {
      await api.delete(apiPath`/members/${m.user_id}`);
      void members.reload();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <section aria-labelledby="members-title">
      <h1 id="members-title">{t('members')}</h1>
      <ErrorBox error={members.error ?? error} />
      {members.data && (
        <div className="table-wrap">
          <table data-testid="members">
            <thead>
              <tr>
                <th scope="col">{t('email')}</th>
                <th scope="col">{t('role')}</th>
                <th scope="col">{t('joined')}</th>
                {manage && <th scope="col" />}
              </tr>
            </thead>
            <tbody>
              {members.data.items.map((m) => (
                <tr key={m.user_id}>
                  <td>{m.email}</td>
                  <td>
                    {manage && m.user_id !== session.user_id && (m.role !== 'owner' || myRole === 'owner') ? (
                      <select
                        aria-label={`${t('changeRole')} ${m.email}`}
                        value={m.role}
                        onChange={(e) => void setRole(m, e.target.value as Role)}
                      >
                        {grantable.map((r) => (
                          <option key={r} value={r}>
                            {t(r)}
                          </option>
                        ))}
                      </select>
                    ) : (
                      t(m.role)
                    )}
                  </td>
                  <td>{when(m.joined_at)}</td>
                  {manage && (
                    <td>
                      {m.user_id !== session.user_id && (m.role !== 'owner' || myRole === 'owner') && (
                        <button type="button" className="small danger" onClick={() => void remove(m)}>
                          {t('remove')}
                        </button>
                      )}
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {manage && <Invite roles={grantable} />}
    </section>
  );
}

function Invite({ roles }: { roles: Role[] }) {
  const t = useT();
  const [email, setEmail] = useState('');
  const [role, setRole] = useState<Role>('developer');
  const [token, setToken] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      const res = await api.post<{ invite_token: string }>('/invitations', { email, role });
      setToken(res.invite_token);
      setEmail('');
    } catch (err) {
      setError(err);
    }
  };
  return (
    <form className="card" onSubmit={(e) => void submit(e)} aria-labelledby="invite">
      <h2 id="invite">{t('invite')}</h2>
      <div className="grid">
        <Field label={t('email')}>
          <input type="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
        </Field>
        <Field label={t('role')}>
          <select value={role} onChange={(e) => setRole(e.target.value as Role)}>
            {roles.map((r) => (
              <option key={r} value={r}>
                {t(r)}
              </option>
            ))}
          </select>
        </Field>
      </div>
      <ErrorBox error={error} />
      {token && <Secret label={t('inviteLink')} value={inviteLink(token)} />}
      <button type="submit">{t('invite')}</button>
    </form>
  );
}
