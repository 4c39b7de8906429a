{{/*
The one engine pod template, shared by every DaemonSet (default + one per pool) and the audit-webhook Deployment.
Arguments: root (.), component ("node"|"webhook"), pool (name for labels), configKey (engine config in the
ConfigMap), resources, affinityTerms (YAML, node pods only), auditLog (bool).
*/}}
{{- define "falco-py.podTemplate" -}}
{{- $root := .root -}}
{{- $node := eq .component "node" -}}
{{- $host := include "falco-py.hostAccess" $root | fromYaml -}}
{{- if not $node -}}{{- $host = dict "hostNetwork" false "hostPID" false "caps" list "root" false "btf" false -}}{{- end -}}
{{- $stateRoots := ternary $root.Values.syscall.containerStateRoots list (and $node (ne $root.Values.syscall.backend "none")) -}}
{{- $sink := default dict (first $root.Values.outputs.http) -}}
{{- /* AppArmor for node pods that read host processes: the field from Kubernetes 1.30, the annotation before */ -}}
{{- $appArmor := ternary $root.Values.daemonset.appArmorProfile dict (and $node (ne $root.Values.syscall.backend "none")) -}}
{{- $appArmorField := and $appArmor (semverCompare ">=1.30-0" $root.Capabilities.KubeVersion.Version) -}}
metadata:
  labels:
    {{- include "falco-py.labels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
    falco-py.dev/pool: {{ .pool | quote }}
    {{- with $root.Values.daemonset.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    checksum/config: {{ include "falco-py.configChecksum" $root }}
    {{- if and $appArmor (not $appArmorField) }}
    {{- $aa := $appArmor.type | lower | replace "runtimedefault" "runtime/default" }}
    container.apparmor.security.beta.kubernetes.io/engine: {{ ternary (printf "localhost/%s" $appArmor.localhostProfile) $aa (eq $appArmor.type "Localhost") | quote }}
    {{- end }}
    {{- with $root.Values.daemonset.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "falco-py.serviceAccountName" $root }}
  automountServiceAccountToken: {{ $node }}  {{- /* webhook pods never call the API server */}}
  {{- with include "falco-py.priorityClassName" $root }}
  priorityClassName: {{ . }}
  {{- end }}
  {{- with $root.Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  hostNetwork: {{ $host.hostNetwork }}
  hostPID: {{ $host.hostPID }}
  {{- if $host.hostNetwork }}
  dnsPolicy: ClusterFirstWithHostNet
  {{- end }}
  enableServiceLinks: false
  terminationGracePeriodSeconds: 30
  securityContext:
    {{- if $host.root }}
    runAsUser: 0
    runAsGroup: 0
    {{- else }}
    runAsNonRoot: true
    runAsUser: 65532
    runAsGroup: 65532
    fsGroup: 65532
    {{- end }}
    seccompProfile:
      {{- if $node }}
      {{- toYaml $root.Values.daemonset.seccompProfile | nindent 6 }}
      {{- else }}
      type: RuntimeDefault
      {{- end }}
  {{- if $node }}
  tolerations:
    {{- toYaml $root.Values.daemonset.tolerations | nindent 4 }}
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
          {{- .affinityTerms | nindent 10 }}
  {{- else }}
  nodeSelector:
    kubernetes.io/os: linux
  affinity:
    podAntiAffinity:
      preferredDuringSchedulingIgnoredDuringExecution:
        - weight: 100
          podAffinityTerm:
            topologyKey: kubernetes.io/hostname
            labelSelector:
              matchLabels:
                {{- include "falco-py.selectorLabels" $root | nindent 16 }}
                app.kubernetes.io/component: webhook
  {{- end }}
  containers:
    - name: engine
      image: {{ include "falco-py.image" $root }}
      imagePullPolicy: {{ $root.Values.image.pullPolicy }}
      command: ["falcoctl-py"]
      args:
        - engine
        - run
        - --config
        - /etc/falco-py/config.yaml
        {{- range $root.Values.engine.extraArgs }}
        - {{ . | quote }}
        {{- end }}
      env:
        - name: FALCOPY_LOG_LEVEL
          value: {{ $root.Values.engine.logLevel | quote }}
        - name: FALCOPY_LOG_FORMAT
          value: {{ $root.Values.engine.logFormat | quote }}
        - name: FALCOPY_NODE_NAME
          valueFrom:
            fieldRef:
              fieldPath: spec.nodeName
        {{- if and $node (ne $root.Values.syscall.backend "none") }}
        - name: FALCOPY_HOST_ROOT
          value: /host
        {{- end }}
      ports:
        - name: http-metrics
          containerPort: {{ $root.Values.engine.healthPort }}
          protocol: TCP
        {{- if not $node }}
        - name: https-webhook
          containerPort: {{ $root.Values.k8sAudit.webhook.port }}
          protocol: TCP
        {{- end }}
      startupProbe:
        httpGet: {path: /healthz, port: http-metrics}
        periodSeconds: {{ $root.Values.probes.startup.periodSeconds }}
        failureThreshold: {{ $root.Values.probes.startup.failureThreshold }}
      livenessProbe:
        httpGet: {path: /healthz, port: http-metrics}
        periodSeconds: {{ $root.Values.probes.liveness.periodSeconds }}
        failureThreshold: {{ $root.Values.probes.liveness.failureThreshold }}
        timeoutSeconds: {{ $root.Values.probes.liveness.timeoutSeconds }}
      readinessProbe:
        httpGet: {path: /healthz, port: http-metrics}
        periodSeconds: {{ $root.Values.probes.readiness.periodSeconds }}
        failureThreshold: {{ $root.Values.probes.readiness.failureThreshold }}
        timeoutSeconds: {{ $root.Values.probes.readiness.timeoutSeconds }}
      resources:
        {{- toYaml .resources | nindent 8 }}
      securityContext:
        privileged: false
        allowPrivilegeEscalation: false
        {{- if $appArmorField }}
        appArmorProfile:
          {{- toYaml $appArmor | nindent 10 }}
        {{- end }}
        readOnlyRootFilesystem: true
        capabilities:
          drop: ["ALL"]
          {{- with $host.caps }}
          add:
            {{- toYaml . | nindent 12 }}
          {{- end }}
      volumeMounts:
        - {name: config, mountPath: /etc/falco-py, readOnly: true}
        - {name: rules, mountPath: /etc/falco-py-rules.d, readOnly: true}
        - {name: tmp, mountPath: /tmp}
        {{- if $node }}
        - {name: host-proc, mountPath: /host/proc, readOnly: true}
        - {name: host-cgroup, mountPath: /host/sys/fs/cgroup, readOnly: true}
        {{- end }}
        {{- if $host.btf }}
        - {name: host-btf, mountPath: /sys/kernel/btf, readOnly: true}
        {{- end }}
        {{- range $i, $path := $stateRoots }}
        - {name: {{ printf "runtime-state-%d" $i }}, mountPath: {{ printf "/host%s" $path | quote }}, readOnly: true}
        {{- end }}
        {{- if .auditLog }}
        - {name: audit-log, mountPath: {{ dir $root.Values.k8sAudit.logFile.path }}, readOnly: true}
        {{- end }}
        {{- if $sink.existingSecret }}
        - {name: sink-token, mountPath: /etc/falco-py-sink, readOnly: true}
        {{- end }}
        {{- if not $node }}
        - {name: webhook-tls, mountPath: /etc/falco-py-tls, readOnly: true}
        - {name: webhook-token, mountPath: /etc/falco-py-token, readOnly: true}
        {{- end }}
  volumes:
    - name: config
      configMap:
        name: {{ include "falco-py.fullname" $root }}-config
        items:
          - {key: {{ .configKey }}, path: config.yaml}
    - name: rules
      configMap:
        name: {{ include "falco-py.fullname" $root }}-rules
    - name: tmp
      emptyDir:
        sizeLimit: 64Mi
    {{- if $node }}
    - name: host-proc
      hostPath: {path: /proc, type: Directory}
    - name: host-cgroup
      hostPath: {path: /sys/fs/cgroup, type: Directory}
    {{- end }}
    {{- if $host.btf }}
    - name: host-btf
      hostPath: {path: /sys/kernel/btf, type: Directory}
    {{- end }}
    {{- range $i, $path := $stateRoots }}
    - name: {{ printf "runtime-state-%d" $i }}
      hostPath: {path: {{ $path | quote }}}  {{- /* no type: a node without this runtime keeps starting */}}
    {{- end }}
    {{- if .auditLog }}
    - name: audit-log
      hostPath: {path: {{ dir $root.Values.k8sAudit.logFile.path }}, type: Directory}
    {{- end }}
    {{- if $sink.existingSecret }}
    - name: sink-token
      secret:
        secretName: {{ $sink.existingSecret }}
        items:
          - {key: {{ default "token" $sink.secretKey }}, path: token}
    {{- end }}
    {{- if not $node }}
    - name: webhook-tls
      secret:
        secretName: {{ default (printf "%s-webhook-tls" (include "falco-py.fullname" $root)) $root.Values.k8sAudit.webhook.tls.existingSecret }}
    - name: webhook-token
      secret:
        secretName: {{ default (printf "%s-webhook-token" (include "falco-py.fullname" $root)) $root.Values.k8sAudit.webhook.bearerToken.existingSecret }}
    {{- end }}
{{- end -}}
