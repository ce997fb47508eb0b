package deploy

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/zenith-hq/zenith/pkg/bus"
	"github.com/zenith-hq/zenith/services/dispatcher"
	ruleengine "github.com/zenith-hq/zenith/services/rule-engine"
)

// TestOverlays renders every overlay and checks what would break a rollout.
func TestOverlays(t *testing.T) {
	kubectl := lookKubectl(t)
	dirs, err := filepath.Glob(filepath.Join(repoRoot(t), "deploy", "overlays", "*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no overlays in deploy/overlays (%v)", err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			m := render(t, kubectl, dir)
			// Only the local overlay carries Secrets, holding public demo
			// values; elsewhere they come from a secret store.
			if filepath.Base(dir) != "local" && len(m.secrets) > 0 {
				t.Errorf("the overlay commits %d Secrets; refer to a secret store instead", len(m.secrets))
			}
			checkDeployments(t, m)
			checkConfigFile(t, m)
			checkSecretRefs(t, m)
			checkServices(t, m)
			checkDisruptionBudgets(t, m)
			checkAutoscaling(t, m)
			checkMigration(t, m)
			checkPlaceholders(t, m)
		})
	}
}

// lookKubectl finds kubectl or fails saying how to get it.
func lookKubectl(t *testing.T) string {
	t.Helper()
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatal("kubectl is not installed; it renders deploy/ offline with `kubectl kustomize`: " +
			"install kubectl 1.27 or later (https://kubernetes.io/docs/tasks/tools/), " +
			"or the google-cloud-cli kubectl package")
	}
	return kubectl
}

// manifests is a rendered overlay, by kind.
type manifests struct {
	raw            []byte
	deployments    []appsv1.Deployment
	services       []corev1.Service
	hpas           []autoscalingv2.HorizontalPodAutoscaler
	pdbs           []policyv1.PodDisruptionBudget
	jobs           []batchv1.Job
	configMaps     map[string]corev1.ConfigMap
	secrets        map[string]corev1.Secret
	scaledObjects  []scaledObject
	externalSecret map[string]externalSecret
}

// scaledObject is the part of a KEDA ScaledObject the checks read.
type scaledObject struct {
	Metadata metav1.ObjectMeta `json:"metadata"`
	Spec     struct {
		ScaleTargetRef struct {
			Name string `json:"name"`
		} `json:"scaleTargetRef"`
		MinReplicaCount *int32 `json:"minReplicaCount"`
		MaxReplicaCount *int32 `json:"maxReplicaCount"`
		Triggers        []struct {
			Type     string            `json:"type"`
			Metadata map[string]string `json:"metadata"`
		} `json:"triggers"`
	} `json:"spec"`
}

// externalSecret is the part of an External Secrets Operator ExternalSecret
// the checks read.
type externalSecret struct {
	Metadata metav1.ObjectMeta `json:"metadata"`
	Spec     struct {
		Target struct {
			Name string `json:"name"`
		} `json:"target"`
		Data []struct {
			SecretKey string `json:"secretKey"`
		} `json:"data"`
	} `json:"spec"`
}

// render runs `kubectl kustomize dir` and decodes every object. Objects of
// the Kubernetes API are decoded strictly: a misspelt field fails the test.
func render(t *testing.T, kubectl, dir string) manifests {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(kubectl, "kustomize", dir)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubectl kustomize %s: %v\n%s", dir, err, stderr.String())
	}

	m := manifests{
		raw:            out,
		configMaps:     map[string]corev1.ConfigMap{},
		secrets:        map[string]corev1.Secret{},
		externalSecret: map[string]externalSecret{},
	}
	for doc := range strings.SplitSeq(string(out), "\n---\n") {
		if err := m.add([]byte(doc)); err != nil {
			t.Fatalf("%s: %v\n%s", dir, err, doc)
		}
	}
	return m
}

