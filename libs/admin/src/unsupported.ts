// Routes of Restate 1.7's admin API for features Stead does not have: Kafka ingestion (clusters and
// subscriptions), concurrency-limit rules and virtual queues. Reads answer the truth (there are none); writes are
// refused with 501 and a message naming what is missing, so that a client learns why rather than seeing a 404
// that looks like a typo.
import { type AdminRouter, errorReply } from './router.ts';

const NO_KAFKA = 'Stead has no Kafka ingestion: Kafka clusters and subscriptions cannot be created';

export function mountUnsupportedRoutes(router: AdminRouter): void {
  router.get('/subscriptions', () => ({ status: 200, json: { subscriptions: [] } }));
  router.get('/subscriptions/:subscription', (req) =>
    errorReply(404, `The requested subscription '${req.params.subscription}' does not exist (${NO_KAFKA})`),
  );
  router.post('/subscriptions', () => errorReply(501, NO_KAFKA));
  router.delete('/subscriptions/:subscription', (req) =>
    errorReply(404, `The requested subscription '${req.params.subscription}' does not exist (${NO_KAFKA})`),
  );
  router.get('/kafka-clusters', () => ({ status: 200, json: { clusters: [] } }));
  const noCluster = (name: string) =>
    errorReply(404, `The requested Kafka cluster '${name}' does not exist (${NO_KAFKA})`);
  router.get('/kafka-clusters/:name', (req) => noCluster(req.params.name));
  router.patch('/kafka-clusters/:name', (req) => noCluster(req.params.name));
  router.delete('/kafka-clusters/:name', (req) => noCluster(req.params.name));
  router.post('/kafka-clusters', () => errorReply(501, NO_KAFKA));
  const noLimits = () =>
    errorReply(501, 'Stead has no concurrency-limit rules; limit concurrency with virtual objects (one key at a time)');
  router.add('PUT', '/limits/rules', noLimits);
  router.post('/limits/rules/bulk-delete', noLimits);
  const noVqueues = () =>
    errorReply(501, 'Stead has no virtual queues; pause and resume invocations one by one (/invocations/{id}/pause)');
  router.post('/vqueues/:vqueue/pause', noVqueues);
  router.post('/vqueues/:vqueue/resume', noVqueues);
}
