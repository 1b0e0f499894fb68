// JSON API client: same-origin cookies, the CSRF header on every mutating call, SPEC error format.

export interface Me {
  id: string;
  name: string;
  email: string;
  org: string;
  roles: Array<'vendor' | 'supervisor' | 'auditor' | 'admin'>;
  totpEnrolled: boolean;
  stepUpUntil: string | null;
  stepUpMinutes?: number;
  csrfToken: string;
  sshPort: number | null;
  sshHostKeys?: Array<{ fingerprint: string; publicKey: string }>;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

let csrfToken = '';
export const setCsrfToken = (token: string) => {
  csrfToken = token;
};

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD') headers['x-csrf-token'] = csrfToken;
  const res = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  const data = text ? (JSON.parse(text) as unknown) : undefined;
  if (!res.ok) {
    const err = (data as { error?: { code?: string; message?: string } } | undefined)?.error;
    throw new ApiError(res.status, err?.code ?? 'http_error', err?.message ?? `HTTP ${res.status}`);
  }
  return data as T;
}

/** The signed-in user, or null when nobody is signed in. */
export async function loadMe(): Promise<Me | null> {
  try {
    const me = await api<Me>('GET', '/api/me');
    setCsrfToken(me.csrfToken);
    return me;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return null;
    throw err;
  }
}
