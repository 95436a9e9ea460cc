package deploy

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

var update = flag.Bool("update", false, "regenerate kubernetes/prometheusrule.yaml from the rule files")

const prometheusRuleFile = kubernetesDir + "/prometheusrule.yaml"

// generatePrometheusRule returns the PrometheusRule manifest: the lines of
// current up to and including "spec:", then the groups of each rule file with
// their comments, indented to sit under spec.groups.
func generatePrometheusRule(t *testing.T, current []byte) []byte {
	t.Helper()
	header, _, found := bytes.Cut(current, []byte("\nspec:\n"))
	if !found {
		t.Fatalf("%s has no line \"spec:\" to keep the header above", prometheusRuleFile)
	}

	var out bytes.Buffer
	out.Write(header)
	out.WriteString("\nspec:\n  groups:\n")
	for _, path := range globFiles(t, rulesGlob) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("reading %s: %v", path, err)
		}
		_, body, found := bytes.Cut(data, []byte("\ngroups:\n"))
		if !found {
			t.Fatalf("%s has no top-level line \"groups:\"", path)
		}
		fmt.Fprintf(&out, "    # From deploy/%s.\n", filepath.ToSlash(path))
		for _, line := range strings.SplitAfter(string(body), "\n") {
			if strings.TrimSpace(line) != "" {
				out.WriteString("  ")
			}
			out.WriteString(line)
		}
	}
	return out.Bytes()
}

// ruleGroups returns the groups of every rule file that Prometheus loads, in
// file name order, as generic YAML values.
func ruleGroups(t *testing.T) []any {
	t.Helper()
	var groups []any
	for _, path := range globFiles(t, rulesGlob) {
		var file struct {
			Groups []any `yaml:"groups"`
		}
		decodeYAMLFile(t, path, &file)
		groups = append(groups, file.Groups...)
	}
	return groups
}

func groupName(group any) string {
	if object, ok := group.(map[string]any); ok {
		if name, ok := object["name"].(string); ok {
			return name
		}
	}
	return "<unnamed>"
}

func TestPrometheusRuleMatchesRuleFiles(t *testing.T) {
	if *update {
		current, err := os.ReadFile(prometheusRuleFile)
		if err != nil {
			t.Fatalf("reading %s: %v", prometheusRuleFile, err)
		}
		if err := os.WriteFile(prometheusRuleFile, generatePrometheusRule(t, current), 0o644); err != nil {
			t.Fatalf("writing %s: %v", prometheusRuleFile, err)
		}
	}

	var manifest struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Spec       struct {
			Groups []any `yaml:"groups"`
		} `yaml:"spec"`
	}
	decodeYAMLFile(t, prometheusRuleFile, &manifest)
	if manifest.APIVersion != "monitoring.coreos.com/v1" || manifest.Kind != "PrometheusRule" {
		t.Errorf("%s is %s %s, want monitoring.coreos.com/v1 PrometheusRule", prometheusRuleFile, manifest.APIVersion, manifest.Kind)
	}

	want := ruleGroups(t)
	got := manifest.Spec.Groups
	const hint = "edit the rule files, then run: go test ./deploy -run TestPrometheusRuleMatchesRuleFiles -update"
	if len(got) != len(want) {
		t.Fatalf("%s has %d groups, the rule files %d; %s", prometheusRuleFile, len(got), len(want), hint)
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			gotYAML, _ := yaml.Marshal(got[i])
			wantYAML, _ := yaml.Marshal(want[i])
			t.Errorf("%s: group %d (%s) differs from the rule files (%s); %s\ngot:\n%s\nwant:\n%s",
				prometheusRuleFile, i, groupName(got[i]), groupName(want[i]), hint, gotYAML, wantYAML)
		}
	}
}

// kubernetesObject is the part of a manifest that identifies it.
type kubernetesObject struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
}

