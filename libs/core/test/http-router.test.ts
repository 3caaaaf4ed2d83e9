import { HttpRouter } from '../src/index.ts';

const router = () =>
  new HttpRouter<string>()
    .get('/deployments', 'list')
    .post('/deployments', 'register')
    .get('/deployments/:deployment', 'describe')
    .delete('/deployments/:deployment', 'remove')
    .get('/services/:service/handlers/:handler', 'handler');

describe('HttpRouter', () => {
  test('matches method and pattern, decoding :params; a trailing slash is the same path', () => {
    expect(router().match('GET', '/deployments/')).toEqual({ kind: 'found', handler: 'list', params: {} });
    expect(router().match('DELETE', '/deployments/dp_1')).toEqual({
      kind: 'found',
      handler: 'remove',
      params: { deployment: 'dp_1' },
    });
    expect(router().match('GET', '/services/a%20b/handlers/h%2Fx')).toEqual({
      kind: 'found',
      handler: 'handler',
      params: { service: 'a b', handler: 'h/x' },
    });
  });

  test('HEAD is answered by the GET route', () => {
    expect(router().match('HEAD', '/deployments/dp_1')).toMatchObject({ kind: 'found', handler: 'describe' });
  });

  test('a path served by other methods only is method-not-allowed, listing them (HEAD with GET)', () => {
    expect(router().match('PUT', '/deployments')).toEqual({
      kind: 'method-not-allowed',
      allow: ['GET', 'HEAD', 'POST'],
    });
    expect(router().match('PATCH', '/deployments/x')).toEqual({
      kind: 'method-not-allowed',
      allow: ['DELETE', 'GET', 'HEAD'],
    });
  });

  test('unknown paths and other segment counts are not found', () => {
    expect(router().match('GET', '/nope')).toEqual({ kind: 'not-found' });
    expect(router().match('GET', '/deployments/a/b')).toEqual({ kind: 'not-found' });
  });

  test('an empty :param matches only with allowEmptyParams', () => {
    expect(router().match('GET', '/services//handlers/h')).toEqual({ kind: 'not-found' });
    const lenient = new HttpRouter<string>({ allowEmptyParams: true }).get('/restate/a/:id/output', 'output');
    expect(lenient.match('GET', '/restate/a//output')).toEqual({
      kind: 'found',
      handler: 'output',
      params: { id: '' },
    });
  });

  test('the first route added wins; routes added later are served', () => {
    const r = new HttpRouter<string>().get('/a/:x', 'param').get('/a/fixed', 'fixed');
    expect(r.match('GET', '/a/fixed')).toMatchObject({ handler: 'param' });
    r.post('/b', 'late');
    expect(r.match('POST', '/b')).toMatchObject({ kind: 'found', handler: 'late' });
  });

  test('a segment that does not percent-decode is passed as is', () => {
    expect(router().match('GET', '/deployments/%E0%A4%A')).toMatchObject({ params: { deployment: '%E0%A4%A' } });
  });
});
