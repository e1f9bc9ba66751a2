// Command globmatch answers, for each case on stdin, what github.com/gobwas/glob (the version Argo CD v3.4.4
// pins) makes of it, the way Argo CD's util/glob.Match calls it: a pattern that does not compile matches nothing.
// Input: a JSON list of {"pattern", "text", "separators"}; output: a JSON list of booleans.
package main

import (
	"encoding/json"
	"os"

	"github.com/gobwas/glob"
)

type matchCase struct {
	Pattern    string `json:"pattern"`
	Text       string `json:"text"`
	Separators string `json:"separators"`
}

func main() {
	var cases []matchCase
	if err := json.NewDecoder(os.Stdin).Decode(&cases); err != nil {
		panic(err)
	}
	answers := make([]bool, len(cases))
	for i, c := range cases {
		compiled, err := glob.Compile(c.Pattern, []rune(c.Separators)...)
		answers[i] = err == nil && compiled.Match(c.Text)
	}
	if err := json.NewEncoder(os.Stdout).Encode(answers); err != nil {
		panic(err)
	}
}
