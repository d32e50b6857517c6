package main

// The man page tcptakectl(8) and the bash and zsh completions, made from
// the command tree: the objects, verbs, aliases and flags of the
// definitions, and the keywords of each verb's synopsis (the first line of
// its usage text). TestGeneratedFiles keeps the files in dist/ up to date
// ('make generate' rewrites them); the tcptake package installs them.

import (
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"text/template"

	"github.com/urfave/cli/v2"
)

// grammarWords are the keywords that the uppercase words of the synopses
// stand for; each takes a value.
var grammarWords = map[string][]string{
	"TUPLE":  {kwLocal, kwRemote},
	"FILTER": {kwLocal, kwRemote},
	"FIELD": func() []string {
		var names []string
		for _, f := range setFields {
			names = append(names, f.names[0])
		}
		return names
	}(),
}

// docVerb is a verb (or an object without verbs) as the completions and
// the man page see it.
type docVerb struct {
	cmd      *cli.Command
	object   *cli.Command // nil for an object without verbs
	Synopsis string       // "tcptakectl freeze add TUPLE [timeout DURATION] [replace]"
	Words    []string     // the keywords it takes
	Valued   []string     // those followed by a value
	Files    bool         // it takes FILE arguments
}

// names are the spellings of the verb on the command line: "freeze del",
// "freeze delete".
func (v docVerb) Names() []string {
	var out []string
	for _, n := range v.cmd.Names() {
		if v.object != nil {
			n = v.object.Name + " " + n
		}
		out = append(out, n)
	}
	return out
}

var (
	lowerWordRE = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
	upperWordRE = regexp.MustCompile(`^[A-Z]+$`)
)

// newDocVerb reads the arguments of a verb off its synopsis.
func newDocVerb(object, cmd *cli.Command, synopsis string) docVerb {
	v := docVerb{cmd: cmd, object: object, Synopsis: synopsis}
	prefix := "tcptakectl " + cmd.Name
	if object != nil {
		prefix = "tcptakectl " + object.Name + " " + cmd.Name
	}
	toks := strings.FieldsFunc(strings.TrimPrefix(synopsis, prefix), func(r rune) bool {
		return strings.ContainsRune(" []{}|", r)
	})
	for i := 0; i < len(toks); i++ {
		tok := strings.TrimSuffix(toks[i], "...")
		switch {
		case strings.HasPrefix(tok, "-"): // a flag; its value is not an argument
			if i+1 < len(toks) && upperWordRE.MatchString(toks[i+1]) {
				i++
			}
		case tok == "FILE":
			v.Files = true
		case grammarWords[tok] != nil:
			v.Words = append(v.Words, grammarWords[tok]...)
			v.Valued = append(v.Valued, grammarWords[tok]...)
		case lowerWordRE.MatchString(tok):
			v.Words = append(v.Words, tok)
			if i+1 < len(toks) && upperWordRE.MatchString(toks[i+1]) {
				v.Valued = append(v.Valued, tok)
			}
		}
	}
	v.Words, v.Valued = unique(v.Words), unique(v.Valued)
	return v
}

// docVerbs are the verbs of the tree, objects without verbs included, in
// the order of the help.
func docVerbs(app *cli.App) []docVerb {
	var out []docVerb
	for _, obj := range visible(app.Commands) {
		if len(obj.Subcommands) == 0 {
			out = append(out, newDocVerb(nil, obj, synopses([]*cli.Command{obj})[0]))
			continue
		}
		for _, verb := range visible(obj.Subcommands) {
			out = append(out, newDocVerb(obj, verb, synopses([]*cli.Command{verb})[0]))
		}
	}
	return out
}

// visible are the commands of the tree that the help shows.
func visible(cmds []*cli.Command) []*cli.Command {
	return slices.DeleteFunc(slices.Clone(cmds), func(c *cli.Command) bool { return c.Hidden })
}

// flagNames are the spellings of flags on the command line ("-j",
// "--json"); with valued, of those that take a value only.
func flagNames(flags []cli.Flag, valued bool) []string {
	var out []string
	for _, f := range flags {
		if tf, ok := f.(cli.DocGenerationFlag); valued && (!ok || !tf.TakesValue()) {
			continue
		}
		for _, n := range f.Names() {
			if len(n) == 1 {
				out = append(out, "-"+n)
			} else {
				out = append(out, "--"+n)
			}
		}
	}
	return out
}