// add decodes one object into m.
func (m *manifests) add(doc []byte) error {
	var meta metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &meta); err != nil {
		return err
	}
	switch meta.Kind {
	case "Deployment":
		return appendStrict(doc, &m.deployments)
	case "Service":
		return appendStrict(doc, &m.services)
	case "HorizontalPodAutoscaler":
		return appendStrict(doc, &m.hpas)
	case "PodDisruptionBudget":
		return appendStrict(doc, &m.pdbs)
	case "Job":
		return appendStrict(doc, &m.jobs)
	case "ConfigMap":
		return putStrict(doc, m.configMaps, func(c corev1.ConfigMap) string { return c.Name })
	case "Secret":
		return putStrict(doc, m.secrets, func(s corev1.Secret) string { return s.Name })
	case "StatefulSet":
		var s appsv1.StatefulSet
		return yaml.UnmarshalStrict(doc, &s)
	case "ServiceAccount":
		var s corev1.ServiceAccount
		return yaml.UnmarshalStrict(doc, &s)
	case "Namespace":
		var n corev1.Namespace
		return yaml.UnmarshalStrict(doc, &n)
	case "ScaledObject":
		var s scaledObject
		err := yaml.Unmarshal(doc, &s)
		m.scaledObjects = append(m.scaledObjects, s)
		return err
	case "ExternalSecret":
		var e externalSecret
		err := yaml.Unmarshal(doc, &e)
		m.externalSecret[e.Spec.Target.Name] = e
		return err
	case "SecretStore":
		return nil
	}
	return fmt.Errorf("the check knows no kind %q: teach manifests.add to decode it", meta.Kind)
}

func appendStrict[T any](doc []byte, list *[]T) error {
	var v T
	if err := yaml.UnmarshalStrict(doc, &v); err != nil {
		return err
	}
	*list = append(*list, v)
	return nil
}

func putStrict[T any](doc []byte, into map[string]T, name func(T) string) error {
	var v T
	if err := yaml.UnmarshalStrict(doc, &v); err != nil {
		return err
	}
	into[name(v)] = v
	return nil
}

// deployment returns the Deployment of the tier called name.
func (m manifests) deployment(name string) (appsv1.Deployment, bool) {
	for _, d := range m.deployments {
		if d.Name == name {
			return d, true
		}
	}
	return appsv1.Deployment{}, false
}

// checkDeployments checks each tier's Deployment: the variables it sets,
// its ports and probes, and its grace period.
func checkDeployments(t *testing.T, m manifests) {
	envs := map[string]map[string]string{}
	defer func() { checkStreamsAlike(t, envs) }()
	for _, tr := range tiers {
		d, ok := m.deployment(tr.name)
		if !ok {
			t.Errorf("no Deployment %s", tr.name)
			continue
		}
		c, ok := container(d.Spec.Template.Spec, tr.name)
		if !ok {
			t.Errorf("Deployment %s has no container %s", tr.name, tr.name)
			continue
		}
		env := literalEnv(c)
		envs[tr.name] = env
		for _, e := range c.Env {
			if !tr.reads(e.Name) {
				t.Errorf("Deployment %s sets %s, which %s does not read", tr.name, e.Name, tr.name)
			}
		}
		if e, ok := envVar(c, "DATABASE_URL"); !ok || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			t.Errorf("Deployment %s must take DATABASE_URL from a Secret (secretKeyRef)", tr.name)
		}
		checkAdminPort(t, tr, c, env)
		if tr.listenVar != "" {
			checkPort(t, tr, c, env, tr.listenVar, "http")
		}
		checkGracePeriod(t, tr, d.Spec.Template.Spec, c, env)
	}
}

// checkAdminPort checks that the admin address is the container's port
// admin and that every probe asks it the right path.
func checkAdminPort(t *testing.T, tr tier, c corev1.Container, env map[string]string) {
	port := checkPort(t, tr, c, env, tr.adminVar, "admin")
	probes := []struct {
		kind, path string
		probe      *corev1.Probe
	}{
		{"startupProbe", "/healthz", c.StartupProbe},
		{"livenessProbe", "/healthz", c.LivenessProbe},
		{"readinessProbe", "/readyz", c.ReadinessProbe},
	}
	for _, p := range probes {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("%s: no HTTP %s", tr.name, p.kind)
			continue
		}
		get := p.probe.HTTPGet
		if get.Path != p.path {
			t.Errorf("%s: %s asks %s, want %s", tr.name, p.kind, get.Path, p.path)
		}
		if got := resolvePort(c, get.Port); got != port {
			t.Errorf("%s: %s asks port %s, but %s listens on %s", tr.name, p.kind, get.Port.String(), tr.adminVar, port)
		}
	}
}

