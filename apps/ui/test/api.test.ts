import { adminToken, getJson, setAdminToken, TOKEN_KEY } from '../src/api.ts';

/** localStorage as a browser has it, for the node test environment. */
class MemoryStorage {
  private readonly items = new Map<string, string>();
  getItem(k: string): string | null {
    return this.items.get(k) ?? null;
  }
  setItem(k: string, v: string): void {
    this.items.set(k, v);
  }
  removeItem(k: string): void {
    this.items.delete(k);
  }
}

describe('the admin token of the UI', () => {
  const sent: RequestInit[] = [];
  const realFetch = globalThis.fetch;
  beforeEach(() => {
    sent.length = 0;
    (globalThis as { localStorage?: unknown }).localStorage = new MemoryStorage();
    globalThis.fetch = (async (_path: string, init: RequestInit) => {
      sent.push(init);
      return new Response('{"ok": true}', { status: 200 });
    }) as typeof fetch;
  });
  afterEach(() => {
    globalThis.fetch = realFetch;
    delete (globalThis as { localStorage?: unknown }).localStorage;
  });

  it('sends no Authorization header without a token, Bearer <token> once one is saved', async () => {
    await getJson('/services');
    expect(sent[0].headers).toEqual({ accept: 'application/json' });
    setAdminToken('  stead_abc  ');
    expect(globalThis.localStorage.getItem(TOKEN_KEY)).toBe('stead_abc');
    await getJson('/services');
    expect(sent[1].headers).toEqual({ accept: 'application/json', authorization: 'Bearer stead_abc' });
    setAdminToken('');
    expect(adminToken()).toBeUndefined();
    await getJson('/services');
    expect(sent[2].headers).toEqual({ accept: 'application/json' });
  });
});
