// STEAD_E2E_TOPOLOGY=cluster runs the same suites against a 3-worker cluster of real processes (see
// @stead/testing startStead): starting one takes 20-40 s on 2 busy cores, and a request crosses ingress, worker,
// sequencer and log servers, so hooks and tests get more time there.
const cluster = process.env.STEAD_E2E_TOPOLOGY === 'cluster';
module.exports = { ...require('../jest.preset.cjs'), rootDir: __dirname, ...(cluster ? { testTimeout: 120_000 } : {}) };
