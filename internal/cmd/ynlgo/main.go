// Command ynlgo turns the tcptake YNL spec (uapi/tcptake.yaml) into Go
// constants, named after the C names the kernel's YNL generator gives them
// (Documentation/userspace-api/netlink/c-code-gen.rst), and a cgo package
// pairing every Go constant with the C header ynl-gen-c.py generated from
// the same spec (ci/ynl-gen.sh), which uapicheck's test compares.
//
// The kernel's generator leaves struct definitions out of the uapi
// header; with -uapi, ynlgo adds them to the header it generated (each
// struct, naturally aligned without implicit padding), and the Go
// constants give their sizes and member offsets.
//
//	go run ./internal/cmd/ynlgo -spec uapi/tcptake.yaml -go internal/tcptakeh/zconst.go \\
//		-cgocheck internal/tcptakeh/uapicheck/zuapi.go -uapi uapi/linux/tcptake.h
package main

import (
	"bytes"
	"flag"
	"fmt"
	"go/format"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

type entry struct {
	Name  string
	Value *int
	Doc   string
}

// UnmarshalYAML accepts both "- name" and "- {name: x, value: 1}" entries.
func (e *entry) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		e.Name = n.Value
		return nil
	}
	type plain entry
	return n.Decode((*plain)(e))
}

type definition struct {
	Type       string
	Name       string
	Value      int
	Doc        string
	ValueStart *int `yaml:"value-start"`
	Entries    []entry
	Members    []member
}

// member is a struct member: a scalar, or binary of len bytes.
type member struct {
	Name      string
	Type      string
	Len       int
	ByteOrder string `yaml:"byte-order"`
	Doc       string
}

// field is a member laid out: its offset and size in bytes.
type field struct {
	member
	off, size int
}

var scalarSize = map[string]int{"u8": 1, "u16": 2, "u32": 4, "u64": 8}

// layout places the members of struct d at their natural alignment and
// fails where C would pad (between members or at the end): the layout is
// then the same on every ABI.
func layout(d definition) ([]field, int, error) {
	var out []field
	off, align := 0, 1
	for _, m := range d.Members {
		size, a := scalarSize[m.Type], scalarSize[m.Type]
		if m.Type == "binary" {
			size, a = m.Len, 1
		}
		if size == 0 {
			return nil, 0, fmt.Errorf("struct %s: member %s: type %q without a size", d.Name, m.Name, m.Type)
		}
		if off%a != 0 {
			return nil, 0, fmt.Errorf("struct %s: member %s at offset %d needs padding", d.Name, m.Name, off)
		}
		out = append(out, field{m, off, size})
		off += size
		align = max(align, a)
	}
	if off%align != 0 {
		return nil, 0, fmt.Errorf("struct %s: %d bytes need tail padding to %d", d.Name, off, align)
	}
	return out, off, nil
}

// structs returns the laid-out struct definitions of s.
func structs(s *spec) (names []string, fields [][]field, sizes []int) {
	for _, d := range s.Definitions {
		if d.Type != "struct" {
			continue
		}
		fs, size, err := layout(d)
		if err != nil {
			fatal(err)
		}
		names, fields, sizes = append(names, d.Name), append(fields, fs), append(sizes, size)
	}
	return names, fields, sizes
}

type attr struct {
	Name string
	Type string
	Doc  string
}

type attrSet struct {
	Name       string
	Doc        string
	Attributes []attr
}

type op struct {
	Name string
	Doc  string
}

type spec struct {
	Name          string
	Doc           string
	Definitions   []definition
	AttributeSets []attrSet `yaml:"attribute-sets"`
	Operations    struct{ List []op }
	McastGroups   struct{ List []struct{ Name string } } `yaml:"mcast-groups"`
}

