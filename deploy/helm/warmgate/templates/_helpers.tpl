{{/* Chart name, truncated to the 63 characters a label allows. */}}
{{- define "warmgate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name of the release's objects. */}}
{{- define "warmgate.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "warmgate.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "warmgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "warmgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "warmgate.labels" -}}
{{ include "warmgate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* startupProbe failureThreshold: ceil((wait + deadline + margin) / period). */}}
{{- define "warmgate.startupFailureThreshold" -}}
{{- $w := .Values.warmgate -}}
{{- $total := add $w.waitTimeoutSeconds $w.deadlineSeconds $w.startupMarginSeconds -}}
{{- div (add $total $w.startupPeriodSeconds -1) $w.startupPeriodSeconds -}}
{{- end -}}

{{/* progressDeadlineSeconds: the Deployment default (600), or the startup budget + 60 s. */}}
{{- define "warmgate.progressDeadlineSeconds" -}}
{{- $w := .Values.warmgate -}}
{{- $budget := mul (include "warmgate.startupFailureThreshold" . | int) $w.startupPeriodSeconds -}}
{{- max 600 (add $budget 60) -}}
{{- end -}}

{{/* Values that contradict the ones the chart derives probes from, refused by name. */}}
{{- define "warmgate.checks" -}}
{{- $c := .Values.warmgate.config | default dict -}}
{{- if hasKey $c "listen" -}}
{{- fail (printf "warmgate.config.listen=%v contradicts warmgate.port=%v, which the probes use: set warmgate.port instead" $c.listen .Values.warmgate.port) -}}
{{- end -}}
{{- $gate := $c.gate | default dict -}}
{{- if hasKey $gate "deadline" -}}
{{- fail (printf "warmgate.config.gate.deadline=%v contradicts warmgate.deadlineSeconds=%v, which sizes the startupProbe budget: set warmgate.deadlineSeconds instead" $gate.deadline .Values.warmgate.deadlineSeconds) -}}
{{- end -}}
{{- $target := $c.target | default dict -}}
{{- range $key, $use := dict "wait_timeout" "warmgate.waitTimeoutSeconds" "url" "app.port" "readiness_path" "app.readinessPath" -}}
{{- if hasKey $target $key -}}
{{- fail (printf "warmgate.config.target.%s contradicts %s, which the chart derives it from: set %s instead" $key $use $use) -}}
{{- end -}}
{{- end -}}
{{- if and (eq .Values.layout "nativeSidecar") (not (semverCompare ">=1.29.0-0" .Capabilities.KubeVersion.Version)) -}}
{{- fail (printf "layout=nativeSidecar needs Kubernetes >= 1.29 (native sidecars), this cluster is %s: the pod would stay in Init; use layout=container" .Capabilities.KubeVersion.Version) -}}
{{- end -}}
{{- end -}}

{{/* warmgate's configuration: what the chart sets, with .Values.warmgate.config merged over it. */}}
{{- define "warmgate.config" -}}
{{- $w := .Values.warmgate -}}
{{- $target := dict "url" (printf "http://127.0.0.1:%d" (int .Values.app.port)) "wait_timeout" (printf "%ds" (int $w.waitTimeoutSeconds)) -}}
{{- if .Values.app.readinessPath -}}
{{- $_ := set $target "readiness_path" .Values.app.readinessPath -}}
{{- end -}}
{{- $gate := dict "deadline" (printf "%ds" (int $w.deadlineSeconds)) -}}
{{- $ref := $w.reference | default dict -}}
{{- if $ref.prometheusUrl -}}
{{- $_ := set $gate "reference" (dict "prometheus_url" $ref.prometheusUrl "mode" (default "accelerate" $ref.mode)) -}}
{{- end -}}
{{- $base := dict "listen" (printf "0.0.0.0:%d" (int $w.port)) "target" $target "gate" $gate -}}
{{- toYaml (mustMergeOverwrite $base (deepCopy $w.config)) -}}
{{- end -}}

{{/* The warmgate container; with layout nativeSidecar it gets restartPolicy: Always, a /livez
     startupProbe (never /startupz: the kubelet starts the app only after it passes) and its
     own /readyz readinessProbe, which counts toward Pod Ready. */}}
{{- define "warmgate.container" -}}
{{- $w := .Values.warmgate -}}
- name: warmgate
  image: "{{ $w.image.repository }}:{{ default .Chart.AppVersion $w.image.tag }}"
  imagePullPolicy: {{ $w.image.pullPolicy }}
  {{- if eq .Values.layout "nativeSidecar" }}
  restartPolicy: Always
  {{- end }}
  args: ["run"]
  env:
    - name: WARMGATE_CONFIG_FILE
      value: /etc/warmgate/warmgate.yaml
    # Who this pod is, for the fleet reference (docs/DESIGN.md, "The fleet reference").
    - name: POD_NAMESPACE
      valueFrom:
        fieldRef:
          fieldPath: metadata.namespace
    - name: POD_NAME
      valueFrom:
        fieldRef:
          fieldPath: metadata.name
    - name: POD_WORKLOAD
      value: {{ include "warmgate.fullname" . | quote }}
  ports:
    - name: warmgate
      containerPort: {{ $w.port }}
      protocol: TCP
  {{- if eq .Values.layout "nativeSidecar" }}
  startupProbe:
    httpGet:
      path: /livez
      port: warmgate
    periodSeconds: 1
    timeoutSeconds: 1
    failureThreshold: 30
  readinessProbe:
    httpGet:
      path: /readyz
      port: warmgate
    periodSeconds: 5
    timeoutSeconds: 1
    failureThreshold: 3
  {{- end }}
  livenessProbe:
    httpGet:
      path: /livez
      port: warmgate
    periodSeconds: 10
    timeoutSeconds: 1
    failureThreshold: 3
  resources:
    {{- toYaml $w.resources | nindent 4 }}
  securityContext:
    runAsNonRoot: true
    runAsUser: 65532
    runAsGroup: 65532
    readOnlyRootFilesystem: true
    allowPrivilegeEscalation: false
    capabilities:
      drop: ["ALL"]
    seccompProfile:
      type: RuntimeDefault
  volumeMounts:
    - name: warmgate-config
      mountPath: /etc/warmgate
      readOnly: true
{{- end -}}
