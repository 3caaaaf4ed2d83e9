// The standard gRPC health service (grpc.health.v1), served beside the gRPC ingress.
export {
  HealthCheckResponse_ServingStatus,
  HealthClient,
  type HealthServer,
  HealthService,
} from './gen/grpc/health/v1/health.ts';