// checkPort checks that the address in variable is served on the
// container's port called portName, and returns that port.
func checkPort(t *testing.T, tr tier, c corev1.Container, env map[string]string, variable, portName string) string {
	port, err := tr.port(env, variable)
	if err != nil {
		t.Errorf("%s: %v", tr.name, err)
		return ""
	}
	declared := resolvePort(c, intstr.FromString(portName))
	if declared != port {
		t.Errorf("%s: %s listens on %s, but container port %s is %q", tr.name, variable, port, portName, declared)
	}
	return port
}

// resolvePort turns a port reference into a number, looking names up among
// the container's ports; "" when the name is unknown.
func resolvePort(c corev1.Container, ref intstr.IntOrString) string {
	if ref.Type == intstr.Int {
		return strconv.Itoa(ref.IntValue())
	}
	for _, p := range c.Ports {
		if p.Name == ref.StrVal {
			return strconv.Itoa(int(p.ContainerPort))
		}
	}
	return ""
}

// checkGracePeriod checks that Kubernetes waits for the whole drain before
// it kills the pod, preStop included.
func checkGracePeriod(t *testing.T, tr tier, spec corev1.PodSpec, c corev1.Container, env map[string]string) {
	drain, err := tr.drainBound(env)
	if err != nil {
		t.Errorf("%s: %v", tr.name, err)
		return
	}
	var preStop time.Duration
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil {
		if c.Lifecycle.PreStop.Sleep == nil {
			t.Errorf("%s: preStop must be a sleep action: the image has no shell", tr.name)
		} else {
			preStop = time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
		}
	}
	if spec.TerminationGracePeriodSeconds == nil {
		t.Errorf("%s: no terminationGracePeriodSeconds (the default 30s is not derived from %s)", tr.name, tr.drainVar)
		return
	}
	grace := time.Duration(*spec.TerminationGracePeriodSeconds) * time.Second
	if need := preStop + drain; grace < need {
		t.Errorf("%s: terminationGracePeriodSeconds is %s, want at least %s (preStop %s + drain %s)", tr.name, grace, need, preStop, drain)
	}
}

// checkConfigFile checks that ZENITH_CONFIG names a file mounted from a
// ConfigMap, that the file is a valid configuration, and that every API key
// variable it names reaches the ingestor.
func checkConfigFile(t *testing.T, m manifests) {
	d, ok := m.deployment("ingestor")
	if !ok {
		return
	}
	spec := d.Spec.Template.Spec
	c, _ := container(spec, "ingestor")
	configPath, ok := literalEnv(c)["ZENITH_CONFIG"]
	if !ok {
		t.Error("ingestor: ZENITH_CONFIG is not set")
		return
	}
	content, err := mountedFile(m, spec, c, configPath)
	if err != nil {
		t.Errorf("ingestor: ZENITH_CONFIG=%s: %v", configPath, err)
		return
	}
	for _, key := range zenithConfig(t, "ingestor", content) {
		if _, ok := envVar(c, key); !ok && !secretProvides(m, c, key) {
			t.Errorf("ingestor: the configuration reads an API key from %s, which neither env nor envFrom provides", key)
		}
	}
}

// mountedFile returns the ConfigMap entry the container sees at file.
func mountedFile(m manifests, spec corev1.PodSpec, c corev1.Container, file string) ([]byte, error) {
	for _, mount := range c.VolumeMounts {
		if path.Dir(file) != path.Clean(mount.MountPath) {
			continue
		}
		for _, v := range spec.Volumes {
			if v.Name != mount.Name || v.ConfigMap == nil {
				continue
			}
			cm, ok := m.configMaps[v.ConfigMap.Name]
			if !ok {
				return nil, fmt.Errorf("ConfigMap %s is not in the overlay", v.ConfigMap.Name)
			}
			content, ok := cm.Data[path.Base(file)]
			if !ok {
				return nil, fmt.Errorf("ConfigMap %s has no key %s", cm.Name, path.Base(file))
			}
			return []byte(content), nil
		}
	}
	return nil, fmt.Errorf("no ConfigMap is mounted at %s", path.Dir(file))
}

// secretProvides reports whether an envFrom Secret of c holds key.
func secretProvides(m manifests, c corev1.Container, key string) bool {
	for _, from := range c.EnvFrom {
		if from.SecretRef != nil && slices.Contains(secretKeys(m, from.SecretRef.Name), key) {
			return true
		}
	}
	return false
}

