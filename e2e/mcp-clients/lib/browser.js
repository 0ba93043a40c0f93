// A stand-in for the user's browser: given the authorization URL the SDK wants
// to open, it loads the login page, signs in as the demo user, allows the
// client on the consent page, and returns the final redirect to the client's
// redirect_uri (with code, state and iss) without following it. This is the
// same sequence of requests as scripts/tour.sh.

function field(html, name) {
  const m = html.match(new RegExp(`name="${name}" value="([^"]*)"`));
  if (!m) throw new Error(`no hidden input "${name}" in page:\n${html.slice(0, 2000)}`);
  return m[1].replaceAll('&amp;', '&').replaceAll('&quot;', '"').replaceAll('&#39;', "'")
    .replaceAll('&lt;', '<').replaceAll('&gt;', '>');
}

export async function browseAuthorization(authorizationUrl, { username, password, trail }) {
  const cookies = new Map();
  const request = async (url, init = {}) => {
    const headers = new Headers(init.headers);
    if (cookies.size) headers.set('cookie', [...cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    const res = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair.indexOf('=');
      cookies.set(pair.slice(0, i).trim(), pair.slice(i + 1).trim());
    }
    const body = await res.text();
    trail?.push(`browser ${init.method ?? 'GET'} ${new URL(url).pathname} -> ${res.status}`);
    return { res, body };
  };
  const expect = (what, { res, body }, status) => {
    if (!status.includes(res.status)) {
      throw new Error(`${what}: expected HTTP ${status.join(' or ')}, got ${res.status}\n` +
        `headers: ${JSON.stringify(Object.fromEntries(res.headers))}\nbody: ${body.slice(0, 2000)}`);
    }
  };
  const form = (fields) => ({
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
  });

  const login = await request(authorizationUrl);
  expect('GET /authorize (login page)', login, [200]);

  const loggedIn = await request(new URL('/latchkey/login', authorizationUrl),
    form({ username, password, csrf: field(login.body, 'csrf') }));
  expect('POST /latchkey/login', loggedIn, [302, 303]);

  const consentUrl = new URL(loggedIn.res.headers.get('location'), authorizationUrl);
  const consent = await request(consentUrl);
  expect(`GET ${consentUrl.pathname} (consent page)`, consent, [200]);

  const allowed = await request(new URL('/latchkey/consent', authorizationUrl),
    form({ decision: 'allow', csrf: field(consent.body, 'csrf') }));
  expect('POST /latchkey/consent', allowed, [302, 303]);
  return { callback: new URL(allowed.res.headers.get('location'), authorizationUrl), consentPage: consent.body };
}