func main() {
	specPath := flag.String("spec", "uapi/tcptake.yaml", "YNL spec")
	goOut := flag.String("go", "", "write the Go constants here")
	cgoOut := flag.String("cgocheck", "", "write the cgo cross-check package here")
	uapiOut := flag.String("uapi", "", "add the struct definitions to this generated C header")
	flag.Parse()

	raw, err := os.ReadFile(*specPath)
	if err != nil {
		fatal(err)
	}
	var s spec
	if err := yaml.Unmarshal(raw, &s); err != nil {
		fatal(fmt.Errorf("%s: %w", *specPath, err))
	}
	for _, out := range []struct {
		path string
		gen  func(*spec, string) []byte
	}{{*goOut, genGo}, {*cgoOut, genCgoCheck}} {
		if out.path == "" {
			continue
		}
		src, err := format.Source(out.gen(&s, *specPath))
		if err != nil {
			fatal(err)
		}
		write(out.path, src)
	}
	if *uapiOut != "" {
		h, err := os.ReadFile(*uapiOut)
		if err != nil {
			fatal(err)
		}
		h, err = addStructs(&s, h)
		if err != nil {
			fatal(fmt.Errorf("%s: %w", *uapiOut, err))
		}
		write(*uapiOut, h)
	}
}

// addStructs puts the C struct definitions of s into the uapi header h as
// ynl-gen-c.py generated it: <linux/types.h> after the include guard's
// define, the structs before the mcast group names (or the guard's end).
func addStructs(s *spec, h []byte) ([]byte, error) {
	names, fields, _ := structs(s)
	if len(names) == 0 {
		return h, nil
	}
	guard := []byte("#define _UAPI_LINUX_" + cName(s.Name) + "_H\n")
	i := bytes.Index(h, guard)
	if i < 0 || bytes.Contains(h, []byte("struct "+cLower(s.Name))) {
		return nil, fmt.Errorf("not the header ynl-gen-c.py generated")
	}
	i += len(guard)
	var c bytes.Buffer
	for k, name := range names {
		for _, d := range s.Definitions {
			if d.Name == name {
				c.WriteString("/*\n")
				for _, l := range wrap("struct "+cLower(s.Name, name)+" - "+comment(d.Doc), 74) {
					c.WriteString(" * " + l + "\n")
				}
				c.WriteString(" */\n")
			}
		}
		fmt.Fprintf(&c, "struct %s {\n", cLower(s.Name, name))
		for _, f := range fields[k] {
			switch {
			case f.Type == "binary":
				fmt.Fprintf(&c, "\t__u8 %s[%d];\n", cLower(f.Name), f.Len)
			case f.ByteOrder == "big-endian":
				fmt.Fprintf(&c, "\t__be%s %s;\n", f.Type[1:], cLower(f.Name))
			default:
				fmt.Fprintf(&c, "\t__%s %s;\n", f.Type, cLower(f.Name))
			}
		}
		c.WriteString("};\n\n")
	}
	end := bytes.LastIndex(h, []byte("#define "+cName(s.Name)+"_MCGRP_"))
	if end < 0 {
		end = bytes.LastIndex(h, []byte("#endif"))
	}
	if end < i {
		return nil, fmt.Errorf("no place for the structs")
	}
	var out bytes.Buffer
	out.Write(h[:i])
	out.WriteString("\n#include <linux/types.h>\n")
	out.Write(h[i:end])
	out.Write(c.Bytes())
	out.Write(h[end:])
	return out.Bytes(), nil
}