// secretKeys returns the keys the Secret called name will hold: from the
// overlay's Secret, or from the ExternalSecret that makes it.
func secretKeys(m manifests, name string) []string {
	if s, ok := m.secrets[name]; ok {
		var keys []string
		for k := range s.Data {
			keys = append(keys, k)
		}
		for k := range s.StringData {
			keys = append(keys, k)
		}
		return keys
	}
	if e, ok := m.externalSecret[name]; ok {
		var keys []string
		for _, d := range e.Spec.Data {
			keys = append(keys, d.SecretKey)
		}
		return keys
	}
	return nil
}

// checkSecretRefs checks that every Secret a pod refers to is made by the
// overlay (a Secret or an ExternalSecret) with the key it asks for.
func checkSecretRefs(t *testing.T, m manifests) {
	pods := map[string]corev1.PodSpec{}
	for _, d := range m.deployments {
		pods["Deployment "+d.Name] = d.Spec.Template.Spec
	}
	for _, j := range m.jobs {
		pods["Job "+j.Name] = j.Spec.Template.Spec
	}
	for owner, spec := range pods {
		for _, c := range spec.Containers {
			for _, e := range c.Env {
				if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
					continue
				}
				ref := e.ValueFrom.SecretKeyRef
				if !slices.Contains(secretKeys(m, ref.Name), ref.Key) {
					t.Errorf("%s: %s refers to key %s of Secret %s, which the overlay does not make", owner, e.Name, ref.Key, ref.Name)
				}
			}
			for _, from := range c.EnvFrom {
				if from.SecretRef != nil && secretKeys(m, from.SecretRef.Name) == nil {
					t.Errorf("%s: envFrom Secret %s is not made by the overlay", owner, from.SecretRef.Name)
				}
			}
		}
	}
}

// checkServices checks that each Service selects a tier's pods and targets
// ports they declare.
func checkServices(t *testing.T, m manifests) {
	for _, tr := range tiers {
		d, ok := m.deployment(tr.name)
		if !ok {
			continue
		}
		found := false
		for _, s := range m.services {
			if len(s.Spec.Selector) == 0 || !labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
				continue
			}
			found = true
			c, _ := container(d.Spec.Template.Spec, tr.name)
			for _, p := range s.Spec.Ports {
				if resolvePort(c, p.TargetPort) == "" {
					t.Errorf("Service %s port %s targets %s, which %s does not declare", s.Name, p.Name, p.TargetPort.String(), tr.name)
				}
			}
		}
		if !found {
			t.Errorf("no Service selects the %s pods", tr.name)
		}
	}
}

// checkDisruptionBudgets checks that each tier has a PodDisruptionBudget.
func checkDisruptionBudgets(t *testing.T, m manifests) {
	for _, d := range m.deployments {
		found := false
		for _, pdb := range m.pdbs {
			sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
			if err == nil && sel.Matches(labels.Set(d.Spec.Template.Labels)) {
				found = true
			}
		}
		if !found {
			t.Errorf("no PodDisruptionBudget covers Deployment %s", d.Name)
		}
	}
}

// checkAutoscaling checks that each tier has exactly one autoscaler, that
// KEDA watches the consumers the services really use, and that the
// dispatcher's MaxAckPending leaves work for every replica.
func checkAutoscaling(t *testing.T, m manifests) {
	consumers := map[string][2]string{
		"rule-engine": {bus.EventsStream, ruleengine.ConsumerName},
		"dispatcher":  {bus.ActionsStream, dispatcher.ConsumerName},
	}
	for _, tr := range tiers {
		var maxReplicas int32
		count := 0
		for _, h := range m.hpas {
			if h.Spec.ScaleTargetRef.Kind == "Deployment" && h.Spec.ScaleTargetRef.Name == tr.name {
				count++
				maxReplicas = h.Spec.MaxReplicas
			}
		}
		for _, so := range m.scaledObjects {
			if so.Spec.ScaleTargetRef.Name != tr.name {
				continue
			}
			count++
			if so.Spec.MaxReplicaCount != nil {
				maxReplicas = *so.Spec.MaxReplicaCount
			}
			checkLagTrigger(t, so, consumers[tr.name])
		}
		if count != 1 {
			t.Errorf("%s has %d autoscalers (HorizontalPodAutoscaler or ScaledObject), want 1", tr.name, count)
		}
		if tr.name == "dispatcher" {
			checkAckPending(t, m, tr, maxReplicas)
		}
	}
}

