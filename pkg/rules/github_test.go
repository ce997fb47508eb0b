package rules_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/zenith-hq/zenith/pkg/rules"
)

// githubRules are rules a team would write on GitHub's webhooks, sent to
// Zenith with the event type <event>.<action>.
func githubRules(t *testing.T) []rules.Rule {
	return []rules.Rule{
		{Name: "ready-pr-on-hello-world", EventType: "pull_request.*", Priority: 10, Condition: mustCondition(t, `{"all":[
			{"field":"action","operator":"in","value":["opened","reopened","ready_for_review"]},
			{"field":"pull_request.draft","operator":"==","value":false},
			{"field":"repository.full_name","operator":"==","value":"Codertocat/Hello-World"}]}`)},
		{Name: "bug-pr", EventType: "pull_request.*", Condition: mustCondition(t,
			`{"field":"pull_request.labels.name","operator":"==","value":"bug"}`)},
		{Name: "pr-by-codertocat", EventType: "pull_request.*", Condition: mustCondition(t,
			`{"field":"pull_request.user.login","operator":"equals_ignore_case","value":"CODERTOCAT"}`)},
		{Name: "push-to-default-branch", EventType: "push", Condition: mustCondition(t, `{"all":[
			{"field":"ref","operator":"==","value":"refs/heads/master"},
			{"field":"repository.default_branch","operator":"==","value":"master"},
			{"field":"commits.0","operator":"exists"}]}`)},
		{Name: "push-with-more-than-one-commit", EventType: "push", Condition: mustCondition(t,
			`{"field":"commits.1","operator":"exists"}`)},
		{Name: "commit-by-noreply", EventType: "push", Condition: mustCondition(t,
			`{"field":"commits.author.email","operator":"ends_with","value":"@users.noreply.github.com"}`)},
		{Name: "tag-push", EventType: "push", Condition: mustCondition(t,
			`{"field":"ref","operator":"matches","value":"^refs/tags/[a-z-]+$"}`)},
		{Name: "unrouted", Fallback: true},
	}
}

func TestGitHubPayloads(t *testing.T) {
	list := githubRules(t)
	set, err := rules.NewSet(list)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		file      string
		eventType string
		want      []string
	}{
		{"pull_request.opened.json", "pull_request.opened", []string{"ready-pr-on-hello-world", "bug-pr", "pr-by-codertocat"}},
		{"pull_request.converted_to_draft.json", "pull_request.converted_to_draft", []string{"bug-pr", "pr-by-codertocat"}},
		{"push.new-branch.json", "push", []string{"commit-by-noreply", "push-to-default-branch"}},
		{"push.tag.json", "push", []string{"tag-push"}},
		{"push.tag.json", "release.published", []string{"unrouted"}},
	}
	for _, tt := range tests {
		t.Run(tt.file+"/"+tt.eventType, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", "github", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			matched, err := set.Match(tt.eventType, data, nil)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, names(matched)); diff != "" {
				t.Errorf("matched (-want +got):\n%s", diff)
			}
			ref, ok := referenceMatch(list, tt.eventType, data)
			if !ok {
				t.Fatal("the reference interpreter could not judge the payload")
			}
			if diff := cmp.Diff(ref, names(matched)); diff != "" {
				t.Errorf("Match and the reference (-) disagree:\n%s", diff)
			}
		})
	}
}