// wrap breaks text into lines of at most width bytes (longer words alone).
func wrap(text string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(text) {
		if line != "" && len(line)+1+len(w) > width {
			lines, line = append(lines, line), ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	return append(lines, line)
}

// cLower is the C identifier of a lower-case spec name: "snd-una" -> "snd_una".
func cLower(parts ...string) string {
	return strings.ReplaceAll(strings.Join(parts, "_"), "-", "_")
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "ynlgo:", err)
	os.Exit(1)
}

func write(path string, b []byte) {
	if err := os.WriteFile(path, b, 0o644); err != nil {
		fatal(err)
	}
}

// cName is the C identifier of a spec name: "fin-wait1" -> "FIN_WAIT1".
func cName(parts ...string) string {
	return strings.ToUpper(strings.ReplaceAll(strings.Join(parts, "_"), "-", "_"))
}

// goName is the Go identifier of spec names: "snd-una" -> "SndUna".
func goName(parts ...string) string {
	var b strings.Builder
	for _, p := range parts {
		for _, w := range strings.Split(p, "-") {
			if w != "" {
				b.WriteString(strings.ToUpper(w[:1]) + w[1:])
			}
		}
	}
	return b.String()
}

type value struct {
	c, goN string
	v      int
	doc    string
}

// constant is one Go constant and the C name it stands for.
type constant struct{ c, goN string }

// constants lists every generated constant with its C twin.
func constants(s *spec) []constant {
	out := []constant{{cName(s.Name, "family-version"), "FamilyVersion"}}
	for _, d := range s.Definitions {
		switch d.Type {
		case "const":
			out = append(out, constant{cName(s.Name, d.Name), goName(d.Name)})
		case "enum", "flags":
			for _, v := range entries(s, d) {
				out = append(out, constant{v.c, v.goN})
			}
		}
	}
	for _, set := range s.AttributeSets {
		pc, pg := attrPrefix(s, set.Name)
		for _, a := range set.Attributes {
			out = append(out, constant{pc + "_" + cName(a.Name), pg + goName(a.Name)})
		}
		out = append(out, constant{pc + "_MAX", pg + "Max"})
	}
	for _, o := range s.Operations.List {
		out = append(out, constant{cName(s.Name, "cmd", o.Name), "Cmd" + goName(o.Name)})
	}
	return append(out, constant{cName(s.Name, "cmd-max"), "CmdMax"})
}

// entries returns the enum or flag values of a definition: enums count up
// from value-start (0) or an explicit value, flags are bits from bit 0.
func entries(s *spec, d definition) []value {
	var out []value
	next := 0
	if d.ValueStart != nil {
		next = *d.ValueStart
	}
	for i, e := range d.Entries {
		v := next
		if e.Value != nil {
			v = *e.Value
		}
		if d.Type == "flags" {
			v = 1 << i
		}
		next = v + 1
		out = append(out, value{cName(s.Name, d.Name, e.Name), goName(d.Name, e.Name), v, e.Doc})
	}
	return out
}

// attrPrefix follows YNL: the set named like the family is "<family>-a-",
// every other set "<family>-a-<set>-".
func attrPrefix(s *spec, set string) (c, g string) {
	if set == s.Name {
		return cName(s.Name, "a"), "A"
	}
	return cName(s.Name, "a", set), "A" + goName(set)
}

// genCgoCheck writes package uapicheck: every Go constant next to the
// value the C header gives its C name (compiled by cgo), for
// uapicheck's test to compare.
func genCgoCheck(s *spec, specPath string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "// Code generated by internal/cmd/ynlgo from %s. DO NOT EDIT.\n\n", specPath)
	b.WriteString("//go:build cgo\n\npackage uapicheck\n\n")
	b.WriteString("// #cgo CFLAGS: -I${SRCDIR}/../../../uapi\n// #include <linux/tcptake.h>\nimport \"C\"\n\n")
	b.WriteString("import (\n\t\"unsafe\"\n\n\t\"github.com/tcptake/tcptake/internal/tcptakeh\"\n)\n\n")
	b.WriteString("// Strings pairs the Go string constants with the header's.\n")
	b.WriteString("var Strings = []struct{ Name, Go, C string }{\n")
	fmt.Fprintf(&b, "\t{\"FamilyName\", tcptakeh.FamilyName, C.%s_FAMILY_NAME},\n", cName(s.Name))
	for _, g := range s.McastGroups.List {
		fmt.Fprintf(&b, "\t{\"Mcgrp%s\", tcptakeh.Mcgrp%s, C.%s_MCGRP_%s},\n", goName(g.Name), goName(g.Name), cName(s.Name), cName(g.Name))
	}
	b.WriteString("}\n\n// Ints pairs the Go integer constants with the header's.\n")
	b.WriteString("var Ints = []struct {\n\tName  string\n\tGo, C int64\n}{\n")
	for _, c := range constants(s) {
		fmt.Fprintf(&b, "\t{%q, tcptakeh.%s, C.%s},\n", c.goN, c.goN, c.c)
	}
	names, fields, _ := structs(s)
	for k, name := range names {
		cs := "C.struct_" + cLower(s.Name, name)
		g := goName(name)
		fmt.Fprintf(&b, "\t{%q, tcptakeh.%sSize, int64(unsafe.Sizeof(%s{}))},\n", g+"Size", g, cs)
		for _, f := range fields[k] {
			goN := g + "Off" + goName(f.Name)
			fmt.Fprintf(&b, "\t{%q, tcptakeh.%s, int64(unsafe.Offsetof(%s{}.%s))},\n", goN, goN, cs, cLower(f.Name))
		}
	}
	b.WriteString("}\n")
	return b.Bytes()
}

