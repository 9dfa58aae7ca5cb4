{{/* Names, labels and the checks every template shares. */}}

{{- define "wgw.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "wgw.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "wgw.selectorLabels" -}}
app.kubernetes.io/name: {{ include "wgw.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "wgw.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "wgw.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: admission-webhook
{{- end -}}

{{- define "wgw.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* certManager or generate, after auto is resolved against the cluster's API. */}}
{{- define "wgw.certMode" -}}
{{- $has := .Capabilities.APIVersions.Has "cert-manager.io/v1" -}}
{{- if eq .Values.certs.mode "auto" -}}
{{- ternary "certManager" "generate" $has -}}
{{- else -}}
{{- .Values.certs.mode -}}
{{- end -}}
{{- end -}}

{{/* Values that contradict each other or the cluster: refused with a message naming them. */}}
{{- define "wgw.checks" -}}
{{- if and .Values.webhook.injectAll (empty .Values.webhook.namespaceSelector) -}}
{{- fail "webhook.injectAll=true needs webhook.namespaceSelector (else every Pod in the cluster is injected): select the namespaces by label, e.g. webhook.namespaceSelector.matchLabels.warmgate\\.io/inject=enabled" -}}
{{- end -}}
{{- if and (eq .Values.certs.mode "certManager") (not (.Capabilities.APIVersions.Has "cert-manager.io/v1")) -}}
{{- fail "certs.mode=certManager but the cluster has no cert-manager.io/v1 API: install cert-manager or set certs.mode=generate" -}}
{{- end -}}
{{- if and .Values.podDisruptionBudget.enabled (ge (int .Values.podDisruptionBudget.minAvailable) (int .Values.replicaCount)) -}}
{{- fail (printf "podDisruptionBudget.minAvailable=%v must be below replicaCount=%v, else no node can be drained" .Values.podDisruptionBudget.minAvailable .Values.replicaCount) -}}
{{- end -}}
{{- if and (eq .Values.webhook.failurePolicy "Fail") (lt (int .Values.replicaCount) 2) -}}
{{- fail "webhook.failurePolicy=Fail with replicaCount=1 blocks every pod creation while that one pod restarts: use replicaCount >= 2 or failurePolicy=Ignore" -}}
{{- end -}}
{{- if and .Values.certs.issuerRef (ne (include "wgw.certMode" .) "certManager") -}}
{{- fail "certs.issuerRef is set but certificates are generated (no cert-manager.io/v1 API, or certs.mode=generate): drop certs.issuerRef or use cert-manager" -}}
{{- end -}}
{{- end -}}
