package dispatcher

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTrimText(t *testing.T) {
	cases := []struct {
		name  string
		in    string
		limit int
		m     markup
		want  string
	}{
		{"short kept", "hello", 10, plainText, "hello"},
		{"exact kept", "hello", 5, plainText, "hello"},
		{"cut with ellipsis", "abcdefghijklmnop", 10, plainText, "abcde…"},
		{"rune boundary", "ééééééééééééé", 10, plainText, "ééééé…"},
		{"emoji counts twice", "😀😀😀😀😀😀😀😀", 12, plainText, "😀😀😀…"},
		{"entity kept whole", "abc &amp; defghijklmnop", 12, slackMarkup, "abc …"},
		{"link kept whole", "see <https://example.com|site> now", 20, slackMarkup, "see …"},
		{"mention kept whole", "hi <@U12345678> there", 12, discordMarkup, "hi …"},
		{"closed link cut after", "<https://x|y> abcdefghijklmnop", 20, slackMarkup, "<https://x|y> a…"},
		{"fence closed", "```\ncode line one\ncode line two\n```", 22, plainText, "```\ncode line one…\n```"},
		{"inline code closed", "run `make test now please` ok", 20, plainText, "run `make test …`"},
		{"tiny limit", "abcdef", 3, plainText, "abc"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := trimText(c.in, c.limit, c.m)
			if got != c.want {
				t.Errorf("trimText(%q, %d) = %q, want %q", c.in, c.limit, got, c.want)
			}
			if textLen(got) > c.limit {
				t.Errorf("trimText(%q, %d) is %d units long, over the limit", c.in, c.limit, textLen(got))
			}
			if !utf8.ValidString(got) {
				t.Errorf("trimText(%q, %d) = %q, not valid UTF-8", c.in, c.limit, got)
			}
		})
	}
}

func TestTrimTextNeverOverLimit(t *testing.T) {
	inputs := []string{
		strings.Repeat("a&amp;<b|c>`x`", 500),
		strings.Repeat("🎉 ```go\nfmt.Println(\"x\")\n``` ", 300),
		strings.Repeat("é", 5000),
	}
	for _, in := range inputs {
		for _, limit := range []int{1, 5, 6, 7, 50, 150, 1024, 3000} {
			if got := trimText(in, limit, slackMarkup); textLen(got) > limit || !utf8.ValidString(got) {
				t.Errorf("trimText(len %d, %d) gave %d units (valid UTF-8: %v)", len(in), limit, textLen(got), utf8.ValidString(got))
			}
		}
	}
}

func TestEscapes(t *testing.T) {
	if got := escapeSlack("<!channel> & <https://evil|click>"); got != "&lt;!channel&gt; &amp; &lt;https://evil|click&gt;" {
		t.Errorf("escapeSlack = %q", got)
	}
	if got := escapeDiscord("[click](https://evil) **bold** @everyone"); got != `\[click\]\(https://evil\) \*\*bold\*\* @everyone` {
		t.Errorf("escapeDiscord = %q", got)
	}
}
