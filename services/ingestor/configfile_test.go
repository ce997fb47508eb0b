package ingestor_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zenith-hq/zenith/pkg/testenv"
	"github.com/zenith-hq/zenith/services/ingestor"
)

// TestBadConfigFileNamesTheLineNotTheSecret: a ZENITH_CONFIG the YAML
// reader refuses stops the ingestor at start with an error, which its
// command logs, naming the line, column and problem; neither the error nor
// the ingestor's own log holds anything of the file's lines, where the
// webhook URL's token is.
func TestBadConfigFileNamesTheLineNotTheSecret(t *testing.T) {
	_, dsn := testenv.Store(t)
	natsURL := testenv.NATS(t)
	const secret = "SUPERSECRET"
	line := `    webhook_url: "https://hooks.slack.com/services/T/B/` + secret
	sink := "sinks:\n  - name: team\n    type: slack\n"
	for _, tt := range []struct{ name, file, want string }{
		{"a key given twice", sink + line + "\"\n" + line + "\"\n",
			"line 5, column 5: sinks[0].webhook_url: is given twice (first at line 4, column 5)"},
		{"an unclosed quote", sink + line + "\n    title: hi\n",
			"line 4, column 18: could not find end character of double-quoted text"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "zenith.yaml")
			if err := os.WriteFile(path, []byte(tt.file), 0o600); err != nil {
				t.Fatal(err)
			}
			var logged bytes.Buffer
			cfg := ingestor.Config{
				NATSURL: natsURL, DatabaseURL: dsn, ListenAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0",
				KeyRevalidate: time.Second, MaxBodyBytes: 64 << 10, MaxDecompressedBytes: 256 << 10,
				PublishTimeout: 2 * time.Second, ShutdownGrace: 5 * time.Second, ConfigPath: path,
			}
			_, err := ingestor.New(context.Background(), cfg, slog.New(slog.NewTextHandler(&logged, nil)))
			if err == nil {
				t.Fatal("the ingestor started with a configuration file that is not valid YAML")
			}
			if want := "config " + path + ": " + tt.want; err.Error() != want {
				t.Errorf("error = %q\nwant    %q", err, want)
			}
			if strings.Contains(err.Error()+logged.String(), secret) {
				t.Errorf("the secret is in the error or the log:\n%v\n%s", err, logged.String())
			}
		})
	}
}