// checkLagTrigger checks a ScaledObject's nats-jetstream trigger.
func checkLagTrigger(t *testing.T, so scaledObject, want [2]string) {
	for _, trig := range so.Spec.Triggers {
		if trig.Type != "nats-jetstream" {
			continue
		}
		got := [2]string{trig.Metadata["stream"], trig.Metadata["consumer"]}
		if want == [2]string{} {
			t.Errorf("ScaledObject %s scales on JetStream lag, but %s consumes no stream", so.Metadata.Name, so.Spec.ScaleTargetRef.Name)
		} else if got != want {
			t.Errorf("ScaledObject %s watches stream %s consumer %s, want %s %s", so.Metadata.Name, got[0], got[1], want[0], want[1])
		}
		if trig.Metadata["natsServerMonitoringEndpoint"] == "" || trig.Metadata["lagThreshold"] == "" {
			t.Errorf("ScaledObject %s: nats-jetstream trigger needs natsServerMonitoringEndpoint and lagThreshold", so.Metadata.Name)
		}
		return
	}
	t.Errorf("ScaledObject %s has no nats-jetstream trigger", so.Metadata.Name)
}

// checkAckPending checks the rule in dispatcher.Config: MaxAckPending
// above replicas × workers × 2.
func checkAckPending(t *testing.T, m manifests, tr tier, maxReplicas int32) {
	d, ok := m.deployment(tr.name)
	if !ok {
		return
	}
	c, _ := container(d.Spec.Template.Spec, tr.name)
	env := literalEnv(c)
	workers, err1 := intSetting(tr, env, "DISPATCHER_WORKER_COUNT")
	pending, err2 := intSetting(tr, env, "DISPATCHER_MAX_ACK_PENDING")
	if err1 != nil || err2 != nil {
		t.Errorf("dispatcher: %v %v", err1, err2)
		return
	}
	if need := int(maxReplicas) * workers * 2; pending <= need {
		t.Errorf("dispatcher: DISPATCHER_MAX_ACK_PENDING=%d must exceed %d replicas × %d workers × 2 = %d", pending, maxReplicas, workers, need)
	}
}

func intSetting(tr tier, env map[string]string, name string) (int, error) {
	raw, err := tr.setting(env, name)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(raw)
}

// checkMigration checks the migration Job: it runs only with the database
// URL, and the ingestor leaves migrating to it.
func checkMigration(t *testing.T, m manifests) {
	if len(m.jobs) != 1 {
		t.Errorf("%d Jobs, want the one migration Job", len(m.jobs))
		return
	}
	job := m.jobs[0]
	for _, c := range job.Spec.Template.Spec.Containers {
		for _, e := range c.Env {
			if !migrateEnv[e.Name] {
				t.Errorf("Job %s sets %s, which zenith-migrate does not read", job.Name, e.Name)
			}
		}
	}
	if d, ok := m.deployment("ingestor"); ok {
		c, _ := container(d.Spec.Template.Spec, "ingestor")
		if v := literalEnv(c)["DATABASE_MIGRATE"]; v != "false" {
			t.Errorf("ingestor: DATABASE_MIGRATE=%q, want \"false\": Job %s migrates, and replicas would race it", v, job.Name)
		}
	}
}

// checkPlaceholders checks that no placeholder of an overlay's
// replacements survived rendering.
func checkPlaceholders(t *testing.T, m manifests) {
	for _, p := range []string{"INSTANCE_CONNECTION_NAME", "CLUSTER_LOCATION", "CLUSTER_NAME", "PROJECT_ID"} {
		if bytes.Contains(m.raw, []byte(p)) {
			t.Errorf("the rendered overlay still holds the placeholder %s: a replacement missed its target", p)
		}
	}
}

func container(spec corev1.PodSpec, name string) (corev1.Container, bool) {
	for _, c := range spec.Containers {
		if c.Name == name {
			return c, true
		}
	}
	return corev1.Container{}, false
}

func envVar(c corev1.Container, name string) (corev1.EnvVar, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e, true
		}
	}
	return corev1.EnvVar{}, false
}

// literalEnv returns the variables c sets to a literal value.
func literalEnv(c corev1.Container) map[string]string {
	env := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			env[e.Name] = e.Value
		}
	}
	return env
}

// TestMain keeps kubectl from reading a kubeconfig: rendering needs none.
func TestMain(m *testing.M) {
	os.Setenv("KUBECONFIG", os.DevNull)
	os.Exit(m.Run())
}
