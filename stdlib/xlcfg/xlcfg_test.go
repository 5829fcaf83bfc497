package xlcfg

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	src := `# a guest
name = "web1"
memory = 256 ; vcpus = 2
disk = [ 'file:/img,xvda,w',   # root
         "phy:/dev/vg/x,xvdb,r" ]
extra = "console=hvc0"
extra += " quiet"
maxmem = 0x200
`
	c, err := Parse("web1.cfg", src)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Setting{}
	for _, s := range c.Settings {
		got[s.Key] = s
	}
	if got["name"].Value.Str != "web1" || got["memory"].Value.Num != 256 || got["vcpus"].Value.Num != 2 {
		t.Fatalf("scalars: %+v", got)
	}
	if d := got["disk"].Value; d.Kind != List || len(d.List) != 2 || d.List[1].Str != "phy:/dev/vg/x,xvdb,r" {
		t.Fatalf("disk: %+v", d)
	}
	if got["extra"].Value.Str != "console=hvc0 quiet" {
		t.Fatalf("+= gave %q", got["extra"].Value.Str)
	}
	if got["maxmem"].Value.Num != 512 || got["vcpus"].Line != 3 || got["extra"].Line != 6 {
		t.Fatalf("hex or lines wrong: %+v", got)
	}
}

func TestErrorsNameFileAndLine(t *testing.T) {
	for src, want := range map[string]string{
		"name = \"x\"\nmemory = \n":    "bad.cfg:2:",
		"name = \"x\nvcpus = 1\n":      "bad.cfg:1: unterminated string",
		"a = 1\nb = [ \"x\" \"y\" ]\n": "bad.cfg:2: expected ',' or ']'",
		"a = 1\n\n\nb = [ \"x\",\n":    "bad.cfg:4: unterminated list",
		"memory 256\n":                 "bad.cfg:1: expected '='",
		"x = 1 2\n":                    "bad.cfg:1: unexpected",
		"= 3\n":                        "bad.cfg:1: expected a setting name",
		"v = [[[[[[[[[[1]]]]]]]]]]\n":  "nested too deeply",
		"a = 5\na += 1\n":              "bad.cfg:2: a += : cannot append to a number",
	} {
		_, err := Parse("bad.cfg", src)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want error containing %q", src, err, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("name = \"x\"\nmemory = 128\ndisk = [ 'a', \"b\" ]\n")
	f.Add("a += [1,2]; b = 'x' # c\n")
	f.Fuzz(func(t *testing.T, src string) {
		c, err := Parse("f.cfg", src)
		if err == nil && c == nil {
			t.Fatal("nil config without error")
		}
		if err != nil && !strings.HasPrefix(err.Error(), "f.cfg:") {
			t.Fatalf("error without file:line: %v", err)
		}
	})
}
