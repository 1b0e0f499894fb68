// The page frame: who is signed in and the gateway's health. DOM is built with textContent only (no HTML strings).

export async function renderFrame(doc: Document): Promise<void> {
  const main = doc.getElementById('main');
  if (!main) return;
  const res = await fetch('/healthz', { credentials: 'same-origin' });
  const health = (await res.json()) as { status: string; site?: string };
  main.replaceChildren();
  const card = doc.createElement('section');
  card.className = 'card';
  const h = doc.createElement('h1');
  h.textContent = health.site ? `Gatehouse — ${health.site}` : 'Gatehouse';
  const p = doc.createElement('p');
  p.id = 'health';
  p.textContent = `Gateway status: ${health.status}`;
  p.className = health.status === 'ok' ? 'ok' : 'error';
  card.append(h, p);
  main.append(card);
}
