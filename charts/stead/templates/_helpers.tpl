{{/*
Names, labels and the pieces every role's pod shares. The exact shape of the pods (names, environment, probes,
preStop) is a contract with the processes: see the "Kubernetes" section of the README.
*/}}

{{- define "stead.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* F: the release's prefix of every object name. Short enough for F-metadata-store-4 to stay a DNS label. */}}
{{- define "stead.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Labels of an object of component .component (dict "root" $ "component" "worker"). */}}
{{- define "stead.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
{{ include "stead.podLabels" . }}
{{- end -}}

{{/* The labels of a pod template: name, instance and component. */}}
{{- define "stead.podLabels" -}}
app.kubernetes.io/name: {{ include "stead.name" .root }}
{{ include "stead.selectorLabels" . }}
{{- end -}}

{{/* Selectors use the instance and the component. */}}
{{- define "stead.selectorLabels" -}}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "stead.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "stead.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name: the name of an existing ServiceAccount (serviceAccount.create is false)" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "stead.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* host:port of the StatefulSet pod `.pod` of role `.role`. */}}
{{- define "stead.podAddress" -}}
{{- $f := include "stead.fullname" .root -}}
{{- printf "%s.%s-%s.%s.svc.cluster.local:5122" .pod $f .role .root.Release.Namespace -}}
{{- end -}}

{{/* STEAD_METADATA_ADDRESS: every metadata-store member. */}}
{{- define "stead.metadataAddress" -}}
{{- $root := . -}}
{{- $f := include "stead.fullname" . -}}
{{- $members := list -}}
{{- range $i := until (int .Values.metadataStore.replicas) -}}
{{- $pod := printf "%s-metadata-store-%d" $f $i -}}
{{- $members = append $members (include "stead.podAddress" (dict "root" $root "role" "metadata-store" "pod" $pod)) -}}
{{- end -}}
{{- join "," $members -}}
{{- end -}}

{{/* STEAD_PEERS of the metadata store: id=host:port of every member. */}}
{{- define "stead.metadataPeers" -}}
{{- $root := . -}}
{{- $f := include "stead.fullname" . -}}
{{- $peers := list -}}
{{- range $i := until (int .Values.metadataStore.replicas) -}}
{{- $pod := printf "%s-metadata-store-%d" $f $i -}}
{{- $peers = append $peers (printf "%s=%s" $pod (include "stead.podAddress" (dict "root" $root "role" "metadata-store" "pod" $pod))) -}}
{{- end -}}
{{- join "," $peers -}}
{{- end -}}

{{/* A replication value as the processes read it: 2, node:2, {zone: 2}. */}}
{{- define "stead.replication" -}}
{{- if kindIs "string" . -}}
{{- . -}}
{{- else -}}
{{- printf "%d" (int .) -}}
{{- end -}}
{{- end -}}

{{/* The number of copies a replication value asks for: the largest count it names. */}}
{{- define "stead.replicationCount" -}}
{{- $max := 0 -}}
{{- range $n := regexFindAll "[0-9]+" (include "stead.replication" .) -1 -}}
{{- if gt (atoi $n) $max -}}{{- $max = atoi $n -}}{{- end -}}
{{- end -}}
{{- $max -}}
{{- end -}}

{{/* Checks between values that the schema cannot express. */}}
{{- define "stead.validate" -}}
{{- $log := int (include "stead.replicationCount" .Values.logReplication) -}}
{{- if lt (int .Values.logServer.replicas) $log -}}
{{- fail (printf "logServer.replicas (%d) must be at least the copies of logReplication (%s): each copy of a record goes to a distinct log server" (int .Values.logServer.replicas) (include "stead.replication" .Values.logReplication)) -}}
{{- end -}}
{{- $part := int (include "stead.replicationCount" .Values.partitionReplication) -}}
{{- if lt (int .Values.worker.replicas) $part -}}
{{- fail (printf "worker.replicas (%d) must be at least the copies of partitionReplication (%s): each copy of a partition goes to a distinct worker" (int .Values.worker.replicas) (include "stead.replication" .Values.partitionReplication)) -}}
{{- end -}}
{{- if and .Values.snapshots.existingSecret (not .Values.snapshots.bucket) -}}
{{- fail "snapshots.existingSecret is set but snapshots.bucket is empty: set the bucket (or drop the secret)" -}}
{{- end -}}
{{- end -}}

{{/* The Secret with the gRPC mTLS CA, certificate and key of role .role (grpcTls.secrets, else F-<role>-grpc-tls). */}}
{{- define "stead.grpcTlsSecret" -}}
{{- $key := index (dict "metadata-store" "metadataStore" "log-server" "logServer" "worker" "worker" "sequencer" "sequencer" "ingress" "ingress" "admin" "admin") .role -}}
{{- default (printf "%s-%s-grpc-tls" (include "stead.fullname" .root) .role) (index .root.Values.grpcTls.secrets $key) -}}
{{- end -}}

{{/* Admin URL of the preStop hook. */}}
{{- define "stead.adminUrl" -}}
{{- printf "%s://%s-admin.%s.svc.cluster.local:9070" (include "stead.httpScheme" .) (include "stead.fullname" .) .Release.Namespace -}}
{{- end -}}

{{/* http, or https when the ingress and the admin API serve HTTPS (httpTls.secretName). */}}
{{- define "stead.httpScheme" -}}
{{- if .Values.httpTls.secretName }}https{{ else }}http{{ end -}}
{{- end -}}

{{/* The Secret holding the token file: auth.existingSecret, or the one the chart generates (auth-secret.yaml). */}}
{{- define "stead.authSecret" -}}
{{- .Values.auth.existingSecret | default (printf "%s-auth" (include "stead.fullname" .)) -}}
{{- end -}}

{{/*
Environment of the HTTP listeners' security (role .role): the token file and the certificate of the ingress and
the admin; for the pods whose preStop hook calls the admin API (worker, log server), its token and CA.
*/}}
{{- define "stead.httpEnv" -}}
{{- $values := .root.Values -}}
{{- if has .role (list "ingress" "admin") }}
{{- if $values.auth.enabled }}
- name: STEAD_AUTH_TOKENS_FILE
  value: /etc/stead/auth/tokens.json
{{- end }}
{{- if $values.httpTls.secretName }}
- name: STEAD_HTTP_TLS_CERT_FILE
  value: /etc/stead/http-tls/tls.crt
- name: STEAD_HTTP_TLS_KEY_FILE
  value: /etc/stead/http-tls/tls.key
{{- end }}
{{- else if has .role (list "worker" "log-server") }}
{{- if $values.auth.enabled }}
# The token of `stead ctl nodes prestop` (admin:write); absent key: the hook is refused and the admin notices the
# scale-down from the StatefulSet alone.
- name: RESTATE_AUTH_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "stead.authSecret" .root }}
      key: {{ $values.auth.prestopTokenKey }}
      optional: true
{{- end }}
{{- if and $values.httpTls.secretName $values.httpTls.caKey }}
- name: NODE_EXTRA_CA_CERTS
  value: {{ printf "/etc/stead/http-tls/%s" $values.httpTls.caKey | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Volume mounts of the HTTP listeners' token file and certificate (see stead.httpEnv); empty when none. */}}
{{- define "stead.httpVolumeMounts" -}}
{{- $values := .root.Values -}}
{{- $listener := has .role (list "ingress" "admin") -}}
{{- if and $listener $values.auth.enabled }}
- name: auth
  mountPath: /etc/stead/auth
  readOnly: true
{{- end }}
{{- if and $values.httpTls.secretName (or $listener (and (has .role (list "worker" "log-server")) $values.httpTls.caKey)) }}
- name: http-tls
  mountPath: /etc/stead/http-tls
  readOnly: true
{{- end }}
{{- end -}}

{{/* The volumes of stead.httpVolumeMounts. Secret volumes (no subPath) follow the Secret: files reload. */}}
{{- define "stead.httpVolumes" -}}
{{- $values := .root.Values -}}
{{- $listener := has .role (list "ingress" "admin") -}}
{{- if and $listener $values.auth.enabled }}
- name: auth
  secret:
    secretName: {{ include "stead.authSecret" .root }}
    items:
      - key: {{ $values.auth.tokensKey }}
        path: tokens.json
{{- end }}
{{- if and $values.httpTls.secretName $listener }}
- name: http-tls
  secret:
    secretName: {{ $values.httpTls.secretName }}
{{- else if and $values.httpTls.secretName $values.httpTls.caKey (has .role (list "worker" "log-server")) }}
- name: http-tls
  secret:
    secretName: {{ $values.httpTls.secretName }}
    # Only the CA, and none is fine (a publicly trusted certificate).
    optional: true
    items:
      - key: {{ $values.httpTls.caKey }}
        path: {{ $values.httpTls.caKey }}
{{- end }}
{{- end -}}

{{/*
The environment of role .role (values .v). Order matters: a later value may use $(VAR) of an earlier one.
*/}}
{{- define "stead.env" -}}
{{- $root := .root -}}
{{- $role := .role -}}
{{- $v := .v -}}
{{- $f := include "stead.fullname" $root -}}
{{- $ns := $root.Release.Namespace -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: POD_IP
  valueFrom:
    fieldRef:
      fieldPath: status.podIP
- name: NODE_NAME
  valueFrom:
    fieldRef:
      fieldPath: spec.nodeName
- name: STEAD_NODE_ID
  value: "$(POD_NAME)"
- name: STEAD_LOCATION
  value: {{ $root.Values.location | quote }}
{{- if eq $role "sequencer" }}
- name: STEAD_ADVERTISED_ADDRESS
  value: "$(POD_IP):5122"
{{- else if not (has $role (list "ingress" "admin")) }}
- name: STEAD_ADVERTISED_ADDRESS
  value: {{ printf "$(POD_NAME).%s-%s.$(POD_NAMESPACE).svc.cluster.local:5122" $f $role | quote }}
{{- end }}
{{- if ne $role "metadata-store" }}
- name: STEAD_METADATA_ADDRESS
  value: {{ include "stead.metadataAddress" $root | quote }}
{{- end }}
{{- if eq $role "metadata-store" }}
- name: STEAD_PEERS
  value: {{ include "stead.metadataPeers" $root | quote }}
- name: STEAD_DATA_DIR
  value: /var/lib/stead/metadata
{{- else if eq $role "log-server" }}
- name: STEAD_DATA_DIR
  value: /var/lib/stead/log-server
- name: STEAD_DRAIN_ON_SHUTDOWN
  value: "false"
{{- else if eq $role "worker" }}
- name: STEAD_DATA_DIR
  value: /var/lib/stead/worker
{{- with $root.Values.snapshots }}
{{- if .bucket }}
- name: STEAD_SNAPSHOT_BUCKET
  value: {{ .bucket | quote }}
- name: STEAD_SNAPSHOT_ENDPOINT
  value: {{ .endpoint | quote }}
- name: STEAD_SNAPSHOT_PREFIX
  value: {{ .prefix | quote }}
- name: STEAD_SNAPSHOT_REGION
  value: {{ .region | quote }}
{{- if .existingSecret }}
- name: STEAD_SNAPSHOT_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret }}
      key: {{ .accessKeyKey }}
- name: STEAD_SNAPSHOT_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret }}
      key: {{ .secretKeyKey }}
{{- end }}
{{- end }}
{{- end }}
{{- else if eq $role "admin" }}
- name: STEAD_PARTITIONS
  value: {{ $root.Values.partitions | int | quote }}
- name: STEAD_PARTITION_REPLICATION
  value: {{ include "stead.replication" $root.Values.partitionReplication | quote }}
- name: STEAD_LOG_REPLICATION
  value: {{ include "stead.replication" $root.Values.logReplication | quote }}
- name: STEAD_INGRESS_ENDPOINT
  value: {{ printf "%s://%s-ingress.%s.svc.cluster.local:8080" (include "stead.httpScheme" $root) $f $ns | quote }}
- name: STEAD_KUBERNETES_STATEFULSETS
  value: {{ printf "%s/%s-worker,%s/%s-log-server" $ns $f $ns $f | quote }}
{{- end }}
{{- if ne $root.Values.grpcTls.mode "off" }}
- name: STEAD_GRPC_TLS_MODE
  value: {{ $root.Values.grpcTls.mode | quote }}
- name: STEAD_GRPC_TLS_CA_FILE
  value: /etc/stead/grpc-tls/ca.crt
- name: STEAD_GRPC_TLS_CERT_FILE
  value: /etc/stead/grpc-tls/tls.crt
- name: STEAD_GRPC_TLS_KEY_FILE
  value: /etc/stead/grpc-tls/tls.key
{{- end }}
{{- if include "stead.requestIdentity" . }}
- name: STEAD_REQUEST_IDENTITY_PRIVATE_KEY_PEM_FILE
  value: {{ printf "/etc/stead/request-identity/%s" $root.Values.requestIdentity.key | quote }}
{{- end }}
{{- include "stead.httpEnv" . }}
- name: STEAD_SHUTDOWN_TIMEOUT
  value: {{ printf "%ds" (int $v.shutdownTimeoutSeconds) | quote }}
{{- with $v.env }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* "true" when role .role signs requests to deployments (admin: discovery, worker: invocations) with a key. */}}
{{- define "stead.requestIdentity" -}}
{{- if and .root.Values.requestIdentity.secretName (has .role (list "worker" "admin")) -}}
true
{{- end -}}
{{- end -}}

{{/* topologySpreadConstraints of a role: its own, else zone and host name from topologySpread. */}}
{{- define "stead.spread" -}}
{{- if .v.topologySpreadConstraints -}}
{{- toYaml .v.topologySpreadConstraints -}}
{{- else -}}
{{- $root := .root -}}
{{- $component := .role -}}
{{- with $root.Values.topologySpread -}}
{{- if .zone.enabled }}
- maxSkew: {{ .zone.maxSkew }}
  topologyKey: topology.kubernetes.io/zone
  whenUnsatisfiable: {{ .zone.whenUnsatisfiable }}
  labelSelector:
    matchLabels:
      {{- include "stead.selectorLabels" (dict "root" $root "component" $component) | nindent 6 }}
{{- end }}
{{- if .hostname.enabled }}
- maxSkew: {{ .hostname.maxSkew }}
  topologyKey: kubernetes.io/hostname
  whenUnsatisfiable: {{ .hostname.whenUnsatisfiable }}
  labelSelector:
    matchLabels:
      {{- include "stead.selectorLabels" (dict "root" $root "component" $component) | nindent 6 }}
{{- end }}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The pod template of role .role with values .v; .stateful: a StatefulSet pod (PVC "data" at /var/lib/stead).
*/}}
{{- define "stead.podTemplate" -}}
{{- $root := .root -}}
{{- $role := .role -}}
{{- $v := .v -}}
{{- $drains := has $role (list "worker" "log-server") -}}
{{- $grpcTls := ne $root.Values.grpcTls.mode "off" -}}
metadata:
  labels:
    {{- include "stead.podLabels" (dict "root" $root "component" $role) | nindent 4 }}
  {{- with $v.podAnnotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  serviceAccountName: {{ include "stead.serviceAccountName" $root }}
  # No service links: Kubernetes would add STEAD_ADMIN_SERVICE_HOST and the like for the F-* Services, and a
  # Stead process refuses STEAD_* variables that are not its settings.
  enableServiceLinks: false
  {{- with $root.Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $root.Values.podSecurityContext }}
  securityContext:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- if $drains }}
  # The preStop drain (scale-down) and then the process's own shutdown both fit in the grace period.
  terminationGracePeriodSeconds: {{ add $v.preStopTimeoutSeconds $v.shutdownTimeoutSeconds 10 }}
  {{- else }}
  terminationGracePeriodSeconds: {{ add $v.shutdownTimeoutSeconds 10 }}
  {{- end }}
  containers:
    - name: stead
      image: {{ include "stead.image" $root }}
      imagePullPolicy: {{ $root.Values.image.pullPolicy }}
      command: ["stead", {{ $role | quote }}]
      {{- with $v.extraArgs }}
      args:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      env:
        {{- include "stead.env" . | nindent 8 }}
      ports:
        {{- if not (has $role (list "ingress" "admin")) }}
        - name: node
          containerPort: 5122
        {{- end }}
        - name: metrics
          containerPort: 5123
        {{- if eq $role "ingress" }}
        - name: http
          containerPort: 8080
        - name: grpc
          containerPort: 8090
        {{- else if eq $role "admin" }}
        - name: http
          containerPort: 9070
        {{- end }}
      startupProbe:
        httpGet:
          path: /health
          port: metrics
        periodSeconds: {{ $root.Values.probes.startup.periodSeconds }}
        failureThreshold: {{ $root.Values.probes.startup.failureThreshold }}
      livenessProbe:
        httpGet:
          path: /health
          port: metrics
        periodSeconds: {{ $root.Values.probes.liveness.periodSeconds }}
        failureThreshold: {{ $root.Values.probes.liveness.failureThreshold }}
      readinessProbe:
        httpGet:
          path: /ready
          port: metrics
        periodSeconds: {{ $root.Values.probes.readiness.periodSeconds }}
        failureThreshold: {{ $root.Values.probes.readiness.failureThreshold }}
      {{- if $drains }}
      lifecycle:
        preStop:
          exec:
            # The admin drains this node only when its StatefulSet was scaled below its ordinal; on a restart it
            # answers at once.
            command:
              - sh
              - -c
              - {{ printf "exec stead ctl nodes prestop \"$POD_NAME\" --address %s --timeout %ds" (include "stead.adminUrl" $root) (int $v.preStopTimeoutSeconds) | quote }}
      {{- end }}
      {{- with $v.resources }}
      resources:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $root.Values.securityContext }}
      securityContext:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- $identity := include "stead.requestIdentity" . }}
      {{- $httpMounts := include "stead.httpVolumeMounts" . | trim }}
      {{- if or .stateful $grpcTls $identity $httpMounts }}
      volumeMounts:
        {{- if .stateful }}
        - name: data
          mountPath: /var/lib/stead
        {{- end }}
        {{- if $grpcTls }}
        # The whole Secret as a directory (no subPath): a renewed certificate reaches the files, and the process
        # reloads them.
        - name: grpc-tls
          mountPath: /etc/stead/grpc-tls
          readOnly: true
        {{- end }}
        {{- if $identity }}
        - name: request-identity
          mountPath: /etc/stead/request-identity
          readOnly: true
        {{- end }}
        {{- with ($httpMounts | trim) }}
        {{- . | nindent 8 }}
        {{- end }}
      {{- end }}
  {{- $httpVolumes := include "stead.httpVolumes" . | trim }}
  {{- if or $grpcTls (include "stead.requestIdentity" .) $httpVolumes }}
  volumes:
    {{- if $grpcTls }}
    - name: grpc-tls
      secret:
        secretName: {{ include "stead.grpcTlsSecret" . }}
        # 0440, readable by the pod's group (fsGroup) only: the private key is in it.
        defaultMode: 288
    {{- end }}
    {{- if include "stead.requestIdentity" . }}
    - name: request-identity
      secret:
        secretName: {{ $root.Values.requestIdentity.secretName }}
        items:
          - key: {{ $root.Values.requestIdentity.key }}
            path: {{ $root.Values.requestIdentity.key }}
        # 0440, readable by the pod's group (fsGroup) only; in decimal, as YAML 1.1 and 1.2 differ on 0440.
        defaultMode: 288
    {{- end }}
    {{- with $httpVolumes }}
    {{- . | nindent 4 }}
    {{- end }}
  {{- end }}
  {{- with $v.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with (include "stead.spread" . | trim) }}
  topologySpreadConstraints:
    {{- . | nindent 4 }}
  {{- end }}
{{- end -}}
