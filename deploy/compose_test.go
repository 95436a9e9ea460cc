package deploy

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

type composeProject struct {
	Services map[string]struct {
		Image string `yaml:"image"`
		Build *struct {
			Context    string `yaml:"context"`
			Dockerfile string `yaml:"dockerfile"`
		} `yaml:"build"`
		Entrypoint  []string          `yaml:"entrypoint"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Volumes     []string          `yaml:"volumes"`
		Ports       []string          `yaml:"ports"`
	} `yaml:"services"`
}

// TestComposeFilesExist checks that every file the Compose project builds
// from or mounts exists. Docker creates a missing bind-mount source as an
// empty directory, and the service would start without its configuration.
func TestComposeFilesExist(t *testing.T) {
	var project composeProject
	decodeYAMLFile(t, composeFile, &project)
	if len(project.Services) == 0 {
		t.Fatalf("%s defines no service", composeFile)
	}

	for name, service := range project.Services {
		if service.Build != nil {
			dockerfile := filepath.Join(service.Build.Context, service.Build.Dockerfile)
			if _, err := os.Stat(dockerfile); err != nil {
				t.Errorf("service %s builds from %s: %v", name, dockerfile, err)
			}
		}
		for _, volume := range service.Volumes {
			source, _, _ := strings.Cut(volume, ":")
			if !strings.HasPrefix(source, ".") {
				continue // a named volume
			}
			if _, err := os.Stat(source); err != nil {
				t.Errorf("service %s mounts %s: %v", name, source, err)
			}
		}
		// Ports published on all interfaces would expose the demo to the network.
		for _, port := range service.Ports {
			if !strings.HasPrefix(port, "127.0.0.1:") {
				t.Errorf("service %s publishes %s beyond the loopback address", name, port)
			}
		}
	}
}

func TestComposeExporterUsesDemoAPI(t *testing.T) {
	var project composeProject
	decodeYAMLFile(t, composeFile, &project)

	exporter, ok := project.Services["exporter"]
	if !ok {
		t.Fatalf("%s has no service exporter, the target in %s", composeFile, prometheusConfig)
	}
	if !slices.Equal(exporter.Entrypoint, []string{"/bin/autoretouch_exporter"}) {
		t.Errorf("exporter entrypoint = %q, want [/bin/autoretouch_exporter]", exporter.Entrypoint)
	}
	if !slices.Contains(exporter.Command, "--autoretouch.api-url=http://demo-api:8080") {
		t.Errorf("exporter command %q does not point at the demo API", exporter.Command)
	}
	if exporter.Environment["AUTORETOUCH_TOKEN"] != "demo-token" {
		t.Errorf("exporter AUTORETOUCH_TOKEN = %q, want the demo API's token demo-token", exporter.Environment["AUTORETOUCH_TOKEN"])
	}

	demo, ok := project.Services["demo-api"]
	if !ok {
		t.Fatalf("%s has no service demo-api", composeFile)
	}
	if !slices.Equal(demo.Entrypoint, []string{"/bin/autoretouch_demo_api"}) {
		t.Errorf("demo-api entrypoint = %q, want [/bin/autoretouch_demo_api]", demo.Entrypoint)
	}
}
