{{/*
Expand the name of the chart.
*/}}
{{- define "wordpress.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Create a default fully qualified app name.
We truncate at 63 chars because some Kubernetes name fields are limited to this (by the DNS naming spec).
If release name contains chart name it will be used as a full name.
*/}}
{{- define "wordpress.fullname" -}}
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

{{/*
Create chart name and version as used by the chart label.
*/}}
{{- define "wordpress.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels
*/}}
{{- define "wordpress.labels" -}}
helm.sh/chart: {{ include "wordpress.chart" . }}
{{ include "wordpress.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Selector labels
*/}}
{{- define "wordpress.selectorLabels" -}}
app.kubernetes.io/name: {{ include "wordpress.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Create the name of the service account to use
*/}}
{{- define "wordpress.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "wordpress.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The image, tag defaulting to "<appVersion>-apache".
*/}}
{{- define "wordpress.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default (printf "%s-apache" .Chart.AppVersion)) }}
{{- end }}

{{/*
Name of the PersistentVolumeClaim holding wp-content.
*/}}
{{- define "wordpress.claimName" -}}
{{- .Values.persistence.existingClaim | default (include "wordpress.fullname" .) }}
{{- end }}

{{/*
Full name of the mariadb subchart's objects, computed the way charts/mariadb
computes it (its mariadb.fullname helper, with the subchart's values).
*/}}
{{- define "wordpress.mariadb.fullname" -}}
{{- if .Values.mariadb.fullnameOverride }}
{{- .Values.mariadb.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default "mariadb" .Values.mariadb.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Database connection settings: the embedded MariaDB or an external database.
*/}}
{{- define "wordpress.databaseHost" -}}
{{- if .Values.mariadb.enabled }}
{{- printf "%s:%v" (include "wordpress.mariadb.fullname" .) .Values.mariadb.service.port }}
{{- else }}
{{- printf "%s:%v" .Values.externalDatabase.host .Values.externalDatabase.port }}
{{- end }}
{{- end }}

{{- define "wordpress.databaseName" -}}
{{- ternary .Values.mariadb.auth.database .Values.externalDatabase.database .Values.mariadb.enabled }}
{{- end }}

{{- define "wordpress.databaseUser" -}}
{{- ternary .Values.mariadb.auth.username .Values.externalDatabase.user .Values.mariadb.enabled }}
{{- end }}

{{- define "wordpress.databasePassword" -}}
{{- ternary .Values.mariadb.auth.password .Values.externalDatabase.password .Values.mariadb.enabled }}
{{- end }}