// completionData is what the completion templates use.
type completionData struct {
	Objects    []string // the objects
	Verbs      map[string][]string
	VerbList   []docVerb
	Global     []string // the global flags
	NetNSFlags []string // the flags that take a namespace name
	FileFlags  []string // the flags that take a file name
	Valued     []string // every flag that takes a value
}

func newCompletionData(app *cli.App) completionData {
	d := completionData{Verbs: map[string][]string{}, VerbList: docVerbs(app)}
	for _, obj := range visible(app.Commands) {
		d.Objects = append(d.Objects, obj.Name)
		for _, verb := range visible(obj.Subcommands) {
			d.Verbs[obj.Name] = append(d.Verbs[obj.Name], verb.Name)
		}
	}
	d.Global = flagNames(app.Flags, false)
	for _, f := range append(slices.Clone(app.Flags), allVerbFlags(app)...) {
		names := flagNames([]cli.Flag{f}, true)
		d.Valued = append(d.Valued, names...)
		if sf, ok := f.(*cli.StringFlag); ok {
			switch {
			case sf.TakesFile:
				d.FileFlags = append(d.FileFlags, names...)
			case sf.Name == "netns":
				d.NetNSFlags = append(d.NetNSFlags, names...)
			}
		}
	}
	d.Valued, d.NetNSFlags, d.FileFlags = unique(d.Valued), unique(d.NetNSFlags), unique(d.FileFlags)
	return d
}

