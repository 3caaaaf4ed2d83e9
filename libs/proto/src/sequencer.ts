// The sequencer messages and services other packages use: sequencers (libs/log/src/cluster).
export {
  SequencerServiceClient,
  type SequencerServiceServer,
  SequencerServiceService,
} from './gen/stead/log/v1/sequencer.ts';