func TestKustomizationListsEveryManifest(t *testing.T) {
	var kustomization struct {
		Resources []string `yaml:"resources"`
	}
	decodeYAMLFile(t, filepath.Join(kubernetesDir, "kustomization.yaml"), &kustomization)

	for _, path := range globFiles(t, filepath.Join(kubernetesDir, "*.yaml")) {
		name := filepath.Base(path)
		if name == "kustomization.yaml" {
			continue
		}
		if !slices.Contains(kustomization.Resources, name) {
			t.Errorf("kustomization.yaml does not list %s", name)
		}
	}
	for _, name := range kustomization.Resources {
		var object kubernetesObject
		decodeYAMLFile(t, filepath.Join(kubernetesDir, name), &object)
		if object.APIVersion == "" || object.Kind == "" || object.Metadata.Name == "" {
			t.Errorf("%s lacks apiVersion, kind or metadata.name", name)
		}
	}
}

// deployment is the part of the Deployment manifest that the tests check.
type deployment struct {
	Spec struct {
		Template struct {
			Spec struct {
				SecurityContext map[string]any `yaml:"securityContext"`
				Containers      []struct {
					Args            []string       `yaml:"args"`
					SecurityContext map[string]any `yaml:"securityContext"`
					Resources       struct {
						Requests map[string]string `yaml:"requests"`
						Limits   map[string]string `yaml:"limits"`
					} `yaml:"resources"`
					Ports []struct {
						Name          string `yaml:"name"`
						ContainerPort int    `yaml:"containerPort"`
					} `yaml:"ports"`
					LivenessProbe  map[string]any `yaml:"livenessProbe"`
					ReadinessProbe map[string]any `yaml:"readinessProbe"`
					VolumeMounts   []struct {
						Name      string `yaml:"name"`
						MountPath string `yaml:"mountPath"`
					} `yaml:"volumeMounts"`
				} `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

// lookup returns the value at the dotted path in nested YAML maps, or nil.
func lookup(node map[string]any, path string) any {
	var current any = node
	for _, key := range strings.Split(path, ".") {
		object, ok := current.(map[string]any)
		if !ok {
			return nil
		}
		current = object[key]
	}
	return current
}

func TestDeploymentHardened(t *testing.T) {
	var manifest deployment
	decodeYAMLFile(t, filepath.Join(kubernetesDir, "deployment.yaml"), &manifest)
	pod := manifest.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("deployment.yaml has %d containers, want 1", len(pod.Containers))
	}
	container := pod.Containers[0]

	want := []struct {
		path  string
		value any
	}{
		{"runAsNonRoot", true},
		{"runAsUser", 65534},
		{"readOnlyRootFilesystem", true},
		{"allowPrivilegeEscalation", false},
		{"seccompProfile.type", "RuntimeDefault"},
	}
	for _, w := range want {
		if got := lookup(container.SecurityContext, w.path); !reflect.DeepEqual(got, w.value) {
			t.Errorf("container securityContext.%s = %v, want %v", w.path, got, w.value)
		}
	}
	if got := lookup(container.SecurityContext, "capabilities.drop"); !reflect.DeepEqual(got, []any{"ALL"}) {
		t.Errorf("container securityContext.capabilities.drop = %v, want [ALL]", got)
	}
	if got := lookup(pod.SecurityContext, "seccompProfile.type"); got != "RuntimeDefault" {
		t.Errorf("pod securityContext.seccompProfile.type = %v, want RuntimeDefault", got)
	}

	for _, resource := range []string{"cpu", "memory"} {
		if container.Resources.Requests[resource] == "" {
			t.Errorf("container has no %s request", resource)
		}
		if container.Resources.Limits[resource] == "" {
			t.Errorf("container has no %s limit", resource)
		}
	}

	// /metrics calls the AutoRetouch API, so a probe there would restart the
	// exporter whenever the API is slow.
	for name, probe := range map[string]map[string]any{"liveness": container.LivenessProbe, "readiness": container.ReadinessProbe} {
		if got := lookup(probe, "httpGet.path"); got != "/" {
			t.Errorf("%s probe path = %v, want /", name, got)
		}
	}

	// The refresh-token flag must point into the mounted Secret.
	var tokenPath string
	for _, arg := range container.Args {
		if value, found := strings.CutPrefix(arg, "--autoretouch.refresh-token-file="); found {
			tokenPath = value
		}
	}
	if tokenPath == "" {
		t.Fatal("container args lack --autoretouch.refresh-token-file")
	}
	mounted := false
	for _, mount := range container.VolumeMounts {
		if strings.HasPrefix(tokenPath, strings.TrimSuffix(mount.MountPath, "/")+"/") {
			mounted = true
		}
	}
	if !mounted {
		t.Errorf("refresh token file %s is under no volume mount", tokenPath)
	}
}

func TestScrapeTargetsAgree(t *testing.T) {
	var manifest deployment
	decodeYAMLFile(t, filepath.Join(kubernetesDir, "deployment.yaml"), &manifest)
	containerPorts := map[string]bool{}
	for _, port := range manifest.Spec.Template.Spec.Containers[0].Ports {
		containerPorts[port.Name] = true
	}

	var service struct {
		Spec struct {
			Selector map[string]string `yaml:"selector"`
			Ports    []struct {
				Name       string `yaml:"name"`
				TargetPort string `yaml:"targetPort"`
			} `yaml:"ports"`
		} `yaml:"spec"`
		Metadata struct {
			Labels map[string]string `yaml:"labels"`
		} `yaml:"metadata"`
	}
	decodeYAMLFile(t, filepath.Join(kubernetesDir, "service.yaml"), &service)
	servicePorts := map[string]bool{}
	for _, port := range service.Spec.Ports {
		servicePorts[port.Name] = true
		if !containerPorts[port.TargetPort] {
			t.Errorf("service port %s targets %q, which the container does not name", port.Name, port.TargetPort)
		}
	}

	var monitor struct {
		Spec struct {
			Selector struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"selector"`
			Endpoints []struct {
				Port          string `yaml:"port"`
				Interval      string `yaml:"interval"`
				ScrapeTimeout string `yaml:"scrapeTimeout"`
				Relabelings   []struct {
					TargetLabel string `yaml:"targetLabel"`
					Replacement string `yaml:"replacement"`
				} `yaml:"relabelings"`
			} `yaml:"endpoints"`
		} `yaml:"spec"`
	}
	decodeYAMLFile(t, filepath.Join(kubernetesDir, "servicemonitor.yaml"), &monitor)
	for key, value := range monitor.Spec.Selector.MatchLabels {
		if service.Metadata.Labels[key] != value {
			t.Errorf("ServiceMonitor selects %s=%s, which the Service labels lack", key, value)
		}
	}
	if len(monitor.Spec.Endpoints) != 1 {
		t.Fatalf("ServiceMonitor has %d endpoints, want 1", len(monitor.Spec.Endpoints))
	}
	endpoint := monitor.Spec.Endpoints[0]
	if !servicePorts[endpoint.Port] {
		t.Errorf("ServiceMonitor scrapes port %q, which the Service does not name", endpoint.Port)
	}
	if endpoint.Interval != "2m" || endpoint.ScrapeTimeout != "30s" {
		t.Errorf("ServiceMonitor interval %s and scrapeTimeout %s, want 2m and 30s", endpoint.Interval, endpoint.ScrapeTimeout)
	}
	jobRelabeled := false
	for _, relabeling := range endpoint.Relabelings {
		if relabeling.TargetLabel == "job" && relabeling.Replacement == "autoretouch" {
			jobRelabeled = true
		}
	}
	if !jobRelabeled {
		t.Error(`ServiceMonitor does not set job="autoretouch", which the exporter alerts select`)
	}
}

// TestKustomizeBuild renders the base with kubectl when it is installed. The
// other tests check the manifests without it.
func TestKustomizeBuild(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl not on PATH, so the rendered base is not checked. The other Kubernetes tests still ran.")
	}
	output, err := exec.Command(kubectl, "kustomize", kubernetesDir).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl kustomize %s failed: %v\n%s", kubernetesDir, err, output)
	}

	decoder := yaml.NewDecoder(bytes.NewReader(output))
	var kinds []string
	for {
		var object kubernetesObject
		if err := decoder.Decode(&object); err != nil {
			break
		}
		kinds = append(kinds, object.Kind)
	}
	slices.Sort(kinds)
	want := []string{"Deployment", "PrometheusRule", "Secret", "Service", "ServiceMonitor"}
	if !slices.Equal(kinds, want) {
		t.Errorf("kubectl kustomize rendered %v, want %v", kinds, want)
	}
}
