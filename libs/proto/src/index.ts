// @stead/proto: the wire and disk formats defined in proto/ (generated into src/gen by `npm run proto:gen`).
// One namespace per proto package, each listing only the messages and services other packages use.
import * as cluster from './cluster.ts';
import * as health from './health.ts';
import * as ingress from './ingress.ts';
import * as logServer from './log-server.ts';
import * as metadata from './metadata.ts';
import * as partition from './partition.ts';
import * as sequencer from './sequencer.ts';
import * as worker from './worker.ts';

export { cluster, health, ingress, logServer, metadata, partition, sequencer, worker };
