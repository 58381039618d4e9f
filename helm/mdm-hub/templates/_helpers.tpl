{{/* Names */}}
{{- define "mdm-hub.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "mdm-hub.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "mdm-hub.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Common labels; call with (dict "ctx" $ "component" "api") or just $. */}}
{{- define "mdm-hub.labels" -}}
{{- $ctx := .ctx | default . -}}
helm.sh/chart: {{ include "mdm-hub.chart" $ctx }}
{{ include "mdm-hub.selectorLabels" . }}
app.kubernetes.io/version: {{ $ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ $ctx.Release.Service }}
app.kubernetes.io/part-of: mdm-hub
{{- with $ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "mdm-hub.selectorLabels" -}}
{{- $ctx := .ctx | default . -}}
app.kubernetes.io/name: {{ include "mdm-hub.name" $ctx }}
app.kubernetes.io/instance: {{ $ctx.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end }}

{{- define "mdm-hub.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "mdm-hub.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "mdm-hub.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Names of the Secrets. */}}
{{- define "mdm-hub.databaseSecretName" -}}
{{- default (printf "%s-database" (include "mdm-hub.fullname" .)) .Values.database.existingSecret.name }}
{{- end }}

{{- define "mdm-hub.databaseSecretKey" -}}
{{- if .Values.database.existingSecret.name }}{{ .Values.database.existingSecret.key }}{{ else }}DATABASE_URL{{ end }}
{{- end }}

{{- define "mdm-hub.appSecretName" -}}
{{- default (printf "%s-secrets" (include "mdm-hub.fullname" .)) .Values.secrets.existingSecret }}
{{- end }}

{{- define "mdm-hub.validate" -}}
{{- if and (not .Values.database.url) (not .Values.database.existingSecret.name) }}
{{- fail "mdm-hub needs a PostgreSQL database: set database.existingSecret.name (a Secret holding the URL) or database.url. See docs/operations.md." }}
{{- end }}
{{- if and .Values.database.url .Values.database.existingSecret.name }}
{{- fail "Set only one of database.url and database.existingSecret.name." }}
{{- end }}
{{- if and .Values.secrets.existingSecret (or .Values.secrets.oidcClientSecret .Values.secrets.fieldEncryptionKey .Values.secrets.fieldEncryptionKeyPrevious) }}
{{- fail "Set secrets.existingSecret or the secret values (secrets.oidcClientSecret, secrets.fieldEncryptionKey, secrets.fieldEncryptionKeyPrevious), not both." }}
{{- end }}
{{- with .Values.api }}
{{- if le (int .terminationGracePeriodSeconds) (add .preStopSleepSeconds .shutdownGraceSeconds | int) }}
{{- fail (printf "api.terminationGracePeriodSeconds (%v) must exceed api.preStopSleepSeconds + api.shutdownGraceSeconds (%v), or in-flight requests are killed." .terminationGracePeriodSeconds (add .preStopSleepSeconds .shutdownGraceSeconds)) }}
{{- end }}
{{- end }}
{{- with .Values.api.autoscaling }}
{{- if and .enabled (gt (int .minReplicas) (int .maxReplicas)) }}
{{- fail (printf "api.autoscaling.minReplicas (%v) is greater than maxReplicas (%v)." .minReplicas .maxReplicas) }}
{{- end }}
{{- end }}
{{- with .Values.api.podDisruptionBudget }}
{{- if and .enabled (not (kindIs "invalid" .minAvailable)) (not (kindIs "invalid" .maxUnavailable)) }}
{{- fail "api.podDisruptionBudget: give only one of minAvailable and maxUnavailable (set the other to null)." }}
{{- end }}
{{- end }}
{{- end }}

{{/* Does the pod get the application secret's variables? */}}
{{- define "mdm-hub.hasAppSecret" -}}
{{- if or .Values.secrets.existingSecret .Values.secrets.oidcClientSecret .Values.secrets.fieldEncryptionKey }}true{{ end }}
{{- end }}

{{/* The DATABASE_URL variable, from the database Secret. */}}
{{- define "mdm-hub.databaseEnv" -}}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "mdm-hub.databaseSecretName" . }}
      key: {{ include "mdm-hub.databaseSecretKey" . }}
{{- end }}

{{/* Secret environment variables shared by api and worker. */}}
{{- define "mdm-hub.secretEnv" -}}
{{ include "mdm-hub.databaseEnv" . }}
{{- if .Values.secrets.existingSecret }}
- name: MDM_OIDC_CLIENT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secrets.existingSecret }}
      key: {{ .Values.secrets.keys.oidcClientSecret }}
- name: MDM_FIELD_ENCRYPTION_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secrets.existingSecret }}
      key: {{ .Values.secrets.keys.fieldEncryptionKey }}
{{- /* Only while the KEK is replaced (docs/operations.md): absent from the Secret otherwise. */}}
- name: MDM_FIELD_ENCRYPTION_KEY_PREVIOUS
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secrets.existingSecret }}
      key: {{ .Values.secrets.keys.fieldEncryptionKeyPrevious }}
      optional: true
{{- else }}
{{- if .Values.secrets.oidcClientSecret }}
- name: MDM_OIDC_CLIENT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "mdm-hub.appSecretName" . }}
      key: {{ .Values.secrets.keys.oidcClientSecret }}
{{- end }}
{{- if .Values.secrets.fieldEncryptionKey }}
- name: MDM_FIELD_ENCRYPTION_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "mdm-hub.appSecretName" . }}
      key: {{ .Values.secrets.keys.fieldEncryptionKey }}
{{- end }}
{{- if .Values.secrets.fieldEncryptionKeyPrevious }}
- name: MDM_FIELD_ENCRYPTION_KEY_PREVIOUS
  valueFrom:
    secretKeyRef:
      name: {{ include "mdm-hub.appSecretName" . }}
      key: {{ .Values.secrets.keys.fieldEncryptionKeyPrevious }}
{{- end }}
{{- end }}
{{- end }}

{{/* Pod-level settings shared by every pod of the release. */}}
{{- define "mdm-hub.podCommon" -}}
automountServiceAccountToken: false
enableServiceLinks: false
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{- define "mdm-hub.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpVolume.sizeLimit }}
{{- end }}

{{- define "mdm-hub.tmpVolumeMount" -}}
- name: tmp
  mountPath: /tmp
{{- end }}

{{/* checkov annotations that hold on every pod-bearing object: each skip with its reason. */}}
{{- define "mdm-hub.checkovSkips" -}}
checkov.io/skip1: CKV_K8S_35=The app reads its settings (pydantic-settings) from environment variables; secrets come from Secret objects via secretKeyRef, never from values in the pod spec.
{{- with include "mdm-hub.checkovImageSkips" . }}
{{ . }}
{{- end }}
{{- end }}

{{- define "mdm-hub.checkovImageSkips" -}}
{{- if not .Values.image.digest -}}
checkov.io/skip2: CKV_K8S_43=No image.digest given (a development install); production sets image.digest, as ci/production-values.yaml does, and then this check runs.
checkov.io/skip5: CKV_K8S_15=Without image.digest the policy is image.pullPolicy (IfNotPresent by default, so nodes need no registry round trip); production pins the image by digest, and then this check runs.
{{- end }}
{{- end }}