func comment(doc string) string {
	doc = strings.TrimSpace(doc)
	if doc == "" {
		return ""
	}
	return strings.ReplaceAll(doc, "\n", " ")
}

func genGo(s *spec, specPath string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "// Code generated by internal/cmd/ynlgo from %s. DO NOT EDIT.\n\n", specPath)
	fmt.Fprintf(&b, "package tcptakeh\n\n")
	fmt.Fprintf(&b, "// Family identity.\nconst (\n\tFamilyName = %q\n\tFamilyVersion = 1\n)\n\n", s.Name)
	for _, g := range s.McastGroups.List {
		fmt.Fprintf(&b, "// Mcgrp%s is a multicast group name.\nconst Mcgrp%s = %q\n\n", goName(g.Name), goName(g.Name), g.Name)
	}
	for _, d := range s.Definitions {
		switch d.Type {
		case "const":
			fmt.Fprintf(&b, "// %s: %s\nconst %s = %d\n\n", goName(d.Name), comment(d.Doc), goName(d.Name), d.Value)
		case "enum", "flags":
			fmt.Fprintf(&b, "// %s %s: %s\nconst (\n", goName(d.Name), d.Type, comment(d.Doc))
			for _, v := range entries(s, d) {
				if c := comment(v.doc); c != "" {
					fmt.Fprintf(&b, "\t// %s: %s\n", v.goN, c)
				}
				fmt.Fprintf(&b, "\t%s = %d\n", v.goN, v.v)
			}
			b.WriteString(")\n\n")
		}
	}
	names, fields, sizes := structs(s)
	for k, name := range names {
		g := goName(name)
		fmt.Fprintf(&b, "// Struct %s: its size and member offsets, in bytes (host byte order).\nconst (\n", name)
		fmt.Fprintf(&b, "\t%sSize = %d\n", g, sizes[k])
		for _, f := range fields[k] {
			order := ""
			if f.ByteOrder != "" {
				order = " " + f.ByteOrder
			}
			fmt.Fprintf(&b, "\t%sOff%s = %d // %s%s, %d bytes\n", g, goName(f.Name), f.off, f.Type, order, f.size)
		}
		b.WriteString(")\n\n")
	}
	for _, set := range s.AttributeSets {
		_, pg := attrPrefix(s, set.Name)
		fmt.Fprintf(&b, "// Attribute set %q: %s\nconst (\n", set.Name, comment(set.Doc))
		for i, a := range set.Attributes {
			fmt.Fprintf(&b, "\t%s%s = %d // %s\n", pg, goName(a.Name), i+1, comment(a.Doc))
		}
		fmt.Fprintf(&b, "\t%sMax = %d\n)\n\n", pg, len(set.Attributes))
	}
	b.WriteString("// Commands.\nconst (\n")
	for i, o := range s.Operations.List {
		fmt.Fprintf(&b, "\tCmd%s = %d\n", goName(o.Name), i+1)
	}
	fmt.Fprintf(&b, "\tCmdMax = %d\n)\n", len(s.Operations.List))
	return b.Bytes()
}
