package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// generatedFiles are the files of dist/ and what writes them.
var generatedFiles = []struct {
	name  string
	write func(io.Writer, *cli.App) error
}{
	{"tcptakectl.8", writeMan},
	{"tcptakectl.bash", writeBashCompletion},
	{"_tcptakectl", writeZshCompletion},
}

// TestGeneratedFiles fails when a file of dist/ differs from what the
// command tree makes; with -update ('make generate') it rewrites them.
func TestGeneratedFiles(t *testing.T) {
	for _, g := range generatedFiles {
		var b bytes.Buffer
		if err := g.write(&b, newApp(nil, io.Discard, io.Discard)); err != nil {
			t.Fatalf("%s: %v", g.name, err)
		}
		path := filepath.Join("dist", g.name)
		if *update {
			if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		have, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(have, b.Bytes()) {
			t.Errorf("ctl/%s is not what the command definitions make (%v); run 'make generate'", path, err)
		}
	}
}

// TestHelpListsEveryVerb checks that tcptakectl --help and OBJECT --help
// show every verb, and that each verb has help of its own.
func TestHelpListsEveryVerb(t *testing.T) {
	top, _, code := runCtl(t, nil, "--help")
	if code != 0 {
		t.Fatalf("--help: exit %d", code)
	}
	app := newApp(nil, io.Discard, io.Discard)
	for _, obj := range app.Commands {
		if !strings.Contains(top, "\n   "+strings.Join(obj.Names(), ", ")+" ") {
			t.Errorf("--help lacks the object %s:\n%s", obj.Name, top)
		}
		objHelp, _, code := runCtl(t, nil, obj.Name, "--help")
		if code != 0 {
			t.Errorf("%s --help: exit %d", obj.Name, code)
		}
		for _, verb := range obj.Subcommands {
			syn := "tcptakectl " + obj.Name + " " + verb.Name
			if !strings.Contains(top, "\n   "+syn) || !strings.Contains(objHelp, "\n   "+syn) ||
				!strings.Contains(objHelp, "| "+verb.Name+" |") && !strings.Contains(objHelp, "{ "+verb.Name+" |") {
				t.Errorf("%s missing from --help or %s --help:\n%s\n%s", syn, obj.Name, top, objHelp)
			}
			verbHelp, _, code := runCtl(t, nil, obj.Name, verb.Name, "--help")
			first, _, _ := strings.Cut(verb.UsageText, "\n")
			if code != 0 || first == "" || !strings.Contains(verbHelp, first) {
				t.Errorf("%s --help: exit %d, lacks its usage %q:\n%s", syn, code, first, verbHelp)
			}
		}
	}
}

// TestDocsMatchGrammar checks that README.md's tcptakectl section and the
// package doc show exactly the synopses and the grammar of the command
// definitions.
func TestDocsMatchGrammar(t *testing.T) {
	app := newApp(nil, io.Discard, io.Discard)
	first, _, _ := strings.Cut(app.UsageText, "\n")
	want := append([]string{first}, synopses(app.Commands)...)
	// The grammar rules, up to their explanation.
	rules := map[string]string{"TUPLE": tupleForm}
	var texts []string
	for _, cmd := range app.Commands {
		for _, v := range cmd.Subcommands {
			texts = append(texts, v.UsageText)
		}
	}
	for _, line := range strings.Split(strings.Join(append(texts, filterUsage), "\n"), "\n") {
		if name, _, ok := strings.Cut(line, " := "); ok && upperWordRE.MatchString(name) && rules[name] == "" {
			line, _, _ = strings.Cut(line, ";")
			rules[name] = line
		}
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(readme), "## tcptakectl\n\n```\n")
	section, _, _ = strings.Cut(section, "```")
	pkgdoc, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	var docLines []string
	for _, line := range strings.Split(string(pkgdoc), "\n") {
		if l, ok := strings.CutPrefix(line, "//\t"); ok {
			docLines = append(docLines, l)
		}
	}
	for name, lines := range map[string][]string{"README.md": strings.Split(section, "\n"), "ctl/main.go": docLines} {
		var syns []string
		found := map[string]bool{}
		for _, line := range lines {
			norm := strings.Join(strings.Fields(line), " ")
			if strings.HasPrefix(norm, "tcptakectl ") {
				syns = append(syns, norm)
			}
			if rule, _, ok := strings.Cut(norm, " := "); ok {
				if rules[rule] != norm {
					t.Errorf("%s: %q, want %q", name, norm, rules[rule])
				}
				found[rule] = true
			}
		}
		if !slices.Equal(syns, want) {
			t.Errorf("%s shows the synopses\n%s\nwant\n%s", name, strings.Join(syns, "\n"), strings.Join(want, "\n"))
		}
		for rule := range rules {
			if !found[rule] {
				t.Errorf("%s lacks the rule %s", name, rules[rule])
			}
		}
	}
}

// completionCases are command lines, the word under the cursor last, and
// what the completions offer there.
var completionCases = map[string]string{
	"tcptakectl ":                               "session freeze image module version node keygen help",
	"tcptakectl f":                              "freeze",
	"tcptakectl -j freeze ":                     "add del show peer",
	"tcptakectl -n x freeze add ":               "local remote timeout replace",
	"tcptakectl freeze add local 10.0.0.1:1 ":   "local remote timeout replace",
	"tcptakectl freeze add local ":              "",
	"tcptakectl freeze add timeout ":            "",
	"tcptakectl freeze delete local a remote b": "",
	"tcptakectl freeze del local a remote b k":  "kick",
	"tcptakectl session set local a remote b ":  "local remote ts-recent srtt-us mdev-us rto-us cwnd ssthresh",
	"tcptakectl session ls ":                    "local remote",
	"tcptakectl session get --":                 "--json --netns --help --output",
	"tcptakectl image inspect ":                 "FILES",
	"tcptakectl module ":                        "status monitor",
	"tcptakectl version ":                       "",
}

// testCompletion runs script with $WORDS (the words, quoted) and $CWORD
// (the index of the last one) replaced, for each of completionCases.
func testCompletion(t *testing.T, shell, script string) {
	if _, err := exec.LookPath(shell); err != nil {
		t.Skip("needs " + shell)
	}
	for line, want := range completionCases {
		words := strings.Split(line, " ")
		for i, w := range words {
			words[i] = "'" + w + "'"
		}
		s := strings.NewReplacer("$WORDS", strings.Join(words, " "), "$CWORD", strconv.Itoa(len(words)-1)).Replace(script)
		out, err := exec.Command(shell, "-c", s).CombinedOutput()
		got := strings.Join(strings.Fields(string(out)), " ")
		if want == "" && err != nil { // nothing offered: zsh returns 1
			err = nil
		}
		if err != nil || got != want {
			t.Errorf("%s: %q: %q, %v; want %q", shell, line, got, err, want)
		}
	}
}

func TestBashCompletion(t *testing.T) {
	testCompletion(t, "bash", `compopt() { :; }
compgen() { if [[ $1 == -f ]]; then echo FILES; else builtin compgen "$@"; fi; }
source dist/tcptakectl.bash
COMP_WORDS=($WORDS)
COMP_CWORD=$CWORD
_tcptakectl
echo "${COMPREPLY[*]}"`)
}

func TestZshCompletion(t *testing.T) {
	testCompletion(t, "zsh", `compdef() { :; }
compadd() { # zsh offers the candidates that begin with the word
	local w
	for w in ${(P)2}; do [[ $w == ${words[CURRENT]}* ]] && print -r -- $w; done
	return 0
}
_files() { print FILES; }
source dist/_tcptakectl
words=($WORDS)
CURRENT=$(($CWORD + 1))
_tcptakectl`)
}
