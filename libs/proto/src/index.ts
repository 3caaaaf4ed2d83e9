export * as common from './gen/stead/common/v1/common.ts';
