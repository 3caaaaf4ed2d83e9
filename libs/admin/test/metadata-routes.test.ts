import { describe, expect, it } from '@jest/globals';
import { isClusterKey } from '../src/index.ts';
import { renderValue } from '../src/metadata-routes.ts';

describe('metadata routes', () => {
  it('shows UTF-8 text as text, anything else (binary, control characters) as base64', () => {
    expect(renderValue(new TextEncoder().encode('{"a": 1}\n'))).toEqual({ encoding: 'utf8', value: '{"a": 1}\n' });
    expect(renderValue(new Uint8Array([0xff, 0x00, 0x01]))).toEqual({ encoding: 'base64', value: '/wAB' });
    expect(renderValue(new Uint8Array([0x08, 0x01]))).toEqual({ encoding: 'base64', value: 'CAE=' });
  });

  it("knows the cluster's own keys", () => {
    expect(['cluster/config', 'logs/partition-0', 'schema'].map(isClusterKey)).toEqual([true, true, true]);
    expect(['my/key', 'clusterx'].map(isClusterKey)).toEqual([false, false]);
  });
});
