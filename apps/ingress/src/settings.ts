import { httpSettings } from '@stead/cluster';
import {
  grpcTlsSettings,
  locationSetting,
  metricsPortSetting,
  portSetting,
  type Settings,
  type SettingsSpec,
  setting,
  shutdownTimeoutSetting,
} from '@stead/runtime';

/** Settings of the ingress deployable. Each is a flag `--kebab-name` and a variable `STEAD_UPPER_SNAKE`. */
export const ingressSettings = {
  nodeId: setting('string', 'auto', 'Id of this ingress (for logs and metrics). `auto` = the host name.'),
  location: locationSetting,
  bindAddress: setting('string', '0.0.0.0', 'Address the ingress and metrics listeners bind to.'),
  ingressPort: portSetting('8080', 'HTTP ingress port.'),
  grpcIngressPort: portSetting(
    '8090',
    'gRPC ingress port (stead.ingress.v1.Ingress, with the grpc.health.v1 health and server reflection services; same tokens and TLS certificate as the HTTP ingress).',
  ),
  metricsPort: metricsPortSetting,
  metadataAddress: setting('string', '', 'host:port of the metadata-store members, comma separated (required).'),
  ...httpSettings,
  ...grpcTlsSettings,
  shutdownTimeout: shutdownTimeoutSetting('20s'),
} satisfies SettingsSpec;

export type IngressSettings = Settings<typeof ingressSettings>;
