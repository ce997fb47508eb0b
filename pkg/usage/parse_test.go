package usage_test

import (
	"strings"
	"testing"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/zenith-hq/zenith/pkg/usage"
)

type limits struct {
	Burst int `env:"BURST" envDefault:"10"`
}

type settings struct {
	KeyRevalidate time.Duration `env:"INGESTOR_KEY_REVALIDATE" envDefault:"5s"`
	Limits        limits        `envPrefix:"RATE_"`
}

func TestParseEnvNamesTheVariable(t *testing.T) {
	tests := []struct {
		name string
		vars map[string]string
		want string
	}{
		{"top level", map[string]string{"INGESTOR_KEY_REVALIDATE": "soon"}, `INGESTOR_KEY_REVALIDATE: unable to parse duration: time: invalid duration "soon"`},
		{"nested with a prefix", map[string]string{"RATE_BURST": "many"}, "RATE_BURST: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := usage.ParseEnv[settings](env.Options{Environment: tt.vars})
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("ParseEnv error = %v, want one starting %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "KeyRevalidate") || err != nil && strings.Contains(err.Error(), "Burst") {
				t.Errorf("ParseEnv error %q names a Go field", err)
			}
		})
	}
}

func TestParseEnvReadsValues(t *testing.T) {
	got, err := usage.ParseEnv[settings](env.Options{Environment: map[string]string{"RATE_BURST": "3"}})
	if err != nil {
		t.Fatal(err)
	}
	if got.KeyRevalidate != 5*time.Second || got.Limits.Burst != 3 {
		t.Errorf("ParseEnv = %+v, want the default 5s and burst 3", got)
	}
}
