{{/* FULLNAME: fullnameOverride, else the release name when it contains the
chart name, else RELEASE-chatgate. */}}
{{- define "chatgate.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "chatgate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 50 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels of one component (dict "ctx" $ "component" "gateway"). */}}
{{- define "chatgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "chatgate.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Object labels: the selector labels, part-of as the kustomize base adds
it, and Helm's own. */}}
{{- define "chatgate.labels" -}}
{{ include "chatgate.selectorLabels" . }}
app.kubernetes.io/part-of: chatgate
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .ctx.Chart.Name .ctx.Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "chatgate.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{- define "chatgate.secretName" -}}
{{- .Values.secrets.existingSecret | default (printf "%s-secrets" (include "chatgate.fullname" .)) -}}
{{- end -}}

{{/* The pod spec shared by the gateway and HTTP Deployments
(dict "ctx" $ "component" "gateway" "v" .Values.gateway "args" "gateway"
"port" (dict "name" "ws" "number" 7272)); "port" left out: no public port,
and the liveness probe uses the internal one (the push role). */}}
{{- define "chatgate.podTemplate" -}}
{{- $root := .ctx -}}
{{- $d := . -}}
metadata:
  labels:
    {{- include "chatgate.selectorLabels" . | nindent 4 }}
  annotations:
    prometheus.io/scrape: "true"
    prometheus.io/port: "9272"
    prometheus.io/path: /metrics
    checksum/config: {{ include (print $root.Template.BasePath "/configmap.yaml") $root | sha256sum }}
spec:
  terminationGracePeriodSeconds: {{ .v.terminationGracePeriodSeconds }}
  automountServiceAccountToken: false
  enableServiceLinks: false # no FOO_SERVICE_HOST variables next to chatgate's own
  {{- with $root.Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    runAsNonRoot: true
    runAsUser: 65532
    runAsGroup: 65532
    seccompProfile:
      type: RuntimeDefault
  {{- if .v.topologySpread }}
  topologySpreadConstraints:
    {{- range list "topology.kubernetes.io/zone" "kubernetes.io/hostname" }}
    - maxSkew: 1
      topologyKey: {{ . }}
      whenUnsatisfiable: ScheduleAnyway
      labelSelector:
        matchLabels:
          {{- include "chatgate.selectorLabels" $d | nindent 10 }}
    {{- end }}
  {{- end }}
  {{- with .v.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .v.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .v.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  containers:
    - name: {{ .component }}
      image: {{ include "chatgate.image" $root }}
      imagePullPolicy: {{ $root.Values.image.pullPolicy }}
      args: [{{ .args | quote }}]
      envFrom:
        - configMapRef:
            name: {{ include "chatgate.fullname" $root }}-config
        - secretRef:
            name: {{ include "chatgate.secretName" $root }}
      env:
        - name: GOMEMLIMIT # let the Go GC work to the container's memory limit
          valueFrom:
            resourceFieldRef:
              containerName: {{ .component }}
              resource: limits.memory
      ports:
        {{- with .port }}
        - name: {{ .name }}
          containerPort: {{ .number }}
          protocol: TCP
        {{- end }}
        - name: internal # INTERNAL_ADDR: /readyz, /metrics (and the push API); no Ingress routes here
          containerPort: 9272
          protocol: TCP
      readinessProbe:
        httpGet:
          path: /readyz
          port: internal
        periodSeconds: 5
        timeoutSeconds: 3
        failureThreshold: 2
      # Alive = the public port serves (never depends on Redis).
      livenessProbe:
        httpGet:
          path: /healthz
          port: {{ if .port }}{{ .port.name }}{{ else }}internal{{ end }}
        initialDelaySeconds: 5
        periodSeconds: 10
        timeoutSeconds: 3
        failureThreshold: 3
      lifecycle:
        preStop:
          sleep: # needs Kubernetes >= 1.30 (the image has no shell)
            seconds: 5
      resources:
        {{- toYaml .v.resources | nindent 8 }}
      securityContext:
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
        capabilities:
          drop: ["ALL"]
      volumeMounts:
        - name: tmp
          mountPath: /tmp
  volumes:
    - name: tmp
      emptyDir:
        sizeLimit: 16Mi
{{- end -}}
