package usage

import (
	"strings"
	"testing"
	"time"
)

type config struct {
	URL     string        `env:"EXAMPLE_URL,required"`
	Workers int           `env:"EXAMPLE_WORKERS" envDefault:"10"`
	Wait    time.Duration `env:"EXAMPLE_WAIT"`
}

func TestPrint(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantText []string
	}{
		{
			name:     "help",
			args:     []string{"svc", "--help"},
			wantCode: Help,
			wantText: []string{"usage: svc", "does things", "EXAMPLE_URL", "required", "EXAMPLE_WORKERS", "default 10", "EXAMPLE_WAIT", "unset by default"},
		},
		{
			name:     "short help",
			args:     []string{"svc", "-h"},
			wantCode: Help,
			wantText: []string{"usage: svc"},
		},
		{
			name:     "unknown argument",
			args:     []string{"svc", "--port=1"},
			wantCode: BadCommand,
			wantText: []string{`svc: unknown argument "--port=1"`, "EXAMPLE_URL"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			code := Print(&out, tt.args, "svc does things.", &config{})
			if code != tt.wantCode {
				t.Errorf("code = %d, want %d", code, tt.wantCode)
			}
			for _, want := range tt.wantText {
				if !strings.Contains(out.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, out.String())
				}
			}
		})
	}
}
