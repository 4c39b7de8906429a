{{/* Names, labels, image and the node-pool logic shared by every template. */}}

{{- define "falco-py.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "falco-py.fullname" -}}
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

{{/* Minimal, immutable selector labels (name + instance); controllers add component/pool. */}}
{{- define "falco-py.selectorLabels" -}}
app.kubernetes.io/name: {{ include "falco-py.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "falco-py.labels" -}}
{{ include "falco-py.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: falco-py
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "falco-py.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "falco-py.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "falco-py.priorityClassName" -}}
{{- if .Values.priorityClass.create -}}
{{- default (include "falco-py.fullname" .) .Values.priorityClass.name -}}
{{- else -}}
{{- .Values.priorityClass.name -}}
{{- end -}}
{{- end -}}

{{- define "falco-py.image" -}}
{{- $repo := .Values.image.repository -}}
{{- if .Values.image.registry -}}{{- $repo = printf "%s/%s" .Values.image.registry $repo -}}{{- end -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" $repo .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/*
Pools as a list of {name, exprs, resources, maxUnavailable, auditLog}. A pool without `selector` matches
nodePools.labelKey == value|name. With k8sAudit.logFile enabled, the control-plane nodes form one more pool.
Returned as YAML (include + fromYaml).
*/}}
{{- define "falco-py.pools" -}}
{{- $pools := list -}}
{{- $cpExprs := list -}}
{{- if .Values.k8sAudit.logFile.enabled -}}
{{- range $k, $v := .Values.k8sAudit.logFile.nodeSelector -}}
{{- if $v -}}
{{- $cpExprs = append $cpExprs (dict "key" $k "operator" "In" "values" (list $v)) -}}
{{- else -}}
{{- $cpExprs = append $cpExprs (dict "key" $k "operator" "Exists") -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- range $p := .Values.nodePools.pools -}}
{{- $exprs := list -}}
{{- if $p.selector -}}
{{- $exprs = $p.selector.matchExpressions -}}
{{- else -}}
{{- if not $.Values.nodePools.labelKey -}}
{{- fail (printf "nodePools.pools[%s]: no selector and nodePools.labelKey is empty" $p.name) -}}
{{- end -}}
{{- $exprs = list (dict "key" $.Values.nodePools.labelKey "operator" "In" "values" (list (default $p.name $p.value))) -}}
{{- end -}}
{{- if eq (len $cpExprs) 1 -}}
{{- $exprs = append $exprs (include "falco-py.negate" (first $cpExprs) | fromYaml) -}}
{{- end -}}
{{- $pools = append $pools (dict "name" $p.name "exprs" $exprs "resources" $p.resources "maxUnavailable" (default $.Values.daemonset.maxUnavailable $p.maxUnavailable) "auditLog" false) -}}
{{- end -}}
{{- if .Values.k8sAudit.logFile.enabled -}}
{{- $pools = append $pools (dict "name" "control-plane" "exprs" $cpExprs "resources" .Values.k8sAudit.logFile.resources "maxUnavailable" 1 "auditLog" true) -}}
{{- end -}}
{{- dict "pools" $pools | toYaml -}}
{{- end -}}

{{/*
Fail when two pools could select the same node. Two selectors are disjoint only when some key is constrained
incompatibly in both (In/In without a common value, In vs NotIn covering it, In|Exists vs DoesNotExist).
*/}}
{{- define "falco-py.checkPoolOverlap" -}}
{{- $pools := (include "falco-py.pools" . | fromYaml).pools -}}
{{- $seen := dict -}}
{{- range $i, $a := $pools -}}
{{- if hasKey $seen $a.name -}}{{- fail (printf "nodePools: pool name %q used twice" $a.name) -}}{{- end -}}
{{- $_ := set $seen $a.name true -}}
{{- range $j, $b := $pools -}}
{{- if lt $i $j -}}
{{- $disjoint := false -}}
{{- range $ea := $a.exprs -}}
{{- range $eb := $b.exprs -}}
{{- if eq $ea.key $eb.key -}}
{{- $oa := $ea.operator -}}{{- $ob := $eb.operator -}}
{{- $va := default list $ea.values -}}{{- $vb := default list $eb.values -}}
{{- if and (eq $oa "In") (eq $ob "In") -}}
{{- $common := false -}}
{{- range $v := $va -}}{{- if has $v $vb -}}{{- $common = true -}}{{- end -}}{{- end -}}
{{- if not $common -}}{{- $disjoint = true -}}{{- end -}}
{{- else if or (and (eq $oa "In") (eq $ob "NotIn")) (and (eq $oa "NotIn") (eq $ob "In")) -}}
{{- $in := $va -}}{{- $notin := $vb -}}
{{- if eq $oa "NotIn" -}}{{- $in = $vb -}}{{- $notin = $va -}}{{- end -}}
{{- $covered := true -}}
{{- range $v := $in -}}{{- if not (has $v $notin) -}}{{- $covered = false -}}{{- end -}}{{- end -}}
{{- if $covered -}}{{- $disjoint = true -}}{{- end -}}
{{- else if or (and (ne $oa "DoesNotExist") (ne $oa "NotIn") (eq $ob "DoesNotExist")) (and (eq $oa "DoesNotExist") (ne $ob "DoesNotExist") (ne $ob "NotIn")) -}}
{{- $disjoint = true -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if not $disjoint -}}
{{- fail (printf "nodePools: pools %q and %q have overlapping node selectors (a node could match both); make them disjoint" $a.name $b.name) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "falco-py.negate" -}}
{{- $ops := dict "In" "NotIn" "NotIn" "In" "Exists" "DoesNotExist" "DoesNotExist" "Exists" -}}
{{- $e := dict "key" .key "operator" (get $ops .operator) -}}
{{- if .values -}}{{- $_ := set $e "values" .values -}}{{- end -}}
{{- toYaml $e -}}
{{- end -}}

{{/* Expressions every engine pod carries: Linux only, virtual nodes excluded unless asked. */}}
{{- define "falco-py.baseExprs" -}}
{{- $exprs := list (dict "key" "kubernetes.io/os" "operator" "In" "values" (list "linux")) -}}
{{- if .Values.daemonset.excludeVirtualNodes -}}
{{- $exprs = append $exprs (dict "key" "type" "operator" "NotIn" "values" (list "virtual-kubelet")) -}}
{{- $exprs = append $exprs (dict "key" "eks.amazonaws.com/compute-type" "operator" "NotIn" "values" (list "fargate")) -}}
{{- end -}}
{{- dict "exprs" $exprs | toYaml -}}
{{- end -}}

{{/*
Node affinity terms (YAML list under nodeSelectorTerms) for one pool ("" = the default DaemonSet: every node in
no pool, i.e. the negation of each pool's conjunction, expanded into OR-ed terms).
*/}}
{{- define "falco-py.nodeSelectorTerms" -}}
{{- $root := .root -}}
{{- $base := (include "falco-py.baseExprs" $root | fromYaml).exprs -}}
{{- $pools := (include "falco-py.pools" $root | fromYaml).pools -}}
{{- $terms := list -}}
{{- if .pool -}}
{{- $terms = list (concat $base .pool.exprs) -}}
{{- else -}}
{{- $terms = list $base -}}
{{- range $p := $pools -}}
{{- $next := list -}}
{{- range $t := $terms -}}
{{- range $e := $p.exprs -}}
{{- $neg := include "falco-py.negate" $e | fromYaml -}}
{{- $contradicts := false -}}
{{- range $x := $t -}}
{{- if and (eq $x.key $neg.key) (or (and (eq $neg.operator "DoesNotExist") (has $x.operator (list "In" "Exists"))) (and (eq $x.operator "DoesNotExist") (has $neg.operator (list "In" "Exists")))) -}}
{{- $contradicts = true -}}
{{- end -}}
{{- end -}}
{{- if not $contradicts -}}
{{- $next = append $next (append $t $neg) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $terms = $next -}}
{{- end -}}
{{- end -}}
{{- range $t := $terms }}
- matchExpressions:
{{ toYaml $t | indent 4 }}
{{- end -}}
{{- end -}}

{{/*
Host namespaces and capabilities the selected syscall backend needs (least privilege), as YAML:
hostNetwork, hostPID, caps (added after drop ALL), root (run as uid 0), btf (mount /sys/kernel/btf).
ebpf: its own network and PID namespaces; BPF + PERFMON load and attach the tracing programs, SYS_PTRACE reads
other processes' /proc entries (exe, cwd, environ) through the read-only host /proc mount. audit unicast: the host
PID namespace and AUDIT_CONTROL (become the audit pid, manage our rule); multicast (read-only): the host network
namespace, where the read-only group's records go, and AUDIT_READ to join it.
*/}}
{{- define "falco-py.hostAccess" -}}
{{- $b := .Values.syscall.backend -}}
{{- $caps := list -}}
{{- $hostNetwork := false -}}{{- $hostPID := false -}}
{{- if eq $b "ebpf" -}}
{{- $caps = list "BPF" "PERFMON" "SYS_RESOURCE" "SYS_PTRACE" -}}
{{- else if eq $b "proc" -}}
{{- $hostNetwork = true -}}{{- $caps = list "NET_ADMIN" -}}
{{- else if eq $b "audit" -}}
{{- if eq .Values.syscall.auditMode "multicast" -}}{{- $hostNetwork = true -}}{{- $caps = list "AUDIT_READ" -}}
{{- else -}}{{- $hostPID = true -}}{{- $caps = list "AUDIT_CONTROL" -}}{{- end -}}
{{- end -}}
{{- if and .Values.syscall.extraCapabilities (ne $b "none") -}}
{{- $caps = concat $caps .Values.syscall.extraCapabilities | uniq -}}
{{- end -}}
{{- dict "hostNetwork" $hostNetwork "hostPID" $hostPID "caps" $caps "root" (ne $b "none") "btf" (eq $b "ebpf") | toYaml -}}
{{- end -}}

{{- define "falco-py.configChecksum" -}}
{{- include (print .Template.BasePath "/configmap-config.yaml") . | sha256sum -}}
{{- end -}}
