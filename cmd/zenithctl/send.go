package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

func sendCommand(g *globals) *cobra.Command {
	var file, key, ingest, eventType, data string
	cmd := &cobra.Command{
		Use:   "send (-f EVENT.json | --type TYPE --data JSON) [--key KEY]",
		Short: "Send a test event to the ingestor with an API key",
		Long: `Posts one event to the ingestor's REST endpoint, as a producer would, and
prints its answer. The key is --key or ZENITH_API_KEY; the ingestor is
--ingest or ZENITH_INGEST_URL (default ` + defaultIngest + `).`,
		Args: args(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			body, err := eventBody(file, eventType, data)
			if err != nil {
				return err
			}
			if key == "" {
				key = g.getenv("ZENITH_API_KEY")
			}
			if key == "" {
				return usagef("no API key: set ZENITH_API_KEY or pass --key")
			}
			return postEvent(cmd, strings.TrimRight(ingest, "/")+"/v1/events", key, body)
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "the event as JSON")
	cmd.Flags().StringVar(&eventType, "type", "", "the event's type, instead of a file")
	cmd.Flags().StringVar(&data, "data", "{}", "the event's data as JSON, with --type")
	cmd.Flags().StringVar(&key, "key", "", "the source's API key (default: env ZENITH_API_KEY)")
	cmd.Flags().StringVar(&ingest, "ingest", envOr(g.getenv, "ZENITH_INGEST_URL", defaultIngest), "the ingestor's URL (env ZENITH_INGEST_URL)")
	cmd.MarkFlagsMutuallyExclusive("file", "type")
	return cmd
}

func eventBody(file, eventType, data string) ([]byte, error) {
	switch {
	case file != "":
		return os.ReadFile(file)
	case eventType != "":
		if !json.Valid([]byte(data)) {
			return nil, usagef("--data is not JSON")
		}
		return json.Marshal(map[string]any{"type": eventType, "data": json.RawMessage(data)})
	}
	return nil, usagef("give the event with -f, or with --type and --data")
}

// postEvent sends body and prints the ingestor's answer; an answer other
// than 2xx is an error.
func postEvent(cmd *cobra.Command, url, key string, body []byte) error {
	req, err := http.NewRequestWithContext(cmd.Context(), http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Api-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("send event: %w", err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("read the ingestor's answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		return refusal(resp.StatusCode, resp.Status, answer)
	}
	_, err = fmt.Fprintln(cmd.OutOrStdout(), string(bytes.TrimSpace(answer)))
	return err
}

// refusal is the error of an answer other than 2xx. The ingestor's refusal
// of the event itself (400, 413, 415) is a usage error, as when zenithctl
// finds the input wrong, and says the ingestor's message; others (a bad
// key, a full stream) are failures with the answer as it came.
func refusal(code int, status string, answer []byte) error {
	var body struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	inputWrong := code == http.StatusBadRequest || code == http.StatusRequestEntityTooLarge || code == http.StatusUnsupportedMediaType
	if inputWrong && json.Unmarshal(answer, &body) == nil && body.Message != "" {
		return usagef("the ingestor refused the event (%s): %s", body.Error, body.Message)
	}
	return fmt.Errorf("ingestor answered %s: %s", status, bytes.TrimSpace(answer))
}
