{{/* The release's full name: the release name, prefixed with the chart name unless it contains it. */}}
{{- define "virtual-kubelet.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Chart.Name .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "virtual-kubelet.nodeName" -}}
{{- .Values.nodeName | default (include "virtual-kubelet.fullname" .) -}}
{{- end -}}

{{- define "virtual-kubelet.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (include "virtual-kubelet.fullname" .) -}}
{{- else -}}
{{- .Values.serviceAccount.name | default "default" -}}
{{- end -}}
{{- end -}}

{{- define "virtual-kubelet.leaderElectionNamespace" -}}
{{- .Values.leaderElection.namespace | default .Release.Namespace -}}
{{- end -}}

{{- define "virtual-kubelet.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "virtual-kubelet.labels" -}}
{{ include "virtual-kubelet.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/*
One object of an RBAC manifest in files/ (links to deploy/rbac.yaml and deploy/rbac-self-approval.yaml,
the one source of the virtual kubelet's permissions), as YAML. Call with (list $ "files/rbac.yaml" "ClusterRole" "virtual-kubelet").
The chart keeps that object's rules or roleRef and gives it its own names and namespace.
*/}}
{{- define "virtual-kubelet.rbacObject" -}}
{{- $root := index . 0 -}}
{{- $file := index . 1 -}}
{{- $kind := index . 2 -}}
{{- $name := index . 3 -}}
{{- $text := $root.Files.Get $file -}}
{{- if not $text -}}
{{- fail (printf "%s is missing from the chart (it links to deploy/%s)" $file (base $file)) -}}
{{- end -}}
{{- $found := dict -}}
{{- range $document := splitList "\n---\n" $text -}}
{{- $object := fromYaml $document -}}
{{- if and (eq (toString (get $object "kind")) $kind) (eq (toString (dig "metadata" "name" "" $object)) $name) -}}
{{- $_ := set $found "object" $object -}}
{{- end -}}
{{- end -}}
{{- if not (hasKey $found "object") -}}
{{- fail (printf "%s has no %s named %s" $file $kind $name) -}}
{{- end -}}
{{- toYaml $found.object -}}
{{- end -}}

{{- define "virtual-kubelet.rules" -}}
{{- toYaml (get (fromYaml (include "virtual-kubelet.rbacObject" .)) "rules") -}}
{{- end -}}

{{- define "virtual-kubelet.roleRefName" -}}
{{- dig "roleRef" "name" "" (fromYaml (include "virtual-kubelet.rbacObject" .)) -}}
{{- end -}}

{{/* Whether the chart renders the provider configuration (ConfigMap or Secret). */}}
{{- define "virtual-kubelet.hasProviderConfig" -}}
{{- if or .Values.provider.existingSecret (not (empty .Values.provider.config)) -}}true{{- end -}}
{{- end -}}
