// The sequencer messages and services other packages use: sequencers (libs/log/src/cluster).
export {
  ReadStreamEnd,
  type ReadStreamRequest,
  type ReadStreamResponse,
  SequencerServiceClient,
  type SequencerServiceServer,
  SequencerServiceService,
} from './gen/stead/log/v1/sequencer.ts';
