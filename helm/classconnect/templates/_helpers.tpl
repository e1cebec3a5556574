{{/* Standard labels (https://kubernetes.io/docs/concepts/overview/working-with-objects/common-labels/). */}}
{{- define "classconnect.labels" -}}
app.kubernetes.io/name: {{ .component }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/part-of: classconnect
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end -}}

{{- define "classconnect.selectorLabels" -}}
app.kubernetes.io/name: {{ .component }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{- define "classconnect.fullname" -}}
{{- printf "%s-%s" .root.Release.Name .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "classconnect.image" -}}
{{- printf "%s/%s:%s" .root.Values.global.imageRegistry .values.image .root.Values.global.imageTag -}}
{{- end -}}

{{/* The services' addresses, for every pod. */}}
{{- define "classconnect.serviceUrls" -}}
- name: USERS_SERVICE_URL
  value: {{ printf "http://%s-users:%v" .Release.Name .Values.users.port | quote }}
- name: COURSES_SERVICE_URL
  value: {{ printf "http://%s-courses:%v" .Release.Name .Values.courses.port | quote }}
- name: NOTIFICATIONS_SERVICE_URL
  value: {{ printf "http://%s-notifications:%v" .Release.Name .Values.notifications.port | quote }}
- name: ADMIN_SERVICE_URL
  value: {{ printf "http://%s-admin:%v" .Release.Name .Values.admin.port | quote }}
{{- end -}}