// unique is words without repetitions, in their order.
func unique(words []string) []string {
	var out []string
	for _, w := range words {
		if !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	return out
}

// ownFlags are the flags of a verb that are not the global ones.
func ownFlags(cmd *cli.Command) []cli.Flag {
	global := flagNames(globalFlags(), false)
	return slices.DeleteFunc(slices.Clone(cmd.Flags), func(f cli.Flag) bool {
		return slices.Contains(global, flagNames([]cli.Flag{f}, false)[0])
	})
}

func allVerbFlags(app *cli.App) []cli.Flag {
	var out []cli.Flag
	for _, v := range docVerbs(app) {
		out = append(out, ownFlags(v.cmd)...)
	}
	return out
}

var completionFuncs = template.FuncMap{
	"join": strings.Join,
	// pattern is a shell case pattern of words: "a"|"b".
	"pattern": func(words []string) string {
		q := make([]string, len(words))
		for i, w := range words {
			q[i] = `"` + w + `"`
		}
		return strings.Join(q, "|")
	},
	"flags": func(v docVerb) []string { return flagNames(ownFlags(v.cmd), false) },
}

const completionHeader = `Generated from the command definitions of tcptakectl (ctl/docs.go) by
# 'make generate'; do not edit.`

var bashTemplate = template.Must(template.New("bash").Funcs(completionFuncs).Parse(`# bash completion for tcptakectl(8).
# ` + completionHeader + `

_tcptakectl() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
	local obj= verb= words= valued= i
	COMPREPLY=()
	case $prev in
	{{pattern .NetNSFlags}})
		mapfile -t COMPREPLY < <(compgen -W "$(ls /run/netns 2>/dev/null)" -- "$cur")
		return ;;
	{{pattern .FileFlags}})
		compopt -o filenames 2>/dev/null
		mapfile -t COMPREPLY < <(compgen -f -- "$cur")
		return ;;
	esac
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		{{pattern .Valued}}) ((i++)) ;;
		-*) ;;
		*)
			if [[ -z $obj ]]; then
				obj=${COMP_WORDS[i]}
			elif [[ -z $verb ]]; then
				verb=${COMP_WORDS[i]}
			fi ;;
		esac
	done
	if [[ $cur == -* ]]; then
		words="{{join .Global " "}}"
		case "$obj $verb" in
{{- range .VerbList}}{{if flags .}}
		{{pattern .Names}}) words+=" {{join (flags .) " "}}" ;;
{{- end}}{{end}}
		esac
	elif [[ -z $obj ]]; then
		words="{{join .Objects " "}}"
	elif [[ -z $verb ]]; then
		case $obj in
{{- range $obj, $verbs := .Verbs}}
		"{{$obj}}") words="{{join $verbs " "}}" ;;
{{- end}}
		esac
	else
		case "$obj $verb" in
{{- range .VerbList}}{{if or .Words .Files}}
		{{pattern .Names}})
{{- if .Files}}
			compopt -o filenames 2>/dev/null
			mapfile -t COMPREPLY < <(compgen -f -- "$cur")
			return ;;
{{- else}}
			words="{{join .Words " "}}"
			valued="{{join .Valued " "}}" ;;
{{- end}}{{end}}{{end}}
		esac
		# No keyword is offered where a value goes.
		[[ " $valued " == *" $prev "* ]] && return
	fi
	mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
}
complete -F _tcptakectl tcptakectl
`))

var zshTemplate = template.Must(template.New("zsh").Funcs(completionFuncs).Parse(`#compdef tcptakectl
# zsh completion for tcptakectl(8).
# ` + completionHeader + `

_tcptakectl() {
	local cur=${words[CURRENT]} prev=${words[CURRENT-1]}
	local obj= verb= i
	local -a cands valued
	case $prev in
	({{join .NetNSFlags "|"}})
		cands=(/run/netns/*(N:t))
		compadd -a cands
		return ;;
	({{join .FileFlags "|"}})
		_files
		return ;;
	esac
	for ((i = 2; i < CURRENT; i++)); do
		case ${words[i]} in
		({{join .Valued "|"}}) ((i++)) ;;
		(-*) ;;
		(*)
			if [[ -z $obj ]]; then
				obj=${words[i]}
			elif [[ -z $verb ]]; then
				verb=${words[i]}
			fi ;;
		esac
	done
	if [[ $cur == -* ]]; then
		cands=({{join .Global " "}})
		case "$obj $verb" in
{{- range .VerbList}}{{if flags .}}
		({{pattern .Names}}) cands+=({{join (flags .) " "}}) ;;
{{- end}}{{end}}
		esac
	elif [[ -z $obj ]]; then
		cands=({{join .Objects " "}})
	elif [[ -z $verb ]]; then
		case $obj in
{{- range $obj, $verbs := .Verbs}}
		({{$obj}}) cands=({{join $verbs " "}}) ;;
{{- end}}
		esac
	else
		case "$obj $verb" in
{{- range .VerbList}}{{if or .Words .Files}}
		({{pattern .Names}})
{{- if .Files}}
			_files
			return ;;
{{- else}}
			cands=({{join .Words " "}})
			valued=({{join .Valued " "}}) ;;
{{- end}}{{end}}{{end}}
		esac
		# No keyword is offered where a value goes.
		(( ${valued[(Ie)$prev]} )) && return 1
	fi
	compadd -a cands
}

if [[ $funcstack[1] == _tcptakectl ]]; then
	_tcptakectl "$@"
else
	compdef _tcptakectl tcptakectl
fi
`))

// writeBashCompletion writes the bash completion of app.
func writeBashCompletion(w io.Writer, app *cli.App) error {
	return bashTemplate.Execute(w, newCompletionData(app))
}

// writeZshCompletion writes the zsh completion of app.
func writeZshCompletion(w io.Writer, app *cli.App) error {
	return zshTemplate.Execute(w, newCompletionData(app))
}

// roff escapes text for a man page.
func roff(s string) string {
	s = strings.NewReplacer(`\`, `\e`, "-", `\-`, "'", `\(aq`).Replace(s)
	if strings.HasPrefix(s, ".") {
		s = `\&` + s
	}
	return s
}

// writeMan writes the man page tcptakectl(8) of app.
func writeMan(w io.Writer, app *cli.App) error {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	p(`.\" tcptakectl(8). ` + strings.ReplaceAll(completionHeader, "\n#", "\n.\\\""))
	p(`.TH TCPTAKECTL 8 "" "tcptake" "System Administration"`)
	p(".SH NAME")
	p(`tcptakectl \- %s`, roff(app.Usage))
	p(".SH SYNOPSIS")
	p(".nf")
	for _, line := range strings.Split(app.UsageText, "\n") {
		p("%s", roff(line))
	}
	p(".fi")
	p(".SH DESCRIPTION")
	p("%s", roff("tcptakectl inspects and moves live TCP sessions, with the grammar of ip(8): an OBJECT, a VERB and its arguments. "+
		"The verbs that name one session, or one frozen tuple, take a TUPLE; the verbs that list take a FILTER:"))
	p(".PP\n.nf")
	grammar := strings.Split(tupleUsage+"\n"+filterUsage, "\n")
	for _, line := range grammar {
		p("%s", roff(line))
	}
	p(".fi")
	p(".SH OPTIONS")
	p("%s", roff("The options may be given before the OBJECT, after it, or after the VERB (before the VERB's arguments)."))
	for _, f := range app.Flags {
		writeManFlag(p, f)
	}
	p(".SH COMMANDS")
	var object *cli.Command
	for _, v := range docVerbs(app) {
		if v.object != nil && v.object != object {
			object = v.object
			p(".SS %s", roff(object.Name))
			p("%s.", roff(capitalize(object.Usage)))
		}
		if v.object == nil && object != nil {
			object = nil
			p(".SS %s", "other commands")
		}
		p(".TP\n.B %s", roff(v.Synopsis))
		text := capitalize(v.cmd.Usage) + "."
		if aliases := v.cmd.Aliases; len(aliases) > 0 {
			text += " Also: " + strings.Join(aliases, ", ") + "."
		}
		p("%s", roff(text))
		if _, rest, ok := strings.Cut(v.cmd.UsageText, "\n\n"); ok {
			for _, line := range strings.Split(rest, "\n") {
				if !slices.Contains(grammar, line) { // in DESCRIPTION
					p(".br\n%s", roff(line))
				}
			}
		}
		if flags := ownFlags(v.cmd); len(flags) > 0 {
			p(".RS")
			for _, f := range flags {
				writeManFlag(p, f)
			}
			p(".RE")
		}
	}
	p(".SH EXIT STATUS")
	p("%s", roff(fmt.Sprintf("%d: success. %d: the operation failed; one line on standard error says what failed, why, and what to do. %d: bad usage.",
		exitOK, exitFailed, exitUsage)))
	p(".SH EXAMPLES")
	p(".nf")
	for _, ex := range manExamples {
		p("%s", roff(ex))
	}
	p(".fi")
	p(".SH SEE ALSO")
	p(`.BR ip (8),`)
	p(`.BR ss (8),`)
	p(`.BR ip\-netns (8),`)
	p(`.BR modprobe (8)`)
	_, err := io.WriteString(w, b.String())
	return err
}

// manExamples are the man page's EXAMPLES.
var manExamples = []string{
	"# the sessions of the local port 443",
	"tcptakectl session list local :443",
	"# freeze a session for 30 seconds, look at what its peer sends, thaw it",
	"tcptakectl freeze add local 10.0.0.1:443 remote 192.0.2.7:40000 timeout 30s",
	"tcptakectl freeze peer local 10.0.0.1:443 remote 192.0.2.7:40000",
	"tcptakectl freeze del local 10.0.0.1:443 remote 192.0.2.7:40000 kick",
	"# an IPv6 session in the namespace blue, as JSON",
	"tcptakectl -j -n blue session get local [2001:db8::1]:22 remote [2001:db8::2]:51000",
}

// writeManFlag writes a flag as an indented paragraph.
func writeManFlag(p func(string, ...any), f cli.Flag) {
	names := flagNames([]cli.Flag{f}, false)
	head := strings.Join(names, ", ")
	usage := ""
	if df, ok := f.(cli.DocGenerationFlag); ok {
		usage = df.GetUsage()
		if df.TakesValue() {
			arg, u := unquoteUsage(usage)
			head += " " + arg
			usage = u
		}
	}
	p(".TP\n.B %s", roff(head))
	p("%s", roff(capitalize(usage)+"."))
}

// unquoteUsage splits the `NAME` of a flag's usage off: ("NAME", text).
func unquoteUsage(usage string) (string, string) {
	before, rest, ok := strings.Cut(usage, "`")
	if !ok {
		return "VALUE", usage
	}
	name, after, ok := strings.Cut(rest, "`")
	if !ok {
		return "VALUE", usage
	}
	return name, before + name + after
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
